//! The Lambda benchmark: how fast the `lambda` interceptor runs functions, through the edge.
//!
//! Run with: cargo bench --bench lambda  (about 40 s once built)
//! (`cargo bench --bench lambda -- --quick`, or `LAMBDA_BENCH_QUICK=1`, for a run under 30 s.)
//!
//! It starts its own moto_server (`$MOTO_SERVER`, `.venv/bin/moto_server` or `PATH`, see
//! `edgestack_testkit::MotoServer`) and an in-process edge on free loopback ports, with the
//! interceptors of edgestack's default configuration (`[interceptors.lambda]` among them, its
//! code cache in a temporary directory) and as many worker threads as there are cores. Through
//! the edge, with aws-sdk-lambda, it creates two trivial functions: `python3.12`
//! (`def handler(event, context): return event`) and `nodejs20.x`
//! (`exports.handler = async (event) => event`). Then it measures, with a plain HTTP client
//! (reqwest, one keep-alive connection per caller, `POST /2015-03-31/functions/F/invocations`
//! with a 35-byte event):
//!
//! - **bare process start**: `INTERPRETER -c pass` / `-e 0`, spawn to exit, with the same
//!   interpreter the interceptor runs (read from `/proc` of a running environment) and an
//!   environment cleared as a function's is: the part of a cold start that is the
//!   interpreter's own;
//! - **cold start**: invocations that each need a new environment: before each one,
//!   `UpdateFunctionConfiguration` (a changed environment variable) through the edge drops
//!   the function's environments and its cached resolution, so the invocation pays the
//!   `GetFunction` round trip to moto, the process start, the bootstrap's initialisation and
//!   the first Runtime API exchange. Its REPORT line's `Init Duration` (spawn to the runtime's
//!   first poll) is shown alongside. For reference, `DryRun` right after the same write: the
//!   `GetFunction` round trip alone;
//! - **warm invoke**: sequential invocations after a warm-up (median, p90, p99), and, for
//!   reference, the function's own time as its REPORT line's `Duration` (`X-Amz-Log-Type:
//!   Tail`, a separate sample) and a `DryRun` with the resolution cached (the edge without
//!   any process);
//! - **throughput**: invokes/s with 1 and 8 concurrent callers, each for a few seconds after a
//!   warm-up at that concurrency (so 8 warm environments exist), python and node, with the
//!   CPU time each invocation cost this process (the edge and the client: one process) and
//!   the function processes (from `/proc`).
//!
//! It prints a markdown report: the tables and a verdict against the targets of the Lambda
//! issue (warm invoke median at most 3 ms over the function's own time; python cold start
//! median at most 150 ms).
//!
//! Options (after `--`): `--quick`, `--cold N` (10; 5 quick), `--warm N` (2000; 300 quick),
//! `--duration SECS` per throughput run (5; 1 quick), `--python PROGRAM` and `--node PROGRAM`
//! (the section's `python` and `node`: which interpreters run the functions).
//!
//! Run by `cargo test` (no `--bench` argument) it only checks that each function answers its
//! event through the edge, once cold and once warm. No figure is reported then.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use aws_sdk_lambda::types::Runtime;
use base64::Engine as _;

#[path = "common/lambda_setup.rs"]
mod lambda_setup;

use lambda_setup::{
    arg_number, arg_text, check_wanted, children, cpu_ms, kill_children, machine, ms, report_head,
    table, toml_string, zip_of, Stack, Stats,
};

/// The event every invocation sends (the functions return it).
const EVENT: &str = r#"{"bench":"lambda","n":42,"ok":true}"#;

/// The functions' role (created in moto's IAM first).
const ROLE: &str = "arn:aws:iam::123456789012:role/r";

/// The python function's code.
const PYTHON_APP: &str = "def handler(event, context):\n    return event\n";

/// The node function's code.
const NODE_APP: &str = "exports.handler = async (event) => event;\n";

/// What the run does.
#[derive(Debug, Clone)]
struct Plan {
    quick: bool,
    cold: usize,
    warm: usize,
    tail_sample: usize,
    dry_sample: usize,
    duration: Duration,
    /// `[interceptors.lambda] python = ...`, when given.
    python: Option<String>,
    /// `[interceptors.lambda] node = ...`, when given.
    node: Option<String>,
}

impl Plan {
    fn from_args(argv: &[String]) -> Plan {
        let quick = lambda_setup::quick(argv, "LAMBDA_BENCH_QUICK");
        let mut plan = if quick {
            Plan {
                quick,
                cold: 5,
                warm: 300,
                tail_sample: 30,
                dry_sample: 100,
                duration: Duration::from_secs(1),
                python: None,
                node: None,
            }
        } else {
            Plan {
                quick,
                cold: 10,
                warm: 2000,
                tail_sample: 100,
                dry_sample: 500,
                duration: Duration::from_secs(5),
                python: None,
                node: None,
            }
        };
        let value = |name: &str| arg_number(argv, name);
        plan.python = arg_text(argv, "--python");
        plan.node = arg_text(argv, "--node");
        if let Some(n) = value("--cold") {
            plan.cold = (n as usize).max(1);
        }
        if let Some(n) = value("--warm") {
            plan.warm = (n as usize).max(1);
        }
        if let Some(s) = value("--duration") {
            plan.duration = Duration::from_secs(s.max(1));
        }
        plan
    }
}

/// One of the two functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Python,
    Node,
}

impl Lang {
    const ALL: [Lang; 2] = [Lang::Python, Lang::Node];

    fn label(self) -> &'static str {
        match self {
            Lang::Python => "python3.12",
            Lang::Node => "nodejs20.x",
        }
    }

    fn function(self) -> &'static str {
        match self {
            Lang::Python => "bench-python",
            Lang::Node => "bench-node",
        }
    }

    fn runtime(self) -> Runtime {
        match self {
            Lang::Python => Runtime::Python312,
            Lang::Node => Runtime::Nodejs20x,
        }
    }

    fn handler(self) -> &'static str {
        match self {
            Lang::Python => "app.handler",
            Lang::Node => "index.handler",
        }
    }

    fn zip(self) -> Vec<u8> {
        match self {
            Lang::Python => zip_of("app.py", PYTHON_APP),
            Lang::Node => zip_of("index.js", NODE_APP),
        }
    }

    /// The interpreter's name, and the arguments that make it exit at once.
    fn bare(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Lang::Python => ("python3", "-c", "pass"),
            Lang::Node => ("node", "-e", "0"),
        }
    }
}

/// The moto_server, the edge, the clients.
struct Setup {
    stack: Stack,
    sdk: aws_sdk_lambda::Client,
}

impl Setup {
    /// `lambda` holds more keys of the `[interceptors.lambda]` section (or nothing).
    async fn start(lambda: &str) -> Setup {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("http client");
        let stack = Stack::start("lambda", lambda, &[], http).await;
        let conf = lambda_setup::sdk_config!(aws_sdk_lambda, &stack.url, "lambda-bench").build();
        Setup {
            sdk: aws_sdk_lambda::Client::from_conf(conf),
            stack,
        }
    }

    async fn stop(self) {
        self.stack.stop().await;
    }

    /// Role `r` in moto's IAM (CreateFunction checks that the role exists).
    async fn create_role(&self) {
        self.stack.create_role("r", ROLE).await;
    }

    async fn create(&self, lang: Lang) {
        lambda_setup::create_function(
            &self.sdk,
            lang.function(),
            lang.runtime(),
            ROLE,
            lang.handler(),
            lang.zip(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFunction {}: {e:?}", lang.function()));
    }

    /// A configuration change: the function's environments and cached resolution are dropped.
    async fn touch(&self, lang: Lang, round: usize) {
        self.sdk
            .update_function_configuration()
            .function_name(lang.function())
            .environment(lambda_setup::environment("BENCH_ROUND", round.to_string()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateFunctionConfiguration {}: {e:?}", lang.function()));
    }

    fn invoke_request(&self, lang: Lang) -> reqwest::RequestBuilder {
        self.stack
            .http
            .post(format!(
                "{}/2015-03-31/functions/{}/invocations",
                self.stack.url,
                lang.function()
            ))
            .header("authorization", edgestack_testkit::fake_sigv4("lambda"))
            .header("content-type", "application/json")
            .body(EVENT)
    }

    /// One invocation, timed; fails the run unless the function answered.
    async fn invoke(&self, lang: Lang, tail: bool) -> Invoked {
        let mut req = self.invoke_request(lang);
        if tail {
            req = req.header("x-amz-log-type", "Tail");
        }
        let t = Instant::now();
        let resp = req.send().await.expect("invoke");
        let status = resp.status().as_u16();
        let error = resp.headers().get("x-amz-function-error").cloned();
        let log = resp
            .headers()
            .get("x-amz-log-result")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let body = resp.bytes().await.expect("invoke body");
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(
            status == 200 && error.is_none(),
            "{}: invoke answered {status} {error:?}: {}",
            lang.function(),
            String::from_utf8_lossy(&body)
        );
        Invoked { ms, body, log }
    }

    /// A `DryRun` invocation, timed (resolution and checks, nothing runs).
    async fn dry_run(&self, lang: Lang) -> f64 {
        let t = Instant::now();
        let resp = self
            .invoke_request(lang)
            .header("x-amz-invocation-type", "DryRun")
            .send()
            .await
            .expect("dry run");
        let status = resp.status().as_u16();
        let _ = resp.bytes().await;
        assert_eq!(status, 204, "{}: DryRun answered {status}", lang.function());
        t.elapsed().as_secs_f64() * 1000.0
    }
}

/// What one invocation took and answered.
struct Invoked {
    ms: f64,
    body: bytes::Bytes,
    log: Option<String>,
}

impl Invoked {
    /// A REPORT field in ms (`Duration`, `Init Duration`).
    fn report(&self, field: &str) -> Option<f64> {
        let log = self.log.as_deref()?;
        let line = log.lines().rev().find(|l| l.starts_with("REPORT "))?;
        line.split('\t')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(field)?.strip_prefix(": "))
            .and_then(|v| v.trim_end_matches(" ms").trim().parse().ok())
    }
}

/// The executable and command line of a running environment of `lang`, if one is found.
fn environment_process(lang: Lang) -> Option<(String, String)> {
    let marker = match lang {
        Lang::Python => "python",
        Lang::Node => "node",
    };
    children()
        .into_iter()
        .find(|(_, exe, cmd)| {
            Path::new(exe)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(marker))
                && !cmd.contains("moto_server")
        })
        .map(|(_, exe, cmd)| (exe, cmd))
}

/// Spawn to exit of `program arg value`, `n` times.
fn bare_start(program: &str, arg: &str, value: &str, n: usize) -> Stats {
    let run = || {
        let t = Instant::now();
        // The environment a function process gets: cleared (no NODE_EXTRA_CA_CERTS, say,
        // which costs node tens of ms), a PATH, LANG and TZ.
        let status = std::process::Command::new(program)
            .args([arg, value])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(status.success(), "{program} {arg} {value}: {status}");
        t.elapsed().as_secs_f64() * 1000.0
    };
    run(); // the page cache
    Stats::of(&(0..n).map(|_| run()).collect::<Vec<_>>())
}

/// One throughput run's result.
struct Throughput {
    lang: Lang,
    callers: usize,
    per_sec: f64,
    lat: Stats,
    errors: u64,
    /// CPU ms per invocation: this process (the edge and the client), the function processes.
    cpu_edge: f64,
    cpu_functions: f64,
}

/// CPU time (user + system, ms) used so far by this process, and by the processes it started
/// other than moto_server (the function environments).
fn cpu_times() -> (f64, f64) {
    let functions = children()
        .iter()
        .filter(|(_, _, cmd)| !cmd.contains("moto_server"))
        .map(|(pid, _, _)| cpu_ms(&pid.to_string()))
        .sum();
    (cpu_ms("self"), functions)
}

/// `callers` concurrent callers invoking `lang`'s function for `duration`.
async fn throughput(
    setup: &Arc<Setup>,
    lang: Lang,
    callers: usize,
    duration: Duration,
) -> Throughput {
    let cpu_before = cpu_times();
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (setup, stop, errors) = (setup.clone(), stop.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = match setup.invoke_request(lang).send().await {
                    Ok(resp) => {
                        let good = resp.status().as_u16() == 200
                            && !resp.headers().contains_key("x-amz-function-error");
                        resp.bytes().await.is_ok() && good
                    }
                    Err(_) => false,
                };
                if ok {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("caller"));
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_after = cpu_times();
    let n = (lat.len() as f64).max(1.0);
    Throughput {
        lang,
        callers,
        per_sec: lat.len() as f64 / secs,
        lat: Stats::of(&lat),
        errors: errors.load(Ordering::Relaxed),
        cpu_edge: (cpu_after.0 - cpu_before.0) / n,
        cpu_functions: (cpu_after.1 - cpu_before.1) / n,
    }
}

/// Everything measured for one function.
struct Measured {
    lang: Lang,
    interpreter: Option<(String, String)>,
    /// The interpreter run bare (`-c pass`, `-e 0`), and its figures.
    bare: (String, Stats),
    cold: Stats,
    cold_not_cold: usize,
    init: Stats,
    dry_after_write: Stats,
    warm: Stats,
    own: Stats,
    dry_cached: Stats,
}

async fn measure(setup: &Setup, lang: Lang, plan: &Plan) -> Measured {
    let f = lang.function();
    eprintln!("lambda bench: {f}: cold starts");
    // The GetFunction round trip alone: DryRun right after a control-plane write.
    let mut dry_after_write = Vec::new();
    for round in 0..plan.cold {
        setup.touch(lang, 1_000_000 + round).await;
        dry_after_write.push(setup.dry_run(lang).await);
    }
    let mut cold = Vec::new();
    let mut init = Vec::new();
    let mut not_cold = 0;
    for round in 0..plan.cold {
        setup.touch(lang, round).await;
        // The dropped environments' processes end off the measured path.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let r = setup.invoke(lang, true).await;
        match r.report("Init Duration") {
            Some(i) => init.push(i),
            None => not_cold += 1,
        }
        cold.push(r.ms);
    }
    // The interpreter the environments run, and its bare start.
    let interpreter = environment_process(lang);
    let (program, arg, value) = lang.bare();
    eprintln!("lambda bench: {f}: bare process start");
    // The environments' interpreter; else the name, on the PATH a function gets.
    let exe = interpreter
        .as_ref()
        .map(|(exe, _)| exe.clone())
        .filter(|exe| !exe.is_empty())
        .unwrap_or_else(|| program.to_string());
    let bare = bare_start(&exe, arg, value, plan.cold);

    eprintln!("lambda bench: {f}: warm invokes");
    for _ in 0..50 {
        setup.invoke(lang, false).await;
    }
    let mut warm = Vec::with_capacity(plan.warm);
    for _ in 0..plan.warm {
        warm.push(setup.invoke(lang, false).await.ms);
    }
    let mut own = Vec::new();
    for _ in 0..plan.tail_sample {
        let r = setup.invoke(lang, true).await;
        if let Some(d) = r.report("Duration") {
            own.push(d);
        }
    }
    let mut dry_cached = Vec::new();
    for _ in 0..plan.dry_sample {
        dry_cached.push(setup.dry_run(lang).await);
    }
    Measured {
        lang,
        interpreter,
        bare: (exe, bare),
        cold: Stats::of(&cold),
        cold_not_cold: not_cold,
        init: Stats::of(&init),
        dry_after_write: Stats::of(&dry_after_write),
        warm: Stats::of(&warm),
        own: Stats::of(&own),
        dry_cached: Stats::of(&dry_cached),
    }
}

fn report(measured: &[Measured], runs: &[Throughput], plan: &Plan, started_load: &str) -> String {
    let mut out = String::new();
    let w = &mut out;
    use std::fmt::Write as _;
    report_head(w, "Lambda benchmark", plan.quick, started_load);
    let mut rows = Vec::new();
    let mut row = |what: &str, m: &Measured, s: &Stats, p99: bool| {
        rows.push(format!(
            "| {what} | {} | {} |",
            m.lang.label(),
            s.cells(p99)
        ));
    };
    for m in measured {
        let (_, arg, value) = m.lang.bare();
        let (exe, s) = &m.bare;
        row(&format!("bare `{exe} {arg} {value}`"), m, s, false);
        row("cold start invoke", m, &m.cold, false);
        row(
            "↳ its `Init Duration` (spawn to first poll)",
            m,
            &m.init,
            false,
        );
        row(
            "↳ DryRun after a write (GetFunction to moto)",
            m,
            &m.dry_after_write,
            false,
        );
        row("warm invoke", m, &m.warm, true);
        row(
            "↳ its REPORT `Duration` (the function's own time)",
            m,
            &m.own,
            true,
        );
        row(
            "↳ DryRun, resolution cached (no process)",
            m,
            &m.dry_cached,
            true,
        );
    }
    table(
        w,
        "| Measurement | Runtime | n | median ms | p90 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
        rows,
    );
    let _ = writeln!(w);
    table(
        w,
        "| Throughput | Callers | invokes/s | p50 ms | p99 ms | errors | CPU ms/invoke: edge + client | CPU ms/invoke: function |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        runs.iter().map(|t| {
            format!(
                "| {} | {} | {:.0} | {} | {} | {} | {:.2} | {:.2} |",
                t.lang.label(),
                t.callers,
                t.per_sec,
                ms(t.lat.median),
                ms(t.lat.p99),
                t.errors,
                t.cpu_edge,
                t.cpu_functions
            )
        }),
    );
    let _ = writeln!(w);
    for m in measured {
        if let Some((exe, cmd)) = &m.interpreter {
            let _ = writeln!(
                w,
                "- {} environments run `{cmd}` (`{exe}`).",
                m.lang.label()
            );
        }
        if m.cold_not_cold > 0 {
            let _ = writeln!(
                w,
                "- {}: {} of {} \"cold\" invocations reported no `Init Duration` (not cold?).",
                m.lang.label(),
                m.cold_not_cold,
                m.cold.n
            );
        }
    }
    let _ = writeln!(w, "\nVerdict:");
    for m in measured {
        let over = m.warm.median - m.own.median;
        let _ = writeln!(
            w,
            "- {} warm invoke median {} ms: {} ms over the function's own time (REPORT \
             `Duration` {} ms, which includes the Runtime API exchange; the handler itself \
             takes microseconds) (target ≤ 3 ms): **{}**",
            m.lang.label(),
            ms(m.warm.median),
            ms(over),
            ms(m.own.median),
            if over <= 3.0 { "met" } else { "missed" }
        );
    }
    if let Some(m) = measured.iter().find(|m| m.lang == Lang::Python) {
        let _ = writeln!(
            w,
            "- python cold start median {} ms, p90 {} ms (target ≤ 150 ms): **{}**",
            ms(m.cold.median),
            ms(m.cold.p90),
            if m.cold.median <= 150.0 {
                "met"
            } else {
                "missed"
            }
        );
    }
    out
}

/// Each function answers its event through the edge, cold then warm.
async fn check() {
    let setup = Setup::start("").await;
    let want: serde_json::Value = serde_json::from_str(EVENT).expect("event");
    setup.create_role().await;
    for lang in Lang::ALL {
        setup.create(lang).await;
        for _ in 0..2 {
            let r = setup.invoke(lang, true).await;
            let got: serde_json::Value = serde_json::from_slice(&r.body)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {:?}", lang.function(), r.body));
            assert_eq!(got, want, "{}: the event back", lang.function());
            assert!(
                r.report("Duration").is_some(),
                "{}: no REPORT: {:?}",
                lang.function(),
                r.log
            );
        }
    }
    setup.stop().await;
    eprintln!("lambda bench: check passed (python and node answer through the edge)");
}

async fn bench(plan: Plan) {
    let started_load = machine();
    let mut lambda = String::new();
    for (key, value) in [("python", &plan.python), ("node", &plan.node)] {
        if let Some(v) = value {
            lambda.push_str(&format!("{key} = {}\n", toml_string(v)));
        }
    }
    let setup = Arc::new(Setup::start(&lambda).await);
    let want: serde_json::Value = serde_json::from_str(EVENT).expect("event");
    setup.create_role().await;
    for lang in Lang::ALL {
        setup.create(lang).await;
        let r = setup.invoke(lang, true).await;
        let got: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON answer");
        assert_eq!(got, want, "{}: the event back", lang.function());
    }
    let mut measured = Vec::new();
    for lang in Lang::ALL {
        measured.push(measure(&setup, lang, &plan).await);
    }
    let mut runs = Vec::new();
    for lang in Lang::ALL {
        for callers in [1, 8] {
            eprintln!(
                "lambda bench: {}: {callers} concurrent callers",
                lang.function()
            );
            // Warm-up at this concurrency: the environments it needs exist before the run.
            throughput(&setup, lang, callers, Duration::from_millis(500)).await;
            runs.push(throughput(&setup, lang, callers, plan.duration).await);
        }
    }
    let text = report(&measured, &runs, &plan, &started_load);
    println!("{text}");
    match Arc::try_unwrap(setup) {
        Ok(setup) => setup.stop().await,
        Err(_) => kill_children(),
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let rt = lambda_setup::runtime();
    if !argv.iter().any(|a| a == "--bench") {
        if check_wanted(&argv, "lambda") {
            edgestack_testkit::trace_init();
            rt.block_on(check());
        }
        return;
    }
    let plan = Plan::from_args(&argv);
    lambda_setup::killing_children_on_panic(|| rt.block_on(bench(plan)));
}
