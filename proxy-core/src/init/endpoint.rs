//! [`InitEndpoint`]: LocalStack's init-hook endpoints, as a listener that claims them
//! ([`Listener::admin_paths`]), so the edge's admin listener leaves them to it:
//!
//! | request | answer |
//! |---|---|
//! | `GET /_localstack/init` | `{"completed": {"BOOT": true, "START": true, "READY": false, "SHUTDOWN": false}, "scripts": [{"stage": "READY", "name": "01-x.sh", "state": "SUCCESSFUL"}]}` |
//! | `GET /_localstack/init/<stage>` | `{"completed": true, "scripts": [...]}` for that stage (its name in any case); 404 for another name |
//! | `HEAD` of either | 200 (404 for an unknown stage), no body |
//! | any other method | 405 |
//!
//! Both are read-only, so the admin guard's rules for requests that change state do not
//! apply to `GET`/`HEAD`.

use async_trait::async_trait;
use http::{header, request::Parts, HeaderValue, Method, StatusCode};

use super::{InitHooks, Stage};
use crate::{
    context::RequestContext,
    listener::{json_response, response, Forward, Listener, ListenerError, Request, Response},
};

/// The path of the whole document; `<PATH>/<stage>` has one stage's.
pub const PATH: &str = "/_localstack/init";

/// Answers `/_localstack/init` and `/_localstack/init/<stage>` from an [`InitHooks`].
#[derive(Debug, Clone)]
pub struct InitEndpoint {
    hooks: InitHooks,
}

impl InitEndpoint {
    /// The endpoint for `hooks` (also [`InitHooks::listener`]).
    pub fn new(hooks: InitHooks) -> Self {
        InitEndpoint { hooks }
    }

    /// The answer to `method` on `path`, or `None` when the path is not this endpoint's.
    pub fn answer(&self, method: &Method, path: &str) -> Option<Response> {
        let rest = path.strip_prefix(PATH)?;
        let stage = match rest {
            "" | "/" => None,
            r if r.starts_with('/') => Some(&r[1..]),
            _ => return None,
        };
        if *method != Method::GET && *method != Method::HEAD {
            let mut r = json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({ "error": format!("{method} {path}: only GET and HEAD") }),
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Some(r);
        }
        let (status, doc) = match stage {
            None => (StatusCode::OK, self.hooks.document()),
            Some(name) => match Stage::parse(name.trim_end_matches('/')) {
                Some(s) => (StatusCode::OK, self.hooks.stage_document(s)),
                None => (
                    StatusCode::NOT_FOUND,
                    serde_json::json!({
                        "error": format!(
                            "no such stage {name} (BOOT, START, READY or SHUTDOWN)"
                        ),
                    }),
                ),
            },
        };
        if *method == Method::HEAD {
            return Some(response(status, ""));
        }
        Some(json_response(status, &doc))
    }
}

#[async_trait]
impl Listener for InitEndpoint {
    fn name(&self) -> &str {
        "init"
    }

    fn admin_paths(&self) -> Vec<String> {
        // A prefix ending in `/` also covers the path without it.
        vec![format!("{PATH}/")]
    }

    /// Its own paths only.
    fn acts_on(&self, req: &Parts, _cx: &RequestContext) -> bool {
        req.uri.path().starts_with(PATH)
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        Ok(match self.answer(req.method(), req.uri().path()) {
            Some(r) => Forward::Respond(r),
            None => Forward::Continue,
        })
    }
}
