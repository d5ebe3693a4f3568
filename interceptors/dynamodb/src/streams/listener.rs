//! The streams emulator as a listener.
//!
//! Per request, on a DynamoDB upstream that is not pass-through:
//! - Streams API calls are answered from the [`Store`] (the backend never sees them);
//! - CreateTable/UpdateTable: the StreamSpecification is taken out of the request and kept
//!   here; an UpdateTable that only changes the stream is answered here (with the backend's
//!   DescribeTable); table descriptions in answers show the stream as AWS does;
//! - writes to tables with a stream: the items they touch are locked, their old images read
//!   (consistent `GetItem` to the same upstream), the write forwarded, and on success the new
//!   images read and the records appended before the client has its answer. Records are
//!   also pushed to Kinesis/SQS when configured, off the request path.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

use bytes::Bytes;
use edgestack_core::{
    async_trait,
    aws::{AwsClient, AwsRequest},
    http::{request::Parts, StatusCode},
    Body, BodyAccess, Forward, Listener, ListenerError, Request, RequestContext, Response,
    UpstreamName,
};
use futures_util::future::join_all;
use serde_json::{json, Value};

use super::{
    api,
    locks::{Held, KeyLocks},
    push::{Pusher, Target},
    record::{Change, Item, Record},
    settings::Settings,
    store::{Store, TableId},
    tables::{self, StreamChange},
    writes,
};
use crate::protocol::{self, aws_call, call, json_body, json_response, passed_on, validation, Api};

/// DynamoDB Streams for backends without them (dynalite, moto's DynamoDB, ...).
#[derive(Debug)]
pub struct DynamoDbStreams {
    settings: Settings,
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
    keys: Item,
    old: Option<Item>,
}

impl DynamoDbStreams {
    /// A listener with these settings.
    pub fn new(settings: Settings) -> Result<DynamoDbStreams, String> {
        let errors = settings.validate();
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let targets = settings
            .kinesis_stream
            .iter()
            .map(|s| Target::Kinesis(s.clone()))
            .chain(settings.sqs_queue.iter().map(|q| Target::Sqs(q.clone())))
            .collect();
        Ok(DynamoDbStreams {
            store: Arc::new(Store::new(
                settings.retention,
                settings.max_bytes_per_stream.as_u64(),
                settings.iterator_ttl,
            )),
            locks: KeyLocks::default(),
            pusher: Pusher::new(targets, settings.queue_capacity),
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
                Err(message) => return Forward::Respond(validation(&message)),
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
                        return Forward::Respond(validation(&format!(
                            "Table already has an enabled stream: {arn}"
                        )));
                    }
                    (StreamChange::Disable, None) => {
                        return Forward::Respond(validation(&format!(
                            "Table {table} has no enabled stream to disable"
                        )));
                    }
                    _ => {}
                }
                if tables::only_table_name(&body) {
                    return Forward::Respond(
                        self.update_stream_only(cx, aws, upstream, &id, change)
                            .await,
                    );
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

    /// UpdateTable that changes only the stream: answered here with the backend's
    /// description of the table.
    async fn update_stream_only(
        &self,
        cx: &RequestContext,
        aws: &AwsRequest,
        upstream: &UpstreamName,
        id: &TableId,
        change: StreamChange,
    ) -> Response {
        let Some(client) = cx.aws_client() else {
            return validation("the stream can only be changed on an AWS edge");
        };
        let described = call(
            client,
            upstream,
            &aws.region,
            "DescribeTable",
            &json!({ "TableName": id.table }),
        )
        .await;
        let mut table = match described {
            Ok(mut v) => v["Table"].take(),
            Err(e) => return passed_on(&e),
        };
        self.apply(id, change, &table["KeySchema"]);
        tables::show(&mut table, self.store.table(id).as_ref());
        json_response(&json!({ "TableDescription": table }))
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
                Some(keys) => items.push((id, keys)),
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
        let held = self
            .locks
            .lock(items.iter().map(|(id, keys)| lock_name(id, keys)))
            .await;
        let olds = join_all(
            items
                .iter()
                .map(|(id, keys)| read(&client, upstream, id, keys)),
        )
        .await;
        let items = items
            .into_iter()
            .zip(olds)
            .filter_map(|((id, keys), old)| match old {
                Ok(old) => Some(Written { id, keys, old }),
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
                keys: w.keys.clone(),
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

/// The lock name of one item.
fn lock_name(id: &TableId, keys: &Item) -> String {
    let mut parts: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
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

    fn body_access(&self, req: &Parts) -> BodyAccess {
        match protocol::target(req) {
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
        let Some(aws) = aws_call(cx) else {
            return Ok(Forward::Continue);
        };
        let Some((api, action)) = protocol::target_of(req.method(), req.headers()) else {
            return Ok(Forward::Continue);
        };
        let action = action.to_string();
        let upstream = cx.upstream().cloned();
        if self.passes_through(upstream.as_ref()) {
            return Ok(Forward::Continue);
        }
        if api == Api::Streams {
            let Some(body) = json_body(req.body()) else {
                return Ok(Forward::Respond(validation(
                    "the request body is not a JSON object",
                )));
            };
            return Ok(Forward::Respond(api::answer(
                &self.store,
                &action,
                &body,
                &aws.account,
                &aws.region,
            )));
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
                drop(write.held.lock().expect("not poisoned").take());
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
                *resp.body_mut() = Body::Full(Bytes::from(Value::Object(body).to_string()));
            }
        }
        Ok(())
    }
}
