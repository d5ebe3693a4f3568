//! One function process: how each runtime is started, the environment it gets, its output read
//! line by line, and how it ends.
//!
//! - **Launchers** (by the function's `Runtime`): `python3*` runs [`Launch::python`] with the
//!   embedded `bootstrap.py`; `nodejs*` runs [`Launch::node`] with the embedded `bootstrap.mjs`;
//!   `provided*` runs `<task root>/bootstrap`, else `<opt>/bootstrap` (made executable if a zip
//!   left it without modes). Anything else is refused with [`Outcome::Exited`] and a message.
//! - **Interpreters**: `python3`/`node` given as names are looked up on edgestack's `PATH`
//!   when an environment starts (a few `stat`s). Version-manager shims (pyenv, asdf, nodenv,
//!   volta) need their own environment, which the function does not get, so a shim is resolved
//!   to the real executable by asking it (`sys.executable`, `process.execPath`): that costs a
//!   process start, so callers should resolve once with [`resolve_interpreter`] and put the
//!   absolute path in [`Launch`].
//! - **Environment**: cleared, then [`Launch::env`], then the variables the environment owns:
//!   `AWS_LAMBDA_RUNTIME_API`, `_HANDLER`, `LAMBDA_TASK_ROOT`, `LAMBDA_RUNTIME_DIR`, `TMPDIR`,
//!   `HOME`, `PATH`, `LD_LIBRARY_PATH`, `PYTHONPATH`, `NODE_PATH` (defaults for `LANG`, `TZ`,
//!   `PYTHONUNBUFFERED`, `PYTHONDONTWRITEBYTECODE` go under `Launch::env`). Nothing else of
//!   edgestack's own environment is passed on, except the host `PATH`'s entries (after the
//!   layers' `bin`), so tools the function runs are found.
//! - **Process**: its own process group, stdin null, stdout and stderr piped, cwd = task root;
//!   a per-environment temp dir (`HOME`, `TMPDIR`, the bootstraps), removed when the
//!   environment is dropped. Timeouts and drops `SIGKILL` the whole process group.
//! - **Output**: every line goes to the edge log (target `edgestack::lambda`) and to a buffer
//!   (the last 1 MiB) that [`Environment::invoke`] hands back with each invocation.

use std::{
    ffi::{OsStr, OsString},
    io,
    os::unix::{
        fs::{DirBuilderExt, PermissionsExt},
        process::{CommandExt, ExitStatusExt},
    },
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::FutureExt;
use nix::{
    sys::signal::{killpg, Signal},
    unistd::Pid,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt},
    process::{Child, Command},
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::{api::RuntimeApi, Invocation, Launch, Outcome};

/// edgestack's python bootstrap (a stdlib-only Runtime API client).
const BOOTSTRAP_PY: &str = include_str!("bootstrap.py");
/// edgestack's node bootstrap (a dependency-free ESM Runtime API client).
const BOOTSTRAP_MJS: &str = include_str!("bootstrap.mjs");

/// The output kept for the next invocation's log: the last 1 MiB.
const KEEP_OUTPUT: usize = 1024 * 1024;
/// A line longer than this is cut into pieces.
const MAX_LINE: usize = 256 * 1024;
/// How much a flush reads at most (a process spamming output cannot hold an invocation).
const MAX_FLUSH: usize = 4 * 1024 * 1024;
/// How long an invocation's end waits for the output readers.
const FLUSH_WAIT: Duration = Duration::from_millis(250);
/// How long a killed or exited process's pipes may take to close.
const EOF_WAIT: Duration = Duration::from_millis(500);
/// The `PATH` used when edgestack has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The interpreters [`resolve_interpreter`] knows how to ask for their real executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpreter {
    /// `python3` (asked with `-c 'import sys; print(sys.executable)'`).
    Python,
    /// `node` (asked with `-p process.execPath`).
    Node,
}

/// Finds the executable `program` names (a name looked up on edgestack's `PATH`, or a path)
/// and, if it is a version-manager shim (pyenv, asdf, nodenv, volta), the real interpreter
/// behind it. Call it once (settings load) and put the result in [`Launch::python`] /
/// [`Launch::node`]: [`Environment::start`] then spends nothing on it.
///
/// Errors: `"python3 not found"` style messages.
pub async fn resolve_interpreter(kind: Interpreter, program: &str) -> Result<PathBuf, String> {
    let found = find_program(program).ok_or_else(|| format!("{program} not found"))?;
    if !is_shim(&found) {
        return Ok(found);
    }
    Ok(ask_real_executable(kind, &found).await.unwrap_or(found))
}

/// `program` as an absolute path: itself if it has a `/`, else the first executable file of
/// that name on edgestack's `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let path = Path::new(program);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().ok()?.join(path)
        };
        return is_executable(&path).then_some(path);
    }
    let host = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&host)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A version-manager shim: `.../shims/python3` (pyenv, asdf, nodenv) or a link to volta's.
fn is_shim(path: &Path) -> bool {
    if path.parent().and_then(Path::file_name) == Some(OsStr::new("shims")) {
        return true;
    }
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n == "volta-shim"))
        .unwrap_or(false)
}

/// Runs the shim (with edgestack's environment, which it needs) to learn the real executable.
async fn ask_real_executable(kind: Interpreter, shim: &Path) -> Option<PathBuf> {
    let mut cmd = Command::new(shim);
    match kind {
        Interpreter::Python => cmd.args(["-c", "import sys; print(sys.executable)"]),
        Interpreter::Node => cmd.args(["-p", "process.execPath"]),
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(10), cmd.output())
        .await
        .ok()?
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let path = PathBuf::from(text.trim());
    (path.is_absolute() && is_executable(&path)).then_some(path)
}

/// What to execute for a function.
#[derive(Debug)]
struct Plan {
    program: PathBuf,
    /// The embedded bootstrap to write into the runtime dir and pass as the only argument.
    bootstrap: Option<(&'static str, &'static str)>,
    /// Which language, for `PYTHONPATH` / `NODE_PATH`.
    language: Language,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Python,
    Node,
    Provided,
}

async fn plan(launch: &Launch) -> Result<Plan, String> {
    let runtime = launch.runtime.as_str();
    if runtime.starts_with("python3") {
        let program = resolve_interpreter(Interpreter::Python, &launch.python).await?;
        Ok(Plan {
            program,
            bootstrap: Some(("bootstrap.py", BOOTSTRAP_PY)),
            language: Language::Python,
        })
    } else if runtime.starts_with("nodejs") {
        let program = resolve_interpreter(Interpreter::Node, &launch.node).await?;
        Ok(Plan {
            program,
            bootstrap: Some(("bootstrap.mjs", BOOTSTRAP_MJS)),
            language: Language::Node,
        })
    } else if runtime.starts_with("provided") {
        let mut candidates = vec![launch.task_root.join("bootstrap")];
        if let Some(opt) = &launch.opt_dir {
            candidates.push(opt.join("bootstrap"));
        }
        let Some(program) = candidates.iter().find(|p| p.is_file()) else {
            let list: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "Couldn't find valid bootstrap(s): [{}]",
                list.join(" ")
            ));
        };
        make_executable(program)?;
        Ok(Plan {
            program: program.clone(),
            bootstrap: None,
            language: Language::Provided,
        })
    } else {
        Err(format!(
            "runtime {runtime} is not supported by edgestack (python3.x, nodejs*, provided.al2/al2023)"
        ))
    }
}

/// A `bootstrap` extracted from a zip without unix modes: `chmod 0755`.
fn make_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o111 == 0o111 {
        return Ok(());
    }
    let mode = meta.permissions().mode() | 0o755;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| {
        format!(
            "{} is not executable and cannot be made so: {e}",
            path.display()
        )
    })
}

/// The per-environment directory: `LAMBDA_RUNTIME_DIR` (the bootstraps) with `tmp/`
/// (`HOME`, `TMPDIR`). Removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn create(id: u64) -> io::Result<TempDir> {
        let base = std::env::temp_dir();
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        let mut last = None;
        for _ in 0..16 {
            let dir = base.join(format!(
                "edgestack-lambda-{}-{id}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ));
            match builder.create(&dir) {
                Ok(()) => {
                    let dir = TempDir(dir);
                    builder.create(dir.tmp())?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no temp dir name left")))
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn tmp(&self) -> PathBuf {
        self.0.join("tmp")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let dir = std::mem::take(&mut self.0);
        let remove = move || {
            let _ = std::fs::remove_dir_all(&dir);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(remove);
            }
            Err(_) => remove(),
        }
    }
}

/// The process's environment: defaults, the function's, then what the environment owns.
fn environment(
    launch: &Launch,
    plan: &Plan,
    dir: &TempDir,
    api: std::net::SocketAddr,
) -> Vec<(String, OsString)> {
    let mut env: Vec<(String, OsString)> = vec![
        ("LANG".into(), "en_US.UTF-8".into()),
        ("TZ".into(), ":UTC".into()),
    ];
    if plan.language == Language::Python {
        env.push(("PYTHONUNBUFFERED".into(), "1".into()));
        env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
    }
    env.extend(
        launch
            .env
            .iter()
            .map(|(k, v)| (k.clone(), OsString::from(v))),
    );
    let root = &launch.task_root;
    let opt = launch.opt_dir.as_deref();
    let existing =
        |dirs: Vec<PathBuf>| -> Vec<PathBuf> { dirs.into_iter().filter(|d| d.is_dir()).collect() };

    // PATH: the layers' bin, the interpreter's own dir, then the host's entries.
    let mut path: Vec<PathBuf> = existing(opt.map(|o| vec![o.join("bin")]).unwrap_or_default());
    if plan.language != Language::Provided {
        if let Some(parent) = plan.program.parent() {
            path.push(parent.to_path_buf());
        }
    }
    let host = std::env::var_os("PATH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    for dir in std::env::split_paths(&host) {
        if dir.is_absolute() && !path.contains(&dir) {
            path.push(dir);
        }
    }
    let mut owned: Vec<(&str, OsString)> = vec![
        ("AWS_LAMBDA_RUNTIME_API", api.to_string().into()),
        ("_HANDLER", launch.handler.clone().into()),
        ("LAMBDA_TASK_ROOT", root.clone().into()),
        ("LAMBDA_RUNTIME_DIR", dir.path().into()),
        ("TMPDIR", dir.tmp().into()),
        ("HOME", dir.tmp().into()),
        ("PATH", join_paths(&path)),
    ];
    let mut libs = existing(vec![root.join("lib")]);
    if let Some(o) = opt {
        libs.extend(existing(vec![o.join("lib")]));
    }
    if !libs.is_empty() {
        owned.push(("LD_LIBRARY_PATH", join_paths(&libs)));
    }
    match plan.language {
        Language::Python => {
            let mut dirs = vec![root.clone()];
            if let Some(o) = opt {
                dirs.extend(python_site_packages(&o.join("python"), &launch.runtime));
                dirs.extend(existing(vec![o.join("python")]));
            }
            owned.push(("PYTHONPATH", join_paths(&dirs)));
        }
        Language::Node => {
            let mut dirs = Vec::new();
            if let Some(o) = opt {
                dirs.extend(node_versioned_modules(&o.join("nodejs"), &launch.runtime));
                dirs.extend(existing(vec![o.join("nodejs").join("node_modules")]));
            }
            dirs.push(root.clone());
            owned.push(("NODE_PATH", join_paths(&dirs)));
        }
        Language::Provided => {}
    }
    env.extend(owned.into_iter().map(|(k, v)| (k.to_owned(), v)));
    env
}

fn join_paths(dirs: &[PathBuf]) -> OsString {
    // A directory with a `:` in its name cannot be on a search path: it is left out.
    let usable: Vec<&PathBuf> = dirs
        .iter()
        .filter(|d| !d.as_os_str().as_encoded_bytes().contains(&b':'))
        .collect();
    std::env::join_paths(usable).unwrap_or_default()
}

/// `<opt>/python/lib/python3.X/site-packages` that exist, the runtime's version first.
fn python_site_packages(python: &Path, runtime: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(python.join("lib"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
                .map(|e| e.path().join("site-packages"))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    let own = OsString::from(runtime);
    dirs.sort_by_key(|d| d.parent().and_then(Path::file_name) != Some(own.as_os_str()));
    dirs
}

/// `<opt>/nodejs/node*/node_modules` that exist, the runtime's major version first
/// (`nodejs20.x` → `node20`).
fn node_versioned_modules(nodejs: &Path, runtime: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(nodejs)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.len() > 4 && name.starts_with("node") && name != "node_modules"
                })
                .map(|e| e.path().join("node_modules"))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    let major = runtime
        .trim_start_matches("nodejs")
        .split('.')
        .next()
        .unwrap_or_default();
    let own = OsString::from(format!("node{major}"));
    dirs.sort_by_key(|d| d.parent().and_then(Path::file_name) != Some(own.as_os_str()));
    dirs
}

/// The output of one environment: the edge log, and the bytes the next invocation gets.
#[derive(Debug)]
struct Output {
    label: String,
    buf: Mutex<Vec<u8>>,
}

impl Output {
    fn line(&self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        tracing::info!(
            target: "edgestack::lambda",
            "{} | {}",
            self.label,
            String::from_utf8_lossy(line)
        );
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if buf.len() > 2 * KEEP_OUTPUT {
            keep_last(&mut buf, KEEP_OUTPUT);
        }
    }

    fn take(&self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut *self.buf.lock().unwrap_or_else(|e| e.into_inner()));
        keep_last(&mut buf, KEEP_OUTPUT);
        buf
    }

    /// Splits `data` into lines, `partial` holding what has no newline yet.
    fn feed(&self, partial: &mut Vec<u8>, mut data: &[u8]) {
        while let Some(end) = data.iter().position(|&b| b == b'\n') {
            if partial.is_empty() {
                self.line(&data[..end]);
            } else {
                partial.extend_from_slice(&data[..end]);
                self.line(partial);
                partial.clear();
            }
            data = &data[end + 1..];
        }
        partial.extend_from_slice(data);
        while partial.len() >= MAX_LINE {
            let rest = partial.split_off(MAX_LINE);
            self.line(partial);
            *partial = rest;
        }
    }
}

/// Keeps the last `keep` bytes of `buf`, starting at a line if one starts in them.
fn keep_last(buf: &mut Vec<u8>, keep: usize) {
    if buf.len() <= keep {
        return;
    }
    let mut cut = buf.len() - keep;
    if let Some(nl) = buf[cut..].iter().position(|&b| b == b'\n') {
        if cut + nl + 1 < buf.len() {
            cut += nl + 1;
        }
    }
    buf.drain(..cut);
}

/// A request to a reader: read what the pipe has now, then answer.
type Flush = oneshot::Sender<()>;

/// Reads one pipe line by line until EOF, answering flush requests.
async fn read_lines<R: AsyncRead + Unpin>(
    mut pipe: R,
    out: Arc<Output>,
    mut flushes: mpsc::Receiver<Flush>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut partial = Vec::new();
    let mut flushes_open = true;
    loop {
        tokio::select! {
            read = pipe.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => out.feed(&mut partial, &buf[..n]),
            },
            flush = flushes.recv(), if flushes_open => match flush {
                Some(done) => {
                    // What the process wrote before it answered is in the pipe already, and the
                    // reactor has seen it (the pipe became readable before the socket did).
                    let mut eof = false;
                    let mut read = 0usize;
                    while read < MAX_FLUSH {
                        match pipe.read(&mut buf).now_or_never() {
                            Some(Ok(0)) | Some(Err(_)) => {
                                eof = true;
                                break;
                            }
                            Some(Ok(n)) => {
                                read += n;
                                out.feed(&mut partial, &buf[..n]);
                            }
                            None => break,
                        }
                    }
                    if !partial.is_empty() {
                        out.line(&partial);
                        partial.clear();
                    }
                    let _ = done.send(());
                    if eof {
                        break;
                    }
                }
                None => flushes_open = false,
            },
        }
    }
    if !partial.is_empty() {
        out.line(&partial);
    }
}

/// How a process ended, the way Lambda words it: `exit status 1`, `signal: 9 (SIGKILL)`.
fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    if let Some(signal) = status.signal() {
        return match Signal::try_from(signal) {
            Ok(s) => format!("signal: {signal} ({})", s.as_str()),
            Err(_) => format!("signal: {signal}"),
        };
    }
    status.to_string()
}

/// One execution environment: a function's process, its Runtime API, its output.
///
/// Dropping it kills the process group and removes its temp dir.
#[derive(Debug)]
pub struct Environment {
    id: u64,
    label: String,
    api: RuntimeApi,
    /// The process group (the leader's pid).
    pgid: Option<Pid>,
    /// `Some(how)` once the leader has exited.
    exit: watch::Receiver<Option<String>>,
    /// Owns the child and reaps it; aborting it kills the leader (`kill_on_drop`).
    waiter: JoinHandle<()>,
    /// One per pipe: flush requests; closed when the reader has seen EOF.
    readers: Vec<mpsc::Sender<Flush>>,
    output: Arc<Output>,
    /// The process group was sent SIGKILL.
    killed: bool,
    _dir: TempDir,
}

impl Environment {
    /// Starts an environment of `launch` (`id` names it in the log) and waits until its
    /// runtime has initialised (polled `/next`). Errors: [`Outcome::InitError`] (the runtime
    /// posted `/init/error`), [`Outcome::Exited`] (it died, could not be started, or its
    /// runtime is not supported), [`Outcome::Timeout`] (no `/next` within
    /// [`Launch::init_timeout`]; it is killed). The output printed during a failed start is
    /// lost: use [`Environment::start_logged`] to keep it.
    pub async fn start(launch: Launch, id: u64) -> Result<Environment, Outcome> {
        Self::start_logged(launch, id).await.map_err(|(o, _)| o)
    }

    /// [`Environment::start`], and on failure also the output the process printed (an import
    /// error's traceback, say). On success that output comes with the first invocation.
    pub async fn start_logged(launch: Launch, id: u64) -> Result<Environment, (Outcome, Vec<u8>)> {
        let fail = |why: String| (Outcome::Exited(why), Vec::new());
        let label = format!("{}:{} #{id}", launch.function, launch.version);
        if !launch.task_root.is_dir() {
            return Err(fail(format!(
                "the function's code directory {} does not exist",
                launch.task_root.display()
            )));
        }
        let plan = plan(&launch).await.map_err(fail)?;
        let dir = TempDir::create(id)
            .map_err(|e| fail(format!("cannot create the environment's temp dir: {e}")))?;
        let mut args = Vec::new();
        if let Some((name, text)) = plan.bootstrap {
            let file = dir.path().join(name);
            std::fs::write(&file, text)
                .map_err(|e| fail(format!("cannot write {}: {e}", file.display())))?;
            args.push(file);
        }
        let api = RuntimeApi::bind()
            .await
            .map_err(|e| fail(format!("cannot bind the Runtime API: {e}")))?;
        let env = environment(&launch, &plan, &dir, api.addr());

        let mut std_cmd = std::process::Command::new(&plan.program);
        std_cmd
            .args(&args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(&launch.task_root)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut cmd = Command::from(std_cmd);
        cmd.kill_on_drop(true);
        let mut child = spawn(&mut cmd, &plan).await.map_err(fail)?;

        let output = Arc::new(Output {
            label: label.clone(),
            buf: Mutex::new(Vec::new()),
        });
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(start_reader(stdout, &output));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(start_reader(stderr, &output));
        }
        let pgid = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        tracing::debug!(
            target: "edgestack::lambda",
            "{label}: started {} (pid {:?}, Runtime API {})",
            plan.program.display(),
            pgid,
            api.addr()
        );
        let (exit_tx, exit) = watch::channel(None);
        let waiter = tokio::spawn(wait(child, exit_tx));
        let mut env = Environment {
            id,
            label,
            api,
            pgid,
            exit,
            waiter,
            readers,
            output,
            killed: false,
            _dir: dir,
        };

        let mut exit = env.exit.clone();
        let started = tokio::select! {
            biased;
            ready = env.api.ready() => ready,
            why = exit.wait_for(Option::is_some) => Err(Outcome::Exited(
                why.ok().and_then(|w| w.clone()).unwrap_or_else(|| "the process vanished".into()),
            )),
            _ = tokio::time::sleep(launch.init_timeout) => Err(Outcome::Timeout),
        };
        match started {
            Ok(()) => Ok(env),
            Err(outcome) => {
                env.finish().await;
                let log = env.output.take();
                Err((outcome, log))
            }
        }
    }

    /// Runs one invocation to its end: the runtime's response or error, the process's exit
    /// ([`Outcome::Exited`]), or the deadline ([`Outcome::Timeout`]: the process group is
    /// killed). Also returns the output printed since the previous invocation ended (so the
    /// first one gets the init output), each line ending in `\n`, at most the last 1 MiB.
    ///
    /// If this future is dropped before it ends, the runtime may still be running the
    /// invocation: drop (or [`kill`](Environment::kill)) the environment rather than reuse it.
    pub async fn invoke(&mut self, invocation: Invocation) -> (Outcome, Vec<u8>) {
        if !self.is_alive() {
            let why = self
                .exit
                .borrow()
                .clone()
                .unwrap_or_else(|| "the environment was killed".into());
            return (Outcome::Exited(why), self.output.take());
        }
        enum End {
            Answer(Outcome),
            Exit(String),
            Timeout,
        }
        let mut reply = self.api.submit(&invocation);
        let mut exit = self.exit.clone();
        let end = tokio::select! {
            biased;
            answer = &mut reply => match answer {
                Ok(outcome) => End::Answer(outcome),
                Err(_) => End::Exit("the Runtime API closed".into()),
            },
            why = exit.wait_for(Option::is_some) => End::Exit(
                why.ok().and_then(|w| w.clone()).unwrap_or_else(|| "the process vanished".into()),
            ),
            _ = tokio::time::sleep(invocation.timeout) => End::Timeout,
        };
        let outcome = match end {
            End::Answer(outcome) => {
                self.flush().await;
                outcome
            }
            End::Exit(why) => {
                // An answer sent just before the exit still counts.
                let outcome = reply.try_recv().unwrap_or(Outcome::Exited(why));
                self.finish().await;
                outcome
            }
            End::Timeout => {
                tracing::debug!(
                    target: "edgestack::lambda",
                    "{}: {} timed out after {:?}",
                    self.label,
                    invocation.request_id,
                    invocation.timeout
                );
                self.finish().await;
                Outcome::Timeout
            }
        };
        (outcome, self.output.take())
    }

    /// The number the environment was started with.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The process's pid (also its process group), while it runs.
    pub fn pid(&self) -> Option<u32> {
        if self.killed || self.exit.borrow().is_some() {
            return None;
        }
        self.pgid.and_then(|p| u32::try_from(p.as_raw()).ok())
    }

    /// Whether the process still runs (not exited, not killed).
    pub fn is_alive(&self) -> bool {
        !self.killed && self.exit.borrow().is_none()
    }

    /// Kills the process group (`SIGKILL`). The environment is dead afterwards.
    pub fn kill(&mut self) {
        if !self.killed {
            self.killed = true;
            if let Some(pgid) = self.pgid {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
        }
        self.api.abandon();
    }

    /// Ends the environment after a failure: kills the group, waits (briefly) for the leader to
    /// be reaped and the pipes to close, so the output is complete.
    async fn finish(&mut self) {
        self.kill();
        let mut exit = self.exit.clone();
        let _ = tokio::time::timeout(EOF_WAIT, exit.wait_for(Option::is_some)).await;
        let readers = self.readers.clone();
        let closed = futures_util::future::join_all(readers.iter().map(|r| r.closed()));
        if tokio::time::timeout(EOF_WAIT, closed).await.is_err() {
            self.flush().await;
        }
    }

    /// Asks the readers to take in what the pipes hold now (what the process printed before it
    /// answered) and waits for them, briefly.
    async fn flush(&self) {
        let mut pending = Vec::new();
        for reader in &self.readers {
            let (tx, rx) = oneshot::channel();
            if reader.send(tx).await.is_ok() {
                pending.push(rx);
            }
        }
        let _ = tokio::time::timeout(FLUSH_WAIT, futures_util::future::join_all(pending)).await;
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        if !self.killed {
            self.killed = true;
            if let Some(pgid) = self.pgid {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
        }
        self.waiter.abort();
    }
}

fn start_reader<R: AsyncRead + Unpin + Send + 'static>(
    pipe: R,
    output: &Arc<Output>,
) -> mpsc::Sender<Flush> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(read_lines(pipe, output.clone(), rx));
    tx
}

/// Reaps the child and reports how it ended.
async fn wait(mut child: Child, exit: watch::Sender<Option<String>>) {
    let why = match child.wait().await {
        Ok(status) => describe(status),
        Err(e) => format!("cannot wait for the process: {e}"),
    };
    exit.send_replace(Some(why));
}

/// Spawns, retrying while the executable is busy (`ETXTBSY`: another thread of edgestack
/// forked while the file was open for writing, e.g. right after extraction).
async fn spawn(cmd: &mut Command, plan: &Plan) -> Result<Child, String> {
    let program = plan.program.display();
    let mut attempt = 0u32;
    loop {
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e)
                if e.raw_os_error() == Some(nix::errno::Errno::ETXTBSY as i32) && attempt < 10 =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(if plan.language == Language::Provided {
                    format!("cannot execute {program}: its interpreter (#! line) or loader was not found")
                } else {
                    format!("{program} not found")
                })
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(format!("cannot execute {program}: permission denied"))
            }
            Err(e) => return Err(format!("cannot start {program}: {e}")),
        }
    }
}
