//! S3 virtual-host to path-style rewriting, for backends that only understand path style:
//! `GET http://bucket.s3.localhost.localstack.cloud:4566/key` becomes
//! `GET http://s3.localhost.localstack.cloud:4566/bucket/key`. SDKs use virtual hosts by
//! default; with this on, any S3 backend works with them. Applies only to the upstreams named
//! (`s3_path_style = true` on an upstream).

use std::collections::HashSet;

use async_trait::async_trait;
use http::{header, uri::PathAndQuery, HeaderValue, Uri};

use crate::{
    context::RequestContext,
    listener::{Forward, Listener, ListenerError, Request},
    upstream::UpstreamName,
};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct S3PathStyle {
    upstreams: HashSet<UpstreamName>,
}

impl S3PathStyle {
    /// Rewrites requests routed to any of `upstreams`.
    pub fn new(upstreams: impl IntoIterator<Item = UpstreamName>) -> Self {
        S3PathStyle {
            upstreams: upstreams.into_iter().collect(),
        }
    }
}

/// Rewrites `req` from virtual-host to path style for `bucket`.
pub(crate) fn to_path_style(req: &mut Request, bucket: &str) -> Result<(), ListenerError> {
    let pq = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let new_pq: PathAndQuery = format!("/{bucket}{pq}").parse()?;
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(new_pq);
    *req.uri_mut() = Uri::from_parts(parts)?;
    if let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        let prefix = format!("{bucket}.");
        if host.len() > prefix.len() && host[..prefix.len()].eq_ignore_ascii_case(&prefix) {
            let rest = HeaderValue::from_str(&host[prefix.len()..])?;
            req.headers_mut().insert(header::HOST, rest);
        }
    }
    Ok(())
}

#[async_trait]
impl Listener for S3PathStyle {
    fn name(&self) -> &str {
        "aws-s3-path-style"
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let Some(up) = cx.upstream() else {
            return Ok(Forward::Continue);
        };
        if !self.upstreams.contains(up) {
            return Ok(Forward::Continue);
        }
        let Some(bucket) = cx.aws().and_then(|a| a.vhost_bucket.clone()) else {
            return Ok(Forward::Continue);
        };
        to_path_style(req, &bucket)?;
        Ok(Forward::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;

    #[test]
    fn rewrites_path_and_host() {
        let mut req = Request::new(Body::Streamed);
        *req.uri_mut() = "/dir/key.txt?versionId=1".parse().unwrap();
        req.headers_mut().insert(
            header::HOST,
            "my.bucket.s3.localhost.localstack.cloud:4566"
                .parse()
                .unwrap(),
        );
        to_path_style(&mut req, "my.bucket").unwrap();
        assert_eq!(req.uri().to_string(), "/my.bucket/dir/key.txt?versionId=1");
        assert_eq!(
            req.headers()[header::HOST],
            "s3.localhost.localstack.cloud:4566"
        );
    }
}
