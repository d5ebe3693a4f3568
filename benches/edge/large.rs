//! Large objects: 1 GiB PUT and GET, directly and through edgestack, with edgestack's memory.
//!
//! Each transfer is one request on a new connection, timed from the first byte written to the
//! last byte read; direct and edgestack alternate, and the best of the rounds counts. The
//! memory figure is edgestack's peak resident size (`VmHWM`) over its resident size when idle
//! (`VmRSS` after start-up and a few small requests), from a fresh edgestack process.

use std::{net::SocketAddr, time::Instant};

use crate::{
    backends::{s3, Backend},
    client::{self, Req},
    procs::status_kib,
};

/// One direction of one backend.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub what: String,
    pub direct_mib_s: f64,
    pub edge_mib_s: f64,
}

impl Transfer {
    pub fn ratio(&self) -> f64 {
        self.edge_mib_s / self.direct_mib_s
    }
}

/// The PUT and GET requests for `backend` (native origin or moto S3).
fn requests(backend: Backend, len: u64) -> (Req, Req) {
    match backend {
        Backend::Moto => (
            s3("PUT", "/bench/large", Vec::new()),
            s3("GET", "/bench/large", Vec::new()),
        ),
        _ => (
            Req {
                method: "PUT",
                path: "/sink".into(),
                headers: Vec::new(),
                body: Vec::new(),
            },
            Req {
                method: "GET",
                path: format!("/bytes/{len}"),
                headers: Vec::new(),
                body: Vec::new(),
            },
        ),
    }
}

fn put(addr: SocketAddr, req: &Req, len: u64, backend: Backend) -> f64 {
    let t = Instant::now();
    let a = client::send_zeros(addr, req, len).unwrap_or_else(|e| panic!("PUT via {addr}: {e}"));
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(
        a.status,
        200,
        "PUT via {addr}: {}",
        String::from_utf8_lossy(&a.body)
    );
    if backend == Backend::Native {
        assert_eq!(
            String::from_utf8_lossy(&a.body),
            len.to_string(),
            "the origin got a different byte count via {addr}"
        );
    }
    secs
}

fn get(addr: SocketAddr, req: &Req, len: u64) -> f64 {
    let t = Instant::now();
    let (status, n) =
        client::fetch_count(addr, req).unwrap_or_else(|e| panic!("GET via {addr}: {e}"));
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(status, 200, "GET via {addr}");
    assert_eq!(n, len, "GET via {addr}: body length");
    secs
}

/// Runs PUT then GET of `len` bytes, `rounds` times, alternating direct and edge.
pub fn run(
    backend: Backend,
    direct: SocketAddr,
    edge: SocketAddr,
    len: u64,
    rounds: usize,
) -> Vec<Transfer> {
    let (put_req, get_req) = requests(backend, len);
    let mib = len as f64 / (1 << 20) as f64;
    let mut best = [[f64::MAX; 2]; 2]; // [put, get][direct, edge]
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let addr = if which == 0 { direct } else { edge };
            best[0][which] = best[0][which].min(put(addr, &put_req, len, backend));
            best[1][which] = best[1][which].min(get(addr, &get_req, len));
        }
    }
    let size = if len >= 1 << 30 {
        format!("{} GiB", len >> 30)
    } else {
        format!("{} MiB", len >> 20)
    };
    ["PUT", "GET"]
        .iter()
        .enumerate()
        .map(|(i, verb)| Transfer {
            what: format!("{} {verb} {size}", backend.name()),
            direct_mib_s: mib / best[i][0],
            edge_mib_s: mib / best[i][1],
        })
        .collect()
}

/// edgestack's memory: resident when idle, and the peak.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub idle_kib: u64,
    pub peak_kib: u64,
}

pub fn idle(pid: u32) -> u64 {
    status_kib(pid, "VmRSS")
}

pub fn peak(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}
