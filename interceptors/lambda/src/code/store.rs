//! The code cache: captured zips by hash, their extracted trees, merged layer trees.
//!
//! The backend cannot hand code back, so the edge keeps a copy of every zip it sees on disk,
//! keyed by the `CodeSha256` Lambda reports (base64 of the SHA-256), and extracts each one
//! once, the first time a function using it is invoked. Layout under the root directory
//! ([`default_dir`] unless configured):
//!
//! ```text
//! zip/<hex sha256>.zip        the captured zip, as uploaded
//! code/<hex sha256>/          its extracted tree (a function's task dir, or a layer)
//! opt/<hex sha256 of list>/   the layers of one function merged, in order (its /opt)
//! ```
//!
//! Everything lands under its final name by a rename from a temporary name beside it, so a
//! reader never sees a half-written zip or a half-extracted tree, even across processes
//! sharing the cache. Within a process, callers asking for the same tree at the same time
//! wait on a per-tree lock and the tree is built once.
//!
//! Extraction is guarded against hostile archives:
//!
//! - entries with an absolute path, a `..` component or a NUL byte are refused
//!   ([`CodeError::UnsafePath`]);
//! - symlinks are kept only when relative and pointing inside the tree (leading `..`
//!   components that stay within it, then plain names); others (absolute targets, escaping or
//!   convoluted ones) are **skipped** with a warning, not refused, as such links are common in
//!   real packages and harmless when left out. Symlinks are created after every file and
//!   directory, so no entry is ever written through one;
//! - more than [`Limits::max_entries`] entries or more than [`Limits::max_unzipped_bytes`]
//!   bytes once unzipped (counted as written, not trusted from the headers) are refused
//!   ([`CodeError::TooManyEntries`], [`CodeError::TooLarge`]): AWS's 250 MiB unzipped limit and a
//!   zip-bomb guard.
//!
//! Unix permission bits are kept from the zip (files 0644 and directories 0755 when it has
//! none; setuid, setgid and sticky bits dropped); the owner always keeps read access (and
//! write/search on directories) so the cache can be merged and cleaned. A top-level `bootstrap`
//! file is always made executable (mode | 0755). Trees are not made read-only.
//!
//! Temporary names (`.tmp-*`) left behind by a crash are removed by [`CodeStore::open`] once
//! they are an hour old.
//!
//! All methods block (file I/O, decompression): async callers run them in
//! `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// AWS's limit on a function's (or layer's) unzipped size: 250 MiB.
pub const MAX_UNZIPPED_BYTES: u64 = 250 * 1024 * 1024;

/// The most entries an archive may have before it is taken for a zip bomb.
pub const MAX_ENTRIES: usize = 20_000;

/// The longest symlink target read from an archive.
const MAX_SYMLINK_TARGET: u64 = 4096;

/// Age after which a temporary name is taken for a crash's leftover.
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// File type bits of a unix mode, and the symlink type.
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// Bounds on what one archive may extract to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of all files once unzipped. Default [`MAX_UNZIPPED_BYTES`].
    pub max_unzipped_bytes: u64,
    /// Entries (files, directories, symlinks) in the archive. Default [`MAX_ENTRIES`].
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_unzipped_bytes: MAX_UNZIPPED_BYTES,
            max_entries: MAX_ENTRIES,
        }
    }
}

/// What can go wrong keeping or extracting code.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// A cache directory could not be created.
    #[error("cannot create the Lambda code cache directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading or writing a file of the cache failed.
    #[error("Lambda code cache: cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `rename`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The bytes given as code are not a zip archive that can be read.
    #[error("the code is not a readable zip archive: {0}")]
    NotAZip(#[source] zip::result::ZipError),
    /// A captured zip could not be extracted (corrupt entry, unsupported compression,
    /// encryption, a file where a directory is needed, ...).
    #[error("cannot extract the code with CodeSha256 {code_sha256}: {reason}")]
    Corrupt {
        /// The code's `CodeSha256`.
        code_sha256: String,
        /// What went wrong.
        reason: String,
    },
    /// No zip with this `CodeSha256` was captured by edgestack.
    #[error(
        "no code with CodeSha256 {0} was captured by edgestack (was the function or layer \
         created before edgestack started, or inside the backend, e.g. by CloudFormation? \
         update its code through edgestack)"
    )]
    Missing(String),
    /// The string given as a `CodeSha256` is not the base64 of a SHA-256.
    #[error("{0:?} is not a CodeSha256 (base64 of a SHA-256 digest)")]
    InvalidSha256(String),
    /// An entry would land outside the extracted tree.
    #[error(
        "refusing to extract the code with CodeSha256 {code_sha256}: entry {name:?} has an \
         absolute path or a `..` component"
    )]
    UnsafePath {
        /// The code's `CodeSha256`.
        code_sha256: String,
        /// The entry's name as the archive gives it.
        name: String,
    },
    /// The archive unzips to more than the limit.
    #[error(
        "refusing to extract the code with CodeSha256 {code_sha256}: it unzips to more than \
         {limit} bytes (Lambda's unzipped size limit is 250 MiB)"
    )]
    TooLarge {
        /// The code's `CodeSha256`.
        code_sha256: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The archive has more entries than the limit.
    #[error(
        "refusing to extract the code with CodeSha256 {code_sha256}: it has {entries} entries, \
         more than the limit of {limit}"
    )]
    TooManyEntries {
        /// The code's `CodeSha256`.
        code_sha256: String,
        /// Entries in the archive.
        entries: usize,
        /// The limit.
        limit: usize,
    },
}

/// The code cache directory: where the captured zips and extracted trees live.
///
/// Cheap to clone (the clones share one state) and safe to use from several threads at once.
#[derive(Debug, Clone)]
pub struct CodeStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    limits: Limits,
    /// One lock per tree being built (`code/<hex>`, `opt/<hex>`); entries removed when unused.
    building: Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>,
    /// Makes temporary names unique within this process (the pid across processes).
    temp_counter: AtomicU64,
}

/// The default cache directory: `$XDG_CACHE_HOME/edgestack/lambda`, else
/// `$HOME/.cache/edgestack/lambda`, else `<temp dir>/edgestack-lambda`.
///
/// Reads the process environment (`XDG_CACHE_HOME` is used only when absolute, as the XDG
/// spec says; empty variables count as unset).
pub fn default_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(xdg) = var("XDG_CACHE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return xdg.join("edgestack").join("lambda");
        }
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home)
            .join(".cache")
            .join("edgestack")
            .join("lambda");
    }
    std::env::temp_dir().join("edgestack-lambda")
}

impl CodeStore {
    /// Opens (creating as needed) the cache under `root`, with the default [`Limits`].
    ///
    /// Fails with [`CodeError::CreateDir`], naming the directory, when `root/zip`, `root/code`
    /// or `root/opt` cannot be created. Removes temporary names a crash left behind.
    pub fn open(root: impl Into<PathBuf>) -> Result<CodeStore, CodeError> {
        Self::open_with_limits(root, Limits::default())
    }

    /// Opens (creating as needed) the cache under `root`, extracting within `limits`.
    pub fn open_with_limits(
        root: impl Into<PathBuf>,
        limits: Limits,
    ) -> Result<CodeStore, CodeError> {
        let root = root.into();
        for dir in [root.join("zip"), root.join("code"), root.join("opt")] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&dir)
                .map_err(|source| CodeError::CreateDir {
                    path: dir.clone(),
                    source,
                })?;
            sweep_stale_temps(&dir);
        }
        Ok(CodeStore {
            inner: Arc::new(Inner {
                root,
                limits,
                building: Mutex::new(HashMap::new()),
                temp_counter: AtomicU64::new(0),
            }),
        })
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The limits extraction works within.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Keeps a zip (as `zip/<hex sha256>.zip`) and returns its `CodeSha256` (base64).
    ///
    /// Refuses bytes that are not a readable zip ([`CodeError::NotAZip`]). Idempotent: a zip
    /// already kept is not written again.
    pub fn put_zip(&self, bytes: &[u8]) -> Result<String, CodeError> {
        zip::ZipArchive::new(io::Cursor::new(bytes)).map_err(CodeError::NotAZip)?;
        let digest = Sha256::digest(bytes);
        let sha = base64::engine::general_purpose::STANDARD.encode(digest);
        let path = self.zip_path(&hex::encode(digest));
        if path.is_file() {
            return Ok(sha);
        }
        let temp = self.temp_path(&path);
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)
            .and_then(|mut file| {
                file.write_all(bytes)?;
                file.sync_all()
            });
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_error("write", &temp, source));
        }
        if let Err(source) = fs::rename(&temp, &path) {
            let _ = fs::remove_file(&temp);
            return Err(io_error("rename into place", &path, source));
        }
        Ok(sha)
    }

    /// Whether a zip with this `CodeSha256` was captured.
    pub fn contains(&self, code_sha256: &str) -> bool {
        hex_of(code_sha256).is_ok_and(|hex| self.zip_path(&hex).is_file())
    }

    /// The extracted tree of the zip with this `CodeSha256` (`code/<hex>/`), extracting it the
    /// first time.
    ///
    /// [`CodeError::Missing`] when no such zip was captured. Concurrent callers for one hash
    /// wait for a single extraction and all get the complete tree.
    pub fn extracted(&self, code_sha256: &str) -> Result<PathBuf, CodeError> {
        let hex = hex_of(code_sha256)?;
        let dir = self.inner.root.join("code").join(&hex);
        if dir.is_dir() {
            return Ok(dir);
        }
        let zip_path = self.zip_path(&hex);
        if !zip_path.is_file() {
            return Err(CodeError::Missing(code_sha256.to_owned()));
        }
        self.build_once(&dir, |temp| self.extract(code_sha256, &zip_path, temp))?;
        Ok(dir)
    }

    /// The merged tree of a function's layers (its `/opt`), built the first time:
    /// `opt/<hex sha256 of the list>/`.
    ///
    /// `None` for no layers. Each layer's extracted tree is laid down in order, later layers
    /// replacing what earlier ones put at the same path, as AWS does under `/opt`. Files are
    /// hard-linked from the layers' trees where the file system allows it, else copied.
    pub fn opt_dir(&self, layer_sha256s: &[String]) -> Result<Option<PathBuf>, CodeError> {
        if layer_sha256s.is_empty() {
            return Ok(None);
        }
        let mut hexes = Vec::with_capacity(layer_sha256s.len());
        for sha in layer_sha256s {
            hexes.push(hex_of(sha)?);
        }
        let key = hex::encode(Sha256::digest(hexes.join("\n").as_bytes()));
        let dir = self.inner.root.join("opt").join(key);
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        let layers = layer_sha256s
            .iter()
            .map(|sha| self.extracted(sha))
            .collect::<Result<Vec<_>, _>>()?;
        self.build_once(&dir, |temp| {
            create_dir(temp, 0o755)?;
            layers.iter().try_for_each(|layer| merge_tree(layer, temp))
        })?;
        Ok(Some(dir))
    }

    fn zip_path(&self, hex: &str) -> PathBuf {
        self.inner.root.join("zip").join(format!("{hex}.zip"))
    }

    /// A fresh name beside `path`, unique across threads and processes.
    fn temp_path(&self, path: &Path) -> PathBuf {
        let n = self.inner.temp_counter.fetch_add(1, Ordering::Relaxed);
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!(".tmp-{name}-{}-{n}", std::process::id()))
    }

    /// Builds the directory `dir` once: under a per-`dir` lock, if it still does not exist,
    /// `build` fills a temporary directory beside it which is then renamed to `dir`.
    fn build_once(
        &self,
        dir: &Path,
        build: impl FnOnce(&Path) -> Result<(), CodeError>,
    ) -> Result<(), CodeError> {
        let tree_lock = {
            let mut building = lock(&self.inner.building);
            Arc::clone(building.entry(dir.to_path_buf()).or_default())
        };
        let result = {
            let _guard = lock(&tree_lock);
            if dir.is_dir() {
                Ok(())
            } else {
                let temp = self.temp_path(dir);
                let built = build(&temp).and_then(|()| match fs::rename(&temp, dir) {
                    Ok(()) => Ok(()),
                    // Another process built it meanwhile: theirs is as good as ours.
                    Err(_) if dir.is_dir() => {
                        let _ = fs::remove_dir_all(&temp);
                        Ok(())
                    }
                    Err(source) => Err(io_error("rename into place", dir, source)),
                });
                if built.is_err() {
                    let _ = fs::remove_dir_all(&temp);
                }
                built
            }
        };
        // Forget the lock when nobody else holds or waits for it.
        let mut building = lock(&self.inner.building);
        if Arc::strong_count(&tree_lock) == 2 {
            building.remove(dir);
        }
        result
    }

    /// Extracts the zip at `zip_path` into the new directory `dest`.
    fn extract(&self, code_sha256: &str, zip_path: &Path, dest: &Path) -> Result<(), CodeError> {
        let limits = self.inner.limits;
        let corrupt = |reason: String| CodeError::Corrupt {
            code_sha256: code_sha256.to_owned(),
            reason,
        };
        let too_large = || CodeError::TooLarge {
            code_sha256: code_sha256.to_owned(),
            limit: limits.max_unzipped_bytes,
        };

        let file = fs::File::open(zip_path).map_err(|e| io_error("open", zip_path, e))?;
        let mut archive = zip::ZipArchive::new(io::BufReader::new(file))
            .map_err(|e| corrupt(format!("not a readable zip archive: {e}")))?;
        if archive.len() > limits.max_entries {
            return Err(CodeError::TooManyEntries {
                code_sha256: code_sha256.to_owned(),
                entries: archive.len(),
                limit: limits.max_entries,
            });
        }
        // Cheap early refusal from the declared sizes; the real count is kept while writing.
        let mut declared = 0u64;
        for index in 0..archive.len() {
            let entry = archive
                .by_index_raw(index)
                .map_err(|e| corrupt(format!("entry #{index}: {e}")))?;
            declared = declared.saturating_add(entry.size());
        }
        if declared > limits.max_unzipped_bytes {
            return Err(too_large());
        }

        create_dir(dest, 0o755)?;
        let mut remaining = limits.max_unzipped_bytes;
        let mut symlinks = Vec::new();
        for index in 0..archive.len() {
            let mut entry = archive
                .by_index(index)
                .map_err(|e| corrupt(format!("entry #{index}: {e}")))?;
            let name = entry.name().to_owned();
            let Some(relative) = safe_relative_path(&name, entry.enclosed_name()) else {
                return Err(CodeError::UnsafePath {
                    code_sha256: code_sha256.to_owned(),
                    name,
                });
            };
            if relative.as_os_str().is_empty() {
                continue; // "./" and the like
            }
            let path = dest.join(&relative);
            let mode = entry.unix_mode().filter(|mode| mode & 0o777 != 0);

            if entry.is_dir() {
                create_dir_all(&path)?;
                set_mode(&path, mode.unwrap_or(0o755) & 0o777 | 0o700)?;
            } else if mode.is_some_and(|mode| mode & S_IFMT == S_IFLNK) {
                let mut target = Vec::new();
                (&mut entry)
                    .take(MAX_SYMLINK_TARGET)
                    .read_to_end(&mut target)
                    .map_err(|e| corrupt(format!("entry {name:?}: {e}")))?;
                symlinks.push((relative, target));
            } else {
                if let Some(parent) = path.parent() {
                    create_dir_all(parent)?;
                }
                let top_level_bootstrap = relative == Path::new("bootstrap");
                let mut mode = mode.unwrap_or(0o644) & 0o777 | 0o400;
                if top_level_bootstrap {
                    mode |= 0o755;
                }
                // A duplicate entry replaces the earlier one; a directory stays in the way.
                match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.is_dir() => {
                        return Err(corrupt(format!(
                            "entry {name:?} is a file where a directory was extracted"
                        )))
                    }
                    Ok(_) => fs::remove_file(&path).map_err(|e| io_error("replace", &path, e))?,
                    Err(_) => {}
                }
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(|e| io_error("create", &path, e))?;
                let written = io::copy(
                    &mut (&mut entry).take(remaining.saturating_add(1)),
                    &mut out,
                )
                .map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                        corrupt(format!("entry {name:?}: {e}"))
                    }
                    _ => io_error("write", &path, e),
                })?;
                if written > remaining {
                    return Err(too_large());
                }
                remaining -= written;
                drop(out);
                set_mode(&path, mode)?;
            }
        }

        for (relative, target) in symlinks {
            make_symlink(dest, &relative, &target)?;
        }
        Ok(())
    }
}

/// The entry's path relative to the tree, or `None` when it is absolute or has a `..`
/// component (refused even when it would stay inside: no normal archive needs one).
fn safe_relative_path(name: &str, enclosed: Option<PathBuf>) -> Option<PathBuf> {
    let enclosed = enclosed?;
    if name.starts_with(['/', '\\']) || name.split(['/', '\\']).any(|part| part == "..") {
        return None;
    }
    // Drive letters (`C:`), in case the zip was made on Windows.
    if name.as_bytes().get(1) == Some(&b':') {
        return None;
    }
    enclosed
        .components()
        .all(|component| matches!(component, Component::Normal(_)))
        .then_some(enclosed)
}

/// Creates the symlink `dest/relative` → `target` if `target` stays within `dest`; otherwise
/// (or when a directory is in the way, or the link would sit below another symlink) skips it
/// with a warning.
fn make_symlink(dest: &Path, relative: &Path, target: &[u8]) -> Result<(), CodeError> {
    let skip = |why: &str| {
        tracing::warn!(
            link = %relative.display(),
            target = %String::from_utf8_lossy(target),
            "lambda code: skipping symlink: {why}"
        );
        Ok(())
    };
    let Ok(target) = std::str::from_utf8(target) else {
        return skip("target is not UTF-8");
    };
    let target = Path::new(target);
    // Depth of the directory holding the link, below `dest`.
    let depth = relative.components().count().saturating_sub(1);
    let mut ups = 0;
    let mut seen_name = false;
    for component in target.components() {
        match component {
            Component::ParentDir if !seen_name => ups += 1,
            Component::Normal(_) => seen_name = true,
            Component::CurDir => {}
            _ => return skip("target is absolute or not of the form ../../name/name"),
        }
    }
    if ups > depth || target.as_os_str().is_empty() {
        return skip("target is outside the extracted tree");
    }
    // Every directory above the link must be a real one, not a link created earlier.
    let mut ancestor = dest.to_path_buf();
    let parents: Vec<_> = relative.components().collect();
    for component in &parents[..parents.len().saturating_sub(1)] {
        ancestor.push(component);
        match fs::symlink_metadata(&ancestor) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return skip("a parent directory is a symlink or a file"),
            Err(_) => create_dir(&ancestor, 0o755)?,
        }
    }
    let path = dest.join(relative);
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => return skip("a directory is in the way"),
        Ok(_) => fs::remove_file(&path).map_err(|e| io_error("replace", &path, e))?,
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, &path).map_err(|e| io_error("create symlink", &path, e))
}

/// Lays the tree `src` over `dest`: directories merged, anything else replacing what is there.
/// Symlinks are copied as symlinks (never followed).
fn merge_tree(src: &Path, dest: &Path) -> Result<(), CodeError> {
    let mut pending = vec![(src.to_path_buf(), dest.to_path_buf())];
    while let Some((from_dir, to_dir)) = pending.pop() {
        let entries = fs::read_dir(&from_dir).map_err(|e| io_error("read", &from_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error("read", &from_dir, e))?;
            let from = entry.path();
            let to = to_dir.join(entry.file_name());
            let meta = fs::symlink_metadata(&from).map_err(|e| io_error("read", &from, e))?;
            let existing = fs::symlink_metadata(&to).ok();
            if meta.is_dir() {
                match existing {
                    Some(existing) if existing.is_dir() => {}
                    Some(_) => {
                        fs::remove_file(&to).map_err(|e| io_error("replace", &to, e))?;
                        create_dir(&to, meta.permissions().mode())?;
                    }
                    None => create_dir(&to, meta.permissions().mode())?,
                }
                set_mode(&to, meta.permissions().mode() & 0o777)?;
                pending.push((from, to));
                continue;
            }
            match existing {
                Some(existing) if existing.is_dir() => {
                    fs::remove_dir_all(&to).map_err(|e| io_error("replace", &to, e))?
                }
                Some(_) => fs::remove_file(&to).map_err(|e| io_error("replace", &to, e))?,
                None => {}
            }
            if meta.file_type().is_symlink() {
                let target = fs::read_link(&from).map_err(|e| io_error("read", &from, e))?;
                std::os::unix::fs::symlink(target, &to)
                    .map_err(|e| io_error("create symlink", &to, e))?;
            } else if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).map_err(|e| io_error("copy", &to, e))?;
            }
        }
    }
    Ok(())
}

/// Removes `.tmp-*` entries of `dir` older than [`STALE_TEMP_AGE`] (best effort: a younger one
/// may be another process's work in progress).
fn sweep_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(".tmp-") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let stale = meta
            .modified()
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if stale {
            let path = entry.path();
            let removed = if meta.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {
                    tracing::debug!(path = %path.display(), "lambda code: removed a stale temporary")
                }
                Err(e) => {
                    tracing::debug!(path = %path.display(), "lambda code: cannot remove a stale temporary: {e}")
                }
            }
        }
    }
}

/// The hex digest in a `CodeSha256` (base64 of a SHA-256).
fn hex_of(code_sha256: &str) -> Result<String, CodeError> {
    base64::engine::general_purpose::STANDARD
        .decode(code_sha256)
        .ok()
        .filter(|digest| digest.len() == 32)
        .map(hex::encode)
        .ok_or_else(|| CodeError::InvalidSha256(code_sha256.to_owned()))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> CodeError {
    CodeError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn create_dir(path: &Path, mode: u32) -> Result<(), CodeError> {
    fs::DirBuilder::new()
        .mode(mode & 0o777 | 0o700)
        .create(path)
        .map_err(|e| io_error("create directory", path, e))
}

fn create_dir_all(path: &Path) -> Result<(), CodeError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| io_error("create directory", path, e))
}

fn set_mode(path: &Path, mode: u32) -> Result<(), CodeError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| io_error("set the mode of", path, e))
}

/// Locks a mutex, going on after a panic elsewhere (the data are plain maps and unit).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::capture::code_sha256;
    use std::io::Cursor;
    use zip::write::SimpleFileOptions;

    /// What an entry of a test zip is.
    enum Item<'a> {
        /// A file with an explicit mode.
        File(&'a str, &'a [u8], u32),
        /// A file the archive gives no mode for.
        FileNoMode(&'a str, &'a [u8]),
        Dir(&'a str),
        Symlink(&'a str, &'a str),
    }

    fn build_zip(items: &[Item<'_>]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        let mut no_mode = Vec::new();
        for item in items {
            match item {
                Item::File(name, data, mode) => {
                    writer
                        .start_file(*name, options.unix_permissions(*mode))
                        .unwrap();
                    writer.write_all(data).unwrap();
                }
                Item::FileNoMode(name, data) => {
                    writer.start_file(*name, options).unwrap();
                    writer.write_all(data).unwrap();
                    no_mode.push(name.to_string());
                }
                Item::Dir(name) => writer.add_directory(*name, options).unwrap(),
                Item::Symlink(name, target) => writer.add_symlink(*name, *target, options).unwrap(),
            }
        }
        let mut bytes = writer.finish().unwrap().into_inner();
        for name in &no_mode {
            clear_external_attributes(&mut bytes, name);
        }
        let mut archive = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        for name in &no_mode {
            assert_eq!(archive.by_name(name).unwrap().unix_mode(), None, "{name}");
        }
        bytes
    }

    /// The writer always records a mode: zero the entry's external attributes in the central
    /// directory, as archives made without unix modes have them.
    fn clear_external_attributes(zip: &mut [u8], name: &str) {
        let mut at = 0;
        while at + 46 <= zip.len() {
            if zip[at..at + 4] == [0x50, 0x4b, 0x01, 0x02] {
                let name_len = u16::from_le_bytes([zip[at + 28], zip[at + 29]]) as usize;
                if &zip[at + 46..at + 46 + name_len] == name.as_bytes() {
                    zip[at + 38..at + 42].fill(0);
                    return;
                }
            }
            at += 1;
        }
        panic!("no central directory entry for {name}");
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn store() -> (tempfile::TempDir, CodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path().join("cache")).unwrap();
        (dir, store)
    }

    #[test]
    fn open_creates_the_layout_and_names_the_path_on_failure() {
        let (_dir, store) = store();
        for sub in ["zip", "code", "opt"] {
            assert!(store.root().join(sub).is_dir(), "{sub}");
        }
        let file = store.root().join("zip").join("plain-file");
        fs::write(&file, b"x").unwrap();
        let err = CodeStore::open(&file).unwrap_err();
        assert!(matches!(err, CodeError::CreateDir { .. }), "{err:?}");
        assert!(err.to_string().contains("plain-file"), "{err}");
    }

    #[test]
    fn open_sweeps_stale_temporaries() {
        let (_dir, store) = store();
        let code = store.root().join("code");
        let stale_dir = code.join(".tmp-abc-1-0");
        fs::create_dir_all(stale_dir.join("sub")).unwrap();
        fs::write(stale_dir.join("sub/file"), b"x").unwrap();
        let stale_file = store.root().join("zip").join(".tmp-abc.zip-1-1");
        fs::write(&stale_file, b"x").unwrap();
        let fresh = code.join(".tmp-def-1-2");
        fs::create_dir(&fresh).unwrap();
        let kept = code.join("not-a-temp");
        fs::create_dir(&kept).unwrap();
        let old = std::time::SystemTime::now() - 2 * STALE_TEMP_AGE;
        for path in [&stale_dir, &stale_file, &kept] {
            fs::File::open(path).unwrap().set_modified(old).unwrap();
        }

        CodeStore::open(store.root()).unwrap();
        assert!(!stale_dir.exists());
        assert!(!stale_file.exists());
        assert!(fresh.exists());
        assert!(kept.exists());
    }

    #[test]
    fn setuid_bits_are_dropped() {
        let (_dir, store) = store();
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        writer
            .start_file("suid", SimpleFileOptions::default().unix_permissions(0o755))
            .unwrap();
        let mut zip = writer.finish().unwrap().into_inner();
        // The writer masks modes to 0o777: set 0o4755 in the central directory by hand.
        let at = zip
            .windows(4)
            .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
            .unwrap();
        zip[at + 38..at + 42].copy_from_slice(&((0o100000 | 0o4755u32) << 16).to_le_bytes());
        let tree = store.extracted(&store.put_zip(&zip).unwrap()).unwrap();
        assert_eq!(mode_of(&tree.join("suid")), 0o755);
    }

    #[test]
    fn round_trip_keeps_modes() {
        let (_dir, store) = store();
        let zip = build_zip(&[
            Item::File("run.sh", b"#!/bin/sh\necho hi\n", 0o755),
            Item::FileNoMode("data.txt", b"data"),
            Item::FileNoMode("bootstrap", b"#!/bin/sh\n"),
            Item::File("lib/private.txt", b"secret", 0o600),
            Item::Dir("empty/"),
            Item::File(
                "nested/deep/app.py",
                b"def handler(e, c): return e\n",
                0o644,
            ),
            Item::File("nested/bootstrap", b"not top-level", 0o644),
        ]);
        let sha = store.put_zip(&zip).unwrap();
        assert_eq!(sha, code_sha256(&zip));
        assert!(store.contains(&sha));
        let stored = store
            .root()
            .join("zip")
            .join(format!("{}.zip", hex::encode(Sha256::digest(&zip))));
        assert_eq!(fs::read(&stored).unwrap(), zip);

        let tree = store.extracted(&sha).unwrap();
        assert_eq!(
            tree,
            store
                .root()
                .join("code")
                .join(hex::encode(Sha256::digest(&zip)))
        );
        assert_eq!(
            fs::read_to_string(tree.join("run.sh")).unwrap(),
            "#!/bin/sh\necho hi\n"
        );
        assert_eq!(mode_of(&tree.join("run.sh")), 0o755);
        assert_eq!(mode_of(&tree.join("data.txt")), 0o644);
        assert_eq!(mode_of(&tree.join("bootstrap")), 0o755);
        assert_eq!(mode_of(&tree.join("lib/private.txt")), 0o600);
        assert_eq!(mode_of(&tree.join("nested/bootstrap")), 0o644);
        assert!(tree.join("empty").is_dir());
        assert_eq!(mode_of(&tree.join("empty")), 0o755);
        assert_eq!(
            fs::read(tree.join("nested/deep/app.py")).unwrap(),
            b"def handler(e, c): return e\n"
        );

        // Again: the same tree, not extracted twice (a marker file survives).
        fs::write(tree.join("marker"), b"").unwrap();
        assert_eq!(store.extracted(&sha).unwrap(), tree);
        assert!(tree.join("marker").exists());
        // Idempotent put; clones share the cache.
        assert_eq!(store.clone().put_zip(&zip).unwrap(), sha);
        // No temporary names left behind.
        for sub in ["zip", "code"] {
            for entry in fs::read_dir(store.root().join(sub)).unwrap() {
                let name = entry.unwrap().file_name();
                assert!(!name.to_string_lossy().starts_with(".tmp"), "{name:?}");
            }
        }
    }

    #[test]
    fn bootstrap_with_a_mode_is_made_executable() {
        let (_dir, store) = store();
        let zip = build_zip(&[Item::File("bootstrap", b"#!/bin/sh\n", 0o644)]);
        let tree = store.extracted(&store.put_zip(&zip).unwrap()).unwrap();
        assert_eq!(mode_of(&tree.join("bootstrap")), 0o755);
    }

    #[test]
    fn zip_slip_is_refused() {
        let (_dir, store) = store();
        for name in ["../evil", "/abs", "a/../../evil", "a/../b", "C:/evil"] {
            let zip = build_zip(&[
                Item::File("ok.txt", b"ok", 0o644),
                Item::File(name, b"evil", 0o644),
            ]);
            let sha = store.put_zip(&zip).unwrap();
            let err = store.extracted(&sha).unwrap_err();
            assert!(
                matches!(&err, CodeError::UnsafePath { name: n, .. } if n == name),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains(name), "{err}");
            assert!(!store
                .root()
                .join("code")
                .join(hex_of(&sha).unwrap())
                .exists());
        }
        assert!(!store.root().join("evil").exists());
        assert!(!Path::new("/abs").exists());
        // Nothing half-extracted left behind.
        assert_eq!(fs::read_dir(store.root().join("code")).unwrap().count(), 0);
    }

    #[test]
    fn symlinks_inside_kept_outside_skipped() {
        let (_dir, store) = store();
        let zip = build_zip(&[
            Item::File("lib/libfoo.so.1.2", b"elf", 0o755),
            Item::Symlink("lib/libfoo.so.1", "libfoo.so.1.2"),
            Item::Symlink("bin/foo", "../lib/libfoo.so.1"),
            Item::Symlink("escape", "../../etc/passwd"),
            Item::Symlink("abs", "/etc/passwd"),
            Item::Symlink("weird", "lib/../../x"),
            // A link as a directory, then an entry through it: never written through.
            Item::Symlink("dirlink", "."),
            Item::Symlink("dirlink/inner", "lib"),
        ]);
        let tree = store.extracted(&store.put_zip(&zip).unwrap()).unwrap();
        assert_eq!(
            fs::read_link(tree.join("lib/libfoo.so.1")).unwrap(),
            Path::new("libfoo.so.1.2")
        );
        assert_eq!(fs::read(tree.join("bin/foo")).unwrap(), b"elf");
        for skipped in ["escape", "abs", "weird"] {
            assert!(
                fs::symlink_metadata(tree.join(skipped)).is_err(),
                "{skipped}"
            );
        }
        assert!(fs::symlink_metadata(tree.join("dirlink"))
            .unwrap()
            .is_symlink());
        assert!(fs::symlink_metadata(tree.join("inner")).is_err());
    }

    #[test]
    fn not_a_zip_is_refused() {
        let (_dir, store) = store();
        for bytes in [&b""[..], b"hello world", b"PK\x03\x04garbage"] {
            let err = store.put_zip(bytes).unwrap_err();
            assert!(matches!(err, CodeError::NotAZip(_)), "{err:?}");
            assert!(err.to_string().contains("not a readable zip"), "{err}");
        }
        assert_eq!(fs::read_dir(store.root().join("zip")).unwrap().count(), 0);
    }

    #[test]
    fn missing_and_invalid_hashes() {
        let (_dir, store) = store();
        let sha = code_sha256(b"never captured");
        assert!(!store.contains(&sha));
        let err = store.extracted(&sha).unwrap_err();
        assert!(
            matches!(&err, CodeError::Missing(s) if *s == sha),
            "{err:?}"
        );
        assert!(err.to_string().contains(&sha), "{err}");

        assert!(!store.contains("not base64!"));
        let err = store.extracted("not base64!").unwrap_err();
        assert!(matches!(err, CodeError::InvalidSha256(_)), "{err:?}");
        // Valid base64, wrong length (e.g. hex of an image URI is not base64 of 32 bytes).
        assert!(matches!(
            store.extracted("YWJj").unwrap_err(),
            CodeError::InvalidSha256(_)
        ));
    }

    #[test]
    fn concurrent_extraction_gives_one_complete_tree() {
        let (_dir, store) = store();
        let names: Vec<String> = (0..300).map(|i| format!("pkg/mod{i}.py")).collect();
        let items: Vec<Item<'_>> = names
            .iter()
            .map(|name| Item::File(name, name.as_bytes(), 0o644))
            .collect();
        let zip = build_zip(&items);
        let sha = store.put_zip(&zip).unwrap();

        let barrier = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                let sha = sha.clone();
                let barrier = Arc::clone(&barrier);
                let names = names.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let tree = store.extracted(&sha).unwrap();
                    // Whoever returns sees every file, complete.
                    for name in &names {
                        assert_eq!(fs::read(tree.join(name)).unwrap(), name.as_bytes());
                    }
                    tree
                })
            })
            .collect();
        let trees: Vec<PathBuf> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(trees.windows(2).all(|w| w[0] == w[1]));
        let entries: Vec<_> = fs::read_dir(store.root().join("code"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(fs::read_dir(trees[0].join("pkg")).unwrap().count(), 300);
        assert!(lock(&store.inner.building).is_empty());
    }

    #[test]
    fn layers_merge_in_order_with_overwrite() {
        let (_dir, store) = store();
        let first = build_zip(&[
            Item::File("python/shared.py", b"first", 0o644),
            Item::File("python/only_first.py", b"1", 0o644),
            Item::File("bin/tool", b"#!/bin/sh\n", 0o755),
            Item::File("replaced_by_dir", b"file", 0o644),
        ]);
        let second = build_zip(&[
            Item::File("python/shared.py", b"second", 0o644),
            Item::File("python/only_second.py", b"2", 0o644),
            Item::File("replaced_by_dir/inside", b"dir now", 0o644),
        ]);
        let first_sha = store.put_zip(&first).unwrap();
        let second_sha = store.put_zip(&second).unwrap();

        assert_eq!(store.opt_dir(&[]).unwrap(), None);

        let layers = vec![first_sha.clone(), second_sha.clone()];
        let opt = store.opt_dir(&layers).unwrap().unwrap();
        assert!(opt.starts_with(store.root().join("opt")));
        assert_eq!(fs::read(opt.join("python/shared.py")).unwrap(), b"second");
        assert_eq!(fs::read(opt.join("python/only_first.py")).unwrap(), b"1");
        assert_eq!(fs::read(opt.join("python/only_second.py")).unwrap(), b"2");
        assert_eq!(
            fs::read(opt.join("replaced_by_dir/inside")).unwrap(),
            b"dir now"
        );
        assert_eq!(mode_of(&opt.join("bin/tool")), 0o755);
        // The layers' own trees are untouched.
        let first_tree = store.extracted(&first_sha).unwrap();
        assert_eq!(
            fs::read(first_tree.join("python/shared.py")).unwrap(),
            b"first"
        );
        assert!(first_tree.join("replaced_by_dir").is_file());

        // Same list: same dir. Other order: other dir, first layer wins.
        assert_eq!(store.opt_dir(&layers).unwrap().unwrap(), opt);
        let reversed = store.opt_dir(&[second_sha, first_sha]).unwrap().unwrap();
        assert_ne!(reversed, opt);
        assert_eq!(
            fs::read(reversed.join("python/shared.py")).unwrap(),
            b"first"
        );
        assert!(reversed.join("replaced_by_dir").is_file());

        // A layer never captured.
        let missing = code_sha256(b"missing layer");
        let err = store.opt_dir(&[layers[0].clone(), missing]).unwrap_err();
        assert!(matches!(err, CodeError::Missing(_)), "{err:?}");
    }

    #[test]
    fn size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_unzipped_bytes: 1000,
            max_entries: 10,
        };
        let store = CodeStore::open_with_limits(dir.path(), limits).unwrap();
        assert_eq!(store.limits(), limits);

        let ok = build_zip(&[
            Item::File("a", &[b'a'; 600], 0o644),
            Item::File("b", &[b'b'; 400], 0o644),
        ]);
        store.extracted(&store.put_zip(&ok).unwrap()).unwrap();

        let big = build_zip(&[
            Item::File("a", &[b'a'; 600], 0o644),
            Item::File("b", &[b'b'; 401], 0o644),
        ]);
        let err = store.extracted(&store.put_zip(&big).unwrap()).unwrap_err();
        assert!(
            matches!(err, CodeError::TooLarge { limit: 1000, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("250 MiB"), "{err}");

        let names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
        let many: Vec<Item<'_>> = names.iter().map(|n| Item::File(n, b"", 0o644)).collect();
        let err = store
            .extracted(&store.put_zip(&build_zip(&many)).unwrap())
            .unwrap_err();
        assert!(
            matches!(
                err,
                CodeError::TooManyEntries {
                    entries: 11,
                    limit: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(fs::read_dir(store.root().join("code")).unwrap().count(), 1);
    }

    #[test]
    fn size_limit_counts_real_bytes_not_headers() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_unzipped_bytes: 1000,
            max_entries: 10,
        };
        let store = CodeStore::open_with_limits(dir.path(), limits).unwrap();
        let mut zip = build_zip(&[Item::File("a", &[0u8; 5000], 0o644)]);
        // Lie in both headers: declare 10 bytes uncompressed.
        let mut at = 0;
        while at + 30 <= zip.len() {
            match zip[at..at + 4] {
                [0x50, 0x4b, 0x03, 0x04] => {
                    zip[at + 22..at + 26].copy_from_slice(&10u32.to_le_bytes())
                }
                [0x50, 0x4b, 0x01, 0x02] => {
                    zip[at + 24..at + 28].copy_from_slice(&10u32.to_le_bytes())
                }
                _ => {}
            }
            at += 1;
        }
        let sha = store.put_zip(&zip).unwrap();
        let err = store.extracted(&sha).unwrap_err();
        // The bytes are counted as written: extraction stops past the limit.
        assert!(matches!(err, CodeError::TooLarge { .. }), "{err:?}");
        assert_eq!(fs::read_dir(store.root().join("code")).unwrap().count(), 0);
    }

    #[test]
    fn default_dir_ends_in_edgestack_lambda() {
        let dir = default_dir();
        assert!(
            dir.ends_with("edgestack/lambda") || dir.ends_with("edgestack-lambda"),
            "{dir:?}"
        );
    }
}
