//! The edge's own AWS calls: what interceptors use to talk to other services the way a client
//! does (an S3 notification is an SQS `SendMessage`, a copy's size is an S3 `HeadObject`).
//!
//! [`AwsClient`] builds the request, signs it with SigV4 and the edge's credentials
//! (`[aws] access_key_id` / `secret_access_key`, `test`/`test` by default), routes it to the
//! upstream the edge routes that service to, and sends it over a pooled connection. It does
//! not go through the listener chain, and it never retries a call that may have run: callers
//! that need retries (notification delivery) own their policy and ask
//! [`CallError::is_retryable`] / [`is_retryable_status`] what is worth another try.

use std::{collections::HashMap, sync::Arc, time::SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::{
    http_request::{
        sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SigningSettings, UriPathNormalizationMode,
    },
    sign::v4,
};
use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Method, StatusCode};
use pingora::{
    connectors::http::Connector, http::RequestHeader, protocols::http::client::HttpSession,
    upstreams::peer::HttpPeer,
};

use super::ServiceRoutes;
use crate::upstream::{Upstream, UpstreamName};

/// The most a side call's response body may be (they are small: ids, URLs, XML results).
const RESPONSE_LIMIT: usize = 4 * 1024 * 1024;

/// How long a call through the edge may wait for its answer: a Lambda function's longest
/// timeout (15 minutes) and a little.
const VIA_EDGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60 + 30);

/// Why a side call got no response.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No upstream serves the service.
    #[error("no upstream serves AWS {service}: add `{service} = \"<upstream>\"` or `default` to [routes]")]
    NoUpstream {
        /// The service.
        service: String,
    },
    /// The named upstream is not configured.
    #[error("upstream '{0}' is not configured")]
    UnknownUpstream(UpstreamName),
    /// The request could not be built or signed.
    #[error("cannot build the {service} request: {message}")]
    Build {
        /// The service.
        service: String,
        /// What was wrong.
        message: String,
    },
    /// Connecting, writing or reading failed (the upstream is down, slow or cut the answer).
    #[error("AWS {service} call to upstream '{upstream}' failed: {message}")]
    Transport {
        /// The service.
        service: String,
        /// The upstream.
        upstream: UpstreamName,
        /// What failed.
        message: String,
    },
    /// No answer came in time.
    #[error("{service} call to '{upstream}' got no answer within {after:?}")]
    Timeout {
        /// The service (`http` for a plain call).
        service: String,
        /// The upstream or origin.
        upstream: UpstreamName,
        /// The time allowed.
        after: std::time::Duration,
    },
}

impl CallError {
    /// True when trying again later may succeed (the upstream is down, slow or cut the
    /// exchange).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CallError::Transport { .. } | CallError::Timeout { .. }
        )
    }
}

/// True for response statuses worth another try: throttling and server errors.
pub fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// Sends signed AWS requests to the upstreams the edge routes services to. Cheap to clone.
///
/// Listeners get it from [`RequestContext::aws_client`](crate::RequestContext::aws_client) on
/// an AWS edge; embedders from [`Edge::aws_client`](crate::Edge::aws_client).
#[derive(Clone)]
pub struct AwsClient {
    inner: Arc<Inner>,
}

struct Inner {
    routes: Arc<ServiceRoutes>,
    upstreams: HashMap<UpstreamName, (Upstream, HttpPeer)>,
    connector: Connector,
    credentials: Credentials,
    default_region: String,
    /// The edge itself (its first listen address, as a loopback address when it listens on
    /// all interfaces), for [`AwsClient::send_via_edge`].
    edge: Option<(Upstream, HttpPeer)>,
    /// `[aws] external_url`.
    public_url: Option<String>,
}

impl std::fmt::Debug for AwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClient")
            .field("routes", &self.inner.routes)
            .field("default_region", &self.inner.default_region)
            .finish()
    }
}

impl AwsClient {
    /// The client of an AWS edge with these settings (routes, credentials, region, public
    /// URL), sending to `upstreams`; `edge_addr` is the edge's own first listen address.
    pub(crate) fn new(
        aws: &crate::settings::AwsSettings,
        upstreams: HashMap<UpstreamName, (Upstream, HttpPeer)>,
        connector: Connector,
        edge_addr: Option<std::net::SocketAddr>,
    ) -> Self {
        let edge = edge_addr.map(|a| {
            let addr = crate::upstream::reachable(a);
            let up = Upstream {
                name: UpstreamName::new("edgestack"),
                url: format!("http://{addr}"),
                addr,
                timeouts: crate::upstream::Timeouts {
                    connect: std::time::Duration::from_secs(5),
                    read: VIA_EDGE_TIMEOUT,
                    write: std::time::Duration::from_secs(60),
                    idle: std::time::Duration::from_secs(60),
                },
                s3_path_style: false,
                process: None,
            };
            let peer = up.peer();
            (up, peer)
        });
        AwsClient {
            inner: Arc::new(Inner {
                routes: Arc::new(aws.services.clone()),
                upstreams,
                connector,
                credentials: Credentials::new(
                    &aws.access_key_id,
                    &aws.secret_access_key,
                    None,
                    None,
                    "edgestack",
                ),
                default_region: aws.default_region.clone(),
                edge,
                public_url: aws.external_url.clone(),
            }),
        }
    }

    /// The edge's own URL (`http://127.0.0.1:4566` when it listens on `0.0.0.0:4566`): what a
    /// process the edge starts (a Lambda function) uses as `AWS_ENDPOINT_URL`.
    pub fn edge_url(&self) -> Option<String> {
        self.inner.edge.as_ref().map(|(up, _)| up.url.clone())
    }

    /// The URL clients reach the edge at, when configured (`[aws] external_url`, LocalStack's
    /// `LOCALSTACK_HOST`): the start of URLs the edge hands out to clients (queue URLs, SNS
    /// `SubscribeURL`s). `None`: use the `Host` the client sent.
    pub fn public_url(&self) -> Option<&str> {
        self.inner.public_url.as_deref()
    }

    /// [`send`](Self::send), but through the edge itself: the request goes to the edge's own
    /// address and through its listener chain, as a client's would, so an interceptor that
    /// answers the operation (a Lambda `Invoke` run by the lambda interceptor) answers it too.
    /// The answer may take up to 15 minutes (a function's longest timeout) and be up to
    /// `limit` bytes.
    pub async fn send_via_edge(
        &self,
        service: &str,
        region: &str,
        req: http::Request<Bytes>,
        limit: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        let Some((up, peer)) = &self.inner.edge else {
            return self.send_with_limit(service, region, req, limit).await;
        };
        let req = self.sign(service, region, up, req)?;
        let result = self.exchange(up, peer, &req, limit).await;
        if let Err(e) = &result {
            tracing::debug!(target: "edgestack::internal", "AWS {service} call through the edge failed: {e}");
        }
        result.map_err(|message| CallError::Transport {
            service: service.to_string(),
            upstream: up.name.clone(),
            message,
        })
    }

    /// The region calls use when the caller has none.
    pub fn default_region(&self) -> &str {
        &self.inner.default_region
    }

    /// The upstream that serves `service`, if any.
    pub fn upstream_for(&self, service: &str) -> Option<&UpstreamName> {
        self.inner.routes.upstream_for(service)
    }

    /// Sends `req` (path and query in its URI; `Host` and signing are added) to the upstream
    /// that serves `service`, signed for `service` in `region`. Any status is `Ok`.
    pub async fn send(
        &self,
        service: &str,
        region: &str,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, CallError> {
        self.send_with_limit(service, region, req, RESPONSE_LIMIT)
            .await
    }

    /// [`send`](Self::send) with a larger (or smaller) bound on the answer's body than the
    /// 4 MiB side calls get by default (a Lambda `Invoke` answers up to 6 MB).
    pub async fn send_with_limit(
        &self,
        service: &str,
        region: &str,
        req: http::Request<Bytes>,
        limit: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        let upstream = self
            .upstream_for(service)
            .ok_or_else(|| CallError::NoUpstream {
                service: service.to_string(),
            })?
            .clone();
        self.call(&upstream, service, region, req, limit).await
    }

    /// [`send`](Self::send) to a named upstream (for example the one a request was routed to).
    pub async fn send_to(
        &self,
        upstream: &UpstreamName,
        service: &str,
        region: &str,
        req: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, CallError> {
        self.call(upstream, service, region, req, RESPONSE_LIMIT)
            .await
    }

    async fn call(
        &self,
        upstream: &UpstreamName,
        service: &str,
        region: &str,
        req: http::Request<Bytes>,
        limit: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        let (up, peer) = self
            .inner
            .upstreams
            .get(upstream)
            .ok_or_else(|| CallError::UnknownUpstream(upstream.clone()))?;
        let req = self.sign(service, region, up, req)?;
        let result = self.exchange(up, peer, &req, limit).await;
        match &result {
            Ok(resp) => tracing::debug!(
                target: "edgestack::internal",
                "AWS {service} {} {} => {} (edgestack's own call to '{upstream}')",
                req.method(),
                req.uri(),
                resp.status().as_u16()
            ),
            Err(e) => tracing::debug!(target: "edgestack::internal", "{e}"),
        }
        result.map_err(|message| CallError::Transport {
            service: service.to_string(),
            upstream: upstream.clone(),
            message,
        })
    }

    /// A plain, unsigned HTTP call to any `http://host[:port]` origin named by the request's
    /// absolute URI (an API Gateway HTTP integration, a webhook). `Host` is set from the URI
    /// unless the request has one; hop-by-hop headers ([`crate::hop`]) are dropped from the
    /// request and the answer; the whole exchange is bounded by `timeout`, and the answer by
    /// `limit` bytes. Any status is `Ok`. `https` origins are refused (no TLS client here).
    pub async fn http(
        &self,
        mut req: http::Request<Bytes>,
        timeout: std::time::Duration,
        limit: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        let uri = req.uri().clone();
        let origin = uri.authority().map_or("", |a| a.as_str()).to_string();
        let bad = |message: String| CallError::Build {
            service: "http".into(),
            message,
        };
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(format!(
                    "{uri}: https endpoints are not supported (edgestack has no TLS client)"
                )))
            }
            _ => return Err(bad(format!("{uri}: not an absolute http:// URL"))),
        }
        let host = uri.host().ok_or_else(|| bad(format!("{uri}: no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let transport = |message: String| CallError::Transport {
            service: "http".into(),
            upstream: UpstreamName::new(&origin),
            message,
        };
        let call = async {
            let addrs = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| transport(format!("cannot resolve {host}: {e}")))?;
            let addr = crate::upstream::prefer_ipv4(addrs)
                .ok_or_else(|| transport(format!("{host} has no address")))?;
            let up = Upstream {
                name: UpstreamName::new(&origin),
                url: format!("http://{addr}"),
                addr,
                timeouts: crate::upstream::Timeouts {
                    connect: timeout.min(std::time::Duration::from_secs(10)),
                    read: timeout + std::time::Duration::from_secs(1),
                    write: timeout + std::time::Duration::from_secs(1),
                    idle: std::time::Duration::from_secs(60),
                },
                s3_path_style: false,
                process: None,
            };
            crate::hop::remove_hop_by_hop(req.headers_mut());
            if !req.headers().contains_key(header::HOST) {
                let value = HeaderValue::from_str(&origin).map_err(|e| bad(e.to_string()))?;
                req.headers_mut().insert(header::HOST, value);
            }
            if !req.body().is_empty() || req.method() != Method::GET {
                let len = req.body().len();
                req.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            }
            let mut resp = self
                .exchange(&up, &up.peer(), &req, limit)
                .await
                .map_err(transport)?;
            crate::hop::remove_hop_by_hop(resp.headers_mut());
            Ok(resp)
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout {
                service: "http".into(),
                upstream: UpstreamName::new(&origin),
                after: timeout,
            }),
        }
    }

    /// A query-protocol call (SQS, SNS, ...): `POST /` with `Action`, `Version` and `params`
    /// as a form.
    pub async fn query(
        &self,
        service: &str,
        region: &str,
        action: &str,
        version: &str,
        params: &[(&str, &str)],
    ) -> Result<http::Response<Bytes>, CallError> {
        // (The serializer is not `Send`: it must be gone before the await.)
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", action);
            form.append_pair("Version", version);
            for (k, v) in params {
                form.append_pair(k, v);
            }
            form.finish()
        };
        let req = http::Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Bytes::from(form))
            .map_err(|e| build_error(service, e))?;
        self.send(service, region, req).await
    }

    /// A JSON-protocol call (EventBridge, DynamoDB, ...): `POST /` with `X-Amz-Target: target`.
    pub async fn json(
        &self,
        service: &str,
        region: &str,
        target: &str,
        json_version: &str,
        body: &serde_json::Value,
    ) -> Result<http::Response<Bytes>, CallError> {
        let req = http::Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(
                header::CONTENT_TYPE,
                format!("application/x-amz-json-{json_version}"),
            )
            .header("x-amz-target", target)
            .body(Bytes::from(body.to_string()))
            .map_err(|e| build_error(service, e))?;
        self.send(service, region, req).await
    }

    /// Adds `Host`, `Content-Length` and the SigV4 headers.
    fn sign(
        &self,
        service: &str,
        region: &str,
        up: &Upstream,
        mut req: http::Request<Bytes>,
    ) -> Result<http::Request<Bytes>, CallError> {
        let host =
            HeaderValue::from_str(&up.addr.to_string()).map_err(|e| build_error(service, e))?;
        req.headers_mut().insert(header::HOST, host);
        let len = req.body().len();
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        let mut settings = SigningSettings::default();
        if service == "s3" {
            // S3 signs the path as sent (no normalisation, no double encoding) and wants the
            // payload hash as a header.
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let identity = self.inner.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| build_error(service, e))?
            .into();
        let url = format!("http://{}{}", up.addr, req.uri());
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            &url,
            headers.into_iter(),
            SignableBody::Bytes(req.body()),
        )
        .map_err(|e| build_error(service, e))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| build_error(service, e))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut req);
        Ok(req)
    }

    /// One exchange over a pooled connection; a pooled connection found dead before the
    /// request went out is replaced once (nothing ran upstream then).
    async fn exchange(
        &self,
        up: &Upstream,
        peer: &HttpPeer,
        req: &http::Request<Bytes>,
        limit: usize,
    ) -> Result<http::Response<Bytes>, String> {
        let connector = &self.inner.connector;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (session, reused) = connector
                .get_http_session(peer)
                .await
                .map_err(|e| e.to_string())?;
            let HttpSession::H1(mut s) = session else {
                return Err("upstream connection is not HTTP/1.1".into());
            };
            s.read_timeout = Some(up.timeouts.read);
            s.write_timeout = Some(up.timeouts.write);
            let mut head = RequestHeader::build(
                req.method().clone(),
                req.uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .as_bytes(),
                Some(req.headers().len()),
            )
            .map_err(|e| e.to_string())?;
            for (k, v) in req.headers() {
                head.append_header(k.clone(), v.clone())
                    .map_err(|e| e.to_string())?;
            }
            if let Err(e) = s.write_request_header(Box::new(head)).await {
                if reused && attempt == 1 {
                    continue;
                }
                return Err(e.to_string());
            }
            let sent = async {
                if !req.body().is_empty() {
                    s.write_body(req.body()).await?;
                }
                s.finish_body().await?;
                // Skip interim answers (a `100 Continue` nobody asked for).
                loop {
                    s.read_response().await?;
                    if !s.get_status().is_some_and(|c| c.is_informational()) {
                        return Ok::<(), Box<pingora::Error>>(());
                    }
                }
            }
            .await;
            if let Err(e) = sent {
                // Read nothing back: on a reused connection that the upstream had closed, the
                // request did not reach it. Once more on another connection.
                if reused && attempt == 1 && s.resp_header().is_none() {
                    continue;
                }
                return Err(e.to_string());
            }
            let head = s.resp_header().ok_or("no response head")?.clone();
            let mut body = BytesMut::new();
            while let Some(chunk) = s.read_body_bytes().await.map_err(|e| e.to_string())? {
                if body.len() + chunk.len() > limit {
                    return Err(format!("response over {limit} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            s.respect_keepalive();
            connector
                .release_http_session(HttpSession::H1(s), peer, Some(up.timeouts.idle))
                .await;
            let mut resp = http::Response::new(body.freeze());
            *resp.status_mut() = head.status;
            *resp.headers_mut() = head.headers.clone();
            return Ok(resp);
        }
    }
}

fn build_error(service: &str, e: impl std::fmt::Display) -> CallError {
    CallError::Build {
        service: service.to_string(),
        message: e.to_string(),
    }
}
