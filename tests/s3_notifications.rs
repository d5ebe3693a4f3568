//! S3 bucket notifications (`[interceptors.s3-notifications]`) end to end, with real SDKs and
//! real backends, the way users run it: the edge answers Put/GetBucketNotificationConfiguration
//! itself and turns the object operations that reach the S3 backend (PutObject, presigned PUT,
//! POST form upload, CopyObject, CompleteMultipartUpload, DeleteObject, DeleteObjects) into
//! AWS-shaped messages for SQS queues, SNS topics and EventBridge.
//!
//! What is checked: the configuration API and S3's errors, the `s3:TestEvent`, each record's
//! content (key encoding, size, ETag, sequencer, configuration id), filters and event
//! wildcards, SNS envelopes, EventBridge events, per-bucket ordering, a 256 MiB upload that
//! streams (the edge runs in this process: its memory is ours), delivery that survives SQS
//! being down, and no duplicates in front of a backend that notifies by itself (moto).
//!
//! Needs what `scripts/install-deps` installs: s3rver (`.deps/s3rver`, the S3 backend, which
//! has no notifications of its own) and moto_server (`.venv`, SQS/SNS/EventBridge, and S3 in
//! the last test). Every test builds its own edge and backends on free ports, so tests run
//! in parallel; a missing backend fails the test with the command that installs it.

mod support;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_sdk_s3::{
    error::{ProvideErrorMetadata, SdkError},
    operation::RequestId,
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{
        CompletedMultipartUpload, CompletedPart, Delete, Event, EventBridgeConfiguration,
        FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
        ObjectIdentifier, QueueConfiguration, S3KeyFilter, TopicConfiguration,
    },
};
use edgestack::Edge;
use edgestack_testkit::{deps, fake_sigv4, pattern};
use serde_json::Value;
use support::toml_array;
use tokio::{
    net::{TcpSocket, TcpStream},
    task::JoinHandle,
};

/// moto's account (as LocalStack's): queue and topic ARNs live in it.
const ACCOUNT: &str = "000000000000";
/// How long a test waits for messages it expects.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The stack: an edge with the interceptor, its backends, and clients.
// ---------------------------------------------------------------------------------------------

/// Where S3 requests go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum S3Backend {
    /// s3rver (no notifications of its own), as upstream `s3`.
    S3rver,
    /// moto_server, which also serves everything else (and notifies by itself).
    Moto,
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "edgestack-s3-notifications-{label}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An edge and its clients. Fields drop in order: the edge (and the backends it runs) first,
/// then the forwarder, then s3rver's data.
struct Stack {
    edge: Edge,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
    forwarder: Option<Forwarder>,
    _data: Option<TempDir>,
}

/// A queue: its URL (for receiving) and ARN (for configurations).
struct Queue {
    url: String,
    arn: String,
}

/// An edge with `[interceptors.s3-notifications]` (short retries), a managed moto_server as
/// the default route, S3 on `backend`, and, with a `forwarder`, SQS routed through it.
async fn start(backend: S3Backend, forwarder: Option<Forwarder>) -> Stack {
    edgestack_testkit::trace_init();
    let mut text = format!(
        "{}[upstreams.moto]\ncommand = {}\nenv = {{ MOTO_ACCOUNT_ID = \"{ACCOUNT}\" }}\n\
         ready = {{ http = \"/moto-api/\" }}\n",
        support::SERVER_TOML,
        toml_array(&deps::moto_command())
    );
    let data = (backend == S3Backend::S3rver).then(|| TempDir::new("s3rver"));
    if let Some(dir) = &data {
        text += &format!(
            "\n[upstreams.s3]\ncommand = {}\nready = {{ tcp = true }}\n",
            toml_array(&deps::s3rver_command(&dir.0))
        );
    }
    if let Some(f) = &forwarder {
        text += &format!("\n[upstreams.sqsproxy]\nurl = \"http://{}\"\n", f.addr);
    }
    text += "\n[routes]\ndefault = \"moto\"\n";
    if data.is_some() {
        text += "s3 = \"s3\"\n";
    }
    if forwarder.is_some() {
        text += "sqs = \"sqsproxy\"\n";
    }
    text += "\n[interceptors.s3-notifications]\n\n[interceptors.s3-notifications.retry]\n\
             initial_backoff = \"50ms\"\nmax_backoff = \"500ms\"\n";
    let edge = support::edge_from_toml(&text);
    if let Some(f) = &forwarder {
        f.point_at(edge.backend("moto").expect("moto is managed").addr());
    }
    assert!(
        edge.wait_ready(Duration::from_secs(90)).await,
        "backends not ready:\n{text}"
    );
    let url = edge.url();
    Stack {
        s3: support::s3_client_plain_bodies(&url),
        sqs: support::sqs_client(&url),
        sns: support::sns_client(&url),
        events: support::eventbridge_client(&url),
        edge,
        forwarder,
        _data: data,
    }
}

/// The usual stack: S3 on s3rver, everything else on moto.
async fn stack() -> Stack {
    start(S3Backend::S3rver, None).await
}

impl Stack {
    async fn bucket(&self, name: &str) {
        self.s3.create_bucket().bucket(name).send().await.unwrap();
    }

    async fn queue(&self, name: &str) -> Queue {
        let url = support::create_queue(&self.sqs, name).await;
        let arn = support::queue_arn(&self.sqs, &url).await;
        assert_eq!(arn, format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"));
        Queue { url, arn }
    }

    /// PutObject; returns the ETag the backend answered, unquoted.
    async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> String {
        let out = self
            .s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
        unquote(out.e_tag().expect("PutObject answers an ETag"))
    }

    /// PutBucketNotificationConfiguration; returns the request id of the answer.
    async fn configure(&self, bucket: &str, config: NotificationConfiguration) -> String {
        let out = self
            .s3
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(config)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutBucketNotificationConfiguration: {e:?}"));
        out.request_id().unwrap_or_default().to_string()
    }

    /// Configures `queue` for `events` on `bucket` (configuration id `id`) and checks that the
    /// test event arrives first.
    async fn configure_queue(&self, bucket: &str, queue: &Queue, id: &str, events: &[&str]) {
        self.configure(
            bucket,
            NotificationConfiguration::builder()
                .queue_configurations(queue_config(id, &queue.arn, events, &[]))
                .build(),
        )
        .await;
        let got = self.recv(queue, 1).await;
        assert_eq!(got.len(), 1, "no test event: {got:?}");
        assert_test_event(&got[0], bucket);
    }

    /// Messages of `queue` until `n` arrived (or [`WAIT`] passed): see [`recv_until`].
    async fn recv(&self, queue: &Queue, n: usize) -> Vec<String> {
        recv_until(&self.sqs, queue, n, Instant::now() + WAIT).await
    }

    /// Whatever `queue` receives within `window` (expected: nothing).
    async fn recv_quiet(&self, queue: &Queue, window: Duration) -> Vec<String> {
        recv_until(&self.sqs, queue, usize::MAX, Instant::now() + window).await
    }

    /// The edge's Prometheus metrics.
    async fn metrics(&self) -> String {
        let url = format!("{}/_edgestack/metrics", self.edge.url());
        let resp = reqwest::get(url).await.unwrap();
        assert!(resp.status().is_success());
        resp.text().await.unwrap()
    }
}

/// Receives (and deletes) messages of `queue` until at least `n` arrived or `deadline`
/// passed, long-polling; returns their bodies in the order received. Errors (SQS briefly
/// unreachable) are retried until the deadline, then reported.
async fn recv_until(
    sqs: &aws_sdk_sqs::Client,
    queue: &Queue,
    n: usize,
    deadline: Instant,
) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut last_error = None;
    while bodies.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Long polls of 1-2 s (at least 1, so the last may end up to a second late).
        let wait = left.as_secs().clamp(1, 2) as i32;
        let resp = sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .send()
            .await;
        let out = match resp {
            Ok(out) => out,
            Err(e) => {
                last_error = Some(format!("{e:?}"));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        for m in out.messages() {
            bodies.push(m.body().unwrap_or_default().to_string());
            sqs.delete_message()
                .queue_url(&queue.url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    if bodies.len() < n && n != usize::MAX {
        eprintln!(
            "recv_until: {} of {n} message(s) from {}; last error: {last_error:?}",
            bodies.len(),
            queue.url
        );
    }
    bodies
}

// ---------------------------------------------------------------------------------------------
// Configurations and messages.
// ---------------------------------------------------------------------------------------------

fn key_filter(rules: &[(FilterRuleName, &str)]) -> NotificationConfigurationFilter {
    let mut key = S3KeyFilter::builder();
    for (name, value) in rules {
        key = key.filter_rules(
            FilterRule::builder()
                .name(name.clone())
                .value(*value)
                .build(),
        );
    }
    NotificationConfigurationFilter::builder()
        .key(key.build())
        .build()
}

fn queue_config(
    id: &str,
    arn: &str,
    events: &[&str],
    rules: &[(FilterRuleName, &str)],
) -> QueueConfiguration {
    let mut b = QueueConfiguration::builder().id(id).queue_arn(arn);
    for e in events {
        b = b.events(Event::from(*e));
    }
    if !rules.is_empty() {
        b = b.filter(key_filter(rules));
    }
    b.build().unwrap()
}

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The one record of a records message.
fn one_record(body: &str) -> Value {
    let v = json(body);
    let records = v["Records"]
        .as_array()
        .unwrap_or_else(|| panic!("not a records message: {body}"));
    assert_eq!(records.len(), 1, "{body}");
    records[0].clone()
}

/// The fields every record has, whatever the event.
fn assert_record_shape(rec: &Value, event_name: &str, bucket: &str, key: &str, config_id: &str) {
    assert_eq!(rec["eventVersion"], "2.1", "{rec}");
    assert_eq!(rec["eventSource"], "aws:s3", "{rec}");
    assert_eq!(rec["awsRegion"], "us-east-1", "{rec}");
    assert_eq!(rec["eventName"], event_name, "{rec}");
    let time = rec["eventTime"].as_str().expect("eventTime");
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "eventTime {time}"
    );
    assert!(rec["userIdentity"]["principalId"].is_string(), "{rec}");
    assert!(
        rec["requestParameters"]["sourceIPAddress"].is_string(),
        "{rec}"
    );
    let resp = &rec["responseElements"];
    assert!(
        resp["x-amz-request-id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{rec}"
    );
    assert!(
        resp["x-amz-id-2"].as_str().is_some_and(|s| !s.is_empty()),
        "{rec}"
    );
    let s3 = &rec["s3"];
    assert_eq!(s3["s3SchemaVersion"], "1.0", "{rec}");
    assert_eq!(s3["configurationId"], config_id, "{rec}");
    assert_eq!(s3["bucket"]["name"], bucket, "{rec}");
    assert_eq!(
        s3["bucket"]["arn"],
        format!("arn:aws:s3:::{bucket}"),
        "{rec}"
    );
    assert!(s3["bucket"]["ownerIdentity"]["principalId"].is_string());
    assert_eq!(s3["object"]["key"], key, "{rec}");
    assert!(
        s3["object"]["sequencer"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{rec}"
    );
}

/// The `s3:TestEvent` S3 sends when a configuration is saved.
fn assert_test_event(body: &str, bucket: &str) {
    let v = json(body);
    assert_eq!(v["Service"], "Amazon S3", "{body}");
    assert_eq!(v["Event"], "s3:TestEvent", "{body}");
    assert_eq!(v["Bucket"], bucket, "{body}");
    assert!(
        v["Time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{body}"
    );
    assert!(
        v["RequestId"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        v["HostId"].as_str().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(v.get("Records").is_none());
}

/// The error code of a failed SDK call.
fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> String {
    e.code()
        .unwrap_or_else(|| panic!("no error code: {e:?}"))
        .to_string()
}

/// `x-amz-date` for now: `20240101T120000Z`.
fn amz_date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The value of the sample of metric `name` whose labels include every one of `labels`
/// (`target="sqs"`), 0 when there is none.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// This process's resident memory (the edge runs in it), from /proc/self/status.
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kb * 1024
}

// ---------------------------------------------------------------------------------------------
// A TCP forwarder that can be switched off and on again on the same port.
// ---------------------------------------------------------------------------------------------

/// Forwards connections from its port to a target. Off, the port stays bound but does not
/// listen (connections are refused, and nothing else can take the port).
struct Forwarder {
    addr: SocketAddr,
    target: Arc<OnceLock<SocketAddr>>,
    accept: Mutex<Option<JoinHandle<()>>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    parked: Mutex<Option<TcpSocket>>,
}

impl Forwarder {
    /// A forwarder on a free port, off.
    fn new() -> Forwarder {
        let socket = Self::socket(SocketAddr::from(([127, 0, 0, 1], 0)));
        let addr = socket.local_addr().unwrap();
        Forwarder {
            addr,
            target: Arc::default(),
            accept: Mutex::new(None),
            connections: Arc::default(),
            parked: Mutex::new(Some(socket)),
        }
    }

    fn socket(addr: SocketAddr) -> TcpSocket {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(addr).unwrap();
        socket
    }

    /// Where connections go (set once the target's port is known).
    fn point_at(&self, target: SocketAddr) {
        self.target.set(target).unwrap();
    }

    /// Starts listening and forwarding.
    fn on(&self) {
        let socket = self.parked.lock().unwrap().take().expect("it is off");
        let listener = socket.listen(128).unwrap();
        let target = self.target.clone();
        let connections = self.connections.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let Some(target) = target.get().copied() else {
                    continue; // not pointed anywhere yet: drop the connection
                };
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(conn);
            }
        });
        *self.accept.lock().unwrap() = Some(accept);
    }

    /// Closes the listener and cuts every open connection; the port stays reserved.
    async fn off(&self) {
        let accept = self.accept.lock().unwrap().take().expect("it is on");
        accept.abort();
        let _ = accept.await;
        let open = std::mem::take(&mut *self.connections.lock().unwrap());
        for c in open {
            c.abort();
            let _ = c.await;
        }
        *self.parked.lock().unwrap() = Some(Self::socket(self.addr));
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(a) = self.accept.lock().unwrap().take() {
            a.abort();
        }
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

/// Put/GetBucketNotificationConfiguration round trip (queue with a filter, topic,
/// EventBridge), S3's errors, destination validation and clearing.
#[tokio::test(flavor = "multi_thread")]
async fn configuration_api_round_trip_and_errors() {
    let st = stack().await;
    st.bucket("cfg").await;
    let queue = st.queue("cfg-queue").await;
    let topic = support::create_topic(&st.sns, "cfg-topic").await;

    // A bucket without a configuration has an empty one.
    let got = st
        .s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert!(got.queue_configurations().is_empty(), "{got:?}");
    assert!(got.event_bridge_configuration().is_none(), "{got:?}");

    let config = NotificationConfiguration::builder()
        .queue_configurations(queue_config(
            "created-in",
            &queue.arn,
            &["s3:ObjectCreated:*"],
            &[(FilterRuleName::Prefix, "in/")],
        ))
        .topic_configurations(
            TopicConfiguration::builder()
                .id("removed")
                .topic_arn(&topic)
                .events(Event::from("s3:ObjectRemoved:*"))
                .build()
                .unwrap(),
        )
        .event_bridge_configuration(EventBridgeConfiguration::builder().build())
        .build();
    st.configure("cfg", config).await;

    let got = st
        .s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    let queues = got.queue_configurations();
    assert_eq!(queues.len(), 1, "{got:?}");
    assert_eq!(queues[0].id(), Some("created-in"));
    assert_eq!(queues[0].queue_arn(), queue.arn);
    assert_eq!(queues[0].events(), [Event::from("s3:ObjectCreated:*")]);
    let rules = queues[0]
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules())
        .unwrap_or_default();
    assert_eq!(rules.len(), 1, "{got:?}");
    // S3 writes the rule names capitalised ("Prefix"); the SDK's enum spells them lowercase.
    assert!(
        rules[0]
            .name()
            .is_some_and(|n| n.as_str().eq_ignore_ascii_case("prefix")),
        "{got:?}"
    );
    assert_eq!(rules[0].value(), Some("in/"));
    let topics = got.topic_configurations();
    assert_eq!(topics.len(), 1, "{got:?}");
    assert_eq!(topics[0].id(), Some("removed"));
    assert_eq!(topics[0].topic_arn(), topic);
    assert_eq!(topics[0].events(), [Event::from("s3:ObjectRemoved:*")]);
    assert!(got.event_bridge_configuration().is_some(), "{got:?}");
    assert!(got.lambda_function_configurations().is_empty());

    // Malformed XML, sent raw (no SDK would).
    let resp = support::client()
        .put(format!("{}/cfg?notification", st.edge.url()))
        .header("authorization", fake_sigv4("s3"))
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .header("x-amz-date", amz_date())
        .body("<NotificationConfiguration><QueueConfiguration><Queue>")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<Code>MalformedXML</Code>"), "{body}");

    // An event S3 does not have.
    let err = st
        .s3
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue_config(
                    "bad-event",
                    &queue.arn,
                    &["s3:ObjectCreated:Nope"],
                    &[],
                ))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(err), "InvalidArgument");

    // A bucket that does not exist.
    let err = st
        .s3
        .put_bucket_notification_configuration()
        .bucket("no-such-bucket")
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue_config("q", &queue.arn, &["s3:ObjectCreated:*"], &[]))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(err), "NoSuchBucket");

    // A queue that does not exist: refused, unless validation is skipped.
    let missing = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue");
    let to_missing = || {
        NotificationConfiguration::builder()
            .queue_configurations(queue_config(
                "missing",
                &missing,
                &["s3:ObjectCreated:*"],
                &[],
            ))
            .build()
    };
    let err = st
        .s3
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(to_missing())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(err), "InvalidArgument");
    // The refused configurations changed nothing.
    let got = st
        .s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert_eq!(got.queue_configurations()[0].id(), Some("created-in"));
    st.s3
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(to_missing())
        .skip_destination_validation(true)
        .send()
        .await
        .unwrap();
    let got = st
        .s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert_eq!(got.queue_configurations().len(), 1, "{got:?}");
    assert_eq!(got.queue_configurations()[0].queue_arn(), missing);
    assert!(got.topic_configurations().is_empty(), "{got:?}");
    assert!(got.event_bridge_configuration().is_none(), "{got:?}");

    // An empty configuration clears it.
    st.configure("cfg", NotificationConfiguration::builder().build())
        .await;
    let got = st
        .s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert!(got.queue_configurations().is_empty(), "{got:?}");
    assert!(got.topic_configurations().is_empty(), "{got:?}");
    assert!(got.lambda_function_configurations().is_empty(), "{got:?}");
    assert!(got.event_bridge_configuration().is_none(), "{got:?}");
}

/// Saving a configuration sends `s3:TestEvent` to its queue, with the request id of the save.
#[tokio::test(flavor = "multi_thread")]
async fn saving_a_configuration_sends_the_test_event() {
    let st = stack().await;
    st.bucket("tested").await;
    let queue = st.queue("tested-queue").await;
    let request_id = st
        .configure(
            "tested",
            NotificationConfiguration::builder()
                .queue_configurations(queue_config(
                    "all",
                    &queue.arn,
                    &["s3:ObjectCreated:*"],
                    &[],
                ))
                .build(),
        )
        .await;
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_test_event(&got[0], "tested");
    assert_eq!(
        json(&got[0])["RequestId"],
        request_id.as_str(),
        "{}",
        got[0]
    );
    assert!(st
        .recv_quiet(&queue, Duration::from_secs(1))
        .await
        .is_empty());
}

/// PutObject sends exactly one record with AWS's content.
#[tokio::test(flavor = "multi_thread")]
async fn put_object_sends_one_record_with_aws_content() {
    const BODY: &[u8] = b"hello, notifications";
    const MD5: &str = "fee5aa0d2aa0868d1f2f2aba7426a0ed";
    let st = stack().await;
    st.bucket("photos").await;
    let queue = st.queue("photos-queue").await;
    st.configure_queue("photos", &queue, "photos-created", &["s3:ObjectCreated:*"])
        .await;

    let etag = st.put("photos", "dir/a b+c.txt", BODY).await;
    assert_eq!(etag, MD5);
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(
        &rec,
        "ObjectCreated:Put",
        "photos",
        "dir/a+b%2Bc.txt",
        "photos-created",
    );
    let object = &rec["s3"]["object"];
    assert_eq!(object["size"], BODY.len(), "{rec}");
    assert_eq!(object["eTag"], MD5, "{rec}");
    assert_eq!(rec["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    assert!(
        st.recv_quiet(&queue, Duration::from_secs(1))
            .await
            .is_empty(),
        "more than one message for one PutObject"
    );
}

/// Prefix and suffix filters and event wildcards: only matching keys and events notify.
#[tokio::test(flavor = "multi_thread")]
async fn filters_and_wildcards() {
    let st = stack().await;
    st.bucket("filtered").await;
    let queue = st.queue("filtered-queue").await;
    st.configure(
        "filtered",
        NotificationConfiguration::builder()
            .queue_configurations(queue_config(
                "txt-in",
                &queue.arn,
                &["s3:ObjectCreated:*"],
                &[
                    (FilterRuleName::Prefix, "in/"),
                    (FilterRuleName::Suffix, ".txt"),
                ],
            ))
            .queue_configurations(queue_config(
                "removed",
                &queue.arn,
                &["s3:ObjectRemoved:*"],
                &[],
            ))
            .build(),
    )
    .await;
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "one test event per queue: {got:?}");
    assert_test_event(&got[0], "filtered");

    st.put("filtered", "out/x.txt", b"wrong prefix").await;
    st.put("filtered", "in/x.bin", b"wrong suffix").await;
    st.put("filtered", "in/x.txt", b"matches").await;
    // A bucket's notifications arrive in order: the next message is the matching key's, so
    // the two before it sent none.
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(&rec, "ObjectCreated:Put", "filtered", "in/x.txt", "txt-in");
    assert_eq!(rec["s3"]["object"]["size"], 7);

    st.s3
        .delete_object()
        .bucket("filtered")
        .key("in/x.txt")
        .send()
        .await
        .unwrap();
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(
        &rec,
        "ObjectRemoved:Delete",
        "filtered",
        "in/x.txt",
        "removed",
    );
    let object = rec["s3"]["object"].as_object().unwrap();
    assert!(
        !object.contains_key("size") && !object.contains_key("eTag"),
        "{rec}"
    );
    assert!(st
        .recv_quiet(&queue, Duration::from_secs(1))
        .await
        .is_empty());
}

/// A presigned PUT (no Authorization header) notifies like PutObject.
#[tokio::test(flavor = "multi_thread")]
async fn presigned_put_notifies() {
    const BODY: &[u8] = b"presigned body";
    const MD5: &str = "b4a5461042ef29852deeeed1b097d8e9";
    let st = stack().await;
    st.bucket("presigned").await;
    let queue = st.queue("presigned-queue").await;
    st.configure_queue("presigned", &queue, "pre", &["s3:ObjectCreated:Put"])
        .await;

    let presigned = st
        .s3
        .put_object()
        .bucket("presigned")
        .key("up/p.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
        .await
        .unwrap();
    let mut req = support::client().put(presigned.uri()).body(BODY);
    for (name, value) in presigned.headers() {
        req = req.header(name, value);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);

    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(&rec, "ObjectCreated:Put", "presigned", "up/p.txt", "pre");
    assert_eq!(rec["s3"]["object"]["size"], BODY.len(), "{rec}");
    assert_eq!(rec["s3"]["object"]["eTag"], MD5, "{rec}");
}

/// A browser-style POST form upload notifies ObjectCreated:Post with size and ETag.
#[tokio::test(flavor = "multi_thread")]
async fn post_form_upload_notifies() {
    const BODY: &str = "posted through a form";
    const MD5: &str = "d29070b23b138c173b61a5da4ebf8ae9";
    let st = stack().await;
    st.bucket("forms").await;
    let queue = st.queue("forms-queue").await;
    st.configure_queue("forms", &queue, "posted", &["s3:ObjectCreated:*"])
        .await;

    let boundary = "edgestack-form-boundary";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nform/posted file.txt\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n{BODY}\r\n--{boundary}--\r\n"
    );
    let resp = support::client()
        .post(format!("{}/forms", st.edge.url()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(status.is_success(), "{status}: {:?}", resp.text().await);

    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(
        &rec,
        "ObjectCreated:Post",
        "forms",
        "form/posted+file.txt",
        "posted",
    );
    assert_eq!(rec["s3"]["object"]["size"], BODY.len(), "{rec}");
    assert_eq!(rec["s3"]["object"]["eTag"], MD5, "{rec}");
}

/// CopyObject and a multipart upload notify with the new object's size and ETag (which the
/// backend does not put in its answer headers here).
#[tokio::test(flavor = "multi_thread")]
async fn copy_and_multipart_upload_notify() {
    const SRC: &[u8] = b"copy me, please";
    const MD5: &str = "40359d46cbe67bb6e2ff396027967216";
    let st = stack().await;
    st.bucket("copies").await;
    let queue = st.queue("copies-queue").await;
    st.configure(
        "copies",
        NotificationConfiguration::builder()
            .queue_configurations(queue_config(
                "made",
                &queue.arn,
                &[
                    "s3:ObjectCreated:Copy",
                    "s3:ObjectCreated:CompleteMultipartUpload",
                ],
                &[],
            ))
            .build(),
    )
    .await;
    assert_test_event(&st.recv(&queue, 1).await[0], "copies");

    // The source's PutObject is not one of the configured events.
    st.put("copies", "src.txt", SRC).await;
    st.s3
        .copy_object()
        .bucket("copies")
        .key("copy/dst.txt")
        .copy_source("copies/src.txt")
        .send()
        .await
        .unwrap();
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(&rec, "ObjectCreated:Copy", "copies", "copy/dst.txt", "made");
    assert_eq!(rec["s3"]["object"]["size"], SRC.len(), "{rec}");
    assert_eq!(rec["s3"]["object"]["eTag"], MD5, "{rec}");

    let upload = st
        .s3
        .create_multipart_upload()
        .bucket("copies")
        .key("big/multi.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, pattern::body(5 * 1024 * 1024)), (2, pattern::body(1))] {
        let part = st
            .s3
            .upload_part()
            .bucket("copies")
            .key("big/multi.bin")
            .upload_id(upload_id)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .build(),
        );
    }
    st.s3
        .complete_multipart_upload()
        .bucket("copies")
        .key("big/multi.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = st
        .s3
        .head_object()
        .bucket("copies")
        .key("big/multi.bin")
        .send()
        .await
        .unwrap();
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(
        &rec,
        "ObjectCreated:CompleteMultipartUpload",
        "copies",
        "big/multi.bin",
        "made",
    );
    assert_eq!(rec["s3"]["object"]["size"], 5_242_881u64, "{rec}");
    // (s3rver's multipart ETag is not S3's "<md5 of the part md5s>-2": compare with HEAD's.)
    let etag = unquote(head.e_tag().unwrap());
    assert_eq!(rec["s3"]["object"]["eTag"], etag, "{rec}");
    assert!(st
        .recv_quiet(&queue, Duration::from_secs(1))
        .await
        .is_empty());
}

/// DeleteObjects of three keys sends one ObjectRemoved:Delete record per key.
#[tokio::test(flavor = "multi_thread")]
async fn delete_objects_notifies_each_key() {
    let st = stack().await;
    st.bucket("bulk").await;
    let queue = st.queue("bulk-queue").await;
    st.configure_queue("bulk", &queue, "gone", &["s3:ObjectRemoved:*"])
        .await;
    // At the bucket's top level: s3rver's parallel deletes race on removing emptied folders.
    let keys = ["one.txt", "two.txt", "three & more.txt"];
    for k in keys {
        st.put("bulk", k, k.as_bytes()).await;
    }
    let mut delete = Delete::builder();
    for k in keys {
        delete = delete.objects(ObjectIdentifier::builder().key(k).build().unwrap());
    }
    let out = st
        .s3
        .delete_objects()
        .bucket("bulk")
        .delete(delete.build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 3, "{out:?}");

    let got = st.recv(&queue, 3).await;
    assert_eq!(got.len(), 3, "{got:?}");
    let mut seen = Vec::new();
    for body in &got {
        let rec = one_record(body);
        let key = rec["s3"]["object"]["key"].as_str().unwrap().to_string();
        assert_record_shape(&rec, "ObjectRemoved:Delete", "bulk", &key, "gone");
        assert!(rec["s3"]["object"].get("size").is_none(), "{rec}");
        seen.push(key);
    }
    seen.sort();
    assert_eq!(seen, ["one.txt", "three+%26+more.txt", "two.txt"]);
    assert!(st
        .recv_quiet(&queue, Duration::from_secs(1))
        .await
        .is_empty());
}

/// A topic configuration publishes to SNS; an SQS subscriber gets S3's envelope.
#[tokio::test(flavor = "multi_thread")]
async fn topic_configuration_publishes_to_sns() {
    let st = stack().await;
    st.bucket("topical").await;
    let queue = st.queue("topical-subscriber").await;
    let topic = support::create_topic(&st.sns, "topical-topic").await;
    st.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue.arn)
        .attributes("RawMessageDelivery", "false")
        .send()
        .await
        .unwrap();
    st.configure(
        "topical",
        NotificationConfiguration::builder()
            .topic_configurations(
                TopicConfiguration::builder()
                    .id("to-topic")
                    .topic_arn(&topic)
                    .events(Event::from("s3:ObjectCreated:*"))
                    .build()
                    .unwrap(),
            )
            .build(),
    )
    .await;
    let envelope = |body: &str| {
        let v = json(body);
        assert_eq!(v["Type"], "Notification", "{body}");
        assert_eq!(v["TopicArn"], topic.as_str(), "{body}");
        assert_eq!(v["Subject"], "Amazon S3 Notification", "{body}");
        v["Message"].as_str().expect("Message").to_string()
    };
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_test_event(&envelope(&got[0]), "topical");

    st.put("topical", "t/x.txt", b"to the topic").await;
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&envelope(&got[0]));
    assert_record_shape(&rec, "ObjectCreated:Put", "topical", "t/x.txt", "to-topic");
    assert_eq!(rec["s3"]["object"]["size"], 12);
}

/// EventBridgeConfiguration sends events to the default bus, where a rule routes them to SQS.
#[tokio::test(flavor = "multi_thread")]
async fn eventbridge_configuration_sends_events() {
    let st = stack().await;
    st.bucket("bridged").await;
    let queue = st.queue("bridged-queue").await;
    st.events
        .put_rule()
        .name("s3-events")
        .event_pattern(r#"{"source":["aws.s3"]}"#)
        .send()
        .await
        .unwrap();
    let targets = st
        .events
        .put_targets()
        .rule("s3-events")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue.arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(targets.failed_entry_count(), 0);
    st.configure(
        "bridged",
        NotificationConfiguration::builder()
            .event_bridge_configuration(EventBridgeConfiguration::builder().build())
            .build(),
    )
    .await;

    let etag = st.put("bridged", "eb/x.txt", b"bridged").await;
    // No test event goes to EventBridge: the first message is the object's.
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let ev = json(&got[0]);
    assert_eq!(ev["source"], "aws.s3", "{ev}");
    assert_eq!(ev["detail-type"], "Object Created", "{ev}");
    assert_eq!(ev["region"], "us-east-1", "{ev}");
    assert_eq!(
        ev["resources"],
        serde_json::json!(["arn:aws:s3:::bridged"]),
        "{ev}"
    );
    let detail = &ev["detail"];
    assert_eq!(detail["bucket"]["name"], "bridged", "{ev}");
    assert_eq!(detail["object"]["key"], "eb/x.txt", "{ev}");
    assert_eq!(detail["object"]["size"], 7, "{ev}");
    assert_eq!(detail["object"]["etag"], etag.as_str(), "{ev}");
    assert_eq!(detail["reason"], "PutObject", "{ev}");
}

/// A bucket's notifications arrive in the order its operations completed.
#[tokio::test(flavor = "multi_thread")]
async fn records_arrive_in_order() {
    let st = stack().await;
    st.bucket("ordered").await;
    let queue = st.queue("ordered-queue").await;
    st.configure_queue("ordered", &queue, "seq", &["s3:ObjectCreated:*"])
        .await;
    let keys: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
    for k in &keys {
        st.put("ordered", k, k.as_bytes()).await;
    }
    let got = st.recv(&queue, 20).await;
    assert_eq!(got.len(), 20, "{got:?}");
    let recs: Vec<Value> = got.iter().map(|b| one_record(b)).collect();
    let got_keys: Vec<&str> = recs
        .iter()
        .map(|r| r["s3"]["object"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(got_keys, keys);
    let sequencers: Vec<&str> = recs
        .iter()
        .map(|r| r["s3"]["object"]["sequencer"].as_str().unwrap())
        .collect();
    for pair in sequencers.windows(2) {
        let (a, b) = (
            u128::from_str_radix(pair[0], 16).unwrap(),
            u128::from_str_radix(pair[1], 16).unwrap(),
        );
        assert!(a < b, "sequencers not increasing: {sequencers:?}");
    }
}

/// A 256 MiB upload streams through the edge (this process's memory barely grows) and its
/// record has the full size.
#[tokio::test(flavor = "multi_thread")]
async fn large_upload_streams_and_notifies() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let st = stack().await;
    st.bucket("large").await;
    let queue = st.queue("large-queue").await;
    st.configure_queue("large", &queue, "big", &["s3:ObjectCreated:*"])
        .await;

    let presigned = st
        .s3
        .put_object()
        .bucket("large")
        .key("huge.bin")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(900)).unwrap())
        .await
        .unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream::iter(
        pattern::chunks(SIZE).map(Ok::<_, std::io::Error>),
    ));
    let mut req = support::client()
        .put(presigned.uri())
        .header("content-length", SIZE)
        .body(body);
    for (name, value) in presigned.headers() {
        req = req.header(name, value);
    }

    let baseline = vm_rss();
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(vm_rss(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let etag = resp
        .headers()
        .get("etag")
        .map(|e| unquote(e.to_str().unwrap()));
    let text = resp.text().await.unwrap();
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    assert_eq!(status, 200, "{text}");
    let grown = peak.load(Ordering::SeqCst).saturating_sub(baseline);
    eprintln!(
        "256 MiB upload: resident memory grew by {} KiB at most",
        grown / 1024
    );
    assert!(
        grown < 64 * 1024 * 1024,
        "memory grew by {} MiB over a 256 MiB upload: the body was held, not streamed",
        grown / (1024 * 1024)
    );

    let head = st
        .s3
        .head_object()
        .bucket("large")
        .key("huge.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.content_length(),
        Some(SIZE as i64),
        "the backend got it all"
    );

    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(&rec, "ObjectCreated:Put", "large", "huge.bin", "big");
    assert_eq!(rec["s3"]["object"]["size"], SIZE, "{rec}");
    assert_eq!(
        rec["s3"]["object"]["eTag"].as_str(),
        etag.as_deref(),
        "{rec}"
    );
}

/// SQS down: uploads are answered at once, and their records are delivered, in order and
/// once each, when it is back; the metrics count the retries.
#[tokio::test(flavor = "multi_thread")]
async fn delivery_survives_sqs_outage() {
    let forwarder = Forwarder::new();
    forwarder.on();
    let st = start(S3Backend::S3rver, Some(forwarder)).await;
    let fwd = st.forwarder.as_ref().unwrap();
    st.bucket("outage").await;
    let queue = st.queue("outage-queue").await;
    st.configure_queue("outage", &queue, "kept", &["s3:ObjectCreated:*"])
        .await;

    fwd.off().await;
    let started = Instant::now();
    for k in ["o/1.txt", "o/2.txt", "o/3.txt"] {
        st.put("outage", k, k.as_bytes()).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "uploads waited for SQS: {:?}",
        started.elapsed()
    );
    // The deliberate outage: long enough for several retries.
    tokio::time::sleep(Duration::from_secs(2)).await;
    fwd.on();

    let got = st.recv(&queue, 3).await;
    let keys: Vec<String> = got
        .iter()
        .map(|b| {
            one_record(b)["s3"]["object"]["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(keys, ["o/1.txt", "o/2.txt", "o/3.txt"]);
    assert!(
        st.recv_quiet(&queue, Duration::from_secs(1))
            .await
            .is_empty(),
        "duplicates"
    );

    // The counters are bumped once SendMessage has answered: poll briefly.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text = st.metrics().await;
    while metric(
        &text,
        "edgestack_s3_notifications_total",
        &[r#"outcome="delivered""#, r#"target="sqs""#],
    ) < 4.0
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        text = st.metrics().await;
    }
    assert!(
        metric(
            &text,
            "edgestack_s3_notification_retries_total",
            &[r#"target="sqs""#]
        ) > 0.0,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "edgestack_s3_notifications_total",
            &[r#"outcome="delivered""#, r#"target="sqs""#],
        ) >= 4.0,
        "{text}"
    );
}

/// In front of moto (which notifies by itself when it holds a configuration), each event
/// is delivered once: the configuration stays with edgestack.
#[tokio::test(flavor = "multi_thread")]
async fn no_duplicates_in_front_of_moto() {
    let st = start(S3Backend::Moto, None).await;
    st.bucket("motos").await;
    let queue = st.queue("motos-queue").await;
    st.configure_queue("motos", &queue, "once", &["s3:ObjectCreated:*"])
        .await;
    let etag = st.put("motos", "m/x.txt", b"only once").await;
    let got = st.recv(&queue, 1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let rec = one_record(&got[0]);
    assert_record_shape(&rec, "ObjectCreated:Put", "motos", "m/x.txt", "once");
    assert_eq!(rec["s3"]["object"]["eTag"], etag.as_str(), "{rec}");
    let more = st.recv_quiet(&queue, Duration::from_secs(3)).await;
    assert!(more.is_empty(), "more messages: {more:?}");
}
