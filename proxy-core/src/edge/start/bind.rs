//! Binding the listen addresses (and the legacy per-service ports) before anything else
//! starts, so a busy port fails the start at once and port 0 gets its real number.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use crate::settings::ServerSettings;

use super::StartError;

/// The edge's bound sockets.
pub(super) struct Bound {
    /// Non-blocking, in the order configured (listen addresses, then service ports).
    pub(super) sockets: Vec<std::net::TcpListener>,
    /// Their bound addresses (with the real port when 0 was asked for), in the same order.
    pub(super) addrs: Vec<SocketAddr>,
    /// The service of each per-service port, by bound address.
    pub(super) listen_labels: HashMap<SocketAddr, Arc<str>>,
}

/// Binds every listen address and service port of `server`.
pub(super) fn bind(server: &ServerSettings) -> Result<Bound, StartError> {
    let mut sockets = Vec::new();
    let wanted = server.listen.iter().map(|a| (*a, None)).chain(
        server
            .service_ports
            .iter()
            .map(|(svc, a)| (*a, Some(Arc::<str>::from(svc.as_str())))),
    );
    let mut listen_labels = HashMap::new();
    for (addr, label) in wanted {
        let l = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| StartError::Bind { addr, source })?;
        let bound = l.local_addr().expect("bound socket has an address");
        if let Some(label) = label {
            listen_labels.insert(bound, label);
        }
        sockets.push(l);
    }
    let addrs: Vec<SocketAddr> = sockets
        .iter()
        .map(|l| l.local_addr().expect("bound socket has an address"))
        .collect();
    Ok(Bound {
        sockets,
        addrs,
        listen_labels,
    })
}

/// The addresses in `addrs` that are not loopback ones (`0.0.0.0`, `[::]`, a LAN address):
/// other machines may reach the edge there.
pub(super) fn exposed(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    addrs
        .iter()
        .filter(|a| !a.ip().to_canonical().is_loopback())
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_addresses() {
        let addrs: Vec<SocketAddr> = [
            "127.0.0.1:4566",
            "127.1.2.3:1",
            "[::1]:4566",
            "[::ffff:127.0.0.1]:4566",
            "0.0.0.0:4566",
            "[::]:4566",
            "192.168.1.5:4566",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let want: Vec<SocketAddr> = ["0.0.0.0:4566", "[::]:4566", "192.168.1.5:4566"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(exposed(&addrs), want);
    }
}
