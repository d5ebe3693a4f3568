//! Per-request facts and state shared by every hook of one request.

use std::{
    fmt,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use http::Extensions;

use crate::{
    aws::{AwsClient, AwsRequest},
    background::Background,
    upstream::UpstreamName,
};

/// A per-edge, per-request number, unique for the life of the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What every hook of one request can see and share.
///
/// Listeners keep their own typed state between `forward_request` and `return_response` in
/// [`extensions`](Self::extensions): insert a private type in one hook, read it in the next.
#[derive(Debug)]
pub struct RequestContext {
    pub(crate) id: RequestId,
    pub(crate) client_addr: Option<SocketAddr>,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) listen_label: Option<Arc<str>>,
    pub(crate) upstream: Option<UpstreamName>,
    pub(crate) started: Instant,
    pub(crate) upstream_started: Option<Instant>,
    pub(crate) response_started: Option<Instant>,
    pub(crate) background: Background,
    pub(crate) aws_client: Option<AwsClient>,
    pub(crate) aws: Option<AwsRequest>,
    /// The listeners of the chain that act on this request (see
    /// [`Listener::acts_on`](crate::Listener::acts_on)), chosen once by [`Chain::select`](crate::Chain::select).
    pub(crate) acting: crate::chain::Acting,
    /// Typed per-request state, shared by all listeners of this request. Values must be
    /// `Clone + Send + Sync + 'static` (what [`http::Extensions`] asks); use a private type per
    /// listener so listeners do not see each other's state by accident.
    pub extensions: Extensions,
}

impl RequestContext {
    pub(crate) fn new(
        id: RequestId,
        client_addr: Option<SocketAddr>,
        background: Background,
    ) -> Self {
        RequestContext {
            id,
            client_addr,
            local_addr: None,
            listen_label: None,
            upstream: None,
            started: Instant::now(),
            upstream_started: None,
            response_started: None,
            background,
            aws_client: None,
            aws: None,
            acting: crate::chain::Acting::ALL,
            extensions: Extensions::new(),
        }
    }

    /// A context attached to no edge, for unit tests of a listener's hooks. Background jobs
    /// run on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn detached(id: u64) -> Self {
        let background = Background::new(tokio::runtime::Handle::current(), 1024);
        RequestContext::new(RequestId(id), None, background)
    }

    /// This request's id.
    pub fn request_id(&self) -> RequestId {
        self.id
    }

    /// The client's address.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client_addr
    }

    /// The edge address the request arrived on.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// The label of the listen address the request arrived on, if it has one: for the AWS
    /// edge's legacy per-service ports (`[server.service_ports]`) it is the service name.
    pub fn listen_label(&self) -> Option<&str> {
        self.listen_label.as_deref()
    }

    /// The upstream the request is routed to (after any reroute), if any.
    pub fn upstream(&self) -> Option<&UpstreamName> {
        self.upstream.as_ref()
    }

    /// When the engine received the request head.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time since the request head arrived.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Time from the request head to the upstream call starting, once it started.
    pub fn time_to_upstream(&self) -> Option<Duration> {
        self.upstream_started.map(|t| t - self.started)
    }

    /// Time from the request head to the response head, once it arrived.
    pub fn time_to_response(&self) -> Option<Duration> {
        self.response_started.map(|t| t - self.started)
    }

    /// The facility for side effects that must not delay the client (notifications, stream
    /// records). Work queued here runs off the request path; shutdown waits for it, bounded.
    pub fn background(&self) -> &Background {
        &self.background
    }

    /// On an AWS edge, the client for the edge's own AWS calls (signed, routed to the
    /// upstream of each service). `None` on a plain proxy and in [`detached`](Self::detached)
    /// contexts unless set with [`with_aws_client`](Self::with_aws_client).
    pub fn aws_client(&self) -> Option<&AwsClient> {
        self.aws_client.as_ref()
    }

    /// What the AWS edge detected about this request (service, operation, region, account,
    /// protocol, S3 bucket and key, target, queue, ...), computed once by the edge's router
    /// (and completed from a form body for query-protocol calls) before the first listener
    /// runs. `None` on a plain proxy and for requests that name no AWS service.
    ///
    /// Listeners read this instead of parsing signatures, `X-Amz-Target` or paths again.
    pub fn aws(&self) -> Option<&AwsRequest> {
        self.aws.as_ref()
    }

    /// Whether this request is, or may still turn out to be, a call to AWS `service` (an
    /// unrecognised form `POST` may name it in its body): what most interceptors'
    /// [`acts_on`](crate::Listener::acts_on) asks.
    pub fn may_be_service(&self, service: &str) -> bool {
        match &self.aws {
            Some(aws) => aws.service == service,
            None => self.aws_form_pending(),
        }
    }

    /// True when the edge did not recognise the request from its head, but its form body may
    /// still name the service (a `POST` form without `Action` in the query). The edge's
    /// form-body pass reads that body before the first listener's `forward_request` and fills
    /// in [`aws`](Self::aws) if it does; until then (in `body_access`) this says it may.
    pub fn aws_form_pending(&self) -> bool {
        self.aws.is_none()
            && self
                .extensions
                .get::<crate::aws::router::Unrecognized>()
                .is_some()
    }

    /// Records what detection found, as the edge's router does: an AWS request becomes
    /// [`aws`](Self::aws); an unrecognised form `POST` is marked
    /// [`aws_form_pending`](Self::aws_form_pending). For tests and harnesses that run
    /// [`detect`](crate::aws::detect::detect) themselves.
    pub fn set_detection(&mut self, detection: crate::aws::Detection) {
        match detection {
            crate::aws::Detection::Aws(aws) => self.aws = Some(aws),
            d @ crate::aws::Detection::Unknown {
                needs_form: true, ..
            } => {
                self.aws = None;
                self.extensions
                    .insert(crate::aws::router::Unrecognized { detection: d });
            }
            crate::aws::Detection::Unknown { .. } => {
                self.aws = None;
                self.extensions.remove::<crate::aws::router::Unrecognized>();
            }
        }
    }

    /// Replaces what the edge knows about this request: for listeners that answer a call as
    /// another (and for the edge's own form-body pass).
    pub fn set_aws(&mut self, aws: Option<AwsRequest>) {
        self.aws = aws;
    }

    /// This context with `aws` as its [`aws`](Self::aws) view (for unit tests of a listener).
    pub fn with_aws(mut self, aws: AwsRequest) -> Self {
        self.aws = Some(aws);
        self
    }

    /// This context with `client` as its [`aws_client`](Self::aws_client) (for unit tests of a
    /// listener).
    pub fn with_aws_client(mut self, client: AwsClient) -> Self {
        self.aws_client = Some(client);
        self
    }
}
