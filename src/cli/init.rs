//! The command's side of init hooks ([`crate::init`]): where each stage hooks into
//! the process's life, the environment scripts get, and the signals that end it.
//!
//! ```text
//! load config ─▶ BOOT scripts ─▶ edge starts (binds, starts backends) ─▶ START scripts
//!   ─▶ every upstream up: `Ready.` ─▶ READY scripts ─▶ … SIGTERM/SIGINT …
//!   ─▶ SHUTDOWN scripts ─▶ drain requests and background jobs ─▶ stop backends ─▶ exit
//! ```
//!
//! Scripts run on the command's own (current-thread) runtime; the edge serves on its own, so
//! a READY script's calls to the edge are answered while it runs. A signal while BOOT, START
//! or READY scripts run kills the running script (marked `ERROR`) and skips the rest; the
//! SHUTDOWN scripts then run (not after a signal during BOOT: nothing had started). A second
//! signal while SHUTDOWN scripts run cuts them short too.

use std::net::SocketAddr;

use crate::init::{InitHooks, ScriptEnv, Stage, LOG_TARGET};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::{AwsSettings, Edge, EdgeBuilder};

/// SIGTERM and SIGINT, registered once (before the first script runs) so that neither
/// stops the process before its backends and shutdown scripts are taken care of.
pub(super) struct Signals {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Signals {
    /// Registers the handlers. Call inside the runtime's context.
    pub(super) fn new() -> Signals {
        Signals {
            term: signal(SignalKind::terminate()).ok(),
            int: signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Waits for the next SIGTERM or SIGINT.
    pub(super) async fn recv(&mut self) {
        match (&mut self.term, &mut self.int) {
            (Some(t), Some(i)) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = i.recv() => {}
                }
            }
            (Some(s), None) | (None, Some(s)) => {
                s.recv().await;
            }
            (None, None) => std::future::pending().await,
        }
    }
}

/// Logs where scripts were looked for and what was found; warns about a configured
/// directory that does not exist.
pub(super) fn announce(hooks: &InitHooks, settings: &crate::config::InitSettings) {
    if let Some(dir) = &settings.dir {
        if !dir.is_dir() {
            tracing::warn!(
                target: LOG_TARGET,
                "init: {} is not a directory ([init] dir or ${})",
                dir.display(),
                crate::config::InitSettings::DIR_VAR
            );
        }
    }
    if !hooks.is_empty() {
        let per_stage: Vec<String> = Stage::ALL
            .iter()
            .map(|s| format!("{} {}", s.name(), hooks.scripts(*s).len()))
            .collect();
        tracing::info!(
            target: LOG_TARGET,
            "init: {} script(s) ({})",
            hooks.len(),
            per_stage.join(", ")
        );
    }
}

/// The address BOOT scripts are told the edge will have. With BOOT scripts and a first listen
/// address on port 0, a free port is picked now and the edge is made to listen there, so the
/// address BOOT scripts get is the one every later stage gets too.
pub(super) fn boot_address(builder: &mut EdgeBuilder, hooks: &InitHooks) -> Option<SocketAddr> {
    let listen = &mut builder.settings_mut().server.listen;
    let first = listen.first_mut()?;
    if first.port() == 0 && !hooks.scripts(Stage::Boot).is_empty() {
        if let Ok(port) = std::net::TcpListener::bind(*first).and_then(|l| l.local_addr()) {
            *first = port;
        }
    }
    Some(*first)
}

/// The environment scripts get for an edge at `addr` with these AWS settings (`us-east-1`
/// and `test`/`test` on a plain proxy).
pub(super) fn script_env(aws: Option<&AwsSettings>, addr: SocketAddr) -> ScriptEnv {
    let aws = aws.cloned().unwrap_or_default();
    ScriptEnv::for_edge(
        addr,
        &aws.default_region,
        &aws.access_key_id,
        &aws.secret_access_key,
    )
}

/// START scripts, `Ready.` once every upstream is up, READY scripts; then waits for a
/// signal. Returns when a signal came (cutting the stages short if they were still running).
pub(super) async fn run_until_signal(
    edge: &Edge,
    hooks: &InitHooks,
    env: &ScriptEnv,
    signals: &mut Signals,
) {
    let lifecycle = async {
        hooks.run_stage(Stage::Start, env).await;
        super::announce_ready(edge).await;
        hooks.run_stage(Stage::Ready, env).await;
    };
    let interrupted = tokio::select! {
        _ = lifecycle => false,
        _ = signals.recv() => true,
    };
    if !interrupted {
        signals.recv().await;
    }
}

/// SHUTDOWN scripts, cut short by another signal.
pub(super) async fn shutdown(hooks: &InitHooks, env: &ScriptEnv, signals: &mut Signals) {
    if !hooks.scripts(Stage::Shutdown).is_empty() {
        tracing::info!(target: LOG_TARGET, "stopping: running the shutdown scripts first");
    }
    tokio::select! {
        _ = hooks.run_stage(Stage::Shutdown, env) => {}
        _ = signals.recv() => tracing::warn!(
            target: LOG_TARGET,
            "second signal: the shutdown scripts were cut short"
        ),
    }
}
