//! The `edgestack` command as a function: load a TOML config (or the built-in default: a
//! managed moto_server behind 127.0.0.1:4566), run the edge until SIGTERM/SIGINT. With every
//! CLI feature (`--config`, `--check`, `--listen`, `EDGESTACK_CONFIG`, `EDGESTACK_LOG`,
//! signals, the batched log, `Ready.`), for the interceptors of any registry, so your own
//! binary with your own interceptors is three lines:
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
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("EDGESTACK_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(log.clone())
        // A binary of your own may have set a subscriber already: keep it.
        .try_init()
        .ok();

    let (config, source) = match &args.config {
        Some(path) => match crate::load_config_file_with(path, registry) {
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
            match crate::load_config_with(&crate::default_config_toml(&moto), registry) {
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
    let mut builder = crate::EdgeBuilder::from_config(config);
    if !args.listen.is_empty() {
        builder = builder.listen_on(args.listen);
    }
    let edge = match builder.start() {
        Ok(e) => e,
        Err(e) => {
            log.flush_now();
            eprintln!("edgestack: {e}");
            return ExitCode::from(2);
        }
    };
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
    runtime.block_on(async {
        tokio::select! {
            _ = announce_ready(&edge) => wait_for_signal().await,
            _ = wait_for_signal() => {}
        }
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

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
