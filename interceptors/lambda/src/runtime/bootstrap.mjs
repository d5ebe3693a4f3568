// edgestack's Lambda runtime for node functions (no dependencies, node >= 18, ESM).
//
// edgestack starts it as `node bootstrap.mjs` with AWS_LAMBDA_RUNTIME_API, _HANDLER and
// LAMBDA_TASK_ROOT set. It loads the handler (`file.fn`, `dir/file.fn`, `file.obj.fn`) from
// `file`, `file.js`, `file.mjs`, `file.cjs`, `file/index.*` or a package, then loops over the
// Runtime API (2018-06-01): GET /next, run the handler (async, or callback style when it takes
// three arguments, or `context.succeed/fail/done`), POST the JSON result to /response or the
// error to /error, in the shapes AWS's node runtime uses. A handler that cannot be loaded is
// reported to /init/error, then the process exits 1. console.* print like AWS:
// `<ISO time>\t<request id>\t<LEVEL>\t<message>`.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const BASE = "/2018-06-01/runtime/";
const address = process.env.AWS_LAMBDA_RUNTIME_API || "";
const colon = address.lastIndexOf(":");
const HOST = address.slice(0, colon);
const PORT = Number(address.slice(colon + 1));
const agent = new http.Agent({ keepAlive: true });

let currentRequestId;

// ---- console, as AWS prints it -------------------------------------------------------------
for (const [name, level] of [
  ["log", "INFO"],
  ["info", "INFO"],
  ["warn", "WARN"],
  ["error", "ERROR"],
  ["debug", "DEBUG"],
  ["trace", "TRACE"],
]) {
  console[name] = (...args) => {
    let message = format(...args);
    if (name === "trace") {
      const stack = new Error().stack.split("\n").slice(2).join("\n");
      message = `Trace: ${message}\n${stack}`;
    }
    process.stdout.write(
      `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}\n`,
    );
  };
}

// ---- the Runtime API -----------------------------------------------------------------------
function request(method, call, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host: HOST,
        port: PORT,
        method,
        path: BASE + call,
        agent,
        headers: data
          ? { ...headers, "Content-Length": data.length }
          : headers,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

function postJson(call, document, errorType) {
  const headers = { "Content-Type": "application/json" };
  if (errorType) headers["Lambda-Runtime-Function-Error-Type"] = errorType;
  return request("POST", call, JSON.stringify(document), headers);
}

// ---- errors --------------------------------------------------------------------------------
function toError(err) {
  if (err instanceof Error || (err && typeof err === "object" && "stack" in err)) {
    return {
      errorType: err.name || "Error",
      errorMessage: err.message === undefined ? "" : String(err.message),
      trace: typeof err.stack === "string" ? err.stack.split("\n") : [],
    };
  }
  let message;
  try {
    message = typeof err === "string" ? err : JSON.stringify(err);
  } catch {
    message = String(err);
  }
  return { errorType: typeof err, errorMessage: message ?? String(err), trace: [] };
}

class RuntimeError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type;
  }
}

async function initError(type, message, stack) {
  const document = { errorType: type, errorMessage: message, trace: stack ? stack.split("\n") : [] };
  console.error(`${type}: ${message}`);
  try {
    await postJson("init/error", document, type.startsWith("Runtime.") ? type : "Runtime.Unknown");
  } finally {
    process.exit(1);
  }
}

// ---- loading the handler -------------------------------------------------------------------
const isFile = (p) => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

function packageType(dir, root) {
  for (let d = dir; ; d = path.dirname(d)) {
    const pj = path.join(d, "package.json");
    if (isFile(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, "utf8")).type === "module" ? "module" : "commonjs";
      } catch {
        return "commonjs";
      }
    }
    if (d === root || d === path.dirname(d)) return "commonjs";
  }
}

async function loadModule(root, moduleRoot, moduleName) {
  const base = path.resolve(root, moduleRoot, moduleName);
  const require = createRequire(path.join(root, "noop.js"));
  const candidates = [
    base,
    base + ".js",
    base + ".mjs",
    base + ".cjs",
    path.join(base, "index.js"),
    path.join(base, "index.mjs"),
    path.join(base, "index.cjs"),
  ];
  for (const file of candidates) {
    if (!isFile(file)) continue;
    const esm =
      file.endsWith(".mjs") ||
      (file.endsWith(".js") && packageType(path.dirname(file), root) === "module");
    if (esm) return await import(pathToFileURL(file).href);
    return require(file);
  }
  // A package installed under node_modules (or NODE_PATH).
  let resolved;
  try {
    resolved = require.resolve(moduleName, { paths: [root, path.resolve(root, moduleRoot)] });
  } catch {
    const err = new Error(
      `Cannot find module '${moduleName}'\nRequire stack:\n- ${new URL(import.meta.url).pathname}`,
    );
    err.code = "MODULE_NOT_FOUND";
    throw err;
  }
  try {
    return require(resolved);
  } catch (e) {
    if (e && e.code === "ERR_REQUIRE_ESM") return await import(pathToFileURL(resolved).href);
    throw e;
  }
}

async function loadHandler(root, fullHandler) {
  const handlerString = path.basename(fullHandler);
  const moduleRoot = fullHandler.slice(0, fullHandler.length - handlerString.length);
  const match = handlerString.match(/^([^.]*)\.(.*)$/);
  if (!match || !match[1] || !match[2]) {
    throw new RuntimeError("Runtime.MalformedHandlerName", "Bad handler");
  }
  const [, moduleName, property] = match;
  let loaded;
  try {
    loaded = await loadModule(root, moduleRoot, moduleName);
  } catch (e) {
    if (e && (e.code === "MODULE_NOT_FOUND" || e.code === "ERR_MODULE_NOT_FOUND")) {
      throw new RuntimeError("Runtime.ImportModuleError", `${e}`);
    }
    if (e instanceof SyntaxError) {
      throw new RuntimeError("Runtime.UserCodeSyntaxError", `${e}`);
    }
    throw e;
  }
  const lookup = (object) =>
    property.split(".").reduce((o, key) => (o == null ? undefined : o[key]), object);
  let handler = lookup(loaded);
  if (handler === undefined && loaded && loaded.default !== undefined) {
    handler = lookup(loaded.default);
  }
  if (handler === undefined) {
    throw new RuntimeError(
      "Runtime.HandlerNotFound",
      `${fullHandler} is undefined or not exported`,
    );
  }
  if (typeof handler !== "function") {
    throw new RuntimeError("Runtime.HandlerNotFound", `${fullHandler} is not a function`);
  }
  return handler;
}

// ---- one invocation ------------------------------------------------------------------------
function parseJson(text) {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

let inFlight; // { id, finish } while an invocation runs

function invoke(handler, headers, body) {
  const id = headers["lambda-runtime-aws-request-id"] || "";
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  currentRequestId = id;
  const trace = headers["lambda-runtime-trace-id"];
  if (trace) process.env._X_AMZN_TRACE_ID = trace;
  else delete process.env._X_AMZN_TRACE_ID;

  return new Promise((resolve) => {
    let finished = false;
    const finish = async (err, result) => {
      if (finished) return;
      finished = true;
      try {
        if (err !== undefined && err !== null) {
          const document = toError(err);
          console.error(
            `Invoke Error \t${JSON.stringify({ errorType: document.errorType, errorMessage: document.errorMessage, stack: document.trace })}`,
          );
          await postJson(`invocation/${id}/error`, document);
        } else {
          let json;
          try {
            json = JSON.stringify(result === undefined ? null : result);
          } catch (e) {
            await postJson(`invocation/${id}/error`, {
              errorType: "Runtime.MarshalError",
              errorMessage: `Unable to stringify response body: ${e && e.message}`,
              trace: [],
            });
            return;
          }
          await request("POST", `invocation/${id}/response`, json ?? "null", {
            "Content-Type": "application/json",
          });
        }
      } catch (e) {
        process.stderr.write(`edgestack runtime: cannot post the result: ${e}\n`);
      } finally {
        inFlight = undefined;
        resolve();
      }
    };
    inFlight = { id, finish };

    let event;
    try {
      event = body.length ? JSON.parse(body.toString("utf8")) : {};
    } catch (e) {
      finish(new RuntimeError("Runtime.UnmarshalError", `Unable to parse input as JSON: ${e.message}`));
      return;
    }
    const callback = (err, result) => finish(err, result);
    const context = {
      callbackWaitsForEmptyEventLoop: true,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      awsRequestId: id,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      identity: parseJson(headers["lambda-runtime-cognito-identity"]),
      clientContext: parseJson(headers["lambda-runtime-client-context"]),
      getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
      succeed: (result) => finish(null, result),
      fail: (err) => finish(err ?? new Error("handled")),
      done: (err, result) => finish(err, result),
    };
    try {
      const returned =
        handler.length >= 3 ? handler(event, context, callback) : handler(event, context);
      if (returned && typeof returned.then === "function") {
        returned.then(
          (result) => finish(null, result),
          (err) => finish(err ?? new Error("Promise rejected with " + err)),
        );
      } else if (handler.length < 3) {
        // A plain function: its return value is the result.
        finish(null, returned);
      }
    } catch (err) {
      finish(err);
    }
  });
}

// Errors no handler caught end the invocation (and the process, as on AWS).
async function fatal(type, err) {
  const document = toError(err);
  if (type) document.errorType = type;
  console.error(`${type || "Uncaught Exception"} \t${JSON.stringify(document)}`);
  if (inFlight) {
    try {
      await postJson(`invocation/${inFlight.id}/error`, document);
    } catch {
      // The invocation ends with the process either way.
    }
  }
  process.exit(type ? 128 : 129);
}
process.on("uncaughtException", (err) => fatal(undefined, err));
process.on("unhandledRejection", (reason) =>
  fatal("Runtime.UnhandledPromiseRejection", reason instanceof Error ? reason : new Error(String(reason))),
);

// ---- main ----------------------------------------------------------------------------------
const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
let handler;
try {
  handler = await loadHandler(root, process.env._HANDLER || "");
} catch (e) {
  if (e instanceof RuntimeError) await initError(e.name, e.message, e.stack);
  else await initError(e && e.name ? e.name : "Error", e && e.message ? e.message : String(e), e && e.stack);
}

for (;;) {
  let next;
  try {
    next = await request("GET", "invocation/next");
  } catch (e) {
    process.stderr.write(`edgestack runtime: /next failed: ${e}\n`);
    process.exit(1);
  }
  if (next.status !== 200) {
    process.stderr.write(`edgestack runtime: /next answered ${next.status}\n`);
    await new Promise((r) => setTimeout(r, 100));
    continue;
  }
  await invoke(handler, next.headers, next.body);
}
