//! What the Lambda benchmarks share (`benches/lambda.rs`, `benches/events.rs`): moto_server and
//! an in-process edge with the interceptors of edgestack's default configuration, the IAM
//! role functions need, SDK client configurations, one-file zips, the processes this process
//! started and their CPU time, latency figures and the report's machine line.
//!
//! Each bench includes this file with `#[path = "common/lambda_setup.rs"] mod lambda_setup;`
//! (benches are separate crates; cargo does not take this file for a bench of its own).

// Each bench uses a part of this module.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use edgestack_testkit::MotoServer;

/// moto_server and an in-process edge in front of it, a plain HTTP client, and a temporary
/// directory (the Lambda code cache).
pub struct Stack {
    edge: Option<edgestack::Edge>,
    moto: MotoServer,
    /// The edge's URL.
    pub url: String,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    dir: PathBuf,
}

impl Stack {
    /// moto_server and the edge ([`edge_toml`] with `lambda` and `wanted`), in the directory
    /// `edgestack-{bench}-bench-PID` of the system's temp dir.
    pub async fn start(bench: &str, lambda: &str, wanted: &[&str], http: reqwest::Client) -> Stack {
        let moto = tokio::task::spawn_blocking(MotoServer::start)
            .await
            .expect("moto_server start");
        let dir =
            std::env::temp_dir().join(format!("edgestack-{bench}-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("bench directory");
        let text = edge_toml(&moto.url(), &dir.join("cache"), lambda, wanted);
        let config = edgestack::load_config(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let edge = edgestack::EdgeBuilder::from_config(config)
            .start()
            .unwrap_or_else(|e| panic!("the edge did not start: {e}\n{text}"));
        assert!(
            edge.wait_ready(Duration::from_secs(30)).await,
            "moto_server not ready through the edge"
        );
        Stack {
            url: edge.url(),
            edge: Some(edge),
            moto,
            http,
            dir,
        }
    }

    /// moto_server's own URL.
    pub fn moto_url(&self) -> String {
        self.moto.url()
    }

    /// The edge shut down, the processes started killed, the directory removed.
    pub async fn stop(mut self) {
        if let Some(edge) = self.edge.take() {
            edge.shutdown().await;
        }
        kill_children();
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Role `name` in moto's IAM (CreateFunction checks that the role exists), whose ARN is
    /// `arn`: a plain query call, as there is no IAM SDK here.
    pub async fn create_role(&self, name: &str, arn: &str) {
        let resp = self
            .http
            .post(&self.url)
            .header("authorization", edgestack_testkit::fake_sigv4("iam"))
            .form(&edgestack_testkit::iam::create_lambda_role_form(name))
            .send()
            .await
            .expect("CreateRole");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "CreateRole: {status} {text}");
        assert!(text.contains(arn), "CreateRole: {text}");
    }
}

/// The configuration builder of an aws-sdk client for `endpoint`: test credentials named
/// `name`, us-east-1, plain HTTP.
macro_rules! sdk_config {
    ($sdk:ident, $endpoint:expr, $name:expr) => {
        $sdk::Config::builder()
            .behavior_version_latest()
            .region($sdk::config::Region::new("us-east-1"))
            .credentials_provider($sdk::config::Credentials::new(
                "test", "test", None, None, $name,
            ))
            .endpoint_url($endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
    };
}
pub(crate) use sdk_config;

/// The edge's configuration: moto_server as the backend and default route, and the
/// interceptor sections of edgestack's default configuration (which must hold each of
/// `wanted`), the lambda cache in `cache` and the keys `lambda` in `[interceptors.lambda]`.
pub fn edge_toml(moto: &str, cache: &Path, lambda: &str, wanted: &[&str]) -> String {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let default = edgestack::default_config_toml(Path::new("moto_server"));
    let sections = &default[default
        .find("\n[interceptors.")
        .expect("the default configuration has interceptors")..];
    for wanted in wanted {
        assert!(
            sections.contains(&format!("\n[interceptors.{wanted}]\n")),
            "the default configuration has no [interceptors.{wanted}]"
        );
    }
    let cache = toml_string(&cache.display().to_string());
    let sections = if sections.contains("\n[interceptors.lambda]\n") {
        sections.replacen(
            "\n[interceptors.lambda]\n",
            &format!("\n[interceptors.lambda]\ncache_dir = {cache}\n{lambda}"),
            1,
        )
    } else {
        format!("{sections}\n[interceptors.lambda]\ncache_dir = {cache}\n{lambda}")
    };
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = {threads}\n\n\
         [upstreams.moto]\nurl = \"{moto}\"\n\n[routes]\ndefault = \"moto\"\n{sections}"
    )
}

/// `s` as a TOML basic string.
pub fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("string")
}

/// A zip holding one file.
pub fn zip_of(name: &str, text: &str) -> Vec<u8> {
    use std::io::Write as _;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o644);
    w.start_file(name, opts).expect("zip entry");
    w.write_all(text.as_bytes()).expect("zip write");
    w.finish().expect("zip finish").into_inner()
}

/// The value after option `name` in `argv`, if `name` is there.
pub fn arg_text(argv: &[String], name: &str) -> Option<String> {
    let i = argv.iter().position(|a| a == name)?;
    let v = argv
        .get(i + 1)
        .unwrap_or_else(|| panic!("{name} needs a value"));
    Some(v.clone())
}

/// The number after option `name` in `argv`, if `name` is there.
pub fn arg_number(argv: &[String], name: &str) -> Option<u64> {
    let v = arg_text(argv, name)?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}: not a number: {v}")),
    )
}

/// Under `cargo test` (no `--bench`), the arguments are libtest's: a name filter and flags.
/// The check runs unless a filter is given that does not match `name`.
pub fn check_wanted(argv: &[String], name: &str) -> bool {
    let filters: Vec<&String> = argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

/// The processes this process started that are still running (moto_server, function
/// environments), as (pid, executable, command line).
pub fn children() -> Vec<(i32, String, String)> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string));
        if ppid.as_deref() != Some(me.as_str()) {
            continue;
        }
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .split('\0')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        out.push((pid, exe, cmdline));
    }
    out
}

/// Stops what is left of the processes this process started (moto_server is stopped by its
/// own handle too): by process id, never by name.
pub fn kill_children() {
    for (pid, _, _) in children() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// CPU time (user + system, ms) used so far by process `pid` (`self`: this one), from
/// `/proc/PID/stat`; 0 when it is gone.
pub fn cpu_ms(pid: &str) -> f64 {
    // Clock ticks: 100 per second on Linux.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = stat.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            // After the comm: state(0) ppid(1) ... utime(11) stime(12).
            Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
        })
        .unwrap_or(0.0)
        * 10.0
}

/// Runs `f`; if it panics, kills the processes this process started, then panics on.
pub fn killing_children_on_panic(f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        kill_children();
        std::panic::resume_unwind(panic);
    }
}

/// Latency figures in ms.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |p: f64| v[((p / 100.0) * (v.len() - 1) as f64).round() as usize];
        Stats {
            n: v.len(),
            median: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: v[v.len() - 1],
        }
    }

    /// `n | median | p90 | p99` (ms), the inner cells of a markdown row; `–` for the p99
    /// unless `p99`.
    pub fn cells(&self, p99: bool) -> String {
        let p99 = if p99 { ms(self.p99) } else { "–".into() };
        format!(
            "{} | {} | {} | {p99}",
            self.n,
            ms(self.median),
            ms(self.p90)
        )
    }
}

/// A figure in ms, with a precision that suits it.
pub fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Machine, load: the report's first line.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), load average {load}")
}

/// A CreateFunction request through `lambda`: function `name` of `runtime` and `handler`,
/// role `role`, a 30 s timeout, 128 MB, code `zip`.
pub fn create_function(
    lambda: &aws_sdk_lambda::Client,
    name: &str,
    runtime: aws_sdk_lambda::types::Runtime,
    role: &str,
    handler: &str,
    zip: Vec<u8>,
) -> aws_sdk_lambda::operation::create_function::builders::CreateFunctionFluentBuilder {
    lambda
        .create_function()
        .function_name(name)
        .runtime(runtime)
        .role(role)
        .handler(handler)
        .timeout(30)
        .memory_size(128)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(zip))
                .build(),
        )
}

/// A report's first lines: `## {title}` (with ` (quick)` for a quick run), then the machine
/// before the run (`started`, a [`machine`] line) and after it.
pub fn report_head(w: &mut String, title: &str, quick: bool, started: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(w, "## {title}{}\n", if quick { " (quick)" } else { "" });
    let _ = writeln!(w, "Machine: {started}; after the run: {}.\n", machine());
}

/// A markdown table: the `columns` row, the `align` row, then `rows`.
pub fn table(w: &mut String, columns: &str, align: &str, rows: impl IntoIterator<Item = String>) {
    use std::fmt::Write as _;
    let _ = writeln!(w, "{columns}");
    let _ = writeln!(w, "{align}");
    for row in rows {
        let _ = writeln!(w, "{row}");
    }
}

/// Whether the run is a quick one: `--quick` in `argv`, or `var` set in the environment to
/// something other than nothing or `0`.
pub fn quick(argv: &[String], var: &str) -> bool {
    argv.iter().any(|a| a == "--quick")
        || std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A function's environment holding one variable.
pub fn environment(key: &str, value: impl Into<String>) -> aws_sdk_lambda::types::Environment {
    aws_sdk_lambda::types::Environment::builder()
        .variables(key, value)
        .build()
}

/// The bench's runtime: one thread (the edge runs its own).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
