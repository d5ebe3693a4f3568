//! Message bodies as listeners see them: streamed through untouched, or whole in memory.

use bytes::Bytes;

/// A request or response body as seen by a [`Listener`](crate::Listener).
///
/// By default the engine never holds a body: it streams between client and upstream with
/// bounded memory, and listeners see [`Body::Streamed`]. A listener that asks for
/// [`BodyMode::Buffer`] sees [`Body::Full`] and may replace it; the engine then fixes
/// `Content-Length` / `Transfer-Encoding` to match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Body {
    /// The body streams between the peers and is not available to listeners.
    #[default]
    Streamed,
    /// The whole body, in memory.
    Full(Bytes),
}

impl Body {
    /// An empty, complete body.
    pub fn empty() -> Self {
        Body::Full(Bytes::new())
    }

    /// The bytes, when the body is in memory.
    pub fn bytes(&self) -> Option<&Bytes> {
        match self {
            Body::Streamed => None,
            Body::Full(b) => Some(b),
        }
    }

    /// True when the body streams and is not in memory.
    pub fn is_streamed(&self) -> bool {
        matches!(self, Body::Streamed)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Full(b)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Full(Bytes::from_static(s.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Full(Bytes::from(s))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Full(Bytes::from(v))
    }
}

/// How much of one body (request or response) a listener needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum BodyMode {
    /// The listener does not look at the body; it streams through untouched (the default).
    #[default]
    Stream,
    /// The listener wants a copy of the body after the exchange, in
    /// [`Listener::observe`](crate::Listener::observe). Nothing is delayed; the copy is capped at
    /// the edge's body limit and marked incomplete beyond it.
    Observe,
    /// The listener needs the whole body in its hook, and may replace it. The engine buffers it
    /// (up to the body limit; a larger request gets 413) before calling the hook, and for
    /// responses no header reaches the client before `return_response` ran. Requests that
    /// ask to upgrade the connection (`Upgrade`, e.g. WebSocket) always stream.
    Buffer,
}

/// What a listener needs of the bodies of one request, decided from the request head alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyAccess {
    /// Access to the request body.
    pub request: BodyMode,
    /// Access to the response body.
    pub response: BodyMode,
}

impl BodyAccess {
    /// Neither body is touched: everything streams.
    pub const NONE: BodyAccess = BodyAccess {
        request: BodyMode::Stream,
        response: BodyMode::Stream,
    };

    /// The whole request body, before `forward_request`.
    pub const BUFFER_REQUEST: BodyAccess = BodyAccess {
        request: BodyMode::Buffer,
        response: BodyMode::Stream,
    };

    /// The whole response body, before `return_response`.
    pub const BUFFER_RESPONSE: BodyAccess = BodyAccess {
        request: BodyMode::Stream,
        response: BodyMode::Buffer,
    };

    /// Both whole bodies.
    pub const BUFFER_BOTH: BodyAccess = BodyAccess {
        request: BodyMode::Buffer,
        response: BodyMode::Buffer,
    };

    /// Copies of both bodies after the exchange, without delaying it.
    pub const OBSERVE_BOTH: BodyAccess = BodyAccess {
        request: BodyMode::Observe,
        response: BodyMode::Observe,
    };

    /// The strongest need of `self` and `other`, per direction.
    pub fn union(self, other: BodyAccess) -> BodyAccess {
        BodyAccess {
            request: self.request.max(other.request),
            response: self.response.max(other.response),
        }
    }

    /// True when either direction must be buffered.
    pub fn buffers(&self) -> bool {
        self.request == BodyMode::Buffer || self.response == BodyMode::Buffer
    }
}

/// A body copy handed to [`Listener::observe`](crate::Listener::observe).
#[derive(Debug, Clone, Default)]
pub struct ObservedBody {
    /// The bytes seen, up to the edge's body limit.
    pub bytes: Bytes,
    /// True when `bytes` is the whole body; false when it was cut at the limit.
    pub complete: bool,
}
