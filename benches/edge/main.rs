//! The end-to-end benchmark: `cargo bench --bench edge` (or `benches/run`, which installs what
//! it needs first).
//!
//! It starts each backend (the native origin, dynalite, DynamoDB Local, moto_server), puts each
//! system in front of it (see [`systems`]), checks that every system answers every workload
//! correctly, then loads them with wrk at each concurrency, alternating the systems within each
//! round, and prints one markdown table: requests per second, the ratio to direct, p50 and p99.
//! Then 1 GiB PUT and GET, direct and through edgestack, with edgestack's memory, and where the
//! numbers stand against the targets.
//!
//! Options (after `--`): `--duration SECS` per run (3), `--rounds N` (2; the median counts),
//! `--conns 1,8,64`, `--backends native,dynalite,dynamodb-local,moto`, `--no-large`,
//! `--large-only`, `--out FILE` (also write the report there).
//!
//! Run by `cargo test` (no `--bench` argument) it only checks: every system answers every
//! workload correctly, wrk runs briefly against each, and a 16 MiB transfer goes both ways. No
//! figure is reported then.
//!
//! The same executable plays the origin (`__origin ADDR`) and the bare pingora proxy
//! (`__pingora LISTEN UPSTREAM THREADS`), so the bench builds no extra binaries.

mod backends;
mod bare;
mod callgrind;
mod client;
mod large;
mod origin;
mod procs;
mod report;
mod systems;
mod wrk;

use std::{collections::BTreeMap, time::Duration};

use clap::Parser;

use backends::Backend;
use systems::System;

/// The options; cargo adds `--bench` when it runs benchmarks.
#[derive(Parser, Debug)]
#[command(about = "edgestack's end-to-end benchmark")]
struct Args {
    /// Seconds per load run (whole seconds: wrk's unit).
    #[arg(long, default_value_t = 3)]
    duration: u64,
    /// Rounds over the systems for each workload and concurrency; the median counts.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Concurrent connections, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    conns: Vec<usize>,
    /// Backends to run, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "native,dynalite,dynamodb-local,moto"
    )]
    backends: Vec<String>,
    /// Skip the 1 GiB transfers.
    #[arg(long)]
    no_large: bool,
    /// Only the 1 GiB transfers.
    #[arg(long)]
    large_only: bool,
    /// Also count instructions per request under callgrind (needs valgrind).
    #[arg(long)]
    callgrind: bool,
    /// Only the callgrind counts.
    #[arg(long)]
    callgrind_only: bool,
    /// Also write the report to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Set by `cargo bench`; without it, only the checks run.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Under `cargo test` (no `--bench`), the arguments are libtest's: a name filter and flags
/// such as `--nocapture`. The check runs unless a filter is given that does not match "edge".
fn check_wanted(argv: &[String]) -> bool {
    let filters: Vec<&String> = argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
    filters.is_empty() || filters.iter().any(|f| "edge".contains(f.as_str()))
}

/// Stops every started process when the run is interrupted (Ctrl-C, SIGTERM): managed
/// backends run in their own process groups, so a terminal's Ctrl-C does not reach them.
fn stop_children_on_signal() {
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("signal runtime");
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        eprintln!("edge bench: interrupted, stopping everything it started");
        procs::kill_all();
        std::process::exit(130);
    });
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    match argv.get(1).map(String::as_str) {
        Some("__origin") => origin::run(argv[2].parse().expect("origin address")),
        Some("__pingora") => bare::run(
            argv[2].parse().expect("listen address"),
            argv[3].parse().expect("upstream address"),
            argv[4].parse().expect("threads"),
        ),
        _ => {}
    }
    if !argv.iter().any(|a| a == "--bench") {
        if check_wanted(&argv) {
            stop_children_on_signal();
            // Backend output (and why one stopped) shows in the check's output.
            edgestack_testkit::trace_init();
            let dir = tempdir();
            check(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
        return;
    }
    let args = Args::parse();
    debug_assert!(args.bench, "only reached under cargo bench");
    stop_children_on_signal();
    let dir = tempdir();
    let backends: Vec<Backend> = args
        .backends
        .iter()
        .map(|name| {
            Backend::ALL
                .into_iter()
                .find(|b| b.name() == name)
                .unwrap_or_else(|| panic!("unknown backend {name:?}"))
        })
        .collect();
    let plan = report::Plan {
        duration: Duration::from_secs(args.duration.max(1)),
        rounds: args.rounds.max(1),
        conns: args.conns.clone(),
    };
    eprintln!("edge bench: working in {}", dir.display());
    let counting = args.callgrind || args.callgrind_only;
    if counting && !callgrind::available() {
        panic!("--callgrind needs valgrind: apt-get install valgrind");
    }
    if args.callgrind_only {
        let text = callgrind::render(&callgrind::run(&dir, false));
        println!("{text}");
        if let Some(out) = &args.out {
            std::fs::write(out, &text).expect("write --out file");
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let mut rows = Vec::new();
    if !args.large_only {
        for &b in &backends {
            rows.extend(load(b, &plan, &dir));
        }
    }
    let mut transfers = Vec::new();
    let mut memory = None;
    if !args.no_large {
        let (t, m) = large_objects(&dir, 1 << 30, 2);
        transfers = t;
        memory = Some(m);
    }
    let mut text = report::render(&plan, &rows, &transfers, memory);
    if counting {
        text.push('\n');
        text.push_str(&callgrind::render(&callgrind::run(&dir, false)));
    }
    println!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).expect("write --out file");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh working folder for configs, scripts and logs.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgestack-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create working folder");
    dir
}

/// Starts `backend` and every system in front of it, checking each workload through each.
fn prepare(backend: Backend, dir: &std::path::Path) -> (backends::Running, Vec<systems::Proxy>) {
    let running = backends::start(backend, dir);
    let proxies: Vec<_> = System::ALL
        .iter()
        .map(|&s| systems::start(s, running.addr, backend != Backend::Native, dir))
        .collect();
    for p in &proxies {
        for w in backend.workloads() {
            if let Err(e) = w.check(p.addr) {
                let log = match p.system {
                    System::Direct => String::new(),
                    _ => format!("\n(its log: {})", p.log.display()),
                };
                panic!("{} is not answering correctly: {e}{log}", p.system.label());
            }
        }
    }
    (running, proxies)
}

/// Loads every workload of `backend` through every system.
fn load(backend: Backend, plan: &report::Plan, dir: &std::path::Path) -> Vec<report::Row> {
    eprintln!("edge bench: {}", backend.name());
    let (_running, proxies) = prepare(backend, dir);
    let mut rows = Vec::new();
    for w in backend.workloads() {
        let script = wrk::script(dir, &w.name.replace(' ', "-"), &w.req);
        // Warm up every system (connection pools, the JVM's JIT) before measuring.
        let warm = if backend == Backend::DynamoDbLocal {
            5.0
        } else {
            1.0
        };
        for p in &proxies {
            let _ = wrk::run(p.addr, &script, 8, Duration::from_secs_f64(warm));
        }
        for &conns in &plan.conns {
            let mut samples: BTreeMap<usize, Vec<wrk::Sample>> = BTreeMap::new();
            let mut failures: BTreeMap<usize, String> = BTreeMap::new();
            for round in 0..plan.rounds {
                // Alternate, starting each round one system later.
                for k in 0..proxies.len() {
                    let i = (k + round) % proxies.len();
                    match wrk::run(proxies[i].addr, &script, conns, plan.duration) {
                        Ok(s) => samples.entry(i).or_default().push(s),
                        Err(e) => {
                            failures.insert(i, e);
                        }
                    }
                }
            }
            for (i, p) in proxies.iter().enumerate() {
                let result = match failures.remove(&i) {
                    Some(e) => Err(e),
                    None => Ok(report::median(&samples[&i])),
                };
                if let Err(e) = &result {
                    eprintln!("edge bench: {} c={conns} {}: {e}", w.name, p.system.label());
                }
                rows.push(report::Row {
                    workload: w.name,
                    conns,
                    system: p.system,
                    result,
                });
            }
            eprintln!("edge bench: {} c={conns} done", w.name);
        }
    }
    rows
}

/// The 1 GiB transfers: the native origin and moto's S3, each through a fresh edgestack with
/// every interceptor, whose memory is read before and after.
fn large_objects(
    dir: &std::path::Path,
    len: u64,
    rounds: usize,
) -> (Vec<large::Transfer>, large::Memory) {
    let mut transfers = Vec::new();
    let mut memory = large::Memory {
        idle_kib: 0,
        peak_kib: 0,
    };
    for backend in [Backend::Native, Backend::Moto] {
        eprintln!("edge bench: {} {} MiB transfers", backend.name(), len >> 20);
        let running = backends::start(backend, dir);
        let edge = systems::start(
            System::EdgestackAll,
            running.addr,
            backend != Backend::Native,
            dir,
        );
        for w in backend.workloads() {
            w.check(edge.addr).expect("edgestack answers");
        }
        let pid = edge.proc.as_ref().expect("edgestack runs").pid();
        let idle = large::idle(pid);
        transfers.extend(large::run(backend, running.addr, edge.addr, len, rounds));
        let peak = large::peak(pid);
        // The worst growth over idle of the two edgestack processes.
        if peak.saturating_sub(idle) >= memory.peak_kib.saturating_sub(memory.idle_kib) {
            memory = large::Memory {
                idle_kib: idle,
                peak_kib: peak,
            };
        }
    }
    (transfers, memory)
}

/// `cargo test`: every system answers every workload, wrk runs against each, and a 16 MiB
/// transfer goes through edgestack both ways. Fails loudly when anything is missing.
fn check(dir: &std::path::Path) {
    for backend in Backend::ALL {
        let (_running, proxies) = prepare(backend, dir);
        let w = &backend.workloads()[0];
        let script = wrk::script(dir, "check", &w.req);
        for p in &proxies {
            if let Err(e) = wrk::run(p.addr, &script, 2, Duration::from_secs(1)) {
                panic!(
                    "wrk through {} to {}: {e}",
                    p.system.label(),
                    backend.name()
                );
            }
        }
        eprintln!(
            "edge bench check: {} ok through every system",
            backend.name()
        );
    }
    let (transfers, memory) = large_objects(dir, 16 << 20, 1);
    assert_eq!(transfers.len(), 4);
    assert!(memory.peak_kib >= memory.idle_kib && memory.idle_kib > 0);
    eprintln!("edge bench check: 16 MiB transfers ok; run `cargo bench --bench edge` for figures");
}
