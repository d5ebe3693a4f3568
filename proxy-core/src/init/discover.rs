//! Which files are init scripts, in which order, and how each one is run.
//!
//! For each init directory in turn, each stage directory (`boot.d`, ...) is walked the way
//! LocalStack's `os.walk(topdown=True)` with sorted names walks it: the directory's files
//! sorted by name (bytewise), then each subdirectory, sorted, the same way. A file is a
//! script when a [`Runner`] fits it; other files are skipped (logged at DEBUG).

use std::{
    fs,
    io::Read,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use super::{Script, Stage, LOG_TARGET};

/// How a script is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// Executed directly (an executable file: its `#!` line, or a binary).
    Direct,
    /// `sh <file>`: a `.sh` file that is not executable or has no `#!` line.
    Sh,
    /// `python3 <file>`: a `.py` file that is not executable or has no `#!` line.
    Python,
}

impl Runner {
    /// The runner for the file at `path`, if it is a script: `.sh` and `.py` files always are
    /// (run directly when executable with a `#!` line, else through `sh` / `python3`), other
    /// files only when executable.
    pub fn for_file(path: &Path) -> Option<Runner> {
        let meta = fs::metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        let executable = meta.permissions().mode() & 0o111 != 0;
        let by_suffix = match path.extension().and_then(|e| e.to_str()) {
            Some("sh") => Some(Runner::Sh),
            Some("py") => Some(Runner::Python),
            _ => None,
        };
        match by_suffix {
            Some(_) if executable && has_shebang(path) => Some(Runner::Direct),
            Some(r) => Some(r),
            None if executable => Some(Runner::Direct),
            None => None,
        }
    }

    /// The program and arguments that run `path`.
    pub fn command(&self, path: &Path) -> (PathBuf, Vec<PathBuf>) {
        match self {
            Runner::Direct => (path.to_path_buf(), Vec::new()),
            Runner::Sh => (PathBuf::from("sh"), vec![path.to_path_buf()]),
            Runner::Python => (PathBuf::from("python3"), vec![path.to_path_buf()]),
        }
    }
}

/// True when the file starts with `#!`.
fn has_shebang(path: &Path) -> bool {
    let mut head = [0u8; 2];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"#!"
}

/// Every script of every stage under `roots` (init directories, each holding `boot.d/` and
/// the others), stage by stage, each stage's in the order they run: the first root's, then
/// the next one's, each in LocalStack's walk order.
pub fn discover(roots: &[&Path]) -> Vec<Script> {
    let mut scripts = Vec::new();
    for stage in Stage::ALL {
        for root in roots {
            let dir = root.join(stage.dir_name());
            if dir.is_dir() {
                walk(&dir, stage, &mut scripts);
            }
        }
    }
    scripts
}

/// Adds the scripts of `dir` (files first, sorted), then of its subdirectories (sorted).
fn walk(dir: &Path, stage: Stage, out: &mut Vec<Script>) {
    let Ok(entries) = fs::read_dir(dir) else {
        tracing::warn!(target: LOG_TARGET, "init: cannot read {}", dir.display());
        return;
    };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        // Follows symbolic links, as LocalStack's isdir/isfile do.
        if path.is_dir() {
            dirs.push(path);
        } else {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    dirs.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    for path in files {
        match Runner::for_file(&path) {
            Some(runner) => out.push(Script {
                stage,
                path,
                runner,
            }),
            None => tracing::debug!(
                target: LOG_TARGET,
                "init {stage}: skipping {} (not .sh, .py or executable)",
                path.display()
            ),
        }
    }
    for d in dirs {
        walk(&d, stage, out);
    }
}
