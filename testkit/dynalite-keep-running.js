// Preloaded into dynalite (`node -r this-file cli.js ...`) by the testkit and the benchmark.
//
// dynalite 4.0.0 throws from its request 'error' handler (index.js: `req.on('error',
// function (err) { throw err })`), so one client that goes away in the middle of a request
// ("Error: aborted", ECONNRESET) kills the whole server. Load generators do that at the end of
// every run. Such errors are logged and survived here; any other uncaught error still stops
// dynalite, as before.
'use strict'
const CLIENT_GONE = new Set(['aborted', 'ECONNRESET', 'EPIPE'])
process.on('uncaughtException', (err) => {
  if (err && (CLIENT_GONE.has(err.message) || CLIENT_GONE.has(err.code))) {
    console.error('dynalite: a client went away mid-request (' + (err.code || err.message) + '); still serving')
    return
  }
  console.error(err && err.stack ? err.stack : err)
  process.exit(1)
})
