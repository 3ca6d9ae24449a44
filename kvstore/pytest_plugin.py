"""kvstore's pytest plugin: DynamoDB fixtures, in-process or over a real server.

Registered through the ``pytest11`` entry point, so installing kvstore is
enough (from a source checkout that is not installed: ``pytest -p
kvstore.pytest_plugin``).  Fixtures:

``kvstore_db``
    A fresh in-memory :class:`kvstore.Database` per test.
``dynamodb_client`` / ``dynamodb_resource``
    Real boto3 client / service resource answered in-process by
    ``kvstore_db`` (no socket).
``kvstore_mock``
    ``kvstore.mock(kvstore_db)`` for the test: every DynamoDB client the code
    under test creates (boto3, aiobotocore, PynamoDB) is answered by
    ``kvstore_db``.  The drop-in for moto's ``mock_aws``.  Yields the db.
``kvstore_server``
    A real ``kvstore serve`` process on a free loopback port, started once
    per session, for clients in other processes or languages: ``.endpoint``,
    ``.host``, ``.port``, ``.env`` (environment variables pointing an AWS SDK
    or the CLI at it), ``.client()``, ``.resource()``.  Tables are isolated
    per test: the ones a test creates are deleted when it ends.  Extra server
    arguments come from the ``kvstore_server_args`` ini option.

Nothing here is imported until a fixture is used: pytest loads the plugin in
every session of every project that has kvstore installed.
"""

import os
import re
import signal
import subprocess
import sys
import threading

import pytest

__all__ = [
    "kvstore_db",
    "dynamodb_client",
    "dynamodb_resource",
    "kvstore_mock",
    "kvstore_server",
    "KvstoreServer",
]

_READY = re.compile(r"listening on http://([^\s:]+|\[[^\]]+\]):(\d+)")


def pytest_addoption(parser):
    parser.addini(
        "kvstore_server_args",
        "extra arguments for the kvstore server the kvstore_server fixture starts",
        type="args",
        default=[],
    )


class KvstoreServer:
    """A ``python -m server serve`` child process on a free loopback port."""

    def __init__(self, *args, timeout=30.0):
        import kvstore

        root = os.path.dirname(os.path.dirname(os.path.abspath(kvstore.__file__)))
        env = dict(os.environ)
        # From a source checkout the server package sits beside kvstore.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log = []
        ready = threading.Event()
        found = {}

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                m = _READY.search(line)
                if m and not ready.is_set():
                    found["address"] = (m.group(1), int(m.group(2)))
                    ready.set()
            ready.set()

        self._reader = threading.Thread(target=read, name="kvstore-server-log", daemon=True)
        self._reader.start()
        if not ready.wait(timeout) or "address" not in found:
            self.stop()
            raise RuntimeError("the kvstore server did not start:\n" + "".join(self.log))
        self.host, self.port = found["address"]
        self.endpoint = f"http://{self.host}:{self.port}"
        self.region = "us-east-1"
        self._admin = None

    @property
    def env(self):
        """Environment variables that point an AWS SDK or the AWS CLI here."""
        return {
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "kvstore",
            "AWS_SECRET_ACCESS_KEY": "kvstore",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def _session(self):
        import boto3

        return boto3.session.Session(region_name=self.region, aws_access_key_id="kvstore",
                                     aws_secret_access_key="kvstore")

    def client(self, **kwargs):
        """A boto3 DynamoDB client talking to this server over HTTP."""
        kwargs.setdefault("endpoint_url", self.endpoint)
        return self._session().client("dynamodb", **kwargs)

    def resource(self, **kwargs):
        kwargs.setdefault("endpoint_url", self.endpoint)
        return self._session().resource("dynamodb", **kwargs)

    def table_names(self):
        if self._admin is None:
            self._admin = self.client()
        names = []
        for page in self._admin.get_paginator("list_tables").paginate():
            names.extend(page["TableNames"])
        return names

    def delete_tables_except(self, keep):
        """Delete every table whose name is not in ``keep``."""
        for name in self.table_names():
            if name not in keep:
                try:
                    self._admin.delete_table(TableName=name)
                except self._admin.exceptions.ResourceNotFoundException:
                    pass

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._reader.join(timeout)
        return self.proc.returncode


@pytest.fixture
def kvstore_db():
    """A fresh in-memory kvstore.Database for this test."""
    import kvstore

    return kvstore.Database()


@pytest.fixture
def dynamodb_client(kvstore_db):
    """A real boto3 DynamoDB client answered in-process by kvstore_db."""
    return kvstore_db.client()


@pytest.fixture
def dynamodb_resource(kvstore_db):
    """A real boto3 DynamoDB service resource answered in-process by kvstore_db."""
    return kvstore_db.resource()


@pytest.fixture
def kvstore_mock(kvstore_db):
    """Every DynamoDB client created during the test is answered by kvstore_db."""
    import kvstore.mock

    with kvstore.mock(kvstore_db):
        yield kvstore_db


@pytest.fixture(scope="session")
def _kvstore_server_process(pytestconfig):
    try:
        args = pytestconfig.getini("kvstore_server_args")
    except ValueError:  # fixtures imported by a conftest without the plugin's options
        args = []
    server = KvstoreServer(*args)
    yield server
    server.stop()


@pytest.fixture
def kvstore_server(_kvstore_server_process):
    """A real kvstore server (one per session); this test's tables are deleted after it."""
    server = _kvstore_server_process
    before = set(server.table_names())
    yield server
    server.delete_tables_except(before)
