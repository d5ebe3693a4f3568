//! Which requests are rewritten: the SQS operations whose answers carry queue URLs or ARNs.
//! Both decisions come from the edge's detection ([`RequestContext::aws`]): before the request
//! is sent, whether to ask for the answer's body ([`may_rewrite`]); when it comes back, whether
//! to rewrite it ([`is_rewritten`]).
//!
//! [`RequestContext::aws`]: edgestack_core::RequestContext::aws

use edgestack_core::aws::AwsRequest;

/// The operations whose answers are rewritten.
pub const OPERATIONS: [&str; 5] = [
    "CreateQueue",
    "GetQueueUrl",
    "ListQueues",
    "ListDeadLetterSourceQueues",
    "GetQueueAttributes",
];

/// Before the request is sent: may its answer be rewritten (so that it is buffered)? Yes for
/// an SQS call that is one of [`OPERATIONS`], and for one whose operation only its form body
/// names ([`AwsRequest::action_in_body`]: the form pass fills it in later). A request the edge
/// did not recognise from its head (`aws` is `None`) is a candidate only when it is a form
/// `POST`, whose `Action` may still make it SQS. Everything else (S3, DynamoDB, other SQS
/// calls, a plain proxy's requests) is not, so its answers stream. Allocates nothing.
///
/// `form_pending` is [`RequestContext::aws_form_pending`](edgestack_core::RequestContext::aws_form_pending):
/// the edge did not recognise the request from its head, but its form body may still name SQS.
pub fn may_rewrite(aws: Option<&AwsRequest>, form_pending: bool) -> bool {
    match aws {
        Some(aws) if aws.service == "sqs" => match aws.operation.as_deref() {
            Some(op) => OPERATIONS.contains(&op),
            None => aws.action_in_body,
        },
        Some(_) => false,
        None => form_pending,
    }
}

/// When the answer is back: true when the edge detected one of [`OPERATIONS`] of SQS.
pub fn is_rewritten(aws: &AwsRequest) -> bool {
    aws.service == "sqs"
        && aws
            .operation
            .as_deref()
            .is_some_and(|op| OPERATIONS.contains(&op))
}

#[cfg(test)]
mod tests {
    use edgestack_core::{
        aws::{detect, Detection, Protocol},
        http::{request::Parts, Request},
    };

    use super::*;

    /// What the edge's detection says of an unrecognised head: may its form body name it?
    fn form_pending(req: &Parts) -> bool {
        matches!(
            detect::detect(req, "us-east-1", None),
            Detection::Unknown {
                needs_form: true,
                ..
            }
        )
    }

    fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    const FORM: (&str, &str) = (
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );

    fn sqs(operation: Option<&'static str>, protocol: Protocol) -> AwsRequest {
        let mut aws = AwsRequest::new("sqs");
        aws.operation = operation.map(Into::into);
        aws.protocol = protocol;
        aws
    }

    /// The decisions, from the detection.
    #[test]
    fn decided_by_the_detection() {
        let post = head("POST", "/", &[]);
        let form = head("POST", "/", &[FORM]);
        let json = |op| Some(sqs(Some(op), Protocol::Json));
        let mut in_body = sqs(None, Protocol::Query);
        in_body.action_in_body = true;
        let mut queue = sqs(Some("GetQueueAttributes"), Protocol::Query);
        queue.queue = Some(("123456789012".into(), "q1".into()));
        let mut sns = AwsRequest::new("sns");
        sns.action_in_body = true;
        let dynamodb = AwsRequest::new("dynamodb").with_operation("ListTables");
        let s3 = AwsRequest::new("s3").with_operation("ListQueues");
        let cases: [(&str, Option<AwsRequest>, &Parts, bool); 14] = [
            ("CreateQueue", json("CreateQueue"), &post, true),
            (
                "GetQueueAttributes",
                json("GetQueueAttributes"),
                &post,
                true,
            ),
            (
                "ListDeadLetterSourceQueues",
                json("ListDeadLetterSourceQueues"),
                &post,
                true,
            ),
            ("SendMessage", json("SendMessage"), &post, false),
            ("ReceiveMessage", json("ReceiveMessage"), &post, false),
            (
                "query ListQueues",
                Some(sqs(Some("ListQueues"), Protocol::Query)),
                &post,
                true,
            ),
            ("a queue URL's GetQueueAttributes", Some(queue), &form, true),
            ("Action in the form body", Some(in_body), &form, true),
            (
                "no operation, none to come",
                Some(sqs(None, Protocol::Json)),
                &form,
                false,
            ),
            ("DynamoDB", Some(dynamodb), &post, false),
            ("SNS, Action in the form body", Some(sns), &form, false),
            ("S3 (an operation with SQS's name)", Some(s3), &form, false),
            ("an unrecognised form POST", None, &form, true),
            ("an unrecognised POST", None, &post, false),
        ];
        for (what, aws, req, want) in cases {
            let pending = aws.is_none() && form_pending(req);
            assert_eq!(may_rewrite(aws.as_ref(), pending), want, "{what}");
        }
    }

    fn sigv4(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"
        )
    }

    /// Request heads, through the edge's detection: the same decisions as when this module
    /// read the heads itself, except where no operation could ever be known (a queue path
    /// without a form body, a presigned GET without `Action`), which now stream.
    #[test]
    fn request_heads_through_the_detection() {
        let sqs = sigv4("sqs");
        let s3 = sigv4("s3");
        let dynamodb = sigv4("dynamodb");
        type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, bool);
        let cases: [Case<'_>; 23] = [
            ("POST", "/", vec![("authorization", &sqs), ("x-amz-target", "AmazonSQS.CreateQueue")], true),
            ("POST", "/", vec![("authorization", &sqs), ("x-amz-target", "AmazonSQS.GetQueueAttributes")], true),
            ("POST", "/", vec![("authorization", &sqs), ("x-amz-target", "AmazonSQS.ListDeadLetterSourceQueues")], true),
            ("POST", "/", vec![("authorization", &sqs), ("x-amz-target", "AmazonSQS.SendMessage")], false),
            ("POST", "/", vec![("authorization", &sqs), ("x-amz-target", "AmazonSQS.ReceiveMessage")], false),
            ("POST", "/", vec![("authorization", &sqs), ("x-amz-target", "AmazonSQS.")], false),
            ("POST", "/", vec![("authorization", &dynamodb), ("x-amz-target", "DynamoDB_20120810.ListTables")], false),
            ("POST", "/", vec![("authorization", &dynamodb), ("x-amz-target", "DynamoDB_20120810.PutItem")], false),
            ("POST", "/", vec![("authorization", &sqs), FORM], true),
            ("POST", "/", vec![("authorization", &s3), FORM], false),
            ("GET", "/?Action=ListQueues&Version=2012-11-05", vec![], true),
            ("GET", "/?Action=SendMessage&MessageBody=x", vec![("authorization", &sqs)], false),
            ("GET", "/?Action=ListTopics", vec![], false),
            ("POST", "/123456789012/q1", vec![FORM], true),
            ("POST", "/123456789012/q1", vec![], false),
            ("POST", "/queue/q1", vec![FORM], true),
            ("GET", "/123456789012/file.txt", vec![("authorization", &s3)], false),
            ("POST", "/", vec![FORM], true),
            ("POST", "/", vec![("authorization", "AWS AKID:sig"), FORM], false),
            (
                "GET",
                "/?Action=ListQueues&X-Amz-Credential=test%2F20240101%2Fus-east-1%2Fsqs%2Faws4_request&X-Amz-Signature=x",
                vec![],
                true,
            ),
            (
                "GET",
                "/?X-Amz-Credential=test%2F20240101%2Fus-east-1%2Fsqs%2Faws4_request&X-Amz-Signature=x",
                vec![],
                false,
            ),
            ("GET", "/bucket/key", vec![], false),
            ("PUT", "/bucket/key", vec![("authorization", &s3)], false),
        ];
        for (method, uri, headers, want) in cases {
            let req = head(method, uri, &headers);
            let (aws, pending) = match detect::detect(&req, "us-east-1", None) {
                Detection::Aws(aws) => (Some(aws), false),
                Detection::Unknown { needs_form, .. } => (None, needs_form),
            };
            assert_eq!(
                may_rewrite(aws.as_ref(), pending),
                want,
                "{method} {uri} {headers:?}: {aws:?}"
            );
        }
    }

    #[test]
    fn detected_operations() {
        let mut aws = sqs(Some("ListQueues"), Protocol::Query);
        assert!(is_rewritten(&aws));
        aws.operation = Some("SendMessage".into());
        assert!(!is_rewritten(&aws));
        aws.operation = None;
        aws.action_in_body = true;
        assert!(!is_rewritten(&aws), "not until the form names it");
        aws.operation = Some("ListQueues".into());
        aws.service = "sns".into();
        assert!(!is_rewritten(&aws));
    }
}
