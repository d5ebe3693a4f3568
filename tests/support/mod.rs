//! Shared helpers for the integration tests: edges on port 0 (built in code or from TOML),
//! recording listeners, SDK clients and the calls several tests make, plain HTTP answers, and
//! child processes (the `edgestack` binary, boto3).
#![allow(dead_code)]

use std::{
    io::BufRead,
    sync::{Arc, Mutex},
    time::Duration,
};

use edgestack::{
    async_trait, http::request::Parts, Body, BodyAccess, Edge, EdgeBuilder, Forward, Listener,
    ListenerError, Request, RequestContext, Response, Upstream,
};

/// A plain-proxy builder listening on 127.0.0.1:0 with `upstream` as the default route
/// ("up"); `.aws(...)` makes it an AWS edge.
pub fn edge_to(upstream: &str) -> EdgeBuilder {
    edgestack_testkit::trace_init();
    Edge::plain_builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .threads(2)
        .upstream(Upstream::new("up", upstream).unwrap())
        .default_route("up")
}

/// A reqwest client with no connection reuse surprises.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Records hook calls into a shared log, and can be told to answer, reroute or fail.
#[derive(Clone)]
pub struct Recorder {
    pub name: &'static str,
    pub log: Arc<Mutex<Vec<String>>>,
    pub action: Action,
    pub access: BodyAccess,
}

#[derive(Clone, Debug)]
pub enum Action {
    Continue,
    Respond(u16, &'static str),
    Reroute(&'static str),
    Fail,
}

impl Recorder {
    pub fn new(name: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Self {
        Recorder {
            name,
            log: log.clone(),
            action: Action::Continue,
            access: BodyAccess::NONE,
        }
    }
    pub fn action(mut self, a: Action) -> Self {
        self.action = a;
        self
    }
    pub fn access(mut self, a: BodyAccess) -> Self {
        self.access = a;
        self
    }
}

#[async_trait]
impl Listener for Recorder {
    fn name(&self) -> &str {
        self.name
    }
    fn body_access(&self, _req: &Parts, _cx: &RequestContext) -> BodyAccess {
        self.access
    }
    async fn forward_request(
        &self,
        _req: &mut Request,
        _cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        self.log.lock().unwrap().push(format!("fwd:{}", self.name));
        Ok(match &self.action {
            Action::Continue => Forward::Continue,
            Action::Respond(code, body) => {
                let mut r = Response::new(Body::from(*body));
                *r.status_mut() = (*code).try_into().unwrap();
                Forward::Respond(r)
            }
            Action::Reroute(to) => Forward::Reroute((*to).into()),
            Action::Fail => return Err(format!("{} refused", self.name).into()),
        })
    }
    async fn return_response(
        &self,
        _req: &Parts,
        resp: &mut Response,
        _cx: &mut RequestContext,
    ) -> Result<(), ListenerError> {
        self.log.lock().unwrap().push(format!("ret:{}", self.name));
        resp.headers_mut()
            .append("x-seen-by", self.name.parse().unwrap());
        Ok(())
    }
}

pub fn new_log() -> Arc<Mutex<Vec<String>>> {
    Arc::new(Mutex::new(Vec::new()))
}

pub fn taken(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A client of SDK crate `sdk` for `endpoint`: test credentials, us-east-1, no retries (so an
/// error is seen as it happened).
macro_rules! sdk_client {
    ($sdk:ident, $endpoint:expr) => {{
        use $sdk::config::{Credentials, Region};
        let conf = $sdk::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "edgestack-tests",
            ))
            .endpoint_url($endpoint)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config($sdk::config::retry::RetryConfig::disabled())
            .build();
        $sdk::Client::from_conf(conf)
    }};
}

/// An aws-sdk-s3 client for `endpoint` (path style, test credentials, no retries, so an
/// error is seen as it happened).
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let client = sdk_client!(aws_sdk_s3, endpoint);
    let conf = client.config().to_builder().force_path_style(true).build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An aws-sdk-dynamodb client for `endpoint` (test credentials, no retries).
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    sdk_client!(aws_sdk_dynamodb, endpoint)
}

/// [`s3_client`] that sends plain bodies: checksums only where S3 requires them, so uploads
/// are not `aws-chunked` (for backends that do not decode it, like s3rver).
pub fn s3_client_plain_bodies(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::RequestChecksumCalculation;
    let conf = s3_client(endpoint)
        .config()
        .to_builder()
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An aws-sdk-sqs client for `endpoint` (test credentials, us-east-1, no retries).
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    sdk_client!(aws_sdk_sqs, endpoint)
}

/// An aws-sdk-sns client for `endpoint` (test credentials, us-east-1, no retries).
pub fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    sdk_client!(aws_sdk_sns, endpoint)
}

/// An aws-sdk-eventbridge client for `endpoint` (test credentials, us-east-1, no retries).
pub fn eventbridge_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    sdk_client!(aws_sdk_eventbridge, endpoint)
}

/// An aws-sdk-dynamodbstreams client for `endpoint` (test credentials, us-east-1, no retries).
pub fn dynamodbstreams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    sdk_client!(aws_sdk_dynamodbstreams, endpoint)
}

/// An aws-sdk-kinesis client for `endpoint` (test credentials, us-east-1, no retries).
pub fn kinesis_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    sdk_client!(aws_sdk_kinesis, endpoint)
}

/// An aws-sdk-apigateway client for `endpoint` (test credentials, us-east-1, no retries).
pub fn apigateway_client(endpoint: &str) -> aws_sdk_apigateway::Client {
    sdk_client!(aws_sdk_apigateway, endpoint)
}

// ---------------------------------------------------------------------------------------------
// Edges configured from TOML.
// ---------------------------------------------------------------------------------------------

/// The `[server]` table of a test edge's TOML: a free port on 127.0.0.1, two threads.
pub const SERVER_TOML: &str = "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 2\n\n";

/// A test edge's TOML: [`SERVER_TOML`], then moto_server at `moto` as upstream `moto` and the
/// default route. Interceptor sections go after it.
pub fn moto_edge_toml(moto: &str) -> String {
    format!("{SERVER_TOML}[upstreams.moto]\nurl = \"{moto}\"\n\n[routes]\ndefault = \"moto\"\n")
}

/// `argv` as a TOML array of strings (a `command = [...]`).
pub fn toml_array(argv: &[String]) -> String {
    serde_json::to_string(argv).unwrap()
}

/// An edge loaded from the TOML `text` and started, without waiting for its upstreams; fails
/// the test, showing `text`, when the configuration is refused or the edge does not start.
pub fn edge_from_toml(text: &str) -> Edge {
    let config = edgestack::load_config(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    EdgeBuilder::from_config(config)
        .start()
        .unwrap_or_else(|e| panic!("edge did not start: {e}\n{text}"))
}

/// [`edge_from_toml`], then waits up to `ready` for every upstream to be ready (fails the test,
/// showing `text`, if one is not).
pub async fn start_edge(text: &str, ready: Duration) -> Edge {
    let edge = edge_from_toml(text);
    assert!(
        edge.wait_ready(ready).await,
        "upstreams not ready within {ready:?}:\n{text}"
    );
    edge
}

/// Checks the configuration errors of one interceptor section: `with(section)` is the whole
/// TOML for a section body. Each `bad` section is refused by `load_config` with an error
/// naming `table` and every one of its keys; each `good` section loads.
pub fn assert_config_errors(
    with: impl Fn(&str) -> String,
    table: &str,
    bad: &[(&str, &[&str])],
    good: &[&str],
) {
    for (section, keys) in bad {
        let text = with(section);
        let err = match edgestack::load_config(&text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        };
        for key in *keys {
            assert!(
                err.contains(table) && err.contains(key),
                "{section:?}: the error does not name the section and `{key}`:\n{err}"
            );
        }
    }
    for section in good {
        let text = with(section);
        if let Err(e) = edgestack::load_config(&text) {
            panic!("rejected {section:?}: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP.
// ---------------------------------------------------------------------------------------------

/// What a plain HTTP request was answered: status, headers and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (fails, showing the answer, when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {:?}\n{}",
                self.status,
                self.headers,
                self.text()
            )
        })
    }

    /// The value of header `name`, if there is one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Every value of header `name`, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }
}

/// Sends `req` and reads the whole answer.
pub async fn call(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

// ---------------------------------------------------------------------------------------------
// SDK calls used by several test files.
// ---------------------------------------------------------------------------------------------

/// The HTTP status of an SDK error's raw response (the error type is the same in every SDK).
pub fn status_of<E>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// A CreateTable request for table `name` keyed by the string hash key `pk`; the caller adds
/// the billing mode or throughput (and anything else) and sends it.
pub fn pk_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    ddb.create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
}

/// A GetItem request for the item of `table` whose string key `pk` is `pk`, ready to send.
pub fn get_item_request(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
    ddb.get_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
}

/// The item of `table` whose string key `pk` is `pk`, if it is there (a consistent read).
pub async fn get_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    get_item_request(ddb, table, pk)
        .consistent_read(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetItem {table}/{pk}: {e:?}"))
        .item
}

/// A TRIM_HORIZON shard iterator on the first shard of Kinesis stream `stream`.
pub async fn trim_horizon_iterator(kin: &aws_sdk_kinesis::Client, stream: &str) -> String {
    let shard = kin
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap()
        .shards()[0]
        .shard_id()
        .to_string();
    kin.get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .unwrap()
        .to_string()
}

/// Creates SQS queue `name` with `attributes`; returns the queue URL the answer gives.
pub async fn create_queue_with(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(aws_sdk_sqs::types::QueueAttributeName, &str)],
) -> String {
    let mut req = sqs.create_queue().queue_name(name);
    for (k, v) in attributes {
        req = req.attributes(k.clone(), *v);
    }
    req.send().await.unwrap().queue_url().unwrap().to_string()
}

/// Creates SQS queue `name`; returns the queue URL the answer gives.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    create_queue_with(sqs, name, &[]).await
}

/// The attributes GetQueueAttributes answers for `queue_url` when asked for `name` (`All`
/// for every one).
pub async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> std::collections::HashMap<aws_sdk_sqs::types::QueueAttributeName, String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(name)
        .send()
        .await
        .unwrap();
    out.attributes().expect("attributes").clone()
}

/// The QueueArn GetQueueAttributes answers for `queue_url`.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    queue_attributes(sqs, queue_url, QueueArn).await[&QueueArn].clone()
}

/// Creates SNS topic `name`; returns its ARN.
pub async fn create_topic(sns: &aws_sdk_sns::Client, name: &str) -> String {
    let out = sns.create_topic().name(name).send().await.unwrap();
    out.topic_arn().unwrap().to_string()
}

/// GetObject of `key` in `bucket` (it must succeed).
pub async fn get_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> aws_sdk_s3::operation::get_object::GetObjectOutput {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e:?}"))
}

/// The body of object `key` in `bucket`.
pub async fn object_body(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let got = get_object(s3, bucket, key).await;
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

// ---------------------------------------------------------------------------------------------
// Child processes: the edgestack binary, boto3.
// ---------------------------------------------------------------------------------------------

/// A `Command` for the `edgestack` binary of this package.
pub fn edgestack_bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_edgestack"))
}

/// A running `edgestack` that is stopped if the test fails before it stops it: SIGTERM (so it
/// stops its managed backends too), then SIGKILL after 10 s.
pub struct Running(pub std::process::Child);

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A running `edgestack` binary: its log lines (stderr) as they come, and the address of its
/// `listening on` line.
pub struct EdgestackProcess {
    /// The process.
    pub child: Running,
    lines: std::sync::mpsc::Receiver<String>,
    /// The log lines read so far.
    pub log: Vec<String>,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl EdgestackProcess {
    /// Starts `cmd` and waits for its `listening on` line.
    pub fn start(mut cmd: std::process::Command) -> EdgestackProcess {
        let mut child = cmd
            .env("EDGESTACK_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map(Running)
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut e = EdgestackProcess {
            child,
            lines,
            log: Vec::new(),
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        e.addr = loop {
            let line = e.next_line();
            if let Some(a) = line.split("listening on http://").nth(1) {
                break a.trim().parse().unwrap();
            }
        };
        e
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn next_line(&mut self) -> String {
        let l = self
            .lines
            .recv_timeout(std::time::Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("no more log lines; so far:\n{}", self.log.join("\n")));
        self.log.push(l.clone());
        l
    }

    /// Reads log lines until one contains `want`; returns its index in the log.
    pub fn wait_for_line(&mut self, want: &str) -> usize {
        loop {
            if let Some(i) = self.log.iter().position(|l| l.contains(want)) {
                return i;
            }
            self.next_line();
        }
    }

    /// Reads log lines until one contains `want`; returns that line.
    pub fn line_with(&mut self, want: &str) -> String {
        let i = self.wait_for_line(want);
        self.log[i].clone()
    }

    /// The first stdout line (`Ready.`).
    pub fn ready_line(&mut self) -> String {
        let out = self.child.stdout.take().unwrap();
        std::io::BufReader::new(out)
            .lines()
            .next()
            .unwrap()
            .unwrap()
    }

    /// SIGTERM, then the exit status (within 60 s).
    pub fn terminate(&mut self) -> Option<i32> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                // The rest of the log, for the assertions on it.
                while let Ok(l) = self
                    .lines
                    .recv_timeout(std::time::Duration::from_millis(500))
                {
                    self.log.push(l);
                }
                return s.code();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "edgestack did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while matches!(self.0.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Fails the test unless the finished child `out` succeeded, showing `what` and its stderr.
pub fn assert_success(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python with boto3 (`testkit::deps::python`), checked to import boto3.
pub fn boto3_python() -> String {
    let py = edgestack_testkit::deps::python().display().to_string();
    let ok = std::process::Command::new(&py)
        .args(["-c", "import boto3"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{py} cannot import boto3. Install it with:  python3 -m venv .venv && .venv/bin/pip install boto3 \
         (scripts/test does this)"
    );
    py
}

/// Runs the Python `script` with `py` and `args` (its `sys.argv[1..]`); fails the test unless
/// it succeeds, and returns what it printed, parsed as JSON.
pub async fn run_boto3(py: &str, script: &str, args: &[&str]) -> serde_json::Value {
    let out = tokio::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .unwrap();
    assert_success(&out, "boto3 failed");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Sends `bytes` in one write on a new connection to `addr` and returns everything the server
/// sent until it closed the connection (10 s at most).
pub fn send_and_read_to_end(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(bytes).expect("send");
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    String::from_utf8_lossy(&all).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Lambda: clients, roles, zips, cache directories.
// ---------------------------------------------------------------------------------------------

/// An aws-sdk-lambda client for `endpoint` (test credentials, us-east-1, no retries).
pub fn lambda_client(endpoint: &str) -> aws_sdk_lambda::Client {
    sdk_client!(aws_sdk_lambda, endpoint)
}

/// Creates `lambda-role` in moto's IAM through the edge at `edge_url` (a raw query call),
/// failing the test if IAM refuses it. Returns the answer's text (it holds the role's ARN).
pub async fn create_lambda_role(edge_url: &str) -> String {
    let answer = call(
        client()
            .post(edge_url)
            .header("authorization", edgestack_testkit::fake_sigv4("iam"))
            .form(&edgestack_testkit::iam::create_lambda_role_form(
                "lambda-role",
            )),
    )
    .await;
    assert_eq!(answer.status, 200, "CreateRole: {}", answer.text());
    answer.text()
}

/// A zip holding one file `name` with `text` (no unix mode).
pub fn zip_one(name: &str, text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(name, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

/// A fresh directory of one test (a Lambda code cache, files functions write), removed with
/// everything in it when dropped.
pub struct TestDir(pub std::path::PathBuf);

impl TestDir {
    /// A new empty directory under the system's temp dir, its name starting with `what`.
    pub fn new(what: &str) -> TestDir {
        use std::hash::{BuildHasher, Hasher};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        // Random bits from the std hasher's keys: two tests in the same nanosecond differ.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        let dir = std::env::temp_dir().join(format!(
            "edgestack-{what}-{}-{nanos}-{:08x}",
            std::process::id(),
            h.finish() as u32
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        /// Makes everything under `p` writable again (extracted code may not be).
        fn writable(p: &std::path::Path) {
            use std::os::unix::fs::PermissionsExt;
            let Ok(meta) = std::fs::symlink_metadata(p) else {
                return;
            };
            if meta.file_type().is_symlink() {
                return;
            }
            let mut perms = meta.permissions();
            perms.set_mode(perms.mode() | 0o700);
            let _ = std::fs::set_permissions(p, perms);
            if meta.is_dir() {
                for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                    writable(&e.path());
                }
            }
        }
        writable(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
