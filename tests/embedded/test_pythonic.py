"""The Pythonic API (``db.table(name)``): plain values in and out, wire errors.

The oracle for every error is the wire API itself: the same request sent
through ``db.request`` in wire form must fail with the same code and
message, whichever path (fast or generic) the Pythonic call took.  Value
conversion is checked against boto3's own TypeSerializer/TypeDeserializer.
"""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

import kvstore
from kvstore import errors
from kvstore.embedded import from_av, request_to_wire, response_from_wire, to_av, to_wire

VALUES = [
    "text",
    "",
    7,
    -12345678901234567890,
    Decimal("1.5"),
    Decimal("-0.001"),
    True,
    False,
    None,
    b"\x00\xffbytes",
    [1, "a", None, [True]],
    {"nested": {"deeper": [Decimal("2.25"), b"x"]}},
    {"a", "b"},
    {1, Decimal("2.5")},
    {b"x", b"y"},
    (1, 2),
]


def wire_error(db, operation, request):
    with pytest.raises(errors.DynamoDBError) as info:
        db.request(operation, request)
    return info.value


def same_error(call, db, operation, wire_request):
    """Assert ``call()`` raises what the wire request raises; return it."""
    expected = wire_error(db, operation, wire_request)
    with pytest.raises(errors.DynamoDBError) as info:
        call()
    assert (info.value.code, info.value.message) == (expected.code, expected.message)
    return info.value


# -- conversion ----------------------------------------------------------------


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_to_av_matches_boto3_serializer(value):
    """Plain values become the AttributeValues boto3's TypeSerializer makes."""
    expected = TypeSerializer().serialize(value)
    got = to_av(value)
    if "BS" in expected:
        expected = {"BS": sorted(bytes(b) for b in expected["BS"])}
        got = {"BS": sorted(got["BS"])}
    elif len(expected) == 1 and next(iter(expected)) in ("SS", "NS"):
        tag = next(iter(expected))
        expected, got = {tag: sorted(expected[tag])}, {tag: sorted(got[tag])}
    assert _plain_binary(got) == _plain_binary(expected)


def _plain_binary(av):
    if isinstance(av, dict):
        return {k: _plain_binary(v) for k, v in av.items()}
    if isinstance(av, list):
        return [_plain_binary(v) for v in av]
    if isinstance(av, Binary):
        return bytes(av)
    return av


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_from_av_matches_boto3_deserializer(value):
    """AttributeValues come back as boto3's TypeDeserializer reads them (B as bytes)."""
    av = TypeSerializer().serialize(value)
    expected = TypeDeserializer().deserialize(av)
    assert from_av(to_av(value)) == expected


def test_to_av_float_refused_like_boto3():
    """boto3 refuses floats (Decimal only) with a TypeError, and so do we."""
    with pytest.raises(TypeError) as ours:
        to_av(1.5)
    with pytest.raises(TypeError) as boto:
        TypeSerializer().serialize(1.5)
    assert str(ours.value) == str(boto.value)


def test_from_av_binary_stored_as_base64_text():
    """A B value that came over the wire is stored as base64 text; it reads back as bytes."""
    assert from_av({"B": "AAH/"}) == b"\x00\x01\xff"
    assert from_av({"BS": ["AA==", "AQ=="]}) == {b"\x00", b"\x01"}


def test_request_to_wire_converts_attribute_value_members_only():
    """Item/Key/:values/Expected values are converted; Tags and names are not."""
    request = {
        "TableName": "t",
        "Item": {"id": "a"},
        "ExpressionAttributeValues": {":v": 1},
        "Expected": {"x": {"Value": "y", "ComparisonOperator": "EQ"}},
        "Tags": [{"Key": "k", "Value": "v"}],
        "TransactItems": [{"Put": {"TableName": "t", "Item": {"n": 2}}}],
    }
    wire = request_to_wire(request)
    assert wire["Item"] == {"id": {"S": "a"}}
    assert wire["ExpressionAttributeValues"] == {":v": {"N": "1"}}
    assert wire["Expected"]["x"]["Value"] == {"S": "y"}
    assert wire["Tags"] == request["Tags"]
    assert wire["TransactItems"][0]["Put"]["Item"] == {"n": {"N": "2"}}


def test_response_from_wire_converts_batch_responses():
    """BatchGetItem's Responses is a map of table -> items; each item is converted."""
    out = response_from_wire({"Responses": {"t": [{"id": {"S": "a"}}]}, "UnprocessedKeys": {}})
    assert out == {"Responses": {"t": [{"id": "a"}]}, "UnprocessedKeys": {}}


# -- tables -------------------------------------------------------------------------


def test_create_table_key_types(kvstore_db):
    """create_table takes key names (type S) or (name, type) pairs and makes the table."""
    kvstore_db.create_table("music", ("artist", "S"), ("year", int))
    described = kvstore_db.table("music").describe()
    assert described["KeySchema"] == [
        {"AttributeName": "artist", "KeyType": "HASH"},
        {"AttributeName": "year", "KeyType": "RANGE"},
    ]
    assert {d["AttributeName"]: d["AttributeType"] for d in described["AttributeDefinitions"]} == {
        "artist": "S",
        "year": "N",
    }
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_create_table_existing_refused(kvstore_db, users):
    """CreateTable of an existing name is ResourceInUseException, as on the wire."""
    with pytest.raises(errors.ResourceInUseException):
        kvstore_db.create_table("users", "id")


def test_table_names_and_delete(kvstore_db, users, events):
    """table_names lists every table (ListTables, all pages); delete_table drops one."""
    assert sorted(kvstore_db.table_names()) == ["events", "users"]
    users.delete_table()
    assert kvstore_db.table_names() == ["events"]
    assert not users.exists()


def test_table_handle_needs_no_table(kvstore_db):
    """db.table(name) does no I/O; using a missing table is ResourceNotFoundException."""
    ghost = kvstore_db.table("ghost")
    for call in (lambda: ghost.get({"id": "a"}), lambda: ghost.put({"id": "a"}),
                 lambda: ghost.delete({"id": "a"})):
        with pytest.raises(errors.ResourceNotFoundException):
            call()


def test_table_recreated_is_picked_up(kvstore_db):
    """A table dropped and created again (even with another key) is the new one."""
    t = kvstore_db.create_table("things", "id")
    t.put({"id": "a"})
    assert t.get({"id": "a"}) == {"id": "a"}
    t.delete_table()
    kvstore_db.create_table("things", ("id", "N"))
    assert t.get({"id": 1}) is None
    t.put({"id": 1, "v": "new"})
    assert t.get({"id": 1}) == {"id": Decimal(1), "v": "new"}


# -- items --------------------------------------------------------------------------


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_put_get_round_trip(users, value):
    """An item of plain values reads back as boto3 would read it."""
    users.put({"id": "k", "v": value})
    expected = TypeDeserializer().deserialize(TypeSerializer().serialize(value))
    assert users.get({"id": "k"}) == {"id": "k", "v": expected}


def test_get_missing_item_is_none(users):
    """GetItem of an absent key answers without Item; get returns None."""
    assert users.get({"id": "nobody"}) is None


def test_get_composite_key(events):
    """An item is found by its full (hash, range) key, numbers compared as numbers."""
    events.put({"device": "d1", "at": 10, "temp": Decimal("21.5")})
    events.put({"device": "d1", "at": 11, "temp": Decimal("22")})
    assert events.get({"device": "d1", "at": Decimal("10.0")})["temp"] == Decimal("21.5")
    assert events.get({"device": "d1", "at": 11})["temp"] == Decimal("22")
    assert events.get({"device": "d2", "at": 10}) is None


def test_put_normalises_numbers(users):
    """Numbers are stored canonically, whatever their notation."""
    users.put({"id": "n", "a": Decimal("01.50"), "b": Decimal("1E+2")})
    got = users.get({"id": "n"})
    assert (str(got["a"]), str(got["b"])) == ("1.5", "100")


def test_get_returns_independent_copies(users):
    """Mutating what get returned does not change the stored item."""
    users.put({"id": "a", "tags": ["x"], "m": {"k": "v"}})
    first = users.get({"id": "a"})
    first["tags"].append("y")
    first["m"]["k"] = "changed"
    assert users.get({"id": "a"}) == {"id": "a", "tags": ["x"], "m": {"k": "v"}}


def test_put_does_not_alias_caller_values(users):
    """Mutating the dict given to put afterwards does not change the stored item."""
    item = {"id": "a", "tags": ["x"], "blob": bytearray(b"ab")}
    users.put(item)
    item["tags"].append("y")
    item["blob"][0] = 0
    assert users.get({"id": "a"}) == {"id": "a", "tags": ["x"], "blob": b"ab"}


def test_put_replaces_and_returns_old(users):
    """PutItem replaces the whole item; ReturnValues=ALL_OLD gives the old one."""
    users.put({"id": "a", "v": 1, "w": 2})
    old = users.put({"id": "a", "v": 3}, return_values="ALL_OLD")
    assert old == {"id": "a", "v": 1, "w": 2}
    assert users.get({"id": "a"}) == {"id": "a", "v": 3}


def test_delete_returns_old(users):
    """DeleteItem with ALL_OLD returns what it deleted; deleting nothing returns None."""
    users.put({"id": "a", "v": 1})
    assert users.delete({"id": "a"}, return_values="ALL_OLD") == {"id": "a", "v": 1}
    assert users.get({"id": "a"}) is None
    assert users.delete({"id": "a"}, return_values="ALL_OLD") is None
    assert users.delete({"id": "a"}) is None


def test_get_attributes_to_get(users):
    """AttributesToGet returns only the attributes named (the generic path)."""
    users.put({"id": "a", "x": 1, "y": 2})
    assert users.get({"id": "a"}, attributes=["x"]) == {"x": 1}


def test_put_condition_same_outcome_as_wire(kvstore_db, users):
    """A ConditionExpression on put has the outcome the same PutItem has on the wire."""
    users.put({"id": "a", "v": 1})
    users.put({"id": "b", "v": 1})
    try:
        kvstore_db.request("PutItem", {"TableName": "users", "Item": {"id": {"S": "b"}, "v": {"N": "2"}},
                                       "ConditionExpression": "attribute_not_exists(id)"})
        expected = None
    except errors.DynamoDBError as e:
        expected = (e.code, e.message)
    try:
        users.put({"id": "a", "v": 2}, condition="attribute_not_exists(id)")
        got = None
    except errors.DynamoDBError as e:
        got = (e.code, e.message)
    assert got == expected
    assert users.get({"id": "a"}) == users.get({"id": "b"}) | {"id": "a"}


# -- the same errors as the wire API ------------------------------------------------

BAD_KEYS = [
    pytest.param({"id": ""}, id="empty-string"),
    pytest.param({"id": "x" * 2049}, id="hash-too-long"),
    pytest.param({"id": "é" * 1025}, id="hash-too-long-utf8"),
    pytest.param({"id": 1}, id="wrong-type"),
    pytest.param({}, id="no-key"),
    pytest.param({"other": "a"}, id="wrong-name"),
    pytest.param({"id": "a", "extra": "b"}, id="extra-attribute"),
    pytest.param({"id": {"S": "a"}}, id="map-value"),
    pytest.param({"id": None}, id="null"),
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_get_bad_key_same_error_as_wire(kvstore_db, users, key):
    """A key that does not fit the schema fails as GetItem on the wire fails."""
    same_error(lambda: users.get(key), kvstore_db, "GetItem", {"TableName": "users", "Key": to_wire(key)})


@pytest.mark.parametrize("key", BAD_KEYS)
def test_delete_bad_key_same_error_as_wire(kvstore_db, users, key):
    """DeleteItem's key checks are GetItem's."""
    same_error(lambda: users.delete(key), kvstore_db, "DeleteItem",
               {"TableName": "users", "Key": to_wire(key)})


BAD_RANGE_KEYS = [
    pytest.param({"device": "d", "at": Decimal("1E+126")}, id="overflow"),
    pytest.param({"device": "d", "at": Decimal("1E-131")}, id="underflow"),
    pytest.param({"device": "d", "at": 10 ** 38 + 1}, id="39-digits"),
    pytest.param({"device": "d", "at": Decimal("NaN")}, id="nan"),
    pytest.param({"device": "d", "at": "10"}, id="string-for-number"),
    pytest.param({"device": "d"}, id="range-missing"),
    pytest.param({"device": "d" * 2049, "at": 1}, id="hash-too-long"),
]


@pytest.mark.parametrize("key", BAD_RANGE_KEYS)
def test_get_bad_composite_key_same_error_as_wire(kvstore_db, events, key):
    """Numbers out of DynamoDB's range and partial keys fail as on the wire."""
    same_error(lambda: events.get(key), kvstore_db, "GetItem", {"TableName": "events", "Key": to_wire(key)})


def test_get_long_range_key_same_error_as_wire(kvstore_db):
    """A sort key past 1024 bytes fails as on the wire."""
    t = kvstore_db.create_table("ranged", "h", "r")
    key = {"h": "a", "r": "x" * 1025}
    same_error(lambda: t.get(key), kvstore_db, "GetItem", {"TableName": "ranged", "Key": to_wire(key)})


def test_get_longest_valid_keys_found(kvstore_db):
    """Keys of exactly 2048 / 1024 bytes are valid (the fast path's bounds are not limits)."""
    t = kvstore_db.create_table("ranged", "h", "r")
    key = {"h": "é" * 1024, "r": "x" * 1024}
    t.put(dict(key, v=1))
    assert t.get(key)["v"] == 1
    b = kvstore_db.create_table("binary", ("h", "B"))
    b.put({"h": b"\x01" * 2048})
    assert b.get({"h": b"\x01" * 2048}) == {"h": b"\x01" * 2048}


BAD_ITEMS = [
    pytest.param({"v": 1}, id="missing-key"),
    pytest.param({"id": 1}, id="key-type-mismatch"),
    pytest.param({"id": ""}, id="empty-key"),
    pytest.param({"id": "a", "s": set()}, id="empty-set"),
    pytest.param({"id": "a", "n": Decimal("1E+126")}, id="number-overflow"),
    pytest.param({"id": "a", "n": Decimal("Infinity")}, id="infinity"),
    pytest.param({"id": "a", "big": "x" * 409600}, id="too-large"),
    pytest.param({"id": "a", "deep": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {
        "a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": {
            "a": {"a": {"a": {"a": {"a": {"a": {"a": {"a": 1}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}}},
        id="nesting"),
]


@pytest.mark.parametrize("item", BAD_ITEMS)
def test_put_bad_item_same_error_as_wire(kvstore_db, users, item):
    """An item DynamoDB refuses is refused with PutItem's own error, nothing stored."""
    same_error(lambda: users.put(item), kvstore_db, "PutItem", {"TableName": "users", "Item": to_wire(item)})
    assert kvstore_db.tables["users"].item_count == 0


def test_put_unsupported_type_is_type_error(users):
    """A value with no DynamoDB type (a float, an object) is a TypeError before any request."""
    with pytest.raises(TypeError):
        users.put({"id": "a", "v": 1.5})
    with pytest.raises(TypeError):
        users.put({"id": "a", "v": object()})


# -- any operation: call, and the ones that land later ---------------------------------


def test_call_any_operation_with_plain_values(kvstore_db, users):
    """db.call runs any operation, converting AttributeValue members both ways."""
    kvstore_db.call("PutItem", TableName="users", Item={"id": "a", "n": 5})
    assert kvstore_db.call("GetItem", TableName="users", Key={"id": "a"}) == {"Item": {"id": "a", "n": 5}}


def test_call_unknown_operation(kvstore_db):
    """An operation DynamoDB does not have is UnknownOperationException."""
    with pytest.raises(errors.UnknownOperationException):
        kvstore_db.call("FlyToTheMoon")


def test_update_returns_new(require, users):
    """UpdateItem SET with ReturnValues=ALL_NEW returns the updated item."""
    require("UpdateItem")
    users.put({"id": "a", "n": 1})
    new = users.update({"id": "a"}, "SET n = n + :one, tag = :t", values={":one": 1, ":t": "x"},
                       return_values="ALL_NEW")
    assert new == {"id": "a", "n": 2, "tag": "x"}
    assert users.get({"id": "a"}) == new


def test_query_pages_in_sort_order(require, events):
    """Query returns a partition's items in sort-key order, across pages."""
    require("Query")
    for at in (3, 1, 2, 10):
        events.put({"device": "d", "at": at})
    events.put({"device": "other", "at": 1})
    got = [i["at"] for i in events.query("device = :d", values={":d": "d"}, page_size=2)]
    assert got == [1, 2, 3, 10]
    back = [i["at"] for i in events.query("device = :d", values={":d": "d"}, reverse=True, limit=2)]
    assert back == [10, 3]


def test_scan_and_count(require, events):
    """Scan visits every item, across pages; count is Select=COUNT."""
    require("Scan")
    for at in range(7):
        events.put({"device": f"d{at % 3}", "at": at})
    assert sorted(i["at"] for i in events.scan(page_size=3)) == list(range(7))
    assert events.count() == 7


def test_batch_get_and_write(require, users):
    """batch_write puts/deletes in chunks of 25; batch_get reads in chunks of 100."""
    require("BatchWriteItem", "BatchGetItem")
    users.batch_write(put=[{"id": str(i), "v": i} for i in range(60)])
    users.batch_write(delete=[{"id": str(i)} for i in range(10)])
    got = users.batch_get([{"id": str(i)} for i in range(150)])
    assert sorted(int(i["id"]) for i in got) == list(range(10, 60))


def test_transactions(require, kvstore_db, users):
    """transact_write applies all actions; transact_get reads in order, None if absent."""
    require("TransactWriteItems", "TransactGetItems")
    kvstore_db.transact_write([
        {"Put": {"TableName": "users", "Item": {"id": "a", "v": 1}}},
        {"Put": {"TableName": "users", "Item": {"id": "b", "v": 2}}},
    ])
    assert kvstore_db.transact_get([("users", {"id": "b"}), ("users", {"id": "zz"}),
                                    ("users", {"id": "a"})]) == [
        {"id": "b", "v": 2}, None, {"id": "a", "v": 1}]


def test_kvstore_exports_lazily():
    """kvstore.Table and kvstore.mock resolve on first use."""
    assert kvstore.Table is kvstore.embedded.Table
    assert callable(kvstore.mock)
