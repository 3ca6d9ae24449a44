"""TransactGetItems, and the transaction locks driven at the engine level."""


import pytest

import kvstore
from kvstore.api.transact import begin_write
from kvstore.errors import DynamoDBError, TransactionCanceledException, TransactionConflictException

from api_helpers import own_tables


table_name, _drop_tables = own_tables("tg")


_CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons "


def K(v):
    return {"id": {"S": v}}


def test_transact_get_items_reads_in_order(ddb, make_table, table_name):
    # Responses follow the request's order; a missing item answers an empty entry.
    one = make_table()
    two = make_table(name=table_name + "b")
    ddb.call("PutItem", TableName=one, Item={**K("a"), "x": {"N": "1"}, "y": {"S": "y"}})
    ddb.call("PutItem", TableName=two, Item={**K("b")})
    out = ddb.call("TransactGetItems", ReturnConsumedCapacity="TOTAL", TransactItems=[
        {"Get": {"TableName": two, "Key": K("b")}},
        {"Get": {"TableName": one, "Key": K("zz")}},
        {"Get": {"TableName": one, "Key": K("a"), "ProjectionExpression": "#x",
                 "ExpressionAttributeNames": {"#x": "x"}}},
    ])
    assert out["Responses"] == [{"Item": K("b")}, {}, {"Item": {"x": {"N": "1"}}}]
    # Transactional reads cost 2 RCUs per 4 KB.
    assert sorted(out["ConsumedCapacity"], key=lambda c: c["TableName"]) == [
        {"TableName": one, "CapacityUnits": 4.0, "ReadCapacityUnits": 4.0},
        {"TableName": two, "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}]


def test_transact_get_items_validation(ddb, make_table, table_name):
    name = make_table()
    with pytest.raises(DynamoDBError) as info:
        ddb.call("TransactGetItems", TransactItems=[{"Get": {"TableName": name, "Key": K("a")}},
                                                    {"Get": {"TableName": name, "Key": K("a")}}])
    assert info.value.message == "Transaction request cannot include multiple operations on one item"
    with pytest.raises(DynamoDBError) as info:
        ddb.call("TransactGetItems", TransactItems=[{"Get": {"TableName": table_name + "zz", "Key": K("a")}}])
    assert (info.value.code, info.value.message) == ("ResourceNotFoundException", "Requested resource not found")
    with pytest.raises(DynamoDBError) as info:
        ddb.call("TransactGetItems", TransactItems=[{}])
    assert info.value.message == ("1 validation error detected: Value null at 'transactItems.1.member.get' "
                                  "failed to satisfy constraint: Member must not be null")


# -- locks: a prepared transaction held open ------------------------------------


@pytest.fixture
def db():
    db = kvstore.Database()
    db.request("CreateTable", {"TableName": "acct", "BillingMode": "PAY_PER_REQUEST",
                               "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                               "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})
    for key in "abc":
        db.request("PutItem", {"TableName": "acct", "Item": {**K(key), "bal": {"N": "10"}}})
    return db


def _prepared(db, *keys):
    tx = begin_write(db, {"TransactItems": [
        {"Update": {"TableName": "acct", "Key": K(k), "UpdateExpression": "SET bal = :z",
                    "ExpressionAttributeValues": {":z": {"N": "0"}}}} for k in keys]})
    tx.prepare()
    return tx


def test_single_write_to_a_locked_item_is_a_transaction_conflict(db):
    # DynamoDB: a PutItem/UpdateItem/DeleteItem on an item a transaction holds fails.
    tx = _prepared(db, "a")
    for op, req in (("PutItem", {"Item": K("a")}), ("DeleteItem", {"Key": K("a")}),
                    ("UpdateItem", {"Key": K("a"), "UpdateExpression": "SET x = :x",
                                    "ExpressionAttributeValues": {":x": {"N": "1"}}})):
        with pytest.raises(TransactionConflictException) as info:
            db.request(op, {"TableName": "acct", **req})
        assert info.value.message == "Transaction is ongoing for the item"
    db.request("PutItem", {"TableName": "acct", "Item": K("other")})  # other items are free
    # A read sees the last committed value.
    assert db.request("GetItem", {"TableName": "acct", "Key": K("a")})["Item"]["bal"] == {"N": "10"}
    tx.commit()
    assert db.request("GetItem", {"TableName": "acct", "Key": K("a")})["Item"]["bal"] == {"N": "0"}
    db.request("PutItem", {"TableName": "acct", "Item": K("a")})  # released


def test_transactions_on_a_locked_item_are_cancelled_with_transaction_conflict(db):
    tx = _prepared(db, "b")
    with pytest.raises(TransactionCanceledException) as info:
        db.request("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "acct", "Item": K("a")}},
            {"ConditionCheck": {"TableName": "acct", "Key": K("b"), "ConditionExpression": "attribute_exists(id)"}}]})
    assert info.value.message == _CANCELLED + "[None, TransactionConflict]"
    assert info.value.extra["CancellationReasons"] == [
        {"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
    assert db.request("GetItem", {"TableName": "acct", "Key": K("a")})["Item"]["bal"] == {"N": "10"}
    with pytest.raises(TransactionCanceledException) as info:
        db.request("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "acct", "Key": K("b")}}]})
    assert info.value.message == _CANCELLED + "[TransactionConflict]"
    # A batch hands the locked item back unprocessed.
    out = db.request("BatchWriteItem", {"RequestItems": {"acct": [{"PutRequest": {"Item": K("b")}},
                                                                  {"PutRequest": {"Item": K("c")}}]}})
    assert out["UnprocessedItems"] == {"acct": [{"PutRequest": {"Item": K("b")}}]}
    tx.abort()
    assert len(db.locks) == 0
    assert db.request("GetItem", {"TableName": "acct", "Key": K("b")})["Item"]["bal"] == {"N": "10"}
    db.request("PutItem", {"TableName": "acct", "Item": K("b")})


def test_a_cancelled_prepare_releases_its_locks(db):
    tx = begin_write(db, {"TransactItems": [
        {"Put": {"TableName": "acct", "Item": K("a")}},
        {"ConditionCheck": {"TableName": "acct", "Key": K("b"), "ConditionExpression": "attribute_not_exists(id)"}}]})
    with pytest.raises(TransactionCanceledException):
        tx.prepare()
    assert len(db.locks) == 0
    db.request("PutItem", {"TableName": "acct", "Item": K("a")})
