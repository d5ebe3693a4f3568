//! The one log line per request, LocalStack-style: `AWS s3.PutObject => 200` for AWS calls
//! (target `edgestack::request::aws`), `GET /path => 200` for anything else (target
//! `edgestack::request::http`); errors add their code: `=> 404 (NoSuchKey)`. Upstream,
//! duration, request id, account and region go along as fields.

use http::request::Parts;

use crate::{context::RequestContext, error::Error};

/// Logs the request at INFO. `upstream_code` is the error code read from the backend's error
/// response, when there is one; an edge error's own code wins.
pub(crate) fn request_line(
    req: &Parts,
    status: u16,
    error: Option<&Error>,
    upstream_code: Option<&str>,
    cx: &RequestContext,
) {
    let upstream = cx.upstream().map(|u| u.as_str()).unwrap_or("-");
    let ms = (cx.elapsed().as_secs_f64() * 100_000.0).round() / 100.0;
    let code = error.map(|e| e.code()).or(upstream_code);
    let suffix = match code {
        Some(code) => format!(" ({code})"),
        None => String::new(),
    };
    let detail = error.map(|e| e.to_string());
    let id = cx.request_id();
    match cx.aws() {
        Some(aws) => tracing::info!(
            target: "edgestack::request::aws",
            upstream,
            ms,
            %id,
            account = %aws.account,
            region = %aws.region,
            error = detail,
            "AWS {}{} => {}{}",
            aws.label(),
            match aws.operation {
                Some(_) => String::new(),
                None => format!(" ({} {})", req.method, req.uri.path()),
            },
            status,
            suffix
        ),
        None => tracing::info!(
            target: "edgestack::request::http",
            upstream,
            ms,
            %id,
            error = detail,
            "{} {} => {}{}",
            req.method,
            req.uri.path(),
            status,
            suffix
        ),
    }
}
