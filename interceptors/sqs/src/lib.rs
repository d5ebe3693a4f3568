//! # edgestack-sqs
//!
//! SQS queue URLs and ARNs that point at the edge, `[interceptors.sqs-urls]` (LocalStack's
//! SQS listener did the same).
//!
//! ```toml
//! [interceptors.sqs-urls]
//! external_url = "http://sqs.example.test:4566"  # unset: http:// + the Host the client used
//! backend_account = "123456789012"               # unset: accounts are left alone
//! endpoint_strategy = "standard"                 # LocalStack's URL shapes; unset: "dynamic"
//! ```
//!
//! A backend writes queue URLs with its own address (or, like moto, the `Host` it was sent),
//! and some write paths (`/queue/{name}`) and ARN regions (`elasticmq`) of their own. The
//! answers of `CreateQueue`, `GetQueueUrl`, `ListQueues`, `ListDeadLetterSourceQueues` and
//! `GetQueueAttributes`, in both protocols (query/XML and JSON), are rewritten so that:
//!
//! - queue URLs start with `external_url`, else the edge's `[aws] external_url`, else
//!   `http://` and the `Host` the client sent (port included), so clients keep talking to the edge; `/queue/{name}` becomes
//!   `/{account}/{name}`; `endpoint_strategy` gives them LocalStack's shapes
//!   (`sqs.<region>.localhost.localstack.cloud`, ...: see [`strategy`]);
//! - SQS ARNs (`QueueArn`, and `deadLetterTargetArn` / `sourceQueueArns` in the redrive
//!   policies) get the request's region when theirs is not a region;
//! - with `backend_account`, that account in URLs and ARNs becomes the request's (its 12-digit
//!   access key, else `000000000000`).
//!
//! Which calls these are is the edge's detection (`RequestContext::aws`: service `sqs` and the
//! operation), so the interceptor acts on the AWS edge only. Only those values are replaced;
//! every other byte of the answer stays. Requests are not changed (backends find queues by
//! the name at the end of the URL), except one sent to a path-strategy queue URL
//! (`/queue/<region>/<account>/<queue>`, as SDKs that post to the queue URL do), whose path
//! goes to the backend as `/<account>/<queue>`.
//!
//! Files: [`settings`] (the section), [`strategy`] (URL shapes), `select` (which requests), `place` (one URL or ARN),
//! `xml` and `json` (where they are in an answer), `edits` (replacing ranges), `listener`.

mod edits;
mod json;
mod listener;
mod place;
mod select;
pub mod settings;
pub mod strategy;
mod xml;

pub use listener::SqsUrls;
pub use settings::Settings;

/// `[interceptors.sqs-urls]`.
pub const URLS: &str = "sqs-urls";
