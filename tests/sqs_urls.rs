//! SQS queue URLs and ARNs through the edge (`[interceptors.sqs-urls]`), end to end with a
//! real moto_server, real clients (aws-sdk-sqs and boto3, both on the JSON protocol, and
//! hand-made query-protocol calls), and an ElasticMQ-shaped stand-in backend.
//!
//! What moto does without the interceptor (checked by every `start`, which asks moto directly,
//! and in `without_the_interceptor_urls_are_what_moto_writes`): it builds queue URLs from the
//! `Host` of the request and its own account, `http://{Host}/{moto account}/{name}`, and ARNs
//! from the request's region and its own account. The edge passes the client's `Host` on, so
//! with moto the host and port are already the edge's; what the interceptor changes there is
//! the account (`backend_account`) and the address (`external_url`). With backends that write
//! their own address, `/queue/{name}` paths and `elasticmq` regions (the stand-in), it
//! changes all of them.
//!
//! Needs moto_server and boto3 (`.venv`, see `scripts/install-deps`): a missing one fails the
//! test with the command that installs it. Every test has its own moto and edge on free ports.

mod support;

use std::{net::SocketAddr, time::Duration};

use aws_sdk_sqs::types::QueueAttributeName;
use edgestack::Edge;
use edgestack_testkit::MotoServer;
use support::{create_queue, create_queue_with, queue_arn, queue_attributes};

/// Replaced with moto's account in interceptor settings.
const MOTO_ACCOUNT: &str = "{moto_account}";

/// A 12-digit access key: requests signed with it are in that account.
const KEY_ACCOUNT: &str = "111122223333";

// ---------------------------------------------------------------------------------------------
// The stack: moto_server, an edge from TOML, clients.
// ---------------------------------------------------------------------------------------------

struct Stack {
    edge: Edge,
    /// The account moto writes into URLs and ARNs.
    moto_account: String,
    _moto: MotoServer,
}

impl Stack {
    fn port(&self) -> u16 {
        self.edge.local_addr().port()
    }

    /// `http://127.0.0.1:PORT`.
    fn url(&self) -> String {
        self.edge.url()
    }

    /// `http://localhost:PORT`.
    fn localhost(&self) -> String {
        format!("http://localhost:{}", self.port())
    }

    async fn stop(self) {
        self.edge.shutdown().await;
    }
}

/// An edge in front of its own moto_server; `section` is the body of `[interceptors.sqs-urls]`
/// (`{moto_account}` in it becomes moto's account), `None` for no such section.
async fn start(section: Option<&str>) -> Stack {
    edgestack_testkit::trace_init();
    let moto = MotoServer::start();
    let moto_account = moto_account(&moto).await;
    let mut text = support::moto_edge_toml(&moto.url());
    if let Some(section) = section {
        text += "\n[interceptors.sqs-urls]\n";
        text += &section.replace(MOTO_ACCOUNT, &moto_account);
    }
    let edge = start_edge(&text).await;
    Stack {
        edge,
        moto_account,
        _moto: moto,
    }
}

/// An edge from the TOML `text`, its upstreams ready.
async fn start_edge(text: &str) -> Edge {
    support::start_edge(text, Duration::from_secs(30)).await
}

/// The account moto_server writes into queue URLs, asked of moto directly (its
/// `MOTO_ACCOUNT_ID`, else 123456789012). Also checks that moto builds URLs from the `Host` it
/// was sent.
async fn moto_account(moto: &MotoServer) -> String {
    let name = "edgestack-account-probe";
    let xml = query(&moto.url(), "test", "CreateQueue", &[("QueueName", name)]).await;
    let url = first(&xml, "QueueUrl");
    let prefix = format!("{}/", moto.url());
    let account = url
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(&format!("/{name}")))
        .unwrap_or_else(|| panic!("moto wrote {url}, not {prefix}ACCOUNT/{name}"));
    assert!(
        account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
        "{url}"
    );
    query(&moto.url(), "test", "DeleteQueue", &[("QueueUrl", &url)]).await;
    account.to_string()
}

/// An aws-sdk-sqs client (JSON protocol) for `endpoint`, signing with access key `key` in
/// `region`, without retries.
fn sqs(endpoint: &str, key: &str, region: &str) -> aws_sdk_sqs::Client {
    use aws_sdk_sqs::config::{retry::RetryConfig, Credentials, Region};
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(key, "test", None, None, "sqs-urls-tests"))
        .endpoint_url(endpoint)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// Sends, receives and deletes one message on `queue_url` (as the client got it).
async fn round_trip(client: &aws_sdk_sqs::Client, queue_url: &str, body: &str) {
    // A ReceiveMessage on the queue waiting up to `wait` seconds.
    let receive = |wait: i32| {
        client
            .receive_message()
            .queue_url(queue_url)
            .wait_time_seconds(wait)
    };
    client
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("send to {queue_url}: {e:?}"));
    let got = receive(2)
        .max_number_of_messages(1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("receive from {queue_url}: {e:?}"));
    let [message] = got.messages() else {
        panic!("expected one message on {queue_url}: {got:?}");
    };
    assert_eq!(message.body(), Some(body));
    client
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(message.receipt_handle().expect("a receipt handle"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete on {queue_url}: {e:?}"));
    let again = receive(0).visibility_timeout(0).send().await.unwrap();
    assert!(again.messages().is_empty(), "deleted, yet: {again:?}");
}

/// The queue URL GetQueueUrl answers `client` for queue `name`.
async fn queue_url(client: &aws_sdk_sqs::Client, name: &str) -> String {
    let got = client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap();
    got.queue_url().unwrap().to_string()
}

// --- the query protocol, by hand ---

/// `application/x-www-form-urlencoded` encoding of one value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A SigV4-shaped `Authorization` for SQS with access key `key` (moto verifies nothing).
fn sigv4(key: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/sqs/aws4_request, \
         SignedHeaders=host, Signature=x"
    )
}

/// A signed query-protocol `POST` of `Action=action` and `params` (plus `Version`) to `url`;
/// asserts a 200 and returns the XML.
async fn query(url: &str, key: &str, action: &str, params: &[(&str, &str)]) -> String {
    let body = form(action, params);
    let resp = support::client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", sigv4(key))
        .body(body.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url} {body}: {e}"));
    answer(resp, &body).await
}

/// `Action=action`, `params` and `Version`, form-encoded.
fn form(action: &str, params: &[(&str, &str)]) -> String {
    [("Action", action)]
        .iter()
        .chain(params)
        .chain([&("Version", "2012-11-05")])
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The body of a 200, with its `Content-Length` checked against it.
async fn answer(resp: reqwest::Response, what: &str) -> String {
    let status = resp.status();
    let length = resp
        .headers()
        .get("content-length")
        .map(|v| v.to_str().unwrap().parse::<usize>().unwrap());
    let body = resp.text().await.unwrap();
    assert_eq!(status, 200, "{what}: {body}");
    if let Some(length) = length {
        assert_eq!(length, body.len(), "Content-Length of {body}");
    }
    body
}

/// The text of every `<tag>` in `xml`, unescaped.
fn all(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .map(|rest| {
            let text = rest
                .split_once(&close)
                .unwrap_or_else(|| panic!("unclosed <{tag}> in {xml}"))
                .0;
            text.replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect()
}

/// The text of the only `<tag>` in `xml`.
fn first(xml: &str, tag: &str) -> String {
    match all(xml, tag).as_slice() {
        [one] => one.clone(),
        other => panic!("{} <{tag}> in {xml}", other.len()),
    }
}

/// The value of attribute `name` in a GetQueueAttributes XML answer.
fn xml_attribute(xml: &str, name: &str) -> String {
    all(xml, "Attribute")
        .iter()
        .find(|a| a.contains(&format!("<Name>{name}</Name>")))
        .map(|a| first(a, "Value"))
        .unwrap_or_else(|| panic!("no attribute {name} in {xml}"))
}

/// `deadLetterTargetArn` of a RedrivePolicy document.
fn dead_letter_target(policy: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(policy).unwrap_or_else(|e| panic!("{e}: {policy}"));
    v["deadLetterTargetArn"]
        .as_str()
        .unwrap_or_else(|| panic!("{policy}"))
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// aws-sdk-sqs (JSON protocol).
// ---------------------------------------------------------------------------------------------

/// CreateQueue, GetQueueUrl and ListQueues answer URLs at the scheme, host and port the client
/// used (`localhost` for one client, `127.0.0.1` for another), and those URLs work as they are:
/// as the `QueueUrl` of later calls, and as an endpoint (their origin is the edge). With the
/// default settings and moto, which already writes the `Host` it is sent, the interceptor has
/// nothing to change here (this is what the default configuration gives); the host rewrite
/// itself is checked against the stand-in in `a_backend_with_its_own_urls_and_regions`.
#[tokio::test]
async fn sdk_urls_point_at_the_host_the_client_used() {
    let st = start(Some("")).await;
    let by_name = sqs(&st.localhost(), "test", "us-east-1");
    let by_ip = sqs(&st.url(), "test", "us-east-1");
    let acct = &st.moto_account;

    let url_a = create_queue(&by_name, "json-a").await;
    assert_eq!(url_a, format!("{}/{acct}/json-a", st.localhost()));
    let fifo = [
        (QueueAttributeName::FifoQueue, "true"),
        (QueueAttributeName::ContentBasedDeduplication, "true"),
    ];
    assert_eq!(
        create_queue_with(&by_ip, "json-b.fifo", &fifo).await,
        format!("{}/{acct}/json-b.fifo", st.url())
    );

    assert_eq!(
        queue_url(&by_ip, "json-a").await,
        format!("{}/{acct}/json-a", st.url())
    );
    let url_b = queue_url(&by_name, "json-b.fifo").await;
    assert_eq!(url_b, format!("{}/{acct}/json-b.fifo", st.localhost()));

    for (client, base) in [(&by_name, st.localhost()), (&by_ip, st.url())] {
        let mut listed = client
            .list_queues()
            .queue_name_prefix("json-")
            .send()
            .await
            .unwrap()
            .queue_urls()
            .to_vec();
        listed.sort();
        assert_eq!(
            listed,
            [
                format!("{base}/{acct}/json-a"),
                format!("{base}/{acct}/json-b.fifo")
            ]
        );
    }

    // As the QueueUrl of later calls, through the other client...
    round_trip(&by_ip, &url_a, "to a localhost URL via 127.0.0.1").await;
    // ...and through a client whose endpoint is the URL's own origin.
    let from_url = sqs(origin(&url_a), "test", "us-east-1");
    round_trip(&from_url, &url_a, "to the URL's origin").await;
    by_name
        .send_message()
        .queue_url(&url_b)
        .message_body("fifo")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    let got = by_ip
        .receive_message()
        .queue_url(&url_b)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1, "{got:?}");
    by_ip.delete_queue().queue_url(&url_a).send().await.unwrap();
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The query protocol (XML).
// ---------------------------------------------------------------------------------------------

/// Form `POST`s, one with `Action` in the URI, and calls sent to the queue URL itself: every `<QueueUrl>` points at the edge host the client used, with the
/// request's account (`backend_account` set), and the QueueArn has it too.
#[tokio::test]
async fn query_protocol_urls_point_at_the_edge() {
    let st = start(Some("backend_account = \"{moto_account}\"")).await;
    let edge = st.url();
    let local = st.localhost();

    let xml = query(&edge, "test", "CreateQueue", &[("QueueName", "xml-a")]).await;
    assert!(
        xml.starts_with(
            "<CreateQueueResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
        ),
        "the rest of the answer is moto's: {xml}"
    );
    let url_a = first(&xml, "QueueUrl");
    assert_eq!(url_a, format!("{edge}/000000000000/xml-a"));

    let xml = query(
        &local,
        KEY_ACCOUNT,
        "CreateQueue",
        &[("QueueName", "xml-b")],
    )
    .await;
    assert_eq!(
        first(&xml, "QueueUrl"),
        format!("{local}/{KEY_ACCOUNT}/xml-b")
    );

    let xml = query(&local, "test", "GetQueueUrl", &[("QueueName", "xml-a")]).await;
    assert_eq!(
        first(&xml, "QueueUrl"),
        format!("{local}/000000000000/xml-a")
    );

    // Action in the URI (an empty form: moto answers a query without one in JSON).
    let resp = support::client()
        .post(format!(
            "{local}/?Action=ListQueues&QueueNamePrefix=xml-&Version=2012-11-05"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", sigv4("test"))
        .send()
        .await
        .unwrap();
    let xml = answer(resp, "POST ?Action=ListQueues").await;
    let mut listed = all(&xml, "QueueUrl");
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("{local}/000000000000/xml-a"),
            format!("{local}/000000000000/xml-b")
        ]
    );

    // Sent to the queue URL as answered (old SDKs do this): the URL is the edge's and works.
    let xml = query(&url_a, "test", "SendMessage", &[("MessageBody", "hello")]).await;
    assert_eq!(all(&xml, "MD5OfMessageBody").len(), 1, "{xml}");
    let all_attributes = [("AttributeName.1", "All")];
    let xml = query(&url_a, "test", "GetQueueAttributes", &all_attributes).await;
    assert_eq!(
        xml_attribute(&xml, "QueueArn"),
        "arn:aws:sqs:us-east-1:000000000000:xml-a"
    );
    assert_eq!(xml_attribute(&xml, "ApproximateNumberOfMessages"), "1");
    let xml = query(
        &url_a,
        "test",
        "ReceiveMessage",
        &[("WaitTimeSeconds", "1")],
    )
    .await;
    assert_eq!(first(&xml, "Body"), "hello");
    let delete = [
        ("QueueUrl", url_a.as_str()),
        ("ReceiptHandle", &first(&xml, "ReceiptHandle")),
    ];
    let xml = query(&edge, "test", "DeleteMessage", &delete).await;
    assert!(xml.contains("<DeleteMessageResponse"), "{xml}");
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// external_url, backend_account.
// ---------------------------------------------------------------------------------------------

/// With `external_url`, every URL starts with it, whichever host the client used and in both
/// protocols; the SDK still uses them as they are (moto finds queues by name).
#[tokio::test]
async fn external_url_is_used_for_every_url() {
    let st = start(Some("external_url = \"http://sqs.example.test:9999\"")).await;
    let client = sqs(&st.url(), "test", "us-east-1");
    let acct = &st.moto_account;
    let base = "http://sqs.example.test:9999";

    let url = create_queue(&client, "ext-a").await;
    assert_eq!(url, format!("{base}/{acct}/ext-a"));
    let by_name = sqs(&st.localhost(), "test", "us-east-1");
    assert_eq!(queue_url(&by_name, "ext-a").await, url);
    let listed = client.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls(), std::slice::from_ref(&url));
    round_trip(&client, &url, "external").await;

    let xml = query(&st.localhost(), "test", "ListQueues", &[]).await;
    assert_eq!(all(&xml, "QueueUrl"), std::slice::from_ref(&url));
    let xml = query(&st.url(), "test", "CreateQueue", &[("QueueName", "ext-b")]).await;
    assert_eq!(first(&xml, "QueueUrl"), format!("{base}/{acct}/ext-b"));
    st.stop().await;
}

/// With `backend_account` = moto's account, URLs and ARNs (QueueArn, the RedrivePolicy's
/// deadLetterTargetArn, ListDeadLetterSourceQueues) carry the request's account: a 12-digit
/// access key's, else 000000000000. The URLs still work.
#[tokio::test]
async fn backend_account_becomes_the_requests_account() {
    let st = start(Some("backend_account = \"{moto_account}\"")).await;
    let keyed = sqs(&st.url(), KEY_ACCOUNT, "us-east-1");
    let plain = support::sqs_client(&st.url());
    let edge = st.url();
    assert_ne!(st.moto_account, KEY_ACCOUNT);
    assert_ne!(
        st.moto_account, "000000000000",
        "moto must differ from the request's account"
    );

    let dlq = create_queue(&keyed, "acct-dlq").await;
    assert_eq!(dlq, format!("{edge}/{KEY_ACCOUNT}/acct-dlq"));
    // moto checks that the dead-letter queue exists by its own ARN (requests are not
    // rewritten), so the policy names moto's account.
    let policy = format!(
        r#"{{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:{}:acct-dlq","maxReceiveCount":"3"}}"#,
        st.moto_account
    );
    let src = create_queue_with(
        &keyed,
        "acct-src",
        &[(QueueAttributeName::RedrivePolicy, &policy)],
    )
    .await;
    assert_eq!(src, format!("{edge}/{KEY_ACCOUNT}/acct-src"));

    let attrs = queue_attributes(&keyed, &src, QueueAttributeName::All).await;
    assert_eq!(
        attrs[&QueueAttributeName::QueueArn],
        format!("arn:aws:sqs:us-east-1:{KEY_ACCOUNT}:acct-src")
    );
    assert_eq!(
        dead_letter_target(&attrs[&QueueAttributeName::RedrivePolicy]),
        format!("arn:aws:sqs:us-east-1:{KEY_ACCOUNT}:acct-dlq")
    );
    let sources = keyed
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&src));

    // Another account's view of the same (moto-wide) queues: its own account.
    assert_eq!(
        queue_url(&plain, "acct-src").await,
        format!("{edge}/000000000000/acct-src")
    );
    assert_eq!(
        queue_arn(&plain, &src).await,
        "arn:aws:sqs:us-east-1:000000000000:acct-src"
    );

    // The query protocol: the same, in XML.
    let params = [("QueueUrl", src.as_str()), ("AttributeName.1", "All")];
    let xml = query(&edge, KEY_ACCOUNT, "GetQueueAttributes", &params).await;
    assert_eq!(
        xml_attribute(&xml, "QueueArn"),
        format!("arn:aws:sqs:us-east-1:{KEY_ACCOUNT}:acct-src")
    );
    assert_eq!(
        dead_letter_target(&xml_attribute(&xml, "RedrivePolicy")),
        format!("arn:aws:sqs:us-east-1:{KEY_ACCOUNT}:acct-dlq")
    );
    let xml = query(
        &edge,
        KEY_ACCOUNT,
        "ListDeadLetterSourceQueues",
        &[("QueueUrl", &dlq)],
    )
    .await;
    assert_eq!(all(&xml, "QueueUrl"), std::slice::from_ref(&src));

    round_trip(&keyed, &src, "keyed").await;
    round_trip(&plain, &dlq, "plain, to the other account's URL").await;
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Without the interceptor: what moto writes.
// ---------------------------------------------------------------------------------------------

/// moto on its own builds queue URLs from the `Host` it is sent: straight to moto, its own
/// address; through an edge without the section, the edge's (the client's `Host` is passed
/// on). Its account is its own, whatever the request's, and `external_url` does not exist.
#[tokio::test]
async fn without_the_interceptor_urls_are_what_moto_writes() {
    let st = start(None).await;
    let acct = &st.moto_account;
    let (url, arn) = create_plain_a(&st).await;
    assert_eq!(
        url,
        format!("{}/{acct}/plain-a", st.localhost()),
        "moto writes the Host it was sent, and its own account"
    );
    assert_eq!(
        arn,
        format!("arn:aws:sqs:us-east-1:{acct}:plain-a"),
        "not the request's account ({KEY_ACCOUNT})"
    );
    let xml = query(&st.url(), KEY_ACCOUNT, "ListQueues", &[]).await;
    assert_eq!(
        all(&xml, "QueueUrl"),
        [format!("{}/{acct}/plain-a", st.url())]
    );
    st.stop().await;

    // The same requests with the interceptor: the request's account, the configured address.
    let st = start(Some(
        "external_url = \"https://sqs.example.test\"\nbackend_account = \"{moto_account}\"",
    ))
    .await;
    let (url, arn) = create_plain_a(&st).await;
    assert_eq!(
        url,
        format!("https://sqs.example.test/{KEY_ACCOUNT}/plain-a")
    );
    assert_eq!(arn, format!("arn:aws:sqs:us-east-1:{KEY_ACCOUNT}:plain-a"));
    st.stop().await;
}

/// Creates queue `plain-a` through `st` with a client keyed for [`KEY_ACCOUNT`] at
/// `localhost`: the URL CreateQueue answers, and the QueueArn asked for at that URL.
async fn create_plain_a(st: &Stack) -> (String, String) {
    let keyed = sqs(&st.localhost(), KEY_ACCOUNT, "us-east-1");
    let url = create_queue(&keyed, "plain-a").await;
    let arn = queue_arn(&keyed, &url).await;
    (url, arn)
}

// ---------------------------------------------------------------------------------------------
// A backend with its own address, /queue/ paths and an `elasticmq` region.
// ---------------------------------------------------------------------------------------------

/// An ElasticMQ-shaped SQS stand-in: it answers CreateQueue, GetQueueUrl, ListQueues and
/// GetQueueAttributes (JSON and query protocol) with `http://localhost:9324/queue/{name}` URLs
/// and `arn:aws:sqs:elasticmq:000000000000:{name}` ARNs, and an `x-amz-crc32` of what it sent.
struct StandIn {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(stand_in_answer);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StandIn { addr, task }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const ELASTICMQ: &str = "http://localhost:9324/queue";

async fn stand_in_answer(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<bytes::Bytes>>, std::convert::Infallible> {
    use http_body_util::BodyExt;
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok())
        .map(|t| t.trim_start_matches("AmazonSQS.").to_string());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let arn = |name: &str| format!("arn:aws:sqs:elasticmq:000000000000:{name}");
    let (content_type, answer) = match target {
        Some(op) => {
            let input: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let name = input["QueueName"].as_str().map(str::to_string).or_else(|| {
                input["QueueUrl"]
                    .as_str()
                    .and_then(|u| u.rsplit('/').next())
                    .map(str::to_string)
            });
            let name = name.unwrap_or_default();
            let answer = match op.as_str() {
                "CreateQueue" | "GetQueueUrl" => {
                    serde_json::json!({ "QueueUrl": format!("{ELASTICMQ}/{name}") })
                }
                "ListQueues" => serde_json::json!({
                    "QueueUrls": [format!("{ELASTICMQ}/a"), format!("{ELASTICMQ}/b")]
                }),
                "GetQueueAttributes" => serde_json::json!({ "Attributes": {
                    "QueueArn": arn(&name),
                    "RedrivePolicy": format!(
                        r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":3}}"#,
                        arn("dlq")
                    ),
                }}),
                _ => serde_json::json!({}),
            };
            ("application/x-amz-json-1.0", answer.to_string())
        }
        None => {
            let field = |key: &str| {
                text.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            let answer = match field("Action").as_str() {
                "CreateQueue" => format!(
                    "<CreateQueueResponse><CreateQueueResult><QueueUrl>{ELASTICMQ}/{}</QueueUrl>\
                     </CreateQueueResult></CreateQueueResponse>",
                    field("QueueName")
                ),
                "GetQueueAttributes" => format!(
                    "<GetQueueAttributesResponse><GetQueueAttributesResult>\
                     <Attribute><Name>QueueArn</Name><Value>{}</Value></Attribute>\
                     </GetQueueAttributesResult></GetQueueAttributesResponse>",
                    arn("q")
                ),
                _ => "<Unknown/>".to_string(),
            };
            ("text/xml", answer)
        }
    };
    let crc = crc32fast::hash(answer.as_bytes());
    Ok(hyper::Response::builder()
        .header("content-type", content_type)
        .header("x-amz-crc32", crc.to_string())
        .body(http_body_util::Full::new(bytes::Bytes::from(answer)))
        .unwrap())
}

/// The stand-in's own URLs and ARNs become the edge's: host and port the client used,
/// `/queue/{name}` → `/{account}/{name}`, `elasticmq` → the request's region; the body's
/// length and `x-amz-crc32` match what is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_with_its_own_urls_and_regions() {
    edgestack_testkit::trace_init();
    let backend = StandIn::start().await;
    let edge = start_edge(&format!(
        "{}[upstreams.elasticmq]\nurl = \"http://{}\"\n\n[routes]\ndefault = \"elasticmq\"\n\n\
         [interceptors.sqs-urls]\n",
        support::SERVER_TOML,
        backend.addr
    ))
    .await;
    let url = edge.url();
    let client = sqs(&url, KEY_ACCOUNT, "eu-west-1");

    assert_eq!(
        create_queue(&client, "q1").await,
        format!("{url}/{KEY_ACCOUNT}/q1")
    );
    assert_eq!(
        queue_url(&client, "q1").await,
        format!("{url}/{KEY_ACCOUNT}/q1")
    );
    let localhost = format!("http://localhost:{}", edge.local_addr().port());
    let by_name = sqs(&localhost, KEY_ACCOUNT, "eu-west-1");
    assert_eq!(
        queue_url(&by_name, "q1").await,
        format!("{localhost}/{KEY_ACCOUNT}/q1"),
        "the host follows the client"
    );
    let listed = client.list_queues().send().await.unwrap();
    assert_eq!(
        listed.queue_urls(),
        [
            format!("{url}/{KEY_ACCOUNT}/a"),
            format!("{url}/{KEY_ACCOUNT}/b")
        ]
    );
    let attrs = queue_attributes(
        &client,
        &format!("{url}/{KEY_ACCOUNT}/q1"),
        QueueAttributeName::All,
    )
    .await;
    assert_eq!(
        attrs[&QueueAttributeName::QueueArn],
        "arn:aws:sqs:eu-west-1:000000000000:q1",
        "the region is the request's; the account is the backend's (no backend_account)"
    );
    assert_eq!(
        dead_letter_target(&attrs[&QueueAttributeName::RedrivePolicy]),
        "arn:aws:sqs:eu-west-1:000000000000:dlq"
    );

    // Raw: the framing and checksum are the rewritten body's.
    let resp = support::client()
        .post(&url)
        .header("authorization", sigv4("test"))
        .header("x-amz-target", "AmazonSQS.GetQueueUrl")
        .header("content-type", "application/x-amz-json-1.0")
        .body(r#"{"QueueName":"q1"}"#)
        .send()
        .await
        .unwrap();
    let crc = resp.headers()["x-amz-crc32"].to_str().unwrap().to_string();
    let body = answer(resp, "GetQueueUrl").await;
    assert_eq!(body, format!(r#"{{"QueueUrl":"{url}/000000000000/q1"}}"#));
    assert_eq!(crc, crc32fast::hash(body.as_bytes()).to_string());

    let xml = query(&url, "test", "CreateQueue", &[("QueueName", "x1")]).await;
    assert_eq!(
        xml,
        format!(
            "<CreateQueueResponse><CreateQueueResult><QueueUrl>{url}/000000000000/x1</QueueUrl>\
             </CreateQueueResult></CreateQueueResponse>"
        )
    );
    // Unsigned: only the form body says it is SQS (moto cannot serve these; the stand-in can).
    let body = form("CreateQueue", &[("QueueName", "x2")]);
    let resp = support::client()
        .post(format!("http://localhost:{}", edge.local_addr().port()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let xml = answer(resp, &body).await;
    assert_eq!(
        first(&xml, "QueueUrl"),
        format!(
            "http://localhost:{}/000000000000/x2",
            edge.local_addr().port()
        )
    );
    let xml = query(&url, "test", "GetQueueAttributes", &[]).await;
    assert_eq!(
        xml_attribute(&xml, "QueueArn"),
        "arn:aws:sqs:us-east-1:000000000000:q"
    );
    edge.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// boto3.
// ---------------------------------------------------------------------------------------------

const BOTO_SQS: &str = r#"
import json, sys
import boto3
from botocore.config import Config

sqs = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id=sys.argv[2], aws_secret_access_key="test",
                   config=Config(retries={"max_attempts": 0}))
created = sqs.create_queue(QueueName="boto-a")["QueueUrl"]
got = sqs.get_queue_url(QueueName="boto-a")["QueueUrl"]
listed = sqs.list_queues()["QueueUrls"]
arn = sqs.get_queue_attributes(QueueUrl=got, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sqs.send_message(QueueUrl=got, MessageBody="from boto3")
messages = sqs.receive_message(QueueUrl=got, WaitTimeSeconds=2).get("Messages", [])
for m in messages:
    sqs.delete_message(QueueUrl=got, ReceiptHandle=m["ReceiptHandle"])
print(json.dumps({"created": created, "got": got, "listed": listed, "arn": arn,
                  "bodies": [m["Body"] for m in messages]}))
"#;

/// boto3 gets the edge's URLs (with the request's account) and uses them as they are.
#[tokio::test]
async fn boto3_uses_the_urls_as_they_are() {
    let py = support::boto3_python();
    let st = start(Some("backend_account = \"{moto_account}\"")).await;
    let endpoint = st.localhost();
    let result = support::run_boto3(&py, BOTO_SQS, &[&endpoint, KEY_ACCOUNT]).await;
    let url = format!("{endpoint}/{KEY_ACCOUNT}/boto-a");
    assert_eq!(result["created"], url.as_str(), "{result}");
    assert_eq!(result["got"], url.as_str(), "{result}");
    assert_eq!(result["listed"], serde_json::json!([url]), "{result}");
    assert_eq!(
        result["arn"],
        format!("arn:aws:sqs:us-east-1:{KEY_ACCOUNT}:boto-a").as_str()
    );
    assert_eq!(result["bodies"], serde_json::json!(["from boto3"]));
    st.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Configuration.
// ---------------------------------------------------------------------------------------------

/// Bad settings are refused by `load_config` with the key's whole path
/// (`interceptors.sqs-urls.external_url: ...`), every one of them at once; good ones are
/// accepted.
#[test]
fn config_errors_name_the_key() {
    let config = |section: &str| {
        format!(
            "[upstreams.moto]\nurl = \"http://127.0.0.1:5000\"\n[routes]\ndefault = \"moto\"\n\
             [interceptors.sqs-urls]\n{section}\n"
        )
    };
    const URL: &str = "interceptors.sqs-urls.external_url: ";
    const ACCOUNT: &str = "interceptors.sqs-urls.backend_account: ";
    support::assert_config_errors(
        config,
        "interceptors.sqs-urls",
        &[
            ("external_url = \"http://edge:4566/queue\"", &[URL, "path"]),
            ("external_url = \"ftp://edge:4566\"", &[URL, "scheme"]),
            ("external_url = \"http://edge:4566?x=1\"", &[URL]),
            ("external_url = \"edge:4566\"", &[URL]),
            ("external_url = \"http://edge:99999\"", &[URL, "port"]),
            ("backend_account = \"12345\"", &[ACCOUNT, "12-digit"]),
            ("backend_account = \"abcdefghijkl\"", &[ACCOUNT]),
            (
                "external_url = \"http://edge/x\"\nbackend_account = \"1\"",
                &[URL, ACCOUNT, "2 configuration errors"],
            ),
            ("external_host = \"edge\"", &["external_host"]),
            // A wrong type: named at its key too.
            (
                "backend_account = 123456789012",
                &["interceptors.sqs-urls.backend_account", "expected a string"],
            ),
        ],
        &[
            "",
            "external_url = \"http://sqs.example.test:9999\"",
            "external_url = \"https://sqs.example.test/\"",
            "backend_account = \"123456789012\"",
        ],
    );
}
