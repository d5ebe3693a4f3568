//! The listener: asks for the answers of the SQS calls that may carry queue URLs (see
//! [`crate::select`]), and rewrites the successful ones (see [`crate::xml`], [`crate::json`]).
//! The engine recomputes `Content-Length` (and `x-amz-crc32`) for a replaced body.

use std::borrow::Cow;

use edgestack_core::{
    async_trait,
    bytes::Bytes,
    http::{header, request::Parts, uri::Authority},
    Body, BodyAccess, ConfigError, Forward, Listener, ListenerError, Request, RequestContext,
    Response,
};

use crate::{
    json,
    place::Place,
    select, settings,
    strategy::{self, EndpointStrategy},
    xml, Settings,
};

/// Rewrites queue URLs and SQS ARNs in SQS answers so that they point at the edge.
#[derive(Debug)]
pub struct SqsUrls {
    /// `external_url`, normalised (`scheme://authority`).
    external_base: Option<String>,
    backend_account: Option<String>,
    strategy: EndpointStrategy,
}

impl SqsUrls {
    /// The interceptor, or every problem with `settings` (at its key).
    pub fn new(settings: Settings) -> Result<SqsUrls, Vec<ConfigError>> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(SqsUrls {
            external_base: settings
                .external_url
                .as_deref()
                .and_then(|u| settings::external_base(u).ok()),
            backend_account: settings.backend_account,
            strategy: settings.endpoint_strategy,
        })
    }

    /// Where queue URLs should point for this request: `external_url`, else the edge's
    /// (`[aws] external_url`, LocalStack's `LOCALSTACK_HOST`), else `http://` and the authority
    /// the client addressed (its `Host`, or an absolute-form URI's), when it is a plain
    /// `host[:port]`. `None`: keep the backend's.
    fn base<'a>(&'a self, req: &Parts, cx: &'a RequestContext) -> Option<Cow<'a, str>> {
        if let Some(base) = &self.external_base {
            return Some(Cow::Borrowed(base));
        }
        if let Some(base) = cx.aws_client().and_then(|c| c.public_url()) {
            return Some(Cow::Borrowed(base));
        }
        let host = req
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.parse::<Authority>().ok())
            .or_else(|| req.uri.authority().cloned())
            .filter(|a| !a.as_str().contains('@') && !a.host().is_empty())?;
        Some(Cow::Owned(format!("http://{host}")))
    }

    /// The rewritten answer body, or `None` when it stays.
    fn rewritten(&self, req: &Parts, cx: &RequestContext, body: &[u8]) -> Option<String> {
        let aws = cx.aws()?;
        let text = std::str::from_utf8(body).ok()?;
        let place = Place::new(
            self.base(req, cx),
            &aws.region,
            &aws.account,
            self.backend_account.as_deref(),
        )
        .with_strategy(self.strategy);
        match text.trim_start().as_bytes().first()? {
            b'<' => xml::rewrite(text, &place),
            b'{' => json::rewrite(text, &place),
            _ => None,
        }
    }
}

#[async_trait]
impl Listener for SqsUrls {
    fn name(&self) -> &str {
        crate::URLS
    }

    /// Calls whose queue URLs it may rewrite (SQS; query protocol: maybe still in a form body),
    /// and SQS calls sent to a path-strategy queue URL.
    fn acts_on(&self, req: &Parts, cx: &RequestContext) -> bool {
        select::may_rewrite(cx.aws(), cx.aws_form_pending())
            || (req.uri.path().starts_with("/queue/") && cx.may_be_service("sqs"))
    }

    /// A call sent to a path-strategy queue URL (`/queue/<region>/<account>/<queue>`, as
    /// SDKs that post to the queue URL send it) goes to the backend as `/<account>/<queue>`.
    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        if cx.aws().is_none_or(|a| a.service != "sqs") {
            return Ok(Forward::Continue);
        }
        if let Some(path) = strategy::backend_path(req.uri().path()) {
            let uri = match req.uri().query() {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = Some(uri.parse()?);
            *req.uri_mut() = http::Uri::from_parts(parts)?;
        }
        Ok(Forward::Continue)
    }

    fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
        if select::may_rewrite(cx.aws(), cx.aws_form_pending()) {
            BodyAccess::BUFFER_RESPONSE
        } else {
            BodyAccess::NONE
        }
    }

    async fn return_response(
        &self,
        req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(aws) = cx.aws() else {
            return Ok(());
        };
        if !select::is_rewritten(aws) || !resp.status().is_success() {
            return Ok(());
        }
        let encoded = resp
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"));
        if encoded {
            return Ok(());
        }
        let Some(body) = resp.body().bytes() else {
            return Ok(());
        };
        if let Some(new) = self.rewritten(req, cx, body) {
            tracing::debug!(operation = ?aws.operation, "sqs-urls: queue URLs rewritten");
            *resp.body_mut() = Body::Full(Bytes::from(new));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use edgestack_core::{
        aws::{AwsRequest, Protocol, Signature},
        http::{Request, StatusCode},
    };

    use super::*;

    fn aws(operation: &str, account: &str) -> AwsRequest {
        let mut aws = AwsRequest::new("sqs").with_operation(operation.to_string());
        aws.region = "eu-west-1".into();
        aws.account = account.into();
        aws.access_key = Some("test".into());
        aws.signature = Signature::V4;
        aws.protocol = Protocol::Json;
        aws.target = Some("AmazonSQS".into());
        aws.json_version = Some("1.0");
        aws.evidence = "signature";
        aws
    }

    fn head(host: Option<&str>) -> Parts {
        let mut b = Request::builder().method("POST").uri("/");
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(()).unwrap().into_parts().0
    }

    async fn answer(
        l: &SqsUrls,
        req: &Parts,
        aws: Option<AwsRequest>,
        status: StatusCode,
        body: Body,
    ) -> Response {
        let mut cx = RequestContext::detached(1);
        cx.set_aws(aws);
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        l.return_response(req, &mut resp, &mut cx).await.unwrap();
        resp
    }

    fn text(resp: &Response) -> &str {
        std::str::from_utf8(resp.body().bytes().unwrap()).unwrap()
    }

    const MOTO: &str = r#"{"QueueUrl": "http://127.0.0.1:5000/123456789012/q"}"#;

    #[tokio::test]
    async fn answers_follow_the_host_the_client_used() {
        let l = SqsUrls::new(Settings::default()).unwrap();
        let req = head(Some("localhost:4566"));
        let ok = StatusCode::OK;
        let r = answer(
            &l,
            &req,
            Some(aws("GetQueueUrl", "000000000000")),
            ok,
            MOTO.into(),
        )
        .await;
        assert_eq!(
            text(&r),
            r#"{"QueueUrl": "http://localhost:4566/123456789012/q"}"#
        );

        let l = SqsUrls::new(Settings {
            backend_account: Some("123456789012".into()),
            ..Settings::default()
        })
        .unwrap();
        let r = answer(
            &l,
            &req,
            Some(aws("CreateQueue", "111122223333")),
            ok,
            MOTO.into(),
        )
        .await;
        assert_eq!(
            text(&r),
            r#"{"QueueUrl": "http://localhost:4566/111122223333/q"}"#
        );

        let l = SqsUrls::new(Settings {
            external_url: Some("https://sqs.example.test/".into()),
            ..Settings::default()
        })
        .unwrap();
        let r = answer(
            &l,
            &req,
            Some(aws("CreateQueue", "000000000000")),
            ok,
            MOTO.into(),
        )
        .await;
        assert_eq!(
            text(&r),
            r#"{"QueueUrl": "https://sqs.example.test/123456789012/q"}"#
        );
    }

    #[tokio::test]
    async fn only_successful_answers_of_the_rewritten_operations() {
        let l = SqsUrls::new(Settings::default()).unwrap();
        let req = head(Some("localhost:4566"));
        let ok = StatusCode::OK;
        for (aws, status) in [
            (None, ok),
            (Some(aws("SendMessage", "000000000000")), ok),
            (
                Some(aws("GetQueueUrl", "000000000000")),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let r = answer(&l, &req, aws, status, MOTO.into()).await;
            assert_eq!(text(&r), MOTO);
        }
        let mut other = aws("ListQueues", "000000000000");
        other.service = Cow::Borrowed("sns");
        assert_eq!(
            text(&answer(&l, &req, Some(other), ok, MOTO.into()).await),
            MOTO
        );
        let streamed = answer(&l, &req, Some(aws("GetQueueUrl", "0")), ok, Body::Streamed).await;
        assert!(streamed.body().is_streamed());

        let mut cx = RequestContext::detached(2).with_aws(aws("GetQueueUrl", "000000000000"));
        let mut gz = Response::new(Body::from(MOTO));
        gz.headers_mut()
            .insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
        l.return_response(&req, &mut gz, &mut cx).await.unwrap();
        assert_eq!(text(&gz), MOTO, "an encoded body is not touched");
    }

    #[tokio::test]
    async fn odd_hosts_and_bodies() {
        let l = SqsUrls::new(Settings::default()).unwrap();
        let ok = StatusCode::OK;
        let get = || Some(aws("GetQueueUrl", "000000000000"));
        // No Host: the backend's host stays (nothing else to change here).
        let r = answer(&l, &head(None), get(), ok, MOTO.into()).await;
        assert_eq!(text(&r), MOTO);
        for bad in ["user@evil:1", "a b", "", "h/x"] {
            let r = answer(&l, &head(Some(bad)), get(), ok, MOTO.into()).await;
            assert_eq!(text(&r), MOTO, "Host {bad:?}");
        }
        let req = head(Some("[::1]:4566"));
        let r = answer(&l, &req, get(), ok, MOTO.into()).await;
        assert_eq!(
            text(&r),
            r#"{"QueueUrl": "http://[::1]:4566/123456789012/q"}"#
        );
        for body in [
            &b"\xff\xfe<"[..],
            b"",
            b"   ",
            b"plain",
            b"<QueueUrl>",
            b"{\"QueueUrl\"",
        ] {
            let r = answer(&l, &req, get(), ok, Bytes::from_static(body).into()).await;
            assert_eq!(r.body().bytes().unwrap().as_ref(), body);
        }
    }

    #[test]
    fn bad_settings_are_refused_with_every_problem() {
        let err = SqsUrls::new(Settings {
            external_url: Some("http://h/x".into()),
            backend_account: Some("x".into()),
            ..Settings::default()
        })
        .unwrap_err();
        let paths: Vec<&str> = err.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["external_url", "backend_account"], "{err:?}");
    }

    #[tokio::test]
    async fn asks_for_answers_only_when_it_may_rewrite_them() {
        let l = SqsUrls::new(Settings::default()).unwrap();
        let req = head(Some("h"));
        let listing = RequestContext::detached(1).with_aws(aws("ListQueues", "000000000000"));
        assert_eq!(l.body_access(&req, &listing), BodyAccess::BUFFER_RESPONSE);
        let sending = RequestContext::detached(2).with_aws(aws("SendMessage", "000000000000"));
        assert_eq!(l.body_access(&req, &sending), BodyAccess::NONE);
        assert_eq!(
            l.body_access(&req, &RequestContext::detached(3)),
            BodyAccess::NONE,
            "not AWS, not a form"
        );
        // A form POST the edge did not recognise: its body may still name SQS.
        let mut pending = RequestContext::detached(4);
        pending.set_detection(edgestack_core::aws::Detection::Unknown {
            seen: String::new(),
            needs_form: true,
        });
        assert_eq!(l.body_access(&req, &pending), BodyAccess::BUFFER_RESPONSE);
    }
}
