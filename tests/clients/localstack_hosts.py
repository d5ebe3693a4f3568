"""Queue URLs of one SQS_ENDPOINT_STRATEGY used as real SDKs use them, and S3 through
LocalStack's virtual-host names, against an edge on 127.0.0.1:PORT. Names under
localhost.localstack.cloud are resolved here, to 127.0.0.1 (as public DNS does), so no DNS
is needed.

    python tests/clients/localstack_hosts.py PORT QUEUE [BUCKET]

Prints one JSON object: the queue URL handed out, the status of the query-protocol POST to
it, the message bodies received, and (with BUCKET) the object read back through
BUCKET.s3.localhost.localstack.cloud, the bucket list there, and the bucket's keys listed in
path style through localhost.localstack.cloud.
"""
import json
import socket
import sys
import urllib.parse
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config

_getaddrinfo = socket.getaddrinfo


def _local(host, *args, **kwargs):
    if isinstance(host, str) and (
        host == "localhost.localstack.cloud" or host.endswith(".localhost.localstack.cloud")
    ):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _local

port, queue = int(sys.argv[1]), sys.argv[2]
bucket = sys.argv[3] if len(sys.argv) > 3 else None
region = "eu-west-1"
session = boto3.session.Session(
    aws_access_key_id="test", aws_secret_access_key="test", region_name=region
)
edge = f"http://127.0.0.1:{port}"
out = {}

url = session.client("sqs", endpoint_url=edge).create_queue(QueueName=queue)["QueueUrl"]
out["url"] = url
# As the JavaScript SDK does: the queue URL's origin is the endpoint.
parts = urllib.parse.urlsplit(url)
at_url = session.client("sqs", endpoint_url=f"{parts.scheme}://{parts.netloc}")
at_url.send_message(QueueUrl=url, MessageBody="sent to the queue URL's host")
# As the Java v1 and .NET SDKs do: the query protocol, posted to the queue URL itself.
form = urllib.parse.urlencode(
    {"Action": "SendMessage", "MessageBody": "posted to the queue URL", "Version": "2012-11-05"}
)
signed = AWSRequest(
    method="POST",
    url=url,
    data=form,
    headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
)
SigV4Auth(session.get_credentials(), "sqs", region).add_auth(signed)
req = urllib.request.Request(url, data=form.encode(), headers=dict(signed.headers), method="POST")
with urllib.request.urlopen(req) as r:
    out["posted"] = r.status
bodies = []
for _ in range(10):
    got = at_url.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies += [m["Body"] for m in got.get("Messages", [])]
    if len(bodies) >= 2:
        break
out["bodies"] = sorted(bodies)

if bucket:
    s3 = session.client(
        "s3",
        endpoint_url=f"http://s3.localhost.localstack.cloud:{port}",
        config=Config(s3={"addressing_style": "virtual"}),
    )
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"through the virtual host")
    out["object"] = s3.get_object(Bucket=bucket, Key="k.txt")["Body"].read().decode()
    out["buckets"] = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # Path style on LocalStack's plain name, as many LocalStack setups configure S3.
    path_style = session.client(
        "s3",
        endpoint_url=f"http://localhost.localstack.cloud:{port}",
        config=Config(s3={"addressing_style": "path"}),
    )
    listed = path_style.list_objects_v2(Bucket=bucket).get("Contents", [])
    out["path_style_keys"] = [o["Key"] for o in listed]

print(json.dumps(out))
