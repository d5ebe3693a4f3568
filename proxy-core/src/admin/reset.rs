//! `POST /_localstack/state/reset`: one call that puts the edge and its backends back to an
//! empty state, so a test suite can isolate its tests without restarting anything.
//!
//! 1. Every configured listener forgets its state ([`Listener::reset`]: notification
//!    configurations, stream records, chaos faults added at run time, subscriptions, event
//!    source mappings, running functions...), all at once, each bounded by
//!    [`LISTENER_TIMEOUT`]. Listeners go first, so nothing they run (a poller, a delivery)
//!    acts on a backend while it is being reset.
//! 2. Every upstream with a [`ResetMethod`] other than `none` is reset, all at once:
//!    `POST /moto-api/reset` for moto, a restart of the managed process (same port) for an
//!    in-memory dynalite or DynamoDB Local.
//! 3. The restarted backends are waited for until they are running again, [`READY_TIMEOUT`]
//!    at most.
//!
//! The answer is 200 with what was reset, or 500 with the same document when anything failed
//! (each failure under its listener or upstream); resets never overlap (a second call waits
//! for the first):
//!
//! ```json
//! {"reset": true,
//!  "listeners": [{"name": "chaos", "state": "reset"}, ...],
//!  "upstreams": [{"name": "moto", "method": "moto", "state": "reset"},
//!                {"name": "ddb", "method": "none", "state": "kept"}]}
//! ```

use std::{net::SocketAddr, sync::Arc, time::Duration};

use http::StatusCode;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    listener::Listener,
    upstream::{managed::Supervisor, ResetMethod, UpstreamName},
};

/// The path of the reset endpoint.
pub(crate) const PATH: &str = "/_localstack/state/reset";

/// How long one listener's [`Listener::reset`] may take.
pub(crate) const LISTENER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long moto's reset endpoint may take to answer.
const MOTO_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the reset waits for restarted backends to be running again.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One upstream as the reset sees it.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) name: UpstreamName,
    pub(crate) addr: SocketAddr,
    pub(crate) method: ResetMethod,
    /// The managed backend's supervisor, if edgestack runs it.
    pub(crate) supervisor: Option<Supervisor>,
}

/// What `POST /_localstack/state/reset` resets: the configured listeners (not the built-ins)
/// and the upstreams.
pub(crate) struct StateReset {
    pub(crate) listeners: Vec<Arc<dyn Listener>>,
    pub(crate) upstreams: Vec<Target>,
    /// Held while a reset runs, so two never overlap.
    running: tokio::sync::Mutex<()>,
}

impl StateReset {
    pub(crate) fn new(listeners: Vec<Arc<dyn Listener>>, upstreams: Vec<Target>) -> Self {
        StateReset {
            listeners,
            upstreams,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Resets everything; the status and the JSON document of the answer.
    pub(crate) async fn run(&self) -> (StatusCode, Value) {
        let _one_at_a_time = self.running.lock().await;
        tracing::info!(
            "state reset: {} listener(s), then the upstreams",
            self.listeners.len()
        );
        let listeners = futures_util::future::join_all(self.listeners.iter().map(|l| async {
            let result = match tokio::time::timeout(LISTENER_TIMEOUT, l.reset()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("did not finish within {LISTENER_TIMEOUT:?}")),
            };
            entry(json!({ "name": l.name() }), result, "reset")
        }))
        .await;
        let upstreams = futures_util::future::join_all(self.upstreams.iter().map(|t| async move {
            let head = json!({ "name": t.name.as_str(), "method": t.method.as_str() });
            match t.method {
                ResetMethod::None => entry(head, Ok(()), "kept"),
                method => entry(head, reset_upstream(t, method).await, "reset"),
            }
        }))
        .await;
        let ok = listeners
            .iter()
            .chain(&upstreams)
            .all(|e| e.get("error").is_none());
        for e in listeners.iter().chain(&upstreams) {
            if let Some(error) = e.get("error") {
                tracing::warn!("state reset: {}: {error}", e["name"]);
            }
        }
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        (
            status,
            json!({ "reset": ok, "listeners": listeners, "upstreams": upstreams }),
        )
    }
}

/// `head` with `"state": done`, or with `"state": "failed"` and `"error"`.
fn entry(mut head: Value, result: Result<(), String>, done: &str) -> Value {
    match result {
        Ok(()) => head["state"] = json!(done),
        Err(e) => {
            head["state"] = json!("failed");
            head["error"] = json!(e);
        }
    }
    head
}

/// Resets one upstream by `method` (not [`ResetMethod::None`]).
async fn reset_upstream(t: &Target, method: ResetMethod) -> Result<(), String> {
    match method {
        ResetMethod::None => Ok(()),
        ResetMethod::Moto => {
            let call = post(t.addr, "/moto-api/reset");
            match tokio::time::timeout(MOTO_TIMEOUT, call).await {
                Ok(Ok(status)) if (200..300).contains(&status) => Ok(()),
                Ok(Ok(status)) => Err(format!(
                    "POST http://{}/moto-api/reset answered {status}",
                    t.addr
                )),
                Ok(Err(e)) => Err(format!("POST http://{}/moto-api/reset: {e}", t.addr)),
                Err(_) => Err(format!(
                    "POST http://{}/moto-api/reset: no answer within {MOTO_TIMEOUT:?}",
                    t.addr
                )),
            }
        }
        ResetMethod::Restart => {
            let Some(s) = &t.supervisor else {
                return Err("not a managed upstream: edgestack cannot restart it".into());
            };
            if !s.restart().await {
                return Err(format!(
                    "the backend is {} and will not run again",
                    s.state()
                ));
            }
            if !s.wait_ready(READY_TIMEOUT).await {
                return Err(format!(
                    "restarted, but not running within {READY_TIMEOUT:?} (state: {})",
                    s.state()
                ));
            }
            Ok(())
        }
    }
}

/// Sends `POST path` with an empty body to `addr`; the status code of the answer.
async fn post(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: edgestack-state-reset\r\n\
         Accept: */*\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_of(&head).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP status line")
    })
}

/// `HTTP/1.1 200 OK` → 200.
fn status_of(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let mut parts = std::str::from_utf8(line).ok()?.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next().filter(|c| c.len() == 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{async_trait, ListenerError};

    struct Resettable(&'static str, Result<(), &'static str>);

    #[async_trait]
    impl Listener for Resettable {
        fn name(&self) -> &str {
            self.0
        }
        async fn reset(&self) -> Result<(), ListenerError> {
            self.1.map_err(Into::into)
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert_eq!(status_of(b"SSH-2.0\r\n"), None);
        assert_eq!(status_of(b""), None);
    }

    #[tokio::test]
    async fn a_failure_is_reported_under_its_name_and_the_rest_still_runs() {
        // A port nothing listens on: the moto reset fails with a connection error.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let r = StateReset::new(
            vec![
                Arc::new(Resettable("good", Ok(()))),
                Arc::new(Resettable("bad", Err("cannot forget"))),
            ],
            vec![
                Target {
                    name: "disk".into(),
                    addr: closed,
                    method: ResetMethod::None,
                    supervisor: None,
                },
                Target {
                    name: "gone".into(),
                    addr: closed,
                    method: ResetMethod::Moto,
                    supervisor: None,
                },
                Target {
                    name: "external".into(),
                    addr: closed,
                    method: ResetMethod::Restart,
                    supervisor: None,
                },
            ],
        );
        let (status, doc) = r.run().await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(doc["reset"], false);
        assert_eq!(
            doc["listeners"][0],
            json!({"name": "good", "state": "reset"})
        );
        assert_eq!(doc["listeners"][1]["state"], "failed");
        assert_eq!(doc["listeners"][1]["error"], "cannot forget");
        assert_eq!(
            doc["upstreams"][0],
            json!({"name": "disk", "method": "none", "state": "kept"})
        );
        assert_eq!(doc["upstreams"][1]["state"], "failed");
        assert!(
            doc["upstreams"][1]["error"]
                .as_str()
                .unwrap()
                .contains("/moto-api/reset"),
            "{doc}"
        );
        assert_eq!(doc["upstreams"][2]["state"], "failed");

        let fine = StateReset::new(vec![Arc::new(Resettable("good", Ok(())))], Vec::new());
        let (status, doc) = fine.run().await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["reset"], true);
    }
}
