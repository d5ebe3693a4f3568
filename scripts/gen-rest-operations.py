#!/usr/bin/env python3
"""Writes proxy-core/src/aws/rest-operations.json: for each REST service the edge knows
(other than S3 and Lambda, whose operations are named by hand in operation.rs), every
operation's HTTP method and request URI template, from botocore's service models.

    .venv/bin/python scripts/gen-rest-operations.py > proxy-core/src/aws/rest-operations.json

The edge matches a request against these templates (`{x}` is one path segment, `{x+}` the
rest of the path, `?key` / `?key=value` a required query parameter) to name its operation.
"""
import json
import re
import sys

import botocore.session

SERVICES_RS = "proxy-core/src/aws/services.rs"
SKIP = {"s3", "lambda"}


def rest_services():
    text = open(SERVICES_RS).read()
    for m in re.finditer(r'svc\("([^"]+)",.*?, (RestJson|RestXml), ', text):
        if m.group(1) not in SKIP:
            yield m.group(1)


def main():
    session = botocore.session.get_session()
    available = set(session.get_available_services())
    out = {}
    for name in sorted(set(rest_services())):
        if name not in available:
            print(f"skipped {name}: not in botocore {botocore.__version__}", file=sys.stderr)
            continue
        model = session.get_service_model(name)
        ops = []
        for op_name in model.operation_names:
            http = model.operation_model(op_name).http
            ops.append([http["method"], http["requestUri"], op_name])
        out[name] = sorted(ops)
    json.dump(
        {"botocore": botocore.__version__, "services": out},
        sys.stdout,
        indent=0,
        sort_keys=True,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
