//! The `edgestack` binary: `--check`, shipped configs, serving, and SIGTERM.

mod support;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use edgestack_testkit::{fake_sigv4, raw::RawConn, FakeUpstream};
use support::{assert_success, edgestack_bin as bin, Running};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgestack-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_shipped_config_passes_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = bin()
                .arg("--check")
                .arg("--config")
                .arg(&path)
                .output()
                .unwrap();
            assert_success(&out, &path.display().to_string());
            n += 1;
        }
    }
    assert!(n >= 1, "no configs found in {}", dir.display());
}

#[test]
fn check_prints_every_error_and_exits_2() {
    let dir = temp_dir("check");
    let bad = write(
        &dir,
        "bad.toml",
        "[upstreams.a]\nurl = \"nope\"\n[routes]\ndefault = \"b\"\n[interceptors.unknown]\n",
    );
    let out = bin()
        .arg("--check")
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 configuration errors"), "{err}");
    assert!(err.contains("upstreams.a.url"), "{err}");
    assert!(err.contains("routes.default"), "{err}");
    assert!(err.contains("interceptors.unknown"), "{err}");

    // No config: the built-in default (managed moto_server), whose check needs moto_server.
    let out = bin()
        .arg("--check")
        .env(
            "EDGESTACK_MOTO_SERVER",
            edgestack_testkit::moto::moto_server_path(),
        )
        .output()
        .unwrap();
    assert_success(&out, "--check with the built-in default");
    assert!(String::from_utf8_lossy(&out.stdout).contains("built-in default"));
    let out = bin()
        .arg("--check")
        .env("EDGESTACK_MOTO_SERVER", dir.join("no-moto-here"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "no moto_server for the default");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pip install 'moto[server]'"), "{err}");
    let out = bin()
        .arg("--check")
        .env("EDGESTACK_CONFIG", dir.join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

/// Mistakes in several interceptor sections (and an environment variable) are all reported,
/// each at its key. Before, a section's error named the section only, and a builder's
/// problems were one string.
#[test]
fn check_reports_interceptor_mistakes_at_their_keys() {
    let dir = temp_dir("check-interceptors");
    let bad = write(
        &dir,
        "bad.toml",
        r#"[upstreams.a]
url = "http://127.0.0.1:9"
[routes]
default = "a"
[interceptors.chaos]
[[interceptors.chaos.faults]]
service = "dynamodb"
[[interceptors.chaos.faults]]
probability = 3
[interceptors.apigateway]
cache_ttl = "soon"
[interceptors.s3-notifications.retry]
max_attempts = "many"
"#,
    );
    let out = bin()
        .arg("--check")
        .arg("--config")
        .arg(&bad)
        .env("KINESIS_ERROR_PROBABILITY", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4 configuration errors"), "{err}");
    for key in [
        "interceptors.chaos.faults[1].probability: ",
        "interceptors.apigateway.cache_ttl: ",
        "interceptors.s3-notifications.retry.max_attempts: ",
        "$KINESIS_ERROR_PROBABILITY: ",
    ] {
        assert!(err.contains(key), "{key} missing in:\n{err}");
    }
}

/// `--check` finds what the real start would trip on, and every mistake of a section: listen
/// addresses that clash (the start failed with "Address already in use" after the check
/// passed), unknown keys next to bad values (only the first error of a section was reported),
/// and durations at their keys.
#[test]
fn check_reports_clashing_addresses_and_every_unknown_key() {
    let dir = temp_dir("check-clash");
    let bad = write(
        &dir,
        "bad.toml",
        r#"[server]
listen = ["127.0.0.1:4566", "0.0.0.0:4566", "nowhere"]
lissten = ["127.0.0.1:4567"]
service_ports = { s3 = "127.0.0.1:4566" }
[upstreams.moto]
url = "http://127.0.0.1:9"
read_timeout = "soon"
colour = "red"
[routes]
default = "moto"
[interceptors.request-id]
heder = "x-id"
"#,
    );
    let out = bin()
        .arg("--check")
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("7 configuration errors"), "{err}");
    for line in [
        "server.listen[1]: 0.0.0.0:4566 overlaps 127.0.0.1:4566 of server.listen[0]",
        "server.listen[2]: \"nowhere\" is not an address",
        "server.lissten: unknown field `lissten`",
        "server.service_ports.s3: 127.0.0.1:4566 is already used by server.listen[0]",
        "upstreams.moto.read_timeout: invalid value: string \"soon\"",
        "upstreams.moto.colour: unknown field `colour`",
        "interceptors.request-id.heder: unknown field `heder`",
    ] {
        assert!(err.contains(line), "{line} missing in:\n{err}");
    }
}

#[test]
fn serves_then_stops_cleanly_on_sigterm() {
    let up = FakeUpstream::start();
    let dir = temp_dir("serve");
    let cfg = write(
        &dir,
        "edge.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:1\"]\n[aws]\nenabled = false\n[upstreams.up]\nurl = \"{}\"\n[routes]\ndefault = \"up\"\n[interceptors.request-id]\n",
            up.url()
        ),
    );
    let mut child = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .env("EDGESTACK_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("edgestack exited early").unwrap();
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().parse::<std::net::SocketAddr>().unwrap();
        }
    };
    let mut conn = RawConn::connect(addr);
    conn.send(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = conn.read_response("GET").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("x-request-id").is_some());
    let logged = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("GET /hello =>"))
        .expect("a log line for the request");
    assert!(logged.contains("GET /hello => 200"), "{logged}");

    // SIGTERM while a request is in flight: it completes, then the process exits 0.
    let mut slow = RawConn::connect(addr);
    slow.send(b"GET /slow/600 HTTP/1.1\r\nHost: x\r\n\r\n");
    std::thread::sleep(Duration::from_millis(150));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let r = slow.read_response("GET").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"slow"[..]));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "edgestack did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
}

/// `edgestack` with no config: a managed moto_server behind the edge, `Ready.` on stdout once
/// it is up, LocalStack's log lines for AWS calls, and the backend stopped with the edge.
#[test]
fn default_config_runs_moto_and_logs_aws_calls() {
    let mut child = bin()
        .args(["--listen", "127.0.0.1:0"])
        .env(
            "EDGESTACK_MOTO_SERVER",
            edgestack_testkit::moto::moto_server_path(),
        )
        .env("EDGESTACK_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let next_line = |log: &mut Vec<String>| {
        let l = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no more log lines; so far:\n{}", log.join("\n")));
        log.push(l.clone());
        l
    };
    let addr = loop {
        let line = next_line(&mut log);
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().parse::<std::net::SocketAddr>().unwrap();
        }
    };
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(stdout.next().unwrap().unwrap(), "Ready.");

    let mut conn = RawConn::connect(addr);
    conn.send(format!("PUT /logbucket HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nContent-Length: 0\r\n\r\n", fake_sigv4("s3")).as_bytes());
    assert_eq!(conn.read_response("PUT").unwrap().status, 200);
    let body = r#"{"TableName":"nope"}"#;
    conn.send(format!("POST / HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nX-Amz-Target: DynamoDB_20120810.DescribeTable\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}", fake_sigv4("dynamodb"), body.len()).as_bytes());
    assert_eq!(conn.read_response("POST").unwrap().status, 400);
    // A request that names no AWS service goes to the default upstream (moto), untouched.
    conn.send(b"GET /nothing HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let nothing = conn.read_response("GET").unwrap();
    assert!(
        !nothing
            .headers
            .iter()
            .any(|(k, _)| k == "x-edgestack-error"),
        "{nothing:?}"
    );
    conn.send(b"GET /_localstack/health HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let health = conn.read_response("GET").unwrap();
    let health: serde_json::Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(health["services"]["s3"], "running", "{health}");
    let moto_pid = health["upstreams"]["moto"]["pid"]
        .as_i64()
        .expect("moto pid") as i32;

    for want in [
        "AWS s3.CreateBucket => 200",
        "AWS dynamodb.DescribeTable => 400 (ResourceNotFoundException)",
        "GET /nothing => ",
    ] {
        while !log.iter().any(|l| l.contains(want)) {
            next_line(&mut log);
        }
    }
    assert!(
        log.iter().any(|l| l.contains("[moto]")),
        "backend output is logged with a prefix"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(moto_pid), None).is_err(),
        "moto_server outlived edgestack"
    );
}
