//! The report: the markdown table, the large-object figures, where each target stands, and
//! the machine it ran on.

use std::{fmt::Write, time::Duration};

use crate::{large, systems::System, wrk::Sample};

/// What was run.
pub struct Plan {
    pub duration: Duration,
    pub rounds: usize,
    pub conns: Vec<usize>,
}

/// One system under one workload and concurrency.
pub struct Row {
    pub workload: &'static str,
    pub conns: usize,
    pub system: System,
    pub result: Result<Sample, String>,
}

/// The median of each figure over the rounds.
pub fn median(samples: &[Sample]) -> Sample {
    let mid = |f: fn(&Sample) -> f64| {
        let mut v: Vec<f64> = samples.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    Sample {
        rps: mid(|s| s.rps),
        p50_ms: mid(|s| s.p50_ms),
        p99_ms: mid(|s| s.p99_ms),
    }
}

fn find<'a>(rows: &'a [Row], workload: &str, conns: usize, system: System) -> Option<&'a Sample> {
    rows.iter()
        .find(|r| r.workload == workload && r.conns == conns && r.system == system)
        .and_then(|r| r.result.as_ref().ok())
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// The whole report as markdown.
pub fn render(
    plan: &Plan,
    rows: &[Row],
    transfers: &[large::Transfer],
    memory: Option<large::Memory>,
) -> String {
    let mut out = String::new();
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "| Workload | Conns | System | req/s | × direct | p50 ms | p99 ms |\n|---|---:|---|---:|---:|---:|---:|"
        );
        for r in rows {
            let cells = match &r.result {
                Ok(s) => {
                    let ratio = find(rows, r.workload, r.conns, System::Direct)
                        .map_or("".into(), |d| format!("{:.2}", s.rps / d.rps));
                    format!(
                        "{:.0} | {ratio} | {} | {}",
                        s.rps,
                        ms(s.p50_ms),
                        ms(s.p99_ms)
                    )
                }
                Err(e) => format!("failed: {} | | |", e.replace('|', "/")),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {cells} |",
                r.workload,
                r.conns,
                r.system.label()
            );
        }
        let _ = writeln!(
            out,
            "\nwrk 1 thread, {:.0} s per run, median of {} rounds alternating the systems.\n",
            plan.duration.as_secs_f64(),
            plan.rounds
        );
    }
    if !transfers.is_empty() {
        let _ = writeln!(
            out,
            "| Transfer | direct MiB/s | edgestack MiB/s | × direct |\n|---|---:|---:|---:|"
        );
        for t in transfers {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | {:.2} |",
                t.what,
                t.direct_mib_s,
                t.edge_mib_s,
                t.ratio()
            );
        }
        if let Some(m) = memory {
            let _ = writeln!(
                out,
                "\nedgestack resident memory: {:.1} MiB idle, {:.1} MiB peak (+{:.1} MiB).\n",
                m.idle_kib as f64 / 1024.0,
                m.peak_kib as f64 / 1024.0,
                m.peak_kib.saturating_sub(m.idle_kib) as f64 / 1024.0
            );
        }
    }
    out.push_str(&targets(plan, rows, transfers, memory));
    out.push_str(&machine());
    out
}

/// The worst case of `f` over the concurrencies, or `None` if a figure is missing.
fn worst(
    plan: &Plan,
    rows: &[Row],
    workload: &str,
    system: System,
    other: System,
    f: fn(&Sample, &Sample) -> f64,
    lowest: bool,
) -> Option<f64> {
    let mut acc: Option<f64> = None;
    for &c in &plan.conns {
        let v = f(
            find(rows, workload, c, system)?,
            find(rows, workload, c, other)?,
        );
        acc = Some(match acc {
            None => v,
            Some(a) if lowest => a.min(v),
            Some(a) => a.max(v),
        });
    }
    acc
}

fn targets(
    plan: &Plan,
    rows: &[Row],
    transfers: &[large::Transfer],
    memory: Option<large::Memory>,
) -> String {
    // "Met" is judged on edgestack + all interceptors, the configuration the targets name.
    let mut out = String::from(
        "| Target | edgestack, plain proxy | edgestack | edgestack + all | Met |\n\
         |---|---:|---:|---:|---|\n",
    );
    let rps = |a: &Sample, b: &Sample| a.rps / b.rps;
    let p99 = |a: &Sample, b: &Sample| a.p99_ms / b.p99_ms;
    let mut line = |name: &str,
                    workload: &str,
                    other: System,
                    f: fn(&Sample, &Sample) -> f64,
                    lowest: bool,
                    bound: f64| {
        let vals: Vec<Option<f64>> = [
            System::EdgestackPlain,
            System::Edgestack,
            System::EdgestackAll,
        ]
        .iter()
        .map(|&s| worst(plan, rows, workload, s, other, f, lowest))
        .collect();
        if !rows.iter().any(|r| r.workload == workload) {
            return; // not run
        }
        // A run that failed counts as a missed target, shown as "failed".
        let met = vals[2].is_some_and(|all| if lowest { all >= bound } else { all <= bound });
        let cell = |v: Option<f64>| v.map_or("failed".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            cell(vals[0]),
            cell(vals[1]),
            cell(vals[2]),
            if met { "yes" } else { "no" }
        );
    };
    line(
        "dynalite: req/s ≥ 0.95× direct (worst concurrency)",
        "dynalite GetItem",
        System::Direct,
        rps,
        true,
        0.95,
    );
    line(
        "DynamoDB Local: req/s ≥ 0.95× direct",
        "DynamoDB Local GetItem",
        System::Direct,
        rps,
        true,
        0.95,
    );
    line(
        "native: req/s ≥ 1.0× nginx",
        "native GET 1 KiB",
        System::Nginx,
        rps,
        true,
        1.0,
    );
    line(
        "native: p99 ≤ 1.2× nginx's",
        "native GET 1 KiB",
        System::Nginx,
        p99,
        false,
        1.2,
    );
    line(
        "native: req/s ≥ 0.95× bare pingora",
        "native GET 1 KiB",
        System::Pingora,
        rps,
        true,
        0.95,
    );
    for t in transfers.iter().filter(|t| t.what.contains("GiB")) {
        let _ = writeln!(
            out,
            "| {}: ≥ 0.9× direct | | | {:.2} | {} |",
            t.what,
            t.ratio(),
            if t.ratio() >= 0.9 { "yes" } else { "no" }
        );
    }
    if let Some(m) = memory.filter(|_| transfers.iter().any(|t| t.what.contains("GiB"))) {
        let grown = m.peak_kib.saturating_sub(m.idle_kib) as f64 / 1024.0;
        let _ = writeln!(
            out,
            "| 1 GiB: peak RSS ≤ idle + 64 MiB | | | +{grown:.1} MiB | {} |",
            if grown <= 64.0 { "yes" } else { "no" }
        );
    }
    out.push('\n');
    out
}

/// CPU, cores, memory and kernel, from `/proc`.
fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |k| k / 1024.0 / 1024.0);
    format!(
        "Machine: {cpu}, {} cores, {mem_gib:.0} GiB, Linux {}. Every process (load generator, proxies, backends) shares these cores.\n",
        crate::systems::threads(),
        read("/proc/sys/kernel/osrelease").trim()
    )
}
