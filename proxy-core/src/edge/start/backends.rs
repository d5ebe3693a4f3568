//! Starting the managed backends: a free port for those without a fixed one (taken after the
//! edge's own sockets are bound, so they cannot take it), one [`Supervisor`] each, the
//! health view of every upstream that the admin endpoints and [`Edge::wait_ready`] read, and
//! the state reset's view of them (how each is reset).

use std::sync::Arc;

use crate::{
    admin::{
        health::{Health, Watched},
        reset::Target,
    },
    settings::Settings,
    upstream::{
        managed::{ManagedSpec, Supervisor},
        Upstream,
    },
};

#[cfg(doc)]
use crate::Edge;

use super::StartError;

/// Gives managed backends without a fixed port a free one (updating the upstream's address),
/// then starts them all; a failure stops the ones already started.
pub(super) fn start(
    upstreams: &mut [Upstream],
    runtime: &tokio::runtime::Handle,
) -> Result<Vec<Supervisor>, StartError> {
    for u in upstreams.iter_mut() {
        if let Some(spec) = u.process.as_mut().filter(|s| s.port == 0) {
            let port = std::net::TcpListener::bind((spec.host, 0))
                .and_then(|l| l.local_addr())
                .map_err(|e| StartError::Backend {
                    upstream: u.name.clone(),
                    message: format!("no free port: {e}"),
                })?
                .port();
            spec.port = port;
            u.addr = spec.addr();
            u.url = format!("http://{}", u.addr);
        }
    }
    let mut supervisors = Vec::new();
    for u in upstreams.iter() {
        if let Some(spec) = &u.process {
            match Supervisor::start(spec.clone(), runtime) {
                Ok(s) => supervisors.push(s),
                Err(e) => {
                    for s in &supervisors {
                        s.kill_now();
                    }
                    return Err(StartError::Backend {
                        upstream: u.name.clone(),
                        message: backend_hint(spec, &e.to_string()),
                    });
                }
            }
        }
    }
    Ok(supervisors)
}

/// Every upstream as the health endpoint watches it (a managed one by its supervisor), and
/// the service routes and the services served on an AWS edge.
pub(super) fn health(settings: &Settings, supervisors: &[Supervisor]) -> Health {
    Health {
        upstreams: Arc::new(
            settings
                .upstreams
                .iter()
                .map(|u| Watched {
                    name: u.name.clone(),
                    addr: u.addr,
                    supervisor: supervisors
                        .iter()
                        .find(|s| s.name() == u.name.as_str())
                        .cloned(),
                })
                .collect(),
        ),
        services: settings.aws.as_ref().map(|a| Arc::new(a.services.clone())),
        enabled: settings
            .aws
            .as_ref()
            .and_then(|a| a.enabled_services.clone())
            .map(Arc::new),
    }
}

/// Every upstream as the state reset sees it: how its state is reset
/// ([`Settings::reset_method`]), and its supervisor when it is managed.
pub(super) fn reset_targets(settings: &Settings, supervisors: &[Supervisor]) -> Vec<Target> {
    settings
        .upstreams
        .iter()
        .map(|u| Target {
            name: u.name.clone(),
            addr: u.addr,
            method: settings.reset_method(u),
            supervisor: supervisors
                .iter()
                .find(|s| s.name() == u.name.as_str())
                .cloned(),
        })
        .collect()
}

/// The error for a backend that cannot start, with how to install the usual ones.
fn backend_hint(spec: &ManagedSpec, error: &str) -> String {
    let program = spec.command.first().map_or("", String::as_str);
    let base = std::path::Path::new(program)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or(program);
    let hint = match base {
        "moto_server" => {
            "; install moto with `python3 -m venv .venv && .venv/bin/pip install 'moto[server]'` \
             (or run scripts/install-deps), then put .venv/bin on PATH or set EDGESTACK_MOTO_SERVER"
        }
        "node" | "npx" => {
            "; install Node.js (apt install nodejs npm) and the package (scripts/install-deps)"
        }
        "java" => "; install a Java runtime >= 17 (apt install default-jre-headless)",
        _ => "",
    };
    format!("{error}{hint}")
}
