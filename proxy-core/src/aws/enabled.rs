//! Only some AWS services served (`[aws] services`, LocalStack's `SERVICES=s3,sqs`): a call
//! to any other gets LocalStack's answer, a 501 `InternalFailure` "Service 'dynamodb' is not
//! enabled. Please check your 'SERVICES' configuration variable.", in the caller's protocol,
//! before any configured listener or upstream sees it. Requests that name no AWS service
//! (admin endpoints, `/moto-api/`) are left alone. [`expand_services`] reads the list as LocalStack
//! does: composite names (`serverless`) and the services each one needs.

use std::{collections::BTreeSet, sync::Arc};

use async_trait::async_trait;
use http::{request::Parts, StatusCode};

use super::AwsError;
use crate::{
    context::RequestContext,
    listener::{Forward, Listener, ListenerError, Request},
};

/// The listener: answers calls to services outside its set with [`EnabledServices::error`].
#[derive(Debug, Clone)]
pub struct EnabledServices {
    services: Arc<BTreeSet<String>>,
}

/// LocalStack's composite service names (`bootstrap.py`'s `API_COMPOSITES`).
const COMPOSITES: &[(&str, &[&str])] = &[
    (
        "serverless",
        &[
            "cloudformation",
            "cloudwatch",
            "iam",
            "sts",
            "lambda",
            "dynamodb",
            "apigateway",
            "s3",
        ],
    ),
    ("cognito", &["cognito-idp", "cognito-identity"]),
    ("timestream", &["timestream-write", "timestream-query"]),
];

/// The services each one needs to work (`bootstrap.py`'s `API_DEPENDENCIES`), enabled with it.
const DEPENDENCIES: &[(&str, &[&str])] = &[
    ("dynamodb", &["dynamodbstreams"]),
    ("dynamodbstreams", &["kinesis"]),
    ("es", &["opensearch"]),
    ("cloudformation", &["s3", "sts"]),
    ("lambda", &["s3", "sts"]),
    ("firehose", &["kinesis"]),
    ("transcribe", &["s3"]),
    ("secretsmanager", &["kms", "lambda"]),
    ("ssm", &["secretsmanager"]),
];

/// The services a list names (botocore names, case-insensitive), composites expanded and the
/// services each needs added, as LocalStack reads `SERVICES`. Errors: one per unknown name,
/// with its index in `names`; an empty list is an error at index 0.
pub fn expand_services<S: AsRef<str>>(
    names: &[S],
) -> Result<BTreeSet<String>, Vec<(usize, String)>> {
    let mut stack: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let name = name.as_ref().trim().to_ascii_lowercase();
        let composite = COMPOSITES.iter().any(|(c, _)| *c == name);
        if !composite {
            if let Err(e) = super::services::check_name(&name) {
                unknown.push((i, e));
                continue;
            }
        }
        stack.push(name);
    }
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let mut out = BTreeSet::new();
    while let Some(s) = stack.pop() {
        if out.contains(&s) {
            continue;
        }
        if let Some((_, parts)) = COMPOSITES.iter().find(|(c, _)| *c == s) {
            stack.extend(parts.iter().map(|p| p.to_string()));
            continue;
        }
        if let Some((_, deps)) = DEPENDENCIES.iter().find(|(d, _)| *d == s) {
            stack.extend(deps.iter().map(|p| p.to_string()));
        }
        out.insert(s);
    }
    if out.is_empty() {
        return Err(vec![(0, "no service given".into())]);
    }
    Ok(out)
}

impl EnabledServices {
    /// Serves only `services` (botocore names: `s3`, `sqs`, `dynamodb`, ...; see [`expand_services`]
    /// for reading a user's list).
    pub fn new(services: impl IntoIterator<Item = String>) -> Self {
        EnabledServices {
            services: Arc::new(services.into_iter().collect()),
        }
    }

    /// The services served.
    pub fn services(&self) -> &BTreeSet<String> {
        &self.services
    }

    /// True when `service` is served.
    pub fn allows(&self, service: &str) -> bool {
        self.services.contains(service)
    }

    /// LocalStack's error for a call to a service that is not enabled.
    pub fn error(service: &str) -> AwsError {
        AwsError::new(
            StatusCode::NOT_IMPLEMENTED,
            "InternalFailure",
            format!(
                "Service '{service}' is not enabled. Please check your 'SERVICES' configuration variable."
            ),
        )
    }
}

#[async_trait]
impl Listener for EnabledServices {
    fn name(&self) -> &str {
        "aws-enabled-services"
    }

    /// AWS calls (or forms that may turn out to be one); nothing else is its business.
    fn acts_on(&self, _req: &Parts, cx: &RequestContext) -> bool {
        cx.aws().is_some() || cx.aws_form_pending()
    }

    async fn forward_request(
        &self,
        _req: &mut Request,
        cx: &mut RequestContext,
    ) -> Result<Forward, ListenerError> {
        match cx.aws() {
            Some(aws) if !self.allows(&aws.service) => {
                let e = Self::error(&aws.service);
                Ok(Forward::Respond(e.response(cx)))
            }
            _ => Ok(Forward::Continue),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_localstacks() {
        let l = EnabledServices::new(["s3".to_string(), "sqs".to_string()]);
        assert!(l.allows("s3") && l.allows("sqs") && !l.allows("dynamodb"));
        let e = EnabledServices::error("dynamodb");
        assert_eq!(e.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(e.code(), "InternalFailure");
        assert_eq!(
            e.message(),
            "Service 'dynamodb' is not enabled. Please check your 'SERVICES' configuration variable."
        );
    }

    #[test]
    fn expand_reads_lists_as_localstack_does() {
        let got = expand_services(&["S3", " serverless "]).unwrap();
        for s in [
            "s3",
            "lambda",
            "sts",
            "dynamodb",
            "dynamodbstreams",
            "kinesis",
            "iam",
        ] {
            assert!(got.contains(s), "{s} in {got:?}");
        }
        assert!(!got.contains("sqs"));
        let errors = expand_services(&["s3", "sqss", "nope"]).unwrap_err();
        assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2]);
        assert!(errors[0].1.contains("did you mean 'sqs'"), "{errors:?}");
        assert_eq!(
            expand_services::<&str>(&[]).unwrap_err()[0].1,
            "no service given"
        );
    }
}
