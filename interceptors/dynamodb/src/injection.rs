//! Error injection, `[interceptors.dynamodb-errors]`: LocalStack's
//! `DYNAMODB_ERROR_PROBABILITY`, `DYNAMODB_READ_ERROR_PROBABILITY` and
//! `DYNAMODB_WRITE_ERROR_PROBABILITY`.
//!
//! ```toml
//! [interceptors.dynamodb-errors]
//! error_probability = 0.0         # reads and writes
//! read_error_probability = 0.0    # GetItem, Query, Scan, BatchGetItem, TransactGetItems
//! write_error_probability = 0.0   # PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems
//! ```
//!
//! A key left out is read from LocalStack's environment variable when the edge starts. A
//! throttled call gets 400 `ProvisionedThroughputExceededException` in DynamoDB's shape and
//! never reaches the backend. BatchWriteItem is throttled per item: throttled items are
//! taken out of the request and come back in `UnprocessedItems` (all of them, with a 200 and
//! no backend call, when every item is throttled), as DynamoDB does under load.

use bytes::Bytes;
use edgestack_core::{
    async_trait,
    http::{request::Parts, StatusCode},
    Body, BodyAccess, Forward, Listener, ListenerError, Request, RequestContext, Response,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::protocol::{
    self, aws_call, error_response, json_body, json_response, Api, READ_ACTIONS, WRITE_ACTIONS,
};

/// The section. Each key is a probability from 0 to 1.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// For every read and write action (`DYNAMODB_ERROR_PROBABILITY`).
    pub error_probability: Option<f64>,
    /// For reads (`DYNAMODB_READ_ERROR_PROBABILITY`).
    pub read_error_probability: Option<f64>,
    /// For writes (`DYNAMODB_WRITE_ERROR_PROBABILITY`).
    pub write_error_probability: Option<f64>,
}

/// The message DynamoDB sends with the error.
const MESSAGE: &str = "The level of configured provisioned throughput for the table was exceeded. \
                       Consider increasing your provisioning level with the UpdateTable API.";

/// Throttling on purpose.
#[derive(Debug)]
pub struct ErrorInjection {
    read: f64,
    write: f64,
}

/// Items taken out of a BatchWriteItem, to add to its `UnprocessedItems`.
#[derive(Debug, Clone)]
struct Throttled(Map<String, Value>);

impl ErrorInjection {
    /// A listener with these settings; keys not set come from the environment.
    pub fn new(settings: Settings) -> Result<ErrorInjection, String> {
        Self::with_env(settings, |name| std::env::var(name).ok())
    }

    /// [`new`](Self::new) with `env` as the environment.
    pub fn with_env(
        settings: Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ErrorInjection, String> {
        let mut errors = Vec::new();
        let mut value = |key: &str, set: Option<f64>, var: &str| -> f64 {
            let (p, source) = match set {
                Some(p) => (p, key.to_string()),
                None => match env(var) {
                    None => return 0.0,
                    Some(text) => match text.trim().parse::<f64>() {
                        Ok(p) => (p, format!("${var}")),
                        Err(_) => {
                            errors.push(format!("${var} = '{text}' is not a number"));
                            return 0.0;
                        }
                    },
                },
            };
            if !(0.0..=1.0).contains(&p) {
                errors.push(format!("{source} = {p} is not a probability (0 to 1)"));
            }
            p
        };
        let any = value(
            "error_probability",
            settings.error_probability,
            "DYNAMODB_ERROR_PROBABILITY",
        );
        let read = value(
            "read_error_probability",
            settings.read_error_probability,
            "DYNAMODB_READ_ERROR_PROBABILITY",
        );
        let write = value(
            "write_error_probability",
            settings.write_error_probability,
            "DYNAMODB_WRITE_ERROR_PROBABILITY",
        );
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(ErrorInjection {
            read: read.max(any),
            write: write.max(any),
        })
    }

    fn probability(&self, action: &str) -> f64 {
        if READ_ACTIONS.contains(&action) {
            self.read
        } else if WRITE_ACTIONS.contains(&action) {
            self.write
        } else {
            0.0
        }
    }

    /// Splits a BatchWriteItem body: what goes on, what is throttled.
    fn split_batch(&self, body: &mut Map<String, Value>) -> Map<String, Value> {
        let mut throttled = Map::new();
        let Some(Value::Object(tables)) = body.get_mut("RequestItems") else {
            return throttled;
        };
        let mut emptied = Vec::new();
        for (table, requests) in tables.iter_mut() {
            let Value::Array(list) = requests else {
                continue;
            };
            let (out, kept): (Vec<Value>, Vec<Value>) =
                list.drain(..).partition(|_| hit(self.write));
            *list = kept;
            if !out.is_empty() {
                if list.is_empty() {
                    emptied.push(table.clone());
                }
                throttled.insert(table.clone(), Value::Array(out));
            }
        }
        // Only tables this split emptied go; anything else is the backend's to judge.
        for table in emptied {
            tables.remove(&table);
        }
        throttled
    }
}

fn hit(p: f64) -> bool {
    p > 0.0 && (p >= 1.0 || fastrand::f64() < p)
}

fn throttle() -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "ProvisionedThroughputExceededException",
        MESSAGE,
    )
}

#[async_trait]
impl Listener for ErrorInjection {
    fn name(&self) -> &str {
        crate::ERRORS
    }

    fn body_access(&self, req: &Parts, _cx: &RequestContext) -> BodyAccess {
        match protocol::target(req) {
            Some((Api::DynamoDb, "BatchWriteItem")) if self.write > 0.0 => BodyAccess::BUFFER_BOTH,
            _ => BodyAccess::NONE,
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        if aws_call(cx).is_none() {
            return Ok(Forward::Continue);
        }
        let Some((Api::DynamoDb, action)) = protocol::target_of(req.method(), req.headers()) else {
            return Ok(Forward::Continue);
        };
        if action != "BatchWriteItem" {
            return Ok(if hit(self.probability(action)) {
                Forward::Respond(throttle())
            } else {
                Forward::Continue
            });
        }
        let Some(mut body) = json_body(req.body()) else {
            return Ok(Forward::Continue);
        };
        let throttled = self.split_batch(&mut body);
        if throttled.is_empty() {
            return Ok(Forward::Continue);
        }
        let nothing_left = body
            .get("RequestItems")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
        if nothing_left {
            return Ok(Forward::Respond(json_response(
                &json!({ "UnprocessedItems": throttled }),
            )));
        }
        *req.body_mut() = Body::Full(Bytes::from(Value::Object(body).to_string()));
        cx.extensions.insert(Throttled(throttled));
        Ok(Forward::Continue)
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(Throttled(throttled)) = cx.extensions.remove::<Throttled>() else {
            return Ok(());
        };
        if resp.status() != StatusCode::OK {
            return Ok(());
        }
        let Some(mut body) = json_body(resp.body()) else {
            return Ok(());
        };
        let unprocessed = body
            .entry("UnprocessedItems")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(u) = unprocessed {
            for (table, items) in throttled {
                match u.get_mut(&table) {
                    Some(Value::Array(list)) => {
                        list.extend(items.as_array().cloned().unwrap_or_default())
                    }
                    _ => {
                        u.insert(table, items);
                    }
                }
            }
        }
        *resp.body_mut() = Body::Full(Bytes::from(Value::Object(body).to_string()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn keys_then_environment_then_zero() {
        let e = ErrorInjection::with_env(
            Settings {
                read_error_probability: Some(0.5),
                ..Settings::default()
            },
            |v| (v == "DYNAMODB_WRITE_ERROR_PROBABILITY").then(|| "0.25".to_string()),
        )
        .unwrap();
        assert_eq!((e.read, e.write), (0.5, 0.25));
        assert_eq!(e.probability("GetItem"), 0.5);
        assert_eq!(e.probability("BatchWriteItem"), 0.25);
        assert_eq!(e.probability("CreateTable"), 0.0);
        let e = ErrorInjection::with_env(
            Settings {
                error_probability: Some(1.0),
                ..Settings::default()
            },
            no_env,
        )
        .unwrap();
        assert_eq!((e.read, e.write), (1.0, 1.0));
        let e = ErrorInjection::with_env(Settings::default(), no_env).unwrap();
        assert_eq!((e.read, e.write), (0.0, 0.0));
    }

    #[test]
    fn every_bad_value_is_reported() {
        let err = ErrorInjection::with_env(
            Settings {
                error_probability: Some(1.5),
                ..Settings::default()
            },
            |v| (v == "DYNAMODB_READ_ERROR_PROBABILITY").then(|| "lots".to_string()),
        )
        .unwrap_err();
        assert!(err.contains("error_probability = 1.5"), "{err}");
        assert!(
            err.contains("$DYNAMODB_READ_ERROR_PROBABILITY = 'lots'"),
            "{err}"
        );
    }

    #[test]
    fn batches_split_by_item() {
        let all = ErrorInjection::with_env(
            Settings {
                write_error_probability: Some(1.0),
                ..Settings::default()
            },
            no_env,
        )
        .unwrap();
        let mut body =
            json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "1"}}}}]}})
                .as_object()
                .unwrap()
                .clone();
        let out = all.split_batch(&mut body);
        assert_eq!(out["t"].as_array().unwrap().len(), 1);
        assert!(body["RequestItems"].as_object().unwrap().is_empty());
        let none = ErrorInjection::with_env(Settings::default(), no_env).unwrap();
        let mut body = json!({"RequestItems": {"t": [{"PutRequest": {}}, {"PutRequest": {}}]}})
            .as_object()
            .unwrap()
            .clone();
        assert!(none.split_batch(&mut body).is_empty());
        assert_eq!(body["RequestItems"]["t"].as_array().unwrap().len(), 2);
    }
}
