//! S3's request shapes: LocalStack's legacy rules for requests without a SigV4 scope
//! (SigV2, form uploads, virtual hosts, unsigned object reads and writes, CORS preflights), and
//! the bucket and key a request names (virtual-host or path style).

use http::{header, request::Parts, Method};
use percent_encoding::percent_decode_str;

use crate::aws::operation;

use super::{credential::Credential, header_str, host::HostInfo, Signature};

/// LocalStack's legacy S3 rules, for requests with no SigV4 scope: SigV2, form uploads,
/// virtual hosts, unsigned object reads and writes.
pub(super) fn looks_like_s3(req: &Parts, cred: &Credential, host: &HostInfo) -> bool {
    if matches!(cred.signature, Some(Signature::V2 | Signature::V2Presigned)) {
        return true;
    }
    if host.bucket.is_some() || host.s3 {
        return true;
    }
    let rest = req.uri.path().trim_start_matches('/');
    // `/bucket/key` (an object) or `/bucket`.
    let (bucket, object) = match rest.split_once('/') {
        Some((bucket, _)) => (bucket, true),
        None => (rest, false),
    };
    if !operation::is_bucket_name(bucket) {
        return false;
    }
    if req.method == Method::OPTIONS {
        // A browser's CORS preflight for an object or bucket: the bucket's CORS rules apply.
        return req
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    }
    if req.method == Method::POST {
        return !object
            && header_str(req, &header::CONTENT_TYPE)
                .is_some_and(|c| c.starts_with("multipart/form-data"));
    }
    if header_str(req, &header::USER_AGENT).is_some_and(|ua| ua.contains("aws-cli/")) {
        return true;
    }
    if object {
        matches!(
            req.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        )
    } else {
        // `/bucket`: created, probed, or listed with S3's own parameters.
        matches!(req.method, Method::HEAD | Method::PUT)
            || (req.method == Method::GET && has_s3_list_param(req.uri.query().unwrap_or("")))
    }
}

/// A query that only an S3 bucket request has.
fn has_s3_list_param(query: &str) -> bool {
    query.split('&').any(|p| {
        let key = p.split_once('=').map_or(p, |(k, _)| k);
        matches!(
            key,
            "list-type"
                | "prefix"
                | "delimiter"
                | "max-keys"
                | "marker"
                | "continuation-token"
                | "start-after"
                | "encoding-type"
                | "versions"
                | "uploads"
                | "location"
                | "acl"
                | "policy"
                | "cors"
                | "versioning"
                | "tagging"
                | "notification"
        )
    })
}

/// The bucket and key of an S3 request: the host's bucket and the whole path as the key, or
/// path style's first segment and the rest. The key is percent-decoded.
pub(super) fn s3_bucket_and_key(
    path: &str,
    vhost_bucket: Option<&str>,
) -> (Option<String>, Option<String>) {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (bucket, key) = match vhost_bucket {
        Some(b) => (b.to_string(), path),
        None => match path.split_once('/') {
            Some((b, k)) => (b.to_string(), k),
            None => (path.to_string(), ""),
        },
    };
    let bucket = (!bucket.is_empty()).then_some(bucket);
    let key = (bucket.is_some() && !key.is_empty())
        .then(|| percent_decode_str(key).decode_utf8_lossy().into_owned());
    (bucket, key)
}
