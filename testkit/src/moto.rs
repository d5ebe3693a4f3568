//! A real `moto_server` process on a free loopback port, stopped on drop.
//!
//! Found, in order, at `$MOTO_SERVER`, `<workspace>/.venv/bin/moto_server` (where
//! `scripts/test` installs it), or on `PATH`. When it is missing the test fails with the
//! command that installs it: a test that needs a backend never passes without one.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running moto_server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
}

/// Where moto_server is, or the panic message that says how to get it.
pub fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    }) {
        return p;
    }
    panic!(
        "moto_server not found (looked at $MOTO_SERVER, {}, and PATH).\n\
         Install it with:  python3 -m venv .venv && .venv/bin/pip install 'moto[server]'\n\
         or run the whole suite with scripts/test, which installs it.",
        venv.display()
    );
}

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

impl MotoServer {
    /// Starts moto_server and waits until it answers (up to 60 s).
    pub fn start() -> MotoServer {
        let bin = moto_server_path();
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = crate::free_port();
            let mut child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    last_err = format!("moto_server exited with {status}: {err}");
                    break;
                }
                // Ready, and it is our process that listens: another test's moto can take the
                // port between `free_port` and our bind, and answer while ours (slow to start
                // under load) has not even tried to bind yet.
                if listens_on(child.id(), port) && ready(addr) {
                    // Keep stderr from filling its pipe: drain it in the background.
                    if let Some(mut e) = child.stderr.take() {
                        std::thread::spawn(move || {
                            let mut sink = [0u8; 8192];
                            while matches!(e.read(&mut sink), Ok(n) if n > 0) {}
                        });
                    }
                    return MotoServer { child, addr };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            if last_err.is_empty() {
                last_err = "moto_server did not answer within 60 s".into();
            }
        }
        panic!("could not start moto_server: {last_err}");
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when process `pid` has a socket listening on 127.0.0.1:`port` (or any address), read
/// from `/proc`: its socket inodes, and the listening entries of `/proc/net/tcp`.
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let inodes: std::collections::HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let port = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl, local_address, rem_address, st (0A: LISTEN), ..., inode (the 10th field).
        f.len() > 9 && f[1].ends_with(&port) && f[3] == "0A" && inodes.contains(f[9])
    })
}

/// True when `GET /moto-api/` answers.
fn ready(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_someone_else_listens_on_is_not_ours() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = other.local_addr().unwrap().port();
        // This process listens there; a child that does not is not taken for the listener.
        assert!(listens_on(std::process::id(), port));
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        assert!(!listens_on(child.id(), port));
        let _ = child.kill();
        let _ = child.wait();
        drop(other);
        assert!(!listens_on(std::process::id(), port));
    }
}
