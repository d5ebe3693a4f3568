//! Tests of the supervisor against real processes (`sh`, `python3 -m http.server`), and of
//! the probe and output helpers.

use std::{
    fmt,
    io::{Read, Write},
    path::PathBuf,
    sync::{Arc, Mutex, Once},
    time::Duration,
};

use nix::{
    errno::Errno,
    sys::signal::{kill, Signal},
    unistd::Pid,
};
use tokio::time::Instant;

use super::{
    output::{read_lines, strip_ansi},
    probe::parse_status_line,
    BackendState, ManagedError, ManagedSpec, ReadyProbe, RestartPolicy, Supervisor, LOG_TARGET,
};

/// Orphaned grandchildren are reparented to PID 1, which in some sandboxes never reaps;
/// as a subreaper the test process inherits them and the supervisor reaps them, as it
/// does when edgestack runs as PID 1 in a container.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        let _ = nix::sys::prctl::set_child_subreaper(true);
    });
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spec(name: &str, command: &[&str], port: u16) -> ManagedSpec {
    setup();
    let mut spec = ManagedSpec::new(name, command.iter().map(|s| s.to_string()).collect(), port);
    spec.ready_timeout = Duration::from_secs(4);
    spec.stop_timeout = Duration::from_secs(1);
    spec.restart = RestartPolicy {
        enabled: true,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        reset_after: Duration::from_secs(60),
    };
    spec
}

fn http_server(port: u16) -> String {
    format!("exec python3 -m http.server {port} --bind 127.0.0.1")
}

fn start(spec: ManagedSpec) -> Supervisor {
    Supervisor::start(spec, &tokio::runtime::Handle::current()).unwrap()
}

/// A blocking `GET /` against 127.0.0.1:port; the status code.
fn get(port: u16) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 64];
    let n = s.read(&mut head).ok()?;
    parse_status_line(&head[..n])
}

fn alive(pid: u32) -> bool {
    !matches!(kill(Pid::from_raw(pid as i32), None), Err(Errno::ESRCH))
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(4);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Captures the messages of `edgestack::backend` events on the current thread.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.clone())
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn find(&self, prefix: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.starts_with(prefix))
            .cloned()
    }
}

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == LOG_TARGET
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn http_server_becomes_ready() {
    let port = free_port();
    let mut spec = spec("http-ready", &["sh", "-c", &http_server(port)], port);
    spec.ready = ReadyProbe::Http { path: "/".into() };
    let sup = start(spec);
    assert_eq!(sup.name(), "http-ready");
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    assert_eq!(sup.state(), BackendState::Running);
    assert_eq!(sup.state().as_str(), "running");
    assert_eq!(get(port), Some(200));
    let pid = sup.pid().unwrap();
    assert!(alive(pid));
    sup.stop().await;
    assert_eq!(sup.state(), BackendState::Stopped);
    assert_eq!(sup.pid(), None);
    assert!(!alive(pid));
    assert_eq!(get(port), None);
    sup.stop().await; // idempotent
    assert!(!sup.wait_ready(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn port_is_substituted_and_output_is_logged_without_blocking() {
    let capture = Capture::default();
    let _guard = capture.install();
    let port = free_port();
    let script = format!(
        "echo \"env=$P arg=$1\"; echo to-stderr >&2; seq 1 100000; \
         printf 'no newline at the end'; {}",
        http_server(port)
    );
    let mut spec = spec("subst", &["sh", "-c", &script, "sh", "{port}"], port);
    spec.env.push(("P".into(), "p{port}".into()));
    let sup = start(spec);
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let want = format!("[subst] env=p{port} arg={port}");
    eventually("the substituted line", || capture.find(&want).is_some()).await;
    eventually("the last of 100k lines", || {
        capture.find("[subst] 100000").is_some()
    })
    .await;
    assert!(capture.find("[subst] to-stderr").is_some());
    assert!(capture.find("[subst] 99999").is_some());
    let ready = format!("[subst] ready on 127.0.0.1:{port} (pid ");
    assert!(
        capture.find(&ready).is_some(),
        "{:?}",
        capture.lines().last()
    );
    sup.stop().await;
    // The unterminated last line is emitted at end of output.
    eventually("the unterminated line", || {
        capture.find("[subst] no newline at the end").is_some()
    })
    .await;
}

#[test]
fn colour_sequences_are_stripped() {
    assert_eq!(
        strip_ansi("\x1b[33mPress CTRL+C to quit\x1b[0m done"),
        "Press CTRL+C to quit done"
    );
    assert_eq!(strip_ansi("plain [x]"), "plain [x]");
}

#[tokio::test]
async fn lines_are_split_truncated_and_lossy() {
    let mut input = Vec::new();
    input.extend_from_slice(b"first\r\n\n");
    input.extend_from_slice(&[b'a'; 100]);
    input.push(b'\n');
    input.extend_from_slice(b"bad \xff utf8\n");
    input.extend_from_slice("ééééé".as_bytes()); // 10 bytes, cut inside the 4th é
    input.extend_from_slice(b"\nlast");
    let mut lines = Vec::new();
    read_lines(&input[..], 7, |l| lines.push(l.to_owned())).await;
    assert_eq!(
        lines,
        vec![
            "first".to_owned(),
            String::new(),
            "aaaaaaa … [93 more bytes]".to_owned(),
            "bad \u{fffd} u … [3 more bytes]".to_owned(),
            "ééé … [3 more bytes]".to_owned(),
            "last".to_owned(),
        ]
    );
}

#[tokio::test]
async fn restarts_after_being_killed() {
    let port = free_port();
    let mut spec = spec("restart", &["sh", "-c", &http_server(port)], port);
    spec.ready = ReadyProbe::Http { path: "/".into() };
    let sup = start(spec);
    let mut states = sup.subscribe();
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let first = sup.pid().unwrap();
    kill(Pid::from_raw(first as i32), Signal::SIGKILL).unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        states.wait_for(|s| *s == BackendState::Restarting),
    )
    .await
    .expect("restarting")
    .unwrap();
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let second = sup.pid().unwrap();
    assert_ne!(first, second);
    assert_eq!(sup.restarts(), 1);
    assert!(!alive(first));
    assert_eq!(get(port), Some(200));
    sup.stop().await;
    assert!(!alive(second));
}

#[tokio::test]
async fn restart_disabled_fails() {
    let mut spec = spec("no-restart", &["sh", "-c", "exit 3"], free_port());
    spec.restart.enabled = false;
    let sup = start(spec);
    assert!(!sup.wait_ready(Duration::from_secs(4)).await);
    assert_eq!(sup.state(), BackendState::Failed);
    assert_eq!(sup.restarts(), 0);
    assert_eq!(sup.pid(), None);
    sup.stop().await;
    assert_eq!(sup.state(), BackendState::Stopped);
}

#[tokio::test]
async fn missing_program_is_an_error() {
    let ghost = spec("ghost", &["edgestack-no-such-program", "-p", "{port}"], 1);
    let err = Supervisor::start(ghost, &tokio::runtime::Handle::current()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("edgestack-no-such-program"), "{msg}");
    assert!(msg.contains("ghost"), "{msg}");
    assert!(
        matches!(&err, ManagedError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );

    let empty = spec("empty", &[], 1);
    assert!(matches!(
        Supervisor::start(empty, &tokio::runtime::Handle::current()),
        Err(ManagedError::EmptyCommand { .. })
    ));
}

#[tokio::test]
async fn never_ready_is_killed_and_retried() {
    let mut spec = spec("never-ready", &["sleep", "30"], free_port());
    spec.ready_timeout = Duration::from_millis(300);
    let sup = start(spec);
    let first = sup.pid().unwrap();
    assert_eq!(sup.state(), BackendState::Starting);
    eventually("two restarts", || sup.restarts() >= 2).await;
    assert!(!alive(first));
    assert_eq!(sup.state(), BackendState::Restarting);
    assert!(!sup.wait_ready(Duration::from_millis(100)).await);
    let current = sup.pid();
    sup.stop().await;
    if let Some(pid) = current {
        assert!(!alive(pid));
    }
}

#[tokio::test]
async fn stop_takes_the_grandchildren_along() {
    let capture = Capture::default();
    let _guard = capture.install();
    let port = free_port();
    let script = format!("sleep 1000 & echo \"gc=$!\"; {}", http_server(port));
    let sup = start(spec("family", &["sh", "-c", &script], port));
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    eventually("the grandchild pid", || {
        capture.find("[family] gc=").is_some()
    })
    .await;
    let line = capture.find("[family] gc=").unwrap();
    let grandchild: u32 = line["[family] gc=".len()..].parse().unwrap();
    let child = sup.pid().unwrap();
    assert!(alive(child) && alive(grandchild));
    let t0 = Instant::now();
    sup.stop().await;
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(!alive(child), "child {child} survived");
    assert!(!alive(grandchild), "grandchild {grandchild} survived");
}

#[tokio::test]
async fn stop_kills_what_ignores_sigterm() {
    let port = free_port();
    let script = format!("trap '' TERM; {}", http_server(port));
    let mut spec = spec("stubborn", &["sh", "-c", &script], port);
    spec.stop_timeout = Duration::from_millis(400);
    let sup = start(spec);
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let pid = sup.pid().unwrap();
    let t0 = Instant::now();
    sup.stop().await;
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(!alive(pid));
    assert_eq!(sup.state(), BackendState::Stopped);
}

#[tokio::test]
async fn stop_during_backoff_starts_nothing() {
    let port = free_port();
    let mut spec = spec("backoff", &["sh", "-c", &http_server(port)], port);
    spec.restart.initial_backoff = Duration::from_secs(3);
    spec.restart.max_backoff = Duration::from_secs(3);
    let sup = start(spec);
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let pid = sup.pid().unwrap();
    let mut states = sup.subscribe();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    tokio::time::timeout(
        Duration::from_secs(2),
        states.wait_for(|s| *s == BackendState::Restarting),
    )
    .await
    .unwrap()
    .unwrap();
    let t0 = Instant::now();
    sup.stop().await;
    assert!(t0.elapsed() < Duration::from_secs(1));
    assert_eq!(sup.state(), BackendState::Stopped);
    assert_eq!(sup.pid(), None);
    assert_eq!(sup.restarts(), 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(port), None);
}

#[tokio::test]
async fn dropping_the_last_handle_kills() {
    let port = free_port();
    let sup = start(spec("dropped", &["sh", "-c", &http_server(port)], port));
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let pid = sup.pid().unwrap();
    let clone = sup.clone();
    drop(sup);
    assert!(alive(pid));
    drop(clone);
    eventually("the child to die", || !alive(pid)).await;
}

#[test]
fn status_lines_and_states() {
    assert_eq!(parse_status_line(b"HTTP/1.1 404 Not Found\r\n"), Some(404));
    assert_eq!(parse_status_line(b"HTTP/1.0 200\r\n"), Some(200));
    assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
    assert_eq!(BackendState::Restarting.to_string(), "restarting");
    let spec = ManagedSpec {
        cwd: Some(PathBuf::from("/tmp/{port}")),
        env: vec![("A".into(), "{port}-{port}".into())],
        ..ManagedSpec::new("x", vec!["p".into(), "--port={port}".into()], 4566)
    }
    .substituted();
    assert_eq!(spec.command, ["p", "--port=4566"]);
    assert_eq!(spec.env, [("A".to_owned(), "4566-4566".to_owned())]);
    assert_eq!(spec.cwd, Some(PathBuf::from("/tmp/4566")));
}

#[tokio::test]
async fn restart_on_request_runs_a_new_process_on_the_same_port() {
    let port = free_port();
    let mut spec = spec("restart-asked", &["sh", "-c", &http_server(port)], port);
    spec.ready = ReadyProbe::Http { path: "/".into() };
    // Restarts after a death are off: a requested restart does not depend on them.
    spec.restart.enabled = false;
    let sup = start(spec);
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let first = sup.pid().unwrap();
    assert!(sup.restart().await);
    assert!(
        !alive(first),
        "the old process is gone once restart returns"
    );
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    let second = sup.pid().unwrap();
    assert_ne!(first, second);
    assert_eq!(get(port), Some(200));
    // Asked for, not a death: not counted.
    assert_eq!(sup.restarts(), 0);
    // Asked while it is still starting: also at once.
    assert!(sup.restart().await);
    assert!(sup.restart().await);
    assert!(sup.wait_ready(Duration::from_secs(4)).await);
    assert_eq!(get(port), Some(200));
    sup.stop().await;
    assert!(
        !sup.restart().await,
        "a stopped backend is not started again"
    );
    assert_eq!(sup.state(), BackendState::Stopped);
    assert_eq!(get(port), None);
}
