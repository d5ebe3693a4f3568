//! The parts of API Gateway's control-plane JSON an invocation needs (as moto_server and AWS
//! return them), read leniently: unknown fields are ignored and `null` is "not set".

use std::collections::BTreeMap;

use serde::Deserialize;

/// A resource: a path (`/items/{id}`, `/{proxy+}`) and its methods.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Its id.
    pub id: String,
    /// Its full path.
    pub path: String,
    /// Its methods by HTTP method (`GET`, `ANY`, ...).
    #[serde(default, deserialize_with = "null_default")]
    pub resource_methods: BTreeMap<String, Method>,
}

/// A method of a resource.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Method {
    /// `GET`, `ANY`, ...
    #[serde(default)]
    pub http_method: String,
    /// `NONE`, `AWS_IAM`, `CUSTOM`, `COGNITO_USER_POOLS`.
    #[serde(default)]
    pub authorization_type: Option<String>,
    /// Whether a valid `x-api-key` is needed.
    #[serde(default, deserialize_with = "null_default")]
    pub api_key_required: bool,
    /// Its integration, once one was put.
    pub method_integration: Option<Integration>,
}

/// How a method reaches its backend.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// `HTTP`, `HTTP_PROXY`, `MOCK`, `AWS`, `AWS_PROXY`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The endpoint: a URL for HTTP integrations, an ARN for AWS ones.
    #[serde(default, deserialize_with = "null_default")]
    pub uri: String,
    /// The method used towards the endpoint (`ANY`: the client's).
    pub http_method: Option<String>,
    /// `integration.request.*` ← `method.request.*` / `'literal'` / `stageVariables.*` ...
    #[serde(default, deserialize_with = "null_default")]
    pub request_parameters: BTreeMap<String, String>,
    /// Request mapping templates by content type.
    #[serde(default, deserialize_with = "null_default")]
    pub request_templates: BTreeMap<String, Option<String>>,
    /// `WHEN_NO_MATCH` (default), `WHEN_NO_TEMPLATES` or `NEVER`.
    pub passthrough_behavior: Option<String>,
    /// Integration responses by method status code.
    #[serde(default, deserialize_with = "null_default")]
    pub integration_responses: BTreeMap<String, IntegrationResponse>,
    /// The timeout the API asks for, in milliseconds.
    #[serde(default, deserialize_with = "millis")]
    pub timeout_in_millis: Option<u64>,
}

/// How an integration's answer becomes the method's answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationResponse {
    /// The method response status.
    #[serde(default)]
    pub status_code: String,
    /// A regular expression over the backend status (HTTP, MOCK); none means the default.
    pub selection_pattern: Option<String>,
    /// `method.response.header.*` ← `integration.response.header.*` / `'literal'` ...
    #[serde(default, deserialize_with = "null_default")]
    pub response_parameters: BTreeMap<String, String>,
    /// Response mapping templates by content type.
    #[serde(default, deserialize_with = "null_default")]
    pub response_templates: BTreeMap<String, Option<String>>,
}

/// A stage: a name bound to a deployment, with its variables.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// The stage name.
    #[serde(default)]
    pub stage_name: String,
    /// The stage variables.
    #[serde(default, deserialize_with = "null_default")]
    pub variables: BTreeMap<String, String>,
}

/// `GET /restapis/{id}/stages`.
#[derive(Debug, Default, Deserialize)]
pub struct Stages {
    /// The stages.
    #[serde(default)]
    pub item: Vec<Stage>,
}

/// An API key (`GET /apikeys?includeValues=true`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiKey {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// The key itself.
    #[serde(default)]
    pub value: Option<String>,
    /// Disabled keys are refused.
    #[serde(default = "yes", deserialize_with = "null_true")]
    pub enabled: bool,
}

/// A usage plan: which API stages its keys open.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePlan {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// The API stages.
    #[serde(default, deserialize_with = "null_default")]
    pub api_stages: Vec<ApiStage>,
}

/// An API stage of a usage plan.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiStage {
    /// The API.
    #[serde(default)]
    pub api_id: String,
    /// The stage.
    #[serde(default)]
    pub stage: String,
}

/// A key of a usage plan (`GET /usageplans/{id}/keys`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PlanKey {
    /// The API key's id.
    #[serde(default)]
    pub id: String,
}

/// A list answer: `{"item": [...], "position": ...}`.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The items.
    #[serde(default = "Vec::new")]
    pub item: Vec<T>,
    /// The next page's position.
    pub position: Option<String>,
}

fn yes() -> bool {
    true
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn null_true<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

/// `timeoutInMillis` is a number in AWS and a string in moto.
fn millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_motos_resources() {
        let page: Page<Resource> = serde_json::from_str(
            r#"{"item": [
                {"path": "/", "id": "r0"},
                {"path": "/{proxy+}", "id": "r1", "parentId": "r0", "pathPart": "{proxy+}",
                 "resourceMethods": {"ANY": {"httpMethod": "ANY", "authorizationType": "NONE",
                   "apiKeyRequired": false, "requestParameters": null,
                   "methodIntegration": {"type": "HTTP_PROXY", "uri": "http://x/{proxy}",
                     "httpMethod": "ANY", "requestTemplates": null,
                     "integrationResponses": null, "requestParameters": null,
                     "timeoutInMillis": "5000"}}}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(page.item.len(), 2);
        let m = &page.item[1].resource_methods["ANY"];
        let i = m.method_integration.as_ref().unwrap();
        assert_eq!(i.kind, "HTTP_PROXY");
        assert!(i.integration_responses.is_empty());
        assert_eq!(i.timeout_in_millis, Some(5000));
        assert!(page.position.is_none());
    }
}
