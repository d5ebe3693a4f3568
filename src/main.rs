//! The `edgestack` command: load a TOML config, run the edge until SIGTERM/SIGINT.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A LocalStack-style AWS edge in front of real AWS-emulating backends.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, short, env = "EDGESTACK_CONFIG")]
    config: Option<PathBuf>,
    /// Validate the configuration, print every error, and exit (0 valid, 2 invalid).
    #[arg(long)]
    check: bool,
    /// Listen here instead of the configured `server.listen` (repeatable).
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("EDGESTACK_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    let Some(path) = args.config else {
        eprintln!(
            "edgestack: no configuration given: pass --config FILE or set EDGESTACK_CONFIG \
             (examples in examples/configs/)"
        );
        return ExitCode::from(2);
    };
    let config = match edgestack::load_config_file(&path) {
        Ok(c) => c,
        Err(errors) => {
            eprint!("edgestack: {}: {errors}", path.display());
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!(
            "{}: OK ({} upstream(s), {} interceptor(s))",
            path.display(),
            config.settings.upstreams.len(),
            config.chain.len()
        );
        return ExitCode::SUCCESS;
    }
    let mut builder = edgestack::EdgeBuilder::from_config(config);
    if !args.listen.is_empty() {
        builder = builder.listen_on(args.listen);
    }
    let edge = match builder.start() {
        Ok(e) => e,
        Err(e) => {
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
            eprintln!("edgestack: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        wait_for_signal().await;
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
