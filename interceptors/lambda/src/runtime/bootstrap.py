"""edgestack's Lambda runtime for python functions (stdlib only, python >= 3.8).

edgestack starts it as `python3 bootstrap.py` with AWS_LAMBDA_RUNTIME_API, _HANDLER and
LAMBDA_TASK_ROOT set. It imports the handler (`module.function`, `dir/sub.module.function`),
then loops over the Runtime API (2018-06-01): GET /next, call the handler, POST the JSON
result to /response or the error to /error, in the shapes AWS's python runtime
(awslambdaric) uses. A handler that cannot be loaded is reported to /init/error, then the
process exits 1.
"""

import importlib
import json
import logging
import os
import socket
import sys
import time

API_BASE = "/2018-06-01/runtime/"


class Headers(dict):
    """Response headers, looked up without regard to case."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)


class RuntimeClient:
    """A keep-alive HTTP/1.1 client of the Runtime API, on a plain socket: `http.client`
    alone costs a cold start ~20 ms of imports (email, ssl). The peer is edgestack's own
    Runtime API server."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self.host = address
        self.sock = None
        self.buf = bytearray()

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = bytearray()

    def _fill(self, want):
        chunk = self.sock.recv(max(65536, want))
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        self.buf += chunk

    def _until(self, marker):
        start = 0
        while True:
            i = self.buf.find(marker, start)
            if i >= 0:
                end = i + len(marker)
                out = bytes(self.buf[:end])
                del self.buf[:end]
                return out
            start = max(0, len(self.buf) - len(marker) + 1)
            self._fill(0)

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill(n - len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _response(self):
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = Headers()
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self._until(b"\r\n").split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._until(b"\r\n") != b"\r\n":
                        pass
                    break
                parts.append(self._exact(size))
                self._exact(2)
            body = b"".join(parts)
        else:
            body = self._exact(int(headers.get("content-length", "0") or "0"))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def request(self, method, path, body=None, headers=None):
        body = body or b""
        lines = [
            "{} {}{} HTTP/1.1".format(method, API_BASE, path),
            "Host: " + self.host,
            "Content-Length: {}".format(len(body)),
        ]
        for name, value in (headers or {}).items():
            lines.append("{}: {}".format(name, value))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.address)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.sock.sendall(data)
                return self._response()
            except (OSError, ValueError, IndexError):
                self.close()
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def post_json(self, path, document, error_type=None):
        headers = {"Content-Type": "application/json"}
        if error_type:
            headers["Lambda-Runtime-Function-Error-Type"] = error_type
        body = json.dumps(document).encode("utf-8")
        return self.request("POST", path, body, headers)


class FaultError(Exception):
    """A handler that cannot be loaded, with the Runtime.* type Lambda reports."""

    def __init__(self, error_type, message, stack_trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []


def make_error(message, error_type, stack_trace, request_id=""):
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "",
        "requestId": request_id or "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def load_handler(handler):
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError(
            "Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(handler, e)
        )
    if not module_name or not function_name:
        raise FaultError(
            "Runtime.MalformedHandlerName",
            "Bad handler '{}': not enough values to unpack (expected 2, got 1)".format(handler),
        )
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module {} as a handler module".format(module_name),
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise FaultError(
            "Runtime.ImportModuleError",
            "Unable to import module '{}': {}".format(module_name, e),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultError(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '{}': {}".format(module_name, e),
            trace,
        )
    except Exception as e:
        import traceback

        raise FaultError(
            type(e).__name__,
            str(e),
            traceback.format_list(user_frames(sys.exc_info()[2])),
        )
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultError(
            "Runtime.HandlerNotFound",
            "Handler '{}' missing on module '{}'".format(function_name, module_name),
        )


def user_frames(tb):
    """The traceback without this bootstrap's own frames at the top."""
    import traceback

    frames = traceback.extract_tb(tb)
    me = os.path.abspath(__file__)
    for i, frame in enumerate(frames):
        if os.path.abspath(frame.filename) != me:
            return frames[i:]
    return frames


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self, document):
        self.cognito_identity_id = document.get("cognitoIdentityId")
        self.cognito_identity_pool_id = document.get("cognitoIdentityPoolId")


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __init__(self, document):
        self.installation_id = document.get("installation_id")
        self.app_title = document.get("app_title")
        self.app_version_name = document.get("app_version_name")
        self.app_version_code = document.get("app_version_code")
        self.app_package_name = document.get("app_package_name")


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __init__(self, document):
        self.custom = document.get("custom")
        self.env = document.get("env")
        client = document.get("client")
        self.client = Client(client) if isinstance(client, dict) else None


class LambdaContext:
    """The context object AWS's python runtime passes to handlers."""

    def __init__(self, request_id, deadline_ms, invoked_arn, identity, client_context):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity(identity) if isinstance(identity, dict) else None
        self.client_context = (
            ClientContext(client_context) if isinstance(client_context, dict) else None
        )
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id={},log_group_name={},log_stream_name={},"
            "function_name={},memory_limit_in_mb={},function_version={},"
            "invoked_function_arn={},client_context={},identity={}])".format(
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
            )
        )


CURRENT_REQUEST_ID = ""


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = CURRENT_REQUEST_ID
        return True


def setup_logging():
    """The root logger prints like AWS's: `[LEVEL]\\t<time>\\t<request id>\\t<message>`."""
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)


def json_default(value):
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError("Object of type {} is not JSON serializable".format(type(value).__name__))


def parse_json_header(headers, name):
    value = headers.get(name)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def handle(client, handler, status, headers, body):
    global CURRENT_REQUEST_ID
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    CURRENT_REQUEST_ID = request_id
    trace_id = headers.get("Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))
    except ValueError:
        deadline_ms = 0
    context = LambdaContext(
        request_id,
        deadline_ms,
        headers.get("Lambda-Runtime-Invoked-Function-Arn"),
        parse_json_header(headers, "Lambda-Runtime-Cognito-Identity"),
        parse_json_header(headers, "Lambda-Runtime-Client-Context"),
    )
    path = "invocation/{}/".format(request_id)
    try:
        event = json.loads(body) if body else {}
    except ValueError as e:
        client.post_json(
            path + "error",
            make_error(
                "Unable to unmarshal input: {}".format(e),
                "Runtime.UnmarshalError",
                [],
                request_id,
            ),
        )
        return
    try:
        result = handler(event, context)
    except Exception as e:
        import traceback

        frames = user_frames(sys.exc_info()[2])
        error = make_error(str(e), type(e).__name__, traceback.format_list(frames), request_id)
        sys.stdout.write(
            "[ERROR] {}: {}\nTraceback (most recent call last):\n{}".format(
                type(e).__name__, e, "".join(traceback.format_list(frames))
            )
        )
        sys.stdout.flush()
        client.post_json(path + "error", error)
        return
    try:
        encoded = json.dumps(result, default=json_default).encode("utf-8")
    except Exception as e:
        client.post_json(
            path + "error",
            make_error(
                "Unable to marshal response: {}".format(e),
                "Runtime.MarshalError",
                [],
                request_id,
            ),
        )
        return
    client.request("POST", path + "response", encoded, {"Content-Type": "application/json"})


def main():
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    setup_logging()
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultError as e:
        sys.stdout.write("[ERROR] {}: {}\n".format(e.error_type, e.message))
        sys.stdout.flush()
        header = e.error_type if e.error_type.startswith("Runtime.") else "Runtime.Unknown"
        client.post_json(
            "init/error", make_error(e.message, e.error_type, e.stack_trace), header
        )
        sys.exit(1)
    while True:
        status, headers, body = client.request("GET", "invocation/next")
        if status != 200:
            sys.stderr.write("edgestack runtime: /next answered {}: {!r}\n".format(status, body[:200]))
            time.sleep(0.1)
            continue
        handle(client, handler, status, headers, body)


if __name__ == "__main__":
    main()
