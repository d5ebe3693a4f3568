//! The upstreams under test and the requests sent to them.
//!
//! - `native`: the bench's own origin ([`crate::origin`]), `GET /` for 1 KiB;
//! - `dynalite` and `dynamodb-local`: `GetItem` of one small item;
//! - `moto` (S3): `GetObject` and `PutObject` of 1 KiB and 1 MiB.
//!
//! AWS requests carry a well-formed SigV4 `Authorization` ([`fake_sigv4`]) that none of these
//! backends verifies (dynalite does insist on its shape and on `X-Amz-Date`), so one fixed
//! request can be repeated by the load generator; edgestack detects the service and operation
//! from it as it would from an SDK's.

use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

use edgestack_core::{ManagedSpec, ReadyProbe, RestartPolicy, Supervisor};
use edgestack_testkit::{deps, fake_sigv4, free_port, raw::RawResponse};

use crate::{
    client::{self, Req},
    procs::{track, untrack, Proc},
};

/// The backends, in the order the driver runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Native,
    Dynalite,
    DynamoDbLocal,
    Moto,
}

impl Backend {
    pub const ALL: [Backend; 4] = [
        Backend::Native,
        Backend::Dynalite,
        Backend::DynamoDbLocal,
        Backend::Moto,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Dynalite => "dynalite",
            Backend::DynamoDbLocal => "dynamodb-local",
            Backend::Moto => "moto",
        }
    }

    /// The requests measured against this backend.
    pub fn workloads(self) -> Vec<Workload> {
        match self {
            Backend::Native => vec![Workload {
                name: "native GET 1 KiB",
                req: get("/"),
                expect_len: Some(1024),
                expect_text: None,
            }],
            Backend::Dynalite | Backend::DynamoDbLocal => vec![Workload {
                name: if self == Backend::Dynalite {
                    "dynalite GetItem"
                } else {
                    "DynamoDB Local GetItem"
                },
                req: ddb(
                    "GetItem",
                    r#"{"TableName":"bench","Key":{"pk":{"S":"k1"}}}"#,
                ),
                expect_len: None,
                expect_text: Some("\"Item\""),
            }],
            Backend::Moto => vec![
                Workload {
                    name: "moto S3 GET 1 KiB",
                    req: s3("GET", "/bench/obj-1k", Vec::new()),
                    expect_len: Some(1024),
                    expect_text: None,
                },
                Workload {
                    name: "moto S3 PUT 1 KiB",
                    req: s3("PUT", "/bench/put-1k", vec![b'x'; 1024]),
                    expect_len: None,
                    expect_text: None,
                },
                Workload {
                    name: "moto S3 GET 1 MiB",
                    req: s3("GET", "/bench/obj-1m", Vec::new()),
                    expect_len: Some(1 << 20),
                    expect_text: None,
                },
                Workload {
                    name: "moto S3 PUT 1 MiB",
                    req: s3("PUT", "/bench/put-1m", vec![b'x'; 1 << 20]),
                    expect_len: None,
                    expect_text: None,
                },
            ],
        }
    }
}

/// One measured request and what a correct answer looks like.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: &'static str,
    pub req: Req,
    pub expect_len: Option<usize>,
    pub expect_text: Option<&'static str>,
}

impl Workload {
    /// Sends the request once through `addr` and checks the answer.
    pub fn check(&self, addr: SocketAddr) -> Result<(), String> {
        let a = client::send(addr, &self.req).map_err(|e| format!("{addr}: {e}"))?;
        self.verify(&a)
            .map_err(|e| format!("{} via {addr}: {e}\n{:?}", self.name, a.headers))
    }

    fn verify(&self, a: &RawResponse) -> Result<(), String> {
        if a.status != 200 {
            return Err(format!(
                "status {} ({})",
                a.status,
                String::from_utf8_lossy(&a.body[..a.body.len().min(300)])
            ));
        }
        if let Some(n) = self.expect_len.filter(|&n| n != a.body.len()) {
            return Err(format!("{} body bytes, expected {n}", a.body.len()));
        }
        if let Some(t) = self.expect_text {
            if !String::from_utf8_lossy(&a.body).contains(t) {
                return Err(format!("no {t} in the answer"));
            }
        }
        Ok(())
    }
}

pub fn get(path: &str) -> Req {
    Req {
        method: "GET",
        path: path.into(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A DynamoDB JSON-protocol call.
pub fn ddb(op: &str, body: &str) -> Req {
    Req {
        method: "POST",
        path: "/".into(),
        headers: vec![
            ("Content-Type".into(), "application/x-amz-json-1.0".into()),
            ("X-Amz-Target".into(), format!("DynamoDB_20120810.{op}")),
            ("X-Amz-Date".into(), "20240101T000000Z".into()),
            ("Authorization".into(), fake_sigv4("dynamodb")),
        ],
        body: body.as_bytes().to_vec(),
    }
}

/// An S3 REST call with an unsigned payload.
pub fn s3(method: &'static str, path: &str, body: Vec<u8>) -> Req {
    Req {
        method,
        path: path.into(),
        headers: vec![
            ("X-Amz-Date".into(), "20240101T000000Z".into()),
            ("X-Amz-Content-SHA256".into(), "UNSIGNED-PAYLOAD".into()),
            ("Authorization".into(), fake_sigv4("s3")),
        ],
        body,
    }
}

/// A started backend: the origin as a child process, the others under edgestack's own
/// supervisor (the code that runs managed backends), stopped when dropped.
pub struct Running {
    pub addr: SocketAddr,
    _proc: Option<Proc>,
    supervisor: Option<Supervisor>,
    _rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let (Some(s), Some(rt)) = (self.supervisor.take(), self._rt.as_ref()) {
            let pid = s.pid();
            rt.block_on(s.stop());
            if let Some(pid) = pid {
                untrack(pid);
            }
        }
    }
}

/// Starts `backend` on a free loopback port and loads the data its workloads read.
pub fn start(backend: Backend, dir: &Path) -> Running {
    if backend == Backend::Native {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut cmd = Command::new(std::env::current_exe().expect("own path"));
        cmd.args(["__origin", &addr.to_string()]);
        let log = dir.join("origin.log");
        let mut proc = Proc::spawn("origin", cmd, &log);
        proc.wait_listening(addr, &log, Duration::from_secs(10));
        return Running {
            addr,
            _proc: Some(proc),
            supervisor: None,
            _rt: None,
        };
    }
    let (command, ready) = match backend {
        Backend::Dynalite => (deps::dynalite_command(), ReadyProbe::Tcp),
        Backend::DynamoDbLocal => (deps::dynamodb_local_command(), ReadyProbe::Tcp),
        _ => (
            deps::moto_command(),
            ReadyProbe::Http {
                path: "/moto-api/".into(),
            },
        ),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("supervisor runtime");
    let mut spec = ManagedSpec::new(backend.name(), command, free_port());
    spec.ready = ready;
    spec.ready_timeout = Duration::from_secs(60);
    spec.restart = RestartPolicy {
        enabled: false,
        ..RestartPolicy::default()
    };
    if backend == Backend::Moto {
        spec.env
            .push(("MOTO_ACCOUNT_ID".into(), "000000000000".into()));
    }
    let addr = spec.addr();
    let supervisor = Supervisor::start(spec, rt.handle())
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", backend.name()));
    if let Some(pid) = supervisor.pid() {
        track(pid, true);
    }
    assert!(
        rt.block_on(supervisor.wait_ready(Duration::from_secs(60))),
        "{} was not ready within 60 s",
        backend.name()
    );
    let running = Running {
        addr,
        _proc: None,
        supervisor: Some(supervisor),
        _rt: Some(rt),
    };
    seed(backend, addr);
    running
}

/// Creates what the workloads read: the `bench` table with item `k1`, or the `bench` bucket
/// with its two objects.
fn seed(backend: Backend, addr: SocketAddr) {
    let calls = match backend {
        Backend::Moto => vec![
            s3("PUT", "/bench", Vec::new()),
            s3("PUT", "/bench/obj-1k", vec![b'x'; 1024]),
            s3("PUT", "/bench/obj-1m", vec![b'x'; 1 << 20]),
        ],
        _ => vec![
            ddb(
                "CreateTable",
                r#"{"TableName":"bench","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}"#,
            ),
            ddb(
                "PutItem",
                r#"{"TableName":"bench","Item":{"pk":{"S":"k1"},"payload":{"S":"a small item for GetItem"}}}"#,
            ),
        ],
    };
    for req in calls {
        let a =
            client::send(addr, &req).unwrap_or_else(|e| panic!("seeding {}: {e}", backend.name()));
        assert_eq!(
            a.status,
            200,
            "seeding {} with {} {}: {}",
            backend.name(),
            req.method,
            req.path,
            String::from_utf8_lossy(&a.body)
        );
    }
}
