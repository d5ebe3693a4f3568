//! # edgestack-sns
//!
//! SNS delivery that moto_server gets wrong, owned by the edge (moto stays the store of
//! topics and of subscriptions to its own queues, and keeps delivering to those, so nothing
//! arrives twice):
//!
//! - **Lambda subscriptions**: moto's own invoke fails without Docker. The edge keeps the
//!   subscription and, for each `Publish`/`PublishBatch` moto accepted, invokes the function
//!   asynchronously (through the edge, so the lambda interceptor runs it) with the
//!   `Records[].Sns` event, retried while Lambda is down or throttling.
//! - **HTTP and HTTPS subscriptions** (`https://` over rustls; certificates checked only
//!   with `verify_https`): a real confirmation handshake (`SubscriptionConfirmation` POST, then
//!   `SubscribeURL` or `ConfirmSubscription`), then one `Notification` POST per message with
//!   the `x-amz-sns-*` headers, raw delivery, and the subscription's `DeliveryPolicy` or AWS's
//!   default retry policy (3 retries, 20 s apart, configurable).
//! - **SQS subscriptions to queues moto does not hold** (SQS routed to another upstream than
//!   SNS): the edge keeps them and sends each message with `SendMessage` to that upstream
//!   (the JSON envelope, or the message with its attributes as SQS message attributes for
//!   raw delivery; FIFO group and deduplication ids kept), retried like Lambda. SQS
//!   subscriptions to queues on moto stay with moto, which delivers them itself.
//! - **Filter policies** (`FilterPolicy`, `FilterPolicyScope` attributes or body) on both,
//!   with the EventBridge matcher of [`edgestack_events::Pattern`].
//!
//! - **Signatures**: every envelope is signed as SNS signs it (`SignatureVersion` 1 or 2, per
//!   the topic's attribute set through the edge) with a fixed, public key whose certificate
//!   the edge serves at `SigningCertURL` (see [`signing`]).
//! - **Delivery and redrive policies**: an HTTP subscription's `DeliveryPolicy` (retries and
//!   `Content-Type`) and any subscription's `RedrivePolicy` dead-letter queue (see [`policy`]).
//!
//! Other protocols (email, sms, application, firehose) are left to moto.
//!
//! - [`message`]: published messages, filter policies, the JSON subscribers receive;
//! - [`subscriptions`]: the edge-owned subscriptions;
//! - [`signing`]: message signatures and the certificate;
//! - [`policy`]: `DeliveryPolicy` and `RedrivePolicy`;
//! - [`delivery`]: ordered, bounded, retried delivery per subscription;
//! - [`settings`]: the `[interceptors.sns]` section;
//! - [`metrics`]: delivered/failed/dropped/filtered counters and the queue gauge.
//!
//! ```toml
//! [interceptors.sns]
//! queue_capacity = 10000
//! [interceptors.sns.http_retry]
//! retries = 3
//! delay = "20s"
//! ```
//!
//! `POST /_localstack/state/reset` forgets every edge-owned subscription and drops the
//! deliveries not yet made (moto's reset takes the topics).
//!
//! It needs the AWS edge; on a plain proxy it lets every request through untouched.

pub mod delivery;
mod listener;
pub mod message;
pub mod metrics;
pub mod policy;
pub mod settings;
pub mod signing;
pub mod subscriptions;

pub use listener::Sns;
pub use settings::Settings;

/// The section name: `[interceptors.sns]`.
pub const NAME: &str = "sns";
