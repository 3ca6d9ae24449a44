"""boto3 answered in-process (``db.client()``, ``db.resource()``, ``kvstore.boto``).

What is checked is that boto3 stays boto3: its own serialization, parsing,
ClientError, paginators and waiters, over a database that never opens a
socket.  Expected values come from the engine itself (``db.request``) or
from what was written, never from a recorded answer.
"""

import gzip
import socket
import zlib

import botocore
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from kvstore import errors
from kvstore.api import OPERATIONS
from kvstore.boto import answer, install


@pytest.fixture
def no_sockets(monkeypatch):
    """Fail any attempt to open a network connection during the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def make_users(client):
    client.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_client_put_get_without_sockets(no_sockets, kvstore_db, dynamodb_client):
    """A boto3 client's calls reach the engine with no socket at all."""
    make_users(dynamodb_client)
    item = {"id": {"S": "a"}, "n": {"N": "1.50"}, "b": {"B": b"\x00\x01"}, "l": {"L": [{"NULL": True}]}}
    dynamodb_client.put_item(TableName="users", Item=item)
    got = dynamodb_client.get_item(TableName="users", Key={"id": {"S": "a"}})
    assert got["Item"] == {"id": {"S": "a"}, "n": {"N": "1.5"}, "b": {"B": b"\x00\x01"},
                           "l": {"L": [{"NULL": True}]}}
    assert kvstore_db.table("users").get({"id": "a"})["b"] == b"\x00\x01"


def test_client_response_metadata(dynamodb_client):
    """Answers carry a request id and a CRC32 of the body, as DynamoDB's do."""
    out = dynamodb_client.list_tables()
    meta = out["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert len(meta["RequestId"]) == 52 and meta["RequestId"].isalnum()
    assert "x-amz-crc32" in meta["HTTPHeaders"]
    assert meta["RetryAttempts"] == 0


def test_client_errors_are_client_errors(kvstore_db, dynamodb_client):
    """Errors are botocore ClientErrors with the engine's code, message and status."""
    make_users(dynamodb_client)
    cases = [
        ("GetItem", {"TableName": "missing", "Key": {"id": {"S": "a"}}}),
        ("GetItem", {"TableName": "users", "Key": {"id": {"N": "1"}}}),
        ("PutItem", {"TableName": "users", "Item": {"id": {"S": ""}}}),
        ("CreateTable", {"TableName": "users", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                         "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                         "BillingMode": "PAY_PER_REQUEST"}),
    ]
    for operation, request in cases:
        with pytest.raises(errors.DynamoDBError) as engine:
            kvstore_db.request(operation, request)
        with pytest.raises(ClientError) as boto:
            dynamodb_client._make_api_call(operation, request)
        error = boto.value.response["Error"]
        assert (error["Code"], error["Message"]) == (engine.value.code, engine.value.message)
        assert boto.value.response["ResponseMetadata"]["HTTPStatusCode"] == engine.value.status


def test_client_modeled_exception_classes(dynamodb_client):
    """client.exceptions.<Code> catches the engine's errors, as with DynamoDB."""
    with pytest.raises(dynamodb_client.exceptions.ResourceNotFoundException):
        dynamodb_client.describe_table(TableName="missing")


def test_client_parameter_validation_stays_botocore(dynamodb_client):
    """botocore validates parameters itself before anything is sent."""
    with pytest.raises(ParamValidationError):
        dynamodb_client.get_item(TableName="users")


def test_client_unknown_operation_through_botocore(kvstore_db):
    """An operation botocore knows but the engine lacks is UnknownOperationException."""
    from botocore.config import Config

    client = kvstore_db.client(config=Config(parameter_validation=False))
    missing = [op for op in client.meta.service_model.operation_names if op not in OPERATIONS]
    if not missing:
        pytest.skip("the engine has every operation botocore knows")
    with pytest.raises(ClientError) as info:
        client._make_api_call(missing[0], {})
    assert info.value.response["Error"]["Code"] == "UnknownOperationException"


def test_client_paginator(kvstore_db, dynamodb_client):
    """ListTables' paginator follows LastEvaluatedTableName across pages."""
    names = [f"table{i:03d}" for i in range(7)]
    for name in names:
        kvstore_db.create_table(name, "id")
    pages = list(dynamodb_client.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [n for p in pages for n in p["TableNames"]] == names


def test_client_waiters(dynamodb_client):
    """table_exists and table_not_exists waiters poll DescribeTable and finish."""
    make_users(dynamodb_client)
    dynamodb_client.get_waiter("table_exists").wait(TableName="users")
    dynamodb_client.delete_table(TableName="users")
    dynamodb_client.get_waiter("table_not_exists").wait(TableName="users")
    assert dynamodb_client.list_tables()["TableNames"] == []


def test_resource_table_round_trip(kvstore_db, dynamodb_resource):
    """The resource's Table speaks plain values through boto3's own conversion."""
    from decimal import Decimal

    table = dynamodb_resource.create_table(
        TableName="users",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table.wait_until_exists()
    table.put_item(Item={"id": "a", "n": Decimal("2"), "s": {"x", "y"}})
    assert table.get_item(Key={"id": "a"})["Item"] == {"id": "a", "n": Decimal("2"), "s": {"x", "y"}}
    assert table.item_count == kvstore_db.tables["users"].item_count == 1
    assert [t.name for t in dynamodb_resource.tables.all()] == ["users"]


def test_resource_batch_writer(require, dynamodb_resource):
    """boto3's batch_writer sends BatchWriteItem with 25 requests at most."""
    require("BatchWriteItem")
    make_users(dynamodb_resource.meta.client)
    table = dynamodb_resource.Table("users")
    with table.batch_writer() as batch:
        for i in range(30):
            batch.put_item(Item={"id": str(i)})
    assert table.item_count == 30


def test_clients_of_two_databases_are_separate(kvstore_db):
    """Each database answers only its own clients."""
    import kvstore

    other = kvstore.Database()
    make_users(kvstore_db.client())
    assert kvstore_db.client().list_tables()["TableNames"] == ["users"]
    assert other.client().list_tables()["TableNames"] == []


def test_install_on_plain_botocore_client(kvstore_db):
    """install() binds any botocore DynamoDB client, e.g. one from a botocore session."""
    session = botocore.session.get_session()
    client = session.create_client("dynamodb", region_name="eu-west-1", aws_access_key_id="x",
                                   aws_secret_access_key="y")
    install(client, kvstore_db)
    make_users(client)
    assert kvstore_db.table_names() == ["users"]


def test_answer_decodes_like_the_server(kvstore_db):
    """Bad JSON, a non-object body and an unknown target fail as the server's do."""
    for target, body, code in [
        ("DynamoDB_20120810.ListTables", b"{not json", "SerializationException"),
        ("DynamoDB_20120810.ListTables", b"[1]", "SerializationException"),
        ("DynamoDB_20120810.ListTables", b"", "SerializationException"),
        ("DynamoDB_20120810.NoSuchThing", b"", "UnknownOperationException"),
        ("Other_20120810.ListTables", b"{}", "UnknownOperationException"),
        (None, b"{}", "UnknownOperationException"),
    ]:
        status, out = answer(kvstore_db, target, body)
        assert status == 400
        assert out.decode().find("#" + code) > 0


def test_handler_accepts_gzip_bodies(kvstore_db, dynamodb_client):
    """A gzip-compressed request body is decompressed, as the server does."""
    make_users(dynamodb_client)
    seen = []

    def compress(request, **_):
        request.body = gzip.compress(request.body)
        request.headers["Content-Encoding"] = "gzip"
        seen.append(True)

    dynamodb_client.meta.events.register_first("before-send.dynamodb.PutItem", compress)
    dynamodb_client.put_item(TableName="users", Item={"id": {"S": "z"}})
    assert seen and kvstore_db.table("users").get({"id": "z"}) == {"id": "z"}


def test_crc32_header_matches_body(dynamodb_client):
    """botocore's CRC32 check of the body passes (it would retry, then fail, if not)."""
    bodies = []

    def capture(http_response, **_):
        bodies.append((http_response.headers["x-amz-crc32"], http_response.content))

    dynamodb_client.meta.events.register("after-call.dynamodb.ListTables",
                                         lambda http_response, **kw: capture(http_response))
    dynamodb_client.list_tables()
    crc, content = bodies[0]
    assert int(crc) == zlib.crc32(content)


def test_internal_errors_propagate(monkeypatch, kvstore_db, dynamodb_client):
    """A bug in the engine is raised as itself, not retried as a 500."""
    from kvstore import api

    def broken(db, req):
        raise RuntimeError("engine bug")

    monkeypatch.setitem(api.OPERATIONS, "ListTables", broken)
    with pytest.raises(RuntimeError, match="engine bug"):
        dynamodb_client.list_tables()


# -- PynamoDB on db.client() ------------------------------------------------------------

pynamodb = pytest.importorskip("pynamodb")


def pynamodb_model(db):
    from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
    from pynamodb.models import Model

    class User(Model):
        class Meta:
            table_name = "pyn_users"
            region = "us-east-1"

        id = UnicodeAttribute(hash_key=True)
        age = NumberAttribute(null=True)
        tags = UnicodeSetAttribute(null=True)

    # PynamoDB keeps one botocore client per model connection; give it ours.
    User._get_connection().connection._client = db.client()
    return User


def test_pynamodb_model_on_db_client(no_sockets, kvstore_db):
    """A PynamoDB model works through db.client(): create, save, get, delete."""
    User = pynamodb_model(kvstore_db)
    User.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    assert User.exists()
    User(id="u1", age=30, tags={"a", "b"}).save()
    user = User.get("u1")
    assert (user.age, user.tags) == (30, {"a", "b"})
    assert kvstore_db.table("pyn_users").get({"id": "u1"})["age"] == 30
    with pytest.raises(User.DoesNotExist):
        User.get("nobody")
    user.delete()
    with pytest.raises(User.DoesNotExist):
        User.get("u1")


def test_pynamodb_errors_are_pynamodb_errors(kvstore_db):
    """Engine errors reach PynamoDB as its own exceptions, with DynamoDB's code."""
    from pynamodb.exceptions import PutError

    User = pynamodb_model(kvstore_db)
    User.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
    with pytest.raises(PutError) as info:
        User(id="").save()
    assert info.value.cause_response_code == "ValidationException"
