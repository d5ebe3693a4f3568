//! The systems compared: the backend directly, edgestack (the release binary, as users run it)
//! as a plain proxy, as the AWS edge and with every shipped interceptor, nginx, and a bare
//! pingora proxy. Each proxy runs as
//! its own process in front of one backend, with access logging as it ships (edgestack's
//! request lines and nginx's access log go to files; the bare pingora proxy logs nothing).

use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

use edgestack_testkit::free_port;

use crate::procs::Proc;

/// Worker threads for every proxy: the machine's cores, edgestack's default.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Direct,
    EdgestackPlain,
    Edgestack,
    EdgestackAll,
    Nginx,
    Pingora,
}

impl System {
    pub const ALL: [System; 6] = [
        System::Direct,
        System::EdgestackPlain,
        System::Edgestack,
        System::EdgestackAll,
        System::Nginx,
        System::Pingora,
    ];

    pub fn label(self) -> &'static str {
        match self {
            System::Direct => "direct",
            System::EdgestackPlain => "edgestack, plain proxy",
            System::Edgestack => "edgestack",
            System::EdgestackAll => "edgestack + all interceptors",
            System::Nginx => "nginx",
            System::Pingora => "bare pingora",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            System::Direct => "direct",
            System::EdgestackPlain => "edgestack-plain",
            System::Edgestack => "edgestack",
            System::EdgestackAll => "edgestack-all",
            System::Nginx => "nginx",
            System::Pingora => "pingora",
        }
    }
}

/// A system in front of one backend: where to send requests, and the process if any.
pub struct Proxy {
    pub system: System,
    pub addr: SocketAddr,
    pub proc: Option<Proc>,
    pub log: std::path::PathBuf,
}

/// The configuration of edgestack in front of `backend`. `Edgestack`: the AWS edge as it
/// ships (service detection, routing, CORS, admin, form parsing), every AWS service routed to
/// the one backend; requests that name no AWS service (the native origin's) need a rule, which
/// `aws_only` leaves out. `EdgestackAll`: the same with every shipped interceptor enabled.
/// `EdgestackPlain`: `[aws] enabled = false`, a plain reverse proxy with no listener.
pub fn edgestack_config(
    system: System,
    listen: SocketAddr,
    backend: SocketAddr,
    aws_only: bool,
) -> String {
    let plain = system == System::EdgestackPlain;
    let aws = if plain {
        "[aws]\nenabled = false\n\n"
    } else {
        ""
    };
    let mut toml = format!(
        "[server]\nlisten = [\"{listen}\"]\n\n{aws}\
         [upstreams.backend]\nurl = \"http://{backend}\"\n\n\
         [routes]\ndefault = \"backend\"\n"
    );
    if !aws_only && !plain {
        toml.push_str("\n[[routes.rules]]\npath_prefix = \"/\"\nupstream = \"backend\"\n");
    }
    if system == System::EdgestackAll {
        // Every interceptor crate shipped in interceptors/.
        toml.push_str(
            "\n[interceptors.chaos]\n\n[interceptors.request-id]\n\n\
             [interceptors.s3-notifications]\n\n\
             [interceptors.dynamodb-streams]\n\n[interceptors.dynamodb-local]\n\n\
             [interceptors.apigateway]\n\n[interceptors.sqs-urls]\n\n\
             [interceptors.lambda]\n\n[interceptors.eventbridge]\n\n[interceptors.sns]\n",
        );
    }
    toml
}

fn nginx_config(dir: &Path, listen: SocketAddr, backend: SocketAddr) -> String {
    let d = dir.display();
    // As root, nginx's workers would switch to `nobody` and lose access to the run folder.
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        "{user}worker_processes {threads};\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n\
           access_log {d}/nginx-access.log;\n\
           client_body_temp_path {d}/nginx-body;\n\
           proxy_temp_path {d}/nginx-proxy;\n\
           fastcgi_temp_path {d}/nginx-fastcgi;\n\
           uwsgi_temp_path {d}/nginx-uwsgi;\n\
           scgi_temp_path {d}/nginx-scgi;\n\
           client_max_body_size 0;\n\
           upstream backend {{ server {backend}; keepalive 64; }}\n\
           server {{\n\
             listen {listen};\n\
             location / {{\n\
               proxy_pass http://backend;\n\
               proxy_http_version 1.1;\n\
               proxy_set_header Connection \"\";\n\
               proxy_set_header Host $http_host;\n\
               proxy_request_buffering off;\n\
               proxy_buffering off;\n\
             }}\n\
           }}\n\
         }}\n",
        threads = threads()
    )
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// Starts `system` in front of `backend` (nothing to start for `Direct`); `aws_only` when the
/// backend is an AWS emulator.
pub fn start(system: System, backend: SocketAddr, aws_only: bool, dir: &Path) -> Proxy {
    let log = dir.join(format!("{}.log", system.file_name()));
    if system == System::Direct {
        return Proxy {
            system,
            addr: backend,
            proc: None,
            log,
        };
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let cmd = command(system, addr, backend, aws_only, dir);
    let mut proc = Proc::spawn(system.label(), cmd, &log);
    proc.wait_listening(addr, &log, Duration::from_secs(30));
    Proxy {
        system,
        addr,
        proc: Some(proc),
        log,
    }
}

/// The command that runs `system` on `addr` in front of `backend` (not for `Direct`).
pub fn command(
    system: System,
    addr: SocketAddr,
    backend: SocketAddr,
    aws_only: bool,
    dir: &Path,
) -> Command {
    match system {
        System::EdgestackPlain | System::Edgestack | System::EdgestackAll => {
            let conf = dir.join(format!("{}-{}.toml", system.file_name(), addr.port()));
            std::fs::write(&conf, edgestack_config(system, addr, backend, aws_only))
                .expect("write edgestack config");
            let mut c = Command::new(env!("CARGO_BIN_EXE_edgestack"));
            c.arg("--config").arg(conf);
            c
        }
        System::Nginx => {
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, nginx_config(dir, addr, backend)).expect("write nginx config");
            let mut c = Command::new(nginx_path());
            c.arg("-p").arg(dir).arg("-c").arg(conf);
            c
        }
        System::Pingora => {
            let mut c = Command::new(std::env::current_exe().expect("own path"));
            c.args(["__pingora", &addr.to_string(), &backend.to_string()])
                .arg(threads().to_string());
            c
        }
        System::Direct => unreachable!("nothing runs for direct"),
    }
}

/// nginx from Debian's package (`/usr/sbin` is not on every user's PATH).
fn nginx_path() -> std::path::PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx"] {
        if Path::new(p).is_file() {
            return p.into();
        }
    }
    panic!("nginx not found; install it with: apt-get install nginx-light (or run benches/run)")
}
