//! Running an ordered chain of listeners.
//!
//! The rules, all here:
//! - `forward_request` runs in chain order; the first listener that answers
//!   ([`Forward::Respond`]) or reroutes ([`Forward::Reroute`]) stops the forward pass.
//! - `return_response` runs in reverse order for exactly the listeners whose `forward_request`
//!   ran (the one that answered or rerouted included), also for directly answered responses.
//! - `observe` runs for those same listeners after the client has its answer.
//! - Body needs are the union of what each listener asks for.
//! - A hook that returns an [`AwsError`](crate::aws::AwsError) answers the client with it, in
//!   the protocol of its call; any other error is a failed hook (500 `ListenerFailed`).
//! - A hook that panics is a failed hook: the client gets the 500 a returned error gives, and
//!   nothing else is affected.

use std::{any::Any, future::Future, panic::AssertUnwindSafe, sync::Arc};

use futures_util::FutureExt;
use http::request::Parts;

use crate::{
    body::BodyAccess,
    context::RequestContext,
    error::Error,
    listener::{Exchange, Forward, Listener, ListenerError, Request, Response},
};

/// An ordered list of listeners.
#[derive(Clone, Default)]
pub struct Chain {
    listeners: Vec<Arc<dyn Listener>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.listeners.iter().map(|l| l.name()))
            .finish()
    }
}

/// The outcome of the forward pass.
#[derive(Debug)]
pub struct ForwardOutcome {
    /// How many listeners' `forward_request` ran (the first `ran` of the chain).
    pub ran: usize,
    /// The deciding listener's answer ([`Forward::Continue`] when all continued).
    pub decision: Forward,
}

impl Chain {
    /// A chain of these listeners, in this order.
    pub fn new(listeners: Vec<Arc<dyn Listener>>) -> Self {
        Chain { listeners }
    }

    /// Appends a listener at the end.
    pub fn push(&mut self, listener: Arc<dyn Listener>) {
        self.listeners.push(listener);
    }

    /// Puts `front` before the listeners already there (the edge's built-in listeners).
    pub(crate) fn prepend(&mut self, mut front: Vec<Arc<dyn Listener>>) {
        front.append(&mut self.listeners);
        self.listeners = front;
    }

    /// The listeners, in order.
    pub(crate) fn listeners(&self) -> &[Arc<dyn Listener>] {
        &self.listeners
    }

    /// True when the chain has no listener.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Number of listeners.
    pub fn len(&self) -> usize {
        self.listeners.len()
    }

    /// The union of every listener's body needs for this request.
    pub fn body_access(&self, req: &Parts, cx: &RequestContext) -> BodyAccess {
        self.listeners
            .iter()
            .fold(BodyAccess::NONE, |acc, l| acc.union(l.body_access(req, cx)))
    }

    /// Runs `forward_request` in order until one answers or reroutes.
    pub async fn forward(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<ForwardOutcome, (usize, Error)> {
        for (i, l) in self.listeners.iter().enumerate() {
            match guarded(l.forward_request(req, cx)).await {
                Ok(Forward::Continue) => continue,
                Ok(decision) => {
                    return Ok(ForwardOutcome {
                        ran: i + 1,
                        decision,
                    })
                }
                Err(source) => return Err((i + 1, Error::from_listener(l.name(), source))),
            }
        }
        Ok(ForwardOutcome {
            ran: self.listeners.len(),
            decision: Forward::Continue,
        })
    }

    /// Runs `return_response` in reverse order over the first `ran` listeners.
    pub async fn return_response(
        &self,
        ran: usize,
        req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), Error> {
        for l in self.listeners[..ran.min(self.listeners.len())].iter().rev() {
            guarded(l.return_response(req, resp, cx))
                .await
                .map_err(|source| Error::from_listener(l.name(), source))?;
        }
        Ok(())
    }

    /// Runs `observe` over the first `ran` listeners, in chain order.
    pub async fn observe(&self, ran: usize, exchange: &Exchange<'_>, cx: &RequestContext) {
        for l in &self.listeners[..ran.min(self.listeners.len())] {
            if let Err(panic) = AssertUnwindSafe(l.observe(exchange, cx))
                .catch_unwind()
                .await
            {
                tracing::error!(
                    "listener '{}' panicked in observe: {}",
                    l.name(),
                    message(&*panic)
                );
            }
        }
    }
}

/// Runs a hook, turning a panic into the hook's error.
async fn guarded<T>(
    hook: impl Future<Output = Result<T, ListenerError>>,
) -> Result<T, ListenerError> {
    AssertUnwindSafe(hook)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(format!("panicked: {}", message(&*panic)).into()))
}

fn message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
