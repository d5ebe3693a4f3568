//! Where a function's or layer's code is in the control-plane requests the edge forwards.
//!
//! The backend (moto) keeps code bytes only in memory and cannot hand them back (`Code.Location`
//! points at a bucket that does not exist), so the edge reads the code out of the request bodies
//! on their way to the backend:
//!
//! - `CreateFunction` (`POST /2015-03-31/functions`): the `Code` object (`ZipFile` base64,
//!   `S3Bucket`/`S3Key`/`S3ObjectVersion`, or `ImageUri` with `PackageType: Image`), see
//!   [`of_create_function`];
//! - `UpdateFunctionCode` (`PUT /2015-03-31/functions/{Fn}/code`): the same fields at the top
//!   level, see [`of_update_function_code`];
//! - `PublishLayerVersion` (`POST /2018-10-31/layers/{Layer}/versions`): the `Content` object
//!   (`ZipFile` or S3), see [`of_publish_layer_version`].
//!
//! These functions only parse: they never fail the request. On a [`CaptureError`] the caller
//! logs it and lets the backend answer the request as it would anyway.
//!
//! [`code_sha256`] computes the `CodeSha256` Lambda reports for a zip (base64 of its SHA-256),
//! the key of the code cache ([`super::store`]).

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Where a function's (or layer's) code comes from, as a control-plane request gives it.
#[derive(Clone, PartialEq, Eq)]
pub enum CodeSource {
    /// The zip itself: the decoded `ZipFile` field.
    Zip(Bytes),
    /// A zip in S3: `S3Bucket`, `S3Key` and the optional `S3ObjectVersion`.
    S3 {
        /// `S3Bucket`.
        bucket: String,
        /// `S3Key`.
        key: String,
        /// `S3ObjectVersion`, when given.
        version: Option<String>,
    },
    /// A container image (`ImageUri`, `PackageType: Image`): edgestack cannot run these.
    Image(String),
}

impl std::fmt::Debug for CodeSource {
    // By hand so that logging a source never dumps megabytes of zip.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Zip(bytes) => f
                .debug_tuple("Zip")
                .field(&format_args!("{} bytes", bytes.len()))
                .finish(),
            Self::S3 {
                bucket,
                key,
                version,
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("key", key)
                .field("version", version)
                .finish(),
            Self::Image(uri) => f.debug_tuple("Image").field(uri).finish(),
        }
    }
}

/// Why the code could not be read out of a request body.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The body is not JSON, or a field has the wrong type.
    #[error("request body is not a valid {request} request: {source}")]
    Json {
        /// The operation whose body was read (`CreateFunction`, ...).
        request: &'static str,
        /// What serde_json found wrong, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// `ZipFile` is not valid base64.
    #[error("`{field}` in the {request} request is not valid base64: {source}")]
    Base64 {
        /// The operation whose body was read.
        request: &'static str,
        /// The field, e.g. `Code.ZipFile`.
        field: &'static str,
        /// What the decoder found wrong.
        #[source]
        source: base64::DecodeError,
    },
    /// Only half of an S3 location (`S3Bucket` without `S3Key` or the reverse).
    #[error("the {request} request gives `{given}` without `{missing}`")]
    Incomplete {
        /// The operation whose body was read.
        request: &'static str,
        /// The field that is there.
        given: &'static str,
        /// The field that is not.
        missing: &'static str,
    },
    /// More than one of `ZipFile`, `S3Bucket`/`S3Key` and `ImageUri`.
    #[error(
        "the {request} request gives more than one code source ({given}); Lambda takes exactly one"
    )]
    Ambiguous {
        /// The operation whose body was read.
        request: &'static str,
        /// The sources given, e.g. `ZipFile, ImageUri`.
        given: String,
    },
}

/// The code fields, wherever they sit (`Code`, `Content` or the top level).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CodeFields {
    #[serde(default)]
    zip_file: Option<String>,
    #[serde(default, rename = "S3Bucket")]
    s3_bucket: Option<String>,
    #[serde(default, rename = "S3Key")]
    s3_key: Option<String>,
    #[serde(default, rename = "S3ObjectVersion")]
    s3_object_version: Option<String>,
    #[serde(default)]
    image_uri: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateFunctionBody {
    #[serde(default)]
    code: Option<CodeFields>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PublishLayerVersionBody {
    #[serde(default)]
    content: Option<CodeFields>,
}

/// The code of a `CreateFunction` request (`POST /2015-03-31/functions`): its `Code` object.
///
/// `Ok(None)` when the body has no `Code` or an empty one (the backend will refuse it).
/// `PackageType: Image` functions give `Code.ImageUri`, returned as [`CodeSource::Image`].
pub fn of_create_function(body: &[u8]) -> Result<Option<CodeSource>, CaptureError> {
    const REQUEST: &str = "CreateFunction";
    let body: CreateFunctionBody = parse(REQUEST, body)?;
    match body.code {
        Some(code) => code.source(REQUEST, "Code.ZipFile"),
        None => Ok(None),
    }
}

/// The code of an `UpdateFunctionCode` request (`PUT /2015-03-31/functions/{Fn}/code`): the
/// top-level `ZipFile`, `S3Bucket`/`S3Key`/`S3ObjectVersion` or `ImageUri`.
///
/// `Ok(None)` when none is given. `Publish` and `DryRun` are the caller's business.
pub fn of_update_function_code(body: &[u8]) -> Result<Option<CodeSource>, CaptureError> {
    const REQUEST: &str = "UpdateFunctionCode";
    let fields: CodeFields = parse(REQUEST, body)?;
    fields.source(REQUEST, "ZipFile")
}

/// The code of a `PublishLayerVersion` request (`POST /2018-10-31/layers/{Layer}/versions`):
/// its `Content` object (`ZipFile` or `S3Bucket`/`S3Key`/`S3ObjectVersion`).
///
/// `Ok(None)` when the body has no `Content` or an empty one.
pub fn of_publish_layer_version(body: &[u8]) -> Result<Option<CodeSource>, CaptureError> {
    const REQUEST: &str = "PublishLayerVersion";
    let body: PublishLayerVersionBody = parse(REQUEST, body)?;
    match body.content {
        Some(content) => content.source(REQUEST, "Content.ZipFile"),
        None => Ok(None),
    }
}

/// The `CodeSha256` Lambda reports for a zip: the standard base64 (with padding) of its SHA-256.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

fn parse<'a, T: Deserialize<'a>>(request: &'static str, body: &'a [u8]) -> Result<T, CaptureError> {
    serde_json::from_slice(body).map_err(|source| CaptureError::Json { request, source })
}

/// Standard alphabet; padding optional (some hand-written clients drop it).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A field's value, an empty string counting as absent.
fn given(field: Option<String>) -> Option<String> {
    field.filter(|value| !value.is_empty())
}

impl CodeFields {
    fn source(
        self,
        request: &'static str,
        zip_field: &'static str,
    ) -> Result<Option<CodeSource>, CaptureError> {
        let zip = given(self.zip_file);
        let bucket = given(self.s3_bucket);
        let key = given(self.s3_key);
        let version = given(self.s3_object_version);
        let image = given(self.image_uri);

        let mut sources = Vec::new();
        if zip.is_some() {
            sources.push("ZipFile");
        }
        if bucket.is_some() || key.is_some() {
            sources.push("S3Bucket/S3Key");
        }
        if image.is_some() {
            sources.push("ImageUri");
        }
        if sources.len() > 1 {
            return Err(CaptureError::Ambiguous {
                request,
                given: sources.join(", "),
            });
        }

        if let Some(zip) = zip {
            return decode_base64(&zip)
                .map(|bytes| Some(CodeSource::Zip(Bytes::from(bytes))))
                .map_err(|source| CaptureError::Base64 {
                    request,
                    field: zip_field,
                    source,
                });
        }
        match (bucket, key) {
            (Some(bucket), Some(key)) => {
                return Ok(Some(CodeSource::S3 {
                    bucket,
                    key,
                    version,
                }))
            }
            (Some(_), None) => {
                return Err(CaptureError::Incomplete {
                    request,
                    given: "S3Bucket",
                    missing: "S3Key",
                })
            }
            (None, Some(_)) => {
                return Err(CaptureError::Incomplete {
                    request,
                    given: "S3Key",
                    missing: "S3Bucket",
                })
            }
            (None, None) => {}
        }
        Ok(image.map(CodeSource::Image))
    }
}

/// Decodes base64, ignoring ASCII whitespace (line-wrapped encoders).
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        LENIENT_BASE64.decode(compact)
    } else {
        LENIENT_BASE64.decode(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn zip_source(bytes: &[u8]) -> Option<CodeSource> {
        Some(CodeSource::Zip(Bytes::copy_from_slice(bytes)))
    }

    #[test]
    fn create_function_zip_file() {
        let zip = b"PK\x03\x04 not really a zip";
        let body = serde_json::json!({
            "FunctionName": "f",
            "Runtime": "python3.11",
            "Handler": "app.handler",
            "Role": "arn:aws:iam::123456789012:role/r",
            "Code": {"ZipFile": STANDARD.encode(zip)},
        });
        let got = of_create_function(body.to_string().as_bytes()).unwrap();
        assert_eq!(got, zip_source(zip));
    }

    #[test]
    fn create_function_s3() {
        let body = br#"{"FunctionName":"f","Code":{"S3Bucket":"b","S3Key":"k/f.zip","S3ObjectVersion":"v1"}}"#;
        assert_eq!(
            of_create_function(body).unwrap(),
            Some(CodeSource::S3 {
                bucket: "b".into(),
                key: "k/f.zip".into(),
                version: Some("v1".into()),
            })
        );
        let body = br#"{"Code":{"S3Bucket":"b","S3Key":"k.zip"}}"#;
        assert_eq!(
            of_create_function(body).unwrap(),
            Some(CodeSource::S3 {
                bucket: "b".into(),
                key: "k.zip".into(),
                version: None,
            })
        );
    }

    #[test]
    fn create_function_image() {
        let body = br#"{"FunctionName":"f","PackageType":"Image","Code":{"ImageUri":"123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:latest"}}"#;
        assert_eq!(
            of_create_function(body).unwrap(),
            Some(CodeSource::Image(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:latest".into()
            ))
        );
    }

    #[test]
    fn create_function_without_code() {
        assert_eq!(
            of_create_function(br#"{"FunctionName":"f"}"#).unwrap(),
            None
        );
        assert_eq!(of_create_function(br#"{"Code":{}}"#).unwrap(), None);
        assert_eq!(of_create_function(br#"{"Code":null}"#).unwrap(), None);
        assert_eq!(
            of_create_function(br#"{"Code":{"ZipFile":"","ImageUri":null}}"#).unwrap(),
            None
        );
    }

    #[test]
    fn create_function_bad_json() {
        let err = of_create_function(b"{not json").unwrap_err();
        assert!(matches!(err, CaptureError::Json { .. }), "{err:?}");
        assert!(err.to_string().contains("CreateFunction"), "{err}");

        let err = of_create_function(br#"{"Code":{"ZipFile":42}}"#).unwrap_err();
        assert!(matches!(err, CaptureError::Json { .. }), "{err:?}");
        let err = of_create_function(br#"{"Code":"zip"}"#).unwrap_err();
        assert!(matches!(err, CaptureError::Json { .. }), "{err:?}");
        let err = of_create_function(b"").unwrap_err();
        assert!(matches!(err, CaptureError::Json { .. }), "{err:?}");
    }

    #[test]
    fn create_function_bad_base64() {
        let err = of_create_function(br#"{"Code":{"ZipFile":"not*base64!"}}"#).unwrap_err();
        assert!(matches!(err, CaptureError::Base64 { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("Code.ZipFile"), "{message}");
        assert!(message.contains("base64"), "{message}");
    }

    #[test]
    fn create_function_incomplete_or_ambiguous() {
        let err = of_create_function(br#"{"Code":{"S3Bucket":"b"}}"#).unwrap_err();
        assert!(
            err.to_string().contains("`S3Bucket` without `S3Key`"),
            "{err}"
        );
        let err = of_create_function(br#"{"Code":{"S3Key":"k"}}"#).unwrap_err();
        assert!(
            err.to_string().contains("`S3Key` without `S3Bucket`"),
            "{err}"
        );
        let err =
            of_create_function(br#"{"Code":{"ZipFile":"UEsFBg==","ImageUri":"x"}}"#).unwrap_err();
        assert!(matches!(err, CaptureError::Ambiguous { .. }), "{err:?}");
        assert!(err.to_string().contains("ZipFile, ImageUri"), "{err}");
    }

    #[test]
    fn base64_leniency() {
        let zip = b"some zip bytes, long enough to wrap";
        let encoded = STANDARD.encode(zip);
        let unpadded = encoded.trim_end_matches('=');
        let wrapped = format!("{}\n{}", &encoded[..10], &encoded[10..]);
        for text in [unpadded, wrapped.as_str()] {
            let body = serde_json::json!({"ZipFile": text});
            assert_eq!(
                of_update_function_code(body.to_string().as_bytes()).unwrap(),
                zip_source(zip),
                "{text}"
            );
        }
    }

    #[test]
    fn update_function_code() {
        let zip = b"zip bytes";
        let body = serde_json::json!({
            "ZipFile": STANDARD.encode(zip),
            "Publish": true,
            "DryRun": false,
        });
        assert_eq!(
            of_update_function_code(body.to_string().as_bytes()).unwrap(),
            zip_source(zip)
        );
        assert_eq!(
            of_update_function_code(br#"{"S3Bucket":"b","S3Key":"k","S3ObjectVersion":"3"}"#)
                .unwrap(),
            Some(CodeSource::S3 {
                bucket: "b".into(),
                key: "k".into(),
                version: Some("3".into()),
            })
        );
        assert_eq!(
            of_update_function_code(br#"{"ImageUri":"repo:tag"}"#).unwrap(),
            Some(CodeSource::Image("repo:tag".into()))
        );
        assert_eq!(
            of_update_function_code(br#"{"Publish":true}"#).unwrap(),
            None
        );
        assert!(matches!(
            of_update_function_code(b"[1,2]").unwrap_err(),
            CaptureError::Json { .. }
        ));
        let err = of_update_function_code(br#"{"ZipFile":"@@@"}"#).unwrap_err();
        assert!(err.to_string().contains("`ZipFile`"), "{err}");
    }

    #[test]
    fn publish_layer_version() {
        let zip = b"layer zip";
        let body = serde_json::json!({
            "Description": "d",
            "CompatibleRuntimes": ["python3.11"],
            "Content": {"ZipFile": STANDARD.encode(zip)},
        });
        assert_eq!(
            of_publish_layer_version(body.to_string().as_bytes()).unwrap(),
            zip_source(zip)
        );
        assert_eq!(
            of_publish_layer_version(br#"{"Content":{"S3Bucket":"b","S3Key":"layer.zip"}}"#)
                .unwrap(),
            Some(CodeSource::S3 {
                bucket: "b".into(),
                key: "layer.zip".into(),
                version: None,
            })
        );
        assert_eq!(
            of_publish_layer_version(br#"{"Description":"d"}"#).unwrap(),
            None
        );
        let err = of_publish_layer_version(br#"{"Content":{"ZipFile":"%%"}}"#).unwrap_err();
        assert!(err.to_string().contains("Content.ZipFile"), "{err}");
        assert!(matches!(
            of_publish_layer_version(b"\xff").unwrap_err(),
            CaptureError::Json { .. }
        ));
    }

    #[test]
    fn sha256_as_lambda_reports_it() {
        // sha256("") = e3b0c442...; Lambda reports it base64-encoded.
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            code_sha256(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }

    #[test]
    fn debug_does_not_dump_the_zip() {
        let source = CodeSource::Zip(Bytes::from(vec![0u8; 1000]));
        assert_eq!(format!("{source:?}"), "Zip(1000 bytes)");
    }
}
