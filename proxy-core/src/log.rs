//! The one log line per request.

use http::request::Parts;

use crate::{context::RequestContext, error::Error};

/// Logs `METHOD /path => STATUS` at INFO (target `edgestack::request`), with the error code
/// when the edge answered with an error, plus upstream, duration and request id as fields.
pub(crate) fn request_line(req: &Parts, status: u16, error: Option<&Error>, cx: &RequestContext) {
    let upstream = cx.upstream().map(|u| u.as_str()).unwrap_or("-");
    let ms = (cx.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
    match error {
        Some(e) => tracing::info!(
            target: "edgestack::request",
            upstream,
            ms,
            id = %cx.request_id(),
            "{} {} => {} ({}: {})",
            req.method,
            req.uri.path(),
            status,
            e.code(),
            e
        ),
        None => tracing::info!(
            target: "edgestack::request",
            upstream,
            ms,
            id = %cx.request_id(),
            "{} {} => {}",
            req.method,
            req.uri.path(),
            status
        ),
    }
}
