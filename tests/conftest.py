"""Shared fixtures: the same API test runs embedded and over HTTP.

``ddb`` is parametrised twice:

- ``embedded``: a fresh ``kvstore.Database`` per test, called through
  ``db.request`` (the in-process dispatch, no socket, no JSON).
- ``http``: a boto3 client against a real ``kvstore serve`` process started
  once per session on a free port (``python -m server serve --port 0``).
  boto3's client-side parameter validation is off, so that what is tested is
  the server's own validation, as DynamoDB's would be.

Both expose ``ddb.call(operation, **request) -> dict`` in boto3's form
(blobs as bytes, timestamps as datetimes), and both raise the
:mod:`kvstore.errors` class named by the error's ``__type``, with ``.code``
and ``.message``, so one test body asserts the exact same thing twice.
"""

import base64
import datetime
import itertools
import os
import re
import signal
import subprocess
import sys
import threading

import pytest

import kvstore
from kvstore import errors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMESTAMPS = {
    "CreationDateTime",
    "LastIncreaseDateTime",
    "LastDecreaseDateTime",
    "LastUpdateToPayPerRequestDateTime",
    "ApproximateCreationDateTime",
}


# -- the server ---------------------------------------------------------------

# KVSTORE_TEST_WORKERS=3: every server these tests start runs ``--workers 3``
# (a supervisor and three worker processes), so the black-box tests check that
# a multi-worker server behaves as one -- servers on a data directory too
# (tests/durability/conftest.py does the same for its own servers).
TEST_WORKERS = os.environ.get("KVSTORE_TEST_WORKERS")


class ServerProcess:
    """A real ``kvstore serve`` on a free loopback port."""

    def __init__(self, *args, timeout=30):
        if TEST_WORKERS and "--workers" not in args:
            args = ("--workers", TEST_WORKERS, *args)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines = []
        ready = threading.Event()
        found = {}

        def read():
            for line in self.proc.stderr:
                self.lines.append(line)
                m = re.search(r"listening on http://([\d.]+):(\d+)", line)
                if m and not ready.is_set():
                    found["host"], found["port"] = m.group(1), int(m.group(2))
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not ready.wait(timeout) or "port" not in found:
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.lines))
        self.host, self.port = found["host"], found["port"]
        self.endpoint = f"http://{self.host}:{self.port}"

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode


@pytest.fixture(scope="session")
def server():
    srv = ServerProcess()
    yield srv
    srv.stop()


def boto3_client(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


# -- the two modes of ddb -----------------------------------------------------

def _to_wire(value):
    """boto3-form request -> wire form: blobs are base64 text, as botocore sends them."""
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_wire(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def _from_wire(value, key=None):
    """wire-form answer -> boto3 form: B/BS values as bytes, timestamps as datetimes."""
    if isinstance(value, dict):
        if len(value) == 1 and "B" in value and isinstance(value["B"], (str, bytes)):
            b = value["B"]
            return {"B": b if isinstance(b, bytes) else base64.b64decode(b)}
        if len(value) == 1 and "BS" in value and isinstance(value["BS"], list):
            return {"BS": [b if isinstance(b, bytes) else base64.b64decode(b) for b in value["BS"]]}
        return {k: _from_wire(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_wire(v) for v in value]
    if key in _TIMESTAMPS and isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    return value


class EmbeddedDDB:
    mode = "embedded"

    def __init__(self):
        self.db = kvstore.Database()

    def call(self, operation, **request):
        return _from_wire(self.db.request(operation, _to_wire(request)))


class HttpDDB:
    mode = "http"

    def __init__(self, client):
        self.client = client

    def call(self, operation, **request):
        from botocore.exceptions import ClientError

        try:
            out = self.client._make_api_call(operation, request)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            cls = getattr(errors, code, None)
            if not (isinstance(cls, type) and issubclass(cls, errors.DynamoDBError)):
                raise
            raise cls(e.response["Error"].get("Message")) from None
        out.pop("ResponseMetadata", None)
        return out


@pytest.fixture(scope="session")
def http_client(server):
    return boto3_client(server.endpoint)


@pytest.fixture(params=["embedded", "http"])
def ddb(request):
    if request.param == "embedded":
        return EmbeddedDDB()
    return HttpDDB(request.getfixturevalue("http_client"))


_names = itertools.count()


@pytest.fixture
def table_name():
    """A fresh table name (the HTTP server is shared by the whole session)."""
    return f"t{os.getpid()}_{next(_names)}"


def create_table(ddb, name, hash_key=("id", "S"), range_key=None, **extra):
    """CreateTable with PAY_PER_REQUEST and the given key (name, type) pairs."""
    keys = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
    attrs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
    if range_key is not None:
        keys.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
        attrs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
    request = {
        "TableName": name,
        "KeySchema": keys,
        "AttributeDefinitions": attrs,
        "BillingMode": "PAY_PER_REQUEST",
    }
    request.update(extra)
    return ddb.call("CreateTable", **request)


@pytest.fixture
def make_table(ddb, table_name):
    """make_table(hash_key=("id", "S"), range_key=None, **extra) -> the table's name."""

    def make(hash_key=("id", "S"), range_key=None, name=None, **extra):
        name = name or table_name
        create_table(ddb, name, hash_key, range_key, **extra)
        return name

    return make
