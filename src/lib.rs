//! # edgestack
//!
//! LocalStack-style AWS integrations as a reverse proxy, on pingora, in front of real
//! AWS-emulating backends (moto_server, DynamoDB Local, dynalite, MinIO, ...).
//!
//! This facade re-exports the engine ([`edgestack_core`]) and knows the shipped interceptors,
//! so a TOML file can enable them by name. Embedding:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = edgestack::load_config(r#"
//!     [server]
//!     listen = ["127.0.0.1:0"]
//!     [upstreams.moto]
//!     url = "http://127.0.0.1:5000"
//!     [routes]
//!     default = "moto"
//!     [interceptors.request-id]
//! "#)?;
//! let edge = edgestack::EdgeBuilder::from_config(config).start()?;
//! println!("AWS_ENDPOINT_URL={}", edge.url());
//! edge.shutdown_blocking();
//! # Ok(()) }
//! ```

pub use edgestack_core::*;

/// The shipped interceptor crates, for direct use in code.
pub mod interceptors {
    pub use edgestack_request_id as request_id;
}

/// The interceptors a TOML file can enable, by section name.
pub fn interceptor_registry() -> Interceptors {
    let mut r = Interceptors::new();
    r.register(
        edgestack_request_id::NAME,
        edgestack_request_id::RequestIdListener::new,
    );
    r
}

/// Parses and validates a TOML configuration with the shipped interceptors.
pub fn load_config(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_toml(text, &interceptor_registry())
}

/// Reads, parses and validates a TOML configuration file.
pub fn load_config_file(path: &std::path::Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            "",
            format!("cannot read {}: {e}", path.display()),
        )])
    })?;
    load_config(&text)
}
