//! Which S3 requests this interceptor acts on, for which bucket and key, and the small XML
//! documents it reads on the way (DeleteObjects, POST upload results).

use edgestack_core::{
    aws::AwsRequest,
    http::{header, HeaderMap, Uri},
};
use percent_encoding::percent_decode_str;
use quick_xml::{events::Event, Reader};

/// What a request does, as far as notifications go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `PUT /bucket?notification`: answered by the interceptor.
    PutConfig,
    /// `GET /bucket?notification`: answered by the interceptor.
    GetConfig,
    /// Deleting the bucket drops its configuration.
    DeleteBucket,
    /// An object is created; the record's `eventName`.
    Created(&'static str),
    /// `DELETE /bucket/key`.
    Delete,
    /// `POST /bucket?delete`: one event per deleted key.
    DeleteObjects,
}

/// An S3 request this interceptor cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Call {
    /// What it does.
    pub action: Action,
    /// The bucket.
    pub bucket: String,
    /// The object key, decoded (empty for bucket requests and POST uploads, whose key is in
    /// the form).
    pub key: String,
}

/// The S3 call a request makes, from what the edge detected: its operation, bucket and
/// (decoded) key.
pub fn classify(aws: &AwsRequest) -> Option<S3Call> {
    if aws.service != "s3" {
        return None;
    }
    let action = match aws.operation.as_deref()? {
        "PutBucketNotificationConfiguration" => Action::PutConfig,
        "GetBucketNotificationConfiguration" => Action::GetConfig,
        "DeleteBucket" => Action::DeleteBucket,
        "PutObject" => Action::Created("ObjectCreated:Put"),
        "PostObject" => Action::Created("ObjectCreated:Post"),
        "CopyObject" => Action::Created("ObjectCreated:Copy"),
        "CompleteMultipartUpload" => Action::Created("ObjectCreated:CompleteMultipartUpload"),
        "DeleteObject" => Action::Delete,
        "DeleteObjects" => Action::DeleteObjects,
        _ => return None,
    };
    let bucket = aws.bucket.clone().filter(|b| !b.is_empty())?;
    Some(S3Call {
        action,
        bucket,
        key: aws.key.clone().unwrap_or_default(),
    })
}

/// Percent-decodes a path piece (`+` stays a plus in paths).
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// One key a DeleteObjects call deleted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deleted {
    /// The key.
    pub key: String,
    /// The version, when one was named or made.
    pub version_id: Option<String>,
    /// True when a delete marker was made (versioned buckets).
    pub delete_marker: bool,
}

/// The keys a DeleteObjects call deleted: the response's `<Deleted>` entries, or in quiet mode
/// (where S3 lists only errors) the requested keys less the response's `<Error>` keys.
pub fn deleted_keys(request: &[u8], response: &[u8]) -> Vec<Deleted> {
    let answered = entries(response, b"Deleted");
    let failed: Vec<String> = entries(response, b"Error")
        .into_iter()
        .map(|e| e.key)
        .collect();
    let asked = entries(request, b"Object");
    let quiet = text_of(request, b"Quiet").is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    if !quiet || !answered.is_empty() {
        return answered;
    }
    asked
        .into_iter()
        .filter(|o| !failed.contains(&o.key))
        .collect()
}

/// The key of a POST upload from its answer: the `Location` header (`.../bucket/key` or
/// `http://bucket.host/key`), a redirect's `key=` parameter, or a 201 body's `<Key>`.
pub fn posted_key(headers: &HeaderMap, body: Option<&[u8]>, bucket: &str) -> Option<String> {
    if let Some(loc) = headers
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| l.parse::<Uri>().ok())
    {
        if let Some(q) = loc.query() {
            if let Some((_, k)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "key") {
                return Some(k.into_owned());
            }
        }
        let path = loc.path().trim_start_matches('/');
        let host_has_bucket = loc.host().is_some_and(|h| {
            h.len() > bucket.len() && h.starts_with(bucket) && h.as_bytes()[bucket.len()] == b'.'
        });
        let key = if host_has_bucket {
            Some(path)
        } else {
            path.strip_prefix(bucket).and_then(|p| p.strip_prefix('/'))
        };
        if let Some(k) = key.filter(|k| !k.is_empty()) {
            return Some(decode(k));
        }
    }
    body.and_then(|b| text_of(b, b"Key"))
}

/// Every `<tag>` element's Key, VersionId and DeleteMarker children.
fn entries(xml: &[u8], tag: &[u8]) -> Vec<Deleted> {
    let mut out = Vec::new();
    let mut reader = Reader::from_reader(xml);
    let mut current: Option<Deleted> = None;
    let mut field: Option<Vec<u8>> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_vec();
                if name == tag {
                    current = Some(Deleted::default());
                } else if current.is_some() {
                    field = Some(name);
                }
            }
            Ok(Event::Text(t)) => {
                if let (Some(cur), Some(f)) = (current.as_mut(), field.as_deref()) {
                    let text = t.decode().map(|c| c.into_owned()).unwrap_or_default();
                    let text = quick_xml::escape::unescape(&text)
                        .map(|c| c.into_owned())
                        .unwrap_or(text);
                    match f {
                        b"Key" => cur.key.push_str(&text),
                        b"VersionId" | b"DeleteMarkerVersionId" if cur.version_id.is_none() => {
                            cur.version_id = Some(text)
                        }
                        b"DeleteMarker" => cur.delete_marker = text.trim() == "true",
                        _ => {}
                    }
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let (Some(cur), Some(b"Key")) = (current.as_mut(), field.as_deref()) {
                    let name = String::from_utf8_lossy(&r).into_owned();
                    if let Ok(s) = quick_xml::escape::unescape(&format!("&{name};")) {
                        cur.key.push_str(&s);
                    }
                }
            }
            Ok(Event::End(e)) => {
                if e.local_name().as_ref() == tag {
                    out.extend(current.take());
                }
                field = None;
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

/// The text of the first `<tag>` element.
fn text_of(xml: &[u8], tag: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut inside = false;
    let mut out = String::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == tag => inside = true,
            Ok(Event::Text(t)) if inside => {
                let text = t.decode().ok()?.into_owned();
                out.push_str(&quick_xml::escape::unescape(&text).ok()?);
            }
            Ok(Event::GeneralRef(r)) if inside => {
                let name = String::from_utf8_lossy(&r).into_owned();
                out.push_str(&quick_xml::escape::unescape(&format!("&{name};")).ok()?);
            }
            Ok(Event::End(e)) if inside && e.local_name().as_ref() == tag => return Some(out),
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgestack_core::{
        aws::{detect, Detection},
        http::{self, HeaderValue},
    };

    fn call(method: &str, uri: &str, host: &str, extra: &[(&str, &str)]) -> Option<S3Call> {
        let mut b = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", host)
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x",
            );
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let Detection::Aws(aws) = detect::detect(&parts, "us-east-1", None) else {
            panic!("not AWS");
        };
        classify(&aws)
    }

    #[test]
    fn classifies_path_and_virtual_host_requests() {
        let c = call("PUT", "/b1/dir/a%20b.txt", "localhost:4566", &[]).unwrap();
        assert_eq!(
            (c.action, c.bucket.as_str(), c.key.as_str()),
            (Action::Created("ObjectCreated:Put"), "b1", "dir/a b.txt")
        );
        let c = call(
            "PUT",
            "/dir/x",
            "bk2.s3.localhost.localstack.cloud:4566",
            &[],
        )
        .unwrap();
        assert_eq!((c.bucket.as_str(), c.key.as_str()), ("bk2", "dir/x"));
        let c = call(
            "PUT",
            "/b1/k",
            "localhost",
            &[("x-amz-copy-source", "/b1/o")],
        )
        .unwrap();
        assert_eq!(c.action, Action::Created("ObjectCreated:Copy"));
        assert_eq!(
            call("POST", "/b1/k?uploadId=u", "localhost", &[])
                .unwrap()
                .action,
            Action::Created("ObjectCreated:CompleteMultipartUpload")
        );
        assert_eq!(
            call("DELETE", "/b1/k", "localhost", &[]).unwrap().action,
            Action::Delete
        );
        assert_eq!(
            call("POST", "/b1?delete", "localhost", &[]).unwrap().action,
            Action::DeleteObjects
        );
        assert_eq!(
            call("PUT", "/b1?notification", "localhost", &[])
                .unwrap()
                .action,
            Action::PutConfig
        );
        assert_eq!(
            call("GET", "/b1?notification=", "localhost", &[])
                .unwrap()
                .action,
            Action::GetConfig
        );
        assert_eq!(call("GET", "/b1/k", "localhost", &[]), None);
        assert_eq!(
            call("PUT", "/b1/k?uploadId=u&partNumber=1", "localhost", &[]),
            None
        );
        assert_eq!(call("DELETE", "/b1/k?uploadId=u", "localhost", &[]), None);
    }

    #[test]
    fn bucket_and_key_come_from_the_detection() {
        // What the edge detected counts, not the (possibly rewritten) path.
        let mut aws = AwsRequest::new("s3").with_operation("PutObject");
        aws.bucket = Some("b1".into());
        aws.key = Some("a b/c%2F".into());
        assert_eq!(
            classify(&aws),
            Some(S3Call {
                action: Action::Created("ObjectCreated:Put"),
                bucket: "b1".into(),
                key: "a b/c%2F".into(),
            })
        );
        aws.key = None;
        aws.operation = Some("PostObject".into());
        assert_eq!(
            classify(&aws).map(|c| (c.action, c.key)),
            Some((Action::Created("ObjectCreated:Post"), String::new()))
        );
        aws.bucket = None;
        assert_eq!(classify(&aws), None);
        let mut sqs = AwsRequest::new("sqs").with_operation("DeleteObject");
        sqs.bucket = Some("b1".into());
        assert_eq!(classify(&sqs), None);
        assert_eq!(classify(&AwsRequest::new("s3")), None);
    }

    #[test]
    fn deleted_keys_loud_and_quiet() {
        let request = br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object><Object><Key>d</Key></Object></Delete>"#;
        let loud = br#"<?xml version="1.0"?><DeleteResult><Deleted><Key>a&amp;b</Key></Deleted><Deleted><Key>c</Key><DeleteMarker>true</DeleteMarker><DeleteMarkerVersionId>v9</DeleteMarkerVersionId></Deleted><Error><Key>d</Key><Code>AccessDenied</Code></Error></DeleteResult>"#;
        assert_eq!(
            deleted_keys(request, loud),
            vec![
                Deleted {
                    key: "a&b".into(),
                    version_id: None,
                    delete_marker: false
                },
                Deleted {
                    key: "c".into(),
                    version_id: Some("v9".into()),
                    delete_marker: true
                },
            ]
        );
        let quiet_req = br#"<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>d</Key></Object></Delete>"#;
        let quiet_resp =
            br#"<DeleteResult><Error><Key>d</Key><Code>AccessDenied</Code></Error></DeleteResult>"#;
        let keys: Vec<String> = deleted_keys(quiet_req, quiet_resp)
            .into_iter()
            .map(|d| d.key)
            .collect();
        assert_eq!(keys, ["a"]);
    }

    #[test]
    fn posted_keys() {
        let mut h = HeaderMap::new();
        h.insert(
            header::LOCATION,
            HeaderValue::from_static("http://localhost:4566/b1/up%20load/x.txt"),
        );
        assert_eq!(posted_key(&h, None, "b1").as_deref(), Some("up load/x.txt"));
        h.insert(
            header::LOCATION,
            HeaderValue::from_static("http://b1.s3.amazonaws.com/k1"),
        );
        assert_eq!(posted_key(&h, None, "b1").as_deref(), Some("k1"));
        h.insert(
            header::LOCATION,
            HeaderValue::from_static("http://example.com/done?bucket=b1&key=a%2Fb&etag=%22x%22"),
        );
        assert_eq!(posted_key(&h, None, "b1").as_deref(), Some("a/b"));
        let body = b"<PostResponse><Location>x</Location><Bucket>b1</Bucket><Key>k&amp;2</Key></PostResponse>";
        assert_eq!(
            posted_key(&HeaderMap::new(), Some(body), "b1").as_deref(),
            Some("k&2")
        );
    }
}
