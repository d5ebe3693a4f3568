//! The listener: the Chaos API's calls are answered, every AWS call is delayed by the
//! latency effect, and a call a rule fires for gets the rule's error instead of reaching
//! its upstream. A state reset puts back the rules and effects the configuration set.

use std::{sync::Arc, time::Duration};

use edgestack_core::{
    async_trait,
    config::{ConfigError, Environment},
    http::request::Parts,
    Body, BodyAccess, Forward, Listener, ListenerError, Request, RequestContext, Response,
};
use http::StatusCode;

use crate::{
    api,
    inject::{self, Batch, Throttled},
    rules::{Effects, FaultRule, Live},
    settings::Settings,
};

/// Fault injection as LocalStack's Chaos API. See the crate docs.
#[derive(Debug, Clone)]
pub struct Chaos {
    live: Arc<Live>,
    /// The rules and effects the configuration set, which a state reset puts back.
    configured: Arc<(Vec<FaultRule>, Effects)>,
}

impl Chaos {
    /// The interceptor with `settings` and, unless `from_env = false`, LocalStack's variables
    /// from the process's environment (as the CLI reads them), or every problem.
    pub fn new(settings: Settings) -> Result<Chaos, Vec<ConfigError>> {
        Chaos::with_env(settings, &Environment::from_process())
    }

    /// [`new`](Self::new) also reading LocalStack's variables from `env` (the registry passes
    /// the environment the configuration is loaded with; code can pass
    /// [`Environment::from_process`]). Errors are at paths relative to the section, the
    /// variables' at `$VAR`.
    pub fn with_env(settings: Settings, env: &Environment) -> Result<Chaos, Vec<ConfigError>> {
        let mut problems = settings.validate();
        let rules = match settings.initial_rules(env) {
            Ok(r) => r,
            Err(p) => {
                problems.extend(p);
                Vec::new()
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let effects = Effects {
            latency: settings.latency,
        };
        Ok(Chaos {
            configured: Arc::new((rules.clone(), effects)),
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

    /// Faults and effects set through the API are dropped; the configured ones are back.
    async fn reset(&self) -> Result<(), ListenerError> {
        let (rules, effects) = &*self.configured;
        self.live.replace(rules.clone())?;
        self.live.set_effects(*effects);
        Ok(())
    }

    /// Its API's paths, and every AWS call (or form that may turn out to be one).
    fn acts_on(&self, req: &Parts, cx: &RequestContext) -> bool {
        api::is_api(req.uri.path()) || cx.aws().is_some() || cx.aws_form_pending()
    }

    fn body_access(&self, req: &Parts, cx: &RequestContext) -> BodyAccess {
        if api::is_api(req.uri.path()) {
            return BodyAccess::BUFFER_REQUEST;
        }
        let Some(aws) = cx.aws() else {
            return BodyAccess::NONE;
        };
        // The two batch writes that fail item by item need their bodies, and a split
        // BatchWriteItem its answer too.
        match (aws.service.as_ref(), aws.operation.as_deref()) {
            ("kinesis", Some(op @ "PutRecords")) if self.live.may_name("kinesis", op) => {
                BodyAccess::BUFFER_REQUEST
            }
            ("dynamodb", Some(op @ "BatchWriteItem")) if self.live.may_name("dynamodb", op) => {
                BodyAccess::BUFFER_BOTH
            }
            _ => BodyAccess::NONE,
        }
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
        let body = req.body().bytes().map(|b| b.as_ref());
        // A throttling rule on BatchWriteItem rolls once per item, and fires when it
        // throttled any; every other rule rolls once for the call.
        let mut batch = None;
        let rule = self.live.decide_with(aws, |rule| {
            if !inject::per_item(aws, &rule.error()) {
                return rule.fires();
            }
            match inject::split_batch(body, || rule.fires()) {
                Batch::Untouched => false,
                split => {
                    batch = Some(split);
                    true
                }
            }
        });
        let Some(rule) = rule else {
            return Ok(Forward::Continue);
        };
        let error = rule.error();
        let why = rule.description.as_deref().unwrap_or("a chaos rule");
        match batch {
            Some(Batch::Split { body, throttled }) => {
                tracing::info!(
                    "chaos: {} {} throttles {} item(s) ({why})",
                    aws.label(),
                    aws.region,
                    throttled
                        .0
                        .values()
                        .filter_map(|v| v.as_array())
                        .map(Vec::len)
                        .sum::<usize>(),
                );
                *req.body_mut() = Body::Full(body);
                cx.extensions.insert(throttled);
                return Ok(Forward::Continue);
            }
            Some(Batch::AllThrottled(resp)) => {
                tracing::info!(
                    "chaos: {} {} throttles every item ({why})",
                    aws.label(),
                    aws.region
                );
                return Ok(Forward::Respond(resp));
            }
            Some(Batch::Untouched) | None => {}
        }
        tracing::info!(
            "chaos: {} {} fails with {} {} ({why})",
            aws.label(),
            aws.region,
            error.status_code,
            error.code,
        );
        if let Some(resp) = inject::kinesis_records(aws, &error, body) {
            return Ok(Forward::Respond(resp));
        }
        let err = inject::error(aws, &error);
        Ok(Forward::Respond(err.response(cx)))
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(throttled) = cx.extensions.remove::<Throttled>() else {
            return Ok(());
        };
        if resp.status() != StatusCode::OK {
            return Ok(());
        }
        if let Some(merged) = resp
            .body()
            .bytes()
            .and_then(|b| inject::merge_unprocessed(b, throttled))
        {
            *resp.body_mut() = Body::Full(merged);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use edgestack_core::aws::AwsRequest;
    use serde_json::json;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn settings_and_environment_problems_together() {
        let s: Settings = serde_json::from_str(r#"{"faults": [{"probability": 9}]}"#).unwrap();
        let e = Chaos::with_env(s, &env(&[("KINESIS_ERROR_PROBABILITY", "x")])).unwrap_err();
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["faults[0].probability", "$KINESIS_ERROR_PROBABILITY"]
        );
        let ok = Chaos::with_env(Settings::default(), &Environment::default()).unwrap();
        assert!(ok.live().rules().is_empty());
        assert_eq!(ok.admin_paths(), ["/_localstack/chaos/"]);
        // `new` reads no variables.
        assert!(
            Chaos::with_env(Settings::default(), &Environment::default())
                .unwrap()
                .live()
                .rules()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_reset_puts_back_what_the_configuration_set() {
        let s: Settings =
            serde_json::from_str(r#"{"faults": [{"service": "s3"}], "latency": 5}"#).unwrap();
        let chaos = Chaos::with_env(s, &Environment::default()).unwrap();
        let configured = chaos.live().rules();
        let added: FaultRule = serde_json::from_value(json!({"service": "sqs"})).unwrap();
        chaos.live().add(vec![added]).unwrap();
        chaos.live().remove(&configured);
        chaos.live().set_effects(Effects { latency: 900 });
        chaos.reset().await.unwrap();
        assert_eq!(chaos.live().rules(), configured);
        assert_eq!(chaos.live().effects(), Effects { latency: 5 });
    }

    fn cx(aws: AwsRequest) -> RequestContext {
        RequestContext::detached(1).with_aws(aws)
    }

    fn head(uri: &str) -> Parts {
        http::Request::post(uri).body(()).unwrap().into_parts().0
    }

    #[tokio::test]
    async fn bodies_are_read_only_for_batch_writes_a_rule_names() {
        let chaos = Chaos::with_env(Settings::default(), &Environment::default()).unwrap();
        let batch = || cx(AwsRequest::new("dynamodb").with_operation("BatchWriteItem"));
        let records = || cx(AwsRequest::new("kinesis").with_operation("PutRecords"));
        assert_eq!(chaos.body_access(&head("/"), &batch()), BodyAccess::NONE);
        assert_eq!(
            chaos.body_access(
                &head("/_localstack/chaos/faults"),
                &RequestContext::detached(1)
            ),
            BodyAccess::BUFFER_REQUEST
        );
        chaos
            .live()
            .replace(vec![
                serde_json::from_str(r#"{"service": "dynamodb"}"#).unwrap()
            ])
            .unwrap();
        assert_eq!(
            chaos.body_access(&head("/"), &batch()),
            BodyAccess::BUFFER_BOTH
        );
        assert_eq!(chaos.body_access(&head("/"), &records()), BodyAccess::NONE);
        chaos
            .live()
            .replace(vec![
                serde_json::from_str(r#"{"service": "kinesis"}"#).unwrap()
            ])
            .unwrap();
        assert_eq!(
            chaos.body_access(&head("/"), &records()),
            BodyAccess::BUFFER_REQUEST
        );
        assert_eq!(
            chaos.body_access(
                &head("/"),
                &cx(AwsRequest::new("kinesis").with_operation("PutRecord"))
            ),
            BodyAccess::NONE
        );
    }

    /// A chaos listener with `rules` (JSON) in front of an upstream that answers every
    /// BatchWriteItem with `answer`.
    fn stack(rules: &str, answer: &'static str) -> edgestack_testkit::Oneshot {
        let chaos = Chaos::with_env(Settings::default(), &Environment::default()).unwrap();
        chaos
            .live()
            .replace(serde_json::from_str(rules).unwrap())
            .unwrap();
        edgestack_testkit::Oneshot::listener(chaos)
            .aws("us-east-1")
            .upstream(move |_| http::Response::new(answer.into()))
    }

    fn call(target: &str, body: &serde_json::Value) -> http::Request<String> {
        http::Request::post("/")
            .header("x-amz-target", target)
            .header("content-type", "application/x-amz-json-1.0")
            .header("authorization", edgestack_testkit::fake_sigv4("dynamodb"))
            .body(body.to_string())
            .unwrap()
    }

    fn batch(n: usize) -> serde_json::Value {
        let items: Vec<serde_json::Value> = (0..n)
            .map(|i| json!({"PutRequest": {"Item": {"pk": {"S": format!("k{i}")}}}}))
            .collect();
        json!({ "RequestItems": { "t": items } })
    }

    const THROTTLE: &str = r#"[{"service": "dynamodb", "operation": "BatchWriteItem",
        "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}]"#;

    #[tokio::test]
    async fn a_throttled_batch_is_answered_with_every_item_unprocessed() {
        let out = stack(THROTTLE, "{}")
            .call(call("DynamoDB_20120810.BatchWriteItem", &batch(3)))
            .await;
        assert_eq!(out.status(), 200, "{}", out.text());
        assert!(out.upstream_request.is_none(), "the backend was called");
        let v = out.json();
        assert_eq!(v["UnprocessedItems"], batch(3)["RequestItems"]);
    }

    #[tokio::test]
    async fn a_partly_throttled_batch_sends_the_rest_and_merges_the_answer() {
        let rules = r#"[{"service": "dynamodb", "operation": "BatchWriteItem", "probability": 0.5,
            "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}]"#;
        let stack = stack(rules, r#"{"UnprocessedItems": {}}"#);
        let (mut split, mut all) = (0, 0);
        for _ in 0..200 {
            let out = stack
                .call(call("DynamoDB_20120810.BatchWriteItem", &batch(4)))
                .await;
            assert_eq!(out.status(), 200, "{}", out.text());
            let unprocessed: Vec<String> = out.json()["UnprocessedItems"]["t"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| {
                            i["PutRequest"]["Item"]["pk"]["S"]
                                .as_str()
                                .unwrap()
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let Some(up) = &out.upstream_request else {
                assert_eq!(
                    unprocessed.len(),
                    4,
                    "answered without the backend: all throttled"
                );
                all += 1;
                continue;
            };
            let sent: serde_json::Value = serde_json::from_slice(up.body()).unwrap();
            let sent: Vec<String> = sent["RequestItems"]["t"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    i["PutRequest"]["Item"]["pk"]["S"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            // Every item either went to the backend or came back unprocessed, never both.
            let mut both: Vec<String> = sent.iter().chain(&unprocessed).cloned().collect();
            both.sort();
            assert_eq!(
                both,
                ["k0", "k1", "k2", "k3"],
                "sent {sent:?}, back {unprocessed:?}"
            );
            if !unprocessed.is_empty() {
                split += 1;
            }
        }
        // At 0.5 per item over 200 batches of 4, both happen (1/16 of batches are all
        // throttled).
        assert!(split > 0 && all > 0, "split {split}, all {all}");
    }

    #[tokio::test]
    async fn other_rules_and_calls_fail_whole() {
        // Another error on BatchWriteItem: the call fails.
        let rules = r#"[{"service": "dynamodb", "error": {"statusCode": 500, "code": "InternalServerError"}}]"#;
        let out = stack(rules, "{}")
            .call(call("DynamoDB_20120810.BatchWriteItem", &batch(2)))
            .await;
        assert_eq!(out.status(), 500);
        assert!(out.upstream_request.is_none());
        assert_eq!(
            out.json()["__type"],
            "com.amazonaws.dynamodb.v20120810#InternalServerError"
        );
        // Throttling on PutItem: the call fails, in DynamoDB's shape.
        let rules = r#"[{"service": "dynamodb", "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}}]"#;
        let out = stack(rules, "{}")
            .call(call(
                "DynamoDB_20120810.PutItem",
                &json!({"TableName": "t"}),
            ))
            .await;
        assert_eq!(out.status(), 400);
        assert_eq!(
            out.json()["__type"],
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        );
        assert!(out.header("x-amz-crc32").is_some());
        // A batch with nothing throttled (probability 0 falls through to the next rule).
        let rules = r#"[{"service": "dynamodb", "probability": 0, "error": {"statusCode": 400, "code": "ProvisionedThroughputExceededException"}},
                        {"service": "dynamodb", "error": {"statusCode": 503, "code": "ServiceUnavailable"}}]"#;
        let out = stack(rules, "{}")
            .call(call("DynamoDB_20120810.BatchWriteItem", &batch(2)))
            .await;
        assert_eq!(out.status(), 503);
    }
}
