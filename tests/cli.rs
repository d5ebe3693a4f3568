//! The `edgestack` binary: `--check`, shipped configs, serving, and SIGTERM.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use edgestack_testkit::{raw::RawConn, FakeUpstream};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgestack"))
}

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
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
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

    let out = bin().arg("--check").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no config is an error");
    let out = bin()
        .arg("--check")
        .env("EDGESTACK_CONFIG", dir.join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn serves_then_stops_cleanly_on_sigterm() {
    let up = FakeUpstream::start();
    let dir = temp_dir("serve");
    let cfg = write(
        &dir,
        "edge.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:1\"]\n[upstreams.up]\nurl = \"{}\"\n[routes]\ndefault = \"up\"\n[interceptors.request-id]\n",
            up.url()
        ),
    );
    let mut child = bin()
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .env("EDGESTACK_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
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
