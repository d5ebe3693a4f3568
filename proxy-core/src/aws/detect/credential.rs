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
    if let Some(auth) = header_str(req, &http::header::AUTHORIZATION) {
        if let Some(rest) = auth
            .strip_prefix("AWS4-HMAC-SHA256")
            .or_else(|| auth.strip_prefix("AWS4-ECDSA-P256-SHA256"))
        {
            let scope = credential_param(rest).unwrap_or("");
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

/// The value of the `Credential=` parameter of a SigV4 `Authorization` header (after the
/// algorithm): found with a substring search, where a parameter starts (the header's start, or
/// after a space or a comma), up to the next space or comma.
fn credential_param(params: &str) -> Option<&str> {
    const NAME: &str = "Credential=";
    params.match_indices(NAME).find_map(|(i, _)| {
        let starts = params[..i]
            .bytes()
            .next_back()
            .is_none_or(|b| b == b' ' || b == b',');
        starts.then(|| {
            let value = &params[i + NAME.len()..];
            &value[..value.find([',', ' ']).unwrap_or(value.len())]
        })
    })
}

/// `AKID/date/region/service/aws4_request` (SigV4) or `AKID/date/service/aws4_request`
/// (SigV4a, no region).
fn scope_parts(scope: &str, signature: Signature) -> Credential {
    let mut it = scope.split('/');
    let parts = [
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ];
    let (region, service) = match parts {
        [Some(_), Some(_), Some(region), Some(service), Some("aws4_request"), None] => {
            (Some(region), Some(service))
        }
        [Some(_), Some(_), Some(service), Some("aws4_request"), None, None] => {
            (None, Some(service))
        }
        _ => (None, None),
    };
    Credential {
        access_key: parts[0].filter(|k| !k.is_empty()).map(str::to_string),
        region: region
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .map(str::to_string),
        service: service.filter(|s| !s.is_empty()).map(str::to_string),
        signature: Some(signature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_parameter_is_found_where_a_parameter_starts() {
        let p =
            " Credential=AKID/20261205/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=ab";
        assert_eq!(
            credential_param(p),
            Some("AKID/20261205/eu-west-1/s3/aws4_request")
        );
        assert_eq!(
            credential_param("Credential=K/d/s/aws4_request"),
            Some("K/d/s/aws4_request")
        );
        assert_eq!(
            credential_param(" XCredential=no,Credential=yes/x"),
            Some("yes/x"),
            "only where a parameter starts"
        );
        assert_eq!(credential_param(" SignedHeaders=host"), None);
        let c = scope_parts("AKID/20261205/eu-west-1/s3/aws4_request", Signature::V4);
        assert_eq!(
            (
                c.access_key.as_deref(),
                c.region.as_deref(),
                c.service.as_deref()
            ),
            (Some("AKID"), Some("eu-west-1"), Some("s3"))
        );
        let c = scope_parts("AKID/20261205/s3/aws4_request", Signature::V4);
        assert_eq!((c.region, c.service.as_deref()), (None, Some("s3")));
        let c = scope_parts(
            "AKID/20261205/eu-west-1/s3/aws4_request/extra",
            Signature::V4,
        );
        assert_eq!((c.access_key.as_deref(), c.service), (Some("AKID"), None));
        assert_eq!(scope_parts("", Signature::V4).access_key, None);
    }
}
