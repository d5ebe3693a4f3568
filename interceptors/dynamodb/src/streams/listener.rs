//! The streams emulator as a listener.
//!
//! Per request, on a DynamoDB upstream that is not pass-through:
//! - Streams API calls are answered from the [`Store`] (the backend never sees them);
//! - CreateTable/UpdateTable: the StreamSpecification is taken out of the request and kept
//!   here; an UpdateTable that only changes the stream goes on as a DescribeTable, whose
//!   answer becomes the UpdateTable's; table descriptions in answers show the stream as AWS
//!   does;
//! - writes to tables with a stream: the items they touch are locked, their old images read
//!   (consistent `GetItem` to the same upstream), the write forwarded, and on success the new
//!   images read and the records appended before the client has its answer (in `observe`
//!   when the answer was lost, so a write the backend applied is not missed). Records are
//!   also pushed to Kinesis/SQS when configured, off the request path.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, PoisonError,
};

use bytes::Bytes;
use edgestack_core::{
    async_trait,
    aws::{AwsClient, AwsRequest},
    http::{request::Parts, HeaderValue, StatusCode},
    Body, BodyAccess, ConfigError, Exchange, Forward, Listener, ListenerError, Request,
    RequestContext, Response, UpstreamName,
};
use futures_util::future::join_all;
use serde_json::{json, Value};

use super::{
    api,
    locks::{Held, KeyLocks},
    push::Pusher,
    record::{key_of, Change, Item, Record},
    settings::{Settings, Validated},
    store::{Store, TableId},
    tables::{self, StreamChange},
    writes,
};
use crate::protocol::{self, call, json_body, json_bytes_response, validation, Api};

/// DynamoDB Streams for backends without them (dynalite, ...).
#[derive(Debug)]
pub struct DynamoDbStreams {
    settings: Validated,
    store: Arc<Store>,
    locks: KeyLocks,
    pusher: Pusher,
    /// Set once any stream was enabled: until then writes are not even looked at.
    streams_seen: AtomicBool,
}

/// What `forward_request` left for `return_response`.
#[derive(Clone)]
struct Pending(Arc<PendingKind>);

enum PendingKind {
    /// CreateTable/UpdateTable with a stream change, DescribeTable, DeleteTable.
    Table {
        id: TableId,
        change: Option<StreamChange>,
        action: TableAction,
    },
    /// A write to items of tables with streams.
    Write(Write),
}

/// The table call a [`PendingKind::Table`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableAction {
    Create,
    Update,
    Describe,
    Delete,
}

struct Write {
    items: Vec<Written>,
    held: Mutex<Option<Held>>,
    client: AwsClient,
    upstream: UpstreamName,
    region: String,
}

struct Written {
    id: TableId,
    /// The key as the request spelled it (for reads).
    keys: Item,
    /// The table's key attribute names (to take the key from the backend's images).
    key_names: Vec<String>,
    old: Option<Item>,
}

impl DynamoDbStreams {
    /// A listener with these settings; every problem with them at once, at its key.
    pub fn new(settings: Settings) -> Result<DynamoDbStreams, Vec<ConfigError>> {
        let settings = settings.validate()?;
        Ok(DynamoDbStreams {
            store: Arc::new(Store::new(
                settings.retention,
                settings.max_bytes_per_stream,
                settings.iterator_ttl,
            )),
            locks: KeyLocks::default(),
            pusher: Pusher::new(settings.targets.clone(), settings.queue_capacity),
            settings,
            streams_seen: AtomicBool::new(false),
        })
    }

    /// The streams kept (for inspection in tests and embedding code).
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn passes_through(&self, upstream: Option<&UpstreamName>) -> bool {
        upstream.is_some_and(|u| self.settings.pass_through.iter().any(|p| p == u.as_str()))
    }

    fn table_id(upstream: &UpstreamName, aws: &AwsRequest, table: &str) -> TableId {
        TableId {
            upstream: upstream.to_string(),
            account: aws.account.clone(),
            region: aws.region.clone(),
            table: table.to_string(),
        }
    }

    /// CreateTable / UpdateTable / DescribeTable / DeleteTable before the backend.
    async fn table_call(
        &self,
        action: &str,
        req: &mut Request,
        cx: &mut RequestContext,
        aws: &AwsRequest,
        upstream: &UpstreamName,
    ) -> Forward {
        let Some(mut body) = json_body(req.body()) else {
            return Forward::Continue;
        };
        let Some(table) = body
            .get("TableName")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Forward::Continue;
        };
        let id = Self::table_id(upstream, aws, &table);
        let change = if matches!(action, "CreateTable" | "UpdateTable") {
            match tables::take_specification(&mut body) {
                Ok(c) => c,
                Err(message) => return Forward::Respond(validation(message).response(cx)),
            }
        } else {
            None
        };
        if let Some(change) = change {
            if action == "UpdateTable" {
                let current = self.store.table(&id).and_then(|t| t.enabled.map(|_| t));
                match (change, current) {
                    (StreamChange::Enable(_), Some(t)) => {
                        let arn = t.latest.map(|l| l.0).unwrap_or_default();
                        return Forward::Respond(
                            validation(format!("Table already has an enabled stream: {arn}"))
                                .response(cx),
                        );
                    }
                    (StreamChange::Disable, None) => {
                        return Forward::Respond(
                            validation(format!("Table {table} has no enabled stream to disable"))
                                .response(cx),
                        );
                    }
                    _ => {}
                }
                if tables::changes_only_the_stream(&body) {
                    // The backend has nothing to change: it is asked for the description
                    // instead (through the rest of the chain), which becomes the answer.
                    req.headers_mut().insert(
                        "x-amz-target",
                        HeaderValue::from_static("DynamoDB_20120810.DescribeTable"),
                    );
                    body.retain(|k, _| k == "TableName");
                }
            }
            *req.body_mut() = Body::Full(Bytes::from(Value::Object(body).to_string()));
        } else if self.store.table(&id).is_none() && action != "CreateTable" {
            return Forward::Continue;
        }
        let action = match action {
            "CreateTable" => TableAction::Create,
            "UpdateTable" => TableAction::Update,
            "DeleteTable" => TableAction::Delete,
            _ => TableAction::Describe,
        };
        cx.extensions
            .insert(Pending(Arc::new(PendingKind::Table { id, change, action })));
        Forward::Continue
    }

    fn apply(&self, id: &TableId, change: StreamChange, key_schema: &Value) {
        match change {
            StreamChange::Enable(view) => {
                self.store.enable(id, view, key_schema);
                self.streams_seen.store(true, Ordering::Release);
            }
            StreamChange::Disable => {
                self.store.disable(id, false);
            }
        }
    }

    /// A write before the backend: lock its items of tables with a stream, read their old
    /// images.
    async fn before_write(
        &self,
        action: &str,
        req: &Request,
        cx: &mut RequestContext,
        aws: &AwsRequest,
        upstream: &UpstreamName,
    ) {
        let Some(body) = json_body(req.body()) else {
            return;
        };
        let mut items = Vec::new();
        for target in writes::targets(action, &body) {
            let id = Self::table_id(upstream, aws, &target.table);
            let Some(table) = self.store.table(&id).filter(|t| t.enabled.is_some()) else {
                continue;
            };
            match target.key(&table.key_names) {
                Some(keys) => items.push((id, keys, table.key_names)),
                None => tracing::debug!(
                    "dynamodb-streams: {action} on '{}' names no whole key; no record",
                    target.table
                ),
            }
        }
        if items.is_empty() {
            return;
        }
        let Some(client) = cx.aws_client().cloned() else {
            return;
        };
        // An item named twice in one request is one change (from before to after).
        let mut seen = std::collections::HashSet::new();
        items.retain(|(id, keys, _)| seen.insert(lock_name(id, keys)));
        let held = self.locks.lock(seen).await;
        let olds = join_all(
            items
                .iter()
                .map(|(id, keys, _)| read(&client, upstream, id, keys)),
        )
        .await;
        let items = items
            .into_iter()
            .zip(olds)
            .filter_map(|((id, keys, key_names), old)| match old {
                Ok(old) => Some(Written {
                    id,
                    keys,
                    key_names,
                    old,
                }),
                Err(e) => {
                    tracing::warn!(
                        "dynamodb-streams: cannot read the old image in '{}' ({e}); no record for this write",
                        id.table
                    );
                    None
                }
            })
            .collect();
        cx.extensions
            .insert(Pending(Arc::new(PendingKind::Write(Write {
                items,
                held: Mutex::new(Some(held)),
                client,
                upstream: upstream.clone(),
                region: aws.region.clone(),
            }))));
    }

    /// A successful write: read the new images, append the records.
    async fn after_write(&self, write: &Write, cx: &RequestContext) {
        let news = join_all(
            write
                .items
                .iter()
                .map(|w| read(&write.client, &write.upstream, &w.id, &w.keys)),
        )
        .await;
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut appended = Vec::new();
        for (w, new) in write.items.iter().zip(news) {
            let new = match new {
                Ok(new) => new,
                Err(e) => {
                    tracing::warn!(
                        "dynamodb-streams: cannot read the new image in '{}' ({e}); no record for this write",
                        w.id.table
                    );
                    continue;
                }
            };
            let Some(view) = self.store.table(&w.id).and_then(|t| t.enabled) else {
                continue;
            };
            let change = Change {
                // The key as the backend keeps it (numbers normalized), else as asked.
                keys: new
                    .as_ref()
                    .or(w.old.as_ref())
                    .and_then(|image| key_of(image, &w.key_names))
                    .unwrap_or_else(|| w.keys.clone()),
                old: w.old.clone(),
                new,
            };
            if let Some(record) = Record::new(change, view, &write.region, created) {
                appended.extend(self.store.append(&w.id, &record));
            }
        }
        if !appended.is_empty() {
            self.pusher
                .push(appended, &write.region, &write.client, cx.background());
        }
    }
}

/// The item locks of a write, taken (so they are released when dropped).
fn take_held(write: &Write) -> Option<Held> {
    write
        .held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// The lock name of one item.
fn lock_name(id: &TableId, keys: &Item) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .map(|(k, v)| match v.get("N").and_then(Value::as_str) {
            Some(n) => format!("{k}=N:{}", normal_number(n)),
            None => format!("{k}={v}"),
        })
        .collect();
    parts.sort();
    format!(
        "{}\n{}\n{}\n{}\n{}",
        id.upstream,
        id.account,
        id.region,
        id.table,
        parts.join("\n")
    )
}

/// A DynamoDB number in one spelling: `1`, `01`, `1.0` and `+1` are the same item key.
fn normal_number(n: &str) -> String {
    let n = n.trim();
    if n.contains(['e', 'E']) {
        // Rare in keys: compare by value (exact for keys that fit an f64).
        return n.parse::<f64>().map_or(n.to_string(), |f| f.to_string());
    }
    let (negative, digits) = match n.as_bytes().first() {
        Some(b'-') => (true, &n[1..]),
        Some(b'+') => (false, &n[1..]),
        _ => (false, n),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let sign = if negative && (int != "0" || !frac.is_empty()) {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// The item as it is now (consistent read), None when there is none.
async fn read(
    client: &AwsClient,
    upstream: &UpstreamName,
    id: &TableId,
    keys: &Item,
) -> Result<Option<Item>, protocol::CallFailure> {
    let body = json!({ "TableName": id.table, "Key": keys, "ConsistentRead": true });
    let answer = call(client, upstream, &id.region, "GetItem", &body).await?;
    Ok(answer.get("Item").and_then(Value::as_object).cloned())
}

#[async_trait]
impl Listener for DynamoDbStreams {
    fn name(&self) -> &str {
        crate::STREAMS
    }

    /// DynamoDB and DynamoDB Streams calls only.
    fn acts_on(&self, _req: &Parts, cx: &RequestContext) -> bool {
        protocol::api(cx).is_some() || cx.aws_form_pending()
    }

    /// Every emulated stream (its records and the tables' stream settings) is forgotten, and
    /// the records not yet pushed to Kinesis or SQS are dropped. The backend's tables go with
    /// the backend's own reset.
    async fn reset(&self) -> Result<(), ListenerError> {
        self.store.clear();
        self.pusher.clear();
        Ok(())
    }

    fn body_access(&self, _req: &Parts, cx: &RequestContext) -> BodyAccess {
        match protocol::api(cx) {
            Some((Api::Streams, _)) => BodyAccess::BUFFER_REQUEST,
            Some((Api::DynamoDb, "CreateTable" | "UpdateTable")) => BodyAccess::BUFFER_BOTH,
            Some((Api::DynamoDb, "DescribeTable" | "DeleteTable"))
                if self.streams_seen.load(Ordering::Acquire) =>
            {
                BodyAccess::BUFFER_BOTH
            }
            Some((Api::DynamoDb, action))
                if writes::WRITE_ACTIONS.contains(&action)
                    && self.streams_seen.load(Ordering::Acquire) =>
            {
                BodyAccess::BUFFER_REQUEST
            }
            _ => BodyAccess::NONE,
        }
    }

    async fn forward_request(
        &self,
        req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let Some((api, action)) = protocol::api(cx) else {
            return Ok(Forward::Continue);
        };
        let action = action.to_string();
        let Some(aws) = cx.aws().cloned() else {
            return Ok(Forward::Continue);
        };
        let upstream = cx.upstream().cloned();
        if self.passes_through(upstream.as_ref()) {
            return Ok(Forward::Continue);
        }
        if api == Api::Streams {
            let answer = match json_body(req.body()) {
                Some(body) => api::answer(&self.store, &action, &body, &aws.account, &aws.region),
                None => Err(validation("the request body is not a JSON object")),
            };
            return Ok(Forward::Respond(match answer {
                Ok(body) => json_bytes_response(body),
                Err(e) => e.response(cx),
            }));
        }
        let Some(upstream) = upstream else {
            return Ok(Forward::Continue);
        };
        match action.as_str() {
            "CreateTable" | "UpdateTable" | "DescribeTable" | "DeleteTable" => {
                Ok(self.table_call(&action, req, cx, &aws, &upstream).await)
            }
            a if writes::WRITE_ACTIONS.contains(&a)
                && self.streams_seen.load(Ordering::Acquire) =>
            {
                self.before_write(a, req, cx, &aws, &upstream).await;
                Ok(Forward::Continue)
            }
            _ => Ok(Forward::Continue),
        }
    }

    async fn observe(&self, _exchange: &Exchange<'_>, cx: &RequestContext) {
        // return_response did not run (the upstream failed or cut the answer after the
        // write may have happened): the images decide whether there is a record.
        let Some(Pending(pending)) = cx.extensions.get::<Pending>() else {
            return;
        };
        if let PendingKind::Write(write) = &**pending {
            if write
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some()
            {
                self.after_write(write, cx).await;
                drop(take_held(write));
            }
        }
    }

    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        let Some(Pending(pending)) = cx.extensions.remove::<Pending>() else {
            return Ok(());
        };
        let ok = resp.status() == StatusCode::OK;
        match &*pending {
            PendingKind::Write(write) => {
                if ok {
                    self.after_write(write, cx).await;
                }
                // The items are free for the next writer only now.
                drop(take_held(write));
            }
            PendingKind::Table { id, change, action } => {
                if !ok {
                    return Ok(());
                }
                let Some(mut body) = json_body(resp.body()) else {
                    return Ok(());
                };
                let field = if body.contains_key("Table") {
                    "Table"
                } else {
                    "TableDescription"
                };
                let Some(description) = body.get_mut(field) else {
                    return Ok(());
                };
                match change {
                    Some(StreamChange::Disable) if *action == TableAction::Create => {
                        self.store.disable(id, true);
                    }
                    Some(change) => self.apply(id, *change, &description["KeySchema"].clone()),
                    None if *action == TableAction::Create => {
                        // A new table without a stream: forget an older table's.
                        self.store.disable(id, true);
                    }
                    None => {}
                }
                tables::show(description, self.store.table(id).as_ref());
                if *action == TableAction::Delete {
                    self.store.disable(id, true);
                }
                if *action == TableAction::Update {
                    // A stream-only UpdateTable was sent as DescribeTable.
                    if let Some(table) = body.remove("Table") {
                        body.insert("TableDescription".into(), table);
                    }
                }
                *resp.body_mut() = Body::Full(Bytes::from(Value::Object(body).to_string()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams_call(op: &'static str, body: &'static str) -> (Request, RequestContext) {
        let mut aws = AwsRequest::new("dynamodbstreams").with_operation(op);
        aws.target = Some("DynamoDBStreams_20120810".into());
        aws.json_version = Some("1.0");
        let req = edgestack_core::http::Request::builder()
            .method("POST")
            .body(Body::from(body))
            .unwrap();
        (req, RequestContext::detached(1).with_aws(aws))
    }

    /// Streams API calls are told from the edge's detection and answered here, errors in
    /// DynamoDB's shape.
    #[tokio::test]
    async fn the_streams_api_is_answered_by_the_edge() {
        let l = DynamoDbStreams::new(Settings::default()).unwrap();
        let (req, mut cx) = streams_call("ListStreams", "{}");
        let (parts, _) = edgestack_core::http::Request::new(()).into_parts();
        assert_eq!(l.body_access(&parts, &cx), BodyAccess::BUFFER_REQUEST);
        let mut req = req;
        let Forward::Respond(r) = l.forward_request(&mut req, &mut cx).await.unwrap() else {
            panic!("not answered");
        };
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = serde_json::from_slice(r.body().bytes().unwrap()).unwrap();
        assert_eq!(v, json!({"Streams": []}));

        let (mut req, mut cx) = streams_call("DescribeStream", "[]");
        let Forward::Respond(r) = l.forward_request(&mut req, &mut cx).await.unwrap() else {
            panic!("not answered");
        };
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = serde_json::from_slice(r.body().bytes().unwrap()).unwrap();
        assert_eq!(
            v["__type"],
            "com.amazonaws.dynamodb.v20120810#ValidationException"
        );
        assert!(r.headers().contains_key("x-amz-crc32"));

        // Without the edge's detection the listener stays out of the way.
        let mut plain = RequestContext::detached(2);
        assert_eq!(l.body_access(&parts, &plain), BodyAccess::NONE);
        let mut req = edgestack_core::http::Request::builder()
            .method("POST")
            .header("x-amz-target", "DynamoDBStreams_20120810.ListStreams")
            .body(Body::from("{}"))
            .unwrap();
        assert!(matches!(
            l.forward_request(&mut req, &mut plain).await.unwrap(),
            Forward::Continue
        ));
    }

    /// Both sections through the core's registry: every mistake at once, at its full key.
    #[test]
    fn config_errors_are_at_their_keys() {
        let mut registry = edgestack_core::Interceptors::new();
        registry.register(crate::STREAMS, DynamoDbStreams::new);
        registry.register(crate::LOCAL, crate::DynamoDbLocal::new);
        let text = r#"
[upstreams.a]
url = "http://127.0.0.1:9"
[routes]
default = "a"
[interceptors.dynamodb-streams]
retention = "0s"
sqs_queue = " "
[interceptors.dynamodb-local]
upstreams = ["a", ""]
"#;
        let errors = edgestack_core::Config::from_toml(text, &registry)
            .unwrap_err()
            .0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "interceptors.dynamodb-streams.retention",
                "interceptors.dynamodb-streams.sqs_queue",
                "interceptors.dynamodb-local.upstreams[1]"
            ],
            "{errors:?}"
        );
        let typo = edgestack_core::Config::from_toml(
            "[upstreams.a]\nurl = \"http://127.0.0.1:9\"\n[routes]\ndefault = \"a\"\n\
             [interceptors.dynamodb-streams]\niterator_ttl = \"soon\"\n",
            &registry,
        )
        .unwrap_err()
        .0;
        assert_eq!(
            typo.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["interceptors.dynamodb-streams.iterator_ttl"],
            "{typo:?}"
        );
    }

    #[test]
    fn numbers_in_keys_have_one_spelling() {
        for (a, b) in [
            ("1", "01"),
            ("1", "1.0"),
            ("1", "+1"),
            ("-0", "0"),
            ("2.50", "2.5"),
            ("1e2", "100"),
        ] {
            assert_eq!(normal_number(a), normal_number(b), "{a} vs {b}");
        }
        assert_ne!(normal_number("1"), normal_number("-1"));
        assert_ne!(normal_number("10"), normal_number("1"));
    }
}
