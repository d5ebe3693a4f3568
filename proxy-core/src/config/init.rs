//! `[init]`: where LocalStack-style init hooks are found and how long each may run.
//!
//! ```toml
//! [init]
//! dir = "./init"       # holds boot.d/, start.d/, ready.d/, shutdown.d/
//! timeout = "2m"       # per script; over it the script is killed and marked ERROR
//! ```
//!
//! Scripts in [`DEFAULT_DIR`](InitSettings::DEFAULT_DIR) (`/etc/localstack/init`, where
//! LocalStack looks) always run; `dir` adds a directory for people who cannot write `/etc`.
//! Without `dir`, the environment variable [`DIR_VAR`](InitSettings::DIR_VAR)
//! (`EDGESTACK_INIT_DIR`) gives it: the file wins over the environment. The scripts are run by
//! [`crate::init`].

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

use super::{ConfigError, Environment};

/// The longest per-script time limit accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The `[init]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InitSection {
    pub dir: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

/// Where init hooks are found, and each script's time limit (`[init]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSettings {
    /// The init directory besides [`InitSettings::DEFAULT_DIR`]: `[init] dir`, else
    /// `$EDGESTACK_INIT_DIR`. It holds `boot.d/`, `start.d/`, `ready.d/` and `shutdown.d/`.
    pub dir: Option<PathBuf>,
    /// How long one script may run before it is killed (with everything it started) and
    /// marked `ERROR`.
    pub timeout: Duration,
}

impl InitSettings {
    /// LocalStack's init directory, always looked at.
    pub const DEFAULT_DIR: &'static str = "/etc/localstack/init";
    /// The environment variable naming an extra init directory (the file's `[init] dir` wins).
    pub const DIR_VAR: &'static str = "EDGESTACK_INIT_DIR";
    /// The default per-script time limit.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

    /// The directories scripts are looked for in, in the order they run: LocalStack's, then
    /// [`dir`](Self::dir) (unless it is the same).
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![PathBuf::from(Self::DEFAULT_DIR)];
        if let Some(d) = &self.dir {
            if d != &roots[0] {
                roots.push(d.clone());
            }
        }
        roots
    }
}

impl Default for InitSettings {
    fn default() -> Self {
        InitSettings {
            dir: None,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// The validated `[init]` settings from the section (if any) and the environment.
pub(super) fn init_settings(
    section: Option<InitSection>,
    env: &Environment,
    errors: &mut Vec<ConfigError>,
) -> InitSettings {
    let mut out = InitSettings::default();
    let section = section.unwrap_or(InitSection {
        dir: None,
        timeout: None,
    });
    out.dir = match section.dir {
        Some(d) if d.trim().is_empty() => {
            errors.push(ConfigError::new("init.dir", "must not be empty"));
            None
        }
        Some(d) => Some(PathBuf::from(d)),
        None => env.non_empty(InitSettings::DIR_VAR).map(PathBuf::from),
    };
    if let Some(t) = section.timeout {
        if t.is_zero() || t > MAX_TIMEOUT {
            errors.push(ConfigError::new(
                "init.timeout",
                "must be more than 0 and at most 24h",
            ));
        }
        out.timeout = t;
    }
    out
}
