//! Running a method's integration: HTTP and HTTP_PROXY ([`http`]), MOCK ([`mock`]) and
//! AWS_PROXY to Lambda ([`lambda`]). Every other integration type is answered with a 500 that
//! says it is not supported.

pub mod http;
pub mod lambda;
pub mod mock;

use std::time::Duration;

use edgestack_core::{aws::AwsClient, Response};

use crate::{gateway::GatewayError, incoming::Incoming, model::Integration};

/// What an integration call needs besides the request.
#[derive(Debug)]
pub struct Call<'a> {
    /// The edge's outbound client.
    pub client: &'a AwsClient,
    /// The longest the integration may take.
    pub timeout: Duration,
    /// The API's region.
    pub region: &'a str,
}

/// Runs `integration` for `input`.
pub async fn run(
    call: &Call<'_>,
    integration: &Integration,
    input: &Incoming,
) -> Result<Response, GatewayError> {
    match integration.kind.as_str() {
        "HTTP_PROXY" => http::call(call, integration, input, true).await,
        "HTTP" => http::call(call, integration, input, false).await,
        "MOCK" => mock::respond(integration, input),
        "AWS_PROXY" if lambda::function_of(&integration.uri).is_some() => {
            lambda::call(call, integration, input).await
        }
        kind => Err(GatewayError::Internal(format!(
            "integration type {kind} with URI {:?} is not supported by edgestack (supported: \
             HTTP, HTTP_PROXY, MOCK, AWS_PROXY to Lambda)",
            integration.uri
        ))),
    }
}

/// `${stageVariables.NAME}` in an integration URI, replaced (absent variables are empty).
pub fn with_stage_variables(uri: &str, input: &Incoming) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(i) = rest.find("${stageVariables.") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "${stageVariables.".len()..];
        match after.find('}') {
            Some(end) => {
                if let Some(v) = input.stage_variables.get(&after[..end]) {
                    out.push_str(v);
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
