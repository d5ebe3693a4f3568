//! The event wiring benchmark: how fast events reach a Lambda function through the edge
//! (issue 19, "Event wiring").
//!
//! Run with: cargo bench --bench events  (about 2 minutes once built)
//! (`cargo bench --bench events -- --quick`, or `EVENTS_BENCH_QUICK=1`, for a run under 60 s.)
//!
//! It starts its own moto_server (`$MOTO_SERVER`, `.venv/bin/moto_server` or `PATH`, see
//! `edgestack_testkit::MotoServer`) and an in-process edge on free loopback ports, with the
//! interceptors of edgestack's default configuration (`[interceptors.lambda]`,
//! `[interceptors.eventbridge]` and `[interceptors.sns]` among them, the Lambda code cache in a
//! temporary directory) and as many worker threads as there are cores. Through the edge, with
//! the aws-sdk-* clients (test credentials, no retries), it creates one `python3.12` function
//! that reports itself to the benchmark: on entry it reads the handler's clock
//! (`time.time()`), collects the ids its event carries (SQS `body`, SNS `Message`,
//! EventBridge `detail.id`) and sends them, one JSON line, over a new TCP connection to a
//! listener of the benchmark's on 127.0.0.1 (a plain thread that stamps each line with
//! `Instant::now()` as it arrives). Then it measures:
//!
//! - **end-to-end latency**, sequential (one event in flight, a pause of `--gap` ms between
//!   samples so every path is idle when the next event is sent), after a warm-up, for three
//!   paths:
//!   - `SendMessage` to an SQS queue with an event source mapping (default `BatchSize`, no
//!     batching window) to the function;
//!   - `PutEvents` to the default bus, matched by a rule with the function as its target
//!     (an asynchronous `Invoke` through the edge);
//!   - `Publish` to an SNS topic with a `lambda` subscription of the function (an
//!     asynchronous `Invoke` through the edge);
//!
//!   Each sample gives three figures: the send call's own answer time, the time from the send
//!   call's start to the handler's entry (the function's wall clock against the benchmark's:
//!   the same host clock), and from the send call's start to the report's arrival (the
//!   end-to-end figure: it includes the function's connect and send, about 0.1 ms). The CPU
//!   time per event of this process (the edge and the SDK client: one process), of the
//!   function processes and of moto_server is shown alongside (from `/proc/PID/stat`).
//! - **SQS → Lambda throughput** at `BatchSize` 1 and 10: `--messages` N messages are
//!   pre-loaded into a fresh queue with `SendMessageBatch`, then the mapping is created
//!   (`CreateEventSourceMapping`, the clock starts there) and the run lasts until the
//!   function has reported every one of the N message ids. Shown: messages/s from the
//!   mapping's creation and from the first delivery, the invocations, records per invocation,
//!   duplicates, messages left in the queue afterwards, and the CPU time per message of this
//!   process, the function processes and moto_server. For reference, the same number of
//!   messages is then drained straight at moto_server by one consumer doing what a poller
//!   does against SQS (`ReceiveMessage` of up to BatchSize with every attribute,
//!   `DeleteMessageBatch`) and no function: moto's own ceiling for one poller (its
//!   `ReceiveMessage` slows down with the queue's depth, so all these figures depend on N).
//!
//! It prints a markdown report (tables).
//!
//! Options (after `--`): `--quick`, `--samples N` latency samples per path (300; 50 quick),
//! `--messages N` per throughput run (500; 200 quick), `--gap MS` between latency samples
//! (20).
//!
//! Run by `cargo test` (no `--bench` argument) it only checks that each path delivers one
//! event to the function (a few seconds; no figure is reported), and fails when moto_server
//! or python is missing.

use std::{
    collections::HashSet,
    io::Read as _,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_sdk_lambda::{primitives::Blob, types::Runtime};
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use tokio::sync::mpsc;

#[path = "common/lambda_setup.rs"]
mod lambda_setup;

use lambda_setup::{
    arg_number, check_wanted, children, cpu_ms, machine, ms, report_head, table, zip_of, Stack,
    Stats,
};

/// The function's role (created in moto's IAM first; moto's default account).
const ROLE: &str = "arn:aws:iam::123456789012:role/events-bench";

/// The function.
const FUNCTION: &str = "events-bench";

/// The EventBridge events' source (the rule matches it).
const SOURCE: &str = "edgestack.bench";

/// The function's code: reports the ids its event carries, and its clock at entry, to the
/// benchmark's listener at 127.0.0.1:$REPORT_PORT, one JSON line per invocation.
const APP_PY: &str = r#"import json, os, socket, time

PORT = int(os.environ["REPORT_PORT"])


def handler(event, context):
    t = time.time()
    ids = []
    for r in event.get("Records") or []:
        if "body" in r:
            ids.append(r["body"])
        elif "Sns" in r:
            ids.append(r["Sns"]["Message"])
    detail = event.get("detail")
    if isinstance(detail, dict) and "id" in detail:
        ids.append(detail["id"])
    line = json.dumps({"t": t, "ids": ids}) + "\n"
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    try:
        s.sendall(line.encode())
    finally:
        s.close()
    return {"ok": True, "n": len(ids)}
"#;

/// How long one event may take to reach the function before the run fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a throughput run may go without a delivery before it fails.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the run does.
#[derive(Debug, Clone)]
struct Plan {
    quick: bool,
    samples: usize,
    warmup: usize,
    messages: usize,
    gap: Duration,
}

impl Plan {
    fn from_args(argv: &[String]) -> Plan {
        let quick = lambda_setup::quick(argv, "EVENTS_BENCH_QUICK");
        let mut plan = if quick {
            Plan {
                quick,
                samples: 50,
                warmup: 5,
                messages: 200,
                gap: Duration::from_millis(20),
            }
        } else {
            Plan {
                quick,
                samples: 300,
                warmup: 20,
                messages: 500,
                gap: Duration::from_millis(20),
            }
        };
        let value = |name: &str| arg_number(argv, name);
        if let Some(n) = value("--samples") {
            plan.samples = (n as usize).max(1);
        }
        if let Some(n) = value("--messages") {
            plan.messages = (n as usize).max(1);
        }
        if let Some(ms) = value("--gap") {
            plan.gap = Duration::from_millis(ms);
        }
        plan
    }
}

// ---------------------------------------------------------------------------------------------
// The reporter: what the function sends back.
// ---------------------------------------------------------------------------------------------

/// One invocation's report.
#[derive(Debug)]
struct Report {
    /// When its line arrived.
    at: Instant,
    /// The handler's clock at entry (seconds since the epoch).
    entered: f64,
    /// The ids its event carried.
    ids: Vec<String>,
}

/// The listener the function reports to, and the reports that arrived.
struct Reporter {
    port: u16,
    rx: mpsc::UnboundedReceiver<Report>,
    /// Reports skipped while waiting for another id (stale or duplicate deliveries).
    skipped: usize,
}

impl Reporter {
    /// A listener on 127.0.0.1 served by a plain thread (its timestamps do not wait for the
    /// async runtime). Each connection carries one JSON line.
    fn start() -> Reporter {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the reporter");
        let port = listener.local_addr().expect("reporter address").port();
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("events-bench-reporter".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(mut conn) = conn else { continue };
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Up to the line's end (the function closes right after it).
                    loop {
                        match conn.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                buf.extend_from_slice(&chunk[..n]);
                                if buf.ends_with(b"\n") {
                                    break;
                                }
                            }
                        }
                    }
                    let at = Instant::now();
                    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&buf) else {
                        eprintln!(
                            "events bench: a report that is not JSON: {:?}",
                            String::from_utf8_lossy(&buf)
                        );
                        continue;
                    };
                    let report = Report {
                        at,
                        entered: v["t"].as_f64().unwrap_or(0.0),
                        ids: v["ids"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    };
                    if tx.send(report).is_err() {
                        return;
                    }
                }
            })
            .expect("reporter thread");
        Reporter {
            port,
            rx,
            skipped: 0,
        }
    }

    /// The next report, within `timeout`.
    async fn next(&mut self, timeout: Duration) -> Option<Report> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The first report naming `id` (others are skipped and counted); fails the run after
    /// [`DELIVERY_TIMEOUT`].
    async fn wait_for(&mut self, id: &str, what: &str) -> Report {
        let deadline = Instant::now() + DELIVERY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(r) = self.next(left).await else {
                panic!("{what}: the function did not report {id} within {DELIVERY_TIMEOUT:?}");
            };
            if r.ids.iter().any(|i| i == id) {
                return r;
            }
            self.skipped += 1;
        }
    }

    /// Drops the reports that arrived so far.
    fn drain(&mut self) {
        while self.rx.try_recv().is_ok() {}
    }
}

// ---------------------------------------------------------------------------------------------
// moto_server, the edge, the clients.
// ---------------------------------------------------------------------------------------------

/// An aws-sdk client for `endpoint` (test credentials, us-east-1, no retries: an error is
/// seen as it happened, and fails the run).
macro_rules! sdk_client {
    ($sdk:ident, $endpoint:expr) => {
        $sdk::Client::from_conf(
            lambda_setup::sdk_config!($sdk, $endpoint, "events-bench")
                .retry_config($sdk::config::retry::RetryConfig::disabled())
                .build(),
        )
    };
}

struct Setup {
    stack: Stack,
    lambda: aws_sdk_lambda::Client,
    sqs: aws_sdk_sqs::Client,
    /// SQS straight at moto_server (the reference drain).
    moto_sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
}

impl Setup {
    async fn start() -> Setup {
        let stack = Stack::start(
            "events",
            "",
            &["lambda", "eventbridge", "sns"],
            reqwest::Client::new(),
        )
        .await;
        let url = &stack.url;
        Setup {
            lambda: sdk_client!(aws_sdk_lambda, url),
            sqs: sdk_client!(aws_sdk_sqs, url),
            moto_sqs: sdk_client!(aws_sdk_sqs, &stack.moto_url()),
            sns: sdk_client!(aws_sdk_sns, url),
            events: sdk_client!(aws_sdk_eventbridge, url),
            stack,
        }
    }

    async fn stop(self) {
        self.stack.stop().await;
    }

    /// The function's role in moto's IAM (CreateFunction checks that the role exists).
    async fn create_role(&self) {
        self.stack.create_role("events-bench", ROLE).await;
    }

    /// The reporting function; its ARN.
    async fn create_function(&self, port: u16) -> String {
        lambda_setup::create_function(
            &self.lambda,
            FUNCTION,
            Runtime::Python312,
            ROLE,
            "app.handler",
            zip_of("app.py", APP_PY),
        )
        .environment(lambda_setup::environment("REPORT_PORT", port.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateFunction: {e:?}"))
        .function_arn()
        .expect("the function's ARN")
        .to_string()
    }

    /// A direct invocation (warms an environment): fails the run unless the function ran.
    async fn invoke(&self, event: &str) {
        let out = self
            .lambda
            .invoke()
            .function_name(FUNCTION)
            .payload(Blob::new(event.as_bytes().to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("Invoke: {e:?}"));
        assert!(
            out.function_error().is_none(),
            "Invoke: the function failed: {:?}",
            out.payload()
                .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
        );
    }

    /// A queue; its URL and ARN.
    async fn queue(&self, name: &str) -> (String, String) {
        self.queue_with(&self.sqs, name).await
    }

    /// A queue created with `sqs`; its URL and ARN.
    async fn queue_with(&self, sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"))
            .queue_url()
            .expect("a queue URL")
            .to_string();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetQueueAttributes {name}: {e:?}"));
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .expect("a queue ARN")
            .clone();
        (url, arn)
    }

    /// Visible and in-flight messages of a queue.
    async fn depth(&self, url: &str) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetQueueAttributes: {e:?}"));
        let n = |k: QueueAttributeName| {
            attrs
                .attributes()
                .and_then(|a| a.get(&k))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        n(QueueAttributeName::ApproximateNumberOfMessages)
            + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }

    /// An event source mapping of the function on `queue_arn`; its UUID.
    async fn mapping(&self, queue_arn: &str, batch_size: Option<i32>) -> String {
        let mut req = self
            .lambda
            .create_event_source_mapping()
            .function_name(FUNCTION)
            .event_source_arn(queue_arn);
        if let Some(b) = batch_size {
            req = req.batch_size(b);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("CreateEventSourceMapping {queue_arn}: {e:?}"))
            .uuid()
            .expect("a mapping UUID")
            .to_string()
    }

    async fn delete_mapping(&self, uuid: &str) {
        self.lambda
            .delete_event_source_mapping()
            .uuid(uuid)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteEventSourceMapping {uuid}: {e:?}"));
    }

    /// The three paths to the function: a queue with a mapping, a rule with a Lambda target,
    /// a topic with a Lambda subscription.
    async fn wire(&self, function_arn: &str) -> Wiring {
        let (queue_url, queue_arn) = self.queue("events-bench-latency").await;
        let mapping = self.mapping(&queue_arn, None).await;
        self.events
            .put_rule()
            .name("events-bench")
            .event_pattern(serde_json::json!({ "source": [SOURCE] }).to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutRule: {e:?}"));
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("function")
            .arn(function_arn)
            .build()
            .expect("a target");
        let out = self
            .events
            .put_targets()
            .rule("events-bench")
            .targets(target)
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutTargets: {e:?}"));
        assert_eq!(out.failed_entry_count(), 0, "PutTargets: {out:?}");
        let topic = self
            .sns
            .create_topic()
            .name("events-bench")
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTopic: {e:?}"))
            .topic_arn()
            .expect("a topic ARN")
            .to_string();
        self.sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("lambda")
            .endpoint(function_arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("Subscribe: {e:?}"));
        Wiring {
            queue_url,
            mapping,
            topic,
        }
    }

    /// Sends the event `id` down `path`.
    async fn send(&self, wiring: &Wiring, path: EventPath, id: &str) {
        match path {
            EventPath::Sqs => {
                self.sqs
                    .send_message()
                    .queue_url(&wiring.queue_url)
                    .message_body(id)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("SendMessage: {e:?}"));
            }
            EventPath::EventBridge => {
                let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(SOURCE)
                    .detail_type("bench")
                    .detail(serde_json::json!({ "id": id }).to_string())
                    .build();
                let out = self
                    .events
                    .put_events()
                    .entries(entry)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PutEvents: {e:?}"));
                assert_eq!(out.failed_entry_count(), 0, "PutEvents: {out:?}");
            }
            EventPath::Sns => {
                self.sns
                    .publish()
                    .topic_arn(&wiring.topic)
                    .message(id)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("Publish: {e:?}"));
            }
        }
    }

    /// Pre-loads `n` messages `{prefix}-{i}` with SendMessageBatch; their bodies.
    async fn preload(&self, url: &str, prefix: &str, n: usize) -> Vec<String> {
        preload(&self.sqs, url, prefix, n).await
    }
}

/// Pre-loads `n` messages `{prefix}-{i}` with SendMessageBatch through `sqs`; their bodies.
async fn preload(sqs: &aws_sdk_sqs::Client, url: &str, prefix: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    for (c, chunk) in ids.chunks(10).enumerate() {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(format!("m{c}-{i}"))
                    .message_body(body)
                    .build()
                    .expect("a batch entry")
            })
            .collect::<Vec<_>>();
        let out = sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap_or_else(|e| panic!("SendMessageBatch: {e:?}"));
        assert!(out.failed().is_empty(), "SendMessageBatch: {out:?}");
    }
    ids
}

/// The reference: the same drain straight at moto_server, as one consumer that does what a
/// mapping's poller does against SQS and nothing else (`ReceiveMessage` of up to
/// `batch_size` with every attribute, `WaitTimeSeconds` 2, then `DeleteMessageBatch`), one
/// batch at a time, no function. Messages/s.
async fn moto_alone(setup: &Setup, batch_size: i32, plan: &Plan) -> f64 {
    eprintln!("events bench: reference: moto_server alone, {batch_size} per receive");
    let sqs = &setup.moto_sqs;
    let (url, _) = setup
        .queue_with(sqs, &format!("events-bench-reference-{batch_size}"))
        .await;
    preload(sqs, &url, "ref", plan.messages).await;
    let t = Instant::now();
    let mut done = 0;
    while done < plan.messages {
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(batch_size)
            .wait_time_seconds(2)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap_or_else(|e| panic!("ReceiveMessage: {e:?}"));
        let msgs = got.messages();
        assert!(
            !msgs.is_empty(),
            "moto_server returned nothing with {} of {} messages left",
            plan.messages - done,
            plan.messages
        );
        let entries = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("a delete entry")
            })
            .collect::<Vec<_>>();
        let out = sqs
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteMessageBatch: {e:?}"));
        assert!(out.failed().is_empty(), "DeleteMessageBatch: {out:?}");
        done += msgs.len();
    }
    plan.messages as f64 / t.elapsed().as_secs_f64()
}

/// What [`Setup::wire`] created.
struct Wiring {
    queue_url: String,
    mapping: String,
    topic: String,
}

/// A way to the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventPath {
    Sqs,
    EventBridge,
    Sns,
}

impl EventPath {
    const ALL: [EventPath; 3] = [EventPath::Sqs, EventPath::EventBridge, EventPath::Sns];

    fn label(self) -> &'static str {
        match self {
            EventPath::Sqs => "SQS `SendMessage` → event source mapping",
            EventPath::EventBridge => "EventBridge `PutEvents` → rule target",
            EventPath::Sns => "SNS `Publish` → lambda subscription",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            EventPath::Sqs => "sqs",
            EventPath::EventBridge => "eb",
            EventPath::Sns => "sns",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and CPU time.
// ---------------------------------------------------------------------------------------------

/// CPU time (user + system, ms) used so far.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    /// This process: the edge, the SDK clients, the reporter.
    this: f64,
    /// The function processes (children other than moto_server).
    functions: f64,
    /// moto_server.
    moto: f64,
}

impl Cpu {
    fn now() -> Cpu {
        let mut cpu = Cpu {
            this: cpu_ms("self"),
            ..Cpu::default()
        };
        for (pid, _, cmd) in children() {
            let t = cpu_ms(&pid.to_string());
            if cmd.contains("moto_server") {
                cpu.moto += t;
            } else {
                cpu.functions += t;
            }
        }
        cpu
    }

    /// Per unit since `before`, over `n` units.
    fn per(self, before: Cpu, n: usize) -> Cpu {
        let n = (n as f64).max(1.0);
        Cpu {
            this: (self.this - before.this) / n,
            functions: (self.functions - before.functions) / n,
            moto: (self.moto - before.moto) / n,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Figures.
// ---------------------------------------------------------------------------------------------

/// Seconds since the epoch, now.
fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One path's latency figures.
struct Latency {
    path: EventPath,
    call: Stats,
    entered: Stats,
    reported: Stats,
    cpu: Cpu,
}

/// `samples` events down `path`, one at a time, after `warmup` unmeasured ones.
async fn latency(
    setup: &Setup,
    wiring: &Wiring,
    reporter: &mut Reporter,
    path: EventPath,
    plan: &Plan,
) -> Latency {
    eprintln!("events bench: latency: {}", path.label());
    for i in 0..plan.warmup {
        let id = format!("{}-warm-{i}", path.prefix());
        setup.send(wiring, path, &id).await;
        reporter.wait_for(&id, path.label()).await;
        tokio::time::sleep(plan.gap).await;
    }
    let mut call = Vec::with_capacity(plan.samples);
    let mut entered = Vec::with_capacity(plan.samples);
    let mut reported = Vec::with_capacity(plan.samples);
    let cpu_before = Cpu::now();
    for i in 0..plan.samples {
        let id = format!("{}-{i}", path.prefix());
        let wall = wall_now();
        let t = Instant::now();
        setup.send(wiring, path, &id).await;
        call.push(t.elapsed().as_secs_f64() * 1000.0);
        let r = reporter.wait_for(&id, path.label()).await;
        reported.push(r.at.duration_since(t).as_secs_f64() * 1000.0);
        entered.push((r.entered - wall) * 1000.0);
        tokio::time::sleep(plan.gap).await;
    }
    let cpu = Cpu::now().per(cpu_before, plan.samples);
    Latency {
        path,
        call: Stats::of(&call),
        entered: Stats::of(&entered),
        reported: Stats::of(&reported),
        cpu,
    }
}

/// One throughput run's figures.
struct Throughput {
    batch_size: i32,
    messages: usize,
    invocations: usize,
    duplicates: usize,
    largest_batch: usize,
    /// When the first delivery arrived, and how many messages it carried.
    first: Duration,
    first_batch: usize,
    total: Duration,
    left: usize,
    cpu: Cpu,
    /// [`moto_alone`] at the same batch size.
    reference: f64,
}

/// `plan.messages` messages pre-loaded into a fresh queue, then a mapping with `batch_size`
/// created: until the function has reported every message.
async fn throughput(
    setup: &Setup,
    reporter: &mut Reporter,
    batch_size: i32,
    plan: &Plan,
) -> Throughput {
    eprintln!(
        "events bench: throughput: BatchSize {batch_size}, {} messages",
        plan.messages
    );
    let (url, arn) = setup
        .queue(&format!("events-bench-throughput-{batch_size}"))
        .await;
    let prefix = format!("tp{batch_size}");
    let ids = setup.preload(&url, &prefix, plan.messages).await;
    let mut waiting: HashSet<String> = ids.into_iter().collect();
    reporter.drain();
    let cpu_before = Cpu::now();
    let t = Instant::now();
    let uuid = setup.mapping(&arn, Some(batch_size)).await;
    let mut first = None;
    let mut first_batch = 0;
    let mut invocations = 0;
    let mut duplicates = 0;
    let mut largest_batch = 0;
    while !waiting.is_empty() {
        let Some(r) = reporter.next(STALL_TIMEOUT).await else {
            panic!(
                "BatchSize {batch_size}: no delivery for {STALL_TIMEOUT:?}; {} of {} messages \
                 never reached the function",
                waiting.len(),
                plan.messages
            );
        };
        let ours = r.ids.iter().filter(|i| i.starts_with(&prefix)).count();
        if ours == 0 {
            reporter.skipped += 1;
            continue;
        }
        if first.is_none() {
            first = Some(r.at.duration_since(t));
            first_batch = ours;
        }
        invocations += 1;
        largest_batch = largest_batch.max(r.ids.len());
        for id in &r.ids {
            if !waiting.remove(id) {
                duplicates += 1;
            }
        }
    }
    let total = t.elapsed();
    let cpu = Cpu::now().per(cpu_before, plan.messages);
    // The last batch's DeleteMessageBatch follows the function's answer: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left = setup.depth(&url).await;
        if left == 0 || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    setup.delete_mapping(&uuid).await;
    Throughput {
        batch_size,
        messages: plan.messages,
        invocations,
        duplicates,
        largest_batch,
        first: first.unwrap_or_default(),
        first_batch,
        total,
        left,
        cpu,
        reference: moto_alone(setup, batch_size, plan).await,
    }
}

fn report(
    lat: &[Latency],
    runs: &[Throughput],
    plan: &Plan,
    started: &str,
    skipped: usize,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = &mut out;
    report_head(w, "Event wiring benchmark", plan.quick, started);
    let _ = writeln!(
        w,
        "Latency: {} sequential events per path (one in flight, {} ms between them), after {} \
         unmeasured ones; a `python3.12` function that reports to the benchmark over TCP.\n",
        plan.samples,
        plan.gap.as_millis(),
        plan.warmup
    );
    table(
        w,
        "| Path | Measurement | n | median ms | p90 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|---:|---:|",
        lat.iter().flat_map(|l| {
            [
                ("send call answered", &l.call),
                ("↳ handler entered (function's clock)", &l.entered),
                ("**↳ report received (end to end)**", &l.reported),
            ]
            .map(|(what, s)| {
                format!(
                    "| {} | {what} | {} | {} |",
                    l.path.label(),
                    s.cells(true),
                    ms(s.max)
                )
            })
        }),
    );
    let _ = writeln!(w);
    table(
        w,
        "| Path | CPU ms/event: edge + SDK client | CPU ms/event: function | CPU ms/event: moto_server |",
        "|---|---:|---:|---:|",
        lat.iter().map(|l| {
            format!(
                "| {} | {:.2} | {:.2} | {:.2} |",
                l.path.label(),
                l.cpu.this,
                l.cpu.functions,
                l.cpu.moto
            )
        }),
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "SQS → Lambda throughput: {} messages pre-loaded with `SendMessageBatch`, then \
         `CreateEventSourceMapping` (the clock starts) until the function reported every \
         message id.\n",
        plan.messages
    );
    table(
        w,
        "| BatchSize | messages | invocations | records/invocation (max) | duplicates | first delivery s | all delivered s | msgs/s from create | msgs/s from first delivery | left in queue | CPU ms/msg: edge | CPU ms/msg: function | CPU ms/msg: moto_server | reference: moto_server alone, msgs/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        runs.iter().map(|t| {
            let total = t.total.as_secs_f64();
            let after_first = (t.total - t.first).as_secs_f64();
            format!(
                "| {} | {} | {} | {:.2} ({}) | {} | {:.3} | {:.2} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {:.2} | {:.0} |",
                t.batch_size,
                t.messages,
                t.invocations,
                t.messages as f64 / (t.invocations as f64).max(1.0),
                t.largest_batch,
                t.duplicates,
                t.first.as_secs_f64(),
                total,
                t.messages as f64 / total.max(1e-9),
                // The first batch's messages arrived at `first`: the rest after it.
                t.messages.saturating_sub(t.first_batch) as f64 / after_first.max(1e-9),
                t.left,
                t.cpu.this,
                t.cpu.functions,
                t.cpu.moto,
                t.reference
            )
        }),
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "- \"handler entered\" compares the handler's `time.time()` with the benchmark's \
         clock at the send call's start (one host clock); \"report received\" adds the \
         function's TCP connect and send."
    );
    let _ = writeln!(
        w,
        "- CPU per event/message is from `/proc/PID/stat` (10 ms ticks): \"edge\" is this \
         process, the in-process edge with the SDK clients and the report listener."
    );
    let _ = writeln!(
        w,
        "- The reference drains a queue of the same depth straight at moto_server, as one \
         consumer doing what a mapping's poller does against SQS (`ReceiveMessage` of up to \
         BatchSize with every attribute, then `DeleteMessageBatch`) with no function: the \
         most one poller can get out of this backend. moto's `ReceiveMessage` costs grow with \
         the queue's depth, so these figures depend on `--messages`."
    );
    if skipped > 0 {
        let _ = writeln!(
            w,
            "- {skipped} report(s) arrived that were not the one awaited (duplicate or late \
             deliveries)."
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The check (cargo test) and the run (cargo bench).
// ---------------------------------------------------------------------------------------------

/// The role, the function, the wiring; the function warm.
async fn prepare(setup: &Setup, reporter: &mut Reporter) -> Wiring {
    setup.create_role().await;
    let arn = setup.create_function(reporter.port).await;
    setup.invoke(r#"{"Records": [{"body": "direct-0"}]}"#).await;
    reporter.wait_for("direct-0", "a direct Invoke").await;
    setup.wire(&arn).await
}

/// Each path delivers one event to the function.
async fn check() {
    let t = Instant::now();
    let mut reporter = Reporter::start();
    let setup = Setup::start().await;
    let wiring = prepare(&setup, &mut reporter).await;
    for path in EventPath::ALL {
        let id = format!("{}-check", path.prefix());
        setup.send(&wiring, path, &id).await;
        reporter.wait_for(&id, path.label()).await;
    }
    // And a batch through a mapping with BatchSize 10.
    let (url, arn) = setup.queue("events-bench-check-batch").await;
    let ids = setup.preload(&url, "batch", 3).await;
    let uuid = setup.mapping(&arn, Some(10)).await;
    let mut waiting: HashSet<String> = ids.into_iter().collect();
    while !waiting.is_empty() {
        let Some(r) = reporter.next(DELIVERY_TIMEOUT).await else {
            panic!("BatchSize 10: {waiting:?} never reached the function");
        };
        for id in &r.ids {
            waiting.remove(id);
        }
    }
    setup.delete_mapping(&uuid).await;
    setup.delete_mapping(&wiring.mapping).await;
    setup.stop().await;
    eprintln!(
        "events bench: check passed in {:.1} s (SQS mapping, EventBridge rule and SNS \
         subscription each ran the function)",
        t.elapsed().as_secs_f64()
    );
}

async fn bench(plan: Plan) {
    let started = machine();
    let mut reporter = Reporter::start();
    let setup = Setup::start().await;
    let wiring = prepare(&setup, &mut reporter).await;
    let mut lat = Vec::new();
    for path in EventPath::ALL {
        lat.push(latency(&setup, &wiring, &mut reporter, path, &plan).await);
    }
    // The latency queue's poller stops: nothing else polls during the throughput runs.
    setup.delete_mapping(&wiring.mapping).await;
    let mut runs = Vec::new();
    for batch_size in [1, 10] {
        runs.push(throughput(&setup, &mut reporter, batch_size, &plan).await);
    }
    let text = report(&lat, &runs, &plan, &started, reporter.skipped);
    println!("{text}");
    setup.stop().await;
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let rt = lambda_setup::runtime();
    lambda_setup::killing_children_on_panic(|| {
        if !argv.iter().any(|a| a == "--bench") {
            if check_wanted(&argv, "events") {
                edgestack_testkit::trace_init();
                rt.block_on(check());
            }
            return;
        }
        rt.block_on(bench(Plan::from_args(&argv)));
    });
}
