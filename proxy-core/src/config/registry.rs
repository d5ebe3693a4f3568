//! Which interceptor sections a configuration may have, and how each becomes a listener.

use std::{collections::BTreeMap, fmt, sync::Arc};

use serde::de::DeserializeOwned;

use super::{schema, ConfigError, Environment};
use crate::listener::Listener;

type Build = Box<
    dyn Fn(toml::Value, &Environment) -> Result<Arc<dyn Listener>, Vec<ConfigError>> + Send + Sync,
>;

/// The section of an interceptor that has no settings: `[interceptors.NAME]`, empty (any key
/// in it is an error at its path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptySection {}

/// What an interceptor's builder may fail with: one message for the whole section
/// (`String`), or [`ConfigError`]s whose paths are relative to the section (`faults[2].probability`,
/// `""` for the section itself) or name an environment variable ([`ConfigError::env`]).
pub trait IntoConfigErrors {
    /// The errors.
    fn into_config_errors(self) -> Vec<ConfigError>;
}

impl IntoConfigErrors for String {
    fn into_config_errors(self) -> Vec<ConfigError> {
        vec![ConfigError::new("", self)]
    }
}

impl IntoConfigErrors for ConfigError {
    fn into_config_errors(self) -> Vec<ConfigError> {
        vec![self]
    }
}

impl IntoConfigErrors for Vec<ConfigError> {
    fn into_config_errors(self) -> Vec<ConfigError> {
        self
    }
}

/// The interceptors a configuration can enable: `[interceptors.NAME]` sections, each read into
/// its own typed config (`C`, which should use `#[serde(deny_unknown_fields)]`) and turned into
/// a listener.
#[derive(Default)]
pub struct Interceptors {
    builders: BTreeMap<String, Build>,
    /// Names made errors by [`Interceptors::retire`]: not listed as known.
    retired: std::collections::BTreeSet<String>,
}

impl fmt::Debug for Interceptors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.builders.keys()).finish()
    }
}

impl Interceptors {
    /// No interceptors known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `[interceptors.NAME]` build a listener from its typed section. Every key that
    /// does not fit `C` is reported at its path (`interceptors.NAME.faults[2].probability`);
    /// when the only such keys are unknown ones, the builder still checks the rest. Its own
    /// errors are placed under `interceptors.NAME` (see [`IntoConfigErrors`]).
    pub fn register<C, L, E, F>(&mut self, name: &str, build: F) -> &mut Self
    where
        C: DeserializeOwned,
        L: Listener,
        E: IntoConfigErrors,
        F: Fn(C) -> Result<L, E> + Send + Sync + 'static,
    {
        self.register_with_env(name, move |cfg: C, _env: &Environment| build(cfg))
    }

    /// [`register`](Self::register) for an interceptor that also reads environment variables:
    /// its builder gets the [`Environment`] the configuration is loaded with, and reports a bad
    /// value with [`ConfigError::env`].
    pub fn register_with_env<C, L, E, F>(&mut self, name: &str, build: F) -> &mut Self
    where
        C: DeserializeOwned,
        L: Listener,
        E: IntoConfigErrors,
        F: Fn(C, &Environment) -> Result<L, E> + Send + Sync + 'static,
    {
        let path = format!("interceptors.{name}");
        self.retired.remove(name);
        self.builders.insert(
            name.to_string(),
            Box::new(move |value, env| {
                let mut errors = Vec::new();
                // Unknown keys are reported, and the rest of the section still checked.
                let cfg: Option<C> = schema::section(&path, value, &mut errors);
                let cfg = cfg.ok_or_else(|| errors.clone())?;
                match build(cfg, env) {
                    Ok(l) if errors.is_empty() => Ok(Arc::new(l) as Arc<dyn Listener>),
                    Ok(_) => Err(errors),
                    Err(e) => {
                        errors.extend(e.into_config_errors().into_iter().map(|e| e.under(&path)));
                        Err(errors)
                    }
                }
            }),
        );
        self
    }

    /// [`register`](Self::register), by value, for one expression:
    /// `edgestack::interceptor_registry().with("my-thing", MyThing::new)`.
    pub fn with<C, L, E, F>(mut self, name: &str, build: F) -> Self
    where
        C: DeserializeOwned,
        L: Listener,
        E: IntoConfigErrors,
        F: Fn(C) -> Result<L, E> + Send + Sync + 'static,
    {
        self.register(name, build);
        self
    }

    /// [`register_with_env`](Self::register_with_env), by value.
    pub fn with_env<C, L, E, F>(mut self, name: &str, build: F) -> Self
    where
        C: DeserializeOwned,
        L: Listener,
        E: IntoConfigErrors,
        F: Fn(C, &Environment) -> Result<L, E> + Send + Sync + 'static,
    {
        self.register_with_env(name, build);
        self
    }

    /// Makes `[interceptors.OLD]` an error that says what to write instead (for sections that
    /// were renamed or folded into another interceptor).
    pub fn retire(&mut self, old: &str, instead: &str) -> &mut Self {
        let path = format!("interceptors.{old}");
        let message = instead.to_string();
        self.retired.insert(old.to_string());
        self.builders.insert(
            old.to_string(),
            Box::new(move |_, _| Err(vec![ConfigError::new(path.clone(), message.clone())])),
        );
        self
    }

    /// The names that can be configured (retired names are not).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.builders
            .keys()
            .map(String::as_str)
            .filter(|n| !self.retired.contains(*n))
    }

    pub(super) fn build(
        &self,
        name: &str,
        section: toml::Value,
        env: &Environment,
    ) -> Result<Arc<dyn Listener>, Vec<ConfigError>> {
        match self.builders.get(name) {
            Some(build) => build(section, env),
            None => {
                let known: Vec<&str> = self.names().collect();
                Err(vec![ConfigError::new(
                    format!("interceptors.{name}"),
                    format!(
                        "unknown interceptor (known: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                )])
            }
        }
    }
}
