//! The catalogue of AWS services the edge knows: names, signing names, `X-Amz-Target`
//! prefixes, endpoint prefixes, wire protocols and LocalStack's legacy ports.
//!
//! Service names are botocore's service model names (what `boto3.client(NAME)` takes and what
//! LocalStack uses in `SERVICES`, health JSON and logs): `s3`, `dynamodbstreams`,
//! `stepfunctions`, `cloudwatch`, ...

/// How a service puts requests and errors on the wire. Decides the shape of the edge's own
/// error responses, so SDKs parse them as typed service errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `application/x-amz-json-1.x` with `X-Amz-Target`; errors `{"__type": ..}`.
    Json,
    /// REST with JSON bodies; errors `{"message": ..}` plus `x-amzn-ErrorType`.
    RestJson,
    /// REST with XML bodies (S3, Route 53, CloudFront); errors `<Error><Code>`.
    RestXml,
    /// Form-encoded `Action=` requests; errors `<ErrorResponse><Error><Code>`.
    Query,
    /// EC2's query dialect; errors `<Response><Errors><Error><Code>`.
    Ec2,
    /// Smithy RPC v2 CBOR (`/service/S/operation/Op`); the edge answers errors as JSON with
    /// `x-amzn-ErrorType`, which the SDKs read from the header.
    Cbor,
}

/// One service of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The service name (botocore model name).
    pub name: &'static str,
    /// The SigV4 signing name (credential scope service).
    pub signing_name: &'static str,
    /// The first label of its AWS host name (`sqs` in `sqs.us-east-1.amazonaws.com`).
    pub endpoint_prefix: &'static str,
    /// The `X-Amz-Target` prefixes (before the last `.`) of its operations.
    pub targets: &'static [&'static str],
    /// Its main wire protocol.
    pub protocol: Protocol,
    /// LocalStack's legacy per-service port (before the single edge port).
    pub legacy_port: Option<u16>,
}

use Protocol::*;

const fn svc(
    name: &'static str,
    signing_name: &'static str,
    endpoint_prefix: &'static str,
    targets: &'static [&'static str],
    protocol: Protocol,
    legacy_port: Option<u16>,
) -> Service {
    Service {
        name,
        signing_name,
        endpoint_prefix,
        targets,
        protocol,
        legacy_port,
    }
}

#[rustfmt::skip]
/// Every service the edge can name. Order matters only where signing names are shared: the
/// first service with a signing name is the one a bare signature means.
pub static SERVICES: &[Service] = &[
    svc("s3", "s3", "s3", &[], RestXml, Some(4572)),
    svc("s3control", "s3", "s3-control", &[], RestXml, None),
    svc("dynamodb", "dynamodb", "dynamodb", &["DynamoDB_20120810"], Json, Some(4569)),
    svc("dynamodbstreams", "dynamodb", "streams.dynamodb", &["DynamoDBStreams_20120810"], Json, Some(4570)),
    svc("sqs", "sqs", "sqs", &["AmazonSQS"], Query, Some(4576)),
    svc("sns", "sns", "sns", &[], Query, Some(4575)),
    svc("kinesis", "kinesis", "kinesis", &["Kinesis_20131202"], Json, Some(4568)),
    svc("firehose", "firehose", "firehose", &["Firehose_20150804"], Json, Some(4573)),
    svc("lambda", "lambda", "lambda", &[], RestJson, Some(4574)),
    svc("apigateway", "apigateway", "apigateway", &[], RestJson, Some(4567)),
    svc("apigatewayv2", "apigateway", "apigateway", &[], RestJson, None),
    svc("apigatewaymanagementapi", "execute-api", "execute-api", &[], RestJson, None),
    svc("sts", "sts", "sts", &[], Query, Some(4592)),
    svc("iam", "iam", "iam", &[], Query, Some(4593)),
    svc("kms", "kms", "kms", &["TrentService"], Json, Some(4599)),
    svc("secretsmanager", "secretsmanager", "secretsmanager", &["secretsmanager"], Json, Some(4584)),
    svc("ssm", "ssm", "ssm", &["AmazonSSM"], Json, Some(4583)),
    svc("cloudwatch", "monitoring", "monitoring", &["GraniteServiceVersion20100801"], Query, Some(4582)),
    svc("logs", "logs", "logs", &["Logs_20140328"], Json, Some(4586)),
    svc("events", "events", "events", &["AWSEvents"], Json, Some(4587)),
    svc("stepfunctions", "states", "states", &["AWSStepFunctions"], Json, Some(4585)),
    svc("ses", "ses", "email", &[], Query, Some(4579)),
    svc("sesv2", "ses", "email", &[], RestJson, None),
    svc("cloudformation", "cloudformation", "cloudformation", &[], Query, Some(4581)),
    svc("ec2", "ec2", "ec2", &[], Ec2, Some(4597)),
    svc("route53", "route53", "route53", &[], RestXml, Some(4580)),
    svc("route53resolver", "route53resolver", "route53resolver", &["Route53Resolver"], Json, None),
    svc("acm", "acm", "acm", &["CertificateManager"], Json, None),
    svc("ecr", "ecr", "api.ecr", &["AmazonEC2ContainerRegistry_V20150921"], Json, None),
    svc("ecs", "ecs", "ecs", &["AmazonEC2ContainerServiceV20141113"], Json, None),
    svc("eks", "eks", "eks", &[], RestJson, None),
    svc("rds", "rds", "rds", &[], Query, None),
    svc("elasticache", "elasticache", "elasticache", &[], Query, None),
    svc("opensearch", "es", "es", &[], RestJson, None),
    svc("es", "es", "es", &[], RestJson, Some(4578)),
    svc("redshift", "redshift", "redshift", &[], Query, Some(4577)),
    svc("glue", "glue", "glue", &["AWSGlue"], Json, None),
    svc("athena", "athena", "athena", &["AmazonAthena"], Json, None),
    svc("cognito-idp", "cognito-idp", "cognito-idp", &["AWSCognitoIdentityProviderService"], Json, None),
    svc("cognito-identity", "cognito-identity", "cognito-identity", &["AWSCognitoIdentityService"], Json, None),
    svc("resourcegroupstaggingapi", "tagging", "tagging", &["ResourceGroupsTaggingAPI_20170126"], Json, None),
    svc("resource-groups", "resource-groups", "resource-groups", &[], RestJson, None),
    svc("scheduler", "scheduler", "scheduler", &[], RestJson, None),
    svc("elbv2", "elasticloadbalancing", "elasticloadbalancing", &[], Query, None),
    svc("elb", "elasticloadbalancing", "elasticloadbalancing", &[], Query, None),
    svc("autoscaling", "autoscaling", "autoscaling", &[], Query, None),
    svc("application-autoscaling", "application-autoscaling", "application-autoscaling", &["AnyScaleFrontendService"], Json, None),
    svc("config", "config", "config", &["StarlingDoveService"], Json, None),
    svc("organizations", "organizations", "organizations", &["AWSOrganizationsV20161128"], Json, None),
    svc("appsync", "appsync", "appsync", &[], RestJson, None),
    svc("iot", "iot", "iot", &[], RestJson, None),
    svc("iot-data", "iotdata", "data-ats.iot", &[], RestJson, None),
    svc("sagemaker", "sagemaker", "api.sagemaker", &["SageMaker"], Json, None),
    svc("emr", "elasticmapreduce", "elasticmapreduce", &["ElasticMapReduce"], Json, None),
    svc("swf", "swf", "swf", &["SimpleWorkflowService"], Json, None),
    svc("cloudtrail", "cloudtrail", "cloudtrail", &["CloudTrail_20131101", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"], Json, None),
    svc("codecommit", "codecommit", "codecommit", &["CodeCommit_20150413"], Json, None),
    svc("codebuild", "codebuild", "codebuild", &["CodeBuild_20161006"], Json, None),
    svc("codepipeline", "codepipeline", "codepipeline", &["CodePipeline_20150709"], Json, None),
    svc("batch", "batch", "batch", &[], RestJson, None),
    svc("servicediscovery", "servicediscovery", "servicediscovery", &["Route53AutoNaming_v20170314"], Json, None),
    svc("transcribe", "transcribe", "transcribe", &["Transcribe"], Json, None),
    svc("textract", "textract", "textract", &["Textract"], Json, None),
    svc("translate", "translate", "translate", &["AWSShineFrontendService_20170701"], Json, None),
    svc("comprehend", "comprehend", "comprehend", &["Comprehend_20171127"], Json, None),
    svc("support", "support", "support", &["AWSSupport_20130415"], Json, None),
    svc("wafv2", "wafv2", "wafv2", &["AWSWAF_20190729"], Json, None),
    svc("dms", "dms", "dms", &["AmazonDMSv20160101"], Json, None),
    svc("ce", "ce", "ce", &["AWSInsightsIndexService"], Json, None),
    svc("timestream-write", "timestream", "ingest.timestream", &["Timestream_20181101"], Json, None),
    svc("cloudfront", "cloudfront", "cloudfront", &[], RestXml, None),
    svc("elasticbeanstalk", "elasticbeanstalk", "elasticbeanstalk", &[], Query, None),
    svc("sdb", "sdb", "sdb", &[], Query, None),
    svc("glacier", "glacier", "glacier", &[], RestJson, None),
    svc("kafka", "kafka", "kafka", &[], RestJson, None),
    svc("xray", "xray", "xray", &[], RestJson, None),
    svc("pipes", "pipes", "pipes", &[], RestJson, None),
    svc("amplify", "amplify", "amplify", &[], RestJson, None),
    svc("polly", "polly", "polly", &[], RestJson, None),
    svc("mq", "mq", "mq", &[], RestJson, None),
    svc("backup", "backup", "backup", &[], RestJson, None),
    svc("efs", "elasticfilesystem", "elasticfilesystem", &[], RestJson, None),
    svc("kinesisanalytics", "kinesisanalytics", "kinesisanalytics", &["KinesisAnalytics_20150814"], Json, None),
    svc("kinesisanalyticsv2", "kinesisanalytics", "kinesisanalytics", &["KinesisAnalytics_20180523"], Json, None),
    svc("identitystore", "identitystore", "identitystore", &["AWSIdentityStore"], Json, None),
    svc("sso-admin", "sso", "sso", &["SWBExternalService"], Json, None),
    svc("ram", "ram", "ram", &[], RestJson, None),
    svc("mediastore", "mediastore", "mediastore", &["MediaStore_20170901"], Json, None),
    svc("emr-serverless", "emr-serverless", "emr-serverless", &[], RestJson, None),
    svc("qldb", "qldb", "qldb", &[], RestJson, None),
    svc("memorydb", "memorydb", "memory-db", &["AmazonMemoryDB"], Json, None),
    svc("shield", "shield", "shield", &["AWSShield_20160616"], Json, None),
    svc("sagemaker-runtime", "sagemaker", "runtime.sagemaker", &[], RestJson, None),
    svc("lakeformation", "lakeformation", "lakeformation", &[], RestJson, None),
    svc("neptune", "rds", "rds", &[], Query, None),
    svc("docdb", "rds", "rds", &[], Query, None),
];

/// The service called `name`.
pub fn by_name(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name == name)
}

/// The service whose `X-Amz-Target` prefix is `prefix`.
pub fn by_target(prefix: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.targets.contains(&prefix))
}

/// The first service signed with `signing_name`.
pub fn by_signing_name(signing_name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.signing_name == signing_name)
}

/// The service whose host names start with `prefix` (`sqs`, `streams.dynamodb`).
pub fn by_endpoint_prefix(prefix: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.endpoint_prefix == prefix)
}

/// `Ok` for a service name the edge knows; else the error, with a suggestion.
pub fn check_name(name: &str) -> Result<(), String> {
    if by_name(name).is_some() {
        return Ok(());
    }
    Err(match closest(name) {
        Some(s) => format!("unknown AWS service '{name}' (did you mean '{s}'?)"),
        None => format!(
            "unknown AWS service '{name}' (use botocore service names: s3, dynamodb, sqs, …)"
        ),
    })
}

/// The names of every known service, for error messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().map(|s| s.name)
}

/// The known service name closest to `name` (for "did you mean" hints), if one is close.
pub fn closest(name: &str) -> Option<&'static str> {
    names()
        .map(|n| (strsim(name, n), n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Levenshtein distance, for short names.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for s in SERVICES {
            assert!(seen.insert(s.name), "duplicate {}", s.name);
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(
            by_target("DynamoDBStreams_20120810").unwrap().name,
            "dynamodbstreams"
        );
        assert_eq!(by_signing_name("monitoring").unwrap().name, "cloudwatch");
        assert_eq!(by_signing_name("dynamodb").unwrap().name, "dynamodb");
        assert_eq!(by_endpoint_prefix("email").unwrap().name, "ses");
        assert_eq!(closest("dynamdb"), Some("dynamodb"));
        assert_eq!(closest("zzzzzzzzzz"), None);
    }
}
