"""PutItem, GetItem and DeleteItem, embedded and over HTTP (see conftest)."""

import pytest

from kvstore.errors import DynamoDBError

from api_helpers import raises


def test_put_item_then_get_item_round_trips_every_type(ddb, make_table):
    # DynamoDB stores all ten types and answers GetItem with the item as written.
    name = make_table()
    item = {
        "id": {"S": "k1"},
        "s": {"S": "héllo"},
        "n": {"N": "42"},
        "b": {"B": b"\x00\x01binary"},
        "ss": {"SS": ["a", "b"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": [b"x", b"y"]},
        "m": {"M": {"inner": {"L": [{"S": "x"}, {"N": "1"}, {"NULL": True}]}}},
        "l": {"L": []},
        "t": {"BOOL": True},
        "z": {"NULL": True},
        "empty": {"S": ""},
    }
    assert ddb.call("PutItem", TableName=name, Item=item) == {}
    got = ddb.call("GetItem", TableName=name, Key={"id": {"S": "k1"}})["Item"]
    assert got["ss"]["SS"] == ["a", "b"] or sorted(got["ss"]["SS"]) == ["a", "b"]
    got["ss"]["SS"] = sorted(got["ss"]["SS"])
    assert got == item


def test_put_item_normalises_numbers(ddb, make_table):
    # DynamoDB stores numbers canonically: "01.50" reads back as "1.5".
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "n"}, "v": {"N": "01.50"}, "w": {"N": "-0"}})
    got = ddb.call("GetItem", TableName=name, Key={"id": {"S": "n"}})["Item"]
    assert got["v"] == {"N": "1.5"}
    assert got["w"] == {"N": "0"}


def test_get_item_number_key_matches_numerically(ddb, make_table):
    # A number key is the number, not its text: "1.0" finds the item put as "1".
    name = make_table(hash_key=("k", "N"))
    ddb.call("PutItem", TableName=name, Item={"k": {"N": "1"}, "a": {"S": "x"}})
    got = ddb.call("GetItem", TableName=name, Key={"k": {"N": "1.00"}})
    assert got["Item"] == {"k": {"N": "1"}, "a": {"S": "x"}}


def test_get_item_missing_item_answers_empty(ddb, make_table):
    # GetItem of an absent key answers with no Item member at all.
    name = make_table()
    assert ddb.call("GetItem", TableName=name, Key={"id": {"S": "absent"}}) == {}


def test_put_item_overwrites_and_returns_all_old(ddb, make_table):
    # PutItem replaces the whole item; ReturnValues=ALL_OLD gives the replaced one.
    name = make_table()
    first = {"id": {"S": "a"}, "v": {"N": "1"}, "gone": {"S": "x"}}
    second = {"id": {"S": "a"}, "v": {"N": "2"}}
    assert ddb.call("PutItem", TableName=name, Item=first, ReturnValues="ALL_OLD") == {}
    out = ddb.call("PutItem", TableName=name, Item=second, ReturnValues="ALL_OLD")
    assert out == {"Attributes": first}
    assert ddb.call("GetItem", TableName=name, Key={"id": {"S": "a"}})["Item"] == second


def test_delete_item_removes_and_returns_all_old(ddb, make_table):
    # DeleteItem removes the item; ALL_OLD returns it; deleting again is not an error.
    name = make_table(range_key=("r", "N"))
    item = {"id": {"S": "a"}, "r": {"N": "5"}, "v": {"S": "x"}}
    ddb.call("PutItem", TableName=name, Item=item)
    key = {"id": {"S": "a"}, "r": {"N": "5"}}
    assert ddb.call("DeleteItem", TableName=name, Key=key, ReturnValues="ALL_OLD") == {"Attributes": item}
    assert ddb.call("GetItem", TableName=name, Key=key) == {}
    assert ddb.call("DeleteItem", TableName=name, Key=key, ReturnValues="ALL_OLD") == {}


def test_composite_keys_are_distinct_items(ddb, make_table):
    # Items with the same partition key and different sort keys are different items.
    name = make_table(range_key=("r", "S"))
    for r in ("a", "b", "c"):
        ddb.call("PutItem", TableName=name, Item={"id": {"S": "p"}, "r": {"S": r}, "v": {"S": r * 2}})
    for r in ("a", "b", "c"):
        got = ddb.call("GetItem", TableName=name, Key={"id": {"S": "p"}, "r": {"S": r}})
        assert got["Item"]["v"] == {"S": r * 2}


def test_binary_keys(ddb, make_table):
    # B keys compare by bytes; the item comes back with the same bytes.
    name = make_table(hash_key=("k", "B"))
    ddb.call("PutItem", TableName=name, Item={"k": {"B": b"\xff\x00"}})
    assert ddb.call("GetItem", TableName=name, Key={"k": {"B": b"\xff\x00"}})["Item"] == {"k": {"B": b"\xff\x00"}}
    assert ddb.call("GetItem", TableName=name, Key={"k": {"B": b"\xff"}}) == {}


def test_describe_table_counts_items(ddb, make_table):
    # DescribeTable reports ItemCount and TableSizeBytes of what was written.
    name = make_table()
    for i in range(3):
        ddb.call("PutItem", TableName=name, Item={"id": {"S": f"k{i}"}, "a": {"S": "xyz"}})
    ddb.call("DeleteItem", TableName=name, Key={"id": {"S": "k0"}})
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    assert table["ItemCount"] == 2
    # each item: "id"(2) + "k1"(2) + "a"(1) + "xyz"(3) = 8 bytes
    assert table["TableSizeBytes"] == 16


# -- bad input ----------------------------------------------------------------

def test_item_operations_on_missing_table(ddb):
    # Item operations on a table that does not exist: ResourceNotFoundException.
    for op, extra in (
        ("PutItem", {"Item": {"id": {"S": "a"}}}),
        ("GetItem", {"Key": {"id": {"S": "a"}}}),
        ("DeleteItem", {"Key": {"id": {"S": "a"}}}),
    ):
        raises(ddb, "ResourceNotFoundException", "Requested resource not found", op,
               TableName="no_such_table", **extra)


def test_get_item_key_not_matching_schema(ddb, make_table):
    # A Key with a missing, extra, or wrong-typed attribute does not match the schema.
    name = make_table(range_key=("r", "N"))
    msg = "The provided key element does not match the schema"
    for key in (
        {"id": {"S": "a"}},
        {"id": {"S": "a"}, "r": {"S": "1"}},
        {"id": {"N": "1"}, "r": {"N": "1"}},
        {"id": {"S": "a"}, "r": {"N": "1"}, "x": {"S": "y"}},
        {"r": {"N": "1"}, "x": {"S": "y"}},
    ):
        raises(ddb, "ValidationException", msg, "GetItem", TableName=name, Key=key)
        raises(ddb, "ValidationException", msg, "DeleteItem", TableName=name, Key=key)


def test_put_item_missing_key(ddb, make_table):
    # PutItem without a key attribute names the missing key.
    name = make_table(range_key=("r", "N"))
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Missing the key r in the item",
           "PutItem", TableName=name, Item={"id": {"S": "a"}})
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Missing the key id in the item",
           "PutItem", TableName=name, Item={"r": {"N": "1"}})


def test_put_item_key_type_mismatch(ddb, make_table):
    # PutItem with a wrong-typed key attribute names the expected and actual types.
    name = make_table()
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Type mismatch for key id expected: S actual: N",
           "PutItem", TableName=name, Item={"id": {"N": "1"}})


def test_empty_string_key_refused(ddb, make_table):
    # Key attributes may not be empty strings (non-key attributes may).
    name = make_table()
    msg = ("One or more parameter values are not valid. The AttributeValue for a key attribute "
           "cannot contain an empty string value. Key: id")
    raises(ddb, "ValidationException", msg, "PutItem", TableName=name, Item={"id": {"S": ""}})
    raises(ddb, "ValidationException", msg, "GetItem", TableName=name, Key={"id": {"S": ""}})


def test_empty_binary_key_refused(ddb, make_table):
    # Key attributes may not be empty binary values.
    name = make_table(hash_key=("k", "B"))
    msg = ("One or more parameter values are not valid. The AttributeValue for a key attribute "
           "cannot contain an empty binary value. Key: k")
    raises(ddb, "ValidationException", msg, "PutItem", TableName=name, Item={"k": {"B": b""}})


def test_key_size_limits(ddb, make_table):
    # Partition keys are limited to 2048 bytes, sort keys to 1024 bytes.
    name = make_table(range_key=("r", "S"))
    ok = {"id": {"S": "h" * 2048}, "r": {"S": "r" * 1024}}
    ddb.call("PutItem", TableName=name, Item=ok)
    assert ddb.call("GetItem", TableName=name, Key=ok)["Item"] == ok
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes",
           "PutItem", TableName=name, Item={"id": {"S": "h" * 2049}, "r": {"S": "r"}})
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
           "PutItem", TableName=name, Item={"id": {"S": "h"}, "r": {"S": "r" * 1025}})


def test_item_size_limit(ddb, make_table):
    # Items are limited to 400 KB, names and values counted in UTF-8 bytes.
    name = make_table()
    # "id"(2) + "a"(1) + "data"(4) = 7 bytes besides the payload
    at_limit = {"id": {"S": "a"}, "data": {"S": "x" * (409600 - 7)}}
    ddb.call("PutItem", TableName=name, Item=at_limit)
    over = {"id": {"S": "a"}, "data": {"S": "x" * (409600 - 6)}}
    raises(ddb, "ValidationException", "Item size has exceeded the maximum allowed size",
           "PutItem", TableName=name, Item=over)
    assert ddb.call("GetItem", TableName=name, Key={"id": {"S": "a"}})["Item"] == at_limit


def test_put_item_return_values_only_all_old_or_none(ddb, make_table):
    # PutItem and DeleteItem accept only ReturnValues NONE and ALL_OLD.
    name = make_table()
    for rv in ("ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"):
        raises(ddb, "ValidationException", "ReturnValues can only be ALL_OLD or NONE",
               "PutItem", TableName=name, Item={"id": {"S": "a"}}, ReturnValues=rv)
        raises(ddb, "ValidationException", "ReturnValues can only be ALL_OLD or NONE",
               "DeleteItem", TableName=name, Key={"id": {"S": "a"}}, ReturnValues=rv)


def test_failed_put_changes_nothing(ddb, make_table):
    # A refused write leaves the stored item as it was.
    name = make_table()
    item = {"id": {"S": "a"}, "v": {"N": "1"}}
    ddb.call("PutItem", TableName=name, Item=item)
    with pytest.raises(DynamoDBError):
        ddb.call("PutItem", TableName=name, Item={"id": {"S": "a"}, "bad": {"SS": []}})
    with pytest.raises(DynamoDBError):
        ddb.call("PutItem", TableName=name, Item={"id": {"S": "a"}, "v": {"N": "1e999"}})
    assert ddb.call("GetItem", TableName=name, Key={"id": {"S": "a"}})["Item"] == item


def test_get_item_attributes_to_get(ddb, make_table):
    # AttributesToGet returns only the named attributes that exist.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "a"}, "x": {"S": "1"}, "y": {"S": "2"}})
    got = ddb.call("GetItem", TableName=name, Key={"id": {"S": "a"}}, AttributesToGet=["y", "nope"])
    assert got == {"Item": {"y": {"S": "2"}}}


def test_return_consumed_capacity_total(ddb, make_table):
    # ReturnConsumedCapacity=TOTAL reports the units the request used.
    name = make_table()
    out = ddb.call("PutItem", TableName=name, Item={"id": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 1.0}
    out = ddb.call("GetItem", TableName=name, Key={"id": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 0.5}
    out = ddb.call("GetItem", TableName=name, Key={"id": {"S": "a"}}, ConsistentRead=True,
                   ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 1.0}
