//! Detection against requests captured from real SDKs (`testdata/captured.json`, written by
//! `scripts/capture-aws-requests.py` from boto3's own requests, with botocore's service and
//! operation names as the expected answers), plus edge cases no SDK sends.

use super::*;

#[derive(serde::Deserialize)]
struct Captured {
    client: String,
    service: String,
    operation: String,
    region: String,
    account: String,
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
    note: String,
}

fn parts(method: &str, uri: &str, headers: &[(String, String)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(()).unwrap().into_parts().0
}

/// Detection as the edge runs it: the head, then the form body when the head asks for it.
fn run(req: &Parts, body: &[u8]) -> Detection {
    let mut d = detect(req, "us-east-1", None);
    if wants_form(req, &d) {
        refine_with_form(&mut d, body, "us-east-1", req);
    }
    d
}

#[test]
fn captured_sdk_requests() {
    let text = include_str!("../testdata/captured.json");
    let all: Vec<Captured> = serde_json::from_str(text).unwrap();
    let services: std::collections::HashSet<&str> =
        all.iter().map(|c| c.service.as_str()).collect();
    assert!(all.len() >= 100, "only {} captured requests", all.len());
    assert!(services.len() >= 25, "only {} services", services.len());

    let mut failures = Vec::new();
    for (i, c) in all.iter().enumerate() {
        let req = parts(&c.method, &c.uri, &c.headers);
        let got = match run(&req, c.body.as_bytes()) {
            Detection::Aws(a) => (
                a.service.to_string(),
                a.operation.map(|o| o.to_string()).unwrap_or_default(),
                a.region,
                a.account,
            ),
            Detection::Unknown { seen, .. } => (
                format!("?? {seen}"),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        // A browser form upload carries its credential in the (multipart, possibly huge) body,
        // which the edge does not read: the region comes from the host, else the default.
        let region_in_body = c.operation == "PostObject" && !c.uri.contains("X-Amz-Credential");
        let want = (
            c.service.clone(),
            c.operation.clone(),
            if region_in_body {
                "us-east-1".to_string()
            } else {
                c.region.clone()
            },
            c.account.clone(),
        );
        if got != want {
            failures.push(format!(
                "#{i} {} {} ({}; {}):\n    want {:?}\n    got  {:?}",
                c.method, c.uri, c.client, c.note, want, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} captured requests detected wrong:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SIGV4_S3: &str = "AWS4-HMAC-SHA256 Credential=test/20240101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=x";

#[test]
fn unknown_requests_say_what_was_seen() {
    let req = parts("GET", "/nothing", &h(&[("host", "127.0.0.1:4566")]));
    match detect(&req, "us-east-1", None) {
        Detection::Unknown { seen, needs_form } => {
            assert!(!needs_form);
            assert!(seen.contains("GET /nothing"), "{seen}");
            assert!(seen.contains("not signed"), "{seen}");
        }
        d => panic!("{d:?}"),
    }
    // An unknown form is read for its Action, and stays unknown if that names nothing.
    let req = parts(
        "POST",
        "/",
        &h(&[("content-type", "application/x-www-form-urlencoded")]),
    );
    let d = run(&req, b"Action=Frobnicate&Version=1");
    assert!(matches!(d, Detection::Unknown { .. }), "{d:?}");
    // The admin paths are never a service.
    let req = parts(
        "GET",
        "/_localstack/health",
        &h(&[("host", "localhost:4566")]),
    );
    assert!(matches!(
        detect(&req, "us-east-1", None),
        Detection::Unknown { .. }
    ));
}

#[test]
fn accounts_and_regions() {
    let auth = "AWS4-HMAC-SHA256 Credential=123456789012/20240101/ap-south-1/sqs/aws4_request, SignedHeaders=host, Signature=x";
    let req = parts("POST", "/", &h(&[("authorization", auth)]));
    let Detection::Aws(a) = detect(&req, "us-east-1", None) else {
        panic!()
    };
    assert_eq!(
        (a.account.as_str(), a.region.as_str()),
        ("123456789012", "ap-south-1")
    );
    assert_eq!(account_of(Some("AKIAIOSFODNN7EXAMPLE")), DEFAULT_ACCOUNT);
    assert_eq!(account_of(Some("test")), DEFAULT_ACCOUNT);
    // No region anywhere: the configured default.
    let req = parts(
        "POST",
        "/",
        &h(&[("x-amz-target", "DynamoDB_20120810.ListTables")]),
    );
    let Detection::Aws(a) = detect(&req, "eu-central-1", None) else {
        panic!()
    };
    assert_eq!(
        (a.service.as_ref(), a.region.as_str()),
        ("dynamodb", "eu-central-1")
    );
}

#[test]
fn s3_virtual_hosts() {
    for (host, bucket) in [
        ("bkt.s3.localhost.localstack.cloud:4566", Some("bkt")),
        (
            "my.dotted.bucket.s3.localhost.localstack.cloud:4566",
            Some("my.dotted.bucket"),
        ),
        ("bkt.localhost.localstack.cloud:4566", Some("bkt")),
        ("bkt.s3.eu-west-1.amazonaws.com", Some("bkt")),
        ("bkt.s3-eu-west-1.amazonaws.com", Some("bkt")),
        ("bkt.localhost:4566", Some("bkt")),
        ("s3.localhost.localstack.cloud:4566", None),
        ("localhost:4566", None),
        // A bucket named like a service's host prefix, and one with an `s3` label of its own.
        ("logs.localhost.localstack.cloud:4566", Some("logs")),
        (
            "backup.s3.example.s3.us-east-1.amazonaws.com",
            Some("backup.s3.example"),
        ),
        // Not a bucket name: no virtual host.
        ("...s3.localhost.localstack.cloud", None),
    ] {
        let req = parts(
            "PUT",
            "/key",
            &h(&[("host", host), ("authorization", SIGV4_S3)]),
        );
        let Detection::Aws(a) = detect(&req, "us-east-1", None) else {
            panic!("{host}")
        };
        assert_eq!(a.vhost_bucket.as_deref(), bucket, "{host}");
        let want = if bucket.is_some() {
            "PutObject"
        } else {
            "CreateBucket"
        };
        assert_eq!(a.operation.as_deref(), Some(want), "{host}");
    }
}

#[test]
fn service_port_forces_the_service() {
    let req = parts("POST", "/", &h(&[("host", "localhost:4569")]));
    let Detection::Aws(a) = detect(&req, "us-east-1", Some("dynamodb")) else {
        panic!()
    };
    assert_eq!((a.service.as_ref(), a.evidence), ("dynamodb", "port"));
}

#[test]
fn garbage_never_becomes_a_label() {
    let req = parts(
        "POST",
        "/",
        &h(&[("x-amz-target", "DynamoDB_20120810.Get Item<script>")]),
    );
    let Detection::Aws(a) = detect(&req, "us-east-1", None) else {
        panic!()
    };
    assert_eq!(a.operation, None);
}

#[test]
fn unsigned_localhost_subdomains_are_not_s3() {
    let req = parts("GET", "/", &h(&[("host", "myapp.localhost:4566")]));
    assert!(matches!(
        detect(&req, "us-east-1", None),
        Detection::Unknown { .. }
    ));
}

#[test]
fn s3_cors_preflights_go_to_s3() {
    let req = parts(
        "OPTIONS",
        "/mybucket/key.txt",
        &h(&[
            ("host", "localhost:4566"),
            ("origin", "http://app"),
            ("access-control-request-method", "PUT"),
        ]),
    );
    let Detection::Aws(a) = detect(&req, "us-east-1", None) else {
        panic!()
    };
    assert_eq!(a.service, "s3");
}

#[test]
fn s3_evidence_outweighs_a_queue_like_path() {
    for headers in [
        h(&[
            ("host", "localhost:4566"),
            ("authorization", "AWS test:c2lnbmF0dXJl"),
        ]),
        h(&[("host", "pub.s3.localhost.localstack.cloud:4566")]),
    ] {
        let req = parts("GET", "/123456789012/report.csv", &headers);
        let Detection::Aws(a) = detect(&req, "us-east-1", None) else {
            panic!("{headers:?}")
        };
        assert_eq!(a.service, "s3", "{headers:?}");
    }
    // Without S3 evidence it is a queue.
    let req = parts(
        "POST",
        "/123456789012/orders",
        &h(&[("host", "localhost:4566")]),
    );
    let Detection::Aws(a) = detect(&req, "us-east-1", None) else {
        panic!()
    };
    assert_eq!(a.service, "sqs");
}

fn sigv4(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=x"
    )
}

/// What one row of [`request_fields`] expects of the detected request.
#[derive(Debug, PartialEq, Eq)]
struct Fields<'a> {
    service: &'a str,
    operation: Option<&'a str>,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    target: Option<&'a str>,
    json_version: Option<&'a str>,
    queue: Option<(&'a str, &'a str)>,
    action_in_body: bool,
}

impl<'a> Fields<'a> {
    fn of(a: &'a AwsRequest) -> Self {
        Fields {
            service: &a.service,
            operation: a.operation.as_deref(),
            bucket: a.bucket.as_deref(),
            key: a.key.as_deref(),
            target: a.target.as_deref(),
            json_version: a.json_version,
            queue: a.queue.as_ref().map(|(a, q)| (a.as_str(), q.as_str())),
            action_in_body: a.action_in_body,
        }
    }

    fn service(service: &'a str) -> Self {
        Fields {
            service,
            operation: None,
            bucket: None,
            key: None,
            target: None,
            json_version: None,
            queue: None,
            action_in_body: false,
        }
    }
}

/// A request (method, URI, headers) and what detection should make of it.
type Row<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Fields<'a>);

/// The fields of [`AwsRequest`] beyond service and operation (bucket and key, target prefix,
/// JSON version, queue, `action_in_body`), from the request head alone.
#[test]
fn request_fields() {
    let s3 = sigv4("s3");
    let sqs = sigv4("sqs");
    let form = "application/x-www-form-urlencoded";
    let json10 = "application/x-amz-json-1.0";
    let json11 = "application/x-amz-json-1.1";
    let rows: Vec<Row> = vec![
        // S3 path style: bucket, then the key percent-decoded.
        (
            "PUT",
            "/my-bucket/dir/a%20b%2Bc.txt",
            vec![("host", "localhost:4566"), ("authorization", &s3)],
            Fields {
                operation: Some("PutObject"),
                bucket: Some("my-bucket"),
                key: Some("dir/a b+c.txt"),
                ..Fields::service("s3")
            },
        ),
        // Path style, bucket only.
        (
            "PUT",
            "/my-bucket",
            vec![("host", "localhost:4566"), ("authorization", &s3)],
            Fields {
                operation: Some("CreateBucket"),
                bucket: Some("my-bucket"),
                ..Fields::service("s3")
            },
        ),
        // Virtual host: the host's bucket, the whole path as the key.
        (
            "GET",
            "/dir/%C3%A9t%C3%A9.txt",
            vec![
                ("host", "bkt.s3.localhost.localstack.cloud:4566"),
                ("authorization", &s3),
            ],
            Fields {
                operation: Some("GetObject"),
                bucket: Some("bkt"),
                key: Some("dir/été.txt"),
                ..Fields::service("s3")
            },
        ),
        // Virtual host, no key.
        (
            "GET",
            "/",
            vec![
                ("host", "bkt.s3.us-east-1.amazonaws.com"),
                ("authorization", &s3),
            ],
            Fields {
                operation: Some("ListObjects"),
                bucket: Some("bkt"),
                ..Fields::service("s3")
            },
        ),
        // ListBuckets names no bucket.
        (
            "GET",
            "/",
            vec![("host", "localhost:4566"), ("authorization", &s3)],
            Fields {
                operation: Some("ListBuckets"),
                ..Fields::service("s3")
            },
        ),
        // JSON protocols: the target prefix and the JSON version.
        (
            "POST",
            "/",
            vec![
                ("x-amz-target", "DynamoDB_20120810.PutItem"),
                ("content-type", json10),
            ],
            Fields {
                operation: Some("PutItem"),
                target: Some("DynamoDB_20120810"),
                json_version: Some("1.0"),
                ..Fields::service("dynamodb")
            },
        ),
        (
            "POST",
            "/",
            vec![
                ("x-amz-target", "Kinesis_20131202.PutRecord"),
                ("content-type", json11),
            ],
            Fields {
                operation: Some("PutRecord"),
                target: Some("Kinesis_20131202"),
                json_version: Some("1.1"),
                ..Fields::service("kinesis")
            },
        ),
        // SQS JSON: the queue from the path, the operation from the target.
        (
            "POST",
            "/123456789012/q",
            vec![
                ("x-amz-target", "AmazonSQS.SendMessage"),
                ("content-type", json10),
                ("authorization", &sqs),
            ],
            Fields {
                operation: Some("SendMessage"),
                target: Some("AmazonSQS"),
                json_version: Some("1.0"),
                queue: Some(("123456789012", "q")),
                ..Fields::service("sqs")
            },
        ),
        // SQS query calls: the queue from the path (moto's and LocalStack's shapes); the
        // Action only in the form body.
        (
            "POST",
            "/123456789012/q",
            vec![("content-type", form), ("authorization", &sqs)],
            Fields {
                queue: Some(("123456789012", "q")),
                action_in_body: true,
                ..Fields::service("sqs")
            },
        ),
        (
            "POST",
            "/queue/us-east-1/123456789012/q",
            vec![("content-type", form), ("authorization", &sqs)],
            Fields {
                queue: Some(("123456789012", "q")),
                action_in_body: true,
                ..Fields::service("sqs")
            },
        ),
        (
            "POST",
            "/queue/123456789012/orders.fifo",
            vec![("content-type", form), ("authorization", &sqs)],
            Fields {
                queue: Some(("123456789012", "orders.fifo")),
                action_in_body: true,
                ..Fields::service("sqs")
            },
        ),
        // A queue path alone says SQS; no form, so nothing is left for the body.
        (
            "POST",
            "/123456789012/q",
            vec![("host", "localhost:4566")],
            Fields {
                queue: Some(("123456789012", "q")),
                ..Fields::service("sqs")
            },
        ),
        // The Action in the query string: not in the body.
        (
            "POST",
            "/?Action=ListQueues",
            vec![("content-type", form), ("authorization", &sqs)],
            Fields {
                operation: Some("ListQueues"),
                ..Fields::service("sqs")
            },
        ),
        // A GET has no form body to read the Action from.
        (
            "GET",
            "/",
            vec![("authorization", &sqs)],
            Fields::service("sqs"),
        ),
    ];
    for (method, uri, headers, want) in &rows {
        let req = parts(method, uri, &h(headers));
        let Detection::Aws(a) = detect(&req, "us-east-1", None) else {
            panic!("{method} {uri}: not detected")
        };
        assert_eq!(&Fields::of(&a), want, "{method} {uri} {headers:?}");
    }
}

/// `action_in_body` holds until the form pass has read the Action, then the operation is
/// known and the flag is off.
#[test]
fn form_pass_clears_action_in_body() {
    let sqs = sigv4("sqs");
    let req = parts(
        "POST",
        "/123456789012/q",
        &h(&[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &sqs),
        ]),
    );
    let mut d = detect(&req, "us-east-1", None);
    match &d {
        Detection::Aws(a) => {
            assert!(a.action_in_body, "{a:?}");
            assert_eq!(a.operation, None);
        }
        d => panic!("{d:?}"),
    }
    assert!(wants_form(&req, &d));
    let newly = refine_with_form(
        &mut d,
        b"Action=SendMessage&MessageBody=hi",
        "us-east-1",
        &req,
    );
    assert!(!newly, "the service was known from the head");
    let Detection::Aws(a) = &d else {
        panic!("{d:?}")
    };
    assert!(!a.action_in_body, "{a:?}");
    assert!(a.is("SendMessage"));
    assert_eq!(a.queue, Some(("123456789012".to_string(), "q".to_string())));
    assert!(!wants_form(&req, &d));

    // An unsigned form to a queue path: SQS by the path, the operation from the body.
    let req = parts(
        "POST",
        "/queue/eu-west-1/123456789012/jobs",
        &h(&[("content-type", "application/x-www-form-urlencoded")]),
    );
    let mut d = detect(&req, "us-east-1", None);
    let Detection::Aws(a) = &d else {
        panic!("{d:?}")
    };
    assert_eq!((a.service.as_ref(), a.evidence), ("sqs", "path"));
    assert!(a.action_in_body, "{a:?}");
    refine_with_form(&mut d, b"Action=ReceiveMessage", "us-east-1", &req);
    let Detection::Aws(a) = &d else {
        panic!("{d:?}")
    };
    assert!(a.is("ReceiveMessage"));
    assert!(!a.action_in_body);
    assert_eq!(
        a.queue,
        Some(("123456789012".to_string(), "jobs".to_string()))
    );

    // A form nothing in the head names: recognised from the body's Action, flag off.
    let req = parts(
        "POST",
        "/",
        &h(&[("content-type", "application/x-www-form-urlencoded")]),
    );
    let mut d = detect(&req, "us-east-1", None);
    assert!(
        matches!(
            d,
            Detection::Unknown {
                needs_form: true,
                ..
            }
        ),
        "{d:?}"
    );
    assert!(refine_with_form(
        &mut d,
        b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At",
        "us-east-1",
        &req
    ));
    let Detection::Aws(a) = &d else {
        panic!("{d:?}")
    };
    assert_eq!(a.service, "sns");
    assert!(a.is("Publish"));
    assert!(!a.action_in_body);
    assert_eq!(a.queue, None);
}

#[test]
fn queue_paths() {
    let q = |p: &str| queue_of(p).map(|(a, q)| format!("{a}/{q}"));
    assert_eq!(q("/123456789012/q").as_deref(), Some("123456789012/q"));
    assert_eq!(
        q("/queue/us-east-1/123456789012/q").as_deref(),
        Some("123456789012/q")
    );
    assert_eq!(
        q("/queue/123456789012/q").as_deref(),
        Some("123456789012/q")
    );
    // Not an account, not a region, a key-like name, too many segments.
    assert_eq!(q("/12345/q"), None);
    assert_eq!(q("/queue/nowhere/123456789012/q"), None);
    assert_eq!(q("/123456789012/a b"), None);
    assert_eq!(q("/123456789012/q/extra"), None);
    assert_eq!(q("/"), None);
}

#[test]
fn localstack_queue_and_api_hosts() {
    for (host, path, service, region) in [
        (
            "sqs.eu-west-1.localhost.localstack.cloud:4566",
            "/000000000000/q",
            "sqs",
            "eu-west-1",
        ),
        (
            "queue.localhost.localstack.cloud:4566",
            "/000000000000/q",
            "sqs",
            "us-east-1",
        ),
        (
            "eu-west-2.queue.localhost.localstack.cloud:4566",
            "/",
            "sqs",
            "eu-west-2",
        ),
        (
            "ap-south-1.queue.amazonaws.com",
            "/000000000000/q",
            "sqs",
            "ap-south-1",
        ),
        (
            "localhost:4566",
            "/queue/eu-west-3/000000000000/q",
            "sqs",
            "us-east-2",
        ),
        (
            "abc123.execute-api.localhost.localstack.cloud:4566",
            "/dev/x",
            "apigateway",
            "us-east-2",
        ),
    ] {
        let req = parts("POST", path, &h(&[("host", host)]));
        let Detection::Aws(a) = detect(&req, "us-east-2", None) else {
            panic!("{host}{path}")
        };
        assert_eq!(
            (a.service.as_ref(), a.region.as_str()),
            (service, region),
            "{host}{path}"
        );
    }
}
