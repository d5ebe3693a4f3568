//! DynamoDB Local fixes, `[interceptors.dynamodb-local]`.
//!
//! ```toml
//! [interceptors.dynamodb-local]
//! namespace = false   # true: tables per account and region (run DynamoDB Local WITHOUT -sharedDb)
//! upstreams = []      # the upstreams that are DynamoDB Local; empty: every DynamoDB upstream
//! ```
//!
//! - **ARNs**: DynamoDB Local writes region `ddblocal` into every ARN (TableArn,
//!   LatestStreamArn, StreamArn, shard iterators, ...). Answers get the request's region
//!   instead, and requests that carry such an ARN back (DescribeStream, GetShardIterator,
//!   GetRecords, TagResource, ...) get `ddblocal` again, so the backend finds them. Only
//!   JSON strings under keys that name ARNs or iterators are touched, never item data.
//! - **Namespaces**: DynamoDB Local run without `-sharedDb` keeps one database per access key
//!   and region. With `namespace = true` the access key in the signature is replaced with the
//!   request's account (LocalStack's fix), so every key of one account sees the same tables,
//!   and other accounts and regions do not; ARNs then show the request's account.
//!
//! Item reads and writes are not buffered (their bodies carry no ARNs).

use bytes::Bytes;
use edgestack_core::{
    async_trait,
    aws::{sigv4, Signature},
    http::{header, request::Parts, HeaderValue},
    Body, BodyAccess, ConfigError, Forward, Listener, ListenerError, Request, RequestContext,
    Response,
};
use serde::Deserialize;
use serde_json::Value;

use crate::protocol::{self, Api, DATA_ACTIONS};

/// The account DynamoDB Local writes into ARNs.
const LOCAL_ACCOUNT: &str = "000000000000";
const LOCAL_PREFIX: &str = "arn:aws:dynamodb:ddblocal:";

/// The section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Tables per account and region: the signature's access key becomes the account id.
    /// DynamoDB Local must run without `-sharedDb` for this to separate anything.
    pub namespace: bool,
    /// The upstreams (by name) that are DynamoDB Local; empty: every DynamoDB upstream.
    pub upstreams: Vec<String>,
}

/// The DynamoDB Local fixes.
#[derive(Debug)]
pub struct DynamoDbLocal {
    settings: Settings,
}

/// The request's region and account, for the answer.
#[derive(Debug, Clone)]
struct Place {
    region: String,
    account: String,
}

impl Settings {
    /// Every problem with these settings, at its key (empty when they are usable).
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        for (i, name) in self.upstreams.iter().enumerate() {
            if name.trim().is_empty() {
                errors.push(ConfigError::new(
                    format!("upstreams[{i}]"),
                    "an upstream name is empty",
                ));
            } else if self.upstreams[..i].contains(name) {
                errors.push(ConfigError::new(
                    format!("upstreams[{i}]"),
                    format!("'{name}' is listed twice"),
                ));
            }
        }
        errors
    }
}

impl DynamoDbLocal {
    /// A listener with these settings; every problem with them at once, at its key.
    pub fn new(settings: Settings) -> Result<DynamoDbLocal, Vec<ConfigError>> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DynamoDbLocal { settings })
    }

    fn applies(&self, cx: &RequestContext) -> bool {
        self.settings.upstreams.is_empty()
            || cx
                .upstream()
                .is_some_and(|u| self.settings.upstreams.iter().any(|n| n == u.as_str()))
    }

    /// `arn:aws:dynamodb:ddblocal:ACCT:rest` → the request's region (and account); a
    /// record's `awsRegion` → the request's region.
    fn to_client(&self, key: &str, s: &str, place: &Place) -> Option<String> {
        if key == "awsRegion" {
            return (s == LOCAL_REGION).then(|| place.region.clone());
        }
        let rest = s.strip_prefix(LOCAL_PREFIX)?;
        let (account, rest) = rest.split_once(':')?;
        let account = if self.settings.namespace {
            place.account.as_str()
        } else {
            account
        };
        Some(format!(
            "arn:aws:dynamodb:{}:{account}:{rest}",
            place.region
        ))
    }

    /// The request's region (and account) → `ddblocal` (and DynamoDB Local's account).
    fn to_backend(&self, _key: &str, s: &str, place: &Place) -> Option<String> {
        let rest = s.strip_prefix(&format!("arn:aws:dynamodb:{}:", place.region))?;
        let (account, rest) = rest.split_once(':')?;
        let account = if self.settings.namespace {
            LOCAL_ACCOUNT
        } else {
            account
        };
        Some(format!("{LOCAL_PREFIX}{account}:{rest}"))
    }
}

/// DynamoDB Local's region name.
const LOCAL_REGION: &str = "ddblocal";

/// Rewrites every string under a key that names an ARN or an iterator (and stream records'
/// `awsRegion`) with `f(key, string)`; true when any changed.
fn rewrite(value: &mut Value, f: &dyn Fn(&str, &str) -> Option<String>) -> bool {
    let mut changed = false;
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let names_arn = key.ends_with("Arn")
                    || key.ends_with("Arns")
                    || key.ends_with("Iterator")
                    || key == "TableName"
                    || key == "awsRegion";
                match v {
                    Value::String(s) if names_arn => {
                        if let Some(new) = f(key, s) {
                            *s = new;
                            changed = true;
                        }
                    }
                    Value::Array(items) if names_arn => {
                        for item in items.iter_mut() {
                            if let Some(new) = item.as_str().and_then(|s| f(key, s)) {
                                *item = Value::String(new);
                                changed = true;
                            }
                        }
                    }
                    _ => changed |= rewrite(v, f),
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                changed |= rewrite(v, f);
            }
        }
        _ => {}
    }
    changed
}

/// The body rewritten, when it is JSON and something changed.
fn rewritten(body: &Body, f: &dyn Fn(&str, &str) -> Option<String>) -> Option<Body> {
    let mut v: Value = serde_json::from_slice(body.bytes()?).ok()?;
    rewrite(&mut v, f).then(|| Body::Full(Bytes::from(v.to_string())))
}

#[async_trait]
impl Listener for DynamoDbLocal {
    fn name(&self) -> &str {
        crate::LOCAL
    }

    /// DynamoDB and DynamoDB Streams calls only.
    fn acts_on(&self, _req: &Parts, cx: &RequestContext) -> bool {
        protocol::api(cx).is_some() || cx.aws_form_pending()
    }

    fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
        match protocol::api(cx) {
            Some((Api::Streams, _)) => BodyAccess::BUFFER_BOTH,
            Some((Api::DynamoDb, action)) if !DATA_ACTIONS.contains(&action) => {
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
        if protocol::api(cx).is_none() || !self.applies(cx) {
            return Ok(Forward::Continue);
        }
        let Some(aws) = cx.aws() else {
            return Ok(Forward::Continue);
        };
        let place = Place {
            region: aws.region.clone(),
            account: aws.account.clone(),
        };
        let signed_by_another_key = aws.signature == Signature::V4
            && aws
                .access_key
                .as_deref()
                .is_some_and(|key| key != aws.account);
        if self.settings.namespace && signed_by_another_key {
            let auth = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|a| sigv4::with_access_key(a, &place.account));
            if let Some(auth) = auth.and_then(|a| HeaderValue::from_str(&a).ok()) {
                req.headers_mut().insert(header::AUTHORIZATION, auth);
            }
        }
        if let Some(body) = rewritten(req.body(), &|k, s| self.to_backend(k, s, &place)) {
            *req.body_mut() = body;
        }
        cx.extensions.insert(place);
        Ok(Forward::Continue)
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(place) = cx.extensions.remove::<Place>() else {
            return Ok(());
        };
        let mentions_local = resp.body().bytes().is_some_and(|b| {
            b.windows(LOCAL_REGION.len())
                .any(|w| w == LOCAL_REGION.as_bytes())
        });
        if mentions_local {
            if let Some(body) = rewritten(resp.body(), &|k, s| self.to_client(k, s, &place)) {
                *resp.body_mut() = body;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn place() -> Place {
        Place {
            region: "eu-west-1".into(),
            account: "111111111111".into(),
        }
    }

    #[test]
    fn arns_go_both_ways_and_item_data_is_untouched() {
        let l = DynamoDbLocal::new(Settings::default()).unwrap();
        let mut v = json!({
            "TableDescription": {
                "TableArn": "arn:aws:dynamodb:ddblocal:000000000000:table/t",
                "LatestStreamArn": "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/x",
                "GlobalSecondaryIndexes": [{"IndexArn": "arn:aws:dynamodb:ddblocal:000000000000:table/t/index/i"}]
            },
            "Item": {"someArn": {"S": "arn:aws:dynamodb:ddblocal:000000000000:table/t"}},
            "NextShardIterator": "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/x|001|abc",
            "Records": [{"awsRegion": "ddblocal", "dynamodb": {"Keys": {"awsRegion": {"S": "ddblocal"}}}}]
        });
        assert!(rewrite(&mut v, &|k, s| l.to_client(k, s, &place())));
        let text = v.to_string();
        assert_eq!(
            text.matches("ddblocal").count(),
            2,
            "only item data keeps it: {text}"
        );
        assert_eq!(v["Records"][0]["awsRegion"], "eu-west-1");
        assert_eq!(
            v["TableDescription"]["TableArn"],
            "arn:aws:dynamodb:eu-west-1:000000000000:table/t"
        );
        assert!(v["NextShardIterator"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:dynamodb:eu-west-1:"));
        let mut back =
            json!({"StreamArn": "arn:aws:dynamodb:eu-west-1:000000000000:table/t/stream/x"});
        assert!(rewrite(&mut back, &|k, s| l.to_backend(k, s, &place())));
        assert_eq!(
            back["StreamArn"],
            "arn:aws:dynamodb:ddblocal:000000000000:table/t/stream/x"
        );
        let mut other =
            json!({"StreamArn": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/x"});
        assert!(
            !rewrite(&mut other, &|k, s| l.to_backend(k, s, &place())),
            "another region is left alone"
        );
    }

    #[test]
    fn namespaces_put_the_account_in_arns_and_the_signature() {
        let l = DynamoDbLocal::new(Settings {
            namespace: true,
            upstreams: vec![],
        })
        .unwrap();
        assert_eq!(
            l.to_client(
                "TableArn",
                "arn:aws:dynamodb:ddblocal:000000000000:table/t",
                &place()
            )
            .unwrap(),
            "arn:aws:dynamodb:eu-west-1:111111111111:table/t"
        );
        assert_eq!(
            l.to_backend(
                "TableArn",
                "arn:aws:dynamodb:eu-west-1:111111111111:table/t",
                &place()
            )
            .unwrap(),
            "arn:aws:dynamodb:ddblocal:000000000000:table/t"
        );
    }

    fn signed_call(key: &str, account: &str) -> (Request, RequestContext) {
        let mut aws = edgestack_core::aws::AwsRequest::new("dynamodb").with_operation("ListTables");
        aws.target = Some("DynamoDB_20120810".into());
        aws.region = "eu-west-1".into();
        aws.account = account.into();
        aws.access_key = Some(key.into());
        aws.signature = Signature::V4;
        let req = edgestack_core::http::Request::builder()
            .method("POST")
            .header("x-amz-target", "DynamoDB_20120810.ListTables")
            .header(
                header::AUTHORIZATION,
                format!("AWS4-HMAC-SHA256 Credential={key}/20240101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc"),
            )
            .body(Body::from("{}"))
            .unwrap();
        (req, RequestContext::detached(1).with_aws(aws))
    }

    fn credential(req: &Request) -> &str {
        let auth = req.headers()[header::AUTHORIZATION].to_str().unwrap();
        auth.split("Credential=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
    }

    #[tokio::test]
    async fn namespaces_sign_with_the_account() {
        let on = DynamoDbLocal::new(Settings {
            namespace: true,
            upstreams: vec![],
        })
        .unwrap();
        let (mut req, mut cx) = signed_call("AKIDEXAMPLE", "111111111111");
        on.forward_request(&mut req, &mut cx).await.unwrap();
        assert_eq!(credential(&req), "111111111111");

        let off = DynamoDbLocal::new(Settings::default()).unwrap();
        let (mut req, mut cx) = signed_call("AKIDEXAMPLE", "111111111111");
        off.forward_request(&mut req, &mut cx).await.unwrap();
        assert_eq!(
            credential(&req),
            "AKIDEXAMPLE",
            "without namespace: untouched"
        );

        let (mut req, mut cx) = signed_call("222222222222", "222222222222");
        on.forward_request(&mut req, &mut cx).await.unwrap();
        assert_eq!(credential(&req), "222222222222");

        let only = DynamoDbLocal::new(Settings {
            namespace: true,
            upstreams: vec!["ddblocal".into()],
        })
        .unwrap();
        let (mut req, mut cx) = signed_call("AKIDEXAMPLE", "111111111111");
        only.forward_request(&mut req, &mut cx).await.unwrap();
        assert_eq!(
            credential(&req),
            "AKIDEXAMPLE",
            "another upstream (none here) is not DynamoDB Local"
        );
    }

    #[test]
    fn settings_errors_are_at_their_keys() {
        let errors = DynamoDbLocal::new(Settings {
            namespace: false,
            upstreams: vec!["a".into(), " ".into(), "a".into()],
        })
        .unwrap_err();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["upstreams[1]", "upstreams[2]"], "{errors:?}");
    }
}
