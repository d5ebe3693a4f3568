//! Published messages and what subscribers receive: the `Publish` / `PublishBatch` form
//! fields, filter policies, the HTTP `Notification` / `SubscriptionConfirmation` JSON and the
//! Lambda `Records[].Sns` event.
//!
//! Envelopes are built on the request path without their `Signature`; the delivery lane signs
//! them ([`Payload::render`], see [`crate::signing`]) when it first sends them.

use std::collections::HashMap;

use edgestack_events::Pattern;
use serde_json::{json, Map, Value};

use crate::signing::{Signer, CERT_PATH};

/// Form fields (query string and body) by name; a repeated name keeps its last value.
pub type Params = HashMap<String, String>;

/// Parses `application/x-www-form-urlencoded` text into `params`.
pub fn parse_form(text: &[u8], params: &mut Params) {
    for (k, v) in form_urlencoded::parse(text) {
        params.insert(k.into_owned(), v.into_owned());
    }
}

/// One message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// `String`, `String.Array`, `Number`, `Binary` (possibly with a custom suffix).
    pub data_type: String,
    /// The string value, or the binary value as base64.
    pub value: String,
}

/// One message as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The topic.
    pub topic_arn: String,
    /// moto's MessageId.
    pub message_id: String,
    /// The message (for `MessageStructure=json`, the whole JSON document).
    pub message: String,
    /// The subject, if any.
    pub subject: Option<String>,
    /// `json` when the message holds one text per protocol.
    pub structure_json: bool,
    /// The attributes, by name (sorted).
    pub attributes: Vec<(String, Attribute)>,
    /// When the edge saw moto accept it (ISO 8601, milliseconds).
    pub timestamp: String,
    /// `MessageGroupId` (FIFO topics).
    pub group_id: Option<String>,
    /// `MessageDeduplicationId` (FIFO topics).
    pub dedup_id: Option<String>,
    /// The topic's `SignatureVersion`: "1" (SHA1withRSA, the default) or "2" (SHA256withRSA).
    pub signature_version: &'static str,
}

impl Published {
    /// The message text for `protocol` (`lambda`, `http`): with `MessageStructure=json`, its
    /// key, else `default`.
    pub fn text_for(&self, protocol: &str) -> String {
        if !self.structure_json {
            return self.message.clone();
        }
        let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&self.message) else {
            return self.message.clone();
        };
        m.get(protocol)
            .or_else(|| m.get("default"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    /// `{name: {"Type", "Value"}}`, as notifications carry them.
    pub fn attributes_json(&self) -> Value {
        let mut m = Map::new();
        for (name, a) in &self.attributes {
            m.insert(name.clone(), json!({"Type": a.data_type, "Value": a.value}));
        }
        Value::Object(m)
    }

    /// The attributes as a filter policy sees them: strings, numbers, arrays (binary ones
    /// are left out, as AWS does).
    pub fn filter_view(&self) -> Value {
        let mut m = Map::new();
        for (name, a) in &self.attributes {
            let v = if a.data_type.starts_with("String.Array") {
                serde_json::from_str::<Value>(&a.value)
                    .ok()
                    .filter(Value::is_array)
                    .unwrap_or_else(|| Value::String(a.value.clone()))
            } else if a.data_type.starts_with("Number") {
                a.value
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .unwrap_or_else(|| Value::String(a.value.clone()))
            } else if a.data_type.starts_with("String") {
                Value::String(a.value.clone())
            } else {
                continue;
            };
            m.insert(name.clone(), v);
        }
        Value::Object(m)
    }
}

/// Where a filter policy looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The message attributes (the default).
    #[default]
    MessageAttributes,
    /// The message body, which must be a JSON object.
    MessageBody,
}

impl Scope {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MessageAttributes => "MessageAttributes",
            Scope::MessageBody => "MessageBody",
        }
    }

    /// Parses an attribute value.
    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "MessageAttributes" => Some(Scope::MessageAttributes),
            "MessageBody" => Some(Scope::MessageBody),
            _ => None,
        }
    }
}

/// Whether `p` passes `policy` (for the text `text` this protocol receives).
pub fn passes(policy: Option<&Pattern>, scope: Scope, p: &Published, text: &str) -> bool {
    let Some(policy) = policy else {
        return true;
    };
    match scope {
        Scope::MessageAttributes => policy.matches(&p.filter_view()),
        Scope::MessageBody => match serde_json::from_str::<Value>(text) {
            Ok(v @ Value::Object(_)) => policy.matches(&v),
            _ => false,
        },
    }
}

/// Reads the attributes under `prefix` (`MessageAttributes.entry.N.{Name,Value.*}`).
pub fn attributes(params: &Params, prefix: &str) -> Vec<(String, Attribute)> {
    let mut out = Vec::new();
    for n in 1..=100 {
        let base = format!("{prefix}MessageAttributes.entry.{n}.");
        let Some(name) = params.get(&format!("{base}Name")) else {
            break;
        };
        let data_type = params
            .get(&format!("{base}Value.DataType"))
            .cloned()
            .unwrap_or_else(|| "String".into());
        let value = params
            .get(&format!("{base}Value.StringValue"))
            .or_else(|| params.get(&format!("{base}Value.BinaryValue")))
            .cloned()
            .unwrap_or_default();
        out.push((name.clone(), Attribute { data_type, value }));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The messages of a `Publish` (one) or `PublishBatch` (per successful entry), given the
/// request's fields and moto's answer; empty when the call names no topic.
pub fn published(op: &str, params: &Params, answer: &str, timestamp: &str) -> Vec<Published> {
    let Some(topic) = params.get("TopicArn").filter(|t| !t.is_empty()) else {
        return Vec::new();
    };
    let one = |prefix: &str, message_id: String| Published {
        topic_arn: topic.clone(),
        message_id,
        message: params
            .get(&format!("{prefix}Message"))
            .cloned()
            .unwrap_or_default(),
        subject: params.get(&format!("{prefix}Subject")).cloned(),
        structure_json: params
            .get(&format!("{prefix}MessageStructure"))
            .is_some_and(|s| s == "json"),
        attributes: attributes(params, prefix),
        timestamp: timestamp.to_string(),
        group_id: params.get(&format!("{prefix}MessageGroupId")).cloned(),
        dedup_id: params
            .get(&format!("{prefix}MessageDeduplicationId"))
            .cloned(),
        signature_version: "1",
    };
    if op == "Publish" {
        return match xml_text(answer, "MessageId") {
            Some(id) => vec![one("", id)],
            None => Vec::new(),
        };
    }
    // PublishBatch: entry ids to moto's message ids, from `<Successful><member>...`.
    let successful = answer
        .split_once("<Successful>")
        .map(|(_, rest)| rest.split("</Successful>").next().unwrap_or(""))
        .unwrap_or("");
    let ids: HashMap<String, String> = successful
        .split("<member>")
        .filter_map(|m| Some((xml_text(m, "Id")?, xml_text(m, "MessageId")?)))
        .collect();
    let mut out = Vec::new();
    for n in 1..=10 {
        let prefix = format!("PublishBatchRequestEntries.member.{n}.");
        let Some(id) = params.get(&format!("{prefix}Id")) else {
            break;
        };
        if let Some(message_id) = ids.get(id) {
            out.push(one(&prefix, message_id.clone()));
        }
    }
    out
}

/// The unescaped text of the first `<tag>` in `xml`.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(unescape(&xml[start..end]))
}

/// XML text escaping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// What the URLs in a message point at.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `http://host:port` of the edge.
    pub edge: String,
}

impl Urls {
    /// The `SigningCertURL`.
    pub fn cert(&self) -> String {
        format!("{}{CERT_PATH}", self.edge)
    }

    /// The `UnsubscribeURL` of a subscription.
    pub fn unsubscribe(&self, subscription_arn: &str) -> String {
        format!(
            "{}/?Action=Unsubscribe&SubscriptionArn={}",
            self.edge,
            enc(subscription_arn)
        )
    }

    /// The `SubscribeURL` of a pending subscription.
    pub fn subscribe(&self, topic_arn: &str, token: &str) -> String {
        format!(
            "{}/?Action=ConfirmSubscription&TopicArn={}&Token={}",
            self.edge,
            enc(topic_arn),
            enc(token)
        )
    }
}

fn enc(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// What a subscriber receives. Envelopes are signed by [`Payload::render`], off the request
/// path.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Sent as it is (raw delivery).
    Text(String),
    /// An SNS envelope (`Notification`, `SubscriptionConfirmation`), without its `Signature`.
    Envelope(Map<String, Value>),
    /// The Lambda event of one envelope (whose URL fields are spelled `…Url`).
    LambdaEvent {
        /// `EventSubscriptionArn`.
        subscription_arn: String,
        /// `Records[0].Sns`, without its `Signature`.
        sns: Map<String, Value>,
    },
}

impl Payload {
    /// The text to send, signed with `signer`.
    pub fn render(&self, signer: &Signer) -> String {
        match self {
            Payload::Text(text) => text.clone(),
            Payload::Envelope(envelope) => {
                let mut envelope = envelope.clone();
                signer.sign(&mut envelope);
                Value::Object(envelope).to_string()
            }
            Payload::LambdaEvent {
                subscription_arn,
                sns,
            } => {
                let mut sns = sns.clone();
                signer.sign(&mut sns);
                json!({
                    "Records": [{
                        "EventSource": "aws:sns",
                        "EventVersion": "1.0",
                        "EventSubscriptionArn": subscription_arn,
                        "Sns": sns,
                    }]
                })
                .to_string()
            }
        }
    }
}

/// What HTTP and SQS subscribers get: the `Notification` envelope, or the message itself for
/// raw delivery. `protocol` picks the text of a `MessageStructure=json` message.
pub fn notification(
    p: &Published,
    protocol: &str,
    sub_arn: &str,
    raw: bool,
    urls: &Urls,
) -> Payload {
    let text = p.text_for(protocol);
    if raw {
        return Payload::Text(text);
    }
    let mut m = Map::new();
    m.insert("Type".into(), "Notification".into());
    m.insert("MessageId".into(), p.message_id.clone().into());
    m.insert("TopicArn".into(), p.topic_arn.clone().into());
    if let Some(s) = &p.subject {
        m.insert("Subject".into(), s.clone().into());
    }
    m.insert("Message".into(), text.into());
    m.insert("Timestamp".into(), p.timestamp.clone().into());
    m.insert("SignatureVersion".into(), p.signature_version.into());
    m.insert("SigningCertURL".into(), urls.cert().into());
    m.insert("UnsubscribeURL".into(), urls.unsubscribe(sub_arn).into());
    if !p.attributes.is_empty() {
        m.insert("MessageAttributes".into(), p.attributes_json());
    }
    Payload::Envelope(m)
}

/// The HTTP `SubscriptionConfirmation` envelope.
pub fn http_confirmation(
    message_id: &str,
    topic_arn: &str,
    token: &str,
    timestamp: &str,
    signature_version: &str,
    urls: &Urls,
) -> Payload {
    let envelope = json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": message_id,
        "Token": token,
        "TopicArn": topic_arn,
        "Message": format!(
            "You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."
        ),
        "SubscribeURL": urls.subscribe(topic_arn, token),
        "Timestamp": timestamp,
        "SignatureVersion": signature_version,
        "SigningCertURL": urls.cert(),
    });
    match envelope {
        Value::Object(m) => Payload::Envelope(m),
        _ => unreachable!("json! of an object"),
    }
}

/// The Lambda event: `{"Records":[{"EventSource":"aws:sns",...,"Sns":{...}}]}`.
pub fn lambda_event(p: &Published, sub_arn: &str, urls: &Urls) -> Payload {
    let sns = json!({
        "Type": "Notification",
        "MessageId": p.message_id,
        "TopicArn": p.topic_arn,
        "Subject": p.subject,
        "Message": p.text_for("lambda"),
        "Timestamp": p.timestamp,
        "SignatureVersion": p.signature_version,
        "SigningCertUrl": urls.cert(),
        "UnsubscribeUrl": urls.unsubscribe(sub_arn),
        "MessageAttributes": p.attributes_json(),
    });
    let Value::Object(sns) = sns else {
        unreachable!("json! of an object")
    };
    Payload::LambdaEvent {
        subscription_arn: sub_arn.to_string(),
        sns,
    }
}

/// A random version-4 UUID.
pub fn uuid() -> String {
    let mut b = [0u8; 16];
    for x in &mut b {
        *x = fastrand::u8(..);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The time now, ISO 8601 with milliseconds (`2024-01-02T03:04:05.678Z`).
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn publish_and_batch_are_read() {
        let p = params(&[
            ("TopicArn", "arn:aws:sns:us-east-1:1:t"),
            ("Message", "hi"),
            ("Subject", "s"),
            ("MessageAttributes.entry.1.Name", "n"),
            ("MessageAttributes.entry.1.Value.DataType", "Number"),
            ("MessageAttributes.entry.1.Value.StringValue", "5"),
            ("MessageAttributes.entry.2.Name", "a"),
            ("MessageAttributes.entry.2.Value.DataType", "String.Array"),
            ("MessageAttributes.entry.2.Value.StringValue", "[\"x\",1]"),
        ]);
        let got = published(
            "Publish",
            &p,
            "<PublishResult><MessageId>m-1</MessageId></PublishResult>",
            "t",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message_id, "m-1");
        assert_eq!(got[0].filter_view(), json!({"a": ["x", 1], "n": 5.0}));
        let policy = Pattern::parse(r#"{"n":[{"numeric":[">",4]}]}"#).unwrap();
        assert!(passes(
            Some(&policy),
            Scope::MessageAttributes,
            &got[0],
            "hi"
        ));
        let policy = Pattern::parse(r#"{"n":[{"numeric":["<",4]}]}"#).unwrap();
        assert!(!passes(
            Some(&policy),
            Scope::MessageAttributes,
            &got[0],
            "hi"
        ));

        let b = params(&[
            ("TopicArn", "arn:aws:sns:us-east-1:1:t"),
            ("PublishBatchRequestEntries.member.1.Id", "a"),
            ("PublishBatchRequestEntries.member.1.Message", "one"),
            ("PublishBatchRequestEntries.member.2.Id", "b"),
            ("PublishBatchRequestEntries.member.2.Message", "{\"k\":1}"),
        ]);
        let answer = "<Successful><member><Id>b</Id><MessageId>m-b</MessageId></member></Successful><Failed><member><Id>a</Id></member></Failed>";
        let got = published("PublishBatch", &b, answer, "t");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "{\"k\":1}");
        let body = Pattern::parse(r#"{"k":[1]}"#).unwrap();
        assert!(passes(
            Some(&body),
            Scope::MessageBody,
            &got[0],
            &got[0].message
        ));
        assert!(!passes(
            Some(&body),
            Scope::MessageBody,
            &got[0],
            "not json"
        ));
    }

    #[test]
    fn shapes() {
        let p = Published {
            topic_arn: "arn:aws:sns:us-east-1:1:t".into(),
            message_id: "m".into(),
            message: r#"{"default":"d","lambda":"l"}"#.into(),
            subject: None,
            structure_json: true,
            attributes: vec![],
            timestamp: "t".into(),
            group_id: None,
            dedup_id: None,
            signature_version: "1",
        };
        let urls = Urls {
            edge: "http://e".into(),
        };
        let signer = Signer::new();
        let ev: Value =
            serde_json::from_str(&lambda_event(&p, "s", &urls).render(&signer)).unwrap();
        assert_eq!(ev["Records"][0]["Sns"]["Message"], "l");
        assert_eq!(ev["Records"][0]["Sns"]["Subject"], Value::Null);
        assert!(ev["Records"][0]["Sns"]["Signature"].as_str().unwrap().len() > 300);
        let n: Value =
            serde_json::from_str(&notification(&p, "http", "s", false, &urls).render(&signer))
                .unwrap();
        assert_eq!(n["Message"], "d");
        assert!(n.get("Subject").is_none());
        assert_eq!(n["SigningCertURL"], format!("http://e{CERT_PATH}"));
        assert_eq!(
            notification(&p, "http", "s", true, &urls).render(&signer),
            "d"
        );
        assert_eq!(uuid().len(), 36);
        assert_eq!(escape("<a&'>"), "&lt;a&amp;&apos;&gt;");
    }
}
