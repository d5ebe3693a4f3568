//! `POST /_localstack/state/reset`: one call that puts the edge and its backends back to an
//! empty state, so a test suite can isolate its tests without restarting anything.
//!
//! 1. Every configured listener forgets its state ([`Listener::reset`]: notification
//!    configurations, stream records, chaos faults added at run time, subscriptions, event
//!    source mappings, running functions...), all at once, each bounded by
//!    [`LISTENER_TIMEOUT`]. Listeners go first, so that no new poll or delivery starts
//!    against a backend being reset (one already under way, such as a function invocation
//!    or a delivery try, finishes as it is).
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

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Value};

use crate::{
    aws::AwsClient,
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

    /// Resets everything; the status and the JSON document of the answer. `client` (the
    /// edge's) makes the calls to moto's reset endpoint.
    pub(crate) async fn run(&self, client: Option<&AwsClient>) -> (StatusCode, Value) {
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
                method => entry(head, reset_upstream(t, method, client).await, "reset"),
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
async fn reset_upstream(
    t: &Target,
    method: ResetMethod,
    client: Option<&AwsClient>,
) -> Result<(), String> {
    match method {
        ResetMethod::None => Ok(()),
        ResetMethod::Moto => {
            let url = format!("http://{}/moto-api/reset", t.addr);
            let client = client.ok_or("no AWS client on this edge to call moto with")?;
            let req = http::Request::post(&url)
                .body(Bytes::new())
                .map_err(|e| e.to_string())?;
            match client.http(req, MOTO_TIMEOUT, 64 * 1024).await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!("POST {url} answered {}", resp.status().as_u16())),
                Err(e) => Err(format!("POST {url}: {e}")),
            }
        }
        ResetMethod::Restart => {
            let Some(s) = &t.supervisor else {
                return Err("not a managed upstream: edgestack cannot restart it".into());
            };
            // Answered once a new process is spawned; a backend that cannot be spawned again
            // (its program gone) would never answer, and hold every later reset.
            match tokio::time::timeout(READY_TIMEOUT, s.restart()).await {
                Ok(true) => {}
                Ok(false) => {
                    return Err(format!(
                        "the backend is {} and will not run again",
                        s.state()
                    ))
                }
                Err(_) => {
                    return Err(format!(
                        "not started again within {READY_TIMEOUT:?} (state: {})",
                        s.state()
                    ))
                }
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
        let (status, doc) = r.run(None).await;
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
                .contains("no AWS client"),
            "{doc}"
        );
        assert_eq!(doc["upstreams"][2]["state"], "failed");

        let fine = StateReset::new(vec![Arc::new(Resettable("good", Ok(())))], Vec::new());
        let (status, doc) = fine.run(None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(doc["reset"], true);
    }
}
