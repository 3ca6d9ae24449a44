"""BatchWriteItem, embedded and over HTTP (see conftest)."""


import pytest

from kvstore.errors import DynamoDBError

from api_helpers import raises, own_tables


table_name, _drop_tables = own_tables("bw")


def get(ddb, name, key):
    return ddb.call("GetItem", TableName=name, Key=key, ConsistentRead=True).get("Item")


_KEYS = ("Map keys must satisfy constraint: [Member must have length less than or equal to 255, "
         "Member must have length greater than or equal to 3, "
         "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+]")
_VALUES = ("Map value must satisfy constraint: [Member must have length less than or equal to 25, "
           "Member must have length greater than or equal to 1]")


def test_batch_write_item_puts_and_deletes_over_tables(ddb, make_table, table_name):
    # Every request is applied; UnprocessedItems is empty when all were.
    one = make_table()
    two = make_table(name=table_name + "b", range_key=("r", "N"))
    ddb.call("PutItem", TableName=one, Item={"id": {"S": "gone"}})
    out = ddb.call("BatchWriteItem", RequestItems={
        one: [{"PutRequest": {"Item": {"id": {"S": "a"}, "v": {"N": "1"}}}},
              {"DeleteRequest": {"Key": {"id": {"S": "gone"}}}}],
        two: [{"PutRequest": {"Item": {"id": {"S": "a"}, "r": {"N": "2"}}}}],
    })
    assert out == {"UnprocessedItems": {}}
    assert get(ddb, one, {"id": {"S": "a"}}) == {"id": {"S": "a"}, "v": {"N": "1"}}
    assert get(ddb, one, {"id": {"S": "gone"}}) is None
    assert get(ddb, two, {"id": {"S": "a"}, "r": {"N": "2"}}) == {"id": {"S": "a"}, "r": {"N": "2"}}


def test_batch_write_item_constraint_messages(ddb):
    # Table names and list lengths are checked as map constraints, listed with the enum errors.
    if ddb.mode == "embedded":  # botocore itself needs RequestItems to route the call
        raises(ddb, "ValidationException",
               "1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: "
               "Member must not be null", "BatchWriteItem")
    raises(ddb, "ValidationException",
           "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: "
           "Member must have length greater than or equal to 1", "BatchWriteItem", RequestItems={})
    raises(ddb, "ValidationException",
           "3 validation errors detected: Value 'hi' at 'returnConsumedCapacity' failed to satisfy constraint: "
           "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; "
           f"Value '{{a: []}}' at 'requestItems' failed to satisfy constraint: {_KEYS}; "
           f"Value '{{a: []}}' at 'requestItems' failed to satisfy constraint: {_VALUES}",
           "BatchWriteItem", RequestItems={"a": []}, ReturnConsumedCapacity="hi")


def test_batch_write_item_more_than_25_requests(ddb, make_table):
    # 26 requests for one table break the per-table list limit.
    name = make_table()
    requests = [{"PutRequest": {"Item": {"id": {"S": str(i)}}}} for i in range(26)]
    with pytest.raises(DynamoDBError) as info:
        ddb.call("BatchWriteItem", RequestItems={name: requests})
    assert info.value.code == "ValidationException"
    assert info.value.message.startswith("1 validation error detected: Value '{")
    assert info.value.message.endswith(f"at 'requestItems' failed to satisfy constraint: {_VALUES}")


def test_batch_write_item_missing_members(ddb):
    # An empty PutRequest / DeleteRequest lacks its Item / Key.
    raises(ddb, "ValidationException",
           "2 validation errors detected: Value null at 'requestItems.abc.member.1.member.deleteRequest.key' "
           "failed to satisfy constraint: Member must not be null; Value null at "
           "'requestItems.abc.member.1.member.putRequest.item' failed to satisfy constraint: Member must not be null",
           "BatchWriteItem", RequestItems={"abc": [{"PutRequest": {}, "DeleteRequest": {}}]})


def test_batch_write_item_values_checked_before_table(ddb, table_name):
    # Item values and sizes are checked before the table is looked up.
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: An number set  may not be empty",
           "BatchWriteItem", RequestItems={table_name: [{"PutRequest": {"Item": {"a": {"NS": []}}}}]})
    raises(ddb, "ValidationException", "Item size has exceeded the maximum allowed size",
           "BatchWriteItem", RequestItems={table_name: [
               {"PutRequest": {"Item": {"id": {"S": "a"}, "b": {"S": "x" * 400 * 1024}}}}]})
    raises(ddb, "ResourceNotFoundException", "Requested resource not found",
           "BatchWriteItem", RequestItems={table_name: [{"PutRequest": {"Item": {"id": {"S": "a"}}}}]})


def test_batch_write_item_duplicates_and_schema(ddb, make_table):
    # The same item twice (put and delete) is refused; so is a key not matching the schema.
    name = make_table()
    raises(ddb, "ValidationException", "Provided list of item keys contains duplicates", "BatchWriteItem",
           RequestItems={name: [{"PutRequest": {"Item": {"id": {"S": "a"}}}},
                                {"DeleteRequest": {"Key": {"id": {"S": "a"}}}}]})
    raises(ddb, "ValidationException", "The provided key element does not match the schema", "BatchWriteItem",
           RequestItems={name: [{"DeleteRequest": {"Key": {"id": {"N": "1"}}}}]})
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Missing the key id in the item", "BatchWriteItem",
           RequestItems={name: [{"PutRequest": {"Item": {"x": {"S": "a"}}}}]})
    assert get(ddb, name, {"id": {"S": "a"}}) is None  # a refused batch writes nothing


def test_batch_write_item_consumed_capacity(ddb, make_table, table_name):
    # One entry per table; each write costs its 1 KB units (a delete of nothing costs 1).
    one = make_table()
    two = make_table(name=table_name + "n", hash_key=("id", "N"))
    big = {"id": {"S": "a"}, "b": {"S": "x" * 1500}}
    out = ddb.call("BatchWriteItem", ReturnConsumedCapacity="TOTAL", RequestItems={
        one: [{"PutRequest": {"Item": big}}, {"PutRequest": {"Item": {"id": {"S": "b"}}}}],
        two: [{"DeleteRequest": {"Key": {"id": {"N": "1"}}}}],
    })
    assert sorted(out["ConsumedCapacity"], key=lambda c: c["TableName"]) == [
        {"TableName": one, "CapacityUnits": 3.0}, {"TableName": two, "CapacityUnits": 1.0}]
    out = ddb.call("BatchWriteItem", ReturnConsumedCapacity="INDEXES", RequestItems={
        one: [{"DeleteRequest": {"Key": {"id": {"S": "a"}}}}]})
    assert out["ConsumedCapacity"] == [{"TableName": one, "CapacityUnits": 2.0, "Table": {"CapacityUnits": 2.0}}]
