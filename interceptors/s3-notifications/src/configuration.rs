//! A bucket's notification configuration, the S3 `?notification` XML: parsed and validated
//! with S3's own errors, written back as S3 returns it, and matched against events.
//!
//! ```xml
//! <NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
//!   <QueueConfiguration>
//!     <Id>uploads</Id>
//!     <Queue>arn:aws:sqs:us-east-1:000000000000:uploads</Queue>
//!     <Event>s3:ObjectCreated:*</Event>
//!     <Filter><S3Key><FilterRule><Name>prefix</Name><Value>in/</Value></FilterRule></S3Key></Filter>
//!   </QueueConfiguration>
//!   <TopicConfiguration>…<Topic>arn:aws:sns:…</Topic>…</TopicConfiguration>
//!   <CloudFunctionConfiguration>…<CloudFunction>arn:aws:lambda:…:function:f</CloudFunction>…</CloudFunctionConfiguration>
//!   <EventBridgeConfiguration/>
//! </NotificationConfiguration>
//! ```

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use edgestack_core::{aws::AwsError, http::StatusCode};
use quick_xml::{
    escape::{escape, unescape},
    events::Event,
    Reader,
};

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The event names a configuration may select.
const EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

/// Which service a configuration targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// `QueueConfiguration`: SQS.
    Queue,
    /// `TopicConfiguration`: SNS.
    Topic,
    /// `CloudFunctionConfiguration`: Lambda.
    Lambda,
}

impl TargetKind {
    fn element(self) -> &'static str {
        match self {
            TargetKind::Queue => "QueueConfiguration",
            TargetKind::Topic => "TopicConfiguration",
            TargetKind::Lambda => "CloudFunctionConfiguration",
        }
    }

    fn arn_element(self) -> &'static str {
        match self {
            TargetKind::Queue => "Queue",
            TargetKind::Topic => "Topic",
            TargetKind::Lambda => "CloudFunction",
        }
    }

    fn service(self) -> &'static str {
        match self {
            TargetKind::Queue => "sqs",
            TargetKind::Topic => "sns",
            TargetKind::Lambda => "lambda",
        }
    }
}

/// Prefix and suffix rules on the (decoded) object key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    /// The key must start with this.
    pub prefix: Option<String>,
    /// The key must end with this.
    pub suffix: Option<String>,
}

impl KeyFilter {
    /// True when `key` passes both rules.
    pub fn matches(&self, key: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }

    /// True when some key could pass both filters (S3's overlap rule).
    fn overlaps(&self, other: &KeyFilter) -> bool {
        let pre = match (&self.prefix, &other.prefix) {
            (Some(a), Some(b)) => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
            _ => true,
        };
        let suf = match (&self.suffix, &other.suffix) {
            (Some(a), Some(b)) => a.ends_with(b.as_str()) || b.ends_with(a.as_str()),
            _ => true,
        };
        pre && suf
    }
}

/// One queue, topic or function configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// What it targets.
    pub kind: TargetKind,
    /// Its id (generated when the request had none).
    pub id: String,
    /// The target's ARN.
    pub arn: String,
    /// The selected events as given (`s3:ObjectCreated:*`), without duplicates.
    pub events: Vec<String>,
    /// Key rules.
    pub filter: KeyFilter,
    /// The deprecated form's `InvocationRole` of a function configuration.
    pub invocation_role: Option<String>,
}

impl TargetConfig {
    /// True when `event` (a record's `eventName`, `ObjectCreated:Put`) is selected and `key`
    /// passes the filter.
    pub fn matches(&self, event: &str, key: &str) -> bool {
        self.events.iter().any(|e| selects(e, event)) && self.filter.matches(key)
    }
}

/// True when the configured `selector` (`s3:ObjectCreated:*`) selects `event`
/// (`ObjectCreated:Put`).
fn selects(selector: &str, event: &str) -> bool {
    let selector = selector.strip_prefix("s3:").unwrap_or(selector);
    match selector.strip_suffix('*') {
        Some(prefix) => event.starts_with(prefix),
        None => selector == event,
    }
}

/// The concrete event types a selector covers (wildcards expanded).
fn expand(selector: &str) -> impl Iterator<Item = &'static str> + '_ {
    EVENTS
        .iter()
        .copied()
        .filter(|e| !e.ends_with('*'))
        .filter(move |e| {
            e == &selector || selector.strip_suffix('*').is_some_and(|p| e.starts_with(p))
        })
}

/// A bucket's notification configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationConfiguration {
    /// Queue, topic and function configurations, in document order.
    pub targets: Vec<TargetConfig>,
    /// `EventBridgeConfiguration` is present: every event also goes to EventBridge.
    pub event_bridge: bool,
}

/// An ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// `aws`.
    pub partition: String,
    /// `sqs`, `sns`, `lambda`, ...
    pub service: String,
    /// The region.
    pub region: String,
    /// The account.
    pub account: String,
    /// The queue or topic name, or `function:NAME`.
    pub resource: String,
}

impl Arn {
    /// Parses an ARN with every part present.
    pub fn parse(s: &str) -> Option<Arn> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let mut next = || parts.next().filter(|p| !p.is_empty()).map(str::to_string);
        Some(Arn {
            partition: next()?,
            service: next()?,
            region: next()?,
            account: next()?,
            resource: next()?,
        })
    }
}

/// 400 `MalformedXML`: S3's answer to a document it cannot read.
pub fn malformed_xml() -> AwsError {
    AwsError::bad_request(
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

/// 400 `InvalidArgument` naming the argument (`<ArgumentName>`, `<ArgumentValue>`).
pub fn invalid_argument(
    message: impl Into<String>,
    name: impl Into<String>,
    value: impl Into<String>,
) -> AwsError {
    AwsError::bad_request("InvalidArgument", message.into())
        .with_field("ArgumentName", name.into())
        .with_field("ArgumentValue", value.into())
}

/// 404 `NoSuchBucket` naming the bucket (`<BucketName>`).
pub fn no_such_bucket(bucket: &str) -> AwsError {
    AwsError::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist",
    )
    .with_field("BucketName", bucket)
}

/// A tiny element tree of the document (text trimmed per element where it matters).
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn parse(xml: &[u8]) -> Result<Node, AwsError> {
        let mut reader = Reader::from_reader(xml);
        let mut stack: Vec<Node> = Vec::new();
        let mut root = None;
        let mut buf = Vec::new();
        loop {
            let event = reader
                .read_event_into(&mut buf)
                .map_err(|_| malformed_xml())?;
            match event {
                Event::Start(e) => {
                    if root.is_some() {
                        return Err(malformed_xml());
                    }
                    stack.push(Node {
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                        ..Node::default()
                    })
                }
                Event::Empty(e) => {
                    let node = Node {
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                        ..Node::default()
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None if root.is_none() => root = Some(node),
                        None => return Err(malformed_xml()),
                    }
                }
                Event::Text(t) => {
                    let raw = t.decode().map_err(|_| malformed_xml())?;
                    let text = unescape(&raw).map_err(|_| malformed_xml())?;
                    match stack.last_mut() {
                        Some(n) => n.text.push_str(&text),
                        None if text.trim().is_empty() => {}
                        None => return Err(malformed_xml()),
                    }
                }
                Event::CData(c) => match stack.last_mut() {
                    Some(n) => n.text.push_str(&String::from_utf8_lossy(&c)),
                    None => return Err(malformed_xml()),
                },
                Event::GeneralRef(r) => {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    let entity = format!("&{name};");
                    let text = unescape(&entity).map_err(|_| malformed_xml())?;
                    match stack.last_mut() {
                        Some(n) => n.text.push_str(&text),
                        None => return Err(malformed_xml()),
                    }
                }
                Event::End(_) => {
                    let node = stack.pop().ok_or_else(malformed_xml)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => root = Some(node),
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
        if !stack.is_empty() {
            return Err(malformed_xml());
        }
        root.ok_or_else(malformed_xml)
    }
}

/// A fresh configuration id (S3 makes one when the request has none).
fn generated_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut x = (t as u64) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut hex = String::new();
    for _ in 0..2 {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        hex.push_str(&format!("{:016x}", z ^ (z >> 31)));
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

impl NotificationConfiguration {
    /// Parses and validates a `NotificationConfiguration` document.
    pub fn parse(xml: &[u8]) -> Result<NotificationConfiguration, AwsError> {
        if xml.iter().all(u8::is_ascii_whitespace) {
            return Err(malformed_xml());
        }
        let root = Node::parse(xml)?;
        if root.name != "NotificationConfiguration" {
            return Err(malformed_xml());
        }
        let mut out = NotificationConfiguration::default();
        let mut bridges = 0;
        for child in &root.children {
            let kind = match child.name.as_str() {
                "QueueConfiguration" => TargetKind::Queue,
                "TopicConfiguration" => TargetKind::Topic,
                "CloudFunctionConfiguration" => TargetKind::Lambda,
                "EventBridgeConfiguration" => {
                    bridges += 1;
                    if bridges > 1 || !child.children.is_empty() {
                        return Err(malformed_xml());
                    }
                    out.event_bridge = true;
                    continue;
                }
                _ => return Err(malformed_xml()),
            };
            out.targets.push(target(kind, child)?);
        }
        out.check()?;
        Ok(out)
    }

    /// Ids unique, no two configurations overlapping.
    fn check(&self) -> Result<(), AwsError> {
        for (i, a) in self.targets.iter().enumerate() {
            for b in &self.targets[i + 1..] {
                if a.id == b.id {
                    return Err(invalid_argument(
                        "Same ID used for multiple configurations. IDs must be unique",
                        "Id",
                        a.id.clone(),
                    ));
                }
                if !a.filter.overlaps(&b.filter) {
                    continue;
                }
                let shared = a
                    .events
                    .iter()
                    .flat_map(|e| expand(e))
                    .find(|e| b.events.iter().any(|s| expand(s).any(|x| x == *e)));
                if let Some(event) = shared {
                    return Err(invalid_argument(
                        "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                        "Event",
                        event,
                    ));
                }
            }
        }
        Ok(())
    }

    /// The document as S3 returns it.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        if self.is_empty() {
            out.push_str(&format!("<NotificationConfiguration xmlns=\"{XMLNS}\"/>"));
            return out;
        }
        out.push_str(&format!("<NotificationConfiguration xmlns=\"{XMLNS}\">"));
        for kind in [TargetKind::Topic, TargetKind::Queue, TargetKind::Lambda] {
            for t in self.targets.iter().filter(|t| t.kind == kind) {
                let el = kind.element();
                let arn_el = kind.arn_element();
                out.push_str(&format!("<{el}><Id>{}</Id>", escape(t.id.as_str())));
                out.push_str(&format!("<{arn_el}>{}</{arn_el}>", escape(t.arn.as_str())));
                if let Some(role) = &t.invocation_role {
                    out.push_str(&format!(
                        "<InvocationRole>{}</InvocationRole>",
                        escape(role.as_str())
                    ));
                }
                for e in &t.events {
                    out.push_str(&format!("<Event>{}</Event>", escape(e.as_str())));
                }
                let rules: Vec<(&str, &String)> =
                    [("Prefix", &t.filter.prefix), ("Suffix", &t.filter.suffix)]
                        .into_iter()
                        .filter_map(|(n, v)| v.as_ref().map(|v| (n, v)))
                        .collect();
                if !rules.is_empty() {
                    out.push_str("<Filter><S3Key>");
                    for (name, value) in rules {
                        out.push_str(&format!(
                            "<FilterRule><Name>{name}</Name><Value>{}</Value></FilterRule>",
                            escape(value.as_str())
                        ));
                    }
                    out.push_str("</S3Key></Filter>");
                }
                out.push_str(&format!("</{el}>"));
            }
        }
        if self.event_bridge {
            out.push_str("<EventBridgeConfiguration></EventBridgeConfiguration>");
        }
        out.push_str("</NotificationConfiguration>");
        out
    }

    /// No targets and no EventBridge.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && !self.event_bridge
    }

    /// Every configuration `event` (`ObjectCreated:Put`) on `key` goes to.
    pub fn targets_for<'a>(
        &'a self,
        event: &'a str,
        key: &'a str,
    ) -> impl Iterator<Item = &'a TargetConfig> + 'a {
        self.targets.iter().filter(move |t| t.matches(event, key))
    }
}

/// One Queue/Topic/CloudFunction configuration element.
fn target(kind: TargetKind, node: &Node) -> Result<TargetConfig, AwsError> {
    let mut id = None;
    let mut arn = None;
    let mut role = None;
    let mut events: Vec<String> = Vec::new();
    let mut filter = KeyFilter::default();
    let mut filters = 0;
    for c in &node.children {
        let text = c.text.trim().to_string();
        match c.name.as_str() {
            "Id" if id.is_none() => id = Some(text),
            n if n == kind.arn_element() && arn.is_none() => arn = Some(text),
            "InvocationRole" if kind == TargetKind::Lambda && role.is_none() => role = Some(text),
            "Event" => {
                if !EVENTS.contains(&text.as_str()) {
                    return Err(invalid_argument(
                        "The event is not supported for notifications",
                        "Event",
                        text,
                    ));
                }
                if !events.contains(&text) {
                    events.push(text);
                }
            }
            "Filter" => {
                filters += 1;
                if filters > 1 {
                    return Err(malformed_xml());
                }
                filter = key_filter(c)?;
            }
            _ => return Err(malformed_xml()),
        }
    }
    let arn = arn.ok_or_else(malformed_xml)?;
    if events.is_empty() {
        return Err(malformed_xml());
    }
    let well_formed = Arn::parse(&arn).is_some_and(|a| {
        a.service == kind.service()
            && (kind != TargetKind::Lambda || a.resource.starts_with("function:"))
    });
    if !well_formed {
        return Err(invalid_argument(
            "The ARN is not well formed",
            kind.arn_element(),
            arn,
        ));
    }
    Ok(TargetConfig {
        kind,
        id: id.filter(|i| !i.is_empty()).unwrap_or_else(generated_id),
        arn,
        events,
        filter,
        invocation_role: role,
    })
}

/// `<Filter><S3Key><FilterRule><Name>..</Name><Value>..</Value></FilterRule>…</S3Key></Filter>`.
fn key_filter(node: &Node) -> Result<KeyFilter, AwsError> {
    let mut out = KeyFilter::default();
    for s3key in &node.children {
        if s3key.name != "S3Key" {
            return Err(malformed_xml());
        }
        for rule in &s3key.children {
            if rule.name != "FilterRule" {
                return Err(malformed_xml());
            }
            let mut name = None;
            let mut value = None;
            for part in &rule.children {
                match part.name.as_str() {
                    "Name" if name.is_none() => name = Some(part.text.trim().to_string()),
                    "Value" if value.is_none() => value = Some(part.text.clone()),
                    _ => return Err(malformed_xml()),
                }
            }
            let (Some(name), Some(value)) = (name, value) else {
                return Err(malformed_xml());
            };
            let slot = match name.to_ascii_lowercase().as_str() {
                "prefix" => &mut out.prefix,
                "suffix" => &mut out.suffix,
                _ => {
                    return Err(invalid_argument(
                        "filter rule name must be either prefix or suffix",
                        "FilterRule.Name",
                        name,
                    ))
                }
            };
            if slot.is_some() {
                let lower = name.to_ascii_lowercase();
                return Err(invalid_argument(
                    format!("Cannot specify more than one {lower} rule in a filter."),
                    "FilterRule.Name",
                    lower,
                ));
            }
            *slot = Some(value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:000000000000:q";
    const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:t";

    /// What boto3 sends for put_bucket_notification_configuration.
    fn boto3_doc() -> String {
        format!(
            r#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TopicConfiguration><Id>t1</Id><Topic>{TOPIC}</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration><QueueConfiguration><Id>q1</Id><Queue>{QUEUE}</Queue><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>in/ &amp; out</Value></FilterRule><FilterRule><Name>Suffix</Name><Value>.txt</Value></FilterRule></S3Key></Filter></QueueConfiguration><EventBridgeConfiguration/></NotificationConfiguration>"#
        )
    }

    fn err(doc: &str) -> AwsError {
        NotificationConfiguration::parse(doc.as_bytes()).unwrap_err()
    }

    /// `ArgumentName` and `ArgumentValue` of an `InvalidArgument`.
    fn argument(e: &AwsError) -> Option<(String, String)> {
        let field = |name: &str| {
            e.fields()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        Some((field("ArgumentName")?, field("ArgumentValue")?))
    }

    #[test]
    fn round_trip() {
        let c = NotificationConfiguration::parse(boto3_doc().as_bytes()).unwrap();
        assert!(c.event_bridge);
        assert_eq!(c.targets.len(), 2);
        let q = &c.targets[1];
        assert_eq!(
            (q.kind, q.id.as_str(), q.arn.as_str()),
            (TargetKind::Queue, "q1", QUEUE)
        );
        assert_eq!(q.filter.prefix.as_deref(), Some("in/ & out"));
        assert_eq!(q.filter.suffix.as_deref(), Some(".txt"));
        let xml = c.to_xml();
        assert!(
            xml.contains("<Name>Prefix</Name><Value>in/ &amp; out</Value>"),
            "{xml}"
        );
        assert_eq!(NotificationConfiguration::parse(xml.as_bytes()).unwrap(), c);
    }

    #[test]
    fn empty_configuration() {
        let c = NotificationConfiguration::parse(b"<NotificationConfiguration/>").unwrap();
        assert!(c.is_empty());
        assert_eq!(
            c.to_xml(),
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<NotificationConfiguration xmlns=\"{XMLNS}\"/>")
        );
    }

    #[test]
    fn ids_are_generated_and_unique() {
        let doc = format!(
            "<NotificationConfiguration><QueueConfiguration><Queue>{QUEUE}</Queue><Event>s3:ObjectCreated:Put</Event></QueueConfiguration><TopicConfiguration><Topic>{TOPIC}</Topic><Event>s3:ObjectRemoved:Delete</Event></TopicConfiguration></NotificationConfiguration>"
        );
        let c = NotificationConfiguration::parse(doc.as_bytes()).unwrap();
        assert_eq!(c.targets[0].id.len(), 36);
        assert_ne!(c.targets[0].id, c.targets[1].id);
        let dup = format!(
            "<NotificationConfiguration><QueueConfiguration><Id>x</Id><Queue>{QUEUE}</Queue><Event>s3:ObjectCreated:Put</Event></QueueConfiguration><TopicConfiguration><Id>x</Id><Topic>{TOPIC}</Topic><Event>s3:ObjectRemoved:Delete</Event></TopicConfiguration></NotificationConfiguration>"
        );
        assert_eq!(argument(&err(&dup)), Some(("Id".into(), "x".into())));
    }

    #[test]
    fn errors_are_s3s() {
        for bad in [
            "",
            "<NotificationConfiguration>",
            "<Other/>",
            "<NotificationConfiguration><Unknown/></NotificationConfiguration>",
            "<NotificationConfiguration><QueueConfiguration><Event>s3:ObjectCreated:Put</Event></QueueConfiguration></NotificationConfiguration>",
            &format!("<NotificationConfiguration><QueueConfiguration><Queue>{QUEUE}</Queue></QueueConfiguration></NotificationConfiguration>"),
        ] {
            assert_eq!(err(bad).code(), "MalformedXML", "{bad}");
            assert_eq!(err(bad).status(), StatusCode::BAD_REQUEST);
        }
        let e = err(&format!("<NotificationConfiguration><QueueConfiguration><Queue>{QUEUE}</Queue><Event>s3:ObjectCreated:Nope</Event></QueueConfiguration></NotificationConfiguration>"));
        assert_eq!(
            (e.code(), argument(&e)),
            (
                "InvalidArgument",
                Some(("Event".into(), "s3:ObjectCreated:Nope".into()))
            )
        );
        let e = err(&format!("<NotificationConfiguration><QueueConfiguration><Queue>{TOPIC}</Queue><Event>s3:ObjectCreated:Put</Event></QueueConfiguration></NotificationConfiguration>"));
        assert_eq!(e.message(), "The ARN is not well formed");
        assert_eq!(argument(&e), Some(("Queue".into(), TOPIC.into())));
        let rule = |rules: &str| {
            format!("<NotificationConfiguration><QueueConfiguration><Queue>{QUEUE}</Queue><Event>s3:ObjectCreated:Put</Event><Filter><S3Key>{rules}</S3Key></Filter></QueueConfiguration></NotificationConfiguration>")
        };
        let e = err(&rule(
            "<FilterRule><Name>middle</Name><Value>x</Value></FilterRule>",
        ));
        assert_eq!(
            argument(&e),
            Some(("FilterRule.Name".into(), "middle".into()))
        );
        let e = err(&rule("<FilterRule><Name>prefix</Name><Value>a</Value></FilterRule><FilterRule><Name>Prefix</Name><Value>b</Value></FilterRule>"));
        assert_eq!(
            e.message(),
            "Cannot specify more than one prefix rule in a filter."
        );
        let overlap = format!("<NotificationConfiguration><QueueConfiguration><Queue>{QUEUE}</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration><TopicConfiguration><Topic>{TOPIC}</Topic><Event>s3:ObjectCreated:Put</Event></TopicConfiguration></NotificationConfiguration>");
        let e = err(&overlap);
        assert!(e.message().starts_with("Configurations overlap"), "{e}");
        // The same event with filters that cannot both match is allowed.
        let disjoint = overlap.replace(
            "<Event>s3:ObjectCreated:Put</Event>",
            "<Event>s3:ObjectCreated:Put</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>b/</Value></FilterRule></S3Key></Filter>",
        ).replace(
            "<Event>s3:ObjectCreated:*</Event>",
            "<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>a/</Value></FilterRule></S3Key></Filter>",
        );
        assert!(NotificationConfiguration::parse(disjoint.as_bytes()).is_ok());
    }

    #[test]
    fn matching() {
        let c = NotificationConfiguration::parse(boto3_doc().as_bytes()).unwrap();
        let ids = |event, key| {
            c.targets_for(event, key)
                .map(|t| t.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("ObjectCreated:Put", "in/ & out/x.txt"), ["q1"]);
        assert!(ids("ObjectCreated:Put", "in/x.txt").is_empty());
        assert!(ids("ObjectCreated:Put", "in/ & out/x.bin").is_empty());
        assert_eq!(ids("ObjectRemoved:Delete", "ünï/x"), ["t1"]);
        assert_eq!(ids("ObjectRemoved:DeleteMarkerCreated", "a"), ["t1"]);
        assert!(ids("ObjectRestore:Post", "a").is_empty());
    }

    /// S3's shape: `ArgumentName`/`ArgumentValue` after `Message`, then the edge's request id
    /// as `RequestId` and a `HostId` made from it.
    #[test]
    fn error_xml() {
        use edgestack_core::aws::AwsRequest;
        let s3 = AwsRequest::new("s3").with_operation("PutBucketNotificationConfiguration");
        let r = invalid_argument("a <b>", "Event", "s3:X").render(Some(&s3), None, "R1");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()["content-type"], "application/xml");
        assert_eq!(r.headers()["x-amz-request-id"], "R1");
        assert_eq!(
            std::str::from_utf8(r.body()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code><Message>a &lt;b&gt;</Message><ArgumentName>Event</ArgumentName><ArgumentValue>s3:X</ArgumentValue><RequestId>R1</RequestId><HostId>edgestack/R1</HostId></Error>"
        );
        let r = no_such_bucket("b&1").render(Some(&s3), None, "R2");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(
            std::str::from_utf8(r.body()).unwrap().contains(
                "<Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>b&amp;1</BucketName><RequestId>R2</RequestId>"
            )
        );
    }

    #[test]
    fn arns() {
        let a = Arn::parse(QUEUE).unwrap();
        assert_eq!(
            (
                a.service.as_str(),
                a.region.as_str(),
                a.account.as_str(),
                a.resource.as_str()
            ),
            ("sqs", "us-east-1", "000000000000", "q")
        );
        assert_eq!(
            Arn::parse("arn:aws:lambda:us-east-1:1:function:f:live")
                .unwrap()
                .resource,
            "function:f:live"
        );
        assert!(Arn::parse("arn:aws:sqs::1:q").is_none());
        assert!(Arn::parse("nope").is_none());
    }
}
