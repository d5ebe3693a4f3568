//! JSON-protocol answers: `QueueUrl` (CreateQueue, GetQueueUrl), `QueueUrls` (ListQueues),
//! `queueUrls` (ListDeadLetterSourceQueues) and `Attributes.QueueArn`,
//! `Attributes.RedrivePolicy` and `Attributes.RedriveAllowPolicy` (GetQueueAttributes; the
//! policies are JSON documents in JSON strings).
//!
//! The answer is not re-serialised: the positions of those strings are found with borrowed
//! `RawValue`s and only they are replaced, so every other byte (key order, spacing, number
//! formats, escapes) stays as the backend wrote it. A URL string is decoded, rewritten and
//! encoded again; ARNs are corrected in place in the encoded string (the characters inserted
//! never need escaping).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    edits::{self, Edit},
    place::Place,
};

/// The members of an answer that carry queue URLs or ARNs (others are skipped unread).
#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(rename = "QueueUrl", borrow)]
    queue_url: Option<&'a RawValue>,
    #[serde(rename = "QueueUrls", borrow)]
    queue_urls: Option<&'a RawValue>,
    #[serde(rename = "queueUrls", borrow)]
    dead_letter_source_urls: Option<&'a RawValue>,
    #[serde(rename = "Attributes", borrow)]
    attributes: Option<&'a RawValue>,
}

/// The attributes that carry SQS ARNs.
#[derive(Deserialize)]
struct Attributes<'a> {
    #[serde(rename = "QueueArn", borrow)]
    queue_arn: Option<&'a RawValue>,
    #[serde(rename = "RedrivePolicy", borrow)]
    redrive_policy: Option<&'a RawValue>,
    #[serde(rename = "RedriveAllowPolicy", borrow)]
    redrive_allow_policy: Option<&'a RawValue>,
}

/// The answer with its queue URLs and ARNs corrected, or `None` when nothing changed (or it
/// is not a JSON object).
pub fn rewrite(json: &str, place: &Place<'_>) -> Option<String> {
    let answer: Answer<'_> = serde_json::from_str(json).ok()?;
    let mut edits = Vec::new();
    let mut url = |raw: &RawValue| {
        let Ok(old) = serde_json::from_str::<String>(raw.get()) else {
            return;
        };
        let new = place
            .queue_url(&old)
            .and_then(|u| serde_json::to_string(&u).ok());
        if let (Some(text), Some(range)) = (new, span(json, raw)) {
            edits.push(Edit { range, text });
        }
    };
    if let Some(raw) = answer.queue_url {
        url(raw);
    }
    for list in [answer.queue_urls, answer.dead_letter_source_urls]
        .into_iter()
        .flatten()
    {
        if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(list.get()) {
            items.into_iter().for_each(&mut url);
        }
    }
    let attributes = answer
        .attributes
        .and_then(|raw| serde_json::from_str::<Attributes<'_>>(raw.get()).ok());
    if let Some(a) = attributes {
        for raw in [a.queue_arn, a.redrive_policy, a.redrive_allow_policy]
            .into_iter()
            .flatten()
        {
            // Only strings: their encoded text is what is corrected in place.
            if !raw.get().starts_with('"') {
                continue;
            }
            if let (Some(text), Some(range)) = (place.arns_in(raw.get()), span(json, raw)) {
                edits.push(Edit { range, text });
            }
        }
    }
    edits::apply(json, edits)
}

/// Where `raw` (borrowed from `json`) is in `json`.
fn span(json: &str, raw: &RawValue) -> Option<std::ops::Range<usize>> {
    let start = (raw.get().as_ptr() as usize).checked_sub(json.as_ptr() as usize)?;
    let end = start.checked_add(raw.get().len())?;
    (end <= json.len()).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place() -> Place<'static> {
        crate::place::example()
    }

    #[test]
    fn urls_in_every_member_and_nothing_else_moves() {
        let json = r#"{"QueueUrls": ["http://127.0.0.1:5000/123456789012/a", "http:\/\/127.0.0.1:5000\/queue\/b"], "NextToken": "t", "n": 1.50}"#;
        assert_eq!(
            rewrite(json, &place()).unwrap(),
            r#"{"QueueUrls": ["http://localhost:4566/000000000000/a", "http://localhost:4566/000000000000/b"], "NextToken": "t", "n": 1.50}"#
        );
        let json = r#"{ "QueueUrl" : "http://127.0.0.1:5000/123456789012/q" }"#;
        assert_eq!(
            rewrite(json, &place()).unwrap(),
            r#"{ "QueueUrl" : "http://localhost:4566/000000000000/q" }"#
        );
        let json = r#"{"queueUrls":["http://127.0.0.1:5000/123456789012/q"],"NextToken":null}"#;
        assert_eq!(
            rewrite(json, &place()).unwrap(),
            r#"{"queueUrls":["http://localhost:4566/000000000000/q"],"NextToken":null}"#
        );
        assert_eq!(
            rewrite(
                r#"{"QueueUrl":"http://localhost:4566/000000000000/q"}"#,
                &place()
            ),
            None
        );
    }

    #[test]
    fn the_edge_host_is_escaped_when_inserted() {
        let p = Place::new(
            Some(r#"http://a"b\c"#.into()),
            "eu-west-1",
            "000000000000",
            None,
        );
        assert_eq!(
            rewrite(r#"{"QueueUrl":"http://h/000000000000/q"}"#, &p).unwrap(),
            r#"{"QueueUrl":"http://a\"b\\c/000000000000/q"}"#
        );
    }

    #[test]
    fn arn_attributes_are_corrected_others_are_not() {
        let json = r#"{"Attributes": {"QueueArn": "arn:aws:sqs:elasticmq:123456789012:q1", "RedrivePolicy": "{\"deadLetterTargetArn\": \"arn:aws:sqs:eu-west-1:123456789012:dlq\", \"maxReceiveCount\": 3}", "RedriveAllowPolicy": "{\"redrivePermission\":\"byQueue\",\"sourceQueueArns\":[\"arn:aws:sqs:eu-west-1:123456789012:q1\"]}", "Policy": "{\"Resource\": \"arn:aws:sqs:eu-west-1:123456789012:q1\"}", "DelaySeconds": "0"}}"#;
        let want = r#"{"Attributes": {"QueueArn": "arn:aws:sqs:eu-west-1:000000000000:q1", "RedrivePolicy": "{\"deadLetterTargetArn\": \"arn:aws:sqs:eu-west-1:000000000000:dlq\", \"maxReceiveCount\": 3}", "RedriveAllowPolicy": "{\"redrivePermission\":\"byQueue\",\"sourceQueueArns\":[\"arn:aws:sqs:eu-west-1:000000000000:q1\"]}", "Policy": "{\"Resource\": \"arn:aws:sqs:eu-west-1:123456789012:q1\"}", "DelaySeconds": "0"}}"#;
        assert_eq!(rewrite(json, &place()).unwrap(), want);
        let v: serde_json::Value = serde_json::from_str(want).unwrap();
        let policy: serde_json::Value =
            serde_json::from_str(v["Attributes"]["RedrivePolicy"].as_str().unwrap()).unwrap();
        assert_eq!(
            policy["deadLetterTargetArn"],
            "arn:aws:sqs:eu-west-1:000000000000:dlq"
        );
    }

    #[test]
    fn unexpected_shapes_are_left_alone() {
        for json in [
            "",
            "[]",
            "null",
            r#""http://h/queue/q""#,
            "{",
            r#"{"QueueUrl": 5}"#,
            r#"{"QueueUrl": "not a url"}"#,
            r#"{"QueueUrls": "http://h/queue/q"}"#,
            r#"{"QueueUrls": [1, null, {"a": "http://h/queue/q"}]}"#,
            r#"{"Attributes": ["arn:aws:sqs:elasticmq:1:q"]}"#,
            r#"{"Attributes": {"QueueArn": ["arn:aws:sqs:elasticmq:123456789012:q"]}}"#,
            r#"{"QueueUrl": "http://h/queue/q", "QueueUrl": "http://h/queue/q"}"#,
            r#"{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "http://h/queue/q"}"#,
        ] {
            assert_eq!(rewrite(json, &place()), None, "{json}");
        }
    }

    #[test]
    fn mixed_good_and_bad_items() {
        let json = r#"{"QueueUrls": [1, "http://h/queue/q"]}"#;
        assert_eq!(
            rewrite(json, &place()).unwrap(),
            r#"{"QueueUrls": [1, "http://localhost:4566/000000000000/q"]}"#
        );
    }
}
