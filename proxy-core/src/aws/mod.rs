//! The AWS edge: what turns the generic engine into one port for every AWS service.
//!
//! - [`detect`](mod@detect): service, operation, region and account of a request, the way
//!   LocalStack's service router works them out;
//! - [`services`]: the catalogue of service names, signing names, targets and protocols;
//! - [`AwsRouter`]: routes by service name (`[routes] dynamodb = "ddb"`), with legacy
//!   per-service ports, and refuses what it cannot name with a 404 saying what it saw;
//! - [`AwsClient`]: the edge's own signed AWS calls, routed like clients' calls (what
//!   interceptors use to notify, look up and read);
//! - [`AwsError`]: an AWS error that renders itself in the caller's protocol, which
//!   listeners return; [`AwsErrors`] answers the edge's own errors the same way, so SDKs raise
//!   typed errors;
//! - listeners for the conventions around it: [`FormAction`] (operation names of query-protocol
//!   calls), [`Cors`], [`S3PathStyle`] (virtual-host to path-style rewrite per upstream),
//!   [`EnabledServices`] (LocalStack's `SERVICES`: other services get its "not enabled" error).

mod client;
mod cors;
pub mod detect;
mod enabled;
mod error;
mod errors;
mod form;
pub mod operation;
mod path_style;
mod public_url;
pub(crate) mod router;
pub mod services;
pub mod sigv4;

pub use client::{is_retryable_status, AwsClient, CallError};
pub use cors::{Cors, CorsSettings};
pub use detect::{AwsRequest, Detection, Signature, DEFAULT_ACCOUNT};
pub use enabled::{expand_services, EnabledServices};
pub use error::{AwsError, DYNAMODB_ERROR_PREFIX};
pub use errors::{error_code, AwsErrors};
pub use form::FormAction;
pub use path_style::S3PathStyle;
pub use public_url::public_url;
pub use router::{AwsRouter, ServiceRoutes};
pub use services::{Protocol, Service};

/// The region a request is in when nothing in it names one (LocalStack's `DEFAULT_REGION`).
pub const DEFAULT_REGION: &str = "us-east-1";

/// The credentials the edge signs its own calls with unless configured (LocalStack's).
pub const DEFAULT_CREDENTIALS: (&str, &str) = ("test", "test");
