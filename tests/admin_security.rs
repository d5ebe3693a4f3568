//! Admin endpoints against web pages (issue 17, item 7), with raw sockets so every header the
//! edge sends (or does not send) is seen as a browser would get it.
//!
//! With the default CORS (`allowed_origins = ["*"]`), any web page the developer visits could
//! preflight `POST /_localstack/chaos/faults` and get its origin echoed with credentials, or
//! skip the preflight altogether with a "simple" `text/plain` POST, and inject faults on their
//! local edge. What is checked: admin requests that change state from an origin not listed
//! in `[aws.cors] admin_origins` are refused (preflight and request: 403, no CORS headers,
//! nothing changed), on the AWS edge and on a plain one; requests without `Origin` work as
//! before; a listed origin works (even when `allowed_origins` does not list it); read-only
//! admin endpoints keep LocalStack's CORS for any origin; the admin token (`[aws]
//! admin_token`, `EDGESTACK_ADMIN_TOKEN`) is required when set; and the configuration errors
//! of the new keys. No backend is needed: the upstream is a port nobody listens on.

mod support;

use edgestack::{config::Environment, interceptor_registry, Config, Edge, EdgeBuilder};
use edgestack_testkit::{
    raw::{RawConn, RawResponse},
    DeadPort,
};
use serde_json::{json, Value};

const FAULTS: &str = "/_localstack/chaos/faults";
const EFFECTS: &str = "/_localstack/chaos/effects";
const RESET: &str = "/_localstack/state/reset";
const EVIL: &str = "http://evil.example";
const APP: &str = "http://localhost:3000";

/// An edge from `[server]`, a dead upstream as the default route, `aws` as the `[aws]` table's
/// body (`None`: no `[aws]` table), and `[interceptors.chaos]`.
fn start(aws: Option<&str>, env: &Environment) -> (Edge, DeadPort) {
    edgestack_testkit::trace_init();
    let dead = DeadPort::new();
    let aws = aws.map_or(String::new(), |a| format!("[aws]\n{a}\n"));
    let text = format!(
        "{}[upstreams.up]\nurl = \"{}\"\n\n[routes]\ndefault = \"up\"\n\n{aws}\n[interceptors.chaos]\n",
        support::SERVER_TOML,
        dead.url()
    );
    let config = Config::from_toml_with_env(&text, &interceptor_registry(), env)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let edge = EdgeBuilder::from_config(config)
        .start()
        .unwrap_or_else(|e| panic!("edge did not start: {e}\n{text}"));
    (edge, dead)
}

fn no_env() -> Environment {
    Environment::from_pairs(Vec::<(String, String)>::new())
}

/// `method path` with `headers` and `body`, on its own connection.
fn call(
    edge: &Edge,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let mut conn = RawConn::connect(edge.local_addr());
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost:4566\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    conn.send(req.as_bytes());
    conn.read_response(method).expect("a response")
}

/// A browser's preflight from `origin` for `method path`.
fn preflight(edge: &Edge, path: &str, origin: &str, method: &str) -> RawResponse {
    call(
        edge,
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        "",
    )
}

fn json_of(r: &RawResponse) -> Value {
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)))
}

/// The fault rules now (read without `Origin`).
fn faults(edge: &Edge) -> Value {
    let r = call(edge, "GET", FAULTS, &[], "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    json_of(&r)
}

fn rules() -> String {
    json!([{"service": "s3", "operation": "PutObject",
            "error": {"statusCode": 503, "code": "SlowDown"}}])
    .to_string()
}

fn assert_no_cors(r: &RawResponse, what: &str) {
    for h in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
    ] {
        assert_eq!(r.header(h), None, "{what}: {h} in {:?}", r.headers);
    }
}

fn assert_cors_for(r: &RawResponse, origin: &str, what: &str) {
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some(origin),
        "{what}: {:?}",
        r.headers
    );
    assert_eq!(
        r.header("access-control-allow-credentials"),
        Some("true"),
        "{what}"
    );
}

#[test]
fn evil_origin_preflight_to_chaos_faults_is_refused() {
    let (edge, _dead) = start(None, &no_env());
    for method in ["POST", "PATCH", "DELETE", "PUT"] {
        for path in [FAULTS, EFFECTS, "/_edgestack/anything"] {
            let r = preflight(&edge, path, EVIL, method);
            let what = format!("preflight for {method} {path}");
            assert_eq!(r.status, 403, "{what}");
            assert_no_cors(&r, &what);
            let body = String::from_utf8_lossy(&r.body);
            assert!(body.contains("admin_origins"), "{what}: {body}");
        }
    }
    edge.shutdown_blocking();
}

#[test]
fn evil_origin_requests_are_refused_and_change_nothing() {
    let (edge, _dead) = start(None, &no_env());
    // A "simple" request: a browser sends it without any preflight.
    let simple = [("Origin", EVIL), ("Content-Type", "text/plain")];
    for method in ["POST", "PATCH"] {
        let r = call(&edge, method, FAULTS, &simple, &rules());
        assert_eq!(
            r.status,
            403,
            "{method}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_no_cors(&r, method);
        assert!(String::from_utf8_lossy(&r.body).contains(EVIL));
    }
    assert_eq!(faults(&edge), json!([]), "no rule was added");
    let r = call(&edge, "POST", EFFECTS, &simple, r#"{"latency": 5000}"#);
    assert_eq!(r.status, 403);
    let r = call(&edge, "GET", EFFECTS, &[], "");
    assert_eq!(json_of(&r)["latency"], json!(0), "the latency was not set");

    // A rule set without Origin is not removed by one from a page, nor replaced with none.
    assert_eq!(call(&edge, "POST", FAULTS, &[], &rules()).status, 200);
    let r = call(&edge, "DELETE", FAULTS, &simple, &rules());
    assert_eq!(r.status, 403);
    let r = call(&edge, "POST", FAULTS, &simple, "[]");
    assert_eq!(r.status, 403);
    // `Origin: null` (sandboxed frames, file: pages) is not a listed origin either.
    let r = call(&edge, "POST", FAULTS, &[("Origin", "null")], "[]");
    assert_eq!(r.status, 403);
    // Nor is everything reset by one (the reset would drop the rule set through the API).
    let r = call(&edge, "POST", RESET, &simple, "");
    assert_eq!(r.status, 403);
    assert_no_cors(&r, "reset");
    assert_eq!(preflight(&edge, RESET, EVIL, "POST").status, 403);
    assert_eq!(
        faults(&edge),
        serde_json::from_str::<Value>(&rules()).unwrap()
    );
    // Without Origin (a test suite's own call) the reset goes through.
    assert_eq!(call(&edge, "POST", RESET, &[], "").status, 200);
    assert_eq!(faults(&edge), json!([]));
    edge.shutdown_blocking();
}

#[test]
fn requests_without_origin_work() {
    let (edge, _dead) = start(None, &no_env());
    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("Content-Type", "application/json")],
        &rules(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_no_cors(&r, "POST without Origin");
    assert_eq!(
        faults(&edge),
        serde_json::from_str::<Value>(&rules()).unwrap()
    );
    let r = call(&edge, "DELETE", FAULTS, &[], &rules());
    assert_eq!(r.status, 200);
    assert_eq!(faults(&edge), json!([]));
    edge.shutdown_blocking();
}

#[test]
fn listed_admin_origin_works() {
    // `allowed_origins` does not list APP: admin_origins is what counts for admin changes.
    let aws = format!(
        "[aws.cors]\nallowed_origins = [\"http://app.example\"]\nadmin_origins = [\"{APP}\"]"
    );
    let (edge, _dead) = start(Some(&aws), &no_env());
    let r = preflight(&edge, FAULTS, APP, "POST");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_cors_for(&r, APP, "preflight from a listed origin");
    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("Origin", APP), ("Content-Type", "application/json")],
        &rules(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_cors_for(&r, APP, "POST from a listed origin");
    assert_eq!(
        faults(&edge),
        serde_json::from_str::<Value>(&rules()).unwrap()
    );
    // Origins are compared without case, as hosts are.
    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("Origin", "HTTP://LOCALHOST:3000")],
        "[]",
    );
    assert_eq!(r.status, 200);
    // Another origin is still refused, even one allowed_origins lists.
    for origin in [EVIL, "http://app.example", "http://localhost:3001"] {
        let r = call(&edge, "POST", FAULTS, &[("Origin", origin)], &rules());
        assert_eq!(r.status, 403, "{origin}");
        assert_no_cors(&r, origin);
        assert_eq!(
            preflight(&edge, FAULTS, origin, "POST").status,
            403,
            "{origin}"
        );
    }
    assert_eq!(faults(&edge), json!([]));
    edge.shutdown_blocking();
}

#[test]
fn read_only_admin_endpoints_keep_cors() {
    let (edge, _dead) = start(None, &no_env());
    for path in ["/_localstack/health", "/_localstack/info", FAULTS] {
        let r = call(&edge, "GET", path, &[("Origin", EVIL)], "");
        assert_eq!(r.status, 200, "GET {path}");
        assert_cors_for(&r, EVIL, path);
        let r = preflight(&edge, path, EVIL, "GET");
        assert_eq!(r.status, 200, "preflight for GET {path}");
        assert_cors_for(&r, EVIL, path);
    }
    let r = call(
        &edge,
        "HEAD",
        "/_localstack/health",
        &[("Origin", EVIL)],
        "",
    );
    assert_eq!(r.status, 200);
    assert_cors_for(&r, EVIL, "HEAD health");
    edge.shutdown_blocking();
}

#[test]
fn admin_token_is_required_when_set() {
    let (edge, _dead) = start(Some("admin_token = \"s3cr3t\""), &no_env());
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong")],
        vec![("Authorization", "Basic czNjcjN0")],
        vec![("x-edgestack-admin-token", "s3cr3")],
    ] {
        let r = call(&edge, "POST", FAULTS, &headers, &rules());
        assert_eq!(r.status, 401, "{headers:?}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
            "{:?}",
            r.headers
        );
        assert!(String::from_utf8_lossy(&r.body).contains("admin token"));
    }
    // Unknown admin paths too: the token is asked for before anything else answers.
    let r = call(&edge, "DELETE", "/_edgestack/whatever", &[], "");
    assert_eq!(r.status, 401);
    // The state reset as well.
    assert_eq!(call(&edge, "POST", RESET, &[], "").status, 401);
    let r = call(
        &edge,
        "POST",
        RESET,
        &[("x-edgestack-admin-token", "s3cr3t")],
        "",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        faults(&edge),
        json!([]),
        "nothing changed without the token"
    );

    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("Authorization", "Bearer s3cr3t")],
        &rules(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("x-edgestack-admin-token", "s3cr3t")],
        "[]",
    );
    assert_eq!(r.status, 200);
    // The token does not make a web page's request acceptable.
    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("Authorization", "Bearer s3cr3t"), ("Origin", EVIL)],
        &rules(),
    );
    assert_eq!(r.status, 403);
    assert_eq!(faults(&edge), json!([]));
    // Reads need no token.
    assert_eq!(
        call(&edge, "GET", "/_localstack/health", &[], "").status,
        200
    );
    assert_eq!(
        call(&edge, "HEAD", "/_localstack/health", &[], "").status,
        200
    );
    edge.shutdown_blocking();
}

#[test]
fn admin_token_from_the_environment() {
    let env = Environment::from_pairs([("EDGESTACK_ADMIN_TOKEN", "from-env")]);
    // The environment's token wins over the file's.
    let (edge, _dead) = start(Some("admin_token = \"from-file\""), &env);
    let with = |t: &str| {
        let auth = format!("Bearer {t}");
        call(&edge, "POST", FAULTS, &[("Authorization", &auth)], "[]").status
    };
    assert_eq!(with("from-file"), 401);
    assert_eq!(with("from-env"), 200);
    edge.shutdown_blocking();

    // Set in the environment only, with no [aws] table.
    let (edge, _dead) = start(None, &env);
    assert_eq!(call(&edge, "POST", FAULTS, &[], "[]").status, 401);
    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("x-edgestack-admin-token", "from-env")],
        "[]",
    );
    assert_eq!(r.status, 200);
    edge.shutdown_blocking();
}

#[test]
fn plain_edge_guards_the_chaos_api_too() {
    // Without the AWS edge the chaos API is still served; no origin is allowed there.
    let (edge, _dead) = start(Some("enabled = false"), &no_env());
    let r = call(
        &edge,
        "POST",
        FAULTS,
        &[("Origin", EVIL), ("Content-Type", "text/plain")],
        &rules(),
    );
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(faults(&edge), json!([]));
    assert_eq!(call(&edge, "POST", FAULTS, &[], &rules()).status, 200);
    edge.shutdown_blocking();
}

#[test]
fn configuration_errors() {
    let load = |aws: &str, env: &Environment| {
        let text = format!(
            "{}[upstreams.up]\nurl = \"http://127.0.0.1:1\"\n[routes]\ndefault = \"up\"\n[aws]\n{aws}\n",
            support::SERVER_TOML
        );
        match Config::from_toml_with_env(&text, &interceptor_registry(), env) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.into_iter().map(|e| e.path).collect::<Vec<_>>(),
        }
    };
    let env = no_env();
    assert_eq!(
        load(
            "[aws.cors]\nadmin_origins = [\"*\", \"http://localhost:3000/\", \"localhost\", \"https://ok.example:8443\"]",
            &env
        ),
        [
            "aws.cors.admin_origins[0]",
            "aws.cors.admin_origins[1]",
            "aws.cors.admin_origins[2]"
        ]
    );
    assert_eq!(load("admin_token = \"\"", &env), ["aws.admin_token"]);
    assert_eq!(
        load("admin_token = \"two words\"", &env),
        ["aws.admin_token"]
    );
    assert_eq!(load("admin_token = \"fine\"", &env), Vec::<String>::new());
    let bad_env = Environment::from_pairs([("EDGESTACK_ADMIN_TOKEN", "two words")]);
    assert_eq!(load("", &bad_env), ["$EDGESTACK_ADMIN_TOKEN"]);
    // An empty variable is unset, as LocalStack reads its variables.
    let empty = Environment::from_pairs([("EDGESTACK_ADMIN_TOKEN", "")]);
    assert_eq!(load("", &empty), Vec::<String>::new());
}

#[test]
fn a_non_loopback_listen_address_is_warned_about() {
    use std::{
        io::{BufRead, BufReader},
        process::Stdio,
        sync::mpsc,
        time::Duration,
    };
    let dead = DeadPort::new();
    let file = std::env::temp_dir().join(format!("edgestack-admin-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\", \"0.0.0.0:0\"]\nthreads = 1\n\
             [upstreams.up]\nurl = \"{}\"\n[routes]\ndefault = \"up\"\n",
            dead.url()
        ),
    )
    .unwrap();
    let mut child = support::Running(
        support::edgestack_bin()
            .arg("--config")
            .arg(&file)
            .env_remove("EDGESTACK_ADMIN_TOKEN")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("edgestack runs"),
    );
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    // Every line up to the first warning, then whatever follows within half a second.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        let warned = line.contains("not a loopback address");
        lines.push(line);
        if warned {
            break;
        }
    }
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        lines.push(line);
    }
    drop(child);
    let _ = std::fs::remove_file(&file);
    let warnings: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("not a loopback address"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(warnings[0].contains("WARN"), "{lines:#?}");
    assert!(warnings[0].contains("0.0.0.0:"), "{lines:#?}");
    assert!(warnings[0].contains("admin_token"), "{lines:#?}");
}
