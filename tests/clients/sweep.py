#!/usr/bin/env python3
"""A real-client sweep across AWS services with boto3, against one edge endpoint.

    python tests/clients/sweep.py --endpoint http://127.0.0.1:4566 [--region us-east-1]
                                  [--only s3,sqs,...]

Every check is a real round trip and independent of the others: one that fails does not
stop the rest. Each prints one JSON line

    {"check": "s3.put_get_path_style", "ok": true, "detail": "..."}

and the script exits 1 when any check failed, 0 otherwise. `--only` takes service names
(`s3`, `sqs`, ...) or full check names (`sqs.query_protocol`), comma separated.

Resource names carry a per-run uuid suffix, so reruns against the same backend work, and
every check deletes what it created (best effort) even when it fails.

Credentials are LocalStack's `test`/`test`. Run it with a Python that has boto3 (the
workspace's `.venv/bin/python`, made by `scripts/install-deps`).

Name resolution: the virtual-host S3 check talks to `http://s3.localhost.localstack.cloud:PORT`
and boto3 then asks for `<bucket>.s3.localhost.localstack.cloud`. Those names need public DNS
(LocalStack's domain resolves to 127.0.0.1), which is not reachable offline, so this script
replaces `socket.getaddrinfo` for its own process: any host ending in
`localhost.localstack.cloud` or `.localhost` resolves to 127.0.0.1. Nothing else changes.
"""

import argparse
import hashlib
import http.client
import json
import re
import socket
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

ACCESS_KEY = "test"
SECRET_KEY = "test"
RUN = uuid.uuid4().hex[:10]

# --- name resolution for *.localhost.localstack.cloud and *.localhost (see module doc) ---

_real_getaddrinfo = socket.getaddrinfo


def _loopback_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str):
        lowered = name.lower().rstrip(".")
        if lowered.endswith("localhost.localstack.cloud") or lowered.endswith(".localhost"):
            host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_getaddrinfo

# --- Host headers as they go on the wire (for the virtual-host check) ---

_sent_hosts = []
_real_putheader = http.client.HTTPConnection.putheader


def _recording_putheader(self, header, *values):
    name = header.decode() if isinstance(header, bytes) else header
    if name.lower() == "host":
        _sent_hosts.append(
            b"".join(v if isinstance(v, bytes) else str(v).encode() for v in values).decode()
        )
    return _real_putheader(self, header, *values)


http.client.HTTPConnection.putheader = _recording_putheader


class CheckFailed(Exception):
    """A check's expectation that did not hold."""


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def cleanup(fn, *args, **kwargs):
    """Runs a best-effort cleanup call, ignoring its errors."""
    try:
        fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - cleanup must never mask the check's own result
        pass


class Sweep:
    def __init__(self, endpoint, region):
        self.endpoint = endpoint.rstrip("/")
        self.region = region
        parts = urllib.parse.urlsplit(self.endpoint)
        self.scheme = parts.scheme
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.session = boto3.session.Session(
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=region,
        )

    def client(self, service, endpoint=None, **config):
        cfg = Config(
            retries={"max_attempts": 2, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            **config,
        )
        return self.session.client(service, endpoint_url=endpoint or self.endpoint, config=cfg)

    def name(self, prefix):
        return f"{prefix}-{RUN}"

    def create_bucket(self, s3, bucket):
        if self.region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
            )

    # ---------------------------------------------------------------- S3

    def s3_put_get_path_style(self):
        s3 = self.client("s3", s3={"addressing_style": "path"})
        bucket = self.name("sweep-path")
        key = "dir/hello world.txt"
        body = b"hello from the sweep " + RUN.encode()
        self.create_bucket(s3, bucket)
        deleted = False
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain")
            got = s3.get_object(Bucket=bucket, Key=key)
            expect(got["Body"].read() == body, "get_object body differs")
            head = s3.head_object(Bucket=bucket, Key=key)
            expect(head["ContentLength"] == len(body), f"head ContentLength {head['ContentLength']}")
            listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            expect(listed == [key], f"list_objects_v2 gave {listed}")
            s3.delete_object(Bucket=bucket, Key=key)
            left = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
            expect(left == 0, f"{left} objects left after delete_object")
            s3.delete_bucket(Bucket=bucket)
            deleted = True
        finally:
            if not deleted:
                cleanup(s3.delete_object, Bucket=bucket, Key=key)
                cleanup(s3.delete_bucket, Bucket=bucket)
        expect(bucket not in self._buckets(s3), "bucket still listed after delete_bucket")
        return f"bucket {bucket}: put/get/head/list/delete object, delete bucket"

    def _buckets(self, s3):
        return [b["Name"] for b in s3.list_buckets().get("Buckets", [])]

    def s3_multipart(self):
        s3 = self.client("s3", s3={"addressing_style": "path"})
        bucket = self.name("sweep-mpu")
        key = "big.bin"
        part1 = (b"0123456789abcdef" * (5 * 1024 * 1024 // 16))  # 5 MiB, the minimum part size
        part2 = b"the small last part " + RUN.encode()
        self.create_bucket(s3, bucket)
        upload_id = None
        try:
            upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            etags = []
            for n, data in ((1, part1), (2, part2)):
                r = s3.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data
                )
                etags.append(r["ETag"])
            done = s3.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]
                },
            )
            upload_id = None
            expect(done["ETag"].strip('"').endswith("-2"), f"multipart ETag {done['ETag']}")
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            want = part1 + part2
            expect(len(got) == len(want), f"got {len(got)} bytes, want {len(want)}")
            expect(
                hashlib.sha256(got).digest() == hashlib.sha256(want).digest(),
                "object content differs from the parts",
            )
        finally:
            if upload_id:
                cleanup(s3.abort_multipart_upload, Bucket=bucket, Key=key, UploadId=upload_id)
            cleanup(s3.delete_object, Bucket=bucket, Key=key)
            cleanup(s3.delete_bucket, Bucket=bucket)
        return f"2 parts ({len(part1)} + {len(part2)} bytes), ETag {done['ETag']}"

    def s3_virtual_host(self):
        host = f"s3.localhost.localstack.cloud:{self.port}"
        s3 = self.client(
            "s3", endpoint=f"{self.scheme}://{host}", s3={"addressing_style": "virtual"}
        )
        bucket = self.name("sweep-vhost")
        key = "vhost.txt"
        body = b"virtual host " + RUN.encode()
        want_host = f"{bucket}.{host}"
        seen_urls = []

        def record(request, **_):
            seen_urls.append(urllib.parse.urlsplit(request.url).netloc)

        s3.meta.events.register("before-send.s3", record)
        _sent_hosts.clear()
        self.create_bucket(s3, bucket)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
            got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            expect(got == body, "get_object body differs")
            listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            expect(listed == [key], f"list_objects_v2 gave {listed}")
            expect(seen_urls and all(h == want_host for h in seen_urls),
                   f"botocore sent to {sorted(set(seen_urls))}, want {want_host}")
            expect(_sent_hosts, "no Host header recorded on the wire")
            expect(all(h == want_host for h in _sent_hosts),
                   f"Host headers on the wire {sorted(set(_sent_hosts))}, want {want_host}")
        finally:
            cleanup(s3.delete_object, Bucket=bucket, Key=key)
            cleanup(s3.delete_bucket, Bucket=bucket)
        return f"Host: {want_host} on {len(_sent_hosts)} requests"

    def s3_presigned(self):
        s3 = self.client("s3", s3={"addressing_style": "path"}, signature_version="s3v4")
        bucket = self.name("sweep-presign")
        key = "presigned.txt"
        body = b"presigned " + RUN.encode()
        self.create_bucket(s3, bucket)
        try:
            put_url = s3.generate_presigned_url(
                "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
            )
            expect("X-Amz-Signature=" in put_url, f"not a v4 presigned URL: {put_url}")
            # An explicit Content-Type: urllib would otherwise send
            # application/x-www-form-urlencoded, and moto_server (Werkzeug) then parses the
            # body as a form and stores an empty object.
            req = urllib.request.Request(put_url, data=body, method="PUT",
                                         headers={"Content-Type": "application/octet-stream"})
            with urllib.request.urlopen(req, timeout=30) as r:
                expect(r.status == 200, f"presigned PUT status {r.status}")
            get_url = s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
            )
            with urllib.request.urlopen(get_url, timeout=30) as r:
                got = r.read()
                expect(r.status == 200, f"presigned GET status {r.status}")
            expect(got == body, f"presigned GET body {got[:60]!r}")
            # And the object is really there for a signed client too.
            expect(s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body,
                   "get_object after presigned PUT differs")
        finally:
            cleanup(s3.delete_object, Bucket=bucket, Key=key)
            cleanup(s3.delete_bucket, Bucket=bucket)
        return "presigned v4 PUT then GET through urllib"

    # ---------------------------------------------------------------- DynamoDB

    def dynamodb_crud(self):
        ddb = self.client("dynamodb")
        table = self.name("sweep-table")
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            status = wait_for(
                lambda: ddb.describe_table(TableName=table)["Table"]["TableStatus"],
                "ACTIVE",
                30,
            )
            expect(status == "ACTIVE", f"table status {status}")
            for sk, n in (("a", "1"), ("b", "2")):
                ddb.put_item(
                    TableName=table,
                    Item={"pk": {"S": "p1"}, "sk": {"S": sk}, "n": {"N": n}, "s": {"S": "x"}},
                )
            item = ddb.get_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "a"}},
                                ConsistentRead=True).get("Item")
            expect(item and item["n"] == {"N": "1"}, f"get_item gave {item}")
            q = ddb.query(
                TableName=table,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "p1"}},
            )
            expect([i["sk"]["S"] for i in q["Items"]] == ["a", "b"], f"query gave {q['Items']}")
            up = ddb.update_item(
                TableName=table,
                Key={"pk": {"S": "p1"}, "sk": {"S": "a"}},
                UpdateExpression="SET #s = :s ADD n :one",
                ExpressionAttributeNames={"#s": "s"},
                ExpressionAttributeValues={":s": {"S": "updated"}, ":one": {"N": "1"}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
            expect(up["s"] == {"S": "updated"} and up["n"] == {"N": "2"},
                   f"update_item gave {up}")
            ddb.delete_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "a"}})
            gone = ddb.get_item(TableName=table, Key={"pk": {"S": "p1"}, "sk": {"S": "a"}},
                                ConsistentRead=True)
            expect("Item" not in gone, f"item still there after delete_item: {gone.get('Item')}")
        finally:
            cleanup(ddb.delete_table, TableName=table)
        names = ddb.list_tables().get("TableNames", [])
        if table in names:  # some backends keep a DELETING table listed for a while
            st = ddb.describe_table(TableName=table)["Table"]["TableStatus"]
            expect(st == "DELETING", f"table still {st} after delete_table")
        return f"table {table}: create/put/get/query/update/delete item, delete table"

    # ---------------------------------------------------------------- SQS

    def sqs_json_protocol(self):
        sqs = self.client("sqs")
        name = self.name("sweep-json")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        try:
            expect(url.rstrip("/").endswith("/" + name), f"QueueUrl {url}")
            got_url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            expect(got_url == url, f"get_queue_url {got_url} != {url}")
            listed = sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
            expect(url in listed, f"list_queues gave {listed}")
            body = "json message " + RUN
            sent = sqs.send_message(QueueUrl=url, MessageBody=body)
            expect(sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest(),
                   "MD5OfMessageBody does not match")
            msgs = receive(sqs, url, 1)
            expect([m["Body"] for m in msgs] == [body], f"received {msgs}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
            again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0,
                                        VisibilityTimeout=0).get("Messages", [])
            expect(not again, f"message still there after delete_message: {again}")
            sqs.delete_queue(QueueUrl=url)
            url = None
        finally:
            if url:
                cleanup(sqs.delete_queue, QueueUrl=url)
        return "create/get url/list/send/receive/delete message/delete queue (JSON protocol)"

    def _query(self, path, params):
        """One SigV4-signed SQS query-protocol form POST; returns the parsed XML root."""
        params = dict(params, Version="2012-11-05")
        body = urllib.parse.urlencode(params)
        url = self.endpoint + path
        req = botocore.awsrequest.AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
        botocore.auth.SigV4Auth(creds, "sqs", self.region).add_auth(req)
        headers = {k: v for k, v in req.headers.items()}
        http_req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(http_req, timeout=30) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            raise CheckFailed(f"{params['Action']}: HTTP {e.code}: {e.read()[:300]!r}") from None
        expect(status == 200, f"{params['Action']}: HTTP {status}")
        try:
            return ET.fromstring(text)
        except ET.ParseError:
            raise CheckFailed(f"{params['Action']}: not XML: {text[:300]!r}") from None

    def sqs_query_protocol(self):
        name = self.name("sweep-query")
        root = self._query("/", {"Action": "CreateQueue", "QueueName": name})
        expect(local(root.tag) == "CreateQueueResponse", f"root element {root.tag}")
        url = xml_text(root, "QueueUrl")
        expect(url and url.rstrip("/").endswith("/" + name), f"QueueUrl {url}")
        try:
            body = "query message " + RUN
            # The way SDKs send it: to the endpoint root with a QueueUrl parameter.
            root = self._query("/", {"Action": "SendMessage", "QueueUrl": url,
                                     "MessageBody": body})
            expect(local(root.tag) == "SendMessageResponse", f"root element {root.tag}")
            md5 = xml_text(root, "MD5OfMessageBody")
            expect(md5 == hashlib.md5(body.encode()).hexdigest(), f"MD5OfMessageBody {md5}")
            expect(xml_text(root, "MessageId"), "no MessageId")
            # The classic way: to the queue's own path, no QueueUrl parameter.
            path = urllib.parse.urlsplit(url).path
            got = None
            deadline = time.time() + 10
            while got is None and time.time() < deadline:
                root = self._query(path, {"Action": "ReceiveMessage", "WaitTimeSeconds": "1",
                                          "MaxNumberOfMessages": "1"})
                expect(local(root.tag) == "ReceiveMessageResponse", f"root element {root.tag}")
                got = xml_text(root, "Body")
            expect(got == body, f"ReceiveMessage Body {got!r}")
            root = self._query(path, {"Action": "DeleteMessage",
                                      "ReceiptHandle": xml_text(root, "ReceiptHandle")})
            expect(local(root.tag) == "DeleteMessageResponse", f"root element {root.tag}")
        finally:
            cleanup(self._query, "/", {"Action": "DeleteQueue", "QueueUrl": url})
        return f"CreateQueue / SendMessage (root + QueueUrl) / ReceiveMessage ({path}) as XML"

    # ---------------------------------------------------------------- SNS

    def sns_to_sqs(self):
        sns = self.client("sns")
        sqs = self.client("sqs")
        topic_arn = sns.create_topic(Name=self.name("sweep-topic"))["TopicArn"]
        url = None
        sub_arn = None
        try:
            url = sqs.create_queue(QueueName=self.name("sweep-sns-q"))["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage", "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }],
            })})
            sub_arn = sns.subscribe(TopicArn=topic_arn, Protocol="sqs",
                                    Endpoint=queue_arn)["SubscriptionArn"]
            message = "sns says hi " + RUN
            sns.publish(TopicArn=topic_arn, Message=message, Subject="sweep")
            msgs = receive(sqs, url, 1)
            expect(msgs, "nothing arrived in the subscribed queue")
            envelope = json.loads(msgs[0]["Body"])
            expect(envelope.get("Message") == message, f"envelope {envelope}")
            expect(envelope.get("TopicArn") == topic_arn, f"TopicArn {envelope.get('TopicArn')}")
        finally:
            if sub_arn:
                cleanup(sns.unsubscribe, SubscriptionArn=sub_arn)
            cleanup(sns.delete_topic, TopicArn=topic_arn)
            if url:
                cleanup(sqs.delete_queue, QueueUrl=url)
        return f"published to {topic_arn}, envelope arrived in SQS"

    # ---------------------------------------------------------------- Kinesis

    def kinesis_put_get(self):
        kin = self.client("kinesis")
        stream = self.name("sweep-stream")
        kin.create_stream(StreamName=stream, ShardCount=1)
        try:
            status = wait_for(
                lambda: kin.describe_stream_summary(StreamName=stream)[
                    "StreamDescriptionSummary"]["StreamStatus"],
                "ACTIVE",
                60,
            )
            expect(status == "ACTIVE", f"stream status {status}")
            data = b"kinesis record " + RUN.encode()
            put = kin.put_record(StreamName=stream, Data=data, PartitionKey="pk")
            shard = put["ShardId"]
            it = kin.get_shard_iterator(StreamName=stream, ShardId=shard,
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            records = []
            deadline = time.time() + 10
            while not records and it and time.time() < deadline:
                r = kin.get_records(ShardIterator=it, Limit=10)
                records, it = r["Records"], r.get("NextShardIterator")
                if not records:
                    time.sleep(0.2)
            expect([rec["Data"] for rec in records] == [data], f"get_records gave {records}")
            expect(records[0]["SequenceNumber"] == put["SequenceNumber"], "sequence differs")
        finally:
            cleanup(kin.delete_stream, StreamName=stream, EnforceConsumerDeletion=True)
        return f"stream {stream}: put_record, TRIM_HORIZON iterator, get_records"

    # ---------------------------------------------------------------- the rest

    def lambda_list_functions(self):
        fns = self.client("lambda").list_functions()
        expect(isinstance(fns.get("Functions"), list), f"list_functions gave {fns}")
        return f"{len(fns['Functions'])} functions"

    def sts_get_caller_identity(self):
        ident = self.client("sts").get_caller_identity()
        account = ident.get("Account")
        expect(isinstance(account, str) and re.fullmatch(r"\d{12}", account),
               f"Account {account!r}")
        expect(ident.get("Arn", "").startswith("arn:aws:"), f"Arn {ident.get('Arn')}")
        return f"Account {account}, Arn {ident['Arn']}"

    def iam_role(self):
        iam = self.client("iam")
        name = self.name("sweep-role")
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]})
        created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]
        try:
            got = iam.get_role(RoleName=name)["Role"]
            expect(got["Arn"] == created["Arn"], f"get_role Arn {got['Arn']} != {created['Arn']}")
            iam.delete_role(RoleName=name)
            name = None
        finally:
            if name:
                cleanup(iam.delete_role, RoleName=name)
        return f"role {created['Arn']}: create/get/delete"

    def secretsmanager_secret(self):
        sm = self.client("secretsmanager")
        name = self.name("sweep/secret")
        value = "s3cr3t-" + RUN
        sm.create_secret(Name=name, SecretString=value)
        try:
            got = sm.get_secret_value(SecretId=name)["SecretString"]
            expect(got == value, f"get_secret_value gave {got!r}")
        finally:
            cleanup(sm.delete_secret, SecretId=name, ForceDeleteWithoutRecovery=True)
        return f"secret {name}: create/get value"

    def ssm_parameter(self):
        ssm = self.client("ssm")
        name = f"/sweep/{RUN}/param"
        ssm.put_parameter(Name=name, Value="v-" + RUN, Type="String")
        try:
            got = ssm.get_parameter(Name=name)["Parameter"]
            expect(got["Value"] == "v-" + RUN, f"get_parameter gave {got}")
        finally:
            cleanup(ssm.delete_parameter, Name=name)
        return f"parameter {name}: put/get"

    def kms_encrypt_decrypt(self):
        kms = self.client("kms")
        key_id = kms.create_key(Description="sweep " + RUN)["KeyMetadata"]["KeyId"]
        try:
            plain = b"kms plaintext " + RUN.encode()
            blob = kms.encrypt(KeyId=key_id, Plaintext=plain)["CiphertextBlob"]
            expect(blob != plain, "ciphertext equals plaintext")
            out = kms.decrypt(CiphertextBlob=blob)
            expect(out["Plaintext"] == plain, "decrypt gave different plaintext")
            expect(key_id in out.get("KeyId", ""), f"decrypt KeyId {out.get('KeyId')}")
        finally:
            cleanup(kms.schedule_key_deletion, KeyId=key_id, PendingWindowInDays=7)
        return f"key {key_id}: encrypt/decrypt round trip"


def wait_for(get, want, seconds):
    """Polls get() every 0.1 s until it returns want or seconds pass; returns the last value."""
    deadline = time.time() + seconds
    value = get()
    while value != want and time.time() < deadline:
        time.sleep(0.1)
        value = get()
    return value


def receive(sqs, url, count, seconds=10):
    """Receives up to count messages within seconds (long polls of 1 s)."""
    msgs = []
    deadline = time.time() + seconds
    while len(msgs) < count and time.time() < deadline:
        msgs += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=count - len(msgs),
                                    WaitTimeSeconds=1).get("Messages", [])
    return msgs


def local(tag):
    """An XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def xml_text(root, name):
    """The text of the first element named name (any namespace), or None."""
    for el in root.iter():
        if local(el.tag) == name:
            return el.text
    return None


CHECKS = [
    ("s3.put_get_path_style", Sweep.s3_put_get_path_style),
    ("s3.multipart_upload", Sweep.s3_multipart),
    ("s3.virtual_host_style", Sweep.s3_virtual_host),
    ("s3.presigned_get_put", Sweep.s3_presigned),
    ("dynamodb.table_item_crud", Sweep.dynamodb_crud),
    ("sqs.json_protocol", Sweep.sqs_json_protocol),
    ("sqs.query_protocol", Sweep.sqs_query_protocol),
    ("sns.publish_to_sqs", Sweep.sns_to_sqs),
    ("kinesis.put_get_records", Sweep.kinesis_put_get),
    ("lambda.list_functions", Sweep.lambda_list_functions),
    ("sts.get_caller_identity", Sweep.sts_get_caller_identity),
    ("iam.create_get_delete_role", Sweep.iam_role),
    ("secretsmanager.create_get_secret", Sweep.secretsmanager_secret),
    ("ssm.put_get_parameter", Sweep.ssm_parameter),
    ("kms.encrypt_decrypt", Sweep.kms_encrypt_decrypt),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="the edge, e.g. http://127.0.0.1:4566")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--only", default="",
                    help="comma-separated services (s3,sqs) or check names (sqs.query_protocol)")
    args = ap.parse_args()

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    selected = [(n, f) for n, f in CHECKS
                if not only or n in only or n.split(".", 1)[0] in only]
    known = {n for n, _ in CHECKS} | {n.split(".", 1)[0] for n, _ in CHECKS}
    unknown = sorted(only - known)
    if unknown:
        ap.error(f"unknown --only entries {unknown}; known: {sorted(known)}")

    sweep = Sweep(args.endpoint, args.region)
    failed = 0
    for name, fn in selected:
        started = time.time()
        try:
            detail = fn(sweep) or ""
            ok = True
        except CheckFailed as e:
            ok, detail = False, str(e)
        except Exception as e:  # noqa: BLE001 - report any failure as this check's result
            tb = traceback.extract_tb(e.__traceback__)
            where = next((f"line {f.lineno}" for f in reversed(tb) if f.filename == __file__), "")
            ok, detail = False, f"{type(e).__name__}: {e} ({where})"
        if not ok:
            failed += 1
        detail = f"{detail} [{time.time() - started:.2f} s]"
        print(json.dumps({"check": name, "ok": ok, "detail": detail}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
