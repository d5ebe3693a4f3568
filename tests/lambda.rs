//! Lambda functions run as local processes (`[interceptors.lambda]`) end to end: functions are
//! created through the edge with aws-sdk-lambda (moto_server keeps the control plane, the edge
//! keeps the code by `CodeSha256`), and invoked through the edge, which runs them as real
//! python3, node and `/bin/sh` processes and answers as Lambda does.
//!
//! What is checked:
//! - the runtimes: `python3.12` (run by the host's python3, whatever 3.x it is), `nodejs20.x`
//!   (an async `index.mjs` handler, a CJS `.js` callback handler), and `provided.al2023` (a
//!   curl `bootstrap`, stored with mode 0755 and with no mode at all); the context
//!   (`aws_request_id` = the answer's request id, function name, ARN, remaining time, client
//!   context), `X-Amz-Executed-Version`, the `LogType=Tail` log (START / the function's own
//!   lines / END / REPORT, the last 4 KB of a longer one), `/_localstack/health`;
//! - function errors (200 + `X-Amz-Function-Error: Unhandled` + the runtime's error JSON), in
//!   python and node: an exception, `Sandbox.Timedout` at the deadline (the process group
//!   killed, a fresh process next time), a process exit (`Runtime.ExitError`), a module or
//!   handler that does not exist (init errors), a result over 6 MB;
//! - the Invoke API's own errors: a 7 MB payload (413 RequestTooLargeException), a 1.5 MB
//!   `Event` payload (413), a payload that is not JSON (400 InvalidRequestContentException),
//!   an unknown or deleted function (moto's 404 ResourceNotFoundException), a function whose
//!   code the edge never saw (created straight on moto), a container-image function and a
//!   zip with a `../` entry (400 InvalidParameterValueException saying why);
//! - `Event` (202, the function runs: it writes an S3 object through `AWS_ENDPOINT_URL`; a
//!   failing one runs three times), `DryRun` (204, nothing runs) and the legacy `InvokeAsync`
//!   (202 `{"Status":202}`);
//! - `UpdateFunctionCode` and `UpdateFunctionConfiguration` taking effect at the next invoke,
//!   published versions and aliases (`Qualifier`, `name:alias`), invocation by ARN, layers
//!   (python and node), and the code cache (functions and layers) surviving an edge restart;
//! - the environment the function sees: Lambda's reserved variables, its own variables,
//!   `AWS_ENDPOINT_URL` = the edge, and nothing of the test process's (`CARGO_*`); its log in
//!   CloudWatch Logs (`cloudwatch_logs = true`); idle processes stopped (`idle_timeout`);
//! - concurrency: N parallel invocations run in N processes that are reused afterwards; past
//!   the reserved concurrency, or `max_concurrency`, 429 TooManyRequestsException;
//! - code from S3 (`S3Bucket`/`S3Key`), and the integrations: an S3 PutObject with a Lambda
//!   notification (`[interceptors.s3-notifications]`) runs the function with an S3 event, and
//!   an API Gateway AWS_PROXY route (`[interceptors.apigateway]`) answers with the function's
//!   `statusCode`/`headers`/`body`.
//!
//! Needs moto_server (`.venv`, see `scripts/install-deps`; a missing one fails the test with
//! the command that installs it), and `python3`, `node`, `sh` and `curl` on `PATH` (what the
//! functions run with). Every test has its own moto_server, edge (on free ports) and code
//! cache directory, so tests run in parallel.

mod support;

use std::{
    collections::BTreeSet,
    io::{Cursor, Write},
    path::Path,
    time::{Duration, Instant},
};

use aws_sdk_lambda::{
    error::{ProvideErrorMetadata, SdkError},
    operation::{
        create_function::builders::CreateFunctionFluentBuilder, invoke::InvokeOutput, RequestId,
    },
    primitives::{Blob, ByteStream},
    types::{Environment, FunctionCode, InvocationType, LogType, PackageType, Runtime},
};
use base64::Engine as _;
use edgestack::Edge;
use edgestack_testkit::{fake_sigv4, MotoServer};
use serde_json::{json, Value};
use support::TestDir;

/// moto's default account: functions and roles live in it.
const ACCOUNT: &str = "123456789012";
/// The execution role every function is created with (moto checks that it exists).
const ROLE: &str = "arn:aws:iam::123456789012:role/lambda-role";
/// How long a test waits for what a background invocation writes.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The functions' code.
// ---------------------------------------------------------------------------------------------

/// `app.py`: one module, a handler per test purpose (the functions differ by `Handler`).
const APP_PY: &str = r#"import json, os, subprocess, sys, time, urllib.request, uuid

def handler(event, context):
    if isinstance(event, dict) and event.get("noise"):
        print("N" * event["noise"])
    print("hello from python", json.dumps(event, sort_keys=True))
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_arn": context.invoked_function_arn,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory": str(context.memory_limit_in_mb),
        "log_group": context.log_group_name,
    }

ENV_KEYS = [
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
    "AWS_EXECUTION_ENV", "_HANDLER", "LAMBDA_TASK_ROOT", "GREETING",
]

def env(event, context):
    print("env check", context.aws_request_id)
    return {
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "names": sorted(os.environ),
        "cwd": os.getcwd(),
        "pid": os.getpid(),
    }

def fail(event, context):
    if event.get("exit") is not None:
        print("exiting with", event["exit"], flush=True)
        os._exit(event["exit"])
    if event.get("spawn"):
        child = subprocess.Popen(["sleep", "30"])
        print("child", child.pid, flush=True)
    if event.get("sleep"):
        print("sleeping", event["sleep"], flush=True)
        time.sleep(event["sleep"])
    if event.get("raise"):
        raise ValueError(event["raise"])
    if event.get("big"):
        return "a" * event["big"]
    if event.get("unserializable"):
        return {1, 2}
    return {"pid": os.getpid()}

def ctx(event, context):
    cc = context.client_context
    return {
        "custom": cc.custom if cc else None,
        "client": cc.client.installation_id if cc and cc.client else None,
        "invoked_arn": context.invoked_function_arn,
    }

def layered(event, context):
    import greet
    return {"greeting": greet.hello(), "file": greet.__file__}

def pid(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid()}

def s3_put(bucket, key, body):
    url = os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/" + bucket + "/" + key
    req = urllib.request.Request(url, data=body.encode(), method="PUT", headers={
        "Content-Type": "application/octet-stream",
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host, Signature=x",
        "x-amz-date": "20240101T000000Z",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    })
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status

def attempt(event, context):
    s3_put("out", "attempts/" + context.aws_request_id + "/" + uuid.uuid4().hex, "{}")
    raise RuntimeError("attempt failed")

def writer(event, context):
    body = json.dumps({"event": event, "request_id": context.aws_request_id})
    return {"status": s3_put(event["bucket"], event["key"], body)}

def recorder(event, context):
    rec = event["Records"][0]
    key = rec["s3"]["object"]["key"]
    s3_put("seen", "events/" + key, json.dumps({
        "bucket": rec["s3"]["bucket"]["name"],
        "key": key,
        "eventName": rec["eventName"],
        "eventSource": rec["eventSource"],
    }))
    return {"ok": True}

def proxy(event, context):
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-function": context.function_name},
        "body": json.dumps({
            "path": event["path"],
            "method": event["httpMethod"],
            "proxy": (event.get("pathParameters") or {}).get("proxy"),
            "body": event["body"],
        }, sort_keys=True),
    }
"#;

/// `index.mjs`: an async ESM handler.
const INDEX_MJS: &str = r#"export const handler = async (event, context) => {
  console.log("hello from node esm", JSON.stringify(event));
  await new Promise((resolve) => setTimeout(resolve, 5));
  return {
    event,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    remaining: context.getRemainingTimeInMillis(),
    module: "esm",
  };
};
"#;

/// `cb.js`: a CJS callback handler, and async ones that reject (logging to stderr), time
/// out, exit, and use a layer.
const CB_JS: &str = r#"exports.handler = function (event, context, callback) {
  console.log("hello from node cjs", JSON.stringify(event));
  setTimeout(() => callback(null, { sum: event.a + event.b, requestId: context.awsRequestId, module: "cjs" }), 5);
};

exports.layered = async () => ({ greeting: require("greet").hello() });

exports.slow = async () => {
  console.log("waiting");
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return "late";
};

exports.exits = async () => {
  process.exit(4);
};

exports.fails = async (event) => {
  console.error("about to fail");
  throw new TypeError("node kaboom " + event.n);
};
"#;

/// `bootstrap` of a `provided` function: the Runtime API loop in sh and curl.
const BOOTSTRAP_SH: &str = r#"#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(curl -sS -D "$HEADERS" "$API/next")"
  REQUEST_ID="$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | cut -d: -f2 | tr -d '[:space:]')"
  rm -f "$HEADERS"
  echo "shell got $EVENT"
  curl -sS -o /dev/null -X POST "$API/$REQUEST_ID/response" \
    -d "{\"shell\":true,\"event\":$EVENT,\"handler\":\"$_HANDLER\",\"request_id\":\"$REQUEST_ID\"}"
done
"#;

/// A zip of `files`: (name, content, unix mode, if any beyond the zip crate's default 0644).
fn zip_of(files: &[(&str, &str, Option<u32>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, text, mode) in files {
        let mut options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        if let Some(mode) = mode {
            options = options.unix_permissions(*mode);
        }
        w.start_file(*name, options).unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `zip` with no unix modes: every central directory entry made by "MS-DOS" with external
/// attributes 0, as zips made on Windows (or by tools that do not keep modes) are.
fn without_modes(mut zip: Vec<u8>) -> Vec<u8> {
    let eocd = (0..=zip.len() - 22)
        .rev()
        .find(|&i| zip[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .expect("an end of central directory record");
    let le16 = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
    let le32 =
        |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize;
    let entries = le16(&zip, eocd + 10);
    let mut at = le32(&zip, eocd + 16);
    for _ in 0..entries {
        assert_eq!(
            zip[at..at + 4],
            [0x50, 0x4b, 0x01, 0x02],
            "a central header"
        );
        zip[at + 5] = 0; // version made by: MS-DOS
        zip[at + 38..at + 42].fill(0); // external attributes
        at += 46 + le16(&zip, at + 28) + le16(&zip, at + 30) + le16(&zip, at + 32);
    }
    zip
}

/// The unix mode of each entry of `zip`, as a reader sees it.
fn modes(zip: &[u8]) -> Vec<Option<u32>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().unix_mode())
        .collect()
}

fn app_zip() -> Vec<u8> {
    zip_of(&[("app.py", APP_PY, None)])
}

// ---------------------------------------------------------------------------------------------
// The stack: moto_server, an edge with the lambda interceptor, clients.
// ---------------------------------------------------------------------------------------------

struct Stack {
    /// The edge's configuration.
    text: String,
    edge: Edge,
    lambda: aws_sdk_lambda::Client,
    s3: aws_sdk_s3::Client,
    http: reqwest::Client,
    moto: MotoServer,
    cache: TestDir,
}

/// An edge in front of its own moto_server with `[interceptors.lambda]` (its own cache
/// directory, and `lambda` holding more `settings` lines), then `sections` (more interceptor
/// sections); the execution role created.
async fn start_with(settings: &str, sections: &str) -> Stack {
    edgestack_testkit::trace_init();
    let moto = MotoServer::start();
    let cache = TestDir::new("lambda-test");
    let text = format!(
        "{}\n[interceptors.lambda]\ncache_dir = \"{}\"\n{settings}\n{sections}",
        support::moto_edge_toml(&moto.url()),
        cache.0.display()
    );
    let edge = support::start_edge(&text, Duration::from_secs(60)).await;
    let url = edge.url();
    let st = Stack {
        text,
        lambda: support::lambda_client(&url),
        s3: support::s3_client(&url),
        http: support::client(),
        edge,
        moto,
        cache,
    };
    st.create_role().await;
    st
}

async fn start() -> Stack {
    start_with("", "").await
}

/// What one `Invoke` answered.
#[derive(Debug)]
struct Invoked {
    status: i32,
    function_error: Option<String>,
    executed_version: Option<String>,
    request_id: Option<String>,
    payload: Value,
    /// The decoded `X-Amz-Log-Result`.
    log: Option<String>,
}

impl Invoked {
    fn of(out: InvokeOutput) -> Invoked {
        let payload = out
            .payload()
            .map(|b| b.as_ref().to_vec())
            .unwrap_or_default();
        let payload = if payload.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&payload).unwrap_or_else(|e| {
                panic!(
                    "payload is not JSON ({e}): {}",
                    String::from_utf8_lossy(&payload)
                )
            })
        };
        Invoked {
            status: out.status_code(),
            function_error: out.function_error().map(str::to_string),
            executed_version: out.executed_version().map(str::to_string),
            request_id: out.request_id().map(str::to_string),
            log: out.log_result().map(|l| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(l)
                    .unwrap_or_else(|e| panic!("X-Amz-Log-Result is not base64 ({e}): {l}"));
                String::from_utf8_lossy(&bytes).into_owned()
            }),
            payload,
        }
    }

    fn request_id(&self) -> &str {
        self.request_id
            .as_deref()
            .unwrap_or_else(|| panic!("no request id: {self:?}"))
    }

    fn log(&self) -> &str {
        self.log
            .as_deref()
            .unwrap_or_else(|| panic!("no X-Amz-Log-Result: {self:?}"))
    }

    /// A successful invocation: 200, no function error.
    fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.function_error, None, "{self:?}");
        &self.payload
    }

    /// A failed invocation: 200, `X-Amz-Function-Error: Unhandled`, `errorType` as given;
    /// returns `errorMessage`.
    fn assert_unhandled(&self, error_type: &str) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(
            self.function_error.as_deref(),
            Some("Unhandled"),
            "{self:?}"
        );
        assert_eq!(self.payload["errorType"], error_type, "{self:?}");
        self.payload["errorMessage"]
            .as_str()
            .unwrap_or_else(|| panic!("no errorMessage: {self:?}"))
            .to_string()
    }

    /// The log is framed as Lambda frames it (START, `lines` in order, END, REPORT) for this
    /// invocation's request id and `version`.
    fn assert_log(&self, version: &str, lines: &[&str]) {
        let log = self.log();
        let id = self.request_id();
        let mut expected = vec![format!("START RequestId: {id} Version: {version}")];
        expected.extend(lines.iter().map(|l| l.to_string()));
        expected.push(format!("END RequestId: {id}"));
        expected.push(format!("REPORT RequestId: {id}"));
        let mut from = 0;
        for want in &expected {
            match log[from..].find(want.as_str()) {
                Some(at) => from += at + want.len(),
                None => panic!("the log lacks {want:?} (in this order):\n{log}"),
            }
        }
        let report = log
            .lines()
            .find(|l| l.starts_with("REPORT RequestId:"))
            .unwrap();
        for field in [
            "\tDuration: ",
            "\tBilled Duration: ",
            "\tMemory Size: ",
            "\tMax Memory Used: ",
        ] {
            assert!(report.contains(field), "no {field:?} in {report:?}");
        }
    }

    /// Whether the REPORT line shows an init duration (a cold start).
    fn cold(&self) -> bool {
        self.log()
            .lines()
            .find(|l| l.starts_with("REPORT RequestId:"))
            .unwrap_or_else(|| panic!("no REPORT line:\n{}", self.log()))
            .contains("\tInit Duration: ")
    }
}

/// An SDK error's HTTP status, code and message.
fn error_of<E: ProvideErrorMetadata + std::fmt::Debug>(e: &SdkError<E>) -> (u16, String, String) {
    let status = e
        .raw_response()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|| panic!("no HTTP answer: {e:?}"));
    (
        status,
        e.code().unwrap_or_default().to_string(),
        e.message().unwrap_or_default().to_string(),
    )
}

impl Stack {
    async fn stop(self) {
        self.edge.shutdown().await;
    }

    /// Stops the edge (its environments with it) and starts a new one with the same
    /// configuration: the same moto_server and code cache directory.
    async fn restart(self) -> Stack {
        self.edge.shutdown().await;
        let edge = support::start_edge(&self.text, Duration::from_secs(60)).await;
        let url = edge.url();
        Stack {
            lambda: support::lambda_client(&url),
            s3: support::s3_client(&url),
            edge,
            ..self
        }
    }

    /// `ROLE` in moto's IAM (CreateFunction checks it), created through the edge.
    async fn create_role(&self) {
        let answer = support::create_lambda_role(&self.edge.url()).await;
        assert!(answer.contains(ROLE), "{answer}");
    }

    /// A CreateFunction of `name` with this zip, ready for more settings.
    fn function(
        &self,
        name: &str,
        runtime: &str,
        handler: &str,
        zip: Vec<u8>,
    ) -> CreateFunctionFluentBuilder {
        create_request(&self.lambda, name, runtime, handler, zip)
    }

    /// Creates `name` (python3.12, `app.py`, handler `app.{handler}`); returns its ARN.
    async fn python(&self, name: &str, handler: &str) -> String {
        self.function(name, "python3.12", &format!("app.{handler}"), app_zip())
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateFunction {name}: {e:?}"))
            .function_arn()
            .unwrap()
            .to_string()
    }

    /// Invokes `name` (`RequestResponse`, `LogType=Tail`) with `event`.
    async fn invoke(&self, name: &str, event: Value) -> Invoked {
        invoke(&self.lambda, name, None, event).await
    }

    /// Invokes `name` with `Qualifier=qualifier`.
    async fn invoke_qualified(&self, name: &str, qualifier: &str, event: Value) -> Invoked {
        invoke(&self.lambda, name, Some(qualifier), event).await
    }

    /// Invokes `name` with a raw `payload`, expecting the Invoke API to refuse it.
    async fn invoke_refused(&self, name: &str, payload: Vec<u8>) -> (u16, String, String) {
        let sent = self
            .lambda
            .invoke()
            .function_name(name)
            .payload(Blob::new(payload))
            .send()
            .await;
        match sent {
            Ok(out) => panic!("{name}: not refused: {:?}", Invoked::of(out)),
            Err(e) => error_of(&e),
        }
    }

    async fn bucket(&self, name: &str) {
        self.s3
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateBucket {name}: {e:?}"));
    }

    /// The body of `bucket`/`key` if it exists now.
    async fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => Some(out.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(e) => {
                let code = e.code().map(str::to_string);
                assert_eq!(
                    code.as_deref(),
                    Some("NoSuchKey"),
                    "GetObject {bucket}/{key}: {e:?}"
                );
                None
            }
        }
    }

    /// The keys under `prefix` in `bucket`.
    async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListObjectsV2 {bucket}/{prefix}: {e:?}"))
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }

    /// The messages of every event in CloudWatch Logs group `group` (none while the group does
    /// not exist), read through the edge.
    async fn log_messages(&self, group: &str) -> Vec<String> {
        let answer = support::call(
            self.http
                .post(self.edge.url())
                .header("authorization", fake_sigv4("logs"))
                .header("x-amz-target", "Logs_20140328.FilterLogEvents")
                .header("content-type", "application/x-amz-json-1.1")
                .body(json!({ "logGroupName": group }).to_string()),
        )
        .await;
        if answer.status != 200 {
            assert!(
                answer.text().contains("ResourceNotFoundException"),
                "FilterLogEvents: {} {}",
                answer.status,
                answer.text()
            );
            return Vec::new();
        }
        answer.json()["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| e["message"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The body of `bucket`/`key` once it exists (polls for [`WAIT`]), as JSON.
    async fn wait_object(&self, bucket: &str, key: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(body) = self.object(bucket, key).await {
                return serde_json::from_slice(&body).unwrap_or_else(|e| {
                    panic!(
                        "{bucket}/{key} is not JSON ({e}): {}",
                        String::from_utf8_lossy(&body)
                    )
                });
            }
            assert!(
                Instant::now() < deadline,
                "{bucket}/{key} not written within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn create_request(
    client: &aws_sdk_lambda::Client,
    name: &str,
    runtime: &str,
    handler: &str,
    zip: Vec<u8>,
) -> CreateFunctionFluentBuilder {
    client
        .create_function()
        .function_name(name)
        .runtime(Runtime::from(runtime))
        .role(ROLE)
        .handler(handler)
        .code(FunctionCode::builder().zip_file(Blob::new(zip)).build())
}

async fn invoke(
    client: &aws_sdk_lambda::Client,
    name: &str,
    qualifier: Option<&str>,
    event: Value,
) -> Invoked {
    let out = client
        .invoke()
        .function_name(name)
        .set_qualifier(qualifier.map(str::to_string))
        .log_type(LogType::Tail)
        .payload(Blob::new(event.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("Invoke {name} ({qualifier:?}): {e:?}"));
    Invoked::of(out)
}

/// Whether Lambda itself sets variable `name` in a function's environment (so the test
/// process having one too is no leak).
fn set_by_lambda(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "PATH",
        "HOME",
        "LANG",
        "TZ",
        "TMPDIR",
        "LD_LIBRARY_PATH",
        "PYTHONPATH",
        "NODE_PATH",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        // Python's own locale coercion sets it when LANG names a locale the host lacks.
        "LC_CTYPE",
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_EXECUTION_ENV",
    ];
    NAMES.contains(&name) || name.starts_with("AWS_LAMBDA_") || name.starts_with("LAMBDA_")
}

/// Waits (up to 3 s) until process `pid` is gone (or a zombie nobody reaped yet).
async fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // `pid (comm) S ...`: the state after the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("gone");
        if state == "gone" || state == "Z" || state == "X" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) still runs: {stat}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `pid` the function answered.
fn pid_of(invoked: &Invoked) -> u64 {
    invoked.assert_ok()["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid: {invoked:?}"))
}

// ---------------------------------------------------------------------------------------------
// Runtimes.
// ---------------------------------------------------------------------------------------------

/// A python3.12 function runs with the host's python3: its answer carries the event and the
/// context (request id = the answer's, function name, unqualified ARN as invoked, remaining
/// time under the timeout, memory, log group), `$LATEST` ran, and the tail log frames its
/// print line with START/END/REPORT. A second invocation reuses the warm process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_function_runs_with_its_context_and_log_tail() {
    let st = start().await;
    let arn = st
        .function("py-hello", "python3.12", "app.handler", app_zip())
        .timeout(7)
        .memory_size(256)
        .send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string();
    assert_eq!(
        arn,
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:py-hello")
    );

    let first = st.invoke("py-hello", json!({"n": 7, "s": "x"})).await;
    let p = first.assert_ok();
    assert_eq!(p["event"], json!({"n": 7, "s": "x"}));
    assert_eq!(p["request_id"], first.request_id(), "{first:?}");
    assert_eq!(p["function_name"], "py-hello");
    assert_eq!(p["function_version"], "$LATEST");
    assert_eq!(p["invoked_arn"], arn.as_str());
    assert_eq!(p["memory"], "256");
    assert_eq!(p["log_group"], "/aws/lambda/py-hello");
    let remaining = p["remaining_ms"].as_i64().unwrap();
    assert!(
        remaining > 5_000 && remaining <= 7_000,
        "remaining time {remaining} ms of a 7 s timeout"
    );
    assert_eq!(first.executed_version.as_deref(), Some("$LATEST"));
    first.assert_log("$LATEST", &[r#"hello from python {"n": 7, "s": "x"}"#]);
    assert!(first.cold(), "a cold start reports its Init Duration");

    // No payload: the event is `{}`; a JSON string is an event too.
    let out = st
        .lambda
        .invoke()
        .function_name("py-hello")
        .send()
        .await
        .unwrap();
    let plain = Invoked::of(out);
    assert_eq!(plain.assert_ok()["event"], json!({}));
    assert_eq!(plain.log, None, "no LogType=Tail, no X-Amz-Log-Result");
    let text = st.invoke("py-hello", json!("just text")).await;
    assert_eq!(text.assert_ok()["event"], "just text");

    let second = st.invoke("py-hello", json!({"n": 8})).await;
    assert_eq!(second.assert_ok()["event"], json!({"n": 8}));
    assert_ne!(second.request_id(), first.request_id());
    second.assert_log("$LATEST", &[r#"hello from python {"n": 8}"#]);
    assert!(
        !second.cold(),
        "the second invocation runs warm:\n{}",
        second.log()
    );
    assert!(
        !second.log().contains("hello from python {\"n\": 7"),
        "the tail holds only this invocation's log:\n{}",
        second.log()
    );

    // A log longer than 4 KB: the tail is its last 4096 bytes (START is cut off).
    let noisy = st.invoke("py-hello", json!({"noise": 5000})).await;
    noisy.assert_ok();
    let log = noisy.log();
    assert_eq!(log.len(), 4096, "the last 4 KB of a 5 KB log:\n{log}");
    assert!(!log.contains("START RequestId"), "{log}");
    assert!(log.starts_with("NNNN"), "{log}");
    let id = noisy.request_id();
    assert!(log.contains(&format!("END RequestId: {id}")), "{log}");
    let last = log.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with(&format!("REPORT RequestId: {id}")),
        "the tail ends with REPORT: {last}"
    );

    let health = support::call(st.http.get(format!("{}/_localstack/health", st.edge.url()))).await;
    assert_eq!(
        health.json()["services"]["lambda"],
        "running",
        "{}",
        health.text()
    );
    st.stop().await;
}

/// The environment a function sees: Lambda's reserved variables, its own variables,
/// `AWS_ENDPOINT_URL` pointing at the edge, the task root as working directory, and none of
/// the test process's variables (the edge runs in it: `CARGO_*` under cargo, and whatever
/// the shell had), except those Lambda sets itself. With `cloudwatch_logs = true` the
/// invocation's log is in `/aws/lambda/<fn>`; with `idle_timeout = "1s"` the idle process
/// is stopped and the next invocation starts another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_environment_is_lambdas_not_the_edges() {
    let st = start_with("idle_timeout = \"1s\"\ncloudwatch_logs = true\n", "").await;
    st.function("py-env", "python3.12", "app.env", app_zip())
        .memory_size(192)
        .environment(
            Environment::builder()
                .variables("GREETING", "hello")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = st.invoke("py-env", json!({})).await;
    let p = got.assert_ok();
    let env = &p["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "py-env", "{p}");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST", "{p}");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "192", "{p}");
    assert_eq!(
        env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/py-env",
        "{p}"
    );
    assert_eq!(env["AWS_REGION"], "us-east-1", "{p}");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1", "{p}");
    assert_eq!(env["AWS_ENDPOINT_URL"], st.edge.url().as_str(), "{p}");
    assert_eq!(env["AWS_EXECUTION_ENV"], "AWS_Lambda_python3.12", "{p}");
    assert_eq!(env["_HANDLER"], "app.env", "{p}");
    assert_eq!(env["GREETING"], "hello", "{p}");
    let task_root = env["LAMBDA_TASK_ROOT"].as_str().expect("LAMBDA_TASK_ROOT");
    assert_eq!(p["cwd"], task_root, "{p}");
    assert!(
        Path::new(task_root).join("app.py").is_file(),
        "the task root {task_root} holds the code"
    );
    let names: BTreeSet<&str> = p["names"]
        .as_array()
        .expect("names")
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let ours: BTreeSet<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect();
    let leaked: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| ours.contains(*n) && !set_by_lambda(n))
        .collect();
    assert_eq!(
        leaked,
        Vec::<&str>::new(),
        "the test process's environment leaked into the function: {names:?}"
    );

    // cloudwatch_logs: the invocation's log is in /aws/lambda/py-env.
    let id = got.request_id();
    let deadline = Instant::now() + WAIT;
    loop {
        let messages = st.log_messages("/aws/lambda/py-env").await;
        let has = |m: &str| messages.iter().any(|l| l.contains(m));
        if has(&format!("START RequestId: {id}"))
            && has(&format!("env check {id}"))
            && has(&format!("REPORT RequestId: {id}"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the invocation's log is not in CloudWatch Logs: {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // idle_timeout = 1s: the idle process is stopped, the next invocation starts another.
    let pid = p["pid"].as_u64().expect("pid") as u32;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    wait_gone(pid, "the idle environment's process").await;
    let again = st.invoke("py-env", json!({})).await;
    assert_ne!(again.assert_ok()["pid"], pid, "a new process");
    st.stop().await;
}

/// nodejs20.x: an async handler in `index.mjs` (ESM), a callback handler in a `.js` file
/// (CJS), and an async handler that throws; their console.log lines are in the tail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_esm_async_and_cjs_callback_handlers() {
    let st = start().await;
    let zip = zip_of(&[("index.mjs", INDEX_MJS, None), ("cb.js", CB_JS, None)]);
    for (name, handler) in [
        ("node-esm", "index.handler"),
        ("node-cjs", "cb.handler"),
        ("node-fails", "cb.fails"),
        ("node-slow", "cb.slow"),
        ("node-exits", "cb.exits"),
        ("node-nomod", "nomod.handler"),
        ("node-nohandler", "cb.nothere"),
    ] {
        st.function(name, "nodejs20.x", handler, zip.clone())
            .timeout(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateFunction {name}: {e:?}"));
    }

    let esm = st.invoke("node-esm", json!({"n": 5})).await;
    let p = esm.assert_ok();
    assert_eq!(p["event"], json!({"n": 5}));
    assert_eq!(p["module"], "esm");
    assert_eq!(p["requestId"], esm.request_id());
    assert_eq!(p["functionName"], "node-esm");
    let remaining = p["remaining"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 3_000, "remaining {remaining}");
    assert_eq!(esm.executed_version.as_deref(), Some("$LATEST"));
    esm.assert_log("$LATEST", &[r#"hello from node esm {"n":5}"#]);

    let cjs = st.invoke("node-cjs", json!({"a": 2, "b": 40})).await;
    let p = cjs.assert_ok();
    assert_eq!(p["sum"], 42);
    assert_eq!(p["module"], "cjs");
    assert_eq!(p["requestId"], cjs.request_id());
    cjs.assert_log("$LATEST", &[r#"hello from node cjs {"a":2,"b":40}"#]);

    let fails = st.invoke("node-fails", json!({"n": 3})).await;
    let message = fails.assert_unhandled("TypeError");
    assert_eq!(message, "node kaboom 3");
    fails.assert_log("$LATEST", &["about to fail"]);

    let slow = st.invoke("node-slow", json!({})).await;
    assert_eq!(
        slow.assert_unhandled("Sandbox.Timedout"),
        format!(
            "RequestId: {} Error: Task timed out after 1.00 seconds",
            slow.request_id()
        )
    );
    let exits = st.invoke("node-exits", json!({})).await;
    assert_eq!(
        exits.assert_unhandled("Runtime.ExitError"),
        format!(
            "RequestId: {} Error: Runtime exited with error: exit status 4",
            exits.request_id()
        )
    );
    let nomod = st.invoke("node-nomod", json!({})).await;
    let message = nomod.assert_unhandled("Runtime.ImportModuleError");
    assert!(message.contains("nomod"), "{message}");
    let nohandler = st.invoke("node-nohandler", json!({})).await;
    let message = nohandler.assert_unhandled("Runtime.HandlerNotFound");
    assert!(message.contains("nothere"), "{message}");

    // A layer's `nodejs/node_modules` is on NODE_PATH.
    let layer = zip_of(&[(
        "nodejs/node_modules/greet/index.js",
        "module.exports = { hello: () => \"hi from the node layer\" };\n",
        None,
    )]);
    let layer_arn = st.layer("node-greetings", layer).await;
    st.function("node-layered", "nodejs20.x", "cb.layered", zip.clone())
        .layers(layer_arn)
        .send()
        .await
        .unwrap();
    let layered = st.invoke("node-layered", json!({})).await;
    assert_eq!(
        layered.assert_ok(),
        &json!({"greeting": "hi from the node layer"})
    );

    // The timeout above did not break the function.
    let again = st.invoke("node-esm", json!({"n": 6})).await;
    assert_eq!(again.assert_ok()["event"], json!({"n": 6}));
    st.stop().await;
}

/// provided.al2023: the zip's `bootstrap` (sh + curl against `$AWS_LAMBDA_RUNTIME_API`) runs,
/// whether the zip gives it mode 0755 or no mode at all (the edge makes it executable); one
/// that exits at once is a `Runtime.ExitError` with its output in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provided_bootstrap_runs_with_and_without_a_mode_in_the_zip() {
    let st = start().await;
    let with_mode = zip_of(&[("bootstrap", BOOTSTRAP_SH, Some(0o755))]);
    assert_eq!(modes(&with_mode), [Some(0o100755)]);
    let no_mode = without_modes(zip_of(&[("bootstrap", BOOTSTRAP_SH, None)]));
    assert_eq!(modes(&no_mode), [None], "the zip must carry no unix mode");

    for (name, zip) in [("sh-mode", with_mode), ("sh-no-mode", no_mode)] {
        st.function(name, "provided.al2023", "function.handler", zip)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateFunction {name}: {e:?}"));
        for n in 1..=2 {
            let got = st.invoke(name, json!({"x": n})).await;
            let p = got.assert_ok();
            assert_eq!(
                p,
                &json!({
                    "shell": true,
                    "event": {"x": n},
                    "handler": "function.handler",
                    "request_id": got.request_id(),
                }),
                "{name}"
            );
            assert_eq!(got.executed_version.as_deref(), Some("$LATEST"));
            got.assert_log("$LATEST", &[&format!(r#"shell got {{"x":{n}}}"#)]);
        }
    }

    // A bootstrap that exits before asking for work.
    let broken = zip_of(&[(
        "bootstrap",
        "#!/bin/sh\necho \"broken runtime\" >&2\nexit 1\n",
        Some(0o755),
    )]);
    st.function("sh-broken", "provided.al2023", "function.handler", broken)
        .send()
        .await
        .unwrap();
    let got = st.invoke("sh-broken", json!({})).await;
    assert_eq!(
        got.assert_unhandled("Runtime.ExitError"),
        format!(
            "RequestId: {} Error: Runtime exited with error: exit status 1",
            got.request_id()
        )
    );
    assert!(
        got.log().contains("broken runtime"),
        "the runtime's output is in the log:\n{}",
        got.log()
    );
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------------------------

/// Function errors are 200 + `X-Amz-Function-Error: Unhandled` + the error JSON: an exception
/// (its type and message), the deadline (`Sandbox.Timedout`, the process killed: the next
/// invocation runs in a new one), a process exit (`Runtime.ExitError`, then a new process),
/// a module that does not exist and a handler that does not exist (init errors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_errors_timeouts_exits_and_init_errors() {
    let st = start().await;
    st.function("py-fail", "python3.12", "app.fail", app_zip())
        .timeout(1)
        .send()
        .await
        .unwrap();

    let raised = st.invoke("py-fail", json!({"raise": "kaboom"})).await;
    assert_eq!(raised.assert_unhandled("ValueError"), "kaboom");
    assert!(
        raised.log().contains("kaboom"),
        "the traceback is in the log:\n{}",
        raised.log()
    );
    let before = pid_of(&st.invoke("py-fail", json!({})).await);

    let started = Instant::now();
    let timed_out = st
        .invoke("py-fail", json!({"spawn": true, "sleep": 3}))
        .await;
    let took = started.elapsed();
    let message = timed_out.assert_unhandled("Sandbox.Timedout");
    assert_eq!(
        message,
        format!(
            "RequestId: {} Error: Task timed out after 1.00 seconds",
            timed_out.request_id()
        )
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2_800),
        "a 1 s timeout answered after {took:?}"
    );
    timed_out.assert_log(
        "$LATEST",
        &["sleeping 3", "Task timed out after 1.00 seconds"],
    );
    // The whole process group is killed: the function's own child too.
    let child: u32 = timed_out
        .log()
        .lines()
        .find_map(|l| l.split("child ").nth(1))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no child pid in the log:\n{}", timed_out.log()));
    wait_gone(child, "the timed-out function's child").await;
    let after_timeout = pid_of(&st.invoke("py-fail", json!({})).await);
    assert_ne!(
        after_timeout, before,
        "the timed-out process must not be reused"
    );

    let exited = st.invoke("py-fail", json!({"exit": 3})).await;
    let message = exited.assert_unhandled("Runtime.ExitError");
    assert_eq!(
        message,
        format!(
            "RequestId: {} Error: Runtime exited with error: exit status 3",
            exited.request_id()
        )
    );
    let after_exit = pid_of(&st.invoke("py-fail", json!({})).await);
    assert_ne!(
        after_exit, after_timeout,
        "the exited process cannot be reused"
    );

    // The handler names a module the zip does not have.
    let unserializable = st.invoke("py-fail", json!({"unserializable": true})).await;
    unserializable.assert_unhandled("Runtime.MarshalError");
    // A result over 6 MB.
    st.python("py-big", "fail").await;
    let big = st.invoke("py-big", json!({"big": 7_000_000})).await;
    assert_eq!(
        big.assert_unhandled("Function.ResponseSizeTooLarge"),
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    );

    st.function("py-nomod", "python3.12", "nomod.handler", app_zip())
        .send()
        .await
        .unwrap();
    let nomod = st.invoke("py-nomod", json!({})).await;
    let message = nomod.assert_unhandled("Runtime.ImportModuleError");
    assert!(
        message.contains("nomod"),
        "the message names the module: {message}"
    );

    st.python("py-nohandler", "nothere").await;
    let nohandler = st.invoke("py-nohandler", json!({})).await;
    let message = nohandler.assert_unhandled("Runtime.HandlerNotFound");
    assert!(
        message.contains("nothere"),
        "the message names it: {message}"
    );
    st.stop().await;
}

/// The Invoke API's own errors: a 7 MB payload (413 RequestTooLargeException), a payload that
/// is not JSON (400 InvalidRequestContentException), an unknown function (404
/// ResourceNotFoundException, moto's), a function whose code edgestack never saw (created
/// straight on moto) and a container-image function: 400 InvalidParameterValueException
/// saying why, never a 5xx an SDK would retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_api_errors() {
    let st = start().await;
    st.python("py-api", "handler").await;

    let mut big = b"{\"pad\":\"".to_vec();
    big.resize(7 * 1024 * 1024, b'a');
    big.extend_from_slice(b"\"}");
    let (status, code, _) = st.invoke_refused("py-api", big).await;
    assert_eq!((status, code.as_str()), (413, "RequestTooLargeException"));

    let mut async_big = b"{\"pad\":\"".to_vec();
    async_big.resize(1_500_000, b'a');
    async_big.extend_from_slice(b"\"}");
    let sent = st
        .lambda
        .invoke()
        .function_name("py-api")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(async_big))
        .send()
        .await;
    let e = sent.expect_err("a 1.5 MB Event payload is over the 1 MB limit");
    let (status, code, _) = error_of(&e);
    assert_eq!((status, code.as_str()), (413, "RequestTooLargeException"));

    let (status, code, _) = st.invoke_refused("py-api", b"{not json".to_vec()).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidRequestContentException")
    );

    let (status, code, message) = st.invoke_refused("nope", b"{}".to_vec()).await;
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    assert!(
        message.contains("Function not found") && message.contains("nope"),
        "{message}"
    );

    // Created on moto directly: the edge never saw this code (code it has seen, under another
    // function, it runs: code is kept by its hash).
    let unseen = zip_of(&[(
        "app.py",
        &format!("{APP_PY}\n# not through the edge\n"),
        None,
    )]);
    let on_moto = support::lambda_client(&st.moto.url());
    create_request(&on_moto, "py-unseen", "python3.12", "app.handler", unseen)
        .send()
        .await
        .unwrap();
    let (status, code, message) = st.invoke_refused("py-unseen", b"{}".to_vec()).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException"),
        "{message}"
    );
    assert!(
        message.contains("py-unseen") && message.to_lowercase().contains("code"),
        "the message says why: {message}"
    );

    st.lambda
        .create_function()
        .function_name("img-fn")
        .role(ROLE)
        .package_type(PackageType::Image)
        .code(
            FunctionCode::builder()
                .image_uri(format!(
                    "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/img:latest"
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (status, code, message) = st.invoke_refused("img-fn", b"{}".to_vec()).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException"),
        "{message}"
    );
    assert!(
        message.to_lowercase().contains("image"),
        "the message says why: {message}"
    );

    // The function itself still runs.
    let ok = st.invoke("py-api", json!({"still": "fine"})).await;
    assert_eq!(ok.assert_ok()["event"], json!({"still": "fine"}));
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Invocation types, S3 through AWS_ENDPOINT_URL.
// ---------------------------------------------------------------------------------------------

/// A function writes an S3 object through `AWS_ENDPOINT_URL` (synchronously: the object is
/// there when Invoke answers); `Event` answers 202 and the function runs; `DryRun` answers 204
/// and nothing runs; the legacy `InvokeAsync` answers 202 `{"Status":202}` and the function
/// runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_calls_event_dry_run_and_invoke_async() {
    let st = start_with("async_retry_delay = \"100ms\"\n", "").await;
    st.bucket("out").await;
    st.python("py-writer", "writer").await;

    let sync = st
        .invoke("py-writer", json!({"bucket": "out", "key": "sync.json"}))
        .await;
    assert_eq!(sync.assert_ok()["status"], 200, "{sync:?}");
    let written = st.object("out", "sync.json").await.expect("written");
    let written: Value = serde_json::from_slice(&written).unwrap();
    assert_eq!(written["event"]["key"], "sync.json");
    assert_eq!(written["request_id"], sync.request_id());

    let dry = st
        .lambda
        .invoke()
        .function_name("py-writer")
        .invocation_type(InvocationType::DryRun)
        .payload(Blob::new(
            json!({"bucket": "out", "key": "dry.json"}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(dry.status_code(), 204);

    let event = st
        .lambda
        .invoke()
        .function_name("py-writer")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(
            json!({"bucket": "out", "key": "event.json"}).to_string(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status_code(), 202);
    let request_id = event.request_id().expect("a request id").to_string();
    let written = st.wait_object("out", "event.json").await;
    assert_eq!(written["event"]["key"], "event.json");
    assert_eq!(
        written["request_id"], request_id,
        "the function ran with the request id the 202 gave"
    );

    #[allow(deprecated)] // InvokeAsync is deprecated, and still served
    let legacy = st
        .lambda
        .invoke_async()
        .function_name("py-writer")
        .invoke_args(ByteStream::from(
            json!({"bucket": "out", "key": "legacy.json"})
                .to_string()
                .into_bytes(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 202);
    st.wait_object("out", "legacy.json").await;
    // The legacy API's body, which the SDK does not show.
    let raw = support::call(
        st.http
            .post(format!(
                "{}/2014-11-13/functions/py-writer/invoke-async/",
                st.edge.url()
            ))
            .header("authorization", fake_sigv4("lambda"))
            .body(json!({"bucket": "out", "key": "legacy-raw.json"}).to_string()),
    )
    .await;
    assert_eq!(raw.status, 202, "{}", raw.text());
    assert_eq!(raw.json(), json!({"Status": 202}));
    st.wait_object("out", "legacy-raw.json").await;

    // The dry run ran nothing (the Event and InvokeAsync invocations after it have run).
    assert_eq!(st.object("out", "dry.json").await, None);

    // A failing Event invocation is retried twice (async_retry_delay = 100ms here), with the
    // same request id; the function records each attempt.
    st.python("py-attempt", "attempt").await;
    let event = st
        .lambda
        .invoke()
        .function_name("py-attempt")
        .invocation_type(InvocationType::Event)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status_code(), 202);
    let prefix = format!("attempts/{}/", event.request_id().expect("a request id"));
    let deadline = Instant::now() + WAIT;
    while st.keys("out", &prefix).await.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "3 attempts not made within {WAIT:?}: {:?}",
            st.keys("out", &prefix).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        st.keys("out", &prefix).await.len(),
        3,
        "one attempt and two retries, no more"
    );
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The control plane: code and configuration changes, versions and aliases, S3 code.
// ---------------------------------------------------------------------------------------------

fn versioned_zip(tag: &str) -> Vec<u8> {
    let code = format!(
        "import os\n\ndef handler(event, context):\n    return {{\"code\": \"{tag}\", \
         \"version\": os.environ[\"AWS_LAMBDA_FUNCTION_VERSION\"], \
         \"arn\": context.invoked_function_arn, \
         \"greeting\": os.environ.get(\"GREETING\")}}\n"
    );
    zip_of(&[("app.py", &code, None)])
}

/// UpdateFunctionCode and UpdateFunctionConfiguration take effect at the next invocation;
/// PublishVersion freezes the code: `Qualifier=live` (an alias), `Qualifier=1` and `name:live`
/// run version 1 (`X-Amz-Executed-Version: 1`, `AWS_LAMBDA_FUNCTION_VERSION=1`) while
/// `$LATEST` runs the new code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_and_configuration_updates_versions_and_aliases() {
    let st = start().await;
    let arn = st
        .function("py-ver", "python3.12", "app.handler", versioned_zip("one"))
        .environment(
            Environment::builder()
                .variables("GREETING", "hello")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string();
    let v1 = st.invoke("py-ver", json!({})).await;
    assert_eq!(
        v1.assert_ok(),
        &json!({"code": "one", "version": "$LATEST", "arn": arn, "greeting": "hello"})
    );

    let published = st
        .lambda
        .publish_version()
        .function_name("py-ver")
        .send()
        .await
        .unwrap();
    assert_eq!(published.version(), Some("1"));
    st.lambda
        .create_alias()
        .function_name("py-ver")
        .name("live")
        .function_version("1")
        .send()
        .await
        .unwrap();

    st.lambda
        .update_function_code()
        .function_name("py-ver")
        .zip_file(Blob::new(versioned_zip("two")))
        .send()
        .await
        .unwrap();
    let latest = st.invoke("py-ver", json!({})).await;
    assert_eq!(latest.assert_ok()["code"], "two", "{latest:?}");
    assert_eq!(latest.executed_version.as_deref(), Some("$LATEST"));

    let live = st.invoke_qualified("py-ver", "live", json!({})).await;
    assert_eq!(
        live.assert_ok(),
        &json!({"code": "one", "version": "1", "arn": format!("{arn}:live"), "greeting": "hello"})
    );
    assert_eq!(live.executed_version.as_deref(), Some("1"));
    live.assert_log("1", &[]);

    let one = st.invoke_qualified("py-ver", "1", json!({})).await;
    assert_eq!(one.assert_ok()["code"], "one");
    assert_eq!(one.executed_version.as_deref(), Some("1"));

    let by_name = st.invoke("py-ver:live", json!({})).await;
    assert_eq!(by_name.assert_ok()["code"], "one");
    assert_eq!(by_name.executed_version.as_deref(), Some("1"));

    st.lambda
        .update_function_configuration()
        .function_name("py-ver")
        .environment(
            Environment::builder()
                .variables("GREETING", "bonjour")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let reconfigured = st.invoke("py-ver", json!({})).await;
    assert_eq!(
        reconfigured.assert_ok(),
        &json!({"code": "two", "version": "$LATEST", "arn": arn, "greeting": "bonjour"})
    );
    // Version 1 keeps its configuration.
    let live = st.invoke_qualified("py-ver", "live", json!({})).await;
    assert_eq!(live.assert_ok()["greeting"], "hello");

    // Version 2 (new code and configuration); the alias moved to it.
    let published = st
        .lambda
        .publish_version()
        .function_name("py-ver")
        .send()
        .await
        .unwrap();
    assert_eq!(published.version(), Some("2"));
    st.lambda
        .update_alias()
        .function_name("py-ver")
        .name("live")
        .function_version("2")
        .send()
        .await
        .unwrap();
    let live = st.invoke_qualified("py-ver", "live", json!({})).await;
    assert_eq!(
        live.assert_ok(),
        &json!({"code": "two", "version": "2", "arn": format!("{arn}:live"), "greeting": "bonjour"})
    );
    assert_eq!(live.executed_version.as_deref(), Some("2"));

    let latest = st.invoke_qualified("py-ver", "$LATEST", json!({})).await;
    assert_eq!(latest.assert_ok()["code"], "two");
    assert_eq!(latest.executed_version.as_deref(), Some("$LATEST"));
    let sent = st
        .lambda
        .invoke()
        .function_name("py-ver")
        .qualifier("7")
        .send()
        .await;
    let (status, code, _) = error_of(&sent.expect_err("version 7 does not exist"));
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));
    st.stop().await;
}

/// CreateFunction and UpdateFunctionCode with `S3Bucket`/`S3Key` (the zip uploaded through
/// the edge first): the edge fetches the code from S3 and runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_from_s3_runs() {
    let st = start().await;
    st.bucket("code-bucket").await;
    st.s3
        .put_object()
        .bucket("code-bucket")
        .key("fns/app.zip")
        .body(aws_sdk_s3::primitives::ByteStream::from(versioned_zip(
            "from-s3",
        )))
        .send()
        .await
        .unwrap();
    st.lambda
        .create_function()
        .function_name("py-s3code")
        .runtime(Runtime::from("python3.12"))
        .role(ROLE)
        .handler("app.handler")
        .code(
            FunctionCode::builder()
                .s3_bucket("code-bucket")
                .s3_key("fns/app.zip")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = st.invoke("py-s3code", json!({})).await;
    assert_eq!(got.assert_ok()["code"], "from-s3", "{got:?}");
    assert_eq!(got.executed_version.as_deref(), Some("$LATEST"));

    // UpdateFunctionCode from S3 too.
    st.s3
        .put_object()
        .bucket("code-bucket")
        .key("fns/app2.zip")
        .body(aws_sdk_s3::primitives::ByteStream::from(versioned_zip(
            "from-s3-again",
        )))
        .send()
        .await
        .unwrap();
    st.lambda
        .update_function_code()
        .function_name("py-s3code")
        .s3_bucket("code-bucket")
        .s3_key("fns/app2.zip")
        .send()
        .await
        .unwrap();
    let got = st.invoke("py-s3code", json!({})).await;
    assert_eq!(got.assert_ok()["code"], "from-s3-again", "{got:?}");
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Concurrency.
// ---------------------------------------------------------------------------------------------

/// `n` invocations of `name` at once, each sleeping `sleep` seconds.
async fn parallel(st: &Stack, name: &str, n: usize, sleep: f64) -> Vec<Result<u64, (u16, String)>> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let client = st.lambda.clone();
            let name = name.to_string();
            tokio::spawn(async move {
                let sent = client
                    .invoke()
                    .function_name(&name)
                    .payload(Blob::new(json!({"sleep": sleep}).to_string()))
                    .send()
                    .await;
                match sent {
                    Ok(out) => Ok(pid_of(&Invoked::of(out))),
                    Err(e) => {
                        let (status, code, _) = error_of(&e);
                        Err((status, code))
                    }
                }
            })
        })
        .collect();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    results
}

/// Four invocations at once run in four processes; the next four reuse exactly those (warm).
/// With reserved concurrency 1, of two invocations at once one runs and one gets 429
/// TooManyRequestsException.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_invocations_use_processes_that_stay_warm_and_reserved_concurrency_throttles() {
    let st = start().await;
    st.python("py-pid", "pid").await;
    let pids = |results: Vec<Result<u64, (u16, String)>>| -> BTreeSet<u64> {
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("an invocation failed: {e:?}")))
            .collect()
    };
    let first = pids(parallel(&st, "py-pid", 4, 1.0).await);
    assert_eq!(
        first.len(),
        4,
        "4 invocations at once, 4 processes: {first:?}"
    );
    let second = pids(parallel(&st, "py-pid", 4, 1.0).await);
    assert_eq!(second, first, "the warm processes are reused");

    st.python("py-single", "pid").await;
    st.lambda
        .put_function_concurrency()
        .function_name("py-single")
        .reserved_concurrent_executions(1)
        .send()
        .await
        .unwrap();
    let results = parallel(&st, "py-single", 2, 1.0).await;
    let ran = results.iter().filter(|r| r.is_ok()).count();
    let throttled: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ran, 1, "{results:?}");
    assert_eq!(
        throttled,
        [&(429, "TooManyRequestsException".to_string())],
        "{results:?}"
    );
    // Once the running one is done, the function runs again.
    pid_of(&st.invoke("py-single", json!({})).await);
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Integrations: S3 notifications, API Gateway.
// ---------------------------------------------------------------------------------------------

/// With `[interceptors.s3-notifications]`, a bucket notification to a Lambda function
/// (`s3:ObjectCreated:*`) runs the function when an object is put: it records the event's
/// bucket, key (`Records[0].s3.object.key`) and name into another bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_notification_runs_the_function() {
    use aws_sdk_s3::types::{Event, LambdaFunctionConfiguration, NotificationConfiguration};
    let st = start_with("", "[interceptors.s3-notifications]\n").await;
    let arn = st.python("py-recorder", "recorder").await;
    st.bucket("uploads").await;
    st.bucket("seen").await;
    st.s3
        .put_bucket_notification_configuration()
        .bucket("uploads")
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(
                    LambdaFunctionConfiguration::builder()
                        .id("to-lambda")
                        .lambda_function_arn(&arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    st.s3
        .put_object()
        .bucket("uploads")
        .key("photos/cat.jpg")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"meow"))
        .send()
        .await
        .unwrap();
    let seen = st.wait_object("seen", "events/photos/cat.jpg").await;
    assert_eq!(
        seen,
        json!({
            "bucket": "uploads",
            "key": "photos/cat.jpg",
            "eventName": "ObjectCreated:Put",
            "eventSource": "aws:s3",
        })
    );
    st.stop().await;
}

/// With `[interceptors.apigateway]`, a `{proxy+}` resource with an AWS_PROXY integration to
/// the function answers with the function's `statusCode`, headers and body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apigateway_aws_proxy_returns_the_functions_answer() {
    use aws_sdk_apigateway::types::IntegrationType;
    let st = start_with("", "[interceptors.apigateway]\n").await;
    let arn = st.python("py-proxy", "proxy").await;
    let api = support::apigateway_client(&st.edge.url());
    let id = api
        .create_rest_api()
        .name("lambda-api")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    let root = api
        .get_resources()
        .rest_api_id(&id)
        .send()
        .await
        .unwrap()
        .items()
        .iter()
        .find(|r| r.path() == Some("/"))
        .and_then(|r| r.id())
        .expect("a root resource")
        .to_string();
    let res = api
        .create_resource()
        .rest_api_id(&id)
        .parent_id(&root)
        .path_part("{proxy+}")
        .send()
        .await
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    api.put_method()
        .rest_api_id(&id)
        .resource_id(&res)
        .http_method("ANY")
        .authorization_type("NONE")
        .send()
        .await
        .unwrap();
    api.put_integration()
        .rest_api_id(&id)
        .resource_id(&res)
        .http_method("ANY")
        .r#type(IntegrationType::AwsProxy)
        .integration_http_method("POST")
        .uri(format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
        ))
        .send()
        .await
        .unwrap();
    api.create_deployment()
        .rest_api_id(&id)
        .stage_name("dev")
        .send()
        .await
        .unwrap();

    let answer = support::call(
        st.http
            .post(format!(
                "{}/restapis/{id}/dev/_user_request_/hello/world",
                st.edge.url()
            ))
            .body("ping"),
    )
    .await;
    assert_eq!(answer.status, 201, "{:?} {}", answer.headers, answer.text());
    assert_eq!(answer.header("x-function"), Some("py-proxy"));
    assert_eq!(
        answer.json(),
        json!({"path": "/hello/world", "method": "POST", "proxy": "hello/world", "body": "ping"})
    );
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Layers, names, client context, deletion, hostile zips, the global cap.
// ---------------------------------------------------------------------------------------------

/// A layer published through the edge is on the function's `PYTHONPATH` (`python/` of the
/// layer, as AWS mounts it under /opt); a function invoked by its full ARN; the client
/// context reaching `context.client_context`; a deleted function is 404; a zip with a
/// `../` entry (zip slip) is refused (400, naming the entry) and writes nothing outside the
/// cache; and with `max_concurrency = 1`, a second function invoked while one runs gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_arns_client_context_deletion_zip_slip_and_the_global_cap() {
    let st = start_with("max_concurrency = 1\n", "").await;

    let layer_arn = st
        .layer("greetings", python_layer("hi from the layer"))
        .await;
    st.function("py-layered", "python3.12", "app.layered", app_zip())
        .layers(&layer_arn)
        .send()
        .await
        .unwrap();
    let layered = st.invoke("py-layered", json!({})).await;
    let p = layered.assert_ok();
    assert_eq!(p["greeting"], "hi from the layer", "{layered:?}");
    assert!(
        p["file"].as_str().unwrap().ends_with("python/greet.py"),
        "{p}"
    );

    let arn = st.python("py-ctx", "ctx").await;
    let client_context = base64::engine::general_purpose::STANDARD.encode(
        json!({"custom": {"k": "v"}, "client": {"installation_id": "inst-1"}, "env": {}})
            .to_string(),
    );
    let out = st
        .lambda
        .invoke()
        .function_name(&arn)
        .client_context(client_context)
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    let by_arn = Invoked::of(out);
    assert_eq!(
        by_arn.assert_ok(),
        &json!({"custom": {"k": "v"}, "client": "inst-1", "invoked_arn": arn})
    );

    // The global cap: one environment at most. py-ctx's idle one is stopped for a new
    // function; while that one runs, another invocation is throttled.
    st.python("py-sleeper", "pid").await;
    let slow = {
        let client = st.lambda.clone();
        tokio::spawn(
            async move { invoke(&client, "py-sleeper", None, json!({"sleep": 1.5})).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let throttled = loop {
        assert!(
            !slow.is_finished(),
            "py-ctx was never throttled while py-sleeper ran"
        );
        let sent = st
            .lambda
            .invoke()
            .function_name("py-ctx")
            .payload(Blob::new("{}"))
            .send()
            .await;
        match sent {
            // py-sleeper has not taken the one slot yet.
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => break error_of(&e),
        }
    };
    assert_eq!(
        (throttled.0, throttled.1.as_str()),
        (429, "TooManyRequestsException"),
        "{throttled:?}"
    );
    pid_of(&slow.await.unwrap());

    st.lambda
        .delete_function()
        .function_name("py-ctx")
        .send()
        .await
        .unwrap();
    let (status, code, _) = st.invoke_refused("py-ctx", b"{}".to_vec()).await;
    assert_eq!((status, code.as_str()), (404, "ResourceNotFoundException"));

    // Zip slip: an entry that climbs out of the extraction directory.
    // A name no other test uses: the cache directory's own (unique) name.
    let unique = st
        .cache
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let escaped = format!("escaped-{unique}.txt");
    let hostile = zip_of(&[
        ("app.py", APP_PY, None),
        (&format!("../../../../{escaped}"), "pwned", None),
    ]);
    st.function("py-slip", "python3.12", "app.handler", hostile)
        .send()
        .await
        .unwrap();
    let (status, code, message) = st.invoke_refused("py-slip", b"{}".to_vec()).await;
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidParameterValueException"),
        "{message}"
    );
    assert!(
        message.contains(&escaped) && message.contains(".."),
        "the message names the entry: {message}"
    );
    let mut dir = Some(st.cache.0.as_path());
    while let Some(d) = dir {
        assert!(
            !d.join(&escaped).exists(),
            "zip slip: {} written",
            d.join(&escaped).display()
        );
        dir = d.parent();
    }
    st.stop().await;
}

/// A layer version's zip for `python/greet.py` answering `greeting`.
fn python_layer(greeting: &str) -> Vec<u8> {
    zip_of(&[(
        "python/greet.py",
        &format!("def hello():\n    return \"{greeting}\"\n"),
        None,
    )])
}

impl Stack {
    /// Publishes `zip` as a version of layer `name` through the edge; returns its ARN.
    async fn layer(&self, name: &str, zip: Vec<u8>) -> String {
        self.lambda
            .publish_layer_version()
            .layer_name(name)
            .content(
                aws_sdk_lambda::types::LayerVersionContentInput::builder()
                    .zip_file(Blob::new(zip))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("PublishLayerVersion {name}: {e:?}"))
            .layer_version_arn()
            .unwrap()
            .to_string()
    }
}

/// The code cache is on disk: a new edge over the same cache directory (and moto_server)
/// runs the functions the previous edge saw created, their layers included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_cache_survives_an_edge_restart() {
    let st = start().await;
    st.function(
        "py-kept",
        "python3.12",
        "app.handler",
        versioned_zip("kept"),
    )
    .send()
    .await
    .unwrap();
    let layer_arn = st.layer("kept-greetings", python_layer("kept layer")).await;
    st.function("py-kept-layered", "python3.12", "app.layered", app_zip())
        .layers(&layer_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        st.invoke("py-kept-layered", json!({})).await.assert_ok()["greeting"],
        "kept layer"
    );

    let st = st.restart().await;
    let got = st.invoke("py-kept", json!({})).await;
    assert_eq!(got.assert_ok()["code"], "kept", "{got:?}");
    assert!(got.cold(), "a new edge, a new process");
    let sent = st
        .lambda
        .invoke()
        .function_name("py-kept-layered")
        .payload(Blob::new("{}"))
        .send()
        .await;
    match sent {
        Ok(out) => {
            let layered = Invoked::of(out);
            assert_eq!(layered.assert_ok()["greeting"], "kept layer", "{layered:?}");
        }
        Err(e) => panic!(
            "after a restart, the function with a layer published through the previous edge \
             (its zip is in the cache directory) does not run: {:?}",
            error_of(&e)
        ),
    }
    st.stop().await;
}
