//! The `edgestack` command as a function: load a TOML config (or the built-in default: a
//! managed moto_server behind 127.0.0.1:4566), run the edge until SIGTERM/SIGINT. With every
//! CLI feature (`--config`, `--check`, `--listen`, `EDGESTACK_CONFIG`, `EDGESTACK_LOG`,
//! signals, the batched log, `Ready.`, LocalStack's init hooks and environment variables),
//! for the interceptors of any registry, so your own binary with your own interceptors is
//! three lines:
//!
//! ```no_run
//! use std::process::ExitCode;
//!
//! fn main() -> ExitCode {
//!     // The shipped interceptors, plus `[interceptors.my-tag]` (an example listener).
//!     let registry = edgestack::interceptor_registry()
//!         .with("my-tag", |_: edgestack::config::EmptySection| Ok::<_, String>(MyTag));
//!     edgestack::cli::main(registry)
//! }
//! # struct MyTag;
//! # impl edgestack::Listener for MyTag {}
//! ```
//!
//! `[interceptors.my-tag]` sections are then validated (`--check`, every error at its key)
//! and built like the shipped ones. Start from [`interceptor_registry`](crate::interceptor_registry):
//! the built-in default configuration (no `--config`) enables shipped interceptors.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::Interceptors;

mod init;
mod localstack_env;
mod log_format;
mod log_writer;

/// A LocalStack-style AWS edge in front of real AWS-emulating backends.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML). Without it: the built-in default, edge on
    /// 127.0.0.1:4566 in front of a moto_server edgestack runs.
    #[arg(long, short, env = "EDGESTACK_CONFIG")]
    config: Option<PathBuf>,
    /// Validate the configuration, print every error, and exit (0 valid, 2 invalid).
    #[arg(long)]
    check: bool,
    /// Listen here instead of the configured `server.listen` (repeatable).
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
}

/// Runs the `edgestack` command line (arguments from the process) with the interceptors of
/// `registry`. Returns the process's exit code: 0, or 2 for a configuration that cannot be
/// used or an edge that cannot start.
pub fn main(registry: Interceptors) -> ExitCode {
    let args = Args::parse();
    let log = log_writer::BatchedStderr::start();
    // Writes out what is buffered when run returns or unwinds.
    let _flush = log_writer::FlushOnDrop(log.clone());
    run(args, log, &registry)
}

fn run(args: Args, log: log_writer::BatchedStderr, registry: &Interceptors) -> ExitCode {
    // LocalStack's variables (GATEWAY_LISTEN, SERVICES, LS_LOG, ...), read once, here; the
    // interceptors that honour some of them read the same snapshot.
    let env = localstack_env::with_prefixed_aliases(crate::config::Environment::from_process());
    let localstack = localstack_env::LocalStackEnv::read(&env);
    let default_filter = localstack
        .as_ref()
        .ok()
        .and_then(|l| l.log_filter.clone())
        .unwrap_or_else(|| "info".to_string());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("EDGESTACK_LOG")
                .unwrap_or_else(|_| EnvFilter::new(&default_filter)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .event_format(log_format::LineFormat::default())
        .with_writer(log.clone())
        // A binary of your own may have set a subscriber already: keep it.
        .try_init()
        .ok();

    let localstack = match localstack {
        Ok(l) => l,
        Err(errors) => {
            log.flush_now();
            eprint!("edgestack: LocalStack environment variables: {errors}");
            return ExitCode::from(2);
        }
    };
    let listen_port = args.listen.first().map(SocketAddr::port);
    // A file's own values win over LocalStack's variables; the built-in default's do not.
    let mut unused = Vec::new();
    let (config, source) = match &args.config {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| {
                crate::ConfigErrors(vec![crate::ConfigError::new(
                    "",
                    format!("cannot read {}: {e}", path.display()),
                )])
            })
            .and_then(|text| {
                let (text, missing) = localstack.apply(&text, true, listen_port);
                unused = missing;
                crate::Config::from_toml_with_env(&text, registry, &env)
            }) {
            Ok(c) => (c, path.display().to_string()),
            Err(errors) => {
                log.flush_now();
                eprint!("edgestack: {}: {errors}", path.display());
                return ExitCode::from(2);
            }
        },
        None => {
            let moto = match crate::find_moto_server() {
                Ok(p) => p,
                Err(e) => {
                    log.flush_now();
                    eprintln!(
                        "edgestack: no --config given, and the default needs moto_server: {e}"
                    );
                    return ExitCode::from(2);
                }
            };
            let (text, missing) =
                localstack.apply(&crate::default_config_toml(&moto), false, listen_port);
            unused = missing;
            match crate::Config::from_toml_with_env(&text, registry, &env) {
                Ok(c) => (c, "built-in default (managed moto_server)".to_string()),
                Err(errors) => {
                    log.flush_now();
                    eprint!("edgestack: the built-in default configuration: {errors}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    if args.check {
        println!(
            "{source}: OK ({} upstream(s), {} interceptor(s))",
            config.settings.upstreams.len(),
            config.chain.len()
        );
        return ExitCode::SUCCESS;
    }
    tracing::info!("configuration: {source}");
    if let Some(warning) = localstack.warning() {
        tracing::warn!("{warning}");
    }
    if !unused.is_empty() {
        tracing::warn!(
            "LocalStack variables without effect in this configuration: {}",
            unused.join(", ")
        );
    }
    if let Some(services) = config
        .settings
        .aws
        .as_ref()
        .and_then(|a| a.enabled_services.as_ref())
    {
        let names: Vec<&str> = services.iter().map(String::as_str).collect();
        tracing::info!("serving only {}", names.join(", "));
    }
    let hooks = crate::init::InitHooks::discover(&config.init);
    init::announce(&hooks, &config.init);
    let mut builder = crate::EdgeBuilder::from_config(config);
    if !args.listen.is_empty() {
        builder = builder.listen_on(args.listen);
    }
    // `/_localstack/init` and `/_localstack/init/<stage>`, on the AWS edge only: a plain
    // proxy forwards every path untouched (and keeps its listener-free fast path).
    if builder.settings().aws.is_some() {
        builder = builder.listener(hooks.listener());
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log.flush_now();
            eprintln!("edgestack: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Signals are ours from here on: a SIGTERM while BOOT scripts run ends them, not us.
    let mut signals = {
        let _context = runtime.enter();
        init::Signals::new()
    };
    if let Some(addr) = init::boot_address(&mut builder, &hooks) {
        let env = init::script_env(builder.settings().aws.as_ref(), addr);
        let boot = hooks.run_stage(crate::init::Stage::Boot, &env);
        let interrupted = runtime.block_on(async {
            tokio::select! {
                _ = boot => false,
                _ = signals.recv() => true,
            }
        });
        if interrupted {
            tracing::info!("stopped during the boot scripts");
            return ExitCode::SUCCESS;
        }
    }
    let aws = builder.settings().aws.clone();
    let edge = match builder.start() {
        Ok(e) => e,
        Err(e) => {
            log.flush_now();
            eprintln!("edgestack: {e}");
            return ExitCode::from(2);
        }
    };
    let env = init::script_env(aws.as_ref(), edge.local_addr());
    runtime.block_on(async {
        init::run_until_signal(&edge, &hooks, &env, &mut signals).await;
        init::shutdown(&hooks, &env, &mut signals).await;
        tracing::info!("stopping: finishing in-flight requests");
        let report = edge.shutdown().await;
        tracing::info!(
            requests_drained = report.requests_drained,
            background_drained = report.background_drained,
            "stopped"
        );
    });
    ExitCode::SUCCESS
}

/// Prints `Ready.` on stdout once every upstream is up (what LocalStack prints, and what
/// testcontainers-style harnesses wait for); says what is still down every 30 s until then.
async fn announce_ready(edge: &crate::Edge) {
    while !edge.wait_ready(std::time::Duration::from_secs(30)).await {
        tracing::warn!("still waiting for upstreams to come up (see /_localstack/health)");
    }
    println!("Ready.");
}
