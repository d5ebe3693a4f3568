//! Only some AWS services served (LocalStack's `SERVICES=s3,sqs`): a call to any other gets
//! LocalStack's answer, a 501 `InternalFailure` "Service 'dynamodb' is not enabled. Please
//! check your 'SERVICES' configuration variable.", in the caller's protocol, before any
//! configured listener or upstream sees it. Requests that name no AWS service (admin
//! endpoints, `/moto-api/`) are left alone.

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

impl EnabledServices {
    /// Serves only `services` (botocore names: `s3`, `sqs`, `dynamodb`, ...).
    pub fn new(services: impl IntoIterator<Item = String>) -> Self {
        EnabledServices {
            services: Arc::new(services.into_iter().collect()),
        }
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
}
