//! DynamoDB Streams emulated in front of backends that have none (dynalite), or whose own
//! streams are not wanted (moto_server, DynamoDB Local): `[interceptors.dynamodb-streams]`.
//!
//! - [`settings`]: the section;
//! - [`tables`]: StreamSpecification in CreateTable/UpdateTable and table descriptions;
//! - [`writes`]: which items a write touches (including PartiQL, via [`partiql`]);
//! - [`locks`]: per-item locks, so old images chain right under concurrent writers;
//! - [`record`]: records in AWS's shape;
//! - [`store`]: streams, shards, retention, iterators;
//! - [`api`]: the Streams API (ListStreams, DescribeStream, GetShardIterator, GetRecords);
//! - [`push`]: records to Kinesis/SQS off the request path;
//! - the listener itself, [`DynamoDbStreams`].
//!
//! `POST /_localstack/state/reset` forgets every stream and its records and drops the records
//! not yet pushed (the tables themselves go with the backend's reset).

pub mod api;
mod listener;
pub mod locks;
pub mod partiql;
pub mod push;
pub mod record;
pub mod settings;
pub mod store;
pub mod tables;
pub mod writes;

pub use listener::DynamoDbStreams;
pub use settings::Settings;
