//! SNS delivery owned by the edge (`[interceptors.sns]`) against a real moto_server:
//!
//! - HTTP subscriptions: `Subscribe` answers `pending confirmation` and POSTs a
//!   `SubscriptionConfirmation` (with the `x-amz-sns-*` headers and a `SubscribeURL` on the
//!   edge); nothing is delivered before confirmation; after it (via `SubscribeURL` or the
//!   `ConfirmSubscription` API) exactly one `Notification` POST per `Publish`, with the
//!   headers; raw delivery; a filter policy dropping a non-matching message; `Unsubscribe`
//!   stopping delivery; the edge subscriptions listed and
//!   described; an SQS subscription on moto still delivered exactly once per message.
//! - Signatures: the confirmation and notifications (SignatureVersion 1, and 2 after
//!   `SetTopicAttributes`) verify, with Python's `cryptography`, against the certificate
//!   fetched from `SigningCertURL`; a changed message does not.
//! - HTTPS subscriptions: a Python `https` server with a self-signed certificate gets the
//!   confirmation and the notification (certificates not checked by default); with
//!   `verify_https = true` it gets nothing.
//! - `DeliveryPolicy` (retries, `Content-Type`) and `RedrivePolicy`: a failing endpoint gets
//!   exactly 1 + `numRetries` POSTs, then the message lands in the dead-letter queue.
//! - Lambda subscriptions: a real python function (run by `[interceptors.lambda]`) gets the
//!   `Records[].Sns` event, with attributes and moto's MessageId.
//!
//! Needs moto_server (`scripts/install-deps`) and python3.

mod support;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_sdk_sns::types::MessageAttributeValue;
use edgestack::Edge;
use edgestack_testkit::MotoServer;
use serde_json::Value;
use support::TestDir;

/// moto's default account.
const ACCOUNT: &str = "123456789012";
/// How long a test waits for a delivery it expects.
const WAIT: Duration = Duration::from_secs(15);
/// How long a test waits to be sure a delivery does not come.
const QUIET: Duration = Duration::from_millis(700);

/// One request an HTTP subscriber received.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// An HTTP subscriber on 127.0.0.1:0 recording every request and answering 200.
struct Sink {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let recorded = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let recorded = recorded.clone();
                        async move { record(req, recorded).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Sink { addr, hits, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn on(&self, path: &str) -> Vec<Hit> {
        hits_on(&self.hits, path)
    }

    async fn wait_for(&self, path: &str, n: usize) -> Vec<Hit> {
        wait_for_hits(&self.hits, path, n).await
    }
}

/// The hits on `path` so far.
fn hits_on(hits: &Mutex<Vec<Hit>>, path: &str) -> Vec<Hit> {
    hits.lock()
        .unwrap()
        .iter()
        .filter(|h| h.path == path)
        .cloned()
        .collect()
}

/// Waits until `path` has `n` hits; fails the test after [`WAIT`].
async fn wait_for_hits(hits: &Mutex<Vec<Hit>>, path: &str, n: usize) -> Vec<Hit> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = hits_on(hits, path);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {} of {n} requests within {WAIT:?}: {got:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    req: hyper::Request<hyper::body::Incoming>,
    hits: Arc<Mutex<Vec<Hit>>>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let failing = path.starts_with("/fail");
    hits.lock().unwrap().push(Hit {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut resp = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
    if failing {
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    }
    Ok(resp)
}

/// moto_server, and an edge with `sns_keys` (more keys of `[interceptors.sns]`) in front of
/// it.
async fn start(sns_keys: &str) -> (MotoServer, Edge, aws_sdk_sns::Client) {
    let moto = MotoServer::start();
    let text = format!(
        "{}\n[interceptors.sns]\n{sns_keys}\n[interceptors.sns.http_retry]\ndelay = \"50ms\"\n",
        support::moto_edge_toml(&moto.url())
    );
    let edge = support::start_edge(&text, Duration::from_secs(60)).await;
    let sns = support::sns_client(&edge.url());
    (moto, edge, sns)
}

async fn publish(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    message: &str,
    color: Option<&str>,
) -> String {
    let mut call = sns.publish().topic_arn(topic).message(message);
    if let Some(c) = color {
        call = call.message_attributes(
            "color",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(c)
                .build()
                .unwrap(),
        );
    }
    call.send().await.unwrap().message_id().unwrap().to_string()
}

async fn subscribe_http(sns: &aws_sdk_sns::Client, topic: &str, url: &str) -> String {
    let out = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("http")
        .endpoint(url)
        .send()
        .await
        .unwrap();
    out.subscription_arn().unwrap().to_string()
}

/// Confirms the subscription `token` names; its ARN.
async fn confirm(sns: &aws_sdk_sns::Client, topic: &str, token: &str) -> String {
    sns.confirm_subscription()
        .topic_arn(topic)
        .token(token)
        .send()
        .await
        .unwrap()
        .subscription_arn()
        .unwrap()
        .to_string()
}

/// The attributes of subscription `arn`.
async fn subscription_attributes(sns: &aws_sdk_sns::Client, arn: &str) -> HashMap<String, String> {
    sns.get_subscription_attributes()
        .subscription_arn(arn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_subscriptions_confirm_then_get_one_post_per_publish() {
    let (_moto, edge, sns) = start("").await;
    let sink = Sink::start().await;
    let topic = support::create_topic(&sns, "orders").await;
    let http = support::client();

    // An unknown topic: moto's NotFound.
    let err = sns
        .subscribe()
        .topic_arn(format!("arn:aws:sns:us-east-1:{ACCOUNT}:nope"))
        .protocol("http")
        .endpoint(sink.url("/x"))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("NotFound"), "{err:?}");

    // Subscribe: pending, and a SubscriptionConfirmation POST.
    assert_eq!(
        subscribe_http(&sns, &topic, &sink.url("/hook")).await,
        "pending confirmation"
    );
    let confirmation = sink.wait_for("/hook", 1).await.remove(0);
    assert_eq!(
        confirmation.header("x-amz-sns-message-type"),
        "SubscriptionConfirmation"
    );
    assert_eq!(confirmation.header("x-amz-sns-topic-arn"), topic);
    assert!(!confirmation.header("x-amz-sns-message-id").is_empty());
    assert_eq!(
        confirmation.header("content-type"),
        "text/plain; charset=UTF-8"
    );
    let c = confirmation.json();
    assert_eq!(c["Type"], "SubscriptionConfirmation");
    assert_eq!(c["TopicArn"], topic.as_str());
    assert_eq!(c["MessageId"], confirmation.header("x-amz-sns-message-id"));
    for key in [
        "Token",
        "Message",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertURL",
    ] {
        assert!(c[key].is_string(), "{key}: {c}");
    }
    let subscribe_url = c["SubscribeURL"].as_str().unwrap().to_string();
    assert!(
        subscribe_url.starts_with(&format!("{}/?Action=ConfirmSubscription&", edge.url())),
        "{subscribe_url}"
    );

    // Nothing before confirmation.
    publish(&sns, &topic, "too early", None).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.on("/hook").len(), 1, "a POST before confirmation");

    // Confirm with a plain GET of SubscribeURL, as a subscriber does.
    let answer = support::call(http.get(&subscribe_url)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let sub_arn = answer
        .text()
        .split("<SubscriptionArn>")
        .nth(1)
        .and_then(|s| s.split("</SubscriptionArn>").next())
        .unwrap()
        .to_string();
    assert!(sub_arn.starts_with(&format!("{topic}:")), "{sub_arn}");

    // Exactly one Notification POST per Publish, with the headers.
    let id1 = publish(&sns, &topic, "first", Some("red")).await;
    let id2 = publish(&sns, &topic, "second", None).await;
    let hits = sink.wait_for("/hook", 3).await;
    tokio::time::sleep(QUIET).await;
    let hits_after = sink.on("/hook");
    assert_eq!(hits_after.len(), 3, "{hits_after:?}");
    for (hit, (id, text)) in hits[1..].iter().zip([(&id1, "first"), (&id2, "second")]) {
        assert_eq!(hit.header("x-amz-sns-message-type"), "Notification");
        assert_eq!(hit.header("x-amz-sns-message-id"), id);
        assert_eq!(hit.header("x-amz-sns-topic-arn"), topic);
        assert_eq!(hit.header("x-amz-sns-subscription-arn"), sub_arn);
        let n = hit.json();
        assert_eq!(n["Type"], "Notification");
        assert_eq!(n["MessageId"], id.as_str());
        assert_eq!(n["Message"], text);
        assert!(n["UnsubscribeURL"]
            .as_str()
            .unwrap()
            .contains("Action=Unsubscribe"));
    }
    assert_eq!(hits[1].json()["MessageAttributes"]["color"]["Value"], "red");

    // Raw delivery + a filter policy, confirmed through the API.
    let out = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(sink.url("/raw"))
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"color":["blue"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(out.subscription_arn(), Some("pending confirmation"));
    let token = sink.wait_for("/raw", 1).await[0].json()["Token"]
        .as_str()
        .unwrap()
        .to_string();
    let raw_arn = confirm(&sns, &topic, &token).await;
    let attrs = subscription_attributes(&sns, &raw_arn).await;
    assert_eq!(attrs["RawMessageDelivery"], "true");
    assert_eq!(attrs["PendingConfirmation"], "false");
    assert_eq!(attrs["Protocol"], "http");
    publish(&sns, &topic, "not blue", Some("red")).await;
    publish(&sns, &topic, "blue one", Some("blue")).await;
    let raw = sink.wait_for("/raw", 2).await;
    assert_eq!(raw[1].body, "blue one");
    assert_eq!(raw[1].header("x-amz-sns-rawdelivery"), "true");
    assert_eq!(raw[1].header("x-amz-sns-subscription-arn"), raw_arn);
    tokio::time::sleep(QUIET).await;
    assert_eq!(
        sink.on("/raw").len(),
        2,
        "the red message passed the filter"
    );
    assert_eq!(sink.on("/hook").len(), 5);

    // PublishBatch: one POST per entry, with moto's message ids, filtered per subscription.
    let entry = |id: &str, color: &str| {
        aws_sdk_sns::types::PublishBatchRequestEntry::builder()
            .id(id)
            .message(format!("batch {id}"))
            .message_attributes(
                "color",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(color)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let batch = sns
        .publish_batch()
        .topic_arn(&topic)
        .publish_batch_request_entries(entry("a", "red"))
        .publish_batch_request_entries(entry("b", "blue"))
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = batch
        .successful()
        .iter()
        .filter_map(|s| s.message_id())
        .collect();
    let hook = sink.wait_for("/hook", 7).await;
    let got: Vec<&str> = hook[5..]
        .iter()
        .map(|h| h.header("x-amz-sns-message-id"))
        .collect();
    assert_eq!(got, ids);
    let raw = sink.wait_for("/raw", 3).await;
    assert_eq!(raw[2].body, "batch b");

    // Listed with moto's own subscriptions.
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = listed
        .subscriptions()
        .iter()
        .filter_map(|s| s.subscription_arn())
        .collect();
    assert!(
        arns.contains(&sub_arn.as_str()) && arns.contains(&raw_arn.as_str()),
        "{arns:?}"
    );

    // Unsubscribe stops delivery.
    sns.unsubscribe()
        .subscription_arn(&sub_arn)
        .send()
        .await
        .unwrap();
    sns.unsubscribe()
        .subscription_arn(&raw_arn)
        .send()
        .await
        .unwrap();
    publish(&sns, &topic, "after", Some("blue")).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.on("/hook").len(), 7);
    assert_eq!(sink.on("/raw").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_http_endpoints_get_the_retry_policy_then_deleted_topics_drop_them() {
    // http_retry: 3 retries (AWS's default), 50 ms apart.
    let (_moto, _edge, sns) = start("").await;
    let sink = Sink::start().await;
    let topic = support::create_topic(&sns, "flaky").await;
    subscribe_http(&sns, &topic, &sink.url("/fail")).await;
    // The confirmation itself is retried: 1 + 3 tries, then no more.
    let tries = sink.wait_for("/fail", 4).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.on("/fail").len(), 4);
    let token = tries[0].json()["Token"].as_str().unwrap().to_string();
    assert!(tries.iter().all(|t| t.json()["Token"] == token.as_str()));
    let arn = confirm(&sns, &topic, &token).await;
    let id = publish(&sns, &topic, "retried", None).await;
    let tries = sink.wait_for("/fail", 8).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.on("/fail").len(), 8);
    assert!(tries[4..]
        .iter()
        .all(|t| t.header("x-amz-sns-message-id") == id));

    // DeleteTopic drops the edge subscriptions.
    sns.delete_topic().topic_arn(&topic).send().await.unwrap();
    let listed = sns.list_subscriptions().send().await.unwrap();
    assert!(
        listed
            .subscriptions()
            .iter()
            .all(|s| s.subscription_arn() != Some(arn.as_str())),
        "{listed:?}"
    );
    let err = sns
        .get_subscription_attributes()
        .subscription_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("NotFound"), "{err:?}");
}

/// Checks an SNS message's signature as a subscriber does (the AWS documentation's recipe,
/// with Python's `cryptography`, not edgestack's code): argv = certificate file, message file.
const VERIFY_PY: &str = r#"import base64, json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
m = json.load(open(sys.argv[2]))
if m["Type"] == "Notification":
    fields = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
else:
    fields = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
text = "".join(f"{k}\n{m[k]}\n" for k in fields if k in m)
digest = hashes.SHA256() if m["SignatureVersion"] == "2" else hashes.SHA1()
cert.public_key().verify(base64.b64decode(m["Signature"]), text.encode(), padding.PKCS1v15(), digest)
"#;

/// Whether `message`'s signature verifies against the certificate at its `SigningCertURL`.
async fn signature_verifies(dir: &TestDir, message: &Value) -> bool {
    let cert_url = message["SigningCertURL"].as_str().unwrap();
    let cert = support::client().get(cert_url).send().await.unwrap();
    assert_eq!(cert.status(), 200, "{cert_url}");
    let cert = cert.text().await.unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    static FILES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (cert_file, message_file, script) = (
        dir.path().join(format!("cert-{n}.pem")),
        dir.path().join(format!("message-{n}.json")),
        dir.path().join("verify.py"),
    );
    std::fs::write(&cert_file, cert).unwrap();
    std::fs::write(&message_file, message.to_string()).unwrap();
    std::fs::write(&script, VERIFY_PY).unwrap();
    let out = std::process::Command::new(edgestack_testkit::deps::python())
        .arg(&script)
        .arg(&cert_file)
        .arg(&message_file)
        .output()
        .unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("InvalidSignature"), "verify.py failed: {err}");
    }
    out.status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_signed_and_verify_against_the_served_certificate() {
    let (_moto, _edge, sns) = start("").await;
    let sink = Sink::start().await;
    let dir = TestDir::new("sns-signing");
    let topic = support::create_topic(&sns, "signed").await;
    subscribe_http(&sns, &topic, &sink.url("/hook")).await;
    let confirmation = sink.wait_for("/hook", 1).await[0].json();
    assert_eq!(confirmation["Type"], "SubscriptionConfirmation");
    assert_eq!(confirmation["SignatureVersion"], "1");
    assert!(
        signature_verifies(&dir, &confirmation).await,
        "{confirmation}"
    );
    let url = confirmation["SubscribeURL"].as_str().unwrap();
    assert_eq!(
        support::client().get(url).send().await.unwrap().status(),
        200
    );

    // Version 1 (SHA1withRSA), with and without a subject.
    publish(&sns, &topic, "one", None).await;
    sns.publish()
        .topic_arn(&topic)
        .subject("with a subject")
        .message("two")
        .send()
        .await
        .unwrap();
    let hits = sink.wait_for("/hook", 3).await;
    for hit in &hits[1..3] {
        let n = hit.json();
        assert_eq!(n["SignatureVersion"], "1");
        assert!(signature_verifies(&dir, &n).await, "{n}");
        // A changed message no longer verifies.
        let mut forged = n.clone();
        forged["Message"] = Value::String("forged".into());
        assert!(!signature_verifies(&dir, &forged).await);
    }
    assert_eq!(hits[2].json()["Subject"], "with a subject");

    // Version 2 (SHA256withRSA) once the topic says so.
    sns.set_topic_attributes()
        .topic_arn(&topic)
        .attribute_name("SignatureVersion")
        .attribute_value("2")
        .send()
        .await
        .unwrap();
    publish(&sns, &topic, "three", None).await;
    let n = sink.wait_for("/hook", 4).await[3].json();
    assert_eq!(n["SignatureVersion"], "2");
    assert!(signature_verifies(&dir, &n).await, "{n}");
    // And from CreateTopic's attributes.
    let v2 = sns
        .create_topic()
        .name("signed-v2")
        .attributes("SignatureVersion", "2")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    subscribe_http(&sns, &v2, &sink.url("/v2")).await;
    let c = sink.wait_for("/v2", 1).await[0].json();
    assert_eq!(c["SignatureVersion"], "2");
    assert!(signature_verifies(&dir, &c).await, "{c}");
}

/// An HTTPS subscriber: Python's `http.server` behind TLS with a fresh self-signed
/// certificate (made with `cryptography`); prints its port, then one JSON line per POST.
const HTTPS_SINK_PY: &str = r#"import datetime, http.server, json, ssl, sys, tempfile
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256()))
d = tempfile.mkdtemp()
open(d + "/c.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(d + "/k.pem", "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
        print(json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}), flush=True)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + "/c.pem", d + "/k.pem")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// The Python HTTPS subscriber, its port, and the requests it printed so far.
struct HttpsSink {
    child: std::process::Child,
    port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
    _dir: TestDir,
}

impl HttpsSink {
    fn start() -> HttpsSink {
        use std::io::BufRead;
        let dir = TestDir::new("sns-https");
        let script = dir.path().join("sink.py");
        std::fs::write(&script, HTTPS_SINK_PY).unwrap();
        let mut child = std::process::Command::new(edgestack_testkit::deps::python())
            .arg(&script)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines
            .next()
            .expect("the https sink printed its port")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let recorded = hits.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line).unwrap();
                recorded.lock().unwrap().push(Hit {
                    path: v["path"].as_str().unwrap().to_string(),
                    headers: serde_json::from_value(v["headers"].clone()).unwrap(),
                    body: v["body"].as_str().unwrap().to_string(),
                });
            }
        });
        HttpsSink {
            child,
            port,
            hits,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    async fn wait_for(&self, path: &str, n: usize) -> Vec<Hit> {
        wait_for_hits(&self.hits, path, n).await
    }
}

impl Drop for HttpsSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_subscriptions_deliver_and_verify_https_refuses_self_signed_endpoints() {
    let (_moto, _edge, sns) = start("").await;
    let sink = HttpsSink::start();
    let dir = TestDir::new("sns-https-verify");
    let topic = support::create_topic(&sns, "secure").await;
    // The endpoint's scheme must match the protocol.
    let err = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("https")
        .endpoint("http://localhost/x")
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("not an https:// URL"),
        "{err:?}"
    );
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("https")
        .endpoint(sink.url("/hook"))
        .send()
        .await
        .unwrap();
    let c = sink.wait_for("/hook", 1).await[0].clone();
    assert_eq!(
        c.header("x-amz-sns-message-type"),
        "SubscriptionConfirmation"
    );
    let c = c.json();
    let confirmed = support::client()
        .get(c["SubscribeURL"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    let id = publish(&sns, &topic, "over tls", None).await;
    let n = sink.wait_for("/hook", 2).await[1].clone();
    assert_eq!(n.header("x-amz-sns-message-id"), id);
    let n = n.json();
    assert_eq!(n["Message"], "over tls");
    assert!(signature_verifies(&dir, &n).await);
    let listed = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.subscriptions()[0].protocol(), Some("https"));

    // With verify_https the self-signed endpoint gets nothing (the confirmation's tries fail).
    let (_moto2, edge2, sns2) = start("verify_https = true").await;
    let topic2 = support::create_topic(&sns2, "checked").await;
    sns2.subscribe()
        .topic_arn(&topic2)
        .protocol("https")
        .endpoint(sink.url("/checked"))
        .send()
        .await
        .unwrap();
    // 1 + 3 tries 50 ms apart, each refused at the TLS handshake, then counted as failed.
    let metrics = format!("{}/_edgestack/metrics", edge2.url());
    let deadline = Instant::now() + WAIT;
    while !support::client()
        .get(&metrics)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .contains(r#"edgestack_sns_deliveries_total{outcome="failed",protocol="https"} 1"#)
    {
        assert!(
            Instant::now() < deadline,
            "the https confirmation did not fail"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hits_on(&sink.hits, "/checked").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_policy_retries_then_the_redrive_policy_dead_letters() {
    let (_moto, edge, sns) = start("").await;
    let sqs = support::sqs_client(&edge.url());
    let sink = Sink::start().await;
    let topic = support::create_topic(&sns, "policies").await;
    let dlq = support::create_queue(&sqs, "sns-dlq").await;
    let dlq_arn = support::queue_arn(&sqs, &dlq).await;
    let policy = r#"{"healthyRetryPolicy":{"numRetries":2,"minDelayTarget":1,"maxDelayTarget":1},"requestPolicy":{"headerContentType":"application/json"}}"#;
    // Invalid policies are refused at Subscribe.
    let err = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(sink.url("/fail"))
        .attributes(
            "DeliveryPolicy",
            r#"{"healthyRetryPolicy":{"numRetries":101}}"#,
        )
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("at most 100"), "{err:?}");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("http")
        .endpoint(sink.url("/fail"))
        .attributes("DeliveryPolicy", policy)
        .attributes(
            "RedrivePolicy",
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}"}}"#),
        )
        .send()
        .await
        .unwrap();
    // The confirmation follows the policy: 1 + 2 tries, 1 s apart, as application/json.
    let tries = sink.wait_for("/fail", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.on("/fail").len(), 3);
    assert!(tries
        .iter()
        .all(|t| t.header("content-type") == "application/json"));
    let token = tries[0].json()["Token"].as_str().unwrap().to_string();
    let arn = confirm(&sns, &topic, &token).await;
    let attributes = subscription_attributes(&sns, &arn).await;
    assert_eq!(attributes["DeliveryPolicy"], policy);
    assert!(attributes["RedrivePolicy"].contains(&dlq_arn));

    // A notification: 1 + 2 POSTs, then the dead-letter queue gets it.
    let id = publish(&sns, &topic, "undeliverable", None).await;
    let deadline = Instant::now() + WAIT;
    let got = loop {
        let got = sqs
            .receive_message()
            .queue_url(&dlq)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(m) = got.messages().first() {
            break m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nothing in the dead-letter queue"
        );
    };
    let tries = sink.on("/fail");
    assert_eq!(tries.len(), 6, "{tries:?}");
    assert!(tries[3..]
        .iter()
        .all(|t| t.header("x-amz-sns-message-id") == id));
    let body: Value = serde_json::from_str(got.body().unwrap()).unwrap();
    assert_eq!(body["MessageId"], id.as_str());
    assert_eq!(body["Message"], "undeliverable");
    let attrs = got.message_attributes().unwrap();
    assert_eq!(attrs["ErrorCode"].string_value(), Some("DeliveryFailed"));
    assert!(attrs["ErrorMessage"]
        .string_value()
        .unwrap()
        .contains("answered 500"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_subscriptions_on_moto_deliver_exactly_once() {
    let (_moto, edge, sns) = start("").await;
    let sqs = support::sqs_client(&edge.url());
    let sink = Sink::start().await;
    let topic = support::create_topic(&sns, "fanout").await;
    let queue = support::create_queue(&sqs, "fanout-q").await;
    let queue_arn = support::queue_arn(&sqs, &queue).await;
    let sub = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();
    assert!(sub.subscription_arn().unwrap().starts_with(&topic));
    // An HTTP subscriber alongside it does not change what moto delivers.
    subscribe_http(&sns, &topic, &sink.url("/h")).await;
    for i in 0..3 {
        publish(&sns, &topic, &format!("m{i}"), None).await;
    }
    let mut bodies = Vec::new();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            let v: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            bodies.push(v["Message"].as_str().unwrap().to_string());
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if bodies.len() >= 3 && out.messages().is_empty() {
            break;
        }
    }
    bodies.sort();
    assert_eq!(bodies, ["m0", "m1", "m2"]);
}

/// `app.py`: appends each event it gets to the file `$OUT`.
const APP_PY: &str = r#"import json, os

def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\n")
    return {"ok": True}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_subscriptions_run_the_function_with_the_sns_event() {
    let cache = TestDir::new("sns-test-cache");
    let out_dir = TestDir::new("sns-test-out");
    let out = out_dir.path().join("events.jsonl");
    let (_moto, edge, sns) = start(&format!(
        "[interceptors.lambda]\ncache_dir = \"{}\"\n",
        cache.path().display()
    ))
    .await;
    support::create_lambda_role(&edge.url()).await;
    let lambda = support::lambda_client(&edge.url());
    let function = lambda
        .create_function()
        .function_name("on-sns")
        .runtime(aws_sdk_lambda::types::Runtime::from("python3.12"))
        .role(format!("arn:aws:iam::{ACCOUNT}:role/lambda-role"))
        .handler("app.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(support::zip_one(
                    "app.py", APP_PY,
                )))
                .build(),
        )
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("OUT", out.display().to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let function_arn = function.function_arn().unwrap().to_string();

    let topic = support::create_topic(&sns, "to-lambda").await;
    let sub_arn = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("lambda")
        .endpoint(&function_arn)
        .attributes("FilterPolicy", r#"{"color":["red"]}"#)
        .send()
        .await
        .unwrap()
        .subscription_arn()
        .unwrap()
        .to_string();
    assert!(sub_arn.starts_with(&format!("{topic}:")), "{sub_arn}");
    publish(&sns, &topic, "filtered out", Some("green")).await;
    let id = sns
        .publish()
        .topic_arn(&topic)
        .subject("hello")
        .message("for the function")
        .message_attributes(
            "color",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("red")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .message_id()
        .unwrap()
        .to_string();

    let deadline = Instant::now() + Duration::from_secs(25);
    let events = loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if !text.is_empty() {
            break text;
        }
        assert!(Instant::now() < deadline, "the function did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(QUIET).await;
    let events = std::fs::read_to_string(&out).unwrap_or(events);
    let lines: Vec<&str> = events.lines().collect();
    assert_eq!(lines.len(), 1, "{events}");
    let event: Value = serde_json::from_str(lines[0]).unwrap();
    let record = &event["Records"][0];
    assert_eq!(record["EventSource"], "aws:sns");
    assert_eq!(record["EventVersion"], "1.0");
    assert_eq!(record["EventSubscriptionArn"], sub_arn.as_str());
    let s = &record["Sns"];
    assert_eq!(s["Type"], "Notification");
    assert_eq!(s["MessageId"], id.as_str());
    assert_eq!(s["TopicArn"], topic.as_str());
    assert_eq!(s["Subject"], "hello");
    assert_eq!(s["Message"], "for the function");
    assert_eq!(s["SignatureVersion"], "1");
    assert_eq!(
        s["MessageAttributes"]["color"],
        serde_json::json!({"Type": "String", "Value": "red"})
    );
    for key in ["Timestamp", "Signature", "SigningCertUrl", "UnsubscribeUrl"] {
        assert!(s[key].is_string(), "{key}: {s}");
    }

    // Unsubscribe stops delivery.
    sns.unsubscribe()
        .subscription_arn(&sub_arn)
        .send()
        .await
        .unwrap();
    publish(&sns, &topic, "after", Some("red")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_subscriptions_to_another_sqs_upstream_are_delivered_by_the_edge() {
    // SNS on one moto_server, SQS on another: moto cannot reach those queues.
    let sns_moto = MotoServer::start();
    let sqs_moto = MotoServer::start();
    let text = format!(
        "{}[upstreams.sns-moto]\nurl = \"{}\"\n\n[upstreams.sqs-moto]\nurl = \"{}\"\n\n\
         [routes]\ndefault = \"sns-moto\"\nsqs = \"sqs-moto\"\n\n[interceptors.sns]\n",
        support::SERVER_TOML,
        sns_moto.url(),
        sqs_moto.url()
    );
    let edge = support::start_edge(&text, Duration::from_secs(60)).await;
    let sns = support::sns_client(&edge.url());
    let sqs = support::sqs_client(&edge.url());
    let topic = support::create_topic(&sns, "cross").await;
    let queue = support::create_queue(&sqs, "cross-q").await;
    let queue_arn = support::queue_arn(&sqs, &queue).await;
    let raw_queue = support::create_queue(&sqs, "cross-raw").await;
    let raw_arn = support::queue_arn(&sqs, &raw_queue).await;
    let sub = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();
    let sub_arn = sub.subscription_arn().unwrap().to_string();
    assert!(sub_arn.starts_with(&format!("{topic}:")), "{sub_arn}");
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&raw_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let id = publish(&sns, &topic, "m0", Some("red")).await;
    publish(&sns, &topic, "m1", None).await;

    let receive = |url: String| {
        let sqs = sqs.clone();
        async move {
            let mut got = Vec::new();
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .message_attribute_names("All")
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                for m in out.messages() {
                    got.push(m.clone());
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                }
                if got.len() >= 2 && out.messages().is_empty() {
                    break;
                }
            }
            got
        }
    };
    let got = receive(queue.clone()).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let first: Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(first["Type"], "Notification");
    assert_eq!(first["MessageId"], id.as_str());
    assert_eq!(first["TopicArn"], topic.as_str());
    assert_eq!(first["Message"], "m0");
    assert_eq!(first["MessageAttributes"]["color"]["Value"], "red");
    let raw = receive(raw_queue.clone()).await;
    let bodies: Vec<&str> = raw.iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["m0", "m1"]);
    let color = raw[0].message_attributes().unwrap()["color"].clone();
    assert_eq!(color.string_value(), Some("red"));
}

#[test]
fn settings_are_checked() {
    let with = |section: &str| {
        format!(
            "{}[interceptors.sns]\n{section}\n",
            support::moto_edge_toml("http://127.0.0.1:5000")
        )
    };
    support::assert_config_errors(
        with,
        "interceptors.sns",
        &[
            ("queue_capacity = 0", &["queue_capacity"]),
            ("http_timeout = \"0s\"", &["http_timeout"]),
            (
                "[interceptors.sns.retry]\ninitial_backoff = \"2s\"\nmax_backoff = \"1s\"",
                &["retry.max_backoff"],
            ),
            ("[interceptors.sns.http_retry]\nretries = 1000", &["http_retry.retries"]),
            ("unknown = 1", &["unknown"]),
        ],
        &[
            "",
            "queue_capacity = 5\nmax_subscriptions = 10\nhttp_timeout = \"2s\"\n\
             [interceptors.sns.http_retry]\nretries = 0\ndelay = \"1ms\"\n\
             [interceptors.sns.retry]\ninitial_backoff = \"10ms\"\nmax_backoff = \"1s\"\nmax_attempts = 5",
        ],
    );
}

/// `[aws] external_url` (LocalStack's `LOCALSTACK_HOST`): the URLs the edge hands out name
/// it, not the host this client used: the confirmation's `SubscribeURL` and
/// `SigningCertURL`, and the queue URLs of `[interceptors.sqs-urls]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handed_out_urls_follow_the_edges_external_url() {
    let moto = MotoServer::start();
    let public = "http://localstack.example.test:4566";
    let text = format!(
        "{}\n[aws]\nexternal_url = \"{public}/\"\n[interceptors.sns]\n[interceptors.sqs-urls]\n",
        support::moto_edge_toml(&moto.url())
    );
    let edge = support::start_edge(&text, Duration::from_secs(60)).await;
    let sns = support::sns_client(&edge.url());
    let sink = Sink::start().await;
    let topic = support::create_topic(&sns, "public-url").await;
    subscribe_http(&sns, &topic, &sink.url("/hook")).await;
    let c = sink.wait_for("/hook", 1).await.remove(0).json();
    let subscribe_url = c["SubscribeURL"].as_str().unwrap();
    assert!(
        subscribe_url.starts_with(&format!("{public}/?Action=ConfirmSubscription&")),
        "{subscribe_url}"
    );
    assert!(
        c["SigningCertURL"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{public}/_edgestack/sns/")),
        "{c}"
    );
    let queue = support::create_queue(&support::sqs_client(&edge.url()), "public-url").await;
    assert_eq!(queue, format!("{public}/123456789012/public-url"));
}
