//! Which interceptor sections a configuration may have, and how each becomes a listener.

use std::{collections::BTreeMap, fmt, sync::Arc};

use serde::de::DeserializeOwned;

use super::{schema, ConfigError};
use crate::listener::Listener;

type Build = Box<dyn Fn(toml::Value) -> Result<Arc<dyn Listener>, Vec<ConfigError>> + Send + Sync>;

/// The interceptors a configuration can enable: `[interceptors.NAME]` sections, each read into
/// its own typed config (`C`, which should use `#[serde(deny_unknown_fields)]`) and turned into
/// a listener.
#[derive(Default)]
pub struct Interceptors {
    builders: BTreeMap<String, Build>,
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

    /// Makes `[interceptors.NAME]` build a listener from its typed section.
    pub fn register<C, L, F>(&mut self, name: &str, build: F) -> &mut Self
    where
        C: DeserializeOwned,
        L: Listener,
        F: Fn(C) -> Result<L, String> + Send + Sync + 'static,
    {
        let path = format!("interceptors.{name}");
        self.builders.insert(
            name.to_string(),
            Box::new(move |value| {
                let mut errors = Vec::new();
                let cfg: C = schema::section(&path, value, &mut errors).ok_or(errors)?;
                build(cfg)
                    .map(|l| Arc::new(l) as Arc<dyn Listener>)
                    .map_err(|e| vec![ConfigError::new(path.clone(), e)])
            }),
        );
        self
    }

    /// The names that can be configured.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.builders.keys().map(String::as_str)
    }

    pub(super) fn build(
        &self,
        name: &str,
        section: toml::Value,
    ) -> Result<Arc<dyn Listener>, Vec<ConfigError>> {
        match self.builders.get(name) {
            Some(build) => build(section),
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
