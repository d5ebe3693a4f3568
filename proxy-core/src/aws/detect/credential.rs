//! The credential a request carries: the SigV4 scope (Authorization header or presigned
//! `X-Amz-Credential`: access key, region, signing name), or SigV2's access key (`AWS key:sig`,
//! presigned `AWSAccessKeyId`), and the account an access key stands for.

use http::request::Parts;

use super::{header_str, query::query_param};

/// The account a request is in when its access key does not name one (LocalStack's default).
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// How a request was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// SigV4 (or SigV4a) in the Authorization header.
    V4,
    /// SigV4 in the query string (a presigned URL).
    V4Presigned,
    /// SigV2 in the Authorization header (`AWS key:signature`).
    V2,
    /// SigV2 in the query string (`AWSAccessKeyId=…&Signature=…`).
    V2Presigned,
    /// No signature.
    Unsigned,
}

/// The credential a request carries.
#[derive(Debug, Default)]
pub(super) struct Credential {
    pub(super) access_key: Option<String>,
    pub(super) region: Option<String>,
    pub(super) service: Option<String>,
    pub(super) signature: Option<Signature>,
}

/// The account for an access key: a 12-digit key is the account.
pub fn account_of(access_key: Option<&str>) -> &str {
    match access_key {
        Some(k) if k.len() == 12 && k.bytes().all(|b| b.is_ascii_digit()) => k,
        _ => DEFAULT_ACCOUNT,
    }
}

pub(super) fn credential(req: &Parts) -> Credential {
    if let Some(auth) = header_str(req, "authorization") {
        if let Some(rest) = auth
            .strip_prefix("AWS4-HMAC-SHA256")
            .or_else(|| auth.strip_prefix("AWS4-ECDSA-P256-SHA256"))
        {
            let scope = rest
                .split([',', ' '])
                .find_map(|p| p.trim().strip_prefix("Credential="))
                .unwrap_or("");
            return scope_parts(scope, Signature::V4);
        }
        if let Some(rest) = auth.strip_prefix("AWS ") {
            return Credential {
                access_key: rest.split(':').next().map(|k| k.trim().to_string()),
                signature: Some(Signature::V2),
                ..Credential::default()
            };
        }
    }
    let query = req.uri.query().unwrap_or("");
    if let Some(scope) = query_param(query, "X-Amz-Credential") {
        return scope_parts(&scope, Signature::V4Presigned);
    }
    if query_param(query, "Signature").is_some() {
        if let Some(key) = query_param(query, "AWSAccessKeyId") {
            return Credential {
                access_key: Some(key.into_owned()),
                signature: Some(Signature::V2Presigned),
                ..Credential::default()
            };
        }
    }
    Credential::default()
}

/// `AKID/date/region/service/aws4_request` (SigV4) or `AKID/date/service/aws4_request`
/// (SigV4a, no region).
fn scope_parts(scope: &str, signature: Signature) -> Credential {
    let parts: Vec<&str> = scope.split('/').collect();
    let (region, service) = match parts.as_slice() {
        [_, _, region, service, "aws4_request"] => (Some(*region), Some(*service)),
        [_, _, service, "aws4_request"] => (None, Some(*service)),
        _ => (None, None),
    };
    Credential {
        access_key: parts
            .first()
            .filter(|k| !k.is_empty())
            .map(|k| k.to_string()),
        region: region
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .map(str::to_string),
        service: service.filter(|s| !s.is_empty()).map(str::to_string),
        signature: Some(signature),
    }
}
