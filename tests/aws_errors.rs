//! One AWS error type, rendered in the caller's protocol: a listener that refuses every call
//! with an [`AwsError`] (code and status from the test), read back as a typed error by real
//! SDKs: aws-sdk-* for JSON 1.0 (DynamoDB, SQS's JSON with `x-amzn-query-error`), JSON 1.1
//! (Kinesis, EventBridge), REST-JSON (API Gateway), REST-XML (S3, with its extra fields), and
//! boto3 for the query protocol (STS), EC2, Route 53's wrapped REST-XML, DynamoDB (with its
//! `x-amz-crc32`) and CloudWatch's Smithy RPC v2 CBOR.

mod support;

use std::time::Duration;

use edgestack::{
    async_trait, aws::AwsError, http::StatusCode, AwsSettings, Edge, Forward, Listener,
    ListenerError, Request, RequestContext,
};
use edgestack_testkit::DeadPort;

/// Refuses every AWS call: 400 `CodeFor<service>` (503 for S3, to see the status kept).
struct Refuse;

#[async_trait]
impl Listener for Refuse {
    fn name(&self) -> &str {
        "refuse"
    }

    async fn forward_request(
        &self,
        _req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        let Some(aws) = cx.aws() else {
            return Ok(Forward::Continue);
        };
        let (status, code) = match aws.service.as_ref() {
            "s3" => (StatusCode::SERVICE_UNAVAILABLE, "SlowDown".to_string()),
            // SQS's JSON protocol: the query-protocol code, as SQS sends it.
            "sqs" => (
                StatusCode::BAD_REQUEST,
                "AWS.SimpleQueueService.NonExistentQueue".to_string(),
            ),
            s => (
                StatusCode::BAD_REQUEST,
                format!("Refused{}", s.replace('-', "")),
            ),
        };
        let message = format!("refused {}", aws.label());
        let mut err = AwsError::new(status, code, message);
        if aws.service == "s3" {
            err = err.with_field("BucketName", aws.bucket.clone().unwrap_or_default());
        }
        Err(err.into())
    }
}

fn edge(dead: &DeadPort) -> Edge {
    support::edge_to(&dead.url())
        .aws(AwsSettings::default())
        .listener(Refuse)
        .start()
        .unwrap()
}

#[tokio::test]
async fn sdks_read_listener_errors_as_typed_errors() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata;

    let dead = DeadPort::new();
    let edge = edge(&dead);
    let url = edge.url();

    let e = support::dynamodb_client(&url)
        .list_tables()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("Refuseddynamodb"), "{e:?}");
    assert_eq!(e.message(), Some("refused dynamodb.ListTables"));

    let e = support::sqs_client(&url)
        .get_queue_url()
        .queue_name("q")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_does_not_exist(), "{e:?}");

    let e = support::kinesis_client(&url)
        .list_streams()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("Refusedkinesis"), "{e:?}");

    let e = support::eventbridge_client(&url)
        .list_event_buses()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("Refusedevents"), "{e:?}");

    let e = support::apigateway_client(&url)
        .get_rest_apis()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("Refusedapigateway"), "{e:?}");
    assert_eq!(e.message(), Some("refused apigateway.GetRestApis"));

    let e = support::s3_client(&url)
        .head_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.raw_response().map(|r| r.status().as_u16()),
        Some(503),
        "{e:?}"
    );
    let e = support::s3_client(&url)
        .list_objects_v2()
        .bucket("photos")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e.code(), Some("SlowDown"), "{e:?}");
    assert_eq!(e.message(), Some("refused s3.ListObjectsV2"));

    // The raw S3 body: the extra field and a request id.
    let resp = reqwest::Client::new()
        .get(format!("{url}/photos?list-type=2"))
        .header("authorization", edgestack_testkit::fake_sigv4("s3"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("<Code>SlowDown</Code>")
            && body.contains("<BucketName>photos</BucketName>")
            && body.contains("<RequestId>"),
        "{body}"
    );

    // boto3: query (STS), EC2, and Route 53's `<ErrorResponse>`.
    let py = support::boto3_python();
    let got = support::run_boto3(&py, BOTO_ERRORS, &[&url]).await;
    assert_eq!(got["sts"], "Refusedsts", "{got}");
    assert_eq!(got["ec2"], "Refusedec2", "{got}");
    assert_eq!(got["route53"], "Refusedroute53", "{got}");
    assert_eq!(
        got["sqs"], "AWS.SimpleQueueService.NonExistentQueue",
        "{got}"
    );

    tokio::time::timeout(Duration::from_secs(30), edge.shutdown())
        .await
        .unwrap();
}

const BOTO_ERRORS: &str = r#"
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
url = sys.argv[1]
def client(name):
    return boto3.client(name, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))
def code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None
out = {
    "sts": code(lambda: client("sts").get_caller_identity()),
    "ec2": code(lambda: client("ec2").describe_instances()),
    "route53": code(lambda: client("route53").list_hosted_zones()),
    "sqs": code(lambda: client("sqs").get_queue_url(QueueName="q")),
    "dynamodb": code(lambda: client("dynamodb").list_tables()),
    "cloudwatch": code(lambda: client("cloudwatch").list_metrics()),
}
print(json.dumps(out))
"#;
