//! Running an ordered chain of listeners.
//!
//! The rules, all here:
//! - `forward_request` runs in chain order; the first listener that answers
//!   ([`Forward::Respond`]) or reroutes ([`Forward::Reroute`]) stops the forward pass.
//! - `return_response` runs in reverse order for exactly the listeners whose `forward_request`
//!   ran (the one that answered or rerouted included), also for directly answered responses.
//! - `observe` runs for those same listeners after the client has its answer.
//! - A listener whose [`acts_on`](Listener::acts_on) says no for a request (asked once, by
//!   [`Chain::select`]) is skipped by every pass of that request.
//! - Body needs are the union of what each acting listener asks for.
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

/// Which listeners of a chain act on one request: a bit per listener (the 129th and later
/// always act).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acting(u128);

impl Acting {
    /// Every listener acts (before [`Chain::select`], and on contexts of no chain).
    pub(crate) const ALL: Acting = Acting(u128::MAX);

    fn has(self, i: usize) -> bool {
        i >= 128 || self.0 & (1 << i) != 0
    }

    /// Whether any of the first `n` listeners acts.
    fn any_of_first(self, n: usize) -> bool {
        n > 128 || (n > 0 && self.0 & (u128::MAX >> (128 - n)) != 0)
    }
}

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

    /// Asks each listener whether it acts on this request ([`Listener::acts_on`]) and keeps
    /// the answer in `cx`: every later pass of the request skips the ones that do not. Call
    /// it once, before [`body_access`](Self::body_access); without it every listener acts.
    pub fn select(&self, req: &Parts, cx: &mut RequestContext) {
        let mut bits = 0u128;
        for (i, l) in self.listeners.iter().enumerate().take(128) {
            if l.acts_on(req, cx) {
                bits |= 1 << i;
            }
        }
        cx.acting = Acting(bits);
    }

    /// The listeners acting on the request of `cx`, with their positions.
    fn acting<'a>(
        &'a self,
        cx: &RequestContext,
    ) -> impl DoubleEndedIterator<Item = (usize, &'a Arc<dyn Listener>)> + 'a {
        let acting = cx.acting;
        self.listeners
            .iter()
            .enumerate()
            .filter(move |(i, _)| acting.has(*i))
    }

    /// The union of every acting listener's body needs for this request.
    pub fn body_access(&self, req: &Parts, cx: &RequestContext) -> BodyAccess {
        self.acting(cx).fold(BodyAccess::NONE, |acc, (_, l)| {
            acc.union(l.body_access(req, cx))
        })
    }

    /// Runs `forward_request` of the acting listeners in order until one answers or
    /// reroutes. `ran` is 0 when no acting listener ran (nothing to run on the way back).
    pub async fn forward(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<ForwardOutcome, (usize, Error)> {
        let acting = cx.acting;
        for (i, l) in self.listeners.iter().enumerate() {
            if !acting.has(i) {
                continue;
            }
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
        let ran = self.listeners.len();
        Ok(ForwardOutcome {
            ran: if acting.any_of_first(ran) { ran } else { 0 },
            decision: Forward::Continue,
        })
    }

    /// Runs `return_response` in reverse order over the acting ones of the first `ran`
    /// listeners.
    pub async fn return_response(
        &self,
        ran: usize,
        req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), Error> {
        let acting = cx.acting;
        let first = &self.listeners[..ran.min(self.listeners.len())];
        for (_, l) in first
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| acting.has(*i))
        {
            guarded(l.return_response(req, resp, cx))
                .await
                .map_err(|source| Error::from_listener(l.name(), source))?;
        }
        Ok(())
    }

    /// Runs `observe` over the acting ones of the first `ran` listeners, in chain order.
    pub async fn observe(&self, ran: usize, exchange: &Exchange<'_>, cx: &RequestContext) {
        for (_, l) in self.acting(cx).take_while(|(i, _)| *i < ran) {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::{body::Body, listener::response};

    /// Records its hooks; acts only on paths starting with its prefix.
    struct Rec {
        name: &'static str,
        prefix: &'static str,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Rec {
        fn note(&self, hook: &str) {
            self.log
                .lock()
                .unwrap()
                .push(format!("{}.{hook}", self.name));
        }
    }

    #[async_trait]
    impl Listener for Rec {
        fn acts_on(&self, req: &Parts, _cx: &RequestContext) -> bool {
            req.uri.path().starts_with(self.prefix)
        }
        fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
            self.note("body_access");
            BodyAccess::NONE
        }
        async fn forward_request(
            &self,
            _req: &mut Request,
            _cx: &mut RequestContext,
        ) -> Result<Forward, ListenerError> {
            self.note("forward");
            Ok(Forward::Continue)
        }
        async fn return_response(
            &self,
            _req: &Parts,
            _resp: &mut Response,
            _cx: &mut RequestContext,
        ) -> Result<(), ListenerError> {
            self.note("return");
            Ok(())
        }
        async fn observe(&self, _exchange: &Exchange<'_>, _cx: &RequestContext) {
            self.note("observe");
        }
    }

    async fn run(chain: &Chain, path: &str) -> usize {
        let mut cx = RequestContext::detached(1);
        let mut req = http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let (parts, _) = http::Request::builder()
            .uri(path)
            .body(())
            .unwrap()
            .into_parts();
        chain.select(&parts, &mut cx);
        chain.body_access(&parts, &cx);
        let out = chain.forward(&mut req, &mut cx).await.unwrap();
        let mut resp = response(http::StatusCode::OK, "");
        chain
            .return_response(out.ran, &parts, &mut resp, &mut cx)
            .await
            .unwrap();
        let exchange = Exchange {
            request: &parts,
            request_body: None,
            response: None,
            response_body: None,
            error: None,
        };
        chain.observe(out.ran, &exchange, &cx).await;
        out.ran
    }

    #[tokio::test]
    async fn listeners_that_do_not_act_get_no_hook() {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let rec = |name, prefix| -> Arc<dyn Listener> {
            Arc::new(Rec {
                name,
                prefix,
                log: log.clone(),
            })
        };
        let chain = Chain::new(vec![rec("a", "/a"), rec("all", "/"), rec("b", "/b")]);
        assert_eq!(run(&chain, "/b/x").await, 3);
        assert_eq!(
            log.lock().unwrap().drain(..).collect::<Vec<_>>(),
            [
                "all.body_access",
                "b.body_access",
                "all.forward",
                "b.forward",
                "b.return",
                "all.return",
                "all.observe",
                "b.observe"
            ]
        );
        // Nobody acts: nothing runs, and the forward pass says none ran.
        let none = Chain::new(vec![rec("a", "/a"), rec("b", "/b")]);
        assert_eq!(run(&none, "/c").await, 0);
        assert!(log.lock().unwrap().is_empty());
        // Without select, every listener acts (the default).
        let mut cx = RequestContext::detached(2);
        let mut req = http::Request::builder()
            .uri("/c")
            .body(Body::empty())
            .unwrap();
        assert_eq!(none.forward(&mut req, &mut cx).await.unwrap().ran, 2);
    }

    #[test]
    fn acting_bits() {
        let a = Acting(0b100);
        assert!(!a.has(0) && !a.has(1) && a.has(2) && a.has(200));
        assert!(!a.any_of_first(0) && !a.any_of_first(2) && a.any_of_first(3));
        assert!(Acting(0).any_of_first(129));
        assert!(Acting::ALL.any_of_first(128));
    }
}
