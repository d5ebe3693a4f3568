//! One queue URL or SQS ARN as the client should see it: where the edge is, and the request's
//! region and account.
//!
//! - Queue URLs: the scheme and authority become the edge's (`external_url`, else `http://`
//!   and the request's `Host`), in the shape of the endpoint strategy ([`crate::strategy`]);
//!   the path is kept, except that `/queue/{name}` (ElasticMQ,
//!   old LocalStack) becomes `/{account}/{name}`, and the backend's account becomes the
//!   request's when `backend_account` is set. Anything after the path is kept.
//! - SQS ARNs (`arn:{partition}:sqs:{region}:{account}:{name}`): a region that is not
//!   region-shaped (`elasticmq`, empty) becomes the request's; the backend's account becomes
//!   the request's when `backend_account` is set.
//!
//! Only well-formed values are inserted: the edge's base is validated (settings) or parsed
//! (`Host`), regions must be region-shaped and accounts 12 digits, else that part is left as
//! the backend wrote it.

use std::borrow::Cow;

use edgestack_core::aws::detect::is_region;

use crate::{settings::is_account, strategy::EndpointStrategy};

/// What answers are rewritten for: one request's edge address, region and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place<'a> {
    /// `scheme://authority` queue URLs start with; `None`: keep the backend's.
    pub base: Option<Cow<'a, str>>,
    /// The request's region, if region-shaped.
    pub region: Option<&'a str>,
    /// The request's account, if 12 digits.
    pub account: Option<&'a str>,
    /// The backend's account to replace with [`Place::account`].
    pub backend_account: Option<&'a str>,
    /// The shape of queue URLs ([`EndpointStrategy::Dynamic`] unless set).
    pub strategy: EndpointStrategy,
}

impl<'a> Place<'a> {
    /// A place from raw request facts; malformed ones are dropped (see the module docs).
    pub fn new(
        base: Option<Cow<'a, str>>,
        region: &'a str,
        account: &'a str,
        backend_account: Option<&'a str>,
    ) -> Place<'a> {
        Place {
            base,
            region: is_region(region).then_some(region),
            account: is_account(account).then_some(account),
            backend_account,
            strategy: EndpointStrategy::Dynamic,
        }
    }

    /// The same place, handing out queue URLs in `strategy`'s shape.
    pub fn with_strategy(mut self, strategy: EndpointStrategy) -> Place<'a> {
        self.strategy = strategy;
        self
    }

    /// The queue URL as the client should see it, or `None` when it stays as it is (not an
    /// `http(s)://` URL, or nothing to change).
    pub fn queue_url(&self, url: &str) -> Option<String> {
        let rest = strip_prefix_ignore_case(url, "http://")
            .or_else(|| strip_prefix_ignore_case(url, "https://"))?;
        let scheme_and_authority = &url[..url.len() - rest.len()];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let backend_base = &url[..scheme_and_authority.len() + authority_end];
        let after = &rest[authority_end..];
        let path_end = after.find(['?', '#']).unwrap_or(after.len());
        let (path, tail) = after.split_at(path_end);

        let path = self.path(path);
        let base = self.base.as_deref().unwrap_or(backend_base);
        let new = match self.strategy.url(base, self.region, &path) {
            Some(shaped) => format!("{shaped}{tail}"),
            None => format!("{base}{path}{tail}"),
        };
        (new != url).then_some(new)
    }

    /// `/queue/{name}` → `/{account}/{name}`; the backend's account (second-to-last segment)
    /// → the request's.
    fn path<'p>(&self, path: &'p str) -> Cow<'p, str> {
        let Some(account) = self.account else {
            return Cow::Borrowed(path);
        };
        let segments: Vec<&str> = path.split('/').collect();
        match segments.as_slice() {
            ["", "queue", name] if !name.is_empty() => {
                return Cow::Owned(format!("/{account}/{name}"));
            }
            [.., acct, name] if !name.is_empty() && Some(*acct) == self.backend_account => {
                let keep = &path[..path.len() - acct.len() - name.len() - 1];
                return Cow::Owned(format!("{keep}{account}/{name}"));
            }
            _ => {}
        }
        Cow::Borrowed(path)
    }

    /// `text` with every SQS ARN in it corrected, or `None` when none changed. ARNs are found
    /// as runs of ARN characters (`A-Za-z0-9_.:-`), so escaped JSON or XML text around them
    /// (`&quot;`, `\"`) is left byte for byte.
    pub fn arns_in(&self, text: &str) -> Option<String> {
        let mut out = String::new();
        let mut copied = 0;
        let mut search = 0;
        while let Some(found) = text[search..].find("arn:") {
            let start = search + found;
            let len = text[start..]
                .find(|c: char| !is_arn_char(c))
                .unwrap_or(text.len() - start);
            search = start + len.max(1);
            let at_boundary = text[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !is_arn_char(c));
            if !at_boundary {
                continue;
            }
            if let Some(new) = self.arn(&text[start..start + len]) {
                out.push_str(&text[copied..start]);
                out.push_str(&new);
                copied = start + len;
            }
        }
        if copied == 0 {
            return None;
        }
        out.push_str(&text[copied..]);
        Some(out)
    }

    /// One SQS ARN corrected, or `None` when it is not one or stays as it is.
    pub fn arn(&self, arn: &str) -> Option<String> {
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("sqs"), Some(region), Some(account), Some(name)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let region = match self.region {
            Some(ours) if !is_region(region) => ours,
            _ => region,
        };
        let account = match self.account {
            Some(ours) if self.backend_account == Some(account) => ours,
            _ => account,
        };
        let new = format!("arn:{partition}:sqs:{region}:{account}:{name}");
        (new != arn).then_some(new)
    }
}

fn is_arn_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The place the JSON and XML tests rewrite for: URLs at `http://localhost:4566`,
/// eu-west-1, account 000000000000, backend account 123456789012.
#[cfg(test)]
pub(crate) fn example() -> Place<'static> {
    Place::new(
        Some("http://localhost:4566".into()),
        "eu-west-1",
        "000000000000",
        Some("123456789012"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(backend_account: Option<&str>) -> Place<'_> {
        Place::new(
            Some("http://localhost:4566".into()),
            "eu-west-1",
            "111122223333",
            backend_account,
        )
    }

    #[test]
    fn queue_urls_point_at_the_edge() {
        let p = edge(None);
        assert_eq!(
            p.queue_url("http://127.0.0.1:5000/123456789012/q1")
                .unwrap(),
            "http://localhost:4566/123456789012/q1"
        );
        assert_eq!(
            p.queue_url("https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo")
                .unwrap(),
            "http://localhost:4566/123456789012/q.fifo"
        );
        assert_eq!(
            p.queue_url("http://localhost:9324/queue/q1").unwrap(),
            "http://localhost:4566/111122223333/q1",
            "ElasticMQ's /queue/ path"
        );
        assert_eq!(
            p.queue_url("http://localhost:9324/queue/eu-west-1/000000000000/q1")
                .unwrap(),
            "http://localhost:4566/queue/eu-west-1/000000000000/q1",
            "LocalStack's path strategy keeps its path"
        );
        assert_eq!(
            p.queue_url("http://h:1/123456789012/q?x=%2F#f").unwrap(),
            "http://localhost:4566/123456789012/q?x=%2F#f"
        );
        assert_eq!(p.queue_url("http://localhost:4566/123456789012/q1"), None);
        assert_eq!(p.queue_url("q1"), None, "not a URL");
        assert_eq!(p.queue_url("ftp://h/1/q"), None);
        assert_eq!(p.queue_url("http://h").unwrap(), "http://localhost:4566");
    }

    #[test]
    fn the_backend_account_becomes_the_requests() {
        let p = edge(Some("123456789012"));
        assert_eq!(
            p.queue_url("http://127.0.0.1:5000/123456789012/q1")
                .unwrap(),
            "http://localhost:4566/111122223333/q1"
        );
        assert_eq!(
            p.queue_url("http://127.0.0.1:5000/000000000000/q1")
                .unwrap(),
            "http://localhost:4566/000000000000/q1",
            "another account is left alone"
        );
        assert_eq!(
            p.queue_url("http://h/queue/eu-west-1/123456789012/q1")
                .unwrap(),
            "http://localhost:4566/queue/eu-west-1/111122223333/q1"
        );
        assert_eq!(
            p.arn("arn:aws:sqs:eu-west-1:123456789012:q1").unwrap(),
            "arn:aws:sqs:eu-west-1:111122223333:q1"
        );
        assert_eq!(p.arn("arn:aws:sqs:eu-west-1:000000000000:q1"), None);
    }

    #[test]
    fn without_a_base_the_backends_host_stays() {
        let p = Place::new(None, "us-east-1", "000000000000", Some("123456789012"));
        assert_eq!(
            p.queue_url("http://127.0.0.1:5000/123456789012/q1")
                .unwrap(),
            "http://127.0.0.1:5000/000000000000/q1"
        );
        assert_eq!(p.queue_url("http://127.0.0.1:5000/000000000000/q1"), None);
    }

    #[test]
    fn arn_regions_that_are_not_regions_become_the_requests() {
        let p = edge(None);
        assert_eq!(
            p.arn("arn:aws:sqs:elasticmq:000000000000:q1").unwrap(),
            "arn:aws:sqs:eu-west-1:000000000000:q1"
        );
        assert_eq!(
            p.arn("arn:aws-cn:sqs::000000000000:q1").unwrap(),
            "arn:aws-cn:sqs:eu-west-1:000000000000:q1"
        );
        assert_eq!(p.arn("arn:aws:sqs:us-east-1:000000000000:q1"), None);
        assert_eq!(p.arn("arn:aws:sns:elasticmq:000000000000:t"), None);
        assert_eq!(p.arn("arn:aws:sqs:elasticmq"), None);
    }

    #[test]
    fn malformed_request_facts_change_nothing() {
        let p = Place::new(None, "<bad>", "test", Some("123456789012"));
        assert_eq!(p.region, None);
        assert_eq!(p.account, None);
        assert_eq!(p.arn("arn:aws:sqs:elasticmq:123456789012:q"), None);
        assert_eq!(p.queue_url("http://h/queue/q"), None);
        assert_eq!(p.queue_url("http://h/123456789012/q"), None);
    }

    #[test]
    fn arns_inside_escaped_text() {
        let p = edge(Some("123456789012"));
        let xml = "{&quot;deadLetterTargetArn&quot;: &quot;arn:aws:sqs:elasticmq:123456789012:dlq&quot;, &quot;maxReceiveCount&quot;: 3}";
        assert_eq!(
            p.arns_in(xml).unwrap(),
            "{&quot;deadLetterTargetArn&quot;: &quot;arn:aws:sqs:eu-west-1:111122223333:dlq&quot;, &quot;maxReceiveCount&quot;: 3}"
        );
        let json = r#""{\"sourceQueueArns\":[\"arn:aws:sqs:us-east-1:123456789012:a\",\"arn:aws:sqs:us-east-1:123456789012:b\"]}""#;
        assert_eq!(
            p.arns_in(json).unwrap(),
            r#""{\"sourceQueueArns\":[\"arn:aws:sqs:us-east-1:111122223333:a\",\"arn:aws:sqs:us-east-1:111122223333:b\"]}""#
        );
        assert_eq!(p.arns_in("xarn:aws:sqs:elasticmq:123456789012:q"), None);
        assert_eq!(p.arns_in("no arns, arn: here, arn:"), None);
        assert_eq!(p.arns_in(""), None);
        assert_eq!(p.arns_in("ärn:arn:"), None);
    }
}
