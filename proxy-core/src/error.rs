//! The engine's one error type, and the one place where errors become responses.
//!
//! Every failure the edge itself answers for (no route, upstream down or slow, body over the
//! limit, a listener failing) is an [`Error`]. [`ErrorResponder`] turns it into the response
//! the client gets; the default writes a short plain-text body, and the AWS edge plugs in one
//! that answers in each service's protocol.

use bytes::Bytes;
use http::{header, request::Parts, HeaderValue, StatusCode};

use crate::{aws::AwsError, context::RequestContext, upstream::UpstreamName};

/// Something the edge answers for itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No router or route rule matched, and there is no default route.
    #[error("no route for {method} {host}{path}: {reason}")]
    NoRoute {
        /// Request method.
        method: String,
        /// Request host (or empty).
        host: String,
        /// Request path.
        path: String,
        /// What was looked at.
        reason: String,
    },
    /// A listener or router named an upstream that is not configured.
    #[error("unknown upstream '{0}'")]
    UnknownUpstream(UpstreamName),
    /// The upstream could not be reached.
    #[error("upstream '{upstream}' unreachable: {detail}")]
    UpstreamUnreachable {
        /// Upstream name.
        upstream: UpstreamName,
        /// What failed.
        detail: String,
    },
    /// The upstream did not answer in time.
    #[error("upstream '{upstream}' timed out: {detail}")]
    UpstreamTimeout {
        /// Upstream name.
        upstream: UpstreamName,
        /// What timed out.
        detail: String,
    },
    /// The upstream broke the exchange (closed early, malformed answer).
    #[error("upstream '{upstream}' failed: {detail}")]
    UpstreamFailed {
        /// Upstream name.
        upstream: UpstreamName,
        /// What failed.
        detail: String,
    },
    /// The request body is larger than the buffer limit and a listener needed it whole.
    #[error("request body is larger than the {limit}-byte buffer limit")]
    RequestBodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The response body is larger than the buffer limit and a listener needed it whole.
    #[error("upstream response body is larger than the {limit}-byte buffer limit")]
    ResponseBodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The client sent something the edge cannot proxy, or went away.
    #[error("bad request from client: {0}")]
    Client(String),
    /// A listener answered with an AWS error (it returned an [`AwsError`]): the client gets
    /// it in the protocol of its call, with its status and code.
    #[error("{error}")]
    Aws {
        /// The listener's name.
        listener: String,
        /// The error.
        error: AwsError,
    },
    /// A listener's hook failed.
    #[error("listener '{listener}' failed: {source}")]
    Listener {
        /// The listener's name.
        listener: String,
        /// Its error.
        #[source]
        source: crate::ListenerError,
    },
    /// A bug or unexpected state in the engine.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status the client gets for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NoRoute { .. } => StatusCode::NOT_FOUND,
            Error::UpstreamUnreachable { .. } | Error::UpstreamFailed { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Error::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::RequestBodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ResponseBodyTooLarge { .. } => StatusCode::BAD_GATEWAY,
            Error::Client(_) => StatusCode::BAD_REQUEST,
            Error::Aws { error, .. } => error.status(),
            Error::UnknownUpstream(_) | Error::Listener { .. } | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// A stable, machine-readable name for the kind of error (sent as `x-edgestack-error`);
    /// for [`Error::Aws`], the AWS error's code.
    pub fn code(&self) -> &str {
        match self {
            Error::Aws { error, .. } => error.code(),
            Error::NoRoute { .. } => "NoRoute",
            Error::UnknownUpstream(_) => "UnknownUpstream",
            Error::UpstreamUnreachable { .. } => "UpstreamUnreachable",
            Error::UpstreamTimeout { .. } => "UpstreamTimeout",
            Error::UpstreamFailed { .. } => "UpstreamFailed",
            Error::RequestBodyTooLarge { .. } => "RequestBodyTooLarge",
            Error::ResponseBodyTooLarge { .. } => "ResponseBodyTooLarge",
            Error::Client(_) => "BadRequest",
            Error::Listener { .. } => "ListenerFailed",
            Error::Internal(_) => "InternalError",
        }
    }

    /// The AWS error a listener answered with, if this is one.
    pub fn aws_error(&self) -> Option<&AwsError> {
        match self {
            Error::Aws { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The error a listener's hook returned: an [`AwsError`] answers as itself, anything else
    /// is a failure of the listener.
    pub(crate) fn from_listener(listener: &str, source: crate::ListenerError) -> Self {
        match source.downcast::<AwsError>() {
            Ok(error) => Error::Aws {
                listener: listener.to_string(),
                error: *error,
            },
            Err(source) => Error::Listener {
                listener: listener.to_string(),
                source,
            },
        }
    }
}

/// Turns an [`Error`] into the response the client gets. Plug in your own with
/// [`EdgeBuilder::error_responder`](crate::EdgeBuilder::error_responder).
pub trait ErrorResponder: Send + Sync + 'static {
    /// The response for `error`; `request` is the request head when one was read, `cx` the
    /// request's context once the edge made one (with what it detected, its id, ...).
    fn respond(
        &self,
        error: &Error,
        request: Option<&Parts>,
        cx: Option<&RequestContext>,
    ) -> http::Response<Bytes>;
}

/// The default responder: the status from [`Error::status`], a one-line plain-text body and an
/// `x-edgestack-error` header with [`Error::code`].
#[derive(Debug, Default, Clone, Copy)]
pub struct PlainTextErrors;

impl ErrorResponder for PlainTextErrors {
    fn respond(
        &self,
        error: &Error,
        _request: Option<&Parts>,
        _cx: Option<&RequestContext>,
    ) -> http::Response<Bytes> {
        let mut resp = http::Response::new(Bytes::from(format!("edgestack: {error}\n")));
        *resp.status_mut() = error.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Ok(code) = HeaderValue::from_str(error.code()) {
            h.insert("x-edgestack-error", code);
        }
        resp
    }
}
