//! `--callgrind`: instructions per request, counted by valgrind's callgrind, for bare pingora
//! and each edgestack system in front of the native origin. Unlike requests per second, the
//! count is the same on every run whatever else the machine does, so later changes can be held
//! to it.
//!
//! Each system runs under `valgrind --tool=callgrind` twice: after [`WARM`] requests (pools,
//! caches, lazy statics), once with [`FEW`] more and once with [`MANY`] more, all sequential
//! keep-alive requests on one connection, then SIGTERM. The count per request is
//! `(total(MANY) - total(FEW)) / (MANY - FEW)`: start-up, warm-up and shutdown cancel out.
//! What does not cancel: work done on timers (the batched request log's 50 ms flush, idle
//! reapers) during the longer run's extra seconds, which adds a few hundred instructions per
//! request at most.
//!
//! Workloads: the native origin's 1 KiB `GET /` (no AWS signature: edgestack routes it by a
//! path rule after detection finds no service) and a SigV4-signed S3 `GetObject` of 1 KiB
//! routed to the same origin (the AWS edge's common case).

use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

use edgestack_testkit::{free_port, raw::RawConn};

use crate::{
    backends::{self, Backend},
    client::Req,
    procs::Proc,
    systems::{self, System},
};

/// Requests before the counted ones, in both runs.
pub const WARM: u64 = 200;
/// Counted requests of the short run.
pub const FEW: u64 = 300;
/// Counted requests of the long run.
pub const MANY: u64 = 1300;

/// The systems counted (nginx is left out: it is not the code under test, and its
/// master/worker processes would need separate counts).
const SYSTEMS: [System; 4] = [
    System::Pingora,
    System::EdgestackPlain,
    System::Edgestack,
    System::EdgestackAll,
];

/// One system's count on one workload.
pub struct Count {
    pub system: System,
    pub workload: &'static str,
    /// Instructions per request, or why it could not be counted.
    pub per_request: Result<f64, String>,
}

/// Counts every system on both workloads. `quick` runs one workload with fewer requests
/// (for `cargo test`).
pub fn run(dir: &Path, quick: bool) -> Vec<Count> {
    let origin = backends::start(Backend::Native, dir);
    let mut workloads = vec![("native GET 1 KiB", backends::get("/"))];
    if !quick {
        workloads.push((
            "signed S3 GET 1 KiB",
            backends::s3("GET", "/bench/obj-1k", Vec::new()),
        ));
    }
    let (few, many) = if quick { (20, 60) } else { (FEW, MANY) };
    let mut counts = Vec::new();
    for (workload, req) in &workloads {
        for system in SYSTEMS {
            eprintln!("edge bench: callgrind {} on {workload}", system.label());
            let per_request = total(system, origin.addr, dir, req, few).and_then(|a| {
                total(system, origin.addr, dir, req, many)
                    .map(|b| (b as f64 - a as f64) / (many - few) as f64)
            });
            if let Err(e) = &per_request {
                eprintln!("edge bench: callgrind {}: {e}", system.label());
            }
            counts.push(Count {
                system,
                workload,
                per_request,
            });
        }
    }
    counts
}

/// The instructions `system` executed in all (every thread) for [`WARM`] + `n` requests.
fn total(
    system: System,
    backend: SocketAddr,
    dir: &Path,
    req: &Req,
    n: u64,
) -> Result<u64, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let name = format!("callgrind-{}-{n}", system.file_name());
    let out = dir.join(format!("{name}.out"));
    let log = dir.join(format!("{name}.log"));
    let _ = std::fs::remove_file(&out);
    let inner = systems::command(system, addr, backend, false, dir);
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(inner.get_program())
        .args(inner.get_args());
    let mut proc = Proc::spawn(&format!("{} under callgrind", system.label()), cmd, &log);
    proc.wait_listening(addr, &log, Duration::from_secs(180));
    let mut conn = RawConn::connect(addr);
    conn.read_timeout(Duration::from_secs(60));
    let head = req.head_keep_alive(addr);
    for i in 0..WARM + n {
        conn.send(head.as_bytes());
        conn.send(&req.body);
        let resp = conn
            .read_response(req.method)
            .map_err(|e| format!("request {i}: {e}"))?;
        if resp.status != 200 {
            return Err(format!("request {i} answered {}", resp.status));
        }
    }
    drop(conn);
    let status = proc.stop(Duration::from_secs(120));
    let text = std::fs::read_to_string(&out)
        .map_err(|e| format!("{} ({status:?}): {e}", out.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("{}: no summary line", out.display()))
}

/// The markdown table of the counts.
pub fn render(counts: &[Count]) -> String {
    let mut text = format!(
        "### Instructions per request (callgrind)\n\n\
         Sequential keep-alive requests on one connection to the native origin; \
         `(total after {WARM}+{MANY} requests − total after {WARM}+{FEW}) / {}`, every thread \
         of the process counted.\n\n\
         | Workload | System | Instructions per request | vs bare pingora |\n|---|---|---:|---:|\n",
        MANY - FEW
    );
    for c in counts {
        let floor = counts
            .iter()
            .find(|b| b.workload == c.workload && b.system == System::Pingora)
            .and_then(|b| b.per_request.as_ref().ok().copied());
        let (count, ratio) = match (&c.per_request, floor) {
            (Ok(v), Some(f)) => (format!("{:.1} k", v / 1000.0), format!("{:.2}×", v / f)),
            (Ok(v), None) => (format!("{:.1} k", v / 1000.0), "–".into()),
            (Err(e), _) => (format!("failed: {e}"), "–".into()),
        };
        text.push_str(&format!(
            "| {} | {} | {count} | {ratio} |\n",
            c.workload,
            c.system.label()
        ));
    }
    text
}

/// Whether valgrind is installed (`--callgrind` needs it; `scripts/install-deps` does not
/// install it).
pub fn available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
