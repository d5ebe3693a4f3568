//! Event source mappings (SQS, Kinesis, DynamoDB Streams → Lambda), owned by the edge: the
//! mapping API is answered here (never forwarded: moto would poll and fail the invocations
//! itself), and each enabled mapping has a poller on the edge's background runtime.

use edgestack_core::{aws::AwsError, http::StatusCode, Request, RequestContext, Response};

/// The event source mappings of one edge.
#[derive(Debug, Default)]
pub struct Mappings {}

impl Mappings {
    /// No mappings yet.
    pub fn new() -> Mappings {
        Mappings {}
    }

    /// Answers one call of the mapping API (`operation` is the edge's name for it:
    /// `CreateEventSourceMapping`, `GetEventSourceMapping`, `ListEventSourceMappings`,
    /// `UpdateEventSourceMapping`, `DeleteEventSourceMapping`).
    pub async fn handle(&self, operation: &str, _req: &Request, cx: &RequestContext) -> Response {
        AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{operation}: event source mappings are not run by edgestack yet"),
        )
        .response(cx)
    }
}
