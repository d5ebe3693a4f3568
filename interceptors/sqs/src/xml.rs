//! Query-protocol (XML) answers: `<QueueUrl>` elements (CreateQueue, GetQueueUrl, ListQueues,
//! ListDeadLetterSourceQueues) and the `<Value>` of the `QueueArn`, `RedrivePolicy` and
//! `RedriveAllowPolicy` attributes (GetQueueAttributes).
//!
//! The answer is not re-serialised: only the text of those elements is replaced, so every
//! other byte (namespaces, request ids, attribute order, escaping) stays as the backend wrote
//! it. URLs are unescaped before they are rewritten and escaped (`&`, `<`, `>`) when inserted;
//! ARNs are corrected in place in the escaped text (the characters inserted never need
//! escaping).

use std::ops::Range;

use quick_xml::escape::{partial_escape, unescape};

use crate::{
    edits::{self, Edit},
    place::Place,
};

/// The attributes whose values carry SQS ARNs.
const ARN_ATTRIBUTES: [&str; 3] = ["QueueArn", "RedrivePolicy", "RedriveAllowPolicy"];

/// The answer with its queue URLs and ARNs corrected, or `None` when nothing changed.
pub fn rewrite(xml: &str, place: &Place<'_>) -> Option<String> {
    let mut edits = Vec::new();
    for (range, text) in elements(xml, "QueueUrl") {
        let Ok(url) = unescape(text) else {
            continue;
        };
        if let Some(new) = place.queue_url(url.trim()) {
            edits.push(Edit {
                range,
                text: partial_escape(new).into_owned(),
            });
        }
    }
    for (block, text) in elements(xml, "Attribute") {
        let names_arns = elements(text, "Name")
            .next()
            .is_some_and(|(_, name)| ARN_ATTRIBUTES.contains(&name.trim()));
        if !names_arns {
            continue;
        }
        let Some((value, value_text)) = elements(text, "Value").next() else {
            continue;
        };
        if let Some(new) = place.arns_in(value_text) {
            edits.push(Edit {
                range: block.start + value.start..block.start + value.end,
                text: new,
            });
        }
    }
    edits::apply(xml, edits)
}

/// The content (range and text) of every `<tag>…</tag>` in `xml`, in order. Elements with
/// attributes or a namespace prefix are not matched; an unclosed one ends the search.
fn elements<'a>(xml: &'a str, tag: &str) -> impl Iterator<Item = (Range<usize>, &'a str)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut pos = 0;
    std::iter::from_fn(move || {
        let start = pos + xml.get(pos..)?.find(&open)? + open.len();
        let end = start + xml.get(start..)?.find(&close)?;
        pos = end + close.len();
        Some((start..end, xml.get(start..end)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place<'static> {
        crate::place::example()
    }

    #[test]
    fn queue_urls_are_replaced_and_nothing_else_moves() {
        let xml = r#"<?xml version="1.0"?>
<ListQueuesResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ListQueuesResult><QueueUrl>http://127.0.0.1:5000/123456789012/a</QueueUrl><QueueUrl>http://127.0.0.1:5000/queue/b</QueueUrl><QueueUrl> http://127.0.0.1:5000/123456789012/c?x=1&amp;y=2 </QueueUrl></ListQueuesResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></ListQueuesResponse>"#;
        let want = r#"<?xml version="1.0"?>
<ListQueuesResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ListQueuesResult><QueueUrl>http://localhost:4566/000000000000/a</QueueUrl><QueueUrl>http://localhost:4566/000000000000/b</QueueUrl><QueueUrl>http://localhost:4566/000000000000/c?x=1&amp;y=2</QueueUrl></ListQueuesResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></ListQueuesResponse>"#;
        assert_eq!(rewrite(xml, &place()).unwrap(), want);
        assert_eq!(
            rewrite(want, &place()),
            None,
            "already pointing at the edge"
        );
    }

    #[test]
    fn the_edge_host_is_escaped_when_inserted() {
        let p = Place::new(
            Some("http://a&b<c".into()),
            "eu-west-1",
            "000000000000",
            None,
        );
        let xml = "<QueueUrl>http://h/000000000000/q</QueueUrl>";
        assert_eq!(
            rewrite(xml, &p).unwrap(),
            "<QueueUrl>http://a&amp;b&lt;c/000000000000/q</QueueUrl>"
        );
    }

    #[test]
    fn arn_attributes_are_corrected_others_are_not() {
        let xml = "<GetQueueAttributesResponse><GetQueueAttributesResult>\
            <Attribute><Name>QueueArn</Name><Value>arn:aws:sqs:elasticmq:123456789012:q1</Value></Attribute>\
            <Attribute><Name>RedrivePolicy</Name><Value>{&quot;deadLetterTargetArn&quot;: &quot;arn:aws:sqs:eu-west-1:123456789012:dlq&quot;, &quot;maxReceiveCount&quot;: 3}</Value></Attribute>\
            <Attribute><Value>{&quot;sourceQueueArns&quot;:[&quot;arn:aws:sqs:eu-west-1:123456789012:q1&quot;]}</Value><Name>RedriveAllowPolicy</Name></Attribute>\
            <Attribute><Name>Policy</Name><Value>{&quot;Resource&quot;: &quot;arn:aws:sqs:eu-west-1:123456789012:q1&quot;}</Value></Attribute>\
            </GetQueueAttributesResult></GetQueueAttributesResponse>";
        let got = rewrite(xml, &place()).unwrap();
        assert!(
            got.contains("<Value>arn:aws:sqs:eu-west-1:000000000000:q1</Value>"),
            "{got}"
        );
        assert!(got.contains("&quot;arn:aws:sqs:eu-west-1:000000000000:dlq&quot;, &quot;maxReceiveCount&quot;: 3}"), "{got}");
        assert!(
            got.contains("[&quot;arn:aws:sqs:eu-west-1:000000000000:q1&quot;]"),
            "{got}"
        );
        assert!(
            got.contains("&quot;Resource&quot;: &quot;arn:aws:sqs:eu-west-1:123456789012:q1&quot;"),
            "a policy is the user's document: {got}"
        );
        let untouched = |s: &str| {
            s.replace("elasticmq", "eu-west-1")
                .replace("123456789012", "")
        };
        assert_eq!(
            untouched(&got).replace("000000000000", ""),
            untouched(xml),
            "only regions and accounts changed"
        );
    }

    #[test]
    fn malformed_answers_are_left_alone() {
        for xml in [
            "",
            "<QueueUrl>",
            "<QueueUrl>http://h/queue/q",
            "</QueueUrl><QueueUrl>",
            "<QueueUrl>&bogus;http://h/queue/q</QueueUrl>",
            "<QueueUrl>not a url</QueueUrl>",
            "<Attribute><Name>QueueArn</Name></Attribute>",
            "<Attribute><Name>QueueArn</Name><Value>arn:aws:sqs:elasticmq</Value></Attribute>",
            "<Attribute><Name>QueueArn</Name><Value>arn:aws:sqs:elasticmq:",
            "<Error><Code>AWS.SimpleQueueService.NonExistentQueue</Code></Error>",
        ] {
            assert_eq!(rewrite(xml, &place()), None, "{xml}");
        }
    }
}
