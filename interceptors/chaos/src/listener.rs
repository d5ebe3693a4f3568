//! The listener: the Chaos API's calls are answered, every AWS call is delayed by the
//! latency effect, and a call a rule fires for gets the rule's error instead of reaching
//! its upstream.

use std::{sync::Arc, time::Duration};

use edgestack_core::{
    async_trait, aws::AwsRequest, http::request::Parts, BodyAccess, Forward, Listener,
    ListenerError, Request, RequestContext,
};

use crate::{api, inject, rules::Live, settings::Settings};

/// Fault injection as LocalStack's Chaos API. See the crate docs.
#[derive(Debug, Clone)]
pub struct Chaos {
    live: Arc<Live>,
}

impl Chaos {
    /// The interceptor with `settings` and the process environment, or every problem.
    pub fn new(settings: Settings) -> Result<Chaos, String> {
        Chaos::with_env(settings, |v| std::env::var(v).ok())
    }

    /// [`new`](Self::new) reading environment variables through `env`.
    pub fn with_env(
        settings: Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Chaos, String> {
        let mut problems = settings.validate();
        let rules = match settings.initial_rules(env) {
            Ok(r) => r,
            Err(p) => {
                problems.extend(p);
                Vec::new()
            }
        };
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let effects = crate::rules::Effects {
            latency: settings.latency,
        };
        Ok(Chaos {
            live: Arc::new(Live::new(rules, effects)),
        })
    }

    /// The live rules and effects (what the API changes), for embedders and tests.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }
}

#[async_trait]
impl Listener for Chaos {
    fn name(&self) -> &str {
        crate::NAME
    }

    fn admin_paths(&self) -> Vec<String> {
        vec![api::PREFIX.to_string()]
    }

    fn body_access(&self, req: &Parts, _cx: &RequestContext) -> BodyAccess {
        if api::is_api(req.uri.path()) {
            return BodyAccess::BUFFER_REQUEST;
        }
        let put_records = req
            .headers
            .get("x-amz-target")
            .is_some_and(|t| t.as_bytes().ends_with(b".PutRecords"));
        if put_records && self.live.may_name("kinesis", "PutRecords") {
            return BodyAccess::BUFFER_REQUEST;
        }
        BodyAccess::NONE
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        if api::is_api(req.uri().path()) {
            let body = req.body().bytes().cloned().unwrap_or_default();
            return Ok(Forward::Respond(api::serve(
                &self.live,
                req.method(),
                req.uri().path(),
                &body,
            )));
        }
        let Some(aws) = cx.aws() else {
            return Ok(Forward::Continue);
        };
        let latency = self.live.effects().latency;
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let Some(rule) = self.live.decide(aws) else {
            return Ok(Forward::Continue);
        };
        let error = rule.error();
        tracing::info!(
            "chaos: {} {} fails with {} {} ({})",
            aws.label(),
            aws.region,
            error.status_code,
            error.code,
            rule.description.as_deref().unwrap_or("a chaos rule")
        );
        let content_type = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let body = req.body().bytes().map(|b| b.as_ref());
        Ok(Forward::Respond(inject::answer(
            aws,
            &error,
            content_type,
            body,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_environment_problems_together() {
        let s: Settings = serde_json::from_str(r#"{"faults": [{"probability": 9}]}"#).unwrap();
        let e = Chaos::with_env(s, |_| Some("x".into())).unwrap_err();
        assert!(e.contains("faults[0].probability"), "{e}");
        assert!(e.contains("KINESIS_ERROR_PROBABILITY"), "{e}");
        let ok = Chaos::with_env(Settings::default(), |_| None).unwrap();
        assert!(ok.live().rules().is_empty());
        assert_eq!(ok.admin_paths(), ["/_localstack/chaos/"]);
    }
}
