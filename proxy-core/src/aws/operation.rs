//! Operation names for REST services, from method, path, query and headers: S3 (path or
//! virtual-host style) and Lambda by hand, every other REST service of the catalogue from its
//! botocore request-URI templates (`rest-operations.json`, written by
//! `scripts/gen-rest-operations.py`). JSON and query services name the operation themselves,
//! in `X-Amz-Target` or `Action`.

use std::{collections::HashMap, sync::OnceLock};

use http::{request::Parts, Method};

/// True for a name S3 accepts as a bucket (3–63 of `a-z 0-9 . -`, starting and ending with a
/// letter or digit). Used by the legacy S3 rules, so `/_localstack/…` is never a bucket.
pub fn is_bucket_name(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

#[rustfmt::skip]
/// Bucket sub-resources and their operation names: (query key, GET, PUT, DELETE).
const BUCKET_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("notification", "GetBucketNotificationConfiguration", "PutBucketNotificationConfiguration", ""),
    ("cors", "GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    ("versioning", "GetBucketVersioning", "PutBucketVersioning", ""),
    ("policy", "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    ("policyStatus", "GetBucketPolicyStatus", "", ""),
    ("acl", "GetBucketAcl", "PutBucketAcl", ""),
    ("tagging", "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging"),
    ("lifecycle", "GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"),
    ("website", "GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    ("encryption", "GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption"),
    ("logging", "GetBucketLogging", "PutBucketLogging", ""),
    ("replication", "GetBucketReplication", "PutBucketReplication", "DeleteBucketReplication"),
    ("ownershipControls", "GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls"),
    ("publicAccessBlock", "GetPublicAccessBlock", "PutPublicAccessBlock", "DeletePublicAccessBlock"),
    ("accelerate", "GetBucketAccelerateConfiguration", "PutBucketAccelerateConfiguration", ""),
    ("requestPayment", "GetBucketRequestPayment", "PutBucketRequestPayment", ""),
    ("object-lock", "GetObjectLockConfiguration", "PutObjectLockConfiguration", ""),
    ("intelligent-tiering", "GetBucketIntelligentTieringConfiguration", "PutBucketIntelligentTieringConfiguration", "DeleteBucketIntelligentTieringConfiguration"),
    ("inventory", "GetBucketInventoryConfiguration", "PutBucketInventoryConfiguration", "DeleteBucketInventoryConfiguration"),
    ("metrics", "GetBucketMetricsConfiguration", "PutBucketMetricsConfiguration", "DeleteBucketMetricsConfiguration"),
    ("analytics", "GetBucketAnalyticsConfiguration", "PutBucketAnalyticsConfiguration", "DeleteBucketAnalyticsConfiguration"),
    ("location", "GetBucketLocation", "", ""),
    ("uploads", "ListMultipartUploads", "", ""),
    ("versions", "ListObjectVersions", "", ""),
];

#[rustfmt::skip]
/// Object sub-resources: (query key, GET, PUT, DELETE).
const OBJECT_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    ("acl", "GetObjectAcl", "PutObjectAcl", ""),
    ("tagging", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    ("retention", "GetObjectRetention", "PutObjectRetention", ""),
    ("legal-hold", "GetObjectLegalHold", "PutObjectLegalHold", ""),
    ("attributes", "GetObjectAttributes", "", ""),
    ("torrent", "GetObjectTorrent", "", ""),
];

fn has_key(query: &str, key: &str) -> bool {
    query
        .split('&')
        .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == key)
}

fn pick(
    table: &[(&str, &'static str, &'static str, &'static str)],
    query: &str,
    method: &Method,
) -> Option<&'static str> {
    table.iter().find(|e| has_key(query, e.0)).and_then(|e| {
        let op = match *method {
            Method::GET => e.1,
            Method::PUT => e.2,
            Method::DELETE => e.3,
            _ => "",
        };
        (!op.is_empty()).then_some(op)
    })
}

/// The S3 operation of a request. `vhost_bucket` is the bucket the host names, if any (then
/// the whole path is the key).
pub fn s3(req: &Parts, vhost_bucket: Option<&str>) -> Option<&'static str> {
    let query = req.uri.query().unwrap_or("");
    let path = req.uri.path().trim_start_matches('/');
    let (bucket, key) = match vhost_bucket {
        Some(_) => (true, !path.is_empty()),
        None => match path.split_once('/') {
            Some((b, k)) => (!b.is_empty(), !k.is_empty()),
            None => (!path.is_empty(), false),
        },
    };
    let m = &req.method;
    let header = |name: &str| req.headers.contains_key(name);
    if !bucket {
        return (*m == Method::GET).then_some("ListBuckets");
    }
    if !key {
        if let Some(op) = pick(BUCKET_SUBRESOURCES, query, m) {
            return Some(op);
        }
        return match *m {
            Method::GET if has_key(query, "list-type") => Some("ListObjectsV2"),
            Method::GET => Some("ListObjects"),
            Method::PUT => Some("CreateBucket"),
            Method::DELETE => Some("DeleteBucket"),
            Method::HEAD => Some("HeadBucket"),
            Method::POST if has_key(query, "delete") => Some("DeleteObjects"),
            Method::POST => Some("PostObject"),
            _ => None,
        };
    }
    if let Some(op) = pick(OBJECT_SUBRESOURCES, query, m) {
        return Some(op);
    }
    let upload = has_key(query, "uploadId");
    match *m {
        Method::GET if upload => Some("ListParts"),
        Method::GET => Some("GetObject"),
        Method::HEAD => Some("HeadObject"),
        Method::PUT if upload && header("x-amz-copy-source") => Some("UploadPartCopy"),
        Method::PUT if upload => Some("UploadPart"),
        Method::PUT if header("x-amz-copy-source") => Some("CopyObject"),
        Method::PUT => Some("PutObject"),
        Method::DELETE if upload => Some("AbortMultipartUpload"),
        Method::DELETE => Some("DeleteObject"),
        Method::POST if has_key(query, "uploads") => Some("CreateMultipartUpload"),
        Method::POST if upload => Some("CompleteMultipartUpload"),
        Method::POST if has_key(query, "restore") => Some("RestoreObject"),
        Method::POST if has_key(query, "select") => Some("SelectObjectContent"),
        _ => None,
    }
}

/// The Lambda operation of a request, from its REST path.
pub fn lambda(method: &Method, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method;
    let op = match segs.as_slice() {
        ["2015-03-31", "functions"] => match *m {
            Method::GET => "ListFunctions",
            Method::POST => "CreateFunction",
            _ => return None,
        },
        ["2015-03-31", "functions", _] => match *m {
            Method::GET => "GetFunction",
            Method::DELETE => "DeleteFunction",
            _ => return None,
        },
        ["2015-03-31", "functions", _, "invocations"] => "Invoke",
        ["2014-11-13", "functions", _, "invoke-async"] => "InvokeAsync",
        ["2015-03-31", "functions", _, "configuration"] => match *m {
            Method::GET => "GetFunctionConfiguration",
            Method::PUT => "UpdateFunctionConfiguration",
            _ => return None,
        },
        ["2015-03-31", "functions", _, "code"] => "UpdateFunctionCode",
        ["2015-03-31", "functions", _, "versions"] => match *m {
            Method::GET => "ListVersionsByFunction",
            Method::POST => "PublishVersion",
            _ => return None,
        },
        ["2015-03-31", "functions", _, "aliases"] => match *m {
            Method::GET => "ListAliases",
            Method::POST => "CreateAlias",
            _ => return None,
        },
        ["2015-03-31", "functions", _, "aliases", _] => match *m {
            Method::GET => "GetAlias",
            Method::PUT => "UpdateAlias",
            Method::DELETE => "DeleteAlias",
            _ => return None,
        },
        ["2015-03-31", "functions", _, "policy"] => match *m {
            Method::GET => "GetPolicy",
            Method::POST => "AddPermission",
            _ => return None,
        },
        ["2015-03-31", "functions", _, "policy", _] => "RemovePermission",
        ["2015-03-31", "event-source-mappings"] => match *m {
            Method::GET => "ListEventSourceMappings",
            Method::POST => "CreateEventSourceMapping",
            _ => return None,
        },
        ["2015-03-31", "event-source-mappings", _] => match *m {
            Method::GET => "GetEventSourceMapping",
            Method::PUT => "UpdateEventSourceMapping",
            Method::DELETE => "DeleteEventSourceMapping",
            _ => return None,
        },
        ["2018-10-31", "layers"] => "ListLayers",
        ["2018-10-31", "layers", _, "versions"] => match *m {
            Method::GET => "ListLayerVersions",
            Method::POST => "PublishLayerVersion",
            _ => return None,
        },
        ["2018-10-31", "layers", _, "versions", _] => match *m {
            Method::GET => "GetLayerVersion",
            Method::DELETE => "DeleteLayerVersion",
            _ => return None,
        },
        ["2017-03-31", "tags", ..] => match *m {
            Method::GET => "ListTags",
            Method::POST => "TagResource",
            Method::DELETE => "UntagResource",
            _ => return None,
        },
        ["2016-08-19", "account-settings"] => "GetAccountSettings",
        ["2017-10-31", "functions", _, "concurrency"] => match *m {
            Method::PUT => "PutFunctionConcurrency",
            Method::DELETE => "DeleteFunctionConcurrency",
            _ => return None,
        },
        ["2019-09-30", "functions", _, "concurrency"] => "GetFunctionConcurrency",
        ["2019-09-25", "functions", _, "event-invoke-config"] => match *m {
            Method::GET => "GetFunctionEventInvokeConfig",
            Method::PUT => "PutFunctionEventInvokeConfig",
            Method::POST => "UpdateFunctionEventInvokeConfig",
            Method::DELETE => "DeleteFunctionEventInvokeConfig",
            _ => return None,
        },
        ["2021-10-31", "functions", _, "url"] => match *m {
            Method::GET => "GetFunctionUrlConfig",
            Method::POST => "CreateFunctionUrlConfig",
            Method::PUT => "UpdateFunctionUrlConfig",
            Method::DELETE => "DeleteFunctionUrlConfig",
            _ => return None,
        },
        ["2021-10-31", "functions", _, "urls"] => "ListFunctionUrlConfigs",
        _ => return None,
    };
    Some(op)
}

/// One segment of a request-URI template.
#[derive(Debug)]
enum Seg {
    Literal(String),
    /// `{name}`: one non-empty segment.
    Var,
    /// `{name+}`: one or more segments, to the end.
    Greedy,
}

/// One operation's request-URI template.
#[derive(Debug)]
struct Template {
    method: String,
    segs: Vec<Seg>,
    /// Required query parameters, with their value when the template fixes one.
    query: Vec<(String, Option<String>)>,
    operation: String,
}

impl Template {
    fn parse(method: &str, uri: &str, operation: &str) -> Template {
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let segs = segments(path)
            .map(|s| {
                if s.starts_with('{') && s.ends_with("+}") {
                    Seg::Greedy
                } else if s.starts_with('{') && s.ends_with('}') {
                    Seg::Var
                } else {
                    Seg::Literal(s.to_string())
                }
            })
            .collect();
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (p.to_string(), None),
            })
            .collect();
        Template {
            method: method.to_string(),
            segs,
            query,
            operation: operation.to_string(),
        }
    }

    /// How specific the match is, if the request matches: literal segments count most, then
    /// required query parameters; a greedy segment counts least.
    fn score(&self, method: &str, path: &[&str], query: &str) -> Option<usize> {
        if self.method != method {
            return None;
        }
        let mut score = 0;
        let mut i = 0;
        for seg in &self.segs {
            match seg {
                Seg::Literal(l) => {
                    if path.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                    score += 100;
                    i += 1;
                }
                Seg::Var => {
                    if path.get(i).is_none_or(|s| s.is_empty()) {
                        return None;
                    }
                    score += 10;
                    i += 1;
                }
                Seg::Greedy => {
                    if i >= path.len() {
                        return None;
                    }
                    i = path.len();
                    score += 1;
                }
            }
        }
        if i != path.len() {
            return None;
        }
        for (k, v) in &self.query {
            let present = query.split('&').any(|p| match p.split_once('=') {
                Some((pk, pv)) => pk == k && v.as_deref().is_none_or(|v| v == pv),
                None => p == k && v.is_none(),
            });
            if !present {
                return None;
            }
            score += 50;
        }
        Some(score)
    }
}

/// Path segments, without the empty ones a leading or trailing `/` makes.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    path.split('/').filter(|_| !path.is_empty())
}

fn templates() -> &'static HashMap<String, Vec<Template>> {
    static TABLE: OnceLock<HashMap<String, Vec<Template>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        #[derive(serde::Deserialize)]
        struct File {
            services: HashMap<String, Vec<(String, String, String)>>,
        }
        let file: File = serde_json::from_str(include_str!("rest-operations.json"))
            .expect("rest-operations.json is valid (checked by a test)");
        file.services
            .into_iter()
            .map(|(service, ops)| {
                let t = ops
                    .iter()
                    .map(|(m, uri, op)| Template::parse(m, uri, op))
                    .collect();
                (service, t)
            })
            .collect()
    })
}

/// The operation of a request to a REST service other than S3 and Lambda, matched against
/// the service's botocore request-URI templates (the most specific match wins).
pub fn rest(service: &str, method: &Method, path: &str, query: &str) -> Option<&'static str> {
    let table = templates().get(service)?;
    let path: Vec<&str> = segments(path).collect();
    table
        .iter()
        .filter_map(|t| t.score(method.as_str(), &path, query).map(|s| (s, t)))
        .max_by_key(|(s, _)| *s)
        .map(|(_, t)| t.operation.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_templates() {
        assert!(templates().len() >= 25);
        let op = |svc, m: &str, path, q| rest(svc, &m.parse().unwrap(), path, q);
        assert_eq!(
            op("apigateway", "GET", "/restapis", ""),
            Some("GetRestApis")
        );
        assert_eq!(
            op("apigateway", "GET", "/restapis/a1/resources/r1", ""),
            Some("GetResource")
        );
        assert_eq!(
            op("route53", "POST", "/2013-04-01/hostedzone/Z1/rrset/", ""),
            Some("ChangeResourceRecordSets")
        );
        assert_eq!(
            op("apigatewayv2", "GET", "/v2/apis/x/routes", ""),
            Some("GetRoutes")
        );
        assert_eq!(op("apigateway", "GET", "/nothing/like/this", ""), None);
        assert_eq!(op("nosuch", "GET", "/", ""), None);
    }
}
