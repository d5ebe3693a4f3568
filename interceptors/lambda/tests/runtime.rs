//! The runtime module with real processes: python3 and node running edgestack's bootstraps, a
//! `/bin/sh` + curl `provided` bootstrap, and the Runtime API state machine driven by a raw
//! HTTP client.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
    time::{Duration, Instant},
};

use bytes::Bytes;
use edgestack_lambda::runtime::{
    api::RuntimeApi,
    process::{resolve_interpreter, Interpreter},
    Environment, Invocation, Launch, Outcome, MAX_RESPONSE,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// `python3` and `node` resolved once (pyenv shims become the real executables).
fn interpreters() -> &'static (String, String) {
    static CELL: OnceLock<(String, String)> = OnceLock::new();
    CELL.get_or_init(|| {
        // On a thread of its own: the tests call this from inside their runtime.
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let python = resolve_interpreter(Interpreter::Python, "python3")
                    .await
                    .expect("python3 on PATH");
                let node = resolve_interpreter(Interpreter::Node, "node")
                    .await
                    .expect("node on PATH");
                (
                    python.to_string_lossy().into_owned(),
                    node.to_string_lossy().into_owned(),
                )
            })
        })
        .join()
        .expect("resolving the interpreters")
    })
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

fn launch(root: &Path, runtime: &str, handler: &str) -> Launch {
    let (python, node) = interpreters().clone();
    Launch {
        function: "f".into(),
        version: "$LATEST".into(),
        runtime: runtime.into(),
        handler: handler.into(),
        task_root: root.to_path_buf(),
        opt_dir: None,
        env: vec![
            ("AWS_LAMBDA_FUNCTION_NAME".into(), "f".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
            ("MINE".into(), "1".into()),
        ],
        python,
        node,
        init_timeout: Duration::from_secs(10),
    }
}

fn invocation(id: &str, payload: &str, timeout: Duration) -> Invocation {
    Invocation {
        request_id: id.into(),
        payload: Bytes::from(payload.to_owned()),
        timeout,
        invoked_arn: "arn:aws:lambda:eu-west-1:123456789012:function:f".into(),
        client_context: None,
        trace_id: Some("Root=1-00000000-000000000000000000000000;Sampled=0".into()),
    }
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes));
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A pid that no longer runs (gone, or a zombie nobody reaps).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(3);
    while !check() {
        assert!(Instant::now() < until, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const PY_APP: &str = r#"
import json, os, subprocess, sys, time
print("init line")

def handler(event, context):
    if event.get("fail"):
        raise ValueError("kaboom")
    if event.get("exit"):
        sys.exit(3)
    if event.get("sleep"):
        child = subprocess.Popen(["sleep", "30"])
        print("grandchild", child.pid)
        time.sleep(event["sleep"])
    if event.get("big"):
        return "x" * event["big"]
    if event.get("env"):
        return dict(os.environ)
    print("before return", event.get("n"))
    return {
        "event": event,
        "id": context.aws_request_id,
        "name": context.function_name,
        "remaining": context.get_remaining_time_in_millis(),
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }
"#;

async fn python_env() -> (tempfile::TempDir, Environment) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "app.py", PY_APP);
    let env = Environment::start(launch(dir.path(), "python3.12", "app.handler"), 1)
        .await
        .expect("python starts");
    (dir, env)
}

#[tokio::test]
async fn python_result_context_and_output() {
    let (_dir, mut env) = python_env().await;
    assert!(env.is_alive());
    assert!(env.pid().is_some());
    let (outcome, log) = env
        .invoke(invocation("req-1", r#"{"n":1}"#, Duration::from_secs(5)))
        .await;
    let Outcome::Response(body) = outcome else {
        panic!("{outcome:?} {}", text(&log));
    };
    let v = json(&body);
    assert_eq!(v["event"]["n"], 1);
    assert_eq!(v["id"], "req-1");
    assert_eq!(v["name"], "f");
    assert!(v["remaining"].as_u64().is_some_and(|r| r > 3000), "{v}");
    assert!(v["trace"].as_str().is_some_and(|t| t.starts_with("Root=")));
    let log = text(&log);
    assert!(log.contains("init line\n"), "{log}");
    assert!(log.contains("before return 1\n"), "{log}");

    // The next invocation gets its own output only, including the line printed last.
    for n in 2..12 {
        let (outcome, log) = env
            .invoke(invocation(
                &format!("req-{n}"),
                &format!(r#"{{"n":{n}}}"#),
                Duration::from_secs(5),
            ))
            .await;
        assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
        assert_eq!(text(&log), format!("before return {n}\n"));
    }
}

#[tokio::test]
async fn python_error_keeps_the_environment() {
    let (_dir, mut env) = python_env().await;
    let (outcome, log) = env
        .invoke(invocation(
            "e-1",
            r#"{"fail":true}"#,
            Duration::from_secs(5),
        ))
        .await;
    let Outcome::Error { body, error_type } = outcome else {
        panic!("{outcome:?}");
    };
    let v = json(&body);
    assert_eq!(v["errorType"], "ValueError");
    assert_eq!(v["errorMessage"], "kaboom");
    assert_eq!(v["requestId"], "e-1");
    assert!(v["stackTrace"][0]
        .as_str()
        .is_some_and(|s| s.contains("app.py")));
    assert_eq!(error_type, None);
    assert!(text(&log).contains("[ERROR] ValueError: kaboom"));
    assert!(env.is_alive());
    let (outcome, _) = env
        .invoke(invocation("e-2", r#"{"n":2}"#, Duration::from_secs(5)))
        .await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
}

#[tokio::test]
async fn python_timeout_kills_the_process_group() {
    let (_dir, mut env) = python_env().await;
    let pid = env.pid().expect("pid");
    let started = Instant::now();
    let (outcome, log) = env
        .invoke(invocation("t-1", r#"{"sleep":20}"#, Duration::from_secs(1)))
        .await;
    assert_eq!(outcome, Outcome::Timeout);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    let log = text(&log);
    let grandchild: u32 = log
        .lines()
        .find_map(|l| l.strip_prefix("grandchild "))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no grandchild pid in {log:?}"));
    assert!(!env.is_alive());
    assert_eq!(env.pid(), None);
    eventually("the leader is gone", || gone(pid)).await;
    eventually("the grandchild is gone", || gone(grandchild)).await;
    let (outcome, _) = env
        .invoke(invocation("t-2", "{}", Duration::from_secs(1)))
        .await;
    assert!(matches!(outcome, Outcome::Exited(_)), "{outcome:?}");
}

#[tokio::test]
async fn python_exit_during_an_invocation() {
    let (_dir, mut env) = python_env().await;
    let (outcome, _) = env
        .invoke(invocation(
            "x-1",
            r#"{"exit":true}"#,
            Duration::from_secs(5),
        ))
        .await;
    assert_eq!(outcome, Outcome::Exited("exit status 3".into()));
    assert!(!env.is_alive());
}

#[tokio::test]
async fn python_response_too_large() {
    let (_dir, mut env) = python_env().await;
    let payload = format!(r#"{{"big":{}}}"#, MAX_RESPONSE + 10);
    let (outcome, _) = env
        .invoke(invocation("big-1", &payload, Duration::from_secs(10)))
        .await;
    assert_eq!(outcome, Outcome::ResponseTooLarge);
    // The runtime got its 413 and carries on.
    let (outcome, _) = env
        .invoke(invocation("big-2", r#"{"n":1}"#, Duration::from_secs(5)))
        .await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
}

#[tokio::test]
async fn python_environment_does_not_leak() {
    std::env::set_var("EDGESTACK_RUNTIME_TEST_SECRET", "leaked");
    let (_dir, mut env) = python_env().await;
    let (outcome, _) = env
        .invoke(invocation(
            "env-1",
            r#"{"env":true}"#,
            Duration::from_secs(5),
        ))
        .await;
    let Outcome::Response(body) = outcome else {
        panic!("{outcome:?}");
    };
    let vars = json(&body);
    assert!(
        vars.get("EDGESTACK_RUNTIME_TEST_SECRET").is_none(),
        "{vars}"
    );
    assert!(vars.get("CARGO_MANIFEST_DIR").is_none(), "{vars}");
    assert_eq!(vars["MINE"], "1");
    assert_eq!(vars["TZ"], ":UTC");
    assert_eq!(vars["PYTHONUNBUFFERED"], "1");
    assert_eq!(vars["_HANDLER"], "app.handler");
    assert!(vars["AWS_LAMBDA_RUNTIME_API"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
    let home = PathBuf::from(vars["HOME"].as_str().expect("HOME"));
    assert_eq!(vars["HOME"], vars["TMPDIR"]);
    assert!(home.is_dir());
    drop(env);
    eventually("the temp dir is removed", || !home.exists()).await;
}

#[tokio::test]
async fn python_bad_handlers_fail_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "app.py", PY_APP);
    let err = Environment::start(launch(dir.path(), "python3.11", "nomod.handler"), 1)
        .await
        .err();
    let Some(Outcome::InitError { body, error_type }) = err else {
        panic!("{err:?}");
    };
    assert_eq!(error_type.as_deref(), Some("Runtime.ImportModuleError"));
    assert_eq!(
        json(&body),
        serde_json::json!({
            "errorMessage": "Unable to import module 'nomod': No module named 'nomod'",
            "errorType": "Runtime.ImportModuleError",
            "requestId": "",
            "stackTrace": [],
        })
    );

    let err = Environment::start_logged(launch(dir.path(), "python3.11", "app.nope"), 2)
        .await
        .err();
    let Some((Outcome::InitError { body, error_type }, log)) = err else {
        panic!("{err:?}");
    };
    assert_eq!(error_type.as_deref(), Some("Runtime.HandlerNotFound"));
    assert_eq!(
        json(&body)["errorMessage"],
        "Handler 'nope' missing on module 'app'"
    );
    assert!(text(&log).contains("init line"), "{}", text(&log));

    let err = Environment::start(launch(dir.path(), "python3.11", "nodot"), 3)
        .await
        .err();
    assert!(
        matches!(&err, Some(Outcome::InitError { error_type: Some(t), .. }) if t == "Runtime.MalformedHandlerName"),
        "{err:?}"
    );
}

#[tokio::test]
async fn node_esm_async_handler() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "index.mjs",
        r#"
console.log("cold");
export const handler = async (event, context) => {
  console.log("hello", event.n);
  console.error("oops");
  return { n: event.n, id: context.awsRequestId, fn: context.functionName,
           left: context.getRemainingTimeInMillis() };
};
"#,
    );
    let mut env = Environment::start(launch(dir.path(), "nodejs20.x", "index.handler"), 7)
        .await
        .expect("node starts");
    let (outcome, log) = env
        .invoke(invocation("n-1", r#"{"n":1}"#, Duration::from_secs(5)))
        .await;
    let Outcome::Response(body) = outcome else {
        panic!("{outcome:?} {}", text(&log));
    };
    let v = json(&body);
    assert_eq!(v["n"], 1);
    assert_eq!(v["id"], "n-1");
    assert_eq!(v["fn"], "f");
    assert!(v["left"].as_u64().is_some_and(|l| l > 3000));
    let log = text(&log);
    assert!(log.contains("\tundefined\tINFO\tcold\n"), "{log}");
    assert!(log.contains("\tn-1\tINFO\thello 1\n"), "{log}");
    assert!(log.contains("\tn-1\tERROR\toops\n"), "{log}");
}

#[tokio::test]
async fn node_cjs_callback_handler_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "cb.js",
        r#"
exports.handler = function (event, context, callback) {
  if (event.fail) return callback(new TypeError("bad thing"));
  if (event.succeed) return context.succeed({ via: "succeed" });
  setTimeout(() => callback(null, { cb: event.n }), 5);
};
"#,
    );
    let mut env = Environment::start(launch(dir.path(), "nodejs20.x", "cb.handler"), 8)
        .await
        .expect("node starts");
    let (outcome, _) = env
        .invoke(invocation("c-1", r#"{"n":4}"#, Duration::from_secs(5)))
        .await;
    assert_eq!(
        outcome,
        Outcome::Response(Bytes::from_static(br#"{"cb":4}"#))
    );
    let (outcome, _) = env
        .invoke(invocation(
            "c-2",
            r#"{"fail":true}"#,
            Duration::from_secs(5),
        ))
        .await;
    let Outcome::Error { body, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let v = json(&body);
    assert_eq!(v["errorType"], "TypeError");
    assert_eq!(v["errorMessage"], "bad thing");
    assert!(v["trace"][0]
        .as_str()
        .is_some_and(|t| t.starts_with("TypeError: bad thing")));
    let (outcome, _) = env
        .invoke(invocation(
            "c-3",
            r#"{"succeed":true}"#,
            Duration::from_secs(5),
        ))
        .await;
    assert_eq!(
        outcome,
        Outcome::Response(Bytes::from_static(br#"{"via":"succeed"}"#))
    );
}

#[tokio::test]
async fn node_bad_handlers_fail_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "index.mjs",
        "export const handler = async () => 1;\n",
    );
    let err = Environment::start(launch(dir.path(), "nodejs20.x", "index.nope"), 1)
        .await
        .err();
    let Some(Outcome::InitError { body, error_type }) = err else {
        panic!("{err:?}");
    };
    assert_eq!(error_type.as_deref(), Some("Runtime.HandlerNotFound"));
    assert_eq!(
        json(&body)["errorMessage"],
        "index.nope is undefined or not exported"
    );
    let err = Environment::start(launch(dir.path(), "nodejs20.x", "missing.handler"), 2)
        .await
        .err();
    let Some(Outcome::InitError { body, error_type }) = err else {
        panic!("{err:?}");
    };
    assert_eq!(error_type.as_deref(), Some("Runtime.ImportModuleError"));
    assert!(json(&body)["errorMessage"]
        .as_str()
        .is_some_and(|m| m.starts_with("Error: Cannot find module 'missing'")));
}

#[tokio::test]
async fn provided_shell_bootstrap_with_curl() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Written without the executable bit, as a zip without unix modes leaves it.
    write(
        dir.path(),
        "bootstrap",
        r#"#!/bin/sh
set -eu
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
HEADERS="$TMPDIR/headers"
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/next")
  ID=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$HEADERS" | cut -d: -f2 | tr -d '[:space:]')
  echo "handling $ID"
  curl -sS -X POST "$API/$ID/response" -d "{\"echo\":$EVENT}" >/dev/null
done
"#,
    );
    let mut env = Environment::start(launch(dir.path(), "provided.al2023", "ignored"), 3)
        .await
        .expect("bootstrap starts");
    for n in 0..2 {
        let id = format!("p-{n}");
        let (outcome, log) = env
            .invoke(invocation(&id, r#"{"a":1}"#, Duration::from_secs(5)))
            .await;
        assert_eq!(
            outcome,
            Outcome::Response(Bytes::from_static(br#"{"echo":{"a":1}}"#))
        );
        assert_eq!(text(&log), format!("handling {id}\n"));
    }
}

#[tokio::test]
async fn unsupported_and_missing_runtimes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Environment::start(launch(dir.path(), "java21", "a.b"), 1)
        .await
        .err();
    assert_eq!(
        err,
        Some(Outcome::Exited(
            "runtime java21 is not supported by edgestack (python3.x, nodejs*, provided.al2/al2023)"
                .into()
        ))
    );
    let err = Environment::start(launch(dir.path(), "provided.al2", "x"), 1)
        .await
        .err();
    assert!(
        matches!(&err, Some(Outcome::Exited(why)) if why.starts_with("Couldn't find valid bootstrap(s)")),
        "{err:?}"
    );
    let mut l = launch(dir.path(), "python3.12", "app.handler");
    l.python = "python3-that-does-not-exist".into();
    let err = Environment::start(l, 1).await.err();
    assert_eq!(
        err,
        Some(Outcome::Exited(
            "python3-that-does-not-exist not found".into()
        ))
    );
}

#[tokio::test]
async fn init_timeout_kills_the_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "slow.py", "import time\ntime.sleep(30)\n");
    let mut l = launch(dir.path(), "python3.12", "slow.handler");
    l.init_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let err = Environment::start(l, 1).await.err();
    assert_eq!(err, Some(Outcome::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3));
}

// ---- the Runtime API with a raw HTTP client ------------------------------------------------

struct Reply {
    status: u16,
    head: String,
    body: String,
}

async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.Test\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8(raw).expect("utf-8");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Reply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn runtime_api_state_machine() {
    let api = RuntimeApi::bind().await.expect("bind");
    let addr = api.addr();
    assert!(!api.is_ready());
    let next = tokio::spawn(http(addr, "GET", "/2018-06-01/runtime/invocation/next", ""));
    tokio::time::timeout(Duration::from_secs(2), api.ready())
        .await
        .expect("ready in time")
        .expect("ready");
    assert!(api.is_ready());

    let mut inv = invocation("r-1", r#"{"k":"v"}"#, Duration::from_secs(30));
    inv.client_context = Some("{\n \"custom\": {}\n}".into());
    let mut outcome = api.submit(&inv);
    let next = next.await.expect("join");
    assert_eq!(next.status, 200);
    assert_eq!(next.body, r#"{"k":"v"}"#);
    assert!(next.head.contains("lambda-runtime-aws-request-id: r-1"));
    assert!(next.head.contains("lambda-runtime-deadline-ms: "));
    assert!(next.head.contains(
        "lambda-runtime-invoked-function-arn: arn:aws:lambda:eu-west-1:123456789012:function:f"
    ));
    assert!(next.head.contains("lambda-runtime-trace-id: root=1-"));
    assert!(next
        .head
        .contains("lambda-runtime-client-context: {  \"custom\": {} }"));
    assert!(next.head.contains("content-type: application/json"));

    let wrong = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/r-0/response",
        "1",
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("InvalidRequestID"), "{}", wrong.body);
    assert!(outcome.try_recv().is_err(), "no outcome yet");

    let ok = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/r-1/response",
        "42",
    )
    .await;
    assert_eq!(ok.status, 202);
    assert_eq!(ok.body, r#"{"status":"OK"}"#);
    assert_eq!(
        outcome.await.expect("outcome"),
        Outcome::Response(Bytes::from_static(b"42"))
    );

    let again = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/r-1/response",
        "43",
    )
    .await;
    assert_eq!(again.status, 403);
    assert!(again.body.contains("InvalidStateTransition"));
    let again = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/r-1/error",
        "{}",
    )
    .await;
    assert_eq!(again.status, 403);

    // An error, submitted before the runtime asks.
    let outcome = api.submit(&invocation("r-2", "{}", Duration::from_secs(30)));
    let next = http(addr, "GET", "/2018-06-01/runtime/invocation/next", "").await;
    assert!(next.head.contains("lambda-runtime-aws-request-id: r-2"));
    assert!(!next.head.contains("lambda-runtime-client-context"));
    let err = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/r-2/error",
        r#"{"errorType":"X"}"#,
    )
    .await;
    assert_eq!(err.status, 202);
    assert_eq!(
        outcome.await.expect("outcome"),
        Outcome::Error {
            body: Bytes::from_static(br#"{"errorType":"X"}"#),
            error_type: Some("Runtime.Test".into()),
        }
    );

    // Abandoned invocations refuse late answers.
    let _outcome = api.submit(&invocation("r-3", "{}", Duration::from_secs(30)));
    api.abandon();
    let late = http(
        addr,
        "POST",
        "/2018-06-01/runtime/invocation/r-3/response",
        "1",
    )
    .await;
    assert_eq!(late.status, 403);

    let init = http(addr, "POST", "/2018-06-01/runtime/init/error", "{}").await;
    assert_eq!(init.status, 403);
    let ext = http(addr, "POST", "/2020-01-01/extension/register", "{}").await;
    assert_eq!(ext.status, 404);
    assert!(ext.body.contains("errorType"));
    let telemetry = http(addr, "PUT", "/2022-07-01/telemetry", "{}").await;
    assert_eq!(telemetry.status, 404);
    let method = http(addr, "POST", "/2018-06-01/runtime/invocation/next", "").await;
    assert_eq!(method.status, 405);
}

#[tokio::test]
async fn runtime_api_init_error() {
    let api = RuntimeApi::bind().await.expect("bind");
    let reply = http(
        api.addr(),
        "POST",
        "/2018-06-01/runtime/init/error",
        r#"{"errorType":"Runtime.Test"}"#,
    )
    .await;
    assert_eq!(reply.status, 202);
    assert_eq!(
        api.ready().await,
        Err(Outcome::InitError {
            body: Bytes::from_static(br#"{"errorType":"Runtime.Test"}"#),
            error_type: Some("Runtime.Test".into()),
        })
    );
}

#[tokio::test]
async fn python_handler_paths_and_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "pkg/sub/mod.py",
        r#"
import decimal

def handler(event, context):
    kind = event.get("kind")
    if kind == "str":
        return "hi"
    if kind == "bytes":
        return b"raw"
    if kind == "decimal":
        return {"d": decimal.Decimal("1.5")}
    if kind == "none":
        return None
    return {"arn": context.invoked_function_arn, "mem": context.memory_limit_in_mb}
"#,
    );
    let mut env = Environment::start(launch(dir.path(), "python3.12", "pkg/sub.mod.handler"), 1)
        .await
        .expect("python starts");
    async fn run(env: &mut Environment, payload: &str) -> Outcome {
        env.invoke(invocation("h", payload, Duration::from_secs(5)))
            .await
            .0
    }
    let response = |b: &'static [u8]| Outcome::Response(Bytes::from_static(b));
    assert_eq!(
        run(&mut env, r#"{"kind":"str"}"#).await,
        response(br#""hi""#)
    );
    assert_eq!(
        run(&mut env, r#"{"kind":"decimal"}"#).await,
        response(br#"{"d": 1.5}"#)
    );
    assert_eq!(run(&mut env, r#"{"kind":"none"}"#).await, response(b"null"));
    assert_eq!(
        run(&mut env, "{}").await,
        response(br#"{"arn": "arn:aws:lambda:eu-west-1:123456789012:function:f", "mem": "128"}"#)
    );
    let Outcome::Error { body, .. } = run(&mut env, r#"{"kind":"bytes"}"#).await else {
        panic!("bytes are not JSON");
    };
    let v = json(&body);
    assert_eq!(v["errorType"], "Runtime.MarshalError");
    assert_eq!(
        v["errorMessage"],
        "Unable to marshal response: Object of type bytes is not JSON serializable"
    );
}

#[tokio::test]
async fn node_module_kinds() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "lib/cjs.cjs",
        "module.exports.nested = { fn: async (e) => ({ cjs: e.n }) };\n",
    );
    write(dir.path(), "esm/package.json", r#"{"type":"module"}"#);
    write(
        dir.path(),
        "esm/app.js",
        r#"export default { handler: async (e) => { if (e.reject) Promise.reject(new Error("nobody waits")); if (e.reject) await new Promise((r) => setTimeout(r, 1000)); return undefined; } };"#,
    );
    let mut env = Environment::start(launch(dir.path(), "nodejs20.x", "lib/cjs.nested.fn"), 1)
        .await
        .expect("node starts");
    let (outcome, _) = env
        .invoke(invocation("k-1", r#"{"n":5}"#, Duration::from_secs(5)))
        .await;
    assert_eq!(
        outcome,
        Outcome::Response(Bytes::from_static(br#"{"cjs":5}"#))
    );

    let mut env = Environment::start(launch(dir.path(), "nodejs20.x", "esm/app.handler"), 2)
        .await
        .expect("node starts");
    let (outcome, _) = env
        .invoke(invocation("k-2", "{}", Duration::from_secs(5)))
        .await;
    assert_eq!(outcome, Outcome::Response(Bytes::from_static(b"null")));
    // An unhandled rejection fails the invocation and ends the process, as on AWS.
    let (outcome, _) = env
        .invoke(invocation(
            "k-3",
            r#"{"reject":true}"#,
            Duration::from_secs(5),
        ))
        .await;
    let Outcome::Error { body, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        json(&body)["errorType"],
        "Runtime.UnhandledPromiseRejection"
    );
    eventually("the process exits", || !env.is_alive()).await;
}
