//! Where the installed backends and the test Python are, as command lines ready to hand to a
//! managed backend (the port is left as the placeholder `{port}`).
//!
//! `scripts/install-deps` puts everything under the workspace: dynalite in
//! `.deps/dynalite`, s3rver and its launcher `run.js` in `.deps/s3rver`, DynamoDB Local in
//! `.deps/dynamodb-local`, moto_server and boto3 in `.venv`. Environment variables override
//! each location. When something is missing the caller panics with what is missing and the
//! command that installs it: a test that needs a backend never passes without one.

use std::path::{Path, PathBuf};

use crate::moto::workspace_root;

/// The command that installs every backend, named in the panics below.
const INSTALL: &str = "scripts/install-deps";

/// Panics with what is missing and how to install it.
fn missing(what: &str, looked_at: &Path, env: &str) -> ! {
    panic!(
        "{what} not found at {} (set ${env} to override).\n\
         Install it with:  {INSTALL}   (from the workspace root {})",
        looked_at.display(),
        workspace_root().display()
    );
}

/// The path as a string for an argv (the workspace lives at a UTF-8 path in practice).
fn arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// dynalite's `cli.js`: `$EDGESTACK_DYNALITE`, else
/// `<workspace>/.deps/dynalite/node_modules/dynalite/cli.js`. Panics when it does not exist.
pub fn dynalite_cli() -> PathBuf {
    let p = std::env::var_os("EDGESTACK_DYNALITE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".deps/dynalite/node_modules/dynalite/cli.js"));
    if !p.is_file() {
        missing("dynalite (cli.js)", &p, "EDGESTACK_DYNALITE");
    }
    p
}

/// The s3rver launcher `run.js` that `scripts/install-deps` writes: `$EDGESTACK_S3RVER`, else
/// `<workspace>/.deps/s3rver/run.js`. Panics when it does not exist.
///
/// `node run.js HOST PORT [DATA_DIR]` starts s3rver 3.7.1 with the access key pair test/test
/// registered (as well as s3rver's own S3RVER/S3RVER) and prints
/// `s3rver listening on HOST:PORT (...)` once it accepts connections. Without `DATA_DIR` it
/// uses a fresh temporary directory, removed on exit (s3rver has no in-memory store).
pub fn s3rver_run_js() -> PathBuf {
    let p = std::env::var_os("EDGESTACK_S3RVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".deps/s3rver/run.js"));
    if !p.is_file() {
        missing("s3rver (run.js)", &p, "EDGESTACK_S3RVER");
    }
    p
}

/// The folder with `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`: `$EDGESTACK_DYNAMODB_LOCAL`,
/// else `<workspace>/.deps/dynamodb-local`. Panics when either is missing.
pub fn dynamodb_local_dir() -> PathBuf {
    let dir = std::env::var_os("EDGESTACK_DYNAMODB_LOCAL")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".deps/dynamodb-local"));
    let jar = dir.join("DynamoDBLocal.jar");
    if !jar.is_file() {
        missing(
            "DynamoDB Local (DynamoDBLocal.jar)",
            &jar,
            "EDGESTACK_DYNAMODB_LOCAL",
        );
    }
    let lib = dir.join("DynamoDBLocal_lib");
    if !lib.is_dir() {
        missing(
            "DynamoDB Local's native libraries (DynamoDBLocal_lib/)",
            &lib,
            "EDGESTACK_DYNAMODB_LOCAL",
        );
    }
    dir
}

/// argv to run dynalite on 127.0.0.1:{port} in memory, as a managed backend command
/// (`{port}` left as a placeholder). Tables become ACTIVE (and go away) at once. dynalite is
/// preloaded with `testkit/dynalite-keep-running.js`, so a client that aborts a request
/// does not kill it (dynalite 4.0.0 throws on that).
pub fn dynalite_command() -> Vec<String> {
    let cli = dynalite_cli();
    let keep_running = Path::new(env!("CARGO_MANIFEST_DIR")).join("dynalite-keep-running.js");
    [
        "node",
        "-r",
        &arg(&keep_running),
        &arg(&cli),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--createTableMs",
        "0",
        "--deleteTableMs",
        "0",
        "--updateTableMs",
        "0",
    ]
    .map(String::from)
    .to_vec()
}

/// argv to run s3rver on 127.0.0.1:{port} as a managed backend command (`{port}` left as a
/// placeholder), keeping objects in `data_dir` (created when missing, kept afterwards; give
/// each test its own fresh directory). Ready once a TCP connect succeeds (about 0.3 s).
///
/// Sign with key ID `test` (or `S3RVER`), any secret: SigV4 signatures are not checked (and
/// unsigned requests are accepted). Path-style requests work; virtual-host requests only for
/// `Host: BUCKET.s3[.REGION].amazonaws.com` (any other name that is neither an IP address nor
/// `localhost` is taken as the bucket name itself).
pub fn s3rver_command(data_dir: &Path) -> Vec<String> {
    let run_js = s3rver_run_js();
    vec![
        "node".into(),
        arg(&run_js),
        "127.0.0.1".into(),
        "{port}".into(),
        arg(data_dir),
    ]
}

/// argv to run DynamoDB Local in memory on {port} (binds every interface, no option to limit
/// it). Needs `java` >= 17 on PATH; it takes about 2 s to start.
pub fn dynamodb_local_command() -> Vec<String> {
    let dir = dynamodb_local_dir();
    vec![
        "java".into(),
        format!(
            "-Djava.library.path={}",
            arg(&dir.join("DynamoDBLocal_lib"))
        ),
        "-jar".into(),
        arg(&dir.join("DynamoDBLocal.jar")),
        "-inMemory".into(),
        "-sharedDb".into(),
        "-disableTelemetry".into(),
        "-port".into(),
        "{port}".into(),
    ]
}

/// argv for moto_server on 127.0.0.1:{port}, found like [`crate::MotoServer`] finds it
/// (`$MOTO_SERVER`, `<workspace>/.venv/bin/moto_server`, `PATH`; panics when missing).
pub fn moto_command() -> Vec<String> {
    let bin = crate::moto::moto_server_path();
    if !bin.is_file() {
        panic!(
            "moto_server not found at {} (from $MOTO_SERVER).\nInstall it with:  {INSTALL}",
            bin.display()
        );
    }
    vec![
        arg(&bin),
        "-H".into(),
        "127.0.0.1".into(),
        "-p".into(),
        "{port}".into(),
    ]
}

/// The Python with boto3: `$EDGESTACK_PYTHON`, else `<workspace>/.venv/bin/python`. Panics
/// when it does not exist (whether boto3 imports is left to the script that runs).
pub fn python() -> PathBuf {
    let p = std::env::var_os("EDGESTACK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    if !p.exists() {
        missing("Python with boto3", &p, "EDGESTACK_PYTHON");
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynalite_command_points_at_cli_js() {
        let argv = dynalite_command();
        assert_eq!(argv[..2], ["node", "-r"]);
        assert!(
            argv[2].ends_with("dynalite-keep-running.js") && Path::new(&argv[2]).is_file(),
            "{argv:?}"
        );
        assert!(
            argv[3].ends_with("cli.js") && Path::new(&argv[3]).is_file(),
            "{argv:?}"
        );
        assert!(Path::new(&argv[3]).is_absolute());
        assert!(argv.iter().any(|a| a == "{port}"));
    }

    #[test]
    fn s3rver_command_points_at_run_js() {
        let data = std::env::temp_dir().join("edgestack-s3rver-data");
        let argv = s3rver_command(&data);
        assert_eq!(argv[0], "node");
        assert!(
            argv[1].ends_with("run.js") && Path::new(&argv[1]).is_file(),
            "{argv:?}"
        );
        assert!(Path::new(&argv[1]).is_absolute());
        assert_eq!(&argv[2..4], ["127.0.0.1", "{port}"]);
        assert_eq!(Path::new(&argv[4]), data.as_path());
    }

    #[test]
    fn dynamodb_local_command_points_at_jar_and_libs() {
        let argv = dynamodb_local_command();
        assert_eq!(argv[0], "java");
        let lib = argv[1]
            .strip_prefix("-Djava.library.path=")
            .expect("library path");
        assert!(Path::new(lib).is_dir(), "{argv:?}");
        assert_eq!(argv[2], "-jar");
        assert!(Path::new(&argv[3]).is_file() && argv[3].ends_with("DynamoDBLocal.jar"));
        assert_eq!(argv.last().map(String::as_str), Some("{port}"));
    }

    #[test]
    fn moto_command_points_at_moto_server() {
        let argv = moto_command();
        assert!(Path::new(&argv[0]).is_file(), "{argv:?}");
        assert_eq!(&argv[1..], ["-H", "127.0.0.1", "-p", "{port}"]);
    }

    #[test]
    fn python_exists() {
        assert!(python().exists());
    }
}
