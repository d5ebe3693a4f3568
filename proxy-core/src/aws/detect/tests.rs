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
