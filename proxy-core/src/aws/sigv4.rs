//! Editing SigV4 `Authorization` headers, for listeners that re-address a call.
//!
//! The edge reads signatures once, in [`detect`](super::detect) (the access key, region and
//! service are in [`AwsRequest`](super::AwsRequest)); listeners never parse them again. What
//! is here changes a header instead: [`with_access_key`] puts another access key in its
//! credential scope, which is how the `dynamodb-local` interceptor gives each account its own
//! DynamoDB Local namespace (DynamoDB Local keeps one database per access key and region, and
//! does not check signatures).
//!
//! The signature itself is left as it was: the changed header no longer verifies, so this is
//! only for backends that do not check it.

/// The SigV4 (or SigV4a) `Authorization` header `authorization` with the access key of its
/// `Credential=KEY/date/region/service/aws4_request` replaced by `key`; `None` when it is not
/// such a header.
///
/// ```
/// use edgestack_core::aws::sigv4::with_access_key;
///
/// let auth = "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc";
/// assert_eq!(
///     with_access_key(auth, "111111111111").unwrap(),
///     "AWS4-HMAC-SHA256 Credential=111111111111/20240101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc"
/// );
/// ```
pub fn with_access_key(authorization: &str, key: &str) -> Option<String> {
    let params = authorization
        .strip_prefix("AWS4-HMAC-SHA256")
        .or_else(|| authorization.strip_prefix("AWS4-ECDSA-P256-SHA256"))?;
    if !params.starts_with(' ') {
        return None;
    }
    let at = authorization.len() - params.len();
    // The parameters are `Name=value` separated by commas and/or spaces.
    let mut offset = at;
    for part in params.split([',', ' ']) {
        if let Some(scope) = part.strip_prefix("Credential=") {
            let start = offset + "Credential=".len();
            let old = scope.split_once('/')?.0;
            let end = start + old.len();
            return Some(format!(
                "{}{key}{}",
                &authorization[..start],
                &authorization[end..]
            ));
        }
        offset += part.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_access_key_changes() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(
            with_access_key(auth, "111111111111").unwrap(),
            "AWS4-HMAC-SHA256 Credential=111111111111/20240101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
        );
        // Any parameter order and separator.
        let auth = "AWS4-HMAC-SHA256 SignedHeaders=host,Credential=test/20240101/us-east-1/dynamodb/aws4_request,Signature=abc";
        assert_eq!(
            with_access_key(auth, "k").unwrap(),
            "AWS4-HMAC-SHA256 SignedHeaders=host,Credential=k/20240101/us-east-1/dynamodb/aws4_request,Signature=abc"
        );
        let sigv4a = "AWS4-ECDSA-P256-SHA256 Credential=AKID/20240101/dynamodb/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(
            with_access_key(sigv4a, "k").unwrap(),
            "AWS4-ECDSA-P256-SHA256 Credential=k/20240101/dynamodb/aws4_request, SignedHeaders=host, Signature=abc"
        );
    }

    #[test]
    fn other_headers_are_not_sigv4() {
        assert_eq!(with_access_key("Bearer x", "k"), None);
        assert_eq!(with_access_key("AWS AKID:sig", "k"), None);
        assert_eq!(
            with_access_key("AWS4-HMAC-SHA256X Credential=a/b", "k"),
            None
        );
        assert_eq!(
            with_access_key("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", "k"),
            None
        );
        assert_eq!(
            with_access_key("AWS4-HMAC-SHA256 Credential=noscope", "k"),
            None
        );
        // Not fooled by a parameter value that mentions `Credential=`.
        assert_eq!(
            with_access_key("AWS4-HMAC-SHA256 Signature=xCredential=a/b", "k"),
            None
        );
    }
}
