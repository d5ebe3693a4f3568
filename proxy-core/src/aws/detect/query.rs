//! Query-string and form parameters, and the `Action` rules: which service an `Action` names
//! when nothing else does (SQS, SNS, STS's web-identity calls, EC2 by its `Version`).

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// The first value of `name` in a query string or form body, percent- and `+`-decoded.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| decode(v))
    })
}

fn decode(v: &str) -> Cow<'_, str> {
    if !v.contains(['%', '+']) {
        return Cow::Borrowed(v);
    }
    let plus = v.replace('+', " ");
    Cow::Owned(percent_decode_str(&plus).decode_utf8_lossy().into_owned())
}

const SQS_ACTIONS: &[&str] = &[
    "CreateQueue",
    "DeleteQueue",
    "ListQueues",
    "GetQueueUrl",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "GetQueueAttributes",
    "SetQueueAttributes",
    "PurgeQueue",
    "TagQueue",
    "UntagQueue",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "StartMessageMoveTask",
    "CancelMessageMoveTask",
    "ListMessageMoveTasks",
];

const SNS_ACTIONS: &[&str] = &[
    "CreateTopic",
    "DeleteTopic",
    "ListTopics",
    "Publish",
    "PublishBatch",
    "Subscribe",
    "Unsubscribe",
    "ConfirmSubscription",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "GetTopicAttributes",
    "SetTopicAttributes",
    "GetSubscriptionAttributes",
    "SetSubscriptionAttributes",
    "CreatePlatformApplication",
    "CreatePlatformEndpoint",
    "DeleteEndpoint",
    "DeletePlatformApplication",
    "ListPlatformApplications",
    "ListEndpointsByPlatformApplication",
    "GetEndpointAttributes",
    "SetEndpointAttributes",
    "CheckIfPhoneNumberIsOptedOut",
    "ListPhoneNumbersOptedOut",
    "OptInPhoneNumber",
    "GetSMSAttributes",
    "SetSMSAttributes",
];

/// The service an `Action` belongs to, for requests nothing else names. `params` is the query
/// or form the action came from.
pub(super) fn from_action(action: &str, params: &str) -> Option<&'static str> {
    if query_param(params, "QueueUrl").is_some() || SQS_ACTIONS.contains(&action) {
        return Some("sqs");
    }
    if SNS_ACTIONS.contains(&action) {
        return Some("sns");
    }
    if matches!(
        action,
        "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML" | "GetCallerIdentity"
    ) {
        return Some("sts");
    }
    if query_param(params, "Version").as_deref() == Some("2016-11-15") {
        return Some("ec2");
    }
    None
}
