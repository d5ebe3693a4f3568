//! One execution environment: a function's process, started with its own loopback Lambda
//! Runtime API listener, running one invocation at a time.
//!
//! - [`api`]: the Runtime API (`/2018-06-01/runtime/...`) one process talks to;
//! - [`process`]: how each runtime is started (python3, node, `provided`'s `bootstrap`), its
//!   environment, and its output read line by line;
//! - the bootstraps edgestack ships for python and node (`bootstrap.py`, `bootstrap.mjs`).
//!
//! The pool ([`crate::pool`]) decides which environment runs an invocation; an environment
//! only knows how to start, run one invocation to its end, and die.

pub mod api;
pub mod process;

use std::{path::PathBuf, time::Duration};

use bytes::Bytes;

pub use process::Environment;

/// Everything needed to start one environment of a function.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The function's name (log lines, `AWS_LAMBDA_FUNCTION_NAME` is in `env` already).
    pub function: String,
    /// The version run (`$LATEST`, `3`).
    pub version: String,
    /// The function's `Runtime` (`python3.12`, `nodejs20.x`, `provided.al2023`).
    pub runtime: String,
    /// The function's `Handler` (`app.handler`; unused by `provided`).
    pub handler: String,
    /// The extracted code (`LAMBDA_TASK_ROOT`, the working directory).
    pub task_root: PathBuf,
    /// The merged layers (what AWS mounts at `/opt`), if the function has layers.
    pub opt_dir: Option<PathBuf>,
    /// The environment, complete (reserved variables and the function's own), except
    /// `AWS_LAMBDA_RUNTIME_API`, `_HANDLER`, `LAMBDA_TASK_ROOT`, `PATH`, `LD_LIBRARY_PATH`,
    /// `PYTHONPATH`, `NODE_PATH` and `TMPDIR`/`HOME`, which the environment sets itself.
    pub env: Vec<(String, String)>,
    /// The python interpreter to run python functions with (`python3`).
    pub python: String,
    /// The node binary to run node functions with (`node`).
    pub node: String,
    /// How long the process may take from spawn to its first `/next` (AWS: 10 s).
    pub init_timeout: Duration,
}

/// One invocation, as the Runtime API hands it to the function.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
    /// The function's timeout: the invocation ends with [`Outcome::Timeout`] after it.
    pub timeout: Duration,
    /// `Lambda-Runtime-Invoked-Function-Arn` (with the qualifier as invoked).
    pub invoked_arn: String,
    /// `Lambda-Runtime-Client-Context`: the decoded JSON of `X-Amz-Client-Context`.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: Option<String>,
}

/// How an invocation (or an environment's start) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function's result (`POST .../response`).
    Response(Bytes),
    /// The function failed (`POST .../error`): its error document and the
    /// `Lambda-Runtime-Function-Error-Type` header, if any. The environment stays usable.
    Error {
        /// The error JSON as the runtime sent it.
        body: Bytes,
        /// The error-type header.
        error_type: Option<String>,
    },
    /// The runtime could not initialise (`POST /runtime/init/error`); the process is gone.
    InitError {
        /// The error JSON as the runtime sent it.
        body: Bytes,
        /// The error-type header.
        error_type: Option<String>,
    },
    /// The deadline passed; the process group was killed.
    Timeout,
    /// The process exited (or could not be started): `exit status 1`, `signal: 9 (SIGKILL)`,
    /// or why it could not start.
    Exited(String),
    /// The result was larger than 6,291,556 bytes.
    ResponseTooLarge,
}

/// The most a result may be (AWS: 6 MiB and 100 bytes).
pub const MAX_RESPONSE: usize = 6 * 1024 * 1024 + 100;
