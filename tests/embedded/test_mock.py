"""``kvstore.mock()``: clients created inside it are answered in-process.

As a context manager, as a decorator (with and without parentheses, on
functions, coroutines and unittest classes), for boto3, aiobotocore and
PynamoDB, and leaving every other service and every client made outside it
alone.
"""

import asyncio
import os
import unittest

import boto3
import pytest

import kvstore
from kvstore import mock as mock_module


def make_table(client, name="users"):
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_mock_context_manager_routes_boto3(monkeypatch):
    """boto3 clients and resources made inside the mock talk to its database."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with kvstore.mock() as db:
        client = boto3.client("dynamodb")
        make_table(client)
        boto3.resource("dynamodb").Table("users").put_item(Item={"id": "a", "v": 1})
        assert db.table("users").get({"id": "a"}) == {"id": "a", "v": 1}
    assert "AWS_ACCESS_KEY_ID" not in os.environ and "AWS_DEFAULT_REGION" not in os.environ


def test_mock_keeps_existing_environment(monkeypatch):
    """Credentials and region already set are left as they are."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mine")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-3")
    with kvstore.mock():
        assert os.environ["AWS_ACCESS_KEY_ID"] == "mine"
        assert boto3.client("dynamodb").meta.region_name == "eu-west-3"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "mine"


def test_mock_fresh_database_each_time():
    """Each start of mock() is a new, empty database."""
    with kvstore.mock():
        make_table(boto3.client("dynamodb", region_name="us-east-1"))
    with kvstore.mock():
        assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []


def test_mock_given_database():
    """mock(db) serves an existing database, tables and all."""
    db = kvstore.Database()
    db.create_table("given", "id")
    with kvstore.mock(db) as served:
        assert served is db
        assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == ["given"]


def test_mock_decorator_with_and_without_parentheses():
    """@kvstore.mock and @kvstore.mock() both wrap a function in a fresh mock."""

    @kvstore.mock
    def bare():
        client = boto3.client("dynamodb", region_name="us-east-1")
        make_table(client)
        return client.list_tables()["TableNames"]

    @kvstore.mock()
    def called():
        return boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]

    assert bare() == ["users"]
    assert called() == []
    assert bare() == ["users"]  # a fresh database per call: no ResourceInUseException


def test_mock_decorates_coroutines():
    """An async function is wrapped for the time it runs."""

    @kvstore.mock
    async def run():
        client = boto3.client("dynamodb", region_name="us-east-1")
        make_table(client)
        return mock_module.active_database().table_names()

    assert asyncio.run(run()) == ["users"]
    assert mock_module.active_database() is None


@kvstore.mock
class MockedTestCase(unittest.TestCase):
    """A unittest class: one mock from setUp to the end of each test."""

    def setUp(self):
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        make_table(self.client)

    def test_table_from_setup_is_there(self):
        self.assertEqual(self.client.list_tables()["TableNames"], ["users"])

    def test_tests_are_isolated(self):
        self.client.put_item(TableName="users", Item={"id": {"S": "only-here"}})
        self.assertEqual(mock_module.active_database().tables["users"].item_count, 1)


def test_mock_nested_innermost_wins():
    """Inside nested mocks, requests go to the innermost active one."""
    with kvstore.mock() as outer:
        client = boto3.client("dynamodb", region_name="us-east-1")
        with kvstore.mock() as inner:
            make_table(client, "inner_table")
        make_table(client, "outer_table")
    assert inner.table_names() == ["inner_table"]
    assert outer.table_names() == ["outer_table"]


def test_mock_client_kept_after_exit_stays_local(monkeypatch):
    """A client made in a mock keeps talking to that mock's database afterwards, never AWS."""
    import socket

    with kvstore.mock() as db:
        client = boto3.client("dynamodb", region_name="us-east-1")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("network used"))
    make_table(client)
    assert db.table_names() == ["users"]


def test_mock_leaves_clients_made_before_alone(kvstore_db):
    """A client that existed before the mock keeps its own binding."""
    mine = kvstore_db.client()
    with kvstore.mock() as db:
        make_table(mine)
    assert kvstore_db.table_names() == ["users"] and db.table_names() == []


def test_mock_db_client_inside_mock_uses_its_own_db(kvstore_db):
    """db.client() made inside a mock is answered by that db, once (not twice)."""
    with kvstore.mock() as mocked:
        client = kvstore_db.client()
        make_table(client)
        client.put_item(TableName="users", Item={"id": {"S": "a"}})
    assert kvstore_db.table_names() == ["users"] and mocked.table_names() == []


def test_mock_other_services_untouched():
    """Only DynamoDB clients get the handler; S3 and others are left to botocore."""
    from kvstore.boto import HANDLER_ID

    with kvstore.mock():
        s3 = boto3.client("s3", region_name="us-east-1")
        ddb = boto3.client("dynamodb", region_name="us-east-1")
    registered = [ddb.meta.events._emitter._unique_id_handlers, s3.meta.events._emitter._unique_id_handlers]
    assert HANDLER_ID in registered[0] and HANDLER_ID not in registered[1]


def test_mock_streams_client():
    """A DynamoDB Streams client is answered too (unknown operations until streams land)."""
    with kvstore.mock():
        streams = boto3.client("dynamodbstreams", region_name="us-east-1")
        try:
            out = streams.list_streams()
        except streams.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "UnknownOperationException"
        else:
            assert out["Streams"] == []


def test_mock_stop_when_not_active():
    """Stopping a mock that is not active is an error, not a silent no-op."""
    with pytest.raises(RuntimeError):
        kvstore.mock().stop()


def test_mock_restores_botocore():
    """After the last mock stops, botocore's BaseClient.__init__ is the original again."""
    from botocore.client import BaseClient

    before = BaseClient.__init__
    with kvstore.mock():
        assert BaseClient.__init__ is not before
    assert BaseClient.__init__ is before


def test_mock_aiobotocore():
    """aiobotocore clients made inside the mock are answered in-process, errors included."""
    aiobotocore_session = pytest.importorskip("aiobotocore.session")

    async def run():
        async with aiobotocore_session.get_session().create_client("dynamodb", region_name="us-east-1") as c:
            make = c.create_table(
                TableName="aio",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            await make
            await c.put_item(TableName="aio", Item={"id": {"S": "a"}, "n": {"N": "2"}})
            got = await c.get_item(TableName="aio", Key={"id": {"S": "a"}})
            with pytest.raises(c.exceptions.ResourceNotFoundException):
                await c.get_item(TableName="missing", Key={"id": {"S": "a"}})
            return got["Item"]

    with kvstore.mock() as db:
        item = asyncio.run(run())
    assert item == {"id": {"S": "a"}, "n": {"N": "2"}}
    assert db.table("aio").get({"id": "a"}) == {"id": "a", "n": 2}


def test_mock_pynamodb_model():
    """A PynamoDB model with no host set works inside the mock."""
    pytest.importorskip("pynamodb")
    from pynamodb.attributes import UnicodeAttribute
    from pynamodb.models import Model

    class Thing(Model):
        class Meta:
            table_name = "things"
            region = "us-east-1"

        name = UnicodeAttribute(hash_key=True)
        colour = UnicodeAttribute()

    with kvstore.mock() as db:
        Thing.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
        Thing(name="ball", colour="red").save()
        assert Thing.get("ball").colour == "red"
    assert db.table("things").get({"name": "ball"}) == {"name": "ball", "colour": "red"}
