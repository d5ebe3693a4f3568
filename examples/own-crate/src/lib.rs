//! A crate of your own: a `size-guard` interceptor that refuses S3 uploads over a size, as S3
//! does (`EntityTooLarge`, in S3's error shape), enabled from TOML:
//!
//! ```toml
//! [interceptors.size-guard]
//! max_bytes = 1024
//! ```
//!
//! [`registry`] is the shipped interceptors plus this one; `src/main.rs` runs the edgestack
//! CLI with it.

use edgestack::{
    async_trait,
    aws::AwsError,
    config::ConfigError,
    http::{header, StatusCode},
    Forward, Interceptors, Listener, ListenerError, Request, RequestContext,
};
use serde::Deserialize;

/// `[interceptors.size-guard]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The largest object `PutObject` may upload.
    pub max_bytes: u64,
}

/// Refuses `PutObject`s over [`Settings::max_bytes`].
#[derive(Debug)]
pub struct SizeGuard {
    max_bytes: u64,
}

impl SizeGuard {
    /// The listener, or every problem with `settings` at its key.
    pub fn new(settings: Settings) -> Result<SizeGuard, Vec<ConfigError>> {
        if settings.max_bytes == 0 {
            return Err(vec![ConfigError::new(
                "max_bytes",
                "must be at least 1 (0 would refuse every upload)",
            )]);
        }
        Ok(SizeGuard {
            max_bytes: settings.max_bytes,
        })
    }
}

#[async_trait]
impl Listener for SizeGuard {
    fn name(&self) -> &str {
        "size-guard"
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        // What the edge detected: no header parsing here.
        let Some(aws) = cx.aws().filter(|a| a.service == "s3" && a.is("PutObject")) else {
            return Ok(Forward::Continue);
        };
        let size = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if size > self.max_bytes {
            let err = AwsError::new(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
            )
            .with_field("ProposedSize", size.to_string())
            .with_field("MaxSizeAllowed", self.max_bytes.to_string())
            .with_field("Key", aws.key.clone().unwrap_or_default());
            return Err(err.into());
        }
        Ok(Forward::Continue)
    }
}

/// The shipped interceptors, plus `[interceptors.size-guard]`.
pub fn registry() -> Interceptors {
    edgestack::interceptor_registry().with("size-guard", SizeGuard::new)
}
