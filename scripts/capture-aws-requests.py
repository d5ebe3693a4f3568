#!/usr/bin/env python3
"""Capture real AWS SDK (boto3/botocore) HTTP requests, offline, as a detection fixture.

Every boto3 client gets a `before-send` handler that records the fully signed request
and returns a fake 200 response, so nothing goes over the network. Presigned URLs and
presigned POSTs are recorded as the request a client would send with them. A few SQS
query-protocol requests are signed by hand with botocore's SigV4Auth.

Usage (from the repository root):
    .venv/bin/python scripts/capture-aws-requests.py > proxy-core/src/aws/testdata/captured.json
    .venv/bin/python scripts/capture-aws-requests.py proxy-core/src/aws/testdata/captured.json

Each fixture entry: client, service (boto3 client name), operation (botocore operation
name), region, account (the 12-digit access key id, else 000000000000), method, uri,
headers ([name, value] in order, Host first), body (UTF-8 with replacement, first 2048
bytes) and note. Dates and signatures change between runs; nothing else should.
"""

import base64
import io
import json
import os
import sys
from collections import Counter
from urllib.parse import urlsplit

# The User-Agent lists feature ids from a set: fix hash randomization so reruns match.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv],
              dict(os.environ, PYTHONHASHSEED="0"))

# Keep the user's AWS configuration out of the capture (endpoint overrides, profiles, ...).
for _name in list(os.environ):
    if _name.startswith("AWS_"):
        del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = "/dev/null"
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import random  # noqa: E402
import uuid  # noqa: E402

# Invocation ids (amz-sdk-invocation-id) and idempotency tokens come from uuid4; make
# them reproducible so reruns only differ in dates and signatures.
_uuid_rng = random.Random(4566)
uuid.uuid4 = lambda: uuid.UUID(int=_uuid_rng.getrandbits(128), version=4)

import boto3  # noqa: E402
import botocore  # noqa: E402
from botocore import UNSIGNED  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest, AWSResponse  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

CLIENT = f"boto3 {boto3.__version__}"
BODY_LIMIT = 2048

LOCAL = "http://localhost:4566"
LOCAL_LS = "http://localhost.localstack.cloud:4566"
LOCAL_IP = "http://127.0.0.1:4566"
S3_LS = "http://s3.localhost.localstack.cloud:4566"
LOCAL_TLS = "https://localhost.localstack.cloud:4566"
AWS = None  # no endpoint_url: the SDK resolves the real AWS hostname

ACCOUNT_DEFAULT = "000000000000"
JSON_PROTOCOLS = {"json", "rest-json"}
# A non-empty XML body: botocore treats an empty 200 from S3 CopyObject,
# CompleteMultipartUpload, ... as an error and would retry.
XML_RESPONSE = b'<?xml version="1.0" encoding="UTF-8"?>\n<Response></Response>'
CBOR_EMPTY_MAP = b"\xa0"

RECORDS = []


def account_for(access_key):
    if access_key and len(access_key) == 12 and access_key.isdigit():
        return access_key
    return ACCOUNT_DEFAULT


def host_of(url):
    """The Host header urllib3 would send for this URL (port only when non-default)."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    default = 443 if parts.scheme == "https" else 80
    return f"{host}:{port}" if port and port != default else host


def uri_of(url):
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def body_bytes(body):
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        pos = None
        try:
            pos = body.tell()
        except Exception:
            pass
        data = body.read()
        try:
            if pos is not None:
                body.seek(pos)
        except Exception:
            pass
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    return str(body).encode("utf-8")


def header_list(url, headers):
    """Headers in the order botocore set them, with Host first as urllib3 puts it."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    items = [(text(k), text(v)) for k, v in pairs]
    if not any(k.lower() == "host" for k, _ in items):
        items.insert(0, ("Host", host_of(url)))
    return [list(kv) for kv in items]


def add(service, operation, region, account, method, url, headers, body, note,
        client=CLIENT):
    RECORDS.append({
        "client": client,
        "service": service,
        "operation": operation,
        "region": region,
        "account": account,
        "method": method,
        "uri": uri_of(url),
        "headers": headers,
        "body": body_bytes(body)[:BODY_LIMIT].decode("utf-8", errors="replace"),
        "note": note,
    })


class _Raw:
    """Enough of a urllib3 response for botocore's AWSResponse."""

    def __init__(self, data):
        self._data = data

    def stream(self, **_kwargs):
        yield self._data

    def read(self, *_args, **_kwargs):
        data, self._data = self._data, b""
        return data


class Client:
    """A boto3 client whose requests are captured instead of sent."""

    def __init__(self, service, region="us-east-1", key="test", endpoint=LOCAL,
                 config=None, session_token=None, protocol=None, signing_region=None):
        """`protocol` forces one of the protocols the service model lists (botocore picks
        by its own priority, e.g. json over smithy-rpc-v2-cbor over query).
        `signing_region`: the region a detector can see on the wire when it differs from
        the client's region (global endpoints such as IAM and Route 53 sign us-east-1);
        that is what the fixture records as region."""
        self.service = service
        self.region = signing_region or region
        self.key = key
        self.endpoint = endpoint
        self.label = CLIENT if protocol is None else f"{CLIENT} (protocol forced: {protocol})"
        session = boto3.session.Session(
            aws_access_key_id=key, aws_secret_access_key="test",
            aws_session_token=session_token, region_name=region)
        kwargs = {}
        if config:
            kwargs["config"] = config
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        saved = botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS
        if protocol:
            botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = (protocol,)
        try:
            self.client = session.client(service, **kwargs)
        finally:
            botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = saved
        self.protocol = self.client.meta.service_model.resolved_protocol
        if protocol and self.protocol != protocol:
            raise SystemExit(f"{service}: could not force protocol {protocol}")
        self.client.meta.events.register("before-send", self._before_send)
        self._pending = None

    def _before_send(self, request, event_name=None, **_kwargs):
        pending = self._pending
        if pending is not None and not pending.get("done"):
            op = event_name.rsplit(".", 1)[-1] if event_name else pending["operation"]
            if op != pending["operation"]:
                print(f"warning: expected {pending['operation']}, got event {event_name}",
                      file=sys.stderr)
            add(self.service, op, self.region, account_for(self.key), request.method,
                request.url, header_list(request.url, request.headers), request.body,
                pending["note"], client=self.label)
            pending["done"] = True
        elif pending is not None:
            print(f"warning: {self.service}.{pending['operation']} sent a second request "
                  f"(retry?); not recorded", file=sys.stderr)
        if self.protocol in JSON_PROTOCOLS:
            body, ctype = b"{}", "application/json"
        elif self.protocol == "smithy-rpc-v2-cbor":
            body, ctype = CBOR_EMPTY_MAP, "application/cbor"
        else:
            body, ctype = XML_RESPONSE, "text/xml"
        headers = {"Content-Type": ctype}
        if self.protocol == "smithy-rpc-v2-cbor":
            headers["smithy-protocol"] = "rpc-v2-cbor"
        return AWSResponse(request.url, 200, headers, _Raw(body))

    def call(self, operation, note="", **params):
        """Call the snake_case method for `operation` (PascalCase) and capture its request."""
        method = self.client.meta.method_to_api_mapping
        name = next((m for m, api in method.items() if api == operation), None)
        if name is None:
            raise SystemExit(f"{self.service} has no operation {operation}")
        self._pending = {"operation": operation, "note": note}
        try:
            getattr(self.client, name)(**params)
        except Exception as exc:  # the fake response often does not parse; that's fine
            if not self._pending.get("done"):
                print(f"warning: {self.service}.{operation} not captured: {exc!r}",
                      file=sys.stderr)
        if not self._pending.get("done"):
            print(f"warning: {self.service}.{operation} sent nothing", file=sys.stderr)
        self._pending = None
        return self

    def presign(self, operation, params, method, note, body=None, extra_headers=()):
        name = next(m for m, api in self.client.meta.method_to_api_mapping.items()
                    if api == operation)
        url = self.client.generate_presigned_url(
            ClientMethod=name, Params=params, ExpiresIn=3600, HttpMethod=method)
        headers = [["Host", host_of(url)]] + [list(h) for h in extra_headers]
        add(self.service, operation, self.region, account_for(self.key), method, url,
            headers, body, note, client=self.label)

    def presign_post(self, bucket, key, note, fields=None, conditions=None):
        post = self.client.generate_presigned_post(
            Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=3600)
        boundary = "edgestackboundary7MA4YWxkTrZu0gW"
        parts = []
        for name, value in post["fields"].items():
            parts.append(f"--{boundary}\r\nContent-Disposition: form-data; "
                         f"name=\"{name}\"\r\n\r\n{value}\r\n")
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"hello.txt\"\r\nContent-Type: text/plain\r\n\r\n"
                     f"hello from a presigned post\r\n--{boundary}--\r\n")
        body = "".join(parts).encode()
        headers = [["Host", host_of(post["url"])],
                   ["Content-Type", f"multipart/form-data; boundary={boundary}"],
                   ["Content-Length", str(len(body))]]
        add(self.service, "PostObject", self.region, account_for(self.key), "POST",
            post["url"], headers, body, note, client=self.label)


def path_style(**extra):
    return Config(s3={"addressing_style": "path"}, **extra)


def virtual_style(**extra):
    return Config(s3={"addressing_style": "virtual"}, **extra)


# --------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------

def capture_s3():
    b = "my-bucket"
    s3 = Client("s3", config=path_style())
    s3.call("ListBuckets", "path style, service root GET /")
    s3.call("CreateBucket", "path style, us-east-1, no LocationConstraint body", Bucket=b)
    s3.call("HeadBucket", "path style, HEAD /bucket", Bucket=b)
    s3.call("PutObject", "path style, bytes body", Bucket=b, Key="hello.txt",
            Body=b"hello world", ContentType="text/plain")
    s3.call("PutObject", "path style, key with slashes, spaces and unicode (percent-encoded)",
            Bucket=b, Key="dir/sub dir/caf\u00e9 & co.txt", Body=b"x")
    s3.call("PutObject", "path style, file-like body over plain http: no aws-chunked, checksum header",
            Bucket=b, Key="stream.bin", Body=io.BytesIO(b"streamed body " * 4))
    s3.call("GetObject", "path style", Bucket=b, Key="hello.txt")
    s3.call("GetObject", "path style, Range header and response-content-type query",
            Bucket=b, Key="hello.txt", Range="bytes=0-4", ResponseContentType="text/html")
    s3.call("GetObject", "path style, versionId query", Bucket=b, Key="hello.txt",
            VersionId="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")
    s3.call("HeadObject", "path style, HEAD /bucket/key", Bucket=b, Key="hello.txt")
    s3.call("CopyObject", "path style, PUT with x-amz-copy-source", Bucket=b,
            Key="copy.txt", CopySource={"Bucket": b, "Key": "hello.txt"})
    s3.call("DeleteObject", "path style, DELETE /bucket/key", Bucket=b, Key="copy.txt")
    s3.call("DeleteObjects", "path style, POST /bucket?delete", Bucket=b,
            Delete={"Objects": [{"Key": "a.txt"}, {"Key": "b.txt"}], "Quiet": True})
    s3.call("CreateMultipartUpload", "path style, POST /bucket/key?uploads", Bucket=b,
            Key="big.bin")
    s3.call("UploadPart", "path style, PUT ?partNumber=1&uploadId=", Bucket=b, Key="big.bin",
            PartNumber=1, UploadId="upload-123", Body=b"part-one")
    s3.call("ListParts", "path style, GET ?uploadId=", Bucket=b, Key="big.bin",
            UploadId="upload-123")
    s3.call("CompleteMultipartUpload", "path style, POST ?uploadId=", Bucket=b, Key="big.bin",
            UploadId="upload-123",
            MultipartUpload={"Parts": [{"ETag": '"etag1"', "PartNumber": 1}]})
    s3.call("AbortMultipartUpload", "path style, DELETE ?uploadId=", Bucket=b,
            Key="big.bin", UploadId="upload-456")
    s3.call("ListMultipartUploads", "path style, GET /bucket?uploads", Bucket=b)
    s3.call("ListObjects", "path style, ListObjects v1 with prefix/delimiter", Bucket=b,
            Prefix="dir/", Delimiter="/")
    s3.call("ListObjectsV2", "path style, GET /bucket?list-type=2", Bucket=b, MaxKeys=10)
    s3.call("ListObjectVersions", "path style, GET /bucket?versions", Bucket=b)
    s3.call("GetBucketLocation", "path style, GET /bucket?location", Bucket=b)
    s3.call("PutBucketNotificationConfiguration", "path style, PUT ?notification", Bucket=b,
            NotificationConfiguration={"QueueConfigurations": [{
                "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
                "Events": ["s3:ObjectCreated:*"]}]})
    s3.call("GetBucketNotificationConfiguration", "path style, GET ?notification", Bucket=b)
    s3.call("PutBucketCors", "path style, PUT ?cors (Content-MD5/checksum required)",
            Bucket=b, CORSConfiguration={"CORSRules": [
                {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]})
    s3.call("GetBucketCors", "path style, GET ?cors", Bucket=b)
    s3.call("DeleteBucketCors", "path style, DELETE ?cors", Bucket=b)
    s3.call("PutBucketVersioning", "path style, PUT ?versioning", Bucket=b,
            VersioningConfiguration={"Status": "Enabled"})
    s3.call("GetBucketVersioning", "path style, GET ?versioning", Bucket=b)
    s3.call("PutObjectTagging", "path style, PUT /bucket/key?tagging", Bucket=b,
            Key="hello.txt", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.call("GetObjectTagging", "path style, GET /bucket/key?tagging", Bucket=b,
            Key="hello.txt")
    s3.call("PutBucketPolicy", "path style, PUT ?policy (JSON body)", Bucket=b,
            Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    s3.call("GetBucketPolicy", "path style, GET ?policy", Bucket=b)
    s3.call("GetObjectAcl", "path style, GET /bucket/key?acl", Bucket=b, Key="hello.txt")
    s3.call("PutBucketTagging", "path style, PUT ?tagging on bucket", Bucket=b,
            Tagging={"TagSet": [{"Key": "env", "Value": "test"}]})
    s3.call("DeleteBucket", "path style, DELETE /bucket", Bucket=b)

    s3eu = Client("s3", region="eu-west-1", key="123456789012", config=path_style())
    s3eu.call("CreateBucket", "path style, eu-west-1 with LocationConstraint body",
              Bucket="eu-bucket",
              CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3eu.call("PutObject", "path style, eu-west-1, 12-digit access key",
              Bucket="eu-bucket", Key="k", Body=b"v")

    # Default addressing against a custom endpoint.
    s3auto = Client("s3", endpoint=LOCAL)
    s3auto.call("GetObject", "default addressing_style with endpoint http://localhost:4566",
                Bucket=b, Key="auto.txt")
    s3auto_ls = Client("s3", endpoint=LOCAL_LS)
    s3auto_ls.call("PutObject",
                   "default addressing_style with endpoint localhost.localstack.cloud",
                   Bucket=b, Key="auto.txt", Body=b"auto")

    # Virtual-host style.
    s3v = Client("s3", endpoint=S3_LS, config=virtual_style())
    s3v.call("PutObject", "virtual host style on s3.localhost.localstack.cloud:4566",
             Bucket=b, Key="vhost.txt", Body=b"virtual")
    s3v.call("GetObject", "virtual host style on s3.localhost.localstack.cloud:4566",
             Bucket=b, Key="vhost.txt")
    s3v.call("ListObjectsV2", "virtual host style, bucket-level op, path /", Bucket=b)
    s3v.call("ListBuckets", "virtual style client but no bucket: plain s3.localhost... host")
    s3v.call("CreateBucket", "virtual host style, CreateBucket", Bucket="vhost-bucket")
    s3v.call("DeleteObjects", "virtual host style, POST /?delete", Bucket=b,
             Delete={"Objects": [{"Key": "vhost.txt"}]})
    s3v_local = Client("s3", endpoint=LOCAL, config=virtual_style())
    s3v_local.call("HeadObject", "virtual host style on http://localhost:4566",
                   Bucket=b, Key="vhost.txt")
    s3v_ls = Client("s3", endpoint=LOCAL_LS, config=virtual_style())
    s3v_ls.call("GetObject", "virtual host style on localhost.localstack.cloud (no s3.)",
                Bucket=b, Key="vhost.txt")

    # Real AWS hostnames.
    s3aws = Client("s3", endpoint=AWS)
    s3aws.call("GetObject", "no endpoint, us-east-1, default (virtual) addressing",
               Bucket=b, Key="real.txt")
    s3aws.call("ListBuckets", "no endpoint, us-east-1, ListBuckets")
    s3aws.call("GetObject", "no endpoint, bucket name with dots (not virtual-host safe)",
               Bucket="my.dotted.bucket", Key="k.txt")
    s3aws_eu = Client("s3", region="eu-west-1", endpoint=AWS)
    s3aws_eu.call("PutObject", "no endpoint, eu-west-1, virtual host", Bucket=b,
                  Key="real.txt", Body=b"real")
    s3aws_eu.call("HeadBucket", "no endpoint, eu-west-1, HeadBucket virtual host", Bucket=b)
    s3aws_path = Client("s3", region="ap-southeast-2", endpoint=AWS, config=path_style())
    s3aws_path.call("GetObject", "no endpoint, ap-southeast-2, path style", Bucket=b,
                    Key="real.txt")
    s3aws_path_use1 = Client("s3", endpoint=AWS, config=path_style())
    s3aws_path_use1.call("ListObjectsV2", "no endpoint, us-east-1, path style", Bucket=b)

    # Presigned URLs. NB: without an explicit signature_version, botocore presigns S3
    # URLs and POST policies with SigV2 (AWSAccessKeyId/Signature/Expires), and for a
    # regional bucket without endpoint_url it uses the global {bucket}.s3.amazonaws.com.
    s3.presign("GetObject", {"Bucket": b, "Key": "hello.txt"}, "GET",
               "presigned GET with default config: botocore defaults presigning to SigV2")
    s3.presign("PutObject", {"Bucket": b, "Key": "upload.txt"}, "PUT",
               "presigned PUT with default config (SigV2 query auth), body sent by a "
               "plain HTTP client", body=b"presigned upload",
               extra_headers=[("Content-Length", "16")])
    s3v4 = Client("s3", config=path_style(signature_version="s3v4"))
    s3v4.presign("GetObject", {"Bucket": b, "Key": "hello.txt"}, "GET",
                 "presigned v4 GET, path style, X-Amz-Credential etc., no Authorization")
    s3v4.presign("PutObject", {"Bucket": b, "Key": "upload.txt"}, "PUT",
                 "presigned v4 PUT, path style, body sent by a plain HTTP client",
                 body=b"presigned upload", extra_headers=[("Content-Length", "16")])
    s3v4.presign("GetObject", {"Bucket": b, "Key": "dir/caf\u00e9 file.txt",
                               "ResponseContentDisposition": "attachment"}, "GET",
                 "presigned v4 GET, encoded key and response-content-disposition")
    s3v4v = Client("s3", endpoint=S3_LS, config=virtual_style(signature_version="s3v4"))
    s3v4v.presign("GetObject", {"Bucket": b, "Key": "vhost.txt"}, "GET",
                  "presigned v4 GET, virtual host style on s3.localhost.localstack.cloud")
    s3v4_eu = Client("s3", region="eu-west-1", endpoint=AWS,
                     config=Config(signature_version="s3v4"))
    s3v4_eu.presign("GetObject", {"Bucket": b, "Key": "real.txt"}, "GET",
                    "presigned v4 GET, no endpoint, eu-west-1: botocore presigns against the "
                    "global {bucket}.s3.amazonaws.com host, scope says eu-west-1")
    s3v4_eu.presign("PutObject", {"Bucket": b, "Key": "real.txt"}, "PUT",
                    "presigned v4 PUT, no endpoint, eu-west-1 (global host, regional scope)", body=b"abc",
                    extra_headers=[("Content-Length", "3")])
    s3v4_12 = Client("s3", key="000000000001", region="ap-southeast-2",
                     config=path_style(signature_version="s3v4"))
    s3v4_12.presign("GetObject", {"Bucket": b, "Key": "hello.txt"}, "GET",
                    "presigned v4 GET, ap-southeast-2, 12-digit access key in "
                    "X-Amz-Credential")
    s3v4_12.presign("HeadObject", {"Bucket": b, "Key": "hello.txt"}, "HEAD",
                    "presigned v4 HEAD, 12-digit access key")

    # SigV2 ("s3" signature version): header auth and presigned.
    s3v2 = Client("s3", config=path_style(signature_version="s3"))
    s3v2.call("GetObject", "SigV2 header auth: Authorization: AWS key:sig", Bucket=b,
              Key="hello.txt")
    s3v2.call("PutObject", "SigV2 header auth, PUT", Bucket=b, Key="v2.txt", Body=b"v2")
    s3v2.call("ListObjects", "SigV2 header auth, bucket listing", Bucket=b)
    s3v2.presign("GetObject", {"Bucket": b, "Key": "hello.txt"}, "GET",
                 "presigned v2 (explicit signature_version=s3): AWSAccessKeyId, "
                 "Signature, Expires")
    s3v2_12 = Client("s3", key="123456789012", config=path_style(signature_version="s3"))
    s3v2_12.presign("PutObject", {"Bucket": b, "Key": "v2put.txt"}, "PUT",
                    "presigned v2 PUT, 12-digit access key", body=b"v2 presigned",
                    extra_headers=[("Content-Length", "12")])
    s3v2_12.call("HeadObject", "SigV2 header auth, 12-digit access key", Bucket=b,
                 Key="v2put.txt")

    # Presigned POST (browser-style form upload).
    s3.presign_post(b, "uploads/form.txt",
                    "presigned POST, default config: SigV2 policy fields "
                    "(AWSAccessKeyId, policy, signature), path style")
    s3v4.presign_post(b, "uploads/form-v4.txt",
                      "presigned POST, SigV4 policy fields (x-amz-credential, "
                      "x-amz-signature), path style")
    s3v4_eu.presign_post(b, "uploads/${filename}",
                         "presigned POST SigV4, no endpoint, eu-west-1: global virtual host, "
                         "region only in the x-amz-credential form field",
                         conditions=[["starts-with", "$key", "uploads/"]])

    # HTTPS endpoint with a port, and streaming uploads over TLS.
    s3tls = Client("s3", endpoint=LOCAL_TLS, config=path_style())
    s3tls.call("PutObject", "https endpoint with port 4566, file-like body: aws-chunked with "
               "STREAMING-UNSIGNED-PAYLOAD-TRAILER; body is the aws-chunked payload as it "
               "is after HTTP Transfer-Encoding: chunked is removed",
               Bucket=b, Key="tls.bin", Body=io.BytesIO(b"streamed over tls " * 3))
    s3tls.call("GetObject", "https endpoint with port 4566", Bucket=b, Key="tls.bin")
    s3aws.call("PutObject", "no endpoint (https), file-like body: aws-chunked with trailing checksum", Bucket=b,
               Key="stream.bin", Body=io.BytesIO(b"streamed to aws " * 3))
    s3.call("UploadPartCopy", "path style, PUT ?partNumber&uploadId with x-amz-copy-source",
            Bucket=b, Key="big.bin", PartNumber=2, UploadId="upload-123",
            CopySource={"Bucket": b, "Key": "hello.txt"})
    s3.call("PutObjectAcl", "path style, canned ACL header", Bucket=b, Key="hello.txt",
            ACL="public-read")
    s3.call("GetBucketAcl", "path style, GET ?acl", Bucket=b)
    s3.call("PutBucketLifecycleConfiguration", "path style, PUT ?lifecycle", Bucket=b,
            LifecycleConfiguration={"Rules": [{"ID": "r", "Status": "Enabled",
                                               "Filter": {"Prefix": ""},
                                               "Expiration": {"Days": 1}}]})

    # Unsigned.
    s3u = Client("s3", config=path_style(signature_version=UNSIGNED))
    s3u.call("GetObject", "unsigned (anonymous) GET, no Authorization", Bucket=b,
             Key="public.txt")
    s3u.call("ListObjectsV2", "unsigned (anonymous) list", Bucket=b)
    s3u_aws = Client("s3", region="us-west-2", endpoint=AWS, config=Config(
        signature_version=UNSIGNED))
    s3u_aws.call("HeadObject", "unsigned, no endpoint, us-west-2", Bucket=b, Key="public.txt")


def capture_s3control():
    c = Client("s3control", key="123456789012")
    c.call("ListAccessPoints", "AccountId is a host prefix and x-amz-account-id header",
           AccountId="123456789012")
    c.call("GetPublicAccessBlock", "custom endpoint", AccountId="123456789012")
    c.call("PutPublicAccessBlock", "custom endpoint, XML body", AccountId="123456789012",
           PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    c2 = Client("s3control", endpoint=AWS, region="eu-west-1")
    c2.call("ListJobs", "no endpoint: {account}.s3-control.{region}.amazonaws.com",
            AccountId="000000000000")
    c2.call("CreateAccessPoint", "no endpoint, PUT /v20180820/accesspoint/{name}",
            AccountId="000000000000", Name="ap1", Bucket="my-bucket")
    c3 = Client("s3control", endpoint=LOCAL, config=Config(inject_host_prefix=False))
    c3.call("ListAccessPoints", "inject_host_prefix=False: host stays localhost:4566",
            AccountId="000000000000")


# --------------------------------------------------------------------------------------
# JSON-protocol services
# --------------------------------------------------------------------------------------

def capture_dynamodb():
    d = Client("dynamodb")
    d.call("ListTables", "X-Amz-Target DynamoDB_20120810.ListTables")
    d.call("CreateTable", "", TableName="t", BillingMode="PAY_PER_REQUEST",
           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    d.call("PutItem", "", TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    d.call("GetItem", "", TableName="t", Key={"pk": {"S": "a"}})
    d.call("Query", "", TableName="t", KeyConditionExpression="pk = :v",
           ExpressionAttributeValues={":v": {"S": "a"}})
    d.call("BatchWriteItem", "", RequestItems={"t": [
        {"PutRequest": {"Item": {"pk": {"S": "b"}}}}]})
    dw = Client("dynamodb", region="us-west-2", endpoint=AWS)
    dw.call("DescribeTable", "no endpoint, us-west-2 (dynamodb.us-west-2.amazonaws.com)",
            TableName="t")
    dw.call("Scan", "no endpoint, us-west-2", TableName="t", Limit=5)
    di = Client("dynamodb", region="eu-west-1", key="123456789012", endpoint=LOCAL_IP)
    di.call("UpdateItem", "127.0.0.1 endpoint, eu-west-1, 12-digit key", TableName="t",
            Key={"pk": {"S": "a"}}, UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "2"}})
    dt = Client("dynamodb", session_token="FwoGZXIvYXdzEXAMPLETOKEN")
    dt.call("DeleteItem", "temporary credentials: X-Amz-Security-Token header",
            TableName="t", Key={"pk": {"S": "a"}})


def capture_dynamodbstreams():
    arn = "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000"
    s = Client("dynamodbstreams")
    s.call("ListStreams", "target DynamoDBStreams_20120810; SigV4 scope service 'dynamodb'")
    s.call("DescribeStream", "", StreamArn=arn)
    s.call("GetShardIterator", "", StreamArn=arn, ShardId="shardId-00000001700000000000-abcdef12",
           ShardIteratorType="TRIM_HORIZON")
    s.call("GetRecords", "", ShardIterator="AAAAAAAAAAH-iterator")
    sa = Client("dynamodbstreams", region="eu-west-1", endpoint=AWS)
    sa.call("ListStreams", "no endpoint: streams.dynamodb.eu-west-1.amazonaws.com",
            TableName="table")


def capture_sqs():
    q = "http://localhost:4566/000000000000/my-queue"
    s = Client("sqs")
    s.call("ListQueues", "JSON protocol, X-Amz-Target AmazonSQS.ListQueues, path /")
    s.call("CreateQueue", "JSON protocol", QueueName="my-queue",
           Attributes={"VisibilityTimeout": "30"})
    s.call("GetQueueUrl", "JSON protocol", QueueName="my-queue")
    s.call("SendMessage", "JSON protocol, QueueUrl in body", QueueUrl=q, MessageBody="hi")
    s.call("ReceiveMessage", "JSON protocol", QueueUrl=q, MaxNumberOfMessages=10,
           WaitTimeSeconds=0)
    s.call("DeleteMessage", "JSON protocol", QueueUrl=q, ReceiptHandle="rh-1")
    s.call("GetQueueAttributes", "JSON protocol", QueueUrl=q, AttributeNames=["All"])
    sa = Client("sqs", region="eu-west-1", endpoint=AWS, key="123456789012")
    sa.call("SendMessage", "no endpoint: sqs.eu-west-1.amazonaws.com, 12-digit key",
            QueueUrl="https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            MessageBody="hello")
    sl = Client("sqs", region="ap-southeast-2", endpoint=LOCAL_LS)
    sl.call("SendMessageBatch", "localhost.localstack.cloud endpoint, ap-southeast-2",
            QueueUrl="http://sqs.ap-southeast-2.localhost.localstack.cloud:4566/"
                     "000000000000/q",
            Entries=[{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}])


def sigv4_query(service, signing_name, operation, region, key, url, params, note):
    """An SQS-style query-protocol request signed by hand (as older SDKs send it)."""
    from urllib.parse import urlencode
    body = urlencode(params)
    req = AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(key, "test"), signing_name, region).add_auth(req)
    prepared = req.prepare()
    add(service, operation, region, account_for(key), prepared.method, prepared.url,
        header_list(prepared.url, prepared.headers), prepared.body, note,
        client="botocore SigV4Auth (query protocol)")


def capture_sqs_query():
    v = "2012-11-05"
    sigv4_query("sqs", "sqs", "ListQueues", "us-east-1", "test", LOCAL + "/",
                {"Action": "ListQueues", "Version": v}, "query protocol form POST to /")
    sigv4_query("sqs", "sqs", "CreateQueue", "us-east-1", "test", LOCAL + "/",
                {"Action": "CreateQueue", "QueueName": "legacy-q", "Version": v,
                 "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "20"},
                "query protocol form POST to /")
    sigv4_query("sqs", "sqs", "SendMessage", "us-east-1", "test", LOCAL + "/",
                {"Action": "SendMessage", "QueueUrl": LOCAL + "/000000000000/legacy-q",
                 "MessageBody": "hello", "Version": v},
                "query protocol, QueueUrl form parameter, POST to /")
    sigv4_query("sqs", "sqs", "SendMessage", "eu-west-1", "123456789012",
                LOCAL + "/123456789012/legacy-q",
                {"Action": "SendMessage", "MessageBody": "hello", "Version": v},
                "query protocol, POST to the queue URL path, no QueueUrl parameter")
    sigv4_query("sqs", "sqs", "ReceiveMessage", "eu-west-1", "test",
                "https://sqs.eu-west-1.amazonaws.com/000000000000/legacy-q",
                {"Action": "ReceiveMessage", "MaxNumberOfMessages": "5", "Version": v},
                "query protocol to the real AWS host, queue URL path")


def capture_json_services():
    Client("sns").call("ListTopics", "query protocol, Action=ListTopics")
    sns = Client("sns", region="eu-west-1")
    sns.call("Publish", "query protocol, eu-west-1",
             TopicArn="arn:aws:sns:eu-west-1:000000000000:t", Message="hi")
    sns.call("CreateTopic", "query protocol", Name="t")
    Client("sns", endpoint=AWS, region="us-west-2").call(
        "Subscribe", "no endpoint: sns.us-west-2.amazonaws.com",
        TopicArn="arn:aws:sns:us-west-2:000000000000:t", Protocol="sqs",
        Endpoint="arn:aws:sqs:us-west-2:000000000000:q")

    k = Client("kinesis")
    k.call("ListStreams", "")
    k.call("PutRecord", "Data is base64 in the JSON body", StreamName="s", Data=b"data",
           PartitionKey="pk")
    k.call("GetRecords", "", ShardIterator="AAAA")
    Client("kinesis", endpoint=AWS, region="eu-west-1").call(
        "DescribeStream", "no endpoint: kinesis.eu-west-1.amazonaws.com", StreamName="s")
    k.call("SubscribeToShard", "event-stream (HTTP/2 in other SDKs) operation; request is plain JSON", ConsumerARN=(
        "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1"),
        ShardId="shardId-000000000000",
        StartingPosition={"Type": "LATEST"})

    f = Client("firehose")
    f.call("ListDeliveryStreams", "target Firehose_20150804")
    f.call("PutRecord", "", DeliveryStreamName="d", Record={"Data": b"x"})

    kms = Client("kms")
    kms.call("ListKeys", "target TrentService")
    kms.call("Encrypt", "", KeyId="alias/k", Plaintext=b"secret")
    Client("kms", endpoint=AWS, region="ap-southeast-2").call(
        "Decrypt", "no endpoint, ap-southeast-2", CiphertextBlob=b"blob")

    sm = Client("secretsmanager")
    sm.call("CreateSecret", "", Name="s", SecretString="v")
    sm.call("GetSecretValue", "", SecretId="s")
    Client("secretsmanager", endpoint=LOCAL_LS, region="eu-west-1").call(
        "ListSecrets", "localhost.localstack.cloud endpoint, eu-west-1")

    ssm = Client("ssm")
    ssm.call("PutParameter", "target AmazonSSM", Name="/a/b", Value="v", Type="String",
             Overwrite=True)
    ssm.call("GetParameter", "", Name="/a/b")
    Client("ssm", endpoint=AWS, region="us-west-2").call(
        "GetParametersByPath", "no endpoint, us-west-2", Path="/a")

    logs = Client("logs")
    logs.call("CreateLogGroup", "target Logs_20140328", logGroupName="/g")
    logs.call("PutLogEvents", "", logGroupName="/g", logStreamName="s",
              logEvents=[{"timestamp": 1700000000000, "message": "m"}])
    logs.call("FilterLogEvents", "", logGroupName="/g")
    Client("logs", endpoint=AWS, region="eu-west-1").call(
        "DescribeLogGroups", "no endpoint: logs.eu-west-1.amazonaws.com")

    ev = Client("events")
    ev.call("PutEvents", "target AWSEvents", Entries=[
        {"Source": "app", "DetailType": "t", "Detail": "{}"}])
    ev.call("PutRule", "", Name="r", ScheduleExpression="rate(1 minute)")
    ev.call("ListRules", "")

    sf = Client("stepfunctions")
    sf.call("ListStateMachines", "target AWSStepFunctions; endpoint prefix/sign name 'states'")
    sf.call("StartExecution", "", stateMachineArn=(
        "arn:aws:states:us-east-1:000000000000:stateMachine:m"), input="{}")
    Client("stepfunctions", endpoint=AWS, region="eu-west-1").call(
        "DescribeExecution", "no endpoint: states.eu-west-1.amazonaws.com",
        executionArn="arn:aws:states:eu-west-1:000000000000:execution:m:e")

    Client("acm").call("ListCertificates", "target CertificateManager")
    Client("acm", endpoint=AWS, region="eu-west-1").call(
        "RequestCertificate", "no endpoint", DomainName="example.com")

    ecr = Client("ecr")
    ecr.call("DescribeRepositories", "endpoint prefix api.ecr, signing name ecr")
    ecr.call("GetAuthorizationToken", "")
    Client("ecr", endpoint=AWS, region="us-west-2").call(
        "CreateRepository", "no endpoint: api.ecr.us-west-2.amazonaws.com",
        repositoryName="repo")

    glue = Client("glue")
    glue.call("GetDatabases", "target AWSGlue")
    glue.call("CreateDatabase", "", DatabaseInput={"Name": "db"})

    ath = Client("athena")
    ath.call("StartQueryExecution", "target AmazonAthena", QueryString="SELECT 1",
             ClientRequestToken="token-0123456789-0123456789-0123456789")
    ath.call("ListWorkGroups", "")

    cidp = Client("cognito-idp")
    cidp.call("ListUserPools", "target AWSCognitoIdentityProviderService", MaxResults=10)
    cidp.call("CreateUserPool", "", PoolName="p")
    cidp.call("InitiateAuth", "unsigned by design (no Authorization header)",
              AuthFlow="USER_PASSWORD_AUTH", ClientId="client",
              AuthParameters={"USERNAME": "u", "PASSWORD": "p"})
    Client("cognito-idp", endpoint=AWS, region="eu-west-1").call(
        "SignUp", "unsigned by design, no endpoint: cognito-idp.eu-west-1.amazonaws.com",
        ClientId="client", Username="u", Password="Passw0rd!")

    ci = Client("cognito-identity")
    ci.call("ListIdentityPools", "target AWSCognitoIdentityService", MaxResults=10)
    ci.call("GetId", "unsigned by design", IdentityPoolId="us-east-1:pool")

    tag = Client("resourcegroupstaggingapi")
    tag.call("GetResources", "model lists smithy-rpc-v2-cbor and json; botocore sends json;"
             " endpoint prefix and signing name 'tagging'")
    Client("resourcegroupstaggingapi", endpoint=AWS, region="eu-west-1").call(
        "GetTagKeys", "no endpoint: tagging.eu-west-1.amazonaws.com")

    sg = Client("sagemaker")
    sg.call("ListModels", "target SageMaker, endpoint prefix api.sagemaker")
    Client("sagemaker", endpoint=AWS, region="us-west-2").call(
        "ListEndpoints", "no endpoint: api.sagemaker.us-west-2.amazonaws.com")

    ecs = Client("ecs")
    ecs.call("ListClusters", "target AmazonEC2ContainerServiceV20141113")
    ecs.call("RunTask", "", cluster="c", taskDefinition="td:1")

    cfg = Client("config")
    cfg.call("DescribeConfigRules", "target StarlingDoveService")

    org = Client("organizations")
    org.call("DescribeOrganization", "target AWSOrganizationsV20161128")
    Client("organizations", endpoint=AWS).call(
        "ListAccounts", "no endpoint: organizations.us-east-1.amazonaws.com")

    Client("cloudtrail").call("DescribeTrails", "long target prefix with dots")
    Client("emr").call("ListClusters", "target ElasticMapReduce, endpoint elasticmapreduce")
    Client("swf").call("ListDomains", "target SimpleWorkflowService",
                       registrationStatus="REGISTERED")
    Client("transcribe").call("ListTranscriptionJobs", "model lists smithy-rpc-v2-cbor and json; botocore sends json")
    Client("kinesisanalyticsv2").call("ListApplications", "signing name kinesisanalytics")


def capture_cloudwatch():
    cw = Client("cloudwatch")
    cw.call("PutMetricData", "whatever protocol botocore picks (rpc-v2-cbor first)",
            Namespace="App", MetricData=[{"MetricName": "m", "Value": 1.0, "Unit": "Count"}])
    cw.call("ListMetrics", "", Namespace="App")
    cw.call("DescribeAlarms", "")
    cw.call("GetMetricData", "", StartTime=1700000000, EndTime=1700003600,
            MetricDataQueries=[{"Id": "q", "MetricStat": {"Metric": {
                "Namespace": "App", "MetricName": "m"}, "Period": 60, "Stat": "Sum"}}])
    Client("cloudwatch", endpoint=AWS, region="eu-west-1").call(
        "PutMetricAlarm", "no endpoint: monitoring.eu-west-1.amazonaws.com",
        AlarmName="a", MetricName="m", Namespace="App", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")

    # The model lists smithy-rpc-v2-cbor, json and query; botocore prefers json, other
    # SDKs (and older botocore: query) send the others. Force them to capture real
    # botocore serializations of each.
    cbor = Client("cloudwatch", protocol="smithy-rpc-v2-cbor")
    cbor.call("PutMetricData", "rpc-v2-cbor: POST /service/<svc>/operation/<op>, "
              "binary CBOR body", Namespace="App",
              MetricData=[{"MetricName": "m", "Value": 1.0, "Unit": "Count"}])
    cbor.call("ListMetrics", "rpc-v2-cbor", Namespace="App")
    cbor.call("DescribeAlarms", "rpc-v2-cbor, no input members")
    Client("cloudwatch", protocol="smithy-rpc-v2-cbor", endpoint=AWS,
           region="ap-southeast-2").call(
        "GetMetricStatistics", "rpc-v2-cbor, no endpoint, ap-southeast-2", Namespace="App",
        MetricName="m", StartTime=1700000000, EndTime=1700003600, Period=60,
        Statistics=["Sum"])
    query = Client("cloudwatch", protocol="query", region="eu-west-1")
    query.call("PutMetricData", "query protocol (Action=PutMetricData&Version=2010-08-01),"
               " as older SDKs send it", Namespace="App",
               MetricData=[{"MetricName": "m", "Value": 1.0}])
    query.call("ListMetrics", "query protocol", Namespace="App")
    Client("resourcegroupstaggingapi", protocol="smithy-rpc-v2-cbor").call(
        "GetResources", "rpc-v2-cbor forced on the tagging API")


# --------------------------------------------------------------------------------------
# REST services
# --------------------------------------------------------------------------------------

def capture_rest_services():
    lam = Client("lambda")
    lam.call("ListFunctions", "GET /2015-03-31/functions/")
    lam.call("GetFunction", "", FunctionName="fn")
    lam.call("Invoke", "POST .../invocations, raw payload body", FunctionName="fn",
             Payload=b'{"hello": "world"}')
    lam.call("Invoke", "async invoke (X-Amz-Invocation-Type: Event), ARN as name",
             FunctionName="arn:aws:lambda:us-east-1:000000000000:function:fn",
             InvocationType="Event", Payload=b"{}")
    lam.call("CreateFunction", "zip is base64 in the JSON body", FunctionName="fn",
             Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
             Handler="h.handler", Code={"ZipFile": b"PK\x03\x04fake zip"})
    lam.call("CreateEventSourceMapping", "", FunctionName="fn",
             EventSourceArn="arn:aws:sqs:us-east-1:000000000000:q")
    Client("lambda", endpoint=AWS, region="eu-west-1").call(
        "GetFunctionConfiguration", "no endpoint: lambda.eu-west-1.amazonaws.com",
        FunctionName="fn")
    Client("lambda", endpoint=LOCAL_IP, region="ap-southeast-2", key="000000000001").call(
        "ListLayers", "127.0.0.1, ap-southeast-2, 12-digit key")

    ag = Client("apigateway")
    ag.call("GetRestApis", "GET /restapis")
    ag.call("CreateRestApi", "", name="api")
    ag.call("GetResources", "", restApiId="abc123")
    ag.call("CreateDeployment", "", restApiId="abc123", stageName="dev")
    Client("apigateway", endpoint=AWS, region="eu-west-1").call(
        "GetRestApis", "no endpoint: apigateway.eu-west-1.amazonaws.com")

    ag2 = Client("apigatewayv2")
    ag2.call("GetApis", "GET /v2/apis, signing name apigateway")
    ag2.call("CreateApi", "", Name="http-api", ProtocolType="HTTP")
    ag2.call("GetRoutes", "", ApiId="abc123")
    Client("apigatewayv2", endpoint=AWS, region="us-west-2").call(
        "GetStages", "no endpoint: same host as apigateway v1", ApiId="abc123")

    sv2 = Client("sesv2")
    sv2.call("SendEmail", "POST /v2/email/outbound-emails, signed 'ses'",
             FromEmailAddress="a@example.com",
             Destination={"ToAddresses": ["b@example.com"]},
             Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}})
    sv2.call("ListEmailIdentities", "")
    sv2.call("CreateEmailIdentity", "", EmailIdentity="a@example.com")
    Client("sesv2", endpoint=AWS, region="eu-west-1").call(
        "GetAccount", "no endpoint: email.eu-west-1.amazonaws.com")

    r53 = Client("route53")
    r53.call("ListHostedZones", "rest-xml, GET /2013-04-01/hostedzone")
    r53.call("ChangeResourceRecordSets", "XML body", HostedZoneId="Z123",
             ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                 "Name": "a.example.com", "Type": "A", "TTL": 60,
                 "ResourceRecords": [{"Value": "1.2.3.4"}]}}]})
    Client("route53", endpoint=AWS, region="eu-west-1", signing_region="us-east-1").call(
        "GetHostedZone", "client region eu-west-1, no endpoint: global route53.amazonaws.com,"
        " signed for us-east-1 (the region recorded)", Id="Z123")

    os_ = Client("opensearch")
    os_.call("ListDomainNames", "GET /2021-01-01/domain, signing name es")
    os_.call("CreateDomain", "", DomainName="domain")
    es = Client("es")
    es.call("ListDomainNames", "GET /2015-01-01/domain, same endpoint prefix es")
    es.call("DescribeElasticsearchDomain", "", DomainName="domain")

    rg = Client("resource-groups")
    rg.call("ListGroups", "POST /groups-list")
    rg.call("CreateGroup", "", Name="g", ResourceQuery={"Type": "TAG_FILTERS_1_0",
                                                         "Query": "{}"})

    sch = Client("scheduler")
    sch.call("ListSchedules", "GET /schedules")
    sch.call("CreateSchedule", "", Name="s", ScheduleExpression="rate(1 minute)",
             FlexibleTimeWindow={"Mode": "OFF"},
             Target={"Arn": "arn:aws:sqs:us-east-1:000000000000:q",
                     "RoleArn": "arn:aws:iam::000000000000:role/r"})

    aps = Client("appsync")
    aps.call("ListGraphqlApis", "GET /v1/apis")

    iot = Client("iot")
    iot.call("ListThings", "GET /things")
    iot.call("DescribeEndpoint", "", endpointType="iot:Data-ATS")
    Client("iot-data").call("Publish", "custom endpoint: no host prefix; signing name iotdata",
                            topic="t/1", payload=b"{}")
    Client("iot-data", endpoint=AWS).call(
        "GetThingShadow", "no endpoint: data-ats.iot.us-east-1.amazonaws.com",
        thingName="thing")

    eks = Client("eks")
    eks.call("ListClusters", "GET /clusters")
    eks.call("DescribeCluster", "", name="c")

    Client("batch").call("DescribeJobQueues", "POST /v1/describejobqueues")
    Client("pipes").call("ListPipes", "GET /v1/pipes")
    Client("sagemaker-runtime").call(
        "InvokeEndpoint", "endpoint prefix runtime.sagemaker, raw body",
        EndpointName="e", Body=b'{"x": 1}', ContentType="application/json")
    Client("servicediscovery").call(
        "DiscoverInstances", "hostPrefix data- is injected even with a custom endpoint",
        NamespaceName="ns", ServiceName="svc")
    Client("lakeformation").call("ListPermissions", "POST /ListPermissions")


# --------------------------------------------------------------------------------------
# Query / ec2 protocol services
# --------------------------------------------------------------------------------------

def capture_query_services():
    sts = Client("sts")
    sts.call("GetCallerIdentity", "query protocol, Action=GetCallerIdentity")
    sts.call("AssumeRole", "", RoleArn="arn:aws:iam::000000000000:role/r",
             RoleSessionName="session")
    sts.call("AssumeRoleWithWebIdentity", "unsigned by design (no Authorization)",
             RoleArn="arn:aws:iam::000000000000:role/r", RoleSessionName="session",
             WebIdentityToken="eyJhbGciOi.fake.token")
    sts.call("AssumeRoleWithSAML", "unsigned by design",
             RoleArn="arn:aws:iam::000000000000:role/r",
             PrincipalArn="arn:aws:iam::000000000000:saml-provider/p",
             SAMLAssertion="PHNhbWw+ZmFrZTwvc2FtbD4=")
    sts12 = Client("sts", key="123456789012", endpoint=AWS)
    sts12.call("GetCallerIdentity", "no endpoint (regional STS default), 12-digit key")
    Client("sts", region="eu-west-1", endpoint=AWS).call(
        "GetSessionToken", "no endpoint, eu-west-1: sts.eu-west-1.amazonaws.com")
    sts.presign("GetCallerIdentity", {}, "GET",
                "presigned STS GetCallerIdentity (EKS/Vault style): Action in query")

    iam = Client("iam")
    iam.call("ListUsers", "query protocol")
    iam.call("CreateRole", "", RoleName="r", AssumeRolePolicyDocument="{}")
    iam.call("AttachRolePolicy", "", RoleName="r",
             PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    Client("iam", region="eu-west-1", endpoint=AWS, signing_region="us-east-1").call(
        "GetUser", "client region eu-west-1, no endpoint: global iam.amazonaws.com, "
        "signed for us-east-1 (the region recorded)")

    ses = Client("ses")
    ses.call("SendEmail", "query protocol, endpoint prefix email, signed 'ses'",
             Source="a@example.com", Destination={"ToAddresses": ["b@example.com"]},
             Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}})
    ses.call("VerifyEmailIdentity", "", EmailAddress="a@example.com")
    Client("ses", region="eu-west-1", endpoint=AWS).call(
        "ListIdentities", "no endpoint: email.eu-west-1.amazonaws.com")

    cfn = Client("cloudformation")
    cfn.call("CreateStack", "", StackName="s", TemplateBody='{"Resources": {}}')
    cfn.call("DescribeStacks", "")
    Client("cloudformation", region="ap-southeast-2", endpoint=AWS).call(
        "ListStacks", "no endpoint, ap-southeast-2")

    ec2 = Client("ec2")
    ec2.call("DescribeInstances", "ec2 protocol (query-like, Version=2016-11-15)")
    ec2.call("RunInstances", "", ImageId="ami-12345678", MinCount=1, MaxCount=1,
             InstanceType="t3.micro")
    ec2.call("DescribeVpcs", "")
    Client("ec2", region="eu-west-1", endpoint=AWS).call(
        "DescribeRegions", "no endpoint: ec2.eu-west-1.amazonaws.com")

    rds = Client("rds")
    rds.call("DescribeDBInstances", "query protocol")
    rds.call("CreateDBInstance", "", DBInstanceIdentifier="db", DBInstanceClass="db.t3.micro",
             Engine="postgres")
    Client("rds", region="us-west-2", endpoint=AWS).call(
        "DescribeDBClusters", "no endpoint: rds.us-west-2.amazonaws.com")

    Client("elasticache").call("DescribeCacheClusters", "query protocol")
    Client("redshift").call("DescribeClusters", "query protocol")
    elb = Client("elbv2")
    elb.call("DescribeLoadBalancers", "query protocol, endpoint elasticloadbalancing")
    elb.call("CreateTargetGroup", "", Name="tg", Protocol="HTTP", Port=80, VpcId="vpc-1")
    Client("elb").call("DescribeLoadBalancers", "classic ELB: same Action, Version 2012-06-01")
    asg = Client("autoscaling")
    asg.call("DescribeAutoScalingGroups", "query protocol")
    Client("autoscaling", region="eu-west-1", endpoint=LOCAL_LS).call(
        "DescribeLaunchConfigurations", "localhost.localstack.cloud, eu-west-1")


# --------------------------------------------------------------------------------------
# AWS CLI (v1, runs on botocore), in a child process with whichever python has awscli
# --------------------------------------------------------------------------------------

CLI_CHILD = r"""
import json, random, sys, uuid
_rng = random.Random(int(sys.argv[2]))
uuid.uuid4 = lambda: uuid.UUID(int=_rng.getrandbits(128), version=4)
from botocore.awsrequest import AWSResponse
import awscli, awscli.clidriver
out, argv = sys.argv[1], sys.argv[3:]
seen = []
class Raw:
    def __init__(self, d): self.d = d
    def stream(self, **k): yield self.d
def before_send(request, event_name=None, **kwargs):
    seen.append({"operation": event_name.rsplit(".", 1)[-1], "method": request.method,
                 "url": request.url, "headers": [[str(k), v.decode("utf-8", "replace")
                     if isinstance(v, bytes) else str(v)] for k, v in request.headers.items()],
                 "body": (request.body if isinstance(request.body, (bytes, str)) or
                          request.body is None else request.body.read())})
    body = b"{}" if "json" in (request.headers.get("Content-Type") or "json") else \
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Response></Response>'
    return AWSResponse(request.url, 200, {}, Raw(body))
driver = awscli.clidriver.create_clidriver()
driver.session.register("before-send", before_send)
try:
    driver.main(argv)
except SystemExit:
    pass
for r in seen:
    if isinstance(r["body"], bytes):
        r["body"] = r["body"].decode("utf-8", "replace")
with open(out, "w") as f:
    json.dump({"version": awscli.__version__, "requests": seen}, f)
"""

CLI_COMMANDS = [
    # (service, region, access key, note, argv)
    ("s3", "us-east-1", "test", "aws s3 ls (high-level s3 command)",
     ["s3", "ls", "--endpoint-url", LOCAL]),
    ("s3", "us-east-1", "test", "aws s3 ls s3://bucket/prefix/",
     ["s3", "ls", "s3://my-bucket/logs/", "--endpoint-url", LOCAL]),
    ("s3", "eu-west-1", "123456789012", "aws s3 cp local file (s3transfer), "
     "localhost.localstack.cloud", ["s3", "cp", "__FILE__", "s3://my-bucket/cli.txt",
                                    "--endpoint-url", LOCAL_LS]),
    ("s3", "us-east-1", "test", "aws s3api head-object, no endpoint (virtual host)",
     ["s3api", "head-object", "--bucket", "my-bucket", "--key", "k"]),
    ("sqs", "us-east-1", "test", "aws sqs send-message",
     ["sqs", "send-message", "--queue-url", LOCAL + "/000000000000/q",
      "--message-body", "hi", "--endpoint-url", LOCAL]),
    ("dynamodb", "eu-west-1", "test", "aws dynamodb list-tables",
     ["dynamodb", "list-tables", "--endpoint-url", LOCAL]),
    ("sts", "us-east-1", "000000000001", "aws sts get-caller-identity",
     ["sts", "get-caller-identity", "--endpoint-url", LOCAL]),
    ("cloudwatch", "us-east-1", "test", "aws cloudwatch list-metrics",
     ["cloudwatch", "list-metrics", "--endpoint-url", LOCAL]),
    ("lambda", "ap-southeast-2", "test", "aws lambda list-functions, no endpoint",
     ["lambda", "list-functions"]),
    ("logs", "us-east-1", "test", "aws logs describe-log-groups, 127.0.0.1",
     ["logs", "describe-log-groups", "--endpoint-url", LOCAL_IP]),
]


def find_cli_python():
    import shutil
    import subprocess
    candidates = [os.environ.get("AWSCLI_PYTHON"), shutil.which("python3"),
                  shutil.which("python"), os.path.expanduser("~/.pyenv/shims/python")]
    for c in candidates:
        if c and os.path.exists(c):
            r = subprocess.run([c, "-c", "import awscli"], capture_output=True)
            if r.returncode == 0:
                return c
    return None


def capture_awscli():
    import subprocess
    import tempfile
    python = find_cli_python()
    if not python:
        print("note: no python with awscli found; skipping AWS CLI captures", file=sys.stderr)
        return
    with tempfile.TemporaryDirectory() as tmp:
        upload = os.path.join(tmp, "cli.txt")
        with open(upload, "w") as f:
            f.write("uploaded by the aws cli\n")
        for i, (service, region, key, note, argv) in enumerate(CLI_COMMANDS):
            out = os.path.join(tmp, f"{i}.json")
            env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY="test",
                       AWS_DEFAULT_REGION=region)
            argv = [upload if a == "__FILE__" else a for a in argv]
            subprocess.run([python, "-c", CLI_CHILD, out, str(4566 + i), *argv], env=env,
                           capture_output=True, timeout=120)
            if not os.path.exists(out):
                print(f"warning: aws {' '.join(argv)}: no capture", file=sys.stderr)
                continue
            with open(out) as f:
                result = json.load(f)
            if not result["requests"]:
                print(f"warning: aws {' '.join(argv)}: sent nothing", file=sys.stderr)
            for r in result["requests"][:1]:
                add(service, r["operation"], region, account_for(key), r["method"], r["url"],
                    header_list(r["url"], r["headers"]), r["body"], note,
                    client=f"aws-cli {result['version']}")


def credential_scope(record):
    """(access key, region or None) as a detector can read them off the wire."""
    import re
    from urllib.parse import parse_qs
    headers = {k.lower(): v for k, v in record["headers"]}
    auth = headers.get("authorization", "")
    query = parse_qs(urlsplit(record["uri"]).query)
    cred = None
    m = re.search(r"Credential=([^,]+)", auth)
    if m:
        cred = m.group(1)
    elif "X-Amz-Credential" in query:
        cred = query["X-Amz-Credential"][0]
    else:
        m = re.search(r'name="x-amz-credential"\r\n\r\n([^\r]+)', record["body"])
        if m:
            cred = m.group(1)
    if cred:
        parts = cred.split("/")
        return parts[0], parts[2]
    if auth.startswith("AWS "):
        return auth[4:].split(":")[0], None
    if "AWSAccessKeyId" in query:
        return query["AWSAccessKeyId"][0], None
    m = re.search(r'name="AWSAccessKeyId"\r\n\r\n([^\r]+)', record["body"])
    if m:
        return m.group(1), None
    return None


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else None
    capture_s3()
    capture_s3control()
    capture_dynamodb()
    capture_dynamodbstreams()
    capture_sqs()
    capture_sqs_query()
    capture_json_services()
    capture_cloudwatch()
    capture_rest_services()
    capture_query_services()
    capture_awscli()

    problems = []
    for i, r in enumerate(RECORDS):
        for field in ("service", "operation", "method", "uri"):
            if not r[field]:
                problems.append(f"entry {i}: empty {field}")
        if not any(k.lower() == "host" and v for k, v in r["headers"]):
            problems.append(f"entry {i}: no Host header")

        scope = credential_scope(r)
        if scope:
            key, region = scope
            if region and region != r["region"]:
                problems.append(f"entry {i}: region {r['region']} but signed for {region}")
            if account_for(key) != r["account"]:
                problems.append(f"entry {i}: account {r['account']} but key {key}")

    data = json.dumps(RECORDS, indent=1, ensure_ascii=False) + "\n"
    if out_path:
        with open(out_path, "w", encoding="utf-8") as f:
            f.write(data)
    else:
        sys.stdout.write(data)

    per_service = Counter(r["service"] for r in RECORDS)
    print(f"{len(RECORDS)} requests, {len(per_service)} services", file=sys.stderr)
    for service, n in sorted(per_service.items()):
        print(f"  {service}: {n}", file=sys.stderr)
    for p in problems:
        print(f"problem: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
