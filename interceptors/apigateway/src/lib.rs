//! # edgestack-apigateway
//!
//! Invoking API Gateway REST APIs (v1) whose control plane is the backend's: moto_server
//! keeps `CreateRestApi`, `PutMethod`, `PutIntegration`, `CreateDeployment`, ... and this
//! interceptor answers the invocations, as LocalStack's API Gateway listener did.
//!
//! ```toml
//! [interceptors.apigateway]
//! cache_ttl = "10s"
//! integration_timeout = "29s"
//! route_errors = "aws"
//! ```
//!
//! An invocation is addressed as `/restapis/{api}/{stage}/_user_request_/{path}`, as
//! `{api}.execute-api.localhost.localstack.cloud:{port}/{stage}/{path}` (also
//! `{api}.execute-api.localhost` and `{api}.execute-api.{region}.amazonaws.com`), or as
//! `/_aws/execute-api/{api}/{stage}/{path}` ([`address`]). The edge then:
//!
//! 1. reads the API's resources, methods, integrations and stages from the routed upstream
//!    ([`control`], cached; changes through the edge and `POST /_localstack/state/reset`
//!    drop the cache);
//! 2. picks the resource (literal over `{param}` over `{param+}`, [`resources`]) and method
//!    (or `ANY`), checks `x-api-key` when the method requires one (an enabled key in a usage
//!    plan of that stage), and answers misses as API Gateway does ([`gateway`]);
//! 3. runs the integration ([`integration`]): HTTP_PROXY and HTTP to the integration URI with
//!    stage variables and parameter mapping, MOCK with status selection, AWS_PROXY to Lambda
//!    through the upstream `lambda` is routed to. Non-proxy mapping templates are evaluated
//!    for a documented subset ([`template`]); anything else is a 500 that names it.
//!
//! Not emulated: authorizers and IAM authorization (methods are invoked whatever their
//! `authorizationType`), request validators, usage-plan throttling and quotas, caching,
//! binary media types, custom gateway responses, and the deployment snapshot (the API's
//! current resources are invoked, as in LocalStack, not the ones of the stage's deployment).
//! Needs the AWS edge (service detection); on a plain proxy it lets everything through.

pub mod address;
pub mod control;
pub mod gateway;
pub mod incoming;
pub mod integration;
pub mod jsonpath;
pub mod listener;
pub mod mapping;
pub mod model;
pub mod resources;
pub mod settings;
pub mod template;

pub use listener::ApiGateway;
pub use settings::{RouteErrors, Settings};

/// `[interceptors.apigateway]`.
pub const NAME: &str = "apigateway";
