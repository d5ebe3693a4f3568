//! The URL clients reach the edge at, as the start of URLs the edge hands out (queue URLs,
//! SNS `SubscribeURL`s): `[aws] external_url`, LocalStack's `LOCALSTACK_HOST`.

/// A URL clients reach the edge at (`http(s)://host[:port]`), as the start of URLs handed
/// out: lower-case scheme, `://`, the authority as written, no trailing `/`. The error says
/// what is wrong with it.
pub fn public_url(url: &str) -> Result<String, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err("the scheme is not http or https");
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err("no host");
    }
    if authority.contains(['/', '?', '#']) {
        return Err("it has a path, query or fragment");
    }
    if authority.contains('@') {
        return Err("it has user information");
    }
    let parsed: http::uri::Authority = authority.parse().map_err(|_| "not a valid host[:port]")?;
    if parsed.host().is_empty() {
        return Err("no host");
    }
    if authority.ends_with(':') {
        return Err("an empty port");
    }
    if let Some(port) = authority.rsplit_once(':').map(|(_, p)| p) {
        // Only a port after the host (not the colons of an IPv6 literal).
        if !authority.ends_with(']') && port.parse::<u16>().is_err() {
            return Err("the port is not a number from 0 to 65535");
        }
    }
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls() {
        for (url, base) in [
            (
                "http://sqs.example.test:9999",
                "http://sqs.example.test:9999",
            ),
            ("https://sqs.example.test", "https://sqs.example.test"),
            ("HTTP://Edge:4566/", "http://Edge:4566"),
            ("http://127.0.0.1:4566", "http://127.0.0.1:4566"),
            ("http://[::1]:4566", "http://[::1]:4566"),
            ("http://[::1]", "http://[::1]"),
        ] {
            assert_eq!(public_url(url).as_deref(), Ok(base), "{url}");
        }
        for url in [
            "sqs.example.test:9999",
            "ftp://sqs.example.test",
            "http://",
            "http:///x",
            "http://host/path",
            "http://host:4566/000000000000",
            "http://host?x=1",
            "http://host#f",
            "http://user@host",
            "http://host:",
            "http://host:99999",
            "http://host:port",
            "http://ho st",
            "",
        ] {
            assert!(public_url(url).is_err(), "{url} accepted");
        }
    }
}
