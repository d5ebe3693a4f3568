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
    if target.headers() == want {
        return;
    }
    let changed: Vec<HeaderName> = target
        .headers()
        .keys()
        .chain(want.keys())
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

/// A pingora response header for a complete in-memory response. Framing follows the body
/// unless the response is bodiless, where a listener's `Content-Length` is kept (HEAD).
pub(crate) fn response_header(
    parts: http::response::Parts,
    body: &Bytes,
    method: &Method,
) -> ResponseHeader {
    let status = parts.status;
    let mut h = ResponseHeader::from(parts);
    if bodiless(method, status) {
        h.remove_header(&header::TRANSFER_ENCODING);
        if status == StatusCode::NO_CONTENT || status.is_informational() {
            h.remove_header(&header::CONTENT_LENGTH);
        }
    } else {
        set_length(&mut h, body.len());
    }
    h
}
