//! IAM roles for Lambda functions in moto: the query call's fields, for tests and benches
//! that have no IAM SDK (CreateFunction checks that the function's role exists).

/// The trust policy of a role that Lambda may assume.
pub fn lambda_trust_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string()
}

/// The form fields of an IAM `CreateRole` query call (a form-encoded `POST` signed for
/// `iam`, see [`crate::fake_sigv4`]) that creates role `name` with [`lambda_trust_policy`].
pub fn create_lambda_role_form(name: &str) -> [(&'static str, String); 4] {
    [
        ("Action", "CreateRole".to_string()),
        ("Version", "2010-05-08".to_string()),
        ("RoleName", name.to_string()),
        ("AssumeRolePolicyDocument", lambda_trust_policy()),
    ]
}
