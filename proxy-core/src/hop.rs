//! Hop-by-hop headers: the ones that describe one connection (RFC 9110 §7.6.1), which a proxy
//! never passes on. The engine drops them on the way upstream; listeners that make their own
//! calls with a client's headers (API Gateway's HTTP integrations) drop the same ones.

use http::{header, HeaderMap, HeaderName};

/// The standard hop-by-hop headers (plus the legacy `proxy-connection` and HTTP/2's
/// `http2-settings`).
const STANDARD: [&str; 9] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "connection",
    "upgrade",
    "http2-settings",
];

/// The hop-by-hop headers present in `headers`: the standard ones and those its
/// `Connection` names, except the framing headers (`Content-Length`, `Transfer-Encoding`),
/// which whoever writes the message sets.
pub fn hop_by_hop(headers: &HeaderMap) -> Vec<HeaderName> {
    let nominated = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok());
    let standard = STANDARD.iter().map(|n| HeaderName::from_static(n));
    nominated
        .chain(standard)
        .filter(|n| n != header::CONTENT_LENGTH && n != header::TRANSFER_ENCODING)
        .filter(|n| headers.contains_key(n))
        .collect()
}

/// Removes [`hop_by_hop`] headers from `headers`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    for name in hop_by_hop(headers) {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_nominated() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-private, content-length"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("te", "trailers"),
            ("content-length", "3"),
            ("x-end-to-end", "2"),
        ] {
            h.append(k, v.parse().unwrap());
        }
        remove_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["content-length", "x-end-to-end"]);
    }
}
