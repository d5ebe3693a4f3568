//! The subscriptions the edge owns (Lambda functions, HTTP endpoints, SQS queues moto does
//! not hold): kept in memory, like a
//! managed moto_server's state, and rendered into moto's `ListSubscriptions` answers.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
};

use edgestack_events::Pattern;

use crate::{
    message::{escape, Scope},
    policy::DeliveryPolicy,
};

/// The protocols the edge delivers to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// A Lambda function (async `Invoke` through the edge).
    Lambda,
    /// An `http://` endpoint.
    Http,
    /// An `https://` endpoint.
    Https,
    /// An SQS queue on another upstream than the SNS one (moto delivers to its own).
    Sqs,
}

impl Protocol {
    /// HTTP or HTTPS: confirmed by a handshake, delivered by POST.
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Https)
    }

    /// The SNS protocol name (and metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Lambda => "lambda",
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Sqs => "sqs",
        }
    }
}

/// One edge-owned subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// `arn:aws:sns:{region}:{account}:{topic}:{uuid}`.
    pub arn: String,
    /// The topic.
    pub topic_arn: String,
    /// The account that subscribed.
    pub owner: String,
    /// The protocol.
    pub protocol: Protocol,
    /// The function ARN or the URL.
    pub endpoint: String,
    /// False while an HTTP subscription waits for its confirmation.
    pub confirmed: bool,
    /// The confirmation token (HTTP).
    pub token: Option<String>,
    /// `RawMessageDelivery`.
    pub raw: bool,
    /// `FilterPolicy` as given, and compiled.
    pub filter_policy: Option<(String, Arc<Pattern>)>,
    /// `FilterPolicyScope`.
    pub scope: Scope,
    /// `DeliveryPolicy` as given, and checked (HTTP).
    pub delivery_policy: Option<(String, DeliveryPolicy)>,
    /// `RedrivePolicy` as given, and its dead-letter queue's ARN.
    pub redrive_policy: Option<(String, String)>,
}

impl Subscription {
    /// The ARN `List*` answers show: `PendingConfirmation` until confirmed.
    pub fn listed_arn(&self) -> &str {
        if self.confirmed {
            &self.arn
        } else {
            "PendingConfirmation"
        }
    }

    /// The attributes `GetSubscriptionAttributes` answers with.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        let mut a = vec![
            ("SubscriptionArn", self.arn.clone()),
            ("TopicArn", self.topic_arn.clone()),
            ("Owner", self.owner.clone()),
            ("Protocol", self.protocol.as_str().to_string()),
            ("Endpoint", self.endpoint.clone()),
            ("PendingConfirmation", (!self.confirmed).to_string()),
            ("ConfirmationWasAuthenticated", self.confirmed.to_string()),
            ("RawMessageDelivery", self.raw.to_string()),
        ];
        if let Some((text, _)) = &self.filter_policy {
            a.push(("FilterPolicy", text.clone()));
            a.push(("FilterPolicyScope", self.scope.as_str().to_string()));
        }
        if let Some((text, _)) = &self.delivery_policy {
            a.push(("DeliveryPolicy", text.clone()));
        }
        if let Some((text, _)) = &self.redrive_policy {
            a.push(("RedrivePolicy", text.clone()));
        }
        a
    }

    /// A `<member>` of a `List*` answer.
    pub fn member_xml(&self) -> String {
        format!(
            "<member><TopicArn>{}</TopicArn><Protocol>{}</Protocol><SubscriptionArn>{}</SubscriptionArn><Owner>{}</Owner><Endpoint>{}</Endpoint></member>",
            escape(&self.topic_arn),
            self.protocol.as_str(),
            escape(self.listed_arn()),
            escape(&self.owner),
            escape(&self.endpoint)
        )
    }
}

/// All edge-owned subscriptions, by ARN.
#[derive(Debug, Default)]
pub struct Store {
    subs: RwLock<BTreeMap<String, Subscription>>,
    /// Topics whose `SignatureVersion` is "2" (set through this edge); the rest sign with 1.
    signature_versions: RwLock<HashMap<String, &'static str>>,
}

impl Store {
    /// The `SignatureVersion` of `topic`'s messages: "2" once set so through this edge, else
    /// "1" (SNS's default).
    pub fn signature_version(&self, topic: &str) -> &'static str {
        self.signature_versions
            .read()
            .expect("not poisoned")
            .get(topic)
            .copied()
            .unwrap_or("1")
    }

    /// Records `topic`'s `SignatureVersion` ("1" or "2"; anything else is ignored).
    pub fn set_signature_version(&self, topic: &str, version: &str) {
        let version = match version.trim() {
            "1" => "1",
            "2" => "2",
            _ => return,
        };
        self.signature_versions
            .write()
            .expect("not poisoned")
            .insert(topic.to_string(), version);
    }

    /// Forgets every subscription (pending confirmations included) and every topic's
    /// `SignatureVersion` (a state reset: the topics go with moto's reset).
    pub fn clear(&self) {
        self.subs.write().expect("not poisoned").clear();
        self.signature_versions
            .write()
            .expect("not poisoned")
            .clear();
    }

    /// The subscription with this ARN.
    pub fn get(&self, arn: &str) -> Option<Subscription> {
        self.subs.read().expect("not poisoned").get(arn).cloned()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.subs.read().expect("not poisoned").len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The subscription of `topic` with this protocol and endpoint (Subscribe is idempotent).
    pub fn find(&self, topic: &str, protocol: Protocol, endpoint: &str) -> Option<Subscription> {
        self.subs
            .read()
            .expect("not poisoned")
            .values()
            .find(|s| s.topic_arn == topic && s.protocol == protocol && s.endpoint == endpoint)
            .cloned()
    }

    /// Adds (or replaces) `s`.
    pub fn insert(&self, s: Subscription) {
        self.subs
            .write()
            .expect("not poisoned")
            .insert(s.arn.clone(), s);
    }

    /// Changes the subscription `arn` with `f`; false when there is none.
    pub fn update(&self, arn: &str, f: impl FnOnce(&mut Subscription)) -> bool {
        match self.subs.write().expect("not poisoned").get_mut(arn) {
            Some(s) => {
                f(s);
                true
            }
            None => false,
        }
    }

    /// Removes the subscription `arn`; whether there was one.
    pub fn remove(&self, arn: &str) -> bool {
        self.subs
            .write()
            .expect("not poisoned")
            .remove(arn)
            .is_some()
    }

    /// Removes every subscription of `topic`.
    pub fn remove_topic(&self, topic: &str) -> usize {
        let mut subs = self.subs.write().expect("not poisoned");
        let before = subs.len();
        subs.retain(|_, s| s.topic_arn != topic);
        self.signature_versions
            .write()
            .expect("not poisoned")
            .remove(topic);
        before - subs.len()
    }

    /// Confirms the subscription of `topic` with this token; its ARN, if there is one.
    pub fn confirm(&self, topic: &str, token: &str) -> Option<String> {
        let mut subs = self.subs.write().expect("not poisoned");
        let s = subs
            .values_mut()
            .find(|s| s.topic_arn == topic && s.token.as_deref() == Some(token))?;
        s.confirmed = true;
        Some(s.arn.clone())
    }

    /// The subscriptions of `topic` (all topics when `None`).
    pub fn of_topic(&self, topic: Option<&str>) -> Vec<Subscription> {
        self.subs
            .read()
            .expect("not poisoned")
            .values()
            .filter(|s| topic.is_none_or(|t| s.topic_arn == t))
            .cloned()
            .collect()
    }

    /// Whether `arn` exists and is confirmed (may still be delivered to).
    pub fn active(&self, arn: &str) -> bool {
        self.subs
            .read()
            .expect("not poisoned")
            .get(arn)
            .is_some_and(|s| s.confirmed)
    }
}
