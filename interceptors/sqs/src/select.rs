//! Which requests are rewritten: the SQS operations whose answers carry queue URLs or ARNs,
//! told apart cheaply from the request head (to ask for the response body) and exactly from
//! the edge's detection (to rewrite it).

use edgestack_core::{
    aws::{detect::query_param, AwsRequest},
    http::{header, request::Parts, Method},
};

/// The operations whose answers are rewritten.
pub const OPERATIONS: [&str; 5] = [
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "ListDeadLetterSourceQueues",
    "GetQueueAttributes",
];

/// From the head alone: may this be one of [`OPERATIONS`]? JSON-protocol calls name their
/// operation in `X-Amz-Target`, and query-protocol calls with `Action` in the URI do too.
/// Other query-protocol calls may carry it in their form body, which is not read here, so
/// every such SQS call is a candidate: signed for `sqs`, or sent to a queue path, or an
/// unsigned form `POST` (which only its body names). Everything else (S3, DynamoDB, ...) is
/// not, so its answers stream.
pub fn may_rewrite(req: &Parts) -> bool {
    if let Some(target) = header_str(req, "x-amz-target") {
        return target
            .strip_prefix("AmazonSQS.")
            .is_some_and(|op| OPERATIONS.contains(&op));
    }
    let query = req.uri.query().unwrap_or("");
    if let Some(action) = query_param(query, "Action") {
        return OPERATIONS.contains(&action.as_ref());
    }
    match signed_for_sqs(req, query) {
        Some(sqs) => sqs,
        None => is_queue_path(req.uri.path()) || is_form_post(req),
    }
}

/// True when the edge detected one of [`OPERATIONS`] of SQS.
pub fn is_rewritten(aws: &AwsRequest) -> bool {
    aws.service == "sqs"
        && aws
            .operation
            .as_deref()
            .is_some_and(|op| OPERATIONS.contains(&op))
}

fn header_str<'a>(req: &'a Parts, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the request is signed for `sqs`: from the SigV4 credential scope
/// (`KEY/DATE/REGION/SERVICE/aws4_request`) of the `Authorization` header or a presigned URL's
/// `X-Amz-Credential`. `Some(false)` when signed some other way (SigV2, another service),
/// `None` when unsigned. Runs for every request: it allocates nothing for signed headers.
fn signed_for_sqs(req: &Parts, query: &str) -> Option<bool> {
    let is_sqs = |credential: &str| credential.split('/').nth(3) == Some("sqs");
    if let Some(auth) = header_str(req, header::AUTHORIZATION.as_str()) {
        let credential = auth
            .split_once("Credential=")
            .map(|(_, rest)| rest.split([',', ' ']).next().unwrap_or_default());
        return Some(credential.is_some_and(is_sqs));
    }
    query_param(query, "X-Amz-Credential").map(|c| is_sqs(&c))
}

/// `/{12-digit account}/{queue}` (AWS, moto) or `/queue/…` (ElasticMQ, LocalStack).
fn is_queue_path(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("queue"), Some(next), _) => !next.is_empty(),
        (Some(account), Some(queue), None) => {
            crate::settings::is_account(account) && !queue.is_empty()
        }
        _ => false,
    }
}

fn is_form_post(req: &Parts) -> bool {
    req.method == Method::POST
        && header_str(req, header::CONTENT_TYPE.as_str())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use edgestack_core::{
        aws::{Protocol, Signature},
        http::Request,
    };

    use super::*;

    fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn sigv4(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
        )
    }

    const FORM: (&str, &str) = (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );

    #[test]
    fn json_calls_by_target() {
        let sqs = sigv4("sqs");
        for (target, want) in [
            ("AmazonSQS.CreateQueue", true),
            ("AmazonSQS.GetQueueAttributes", true),
            ("AmazonSQS.ListDeadLetterSourceQueues", true),
            ("AmazonSQS.SendMessage", false),
            ("AmazonSQS.ReceiveMessage", false),
            ("DynamoDB_20120810.ListTables", false),
            ("AmazonSQS.", false),
        ] {
            let req = head(
                "POST",
                "/",
                &[("authorization", &sqs), ("x-amz-target", target)],
            );
            assert_eq!(may_rewrite(&req), want, "{target}");
        }
    }

    #[test]
    fn query_calls() {
        let sqs = sigv4("sqs");
        let s3 = sigv4("s3");
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, bool);
        let cases: [Case<'_>; 12] = [
            ("POST", "/", vec![("authorization", &sqs), FORM], true),
            ("POST", "/", vec![("authorization", &s3), FORM], false),
            ("GET", "/?Action=ListQueues&Version=2012-11-05", vec![], true),
            ("GET", "/?Action=SendMessage&MessageBody=x", vec![("authorization", &sqs)], false),
            ("GET", "/?Action=ListTopics", vec![], false),
            ("POST", "/123456789012/q1", vec![], true),
            ("POST", "/queue/q1", vec![], true),
            ("GET", "/123456789012/file.txt", vec![("authorization", &s3)], false),
            ("POST", "/", vec![FORM], true),
            ("POST", "/", vec![("authorization", "AWS AKID:sig"), FORM], false),
            (
                "GET",
                "/?X-Amz-Credential=test%2F20240101%2Fus-east-1%2Fsqs%2Faws4_request&X-Amz-Signature=x",
                vec![],
                true,
            ),
            ("GET", "/bucket/key", vec![], false),
        ];
        for (method, uri, headers, want) in cases {
            assert_eq!(
                may_rewrite(&head(method, uri, &headers)),
                want,
                "{method} {uri} {headers:?}"
            );
        }
        let dynamodb = head(
            "POST",
            "/",
            &[
                ("authorization", &sigv4("dynamodb")),
                ("x-amz-target", "DynamoDB_20120810.PutItem"),
            ],
        );
        assert!(!may_rewrite(&dynamodb));
        assert!(!may_rewrite(&head(
            "PUT",
            "/bucket/key",
            &[("authorization", &s3)]
        )));
    }

    #[test]
    fn queue_paths() {
        assert!(is_queue_path("/123456789012/q"));
        assert!(is_queue_path("/queue/us-east-1/123456789012/q"));
        assert!(!is_queue_path("/123456789012/"));
        assert!(!is_queue_path("/12345678901/q"));
        assert!(!is_queue_path("/123456789012/q/x"));
        assert!(!is_queue_path("/"));
        assert!(!is_queue_path("/queue/"));
    }

    #[test]
    fn detected_operations() {
        let mut aws = AwsRequest {
            service: Cow::Borrowed("sqs"),
            operation: Some(Cow::Borrowed("ListQueues")),
            region: "us-east-1".into(),
            account: "000000000000".into(),
            access_key: None,
            signature: Signature::Unsigned,
            protocol: Protocol::Query,
            vhost_bucket: None,
            evidence: "action",
        };
        assert!(is_rewritten(&aws));
        aws.operation = Some(Cow::Borrowed("SendMessage"));
        assert!(!is_rewritten(&aws));
        aws.operation = None;
        assert!(!is_rewritten(&aws));
        aws.operation = Some(Cow::Borrowed("ListQueues"));
        aws.service = Cow::Borrowed("sns");
        assert!(!is_rewritten(&aws));
    }
}
