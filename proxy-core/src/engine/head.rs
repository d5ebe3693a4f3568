//! Moving request and response heads between pingora's types and the `http` types listeners
//! see, touching only what a listener changed (so untouched headers keep their case and order).

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use pingora::http::{RequestHeader, ResponseHeader};

/// Header edits on pingora's head types, which keep a case map beside the `HeaderMap`.
pub(crate) trait HeadEdit {
    fn headers(&self) -> &HeaderMap;
    fn remove(&mut self, name: &HeaderName);
    fn append(&mut self, name: HeaderName, value: HeaderValue);
}

impl HeadEdit for RequestHeader {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        // Only fails for invalid names/values, which a HeaderName/HeaderValue cannot be.
        let _ = self.append_header(name, value);
    }
}

impl HeadEdit for ResponseHeader {
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn remove(&mut self, name: &HeaderName) {
        self.remove_header(name);
    }
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        let _ = self.append_header(name, value);
    }
}

/// Headers that frame the body on the wire. They belong to the engine: it reads the client's
/// body by the client's framing and frames what it sends by the body it sends, so a listener's
/// edits to them are not applied (they would desynchronise the connection).
fn is_framing(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING
}

/// Makes `target`'s headers equal to `want`, rewriting only the names whose values differ and
/// leaving the framing headers alone.
pub(crate) fn sync_headers(target: &mut impl HeadEdit, want: &HeaderMap) {
    // `want` began as a copy of `target`, and listeners mostly leave it alone or add headers
    // (which `HeaderMap` lists after the ones it had): a walk over both tells these cases
    // apart without hashing a name.
    let added = {
        let (mut have, mut wanted) = (target.headers().iter(), want.iter());
        loop {
            match (have.next(), wanted.next()) {
                (Some(a), Some(b)) if a == b => continue,
                (None, None) => return,
                (None, Some(first)) => break Some(std::iter::once(first).chain(wanted)),
                _ => break None,
            }
        }
    };
    if let Some(added) = added {
        let added: Vec<(HeaderName, HeaderValue)> = added
            .filter(|(n, _)| !is_framing(n))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        for (name, value) in added {
            target.append(name, value);
        }
        return;
    }
    if target.headers() == want {
        return;
    }
    // Each name once (`keys` yields a name once, whatever its number of values): the names
    // whose values differ, then the names `want` no longer has.
    let mut changed: Vec<HeaderName> = want
        .keys()
        .filter(|n| !is_framing(n))
        .filter(|n| {
            !target
                .headers()
                .get_all(*n)
                .iter()
                .eq(want.get_all(*n).iter())
        })
        .cloned()
        .collect();
    changed.extend(
        target
            .headers()
            .keys()
            .filter(|n| !is_framing(n) && !want.contains_key(*n))
            .cloned(),
    );
    for name in changed {
        target.remove(&name);
        for v in want.get_all(&name) {
            target.append(name.clone(), v.clone());
        }
    }
}

/// Applies a listener's edits of the request head to pingora's request header. A change of
/// method to or from HEAD is refused: the response to the client is framed by its method.
pub(crate) fn apply_request(
    target: &mut RequestHeader,
    want: &http::request::Parts,
) -> Result<(), crate::Error> {
    if target.method != want.method {
        if target.method == Method::HEAD || want.method == Method::HEAD {
            return Err(crate::Error::Internal(format!(
                "a listener changed the method from {} to {}: a request cannot be turned into \
                 or out of HEAD (answer it directly instead)",
                target.method, want.method
            )));
        }
        target.set_method(want.method.clone());
    }
    if target.uri != want.uri {
        target.set_uri(want.uri.clone());
    }
    sync_headers(target, &want.headers);
    Ok(())
}

/// Applies a listener's edits of the response head to pingora's response header.
pub(crate) fn apply_response(target: &mut ResponseHeader, want: &http::response::Parts) {
    if target.status != want.status {
        let _ = target.set_status(want.status);
    }
    sync_headers(target, &want.headers);
}

/// Prepares a request head for the upstream hop the way pingora's own proxy path does:
/// HTTP/1.1, and none of the hop-by-hop headers of the client's hop (the standard ones and
/// those the client's `Connection` names). The framing headers stay; the engine sets them.
pub(crate) fn for_upstream_hop(req: &mut RequestHeader) {
    req.set_version(http::Version::HTTP_11);
    for name in crate::hop::hop_by_hop(&req.headers) {
        req.remove_header(&name);
    }
}

/// Refuses request heads whose framing or form is ambiguous, before anything is routed or
/// forwarded (each answered 400 on a closed connection, as nginx does):
/// - `Content-Length` sent more than once, or as a list (`5, 5`), even with equal values
///   (RFC 9110 §8.6 allows rejecting or reducing; rejecting is nginx's choice and leaves no
///   doubt about what the upstream sees), or not plain digits, or over `i64::MAX`;
/// - HTTP/1.1 without `Host` (RFC 9112 §3.2);
/// - a request target that is none of the four forms (RFC 9112 §3.2): what pingora made of a
///   request line with extra spaces (`GET  /a HTTP/1.1` arrives as `%20/a`).
pub(crate) fn check_request(req: &RequestHeader) -> Result<(), crate::Error> {
    let bad = |why: &str| Err(crate::Error::Client(why.to_string()));
    let mut lengths = req.headers.get_all(header::CONTENT_LENGTH).iter();
    if let Some(v) = lengths.next() {
        if lengths.next().is_some() {
            return bad("more than one Content-Length header");
        }
        let v = v.as_bytes();
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return bad("Content-Length is not a single decimal number");
        }
        let fits = std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|n| i64::try_from(n).is_ok());
        if !fits {
            return bad("Content-Length is out of range");
        }
    }
    if req.version == http::Version::HTTP_11 && !req.headers.contains_key(header::HOST) {
        return bad("an HTTP/1.1 request without Host");
    }
    let target = req.raw_path();
    let form_ok = target.starts_with(b"/")
        || (target == b"*" && req.method == Method::OPTIONS)
        || (req.method == Method::CONNECT && !target.is_empty())
        || req.uri.scheme().is_some();
    if !form_ok {
        return bad("a malformed request target (extra spaces in the request line?)");
    }
    Ok(())
}

/// True when a response to `method` with `status` carries no body by definition.
pub(crate) fn bodiless(method: &Method, status: StatusCode) -> bool {
    method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

/// The body length a head declares, if it declares one (`Content-Length`, parsed).
pub(crate) fn declared_length(h: &impl HeadEdit) -> Option<u64> {
    h.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Sets the framing headers for a body of exactly `len` bytes.
pub(crate) fn set_length(target: &mut impl HeadEdit, len: usize) {
    target.remove(&header::TRANSFER_ENCODING);
    target.remove(&header::CONTENT_LENGTH);
    target.append(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// The checksum header DynamoDB (and SQS's JSON protocol) put on responses: the CRC32 of the
/// body, in decimal. SDKs check it (botocore retries on a mismatch).
const AMZ_CRC32: &str = "x-amz-crc32";

/// Sets the length of the complete `body` a response will carry, and brings an
/// `x-amz-crc32` the upstream sent up to date with it, so a body changed by any listener
/// still passes the SDK's check.
pub(crate) fn set_body(target: &mut impl HeadEdit, body: &[u8]) {
    set_length(target, body.len());
    if target.headers().contains_key(AMZ_CRC32) {
        target.remove(&HeaderName::from_static(AMZ_CRC32));
        target.append(
            HeaderName::from_static(AMZ_CRC32),
            HeaderValue::from(crc32fast::hash(body)),
        );
    }
}

/// A pingora response header for a complete in-memory response. Framing follows the body
/// unless the response is bodiless, where a listener's `Content-Length` is kept (HEAD).
pub(crate) fn response_header(
    parts: http::response::Parts,
    body: &Bytes,
    method: &Method,
) -> ResponseHeader {
    let mut h = ResponseHeader::from(parts);
    frame(&mut h, body, method);
    h
}

/// Sets a response head's framing for the complete `body` it will carry. A bodiless response
/// (HEAD, 1xx, 204, 304) keeps no `Transfer-Encoding`, and a 1xx or 204 no `Content-Length`;
/// a HEAD or 304 keeps the length it declares.
pub(crate) fn frame(h: &mut ResponseHeader, body: &Bytes, method: &Method) {
    let status = h.status;
    if bodiless(method, status) {
        h.remove_header(&header::TRANSFER_ENCODING);
        if status == StatusCode::NO_CONTENT || status.is_informational() {
            h.remove_header(&header::CONTENT_LENGTH);
        }
    } else {
        set_body(h, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_body_gets_its_length_and_an_up_to_date_crc32() {
        let mut h = ResponseHeader::build(200, None).unwrap();
        h.insert_header("transfer-encoding", "chunked").unwrap();
        h.insert_header("x-amz-crc32", "1").unwrap();
        set_body(&mut h, b"{\"TableNames\":[]}");
        assert_eq!(h.headers["content-length"], "17");
        assert!(!h.headers.contains_key("transfer-encoding"));
        assert_eq!(
            h.headers["x-amz-crc32"],
            crc32fast::hash(b"{\"TableNames\":[]}").to_string()
        );
        let mut plain = ResponseHeader::build(200, None).unwrap();
        set_body(&mut plain, b"x");
        assert!(
            !plain.headers.contains_key("x-amz-crc32"),
            "added only where the upstream sent one"
        );
    }

    /// A response head from the upstream (names in their case), and its copy for listeners.
    fn upstream() -> (ResponseHeader, HeaderMap) {
        let mut h = ResponseHeader::build(200, None).unwrap();
        for (n, v) in [
            ("Server", "s"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
            ("Content-Length", "3"),
            ("ETag", "e"),
        ] {
            h.append_header(n.to_string(), v).unwrap();
        }
        let copy = h.headers.clone();
        (h, copy)
    }

    fn wire(h: &ResponseHeader) -> String {
        let mut buf = bytes::BytesMut::new();
        h.header_to_h1_wire(&mut buf);
        String::from_utf8(buf.to_vec()).unwrap()
    }

    #[test]
    fn listener_edits_reach_pingoras_head_and_untouched_names_keep_their_case() {
        // Untouched: nothing changes.
        let (mut h, want) = upstream();
        let before = wire(&h);
        sync_headers(&mut h, &want);
        assert_eq!(wire(&h), before);

        // Added headers (the walk's fast path), a framing one among them, and one more value
        // of the last name.
        let (mut h, mut want) = upstream();
        want.append("x-request-id", HeaderValue::from_static("id-1"));
        want.append("etag", HeaderValue::from_static("e2"));
        want.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        sync_headers(&mut h, &want);
        let got = wire(&h);
        assert!(
            got.contains("Server: s\r\n") && got.contains("X-Multi: 1\r\nX-Multi: 2\r\n"),
            "{got}"
        );
        assert!(got.contains("x-request-id: id-1\r\n"), "{got}");
        assert_eq!(
            h.headers.get_all("etag").iter().collect::<Vec<_>>(),
            ["e", "e2"]
        );
        assert!(!h.headers.contains_key("transfer-encoding"), "{got}");

        // Changed and removed values (the general path).
        let (mut h, mut want) = upstream();
        want.insert("x-multi", HeaderValue::from_static("3"));
        want.remove("server");
        want.remove("content-length");
        sync_headers(&mut h, &want);
        let got = wire(&h);
        assert!(!got.to_ascii_lowercase().contains("server:"), "{got}");
        assert_eq!(
            h.headers.get_all("x-multi").iter().collect::<Vec<_>>(),
            ["3"]
        );
        assert!(
            got.contains("ETag: e\r\n") && got.contains("Content-Length: 3\r\n"),
            "{got}"
        );
    }
}
