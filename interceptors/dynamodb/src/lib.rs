//! # edgestack-dynamodb
//!
//! What LocalStack's DynamoDB listener added on top of its backends, as two interceptors,
//! each usable alone (they run in the order the TOML file lists them; streams, then local,
//! is the order that makes sense). Its error injection (`DYNAMODB_ERROR_PROBABILITY` and
//! the like, BatchWriteItem throttled item by item) is `[interceptors.chaos]`'s
//! (`edgestack-chaos`).
//!
//! - [`DynamoDbStreams`] (`[interceptors.dynamodb-streams]`): DynamoDB Streams for backends
//!   that have none (dynalite): StreamSpecification kept by the edge, records for every
//!   write kind with old and new images read from the backend, the Streams API served by the
//!   edge, optional push to Kinesis or SQS. See [`streams`].
//! - [`DynamoDbLocal`] (`[interceptors.dynamodb-local]`): DynamoDB Local's `ddblocal` region
//!   in ARNs replaced with the request's (both ways), and optional tables per account and
//!   region. See [`local`].
//!
//! ```toml
//! [interceptors.dynamodb-streams]
//! pass_through = ["ddblocal"]   # DynamoDB Local has streams of its own
//! [interceptors.dynamodb-local]
//! ```
//!
//! Both need the AWS edge (service detection); on a plain proxy they let every request
//! through untouched. Whenever they change a response body the engine recomputes
//! `x-amz-crc32`, which SDKs check.

pub mod local;
pub mod protocol;
pub mod streams;

pub use local::DynamoDbLocal;
pub use streams::DynamoDbStreams;

/// `[interceptors.dynamodb-streams]`.
pub const STREAMS: &str = "dynamodb-streams";
/// `[interceptors.dynamodb-local]`.
pub const LOCAL: &str = "dynamodb-local";
