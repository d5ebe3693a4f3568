//! The load generator: Debian's `wrk`, one thread, a fixed number of keep-alive connections,
//! driven by a generated Lua script that sets the request and prints the result as JSON.

use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

use crate::client::Req;

/// One load run's result.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Writes the Lua script that makes wrk send `req`.
pub fn script(dir: &Path, name: &str, req: &Req) -> std::path::PathBuf {
    let mut lua = format!(
        "wrk.method = \"{}\"\nwrk.path = \"{}\"\n",
        req.method, req.path
    );
    for (k, v) in &req.headers {
        lua.push_str(&format!("wrk.headers[\"{k}\"] = \"{v}\"\n"));
    }
    if !req.body.is_empty() {
        if req.body.iter().all(|&b| b == b'x') {
            lua.push_str(&format!(
                "wrk.body = string.rep(\"x\", {})\n",
                req.body.len()
            ));
        } else {
            let text = String::from_utf8(req.body.clone()).expect("bench bodies are text");
            lua.push_str(&format!("wrk.body = [==[{text}]==]\n"));
        }
    }
    if req.method == "PUT" {
        // A new key per request: moto answers concurrent PUTs of one key with errors.
        lua.push_str(
            "local n = 0\nrequest = function()\n  n = n + 1\n  \
             return wrk.format(nil, wrk.path .. \"-\" .. n)\nend\n",
        );
    }
    lua.push_str(
        r#"done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK {\"requests\":%d,\"duration_us\":%d,\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#,
    );
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua).expect("write wrk script");
    path
}

/// Runs wrk against `addr` with `conns` connections for `duration`. Any socket error, timeout
/// or status of 400 and up fails the run: a figure is only reported for clean runs.
pub fn run(
    addr: SocketAddr,
    script: &Path,
    conns: usize,
    duration: Duration,
) -> Result<Sample, String> {
    let out = Command::new("wrk")
        .args(["-t1", "-c", &conns.to_string()])
        .args(["-d", &format!("{}s", duration.as_secs().max(1))])
        .args(["--timeout", "10s", "-s"])
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .map_err(|e| format!("cannot run wrk ({e}); install it with: apt-get install wrk"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("WRK "))
        .ok_or_else(|| {
            format!(
                "wrk printed no result (status {}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("{e}: {line}"))?;
    let n = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let errors: Vec<String> = ["connect", "read", "write", "status", "timeout"]
        .iter()
        .filter(|k| n(k) > 0.0)
        .map(|k| format!("{k} {}", n(k)))
        .collect();
    if !errors.is_empty() {
        return Err(format!("errors: {}", errors.join(", ")));
    }
    if n("requests") < 1.0 {
        return Err("no request completed".into());
    }
    Ok(Sample {
        rps: n("requests") / (n("duration_us") / 1e6),
        p50_ms: n("p50_us") / 1000.0,
        p99_ms: n("p99_us") / 1000.0,
    })
}
