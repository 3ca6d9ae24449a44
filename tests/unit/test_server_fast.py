"""The dispatch fast paths (``kvstore.api.FAST_PATHS``) against the general path.

``items.get_fast``, ``items.put_fast``, ``items.update_fast`` and
``read.query_fast`` answer the server's common requests without
``validate_request`` and the handlers' general checks, and must answer
exactly as those would, or return None and let them run.  Each scenario
here runs twice on fresh databases, once with the fast paths and once with
``FAST_PATHS`` emptied: the answers, the errors (type and message) and the
state after (items, the sizes stored beside them, index entries, stream
records) must be the same.  Requests mix the plain shapes the fast paths
take with everything near them that they must leave alone (bad keys,
non-canonical numbers, placeholders missing or unused, key attributes
targeted, conditions, other members).  A second group checks that the
plain shapes do take the fast path (otherwise its speed is lost silently),
and the batch operations' shortcuts (``_plain_fingerprint``, stored sizes,
tuple writes) are held to the general answers the same way.
"""

import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvstore
from kvstore import _core, api
from kvstore.api import batch, items, read
from kvstore.errors import DynamoDBError
from kvstore.values import item_size
from server.app import make_handler

# monkeypatch is only used through monkeypatch.context(), undone per example.
many = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _create(db):
    def table(name, keys, types, **extra):
        db.request("CreateTable", {
            "TableName": name,
            "KeySchema": [{"AttributeName": k, "KeyType": kt} for k, kt in keys],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, t in types],
            "BillingMode": "PAY_PER_REQUEST", **extra,
        })

    table("t_hs", [("id", "HASH")], [("id", "S")])
    table("t_hn", [("id", "HASH")], [("id", "N")])
    table("t_rs", [("pk", "HASH"), ("sk", "RANGE")], [("pk", "S"), ("sk", "S")])
    table("t_rn", [("pk", "HASH"), ("sk", "RANGE")], [("pk", "S"), ("sk", "N"), ("a", "S")],
          GlobalSecondaryIndexes=[{"IndexName": "by_a", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
                                   "Projection": {"ProjectionType": "ALL"}}],
          StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    # A few items to read, update and query.
    for i in range(3):
        db.request("PutItem", {"TableName": "t_hs", "Item": {"id": {"S": f"k{i}"}, "n": {"N": str(i)},
                                                            "s": {"SS": ["x", "y"]}}})
        db.request("PutItem", {"TableName": "t_hn", "Item": {"id": {"N": str(i)}, "a": {"S": "é" * i}}})
        for j in range(4):
            db.request("PutItem", {"TableName": "t_rs", "Item": {"pk": {"S": f"p{i}"}, "sk": {"S": f"s{j}"},
                                                                "v": {"N": str(j)}}})
            db.request("PutItem", {"TableName": "t_rn", "Item": {"pk": {"S": f"p{i}"}, "sk": {"N": str(j - 1)},
                                                                "a": {"S": "A"}, "m": {"M": {"x": {"L": []}}}}})


def _outcome(db, operation, req):
    try:
        return ("ok", db.request(operation, req))
    except DynamoDBError as e:
        return (type(e).__name__, e.message)
    except Exception as e:  # a 500 on the server: the same one either way
        return (type(e).__name__, str(e))


def _state(db):
    state = {}
    for name, table in sorted(db.tables.items()):
        rows = []
        for partition in table.partitions.values():
            for _token, hk, sk, item in partition.scan():
                stored, size = partition.get_sized(hk, sk)
                assert stored == item  # equal: an item stored as its JSON is decoded anew
                assert size == item_size(item), (name, item, size)
                rows.append(repr(item))
        state[name] = (sorted(rows), table.size_bytes)
        for index in table.indexes:
            state[name + "/" + index.name] = sorted(
                repr(item) for p in index.partitions.values() for *_, item in p.scan())
        if table.stream is not None:
            state[name + "/stream"] = sorted(
                repr((r["eventName"], r["dynamodb"].get("Keys"), r["dynamodb"].get("OldImage"),
                      r["dynamodb"].get("NewImage"), r["dynamodb"]["SizeBytes"]))
                for shard in table.stream.by_id.values() for _, r in shard.records)
    return state


def _both(requests, monkeypatch):
    """(outcomes, state) with the fast paths, then without; asserted equal."""
    results = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(api, "FAST_PATHS", {})
            db = kvstore.Database()
            _create(db)
            outcomes = [_outcome(db, op, req) for op, req in requests]
            results.append((outcomes, _state(db)))
    (fast_out, fast_state), (slow_out, slow_state) = results
    for request, a, b in zip(requests, fast_out, slow_out):
        assert a == b, request
    assert fast_state == slow_state
    return fast_out


# -- strategies --------------------------------------------------------------------

texts = st.one_of(st.text(max_size=8), st.sampled_from(["", "k0", "k1", "p1", "s2", "é", "\ud800", "x" * 600,
                                                        "é" * 1100, "x" * 2049]))
numbers = st.one_of(st.integers(-5, 5).map(str), st.sampled_from([
    "0", "-0", "01", "1.0", "1.50", "1E2", "1e-131", "1e200", "", "x", "9" * 38, "9" * 39, "0.05", "-1",
]))
key_values = st.one_of(
    st.builds(lambda v: {"S": v}, texts),
    st.builds(lambda v: {"N": v}, numbers),
    st.sampled_from([{"B": "YWJj"}, {"B": "!"}, {"S": 5}, {"N": 1}, {}, None, {"S": "a", "N": "1"},
                     {"SS": ["a"]}, {"NULL": True}, "k1", {"S": None}]),
)
plain_values = st.one_of(
    key_values,
    st.sampled_from([{"BOOL": True}, {"NULL": True}, {"NULL": False}, {"SS": ["a", "a"]}, {"NS": ["1", "01"]},
                     {"M": {"a": {"S": "b"}}}, {"L": [{"N": "1"}]}, {"S": "y" * 410_000}, {"X": "1"}]),
)
tables = st.sampled_from(["t_hs", "t_hn", "t_rs", "t_rn", "missing", "ab", 5, None])
key_names = st.sampled_from(["id", "pk", "sk", "a", "n"])
keys = st.one_of(
    st.dictionaries(key_names, key_values, max_size=3),
    st.builds(lambda v: {"id": v}, key_values),
    st.builds(lambda a, b: {"pk": a, "sk": b}, key_values, key_values),
    st.sampled_from([None, [], "k", {"id": {"S": "k1"}, "x": {"S": "y"}}]),
)
extras = st.sampled_from([{}, {}, {}, {"ConsistentRead": True}, {"ReturnConsumedCapacity": "TOTAL"},
                          {"ReturnConsumedCapacity": "NONE"}, {"ProjectionExpression": "n"},
                          {"ConditionExpression": "attribute_exists(id)"}, {"Bogus": 1}, {"TableName": "t_hs"}])


@st.composite
def get_requests(draw):
    req = {"TableName": draw(tables), "Key": draw(keys)}
    req.update(draw(extras))
    return "GetItem", req


@st.composite
def put_requests(draw):
    item = draw(keys)
    if type(item) is dict:
        item = {**item, **draw(st.dictionaries(st.sampled_from(["n", "a", "b", "é"]), plain_values, max_size=3))}
    req = {"TableName": draw(tables), "Item": item}
    if draw(st.integers(0, 4)) == 0:
        req.update(draw(extras))
    return "PutItem", req


UPDATE_EXPRESSIONS = [
    "SET #n = :n", "SET a = :a", "SET a = :a, #n = :n", "SET #n = :n, #n = :a", "SET id = :a", "SET #k = :a",
    "SET a = :a REMOVE b", "SET a.b = :a", "ADD a :a", "SET a = :a, b = :a", "set a=:a", "SET a = :n + :a",
    "SET a = if_not_exists(a, :a)", "SET name = :a", "SET a = :a, b = :n", "SET #n = :n, b = :a", "",
    "SET a[1] = :a", "SET #x = :a", 5,
]


@st.composite
def update_requests(draw):
    req = {"TableName": draw(tables), "Key": draw(keys), "UpdateExpression": draw(st.sampled_from(UPDATE_EXPRESSIONS))}
    names = draw(st.sampled_from([None, None, {"#n": "n"}, {"#n": "id"}, {"#n": "a"}, {"#n": "n", "#x": "y"}, {},
                                  {"#n": 5}, {"#k": "pk"}, {"#n": "b"}, {"#n": None}, "x"]))
    if names is not None:
        req["ExpressionAttributeNames"] = names
    values = draw(st.one_of(
        st.dictionaries(st.sampled_from([":n", ":a", ":b"]), plain_values, max_size=3),
        st.sampled_from([None, {}, [], {":n": {"N": "1"}, ":a": {"S": "x"}}, {":a": {"S": "x"}}, {":n": {"N": "7"}}]),
    ))
    if values is not None:
        req["ExpressionAttributeValues"] = values
    rv = draw(st.sampled_from([None, None, "NONE", "ALL_NEW", "ALL_OLD", "UPDATED_OLD", "UPDATED_NEW", "BAD", 1]))
    if rv is not None:
        req["ReturnValues"] = rv
    if draw(st.integers(0, 5)) == 0:
        req.update(draw(extras))
    return "UpdateItem", req


KEY_CONDITIONS = [
    "pk = :p", ":p = pk", "#p = :p", "pk = :p AND sk > :s", "pk = :p AND :s <= sk", "pk = :p AND sk BETWEEN :s AND :t",
    "pk = :p AND begins_with(sk, :s)", "sk = :s AND pk = :p", "pk = :p AND pk = :s", "pk < :p", "pk = :p OR sk = :s",
    "x = :p", "id = :p", "pk = :p AND #s < :s", "pk = :p AND sk = :p", "(pk = :p)", "pk = :p AND x = :s", "",
    "pk = :p AND begins_with(#s, :s)", "pk = :p and sk >= :s", "begins_with(pk, :p)", "pk.x = :p", 3,
]


@st.composite
def query_requests(draw):
    req = {"TableName": draw(st.sampled_from(["t_rs", "t_rn", "t_hs", "t_hn", "missing", 7])),
           "KeyConditionExpression": draw(st.sampled_from(KEY_CONDITIONS))}
    names = draw(st.sampled_from([None, None, {"#p": "pk"}, {"#s": "sk"}, {"#p": "pk", "#s": "sk"}, {"#p": "sk"},
                                  {}, {"#p": 1}, {"#p": "pk", "#z": "z"}, {"#s": "pk"}]))
    if names is not None:
        req["ExpressionAttributeNames"] = names
    value = st.one_of(key_values, st.sampled_from([{"S": "p1"}, {"S": "p2"}, {"S": "s1"}, {"N": "1"}, {"N": "-1"},
                                                   {"S": "s"}, {"N": "2"}, {"BOOL": True}]))
    values = draw(st.one_of(
        st.fixed_dictionaries({":p": value}, optional={":s": value, ":t": value, ":z": value}),
        st.sampled_from([None, {}, "x"]),
    ))
    if values is not None:
        req["ExpressionAttributeValues"] = values
    forward = draw(st.sampled_from([None, None, True, False, "no"]))
    if forward is not None:
        req["ScanIndexForward"] = forward
    more = draw(st.sampled_from([{}, {}, {}, {"Limit": 2}, {"Select": "COUNT"}, {"ConsistentRead": True},
                                 {"FilterExpression": "v > :p"}, {"IndexName": "by_a"}, {"Unknown": 1}]))
    req.update(more)
    return "Query", req


@st.composite
def delete_requests(draw):
    return "DeleteItem", {"TableName": draw(tables), "Key": draw(keys)}


batch_tables = st.sampled_from(["t_hs", "t_hn", "t_rs", "t_rn", "missing", ""])
batch_key_lists = st.one_of(
    st.lists(st.one_of(st.builds(lambda v: {"id": v}, key_values), keys), min_size=0, max_size=5),
    st.builds(lambda n: [{"id": {"S": f"k{i}"}} for i in range(n)], st.sampled_from([1, 3, 100, 101])),
    st.builds(lambda n: [{"id": {"N": str(i)}} for i in range(n)], st.sampled_from([2, 60])),
    st.sampled_from([None, {}, "x"]),
)
batch_get_extras = st.sampled_from([{}, {}, {}, {"ConsistentRead": True}, {"ProjectionExpression": "n"},
                                    {"AttributesToGet": ["n"]}, {"Bogus": 1}])


@st.composite
def batch_get_requests(draw):
    request_items = {}
    for _ in range(draw(st.integers(0, 3))):
        entry = {"Keys": draw(batch_key_lists)}
        entry.update(draw(batch_get_extras))
        request_items[draw(batch_tables)] = entry
    req = {"RequestItems": request_items}
    req.update(draw(st.sampled_from([{}, {}, {}, {"ReturnConsumedCapacity": "TOTAL"}, {"Bogus": 1}])))
    return "BatchGetItem", req


@st.composite
def write_request(draw):
    kind = draw(st.sampled_from(["Put", "Put", "Delete", "Both", "Bad"]))
    key = draw(batch_keys)
    if kind == "Put":
        item = {**key, **draw(st.dictionaries(st.sampled_from(["n", "a"]), plain_values, max_size=2))} \
            if type(key) is dict else key
        put = {"Item": item}
        if draw(st.integers(0, 8)) == 0:
            put["ConditionExpression"] = "attribute_exists(n)"
        return {"PutRequest": put}
    if kind == "Delete":
        return {"DeleteRequest": {"Key": key}}
    if kind == "Both":
        return {"PutRequest": {"Item": key}, "DeleteRequest": {"Key": key}}
    return draw(st.sampled_from([{}, None, {"PutRequest": None}, {"DeleteRequest": {}}]))


@st.composite
def batch_write_requests(draw):
    request_items = {}
    for _ in range(draw(st.integers(0, 2))):
        writes = draw(st.one_of(
            st.lists(write_request(), min_size=0, max_size=5),
            st.builds(lambda n: [{"PutRequest": {"Item": {"id": {"S": f"k{i}"}, "n": {"N": str(i)}}}}
                                 for i in range(n)], st.sampled_from([1, 25, 26])),
        ))
        request_items[draw(batch_tables)] = writes
    req = {"RequestItems": request_items}
    req.update(draw(st.sampled_from([{}, {}, {}, {"ReturnConsumedCapacity": "TOTAL"},
                                     {"ReturnItemCollectionMetrics": "SIZE"}, {"Bogus": 1}])))
    return "BatchWriteItem", req


requests = st.one_of(get_requests(), put_requests(), update_requests(), query_requests(), delete_requests(),
                     batch_get_requests(), batch_write_requests())


# -- the fast paths answer as the general path does ------------------------------------


@many
@given(st.lists(requests, min_size=1, max_size=12))
def test_fast_paths_match_the_general_path(monkeypatch, sequence):
    _both(sequence, monkeypatch)


def test_fast_paths_match_on_the_plain_requests(monkeypatch):
    sequence = [
        ("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}}),
        ("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "nope"}}}),
        ("GetItem", {"TableName": "t_hn", "Key": {"id": {"N": "2"}}}),
        ("GetItem", {"TableName": "t_hn", "Key": {"id": {"N": "02"}}}),
        ("GetItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s3"}}}),
        ("PutItem", {"TableName": "t_hs", "Item": {"id": {"S": "k9"}, "n": {"N": "1.5"}, "m": {"M": {}}}}),
        ("PutItem", {"TableName": "t_rn", "Item": {"pk": {"S": "p1"}, "sk": {"N": "7"}, "a": {"S": "B"}}}),
        ("PutItem", {"TableName": "t_rn", "Item": {"pk": {"S": "p1"}, "sk": {"N": "8"}, "a": {"N": "1"}}}),
        ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}, "UpdateExpression": "SET #n = :n",
                        "ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":n": {"N": "5"}}}),
        ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "new"}}, "UpdateExpression": "SET a = :a, b = :b",
                        "ExpressionAttributeValues": {":a": {"S": "é"}, ":b": {"L": [{"NULL": True}]}},
                        "ReturnValues": "ALL_NEW"}),
        ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "k2"}}, "UpdateExpression": "SET s = :a",
                        "ExpressionAttributeValues": {":a": {"S": "set replaced"}}, "ReturnValues": "UPDATED_OLD"}),
        ("UpdateItem", {"TableName": "t_rn", "Key": {"pk": {"S": "p0"}, "sk": {"N": "0"}},
                        "UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"S": "Z"}},
                        "ReturnValues": "ALL_OLD"}),
        ("UpdateItem", {"TableName": "t_rn", "Key": {"pk": {"S": "p0"}, "sk": {"N": "1"}},
                        "UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"N": "3"}}}),
        ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "k0"}}, "UpdateExpression": "SET big = :a",
                        "ExpressionAttributeValues": {":a": {"S": "x" * 409_600}}}),
        ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": "p1"}}}),
        ("Query", {"TableName": "t_rs", "KeyConditionExpression": "#p = :p AND sk BETWEEN :a AND :b",
                   "ExpressionAttributeNames": {"#p": "pk"}, "ScanIndexForward": False,
                   "ExpressionAttributeValues": {":p": {"S": "p1"}, ":a": {"S": "s1"}, ":b": {"S": "s2"}}}),
        ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                   "ExpressionAttributeValues": {":p": {"S": "p1"}, ":a": {"S": "s3"}, ":b": {"S": "s2"}}}),
        ("Query", {"TableName": "t_rn", "KeyConditionExpression": "pk = :p AND sk < :s",
                   "ExpressionAttributeValues": {":p": {"S": "p2"}, ":s": {"N": "1"}}}),
        ("Query", {"TableName": "t_rn", "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                   "ExpressionAttributeValues": {":p": {"S": "p2"}, ":s": {"N": "1"}}}),
        ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                   "ExpressionAttributeValues": {":p": {"S": "p2"}, ":s": {"S": "s"}}}),
        ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": ""}}}),
    ]
    out = _both(sequence, monkeypatch)
    kinds = [kind for kind, _ in out]
    # The GSI keys of the wrong type, and the item past 400 KB, are refused.
    assert kinds[7] == kinds[12] == kinds[13] == "ValidationException", out
    assert "maximum allowed size" in out[13][1]
    assert kinds[:7] + kinds[8:12] == ["ok"] * 11, out


@pytest.mark.parametrize("text", ["SET a = :a", "SET #n = :n, a = :a"])
def test_update_fast_path_keeps_item_sizes_exact(text):
    """The new size is computed from the stored one: it must stay item_size."""
    db = kvstore.Database()
    _create(db)
    values = {":a": {"M": {"é": {"N": "-12.5"}, "l": {"L": [{"B": b"\x00\x01"}, {"BOOL": False}]}}}}
    req = {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}, "UpdateExpression": text,
           "ExpressionAttributeValues": values}
    if "#n" in text:
        req["ExpressionAttributeNames"] = {"#n": "s"}  # replaces a string set
        values[":n"] = {"N": "100"}
    assert items.update_fast(db, req) == {}
    _state(db)  # asserts every stored size is the item's item_size


# -- the plain shapes do take the fast path ------------------------------------------


def test_plain_requests_take_the_fast_path():
    db = kvstore.Database()
    _create(db)
    assert items.get_fast(db, {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}})["Item"]["n"] == {"N": "1"}
    assert items.get_fast(db, {"TableName": "t_hs", "Key": {"id": {"S": "zz"}}}) == {}
    assert items.get_fast(db, {"TableName": "t_rn", "Key": {"pk": {"S": "p1"}, "sk": {"N": "-1"}}}) is not None
    assert items.put_fast(db, {"TableName": "t_hs", "Item": {"id": {"S": "z"}, "n": {"N": "2"}}}) == {}
    assert items.update_fast(db, {
        "TableName": "t_hs", "Key": {"id": {"S": "z"}}, "UpdateExpression": "SET #n = :n",
        "ExpressionAttributeNames": {"#n": "n"}, "ExpressionAttributeValues": {":n": {"N": "3"}}}) == {}
    assert db.request("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "z"}}})["Item"]["n"] == {"N": "3"}
    out = read.query_fast(db, {"TableName": "t_rs", "KeyConditionExpression": "pk = :p",
                               "ExpressionAttributeValues": {":p": {"S": "p1"}}})
    assert out["Count"] == 4 and [i["sk"]["S"] for i in out["Items"]] == ["s0", "s1", "s2", "s3"]
    out = read.query_fast(db, {"TableName": "t_rn", "KeyConditionExpression": "pk = :p AND sk >= :s",
                               "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"N": "1"}},
                               "ScanIndexForward": False})
    assert [i["sk"]["N"] for i in out["Items"]] == ["2", "1"]


def test_fast_paths_leave_the_rest_alone():
    db = kvstore.Database()
    _create(db)
    assert items.get_fast(db, {"TableName": "t_hs", "Key": {"id": {"S": ""}}}) is None
    assert items.get_fast(db, {"TableName": "t_hn", "Key": {"id": {"N": "01"}}}) is None
    assert items.get_fast(db, {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}, "ConsistentRead": True}) is None
    assert items.put_fast(db, {"TableName": "t_hs", "Item": {"id": {"S": "z"}, "n": {"N": "1e2"}}}) is None
    assert items.update_fast(db, {"TableName": "t_hs", "Key": {"id": {"S": "z"}}, "UpdateExpression": "SET id = :n",
                                  "ExpressionAttributeValues": {":n": {"S": "3"}}}) is None
    assert items.update_fast(db, {"TableName": "t_hs", "Key": {"id": {"S": "z"}}, "UpdateExpression": "SET a = :n",
                                  "ExpressionAttributeValues": {":n": {"S": "3"}, ":x": {"S": "3"}}}) is None
    assert read.query_fast(db, {"TableName": "t_rs", "KeyConditionExpression": "pk = :p",
                                "ExpressionAttributeValues": {":p": {"S": "p1"}}, "Limit": 1}) is None
    # Empty maps of placeholders are errors of their own.
    assert items.update_fast(db, {"TableName": "t_hs", "Key": {"id": {"S": "z"}}, "UpdateExpression": "SET a = :n",
                                  "ExpressionAttributeNames": {},
                                  "ExpressionAttributeValues": {":n": {"S": "3"}}}) is None
    assert read.query_fast(db, {"TableName": "t_rs", "KeyConditionExpression": "pk = :p",
                                "ExpressionAttributeNames": {},
                                "ExpressionAttributeValues": {":p": {"S": "p1"}}}) is None
    assert db.tables["t_hs"].item_count == 3  # nothing written by a refused fast path


def test_fast_paths_match_on_empty_placeholder_maps(monkeypatch):
    _both([
        ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "z"}}, "UpdateExpression": "SET a = :n",
                        "ExpressionAttributeNames": {}, "ExpressionAttributeValues": {":n": {"S": "3"}}}),
        ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p", "ExpressionAttributeNames": {},
                   "ExpressionAttributeValues": {":p": {"S": "p1"}}}),
        ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {}}),
        ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "z"}}, "UpdateExpression": "SET a = :n",
                        "ExpressionAttributeValues": {}}),
    ], monkeypatch)


# -- the batch operations' shortcuts ---------------------------------------------------

batch_keys = st.one_of(st.builds(lambda v: {"id": v}, key_values), keys)


@many
@given(st.lists(batch_keys, min_size=1, max_size=6), st.sampled_from(["t_hs", "t_hn", "t_rs", "missing"]))
def test_batch_get_matches_the_per_key_path(monkeypatch, key_list, table):
    """BatchGetItem's fingerprints, key checks and stored sizes against the
    original code: validate_value + JSON fingerprint, key_from_key, item_size."""
    req = {"RequestItems": {table: {"Keys": key_list}}, "ReturnConsumedCapacity": "TOTAL"}
    results = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(batch, "_plain_fingerprint", lambda key: None)
                m.setattr(batch, "wire_key_fast", lambda *args: None)
            db = kvstore.Database()
            _create(db)
            results.append(_outcome(db, "BatchGetItem", req))
    assert results[0] == results[1]


def test_batch_get_refuses_keys_equal_once_validated():
    db = kvstore.Database()
    _create(db)
    for one, two in (({"N": "1"}, {"N": "01"}), ({"N": "100"}, {"N": "1E2"}), ({"N": "0"}, {"N": "-0"})):
        with pytest.raises(DynamoDBError, match="Provided list of item keys contains duplicates"):
            db.request("BatchGetItem", {"RequestItems": {"t_hn": {"Keys": [{"id": one}, {"id": two}]}}})


def test_plain_fingerprint_equality_is_the_validated_keys_equality():
    same = [({"a": {"S": "x"}, "b": {"N": "1"}}, {"b": {"N": "1"}, "a": {"S": "x"}})]
    for one, two in same:
        assert batch._plain_fingerprint(one) == batch._plain_fingerprint(two)
    assert batch._plain_fingerprint({"a": {"N": "01"}}) is None  # normalised: the long way
    assert batch._plain_fingerprint({"a": {"S": "x"}}) != batch._plain_fingerprint({"a": {"N": "x"}})
    assert batch._plain_fingerprint({"a": {"S": "x"}, "b": {"S": "x"}, "c": {"S": "x"}}) is None


@many
@given(st.lists(st.tuples(st.sampled_from(["Put", "Delete"]), batch_keys,
                          st.dictionaries(st.sampled_from(["n", "a"]), plain_values, max_size=2)),
                min_size=1, max_size=6),
       st.sampled_from(["t_hs", "t_rn", "missing"]),
       st.sampled_from([{}, {"ReturnConsumedCapacity": "TOTAL"}, {"ReturnItemCollectionMetrics": "SIZE"}]))
def test_batch_write_matches_items_execute(monkeypatch, writes, table, extra):
    """BatchWriteItem's tuple writes against the ItemWrite + execute path."""
    requests = []
    for kind, key, rest in writes:
        if kind == "Put":
            requests.append({"PutRequest": {"Item": {**key, **rest} if type(key) is dict else key}})
        else:
            requests.append({"DeleteRequest": {"Key": key}})
    req = {"RequestItems": {table: requests}, **extra}

    def prepare(table_, kind, value, size):
        if kind == "Put":
            hash_av, range_av = items.key_from_item(table_, value)
            if table_.indexes:
                table_.check_index_keys(value)
            write = items.PutWrite(table_, hash_av, range_av, None, {})
            write.item, write.size = value, size
        else:
            hash_av, range_av = items.key_from_key(table_, value)
            write = items.DeleteWrite(table_, hash_av, range_av, None, {})
        return write.loc, write, size, (hash_av, range_av)

    def apply(table_, write):
        return items.execute(write[1])

    results = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(api, "FAST_PATHS", {})
                m.setattr(batch, "_prepare_write", prepare)
                m.setattr(batch, "_apply_write", apply)
            db = kvstore.Database()
            _create(db)
            results.append((_outcome(db, "BatchWriteItem", req), _state(db)))
    assert results[0] == results[1]


def test_plain_puts_store_through_the_core(monkeypatch):
    """put_fast stores a plain item of a table with nothing to follow the
    write in one core call; anything else goes through table.write."""
    db = kvstore.Database()
    _create(db)
    stored = []
    real = items.store_plain_item
    monkeypatch.setattr(items, "store_plain_item", lambda *a: stored.append(a[0]) or real(*a))
    for name, item in [("t_hs", {"id": {"S": "k1"}, "n": {"N": "9"}}),
                       ("t_rs", {"pk": {"S": "p1"}, "sk": {"S": "new"}})]:
        assert items.put_fast(db, {"TableName": name, "Item": item}) == {}
        assert stored.pop() is item
    assert db.request("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}})["Item"]["n"] == {"N": "9"}
    assert db.tables["t_rs"].item_count == 13
    # An index and a stream: table.write; a key not certain: put_valid's errors.
    assert items.put_fast(db, {"TableName": "t_rn", "Item": {"pk": {"S": "p9"}, "sk": {"N": "1"}}}) == {}
    assert stored == []
    with pytest.raises(DynamoDBError):
        items.put_fast(db, {"TableName": "t_hs", "Item": {"id": {"S": ""}}})
    _state(db)


def _plain_writes_reference(requests, hash_name, hash_type, range_name, range_type, max_size):
    """The Python that kvstore._core.plain_writes replaces (batch_write_fast's
    former per-request loop), from the core's public single-value checks."""
    from kvstore._core import item_key_fast, validate_item_fast, wire_key_fast
    if type(requests) is not list or not requests:
        return None
    schema = (hash_name, hash_type, range_name, range_type)
    out = []
    for request in requests:
        if type(request) is not dict or len(request) != 1:
            return None
        put = request.get("PutRequest")
        if put is not None:
            if type(put) is not dict or len(put) != 1:
                return None
            found = validate_item_fast(put.get("Item"))
            if found is None or found[1] > max_size:
                return None
            key = item_key_fast(found[0], *schema)
            if key is None:
                return None
            out.append((*key, found[0], found[1]))
        else:
            delete = request.get("DeleteRequest")
            if type(delete) is not dict or len(delete) != 1:
                return None
            key = wire_key_fast(delete.get("Key"), *schema)
            if key is None:
                return None
            out.append((*key, None, 0))
    return out


@many
@given(st.one_of(st.lists(write_request(), min_size=0, max_size=6), st.sampled_from([None, {}, "x", [None]])),
       st.sampled_from(["t_hs", "t_hn", "t_rs", "t_rn"]), st.sampled_from([400 * 1024, 10]))
def test_plain_writes_match_their_reference(requests, name, max_size):
    from kvstore._core import locate_writes, plain_writes
    db = kvstore.Database()
    _create(db)
    table = db.tables[name]
    schema = (table.hash_key, table.hash_type, table.range_key, table.range_type)
    got = plain_writes(requests, *schema, max_size)
    assert got == _plain_writes_reference(requests, *schema, max_size)
    if got is None:
        return
    for write, want in zip(got, _plain_writes_reference(requests, *schema, max_size)):
        assert write[2] is want[2]  # the request's own item dict, stored as is
    try:
        expected = [table.locate(h, r) for h, r, _item, _size in got]
    except Exception as e:  # the same error either way (e.g. a lone surrogate)
        with pytest.raises(type(e)):
            locate_writes(got, table.ring, table.partitions)
        return
    idents = [(loc[2], loc[3]) for loc in expected]
    located = locate_writes(got, table.ring, table.partitions)
    if len(set(idents)) != len(idents):
        assert located is None
    else:
        assert located == expected


def test_plain_batches_store_through_the_core(monkeypatch):
    db = kvstore.Database()
    _create(db)
    stored = []
    real = batch.store_writes
    monkeypatch.setattr(batch, "store_writes", lambda w, l: (stored.append(len(w)), real(w, l)))
    req = {"RequestItems": {
        "t_hs": [{"PutRequest": {"Item": {"id": {"S": f"k{i}"}, "n": {"N": "7"}}}} for i in range(3, 8)]
        + [{"DeleteRequest": {"Key": {"id": {"S": "k0"}}}}, {"DeleteRequest": {"Key": {"id": {"S": "none"}}}}],
        "t_rn": [{"PutRequest": {"Item": {"pk": {"S": "p9"}, "sk": {"N": "1"}, "a": {"S": "b"}}}}],
    }}
    assert batch.batch_write_fast(db, req) == {"UnprocessedItems": {}}
    assert stored == [7]  # t_rn (an index and a stream) goes through table.write
    assert db.tables["t_hs"].item_count == 7 and db.tables["t_rn"].item_count == 13
    assert db.request("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "k3"}}})["Item"]["n"] == {"N": "7"}
    _state(db)
    # A key twice in one table refuses the fast path before anything is written.
    twice = {"RequestItems": {"t_hs": [{"DeleteRequest": {"Key": {"id": {"S": "k1"}}}},
                                       {"PutRequest": {"Item": {"id": {"S": "k1"}}}}]}}
    assert batch.batch_write_fast(db, twice) is None
    assert db.tables["t_hs"].item_count == 7


def test_batch_write_fast_locates_through_the_table_elsewhere():
    """A partition that is not a Partition (another worker's stand-in, or
    server/cluster.py's validation pass) takes table.locate and
    table.write, which route; every check runs before that."""

    class Elsewhere(Exception):
        pass

    class Stand:
        def put(self, *args):
            raise Elsewhere

        def delete(self, *args):
            raise Elsewhere

    class Nowhere(dict):
        def __missing__(self, part):
            return Stand()

    db = kvstore.Database()
    _create(db)
    table = db.tables["t_hs"]
    saved, table.partitions = table.partitions, Nowhere()
    try:
        with pytest.raises(Elsewhere):
            batch.batch_write_fast(db, {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "q"}}}}]}})
        twice = {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "q"}}}},
                                           {"DeleteRequest": {"Key": {"id": {"S": "q"}}}}]}}
        assert batch.batch_write_fast(db, twice) is None
    finally:
        table.partitions = saved


# -- a multi-worker plain batch's parts (kvstore._core route_writes / store_part) ----
# The front splits a plain batch by owner into parts of bytes, each write in
# stored form; the owner stores a part after checking only that its tables
# are still the front's.  Here one Database stands for every owner: its
# ring gives the owners (node 0 only, or two nodes), its partitions are all
# here.


def _parts(db, req, ring=None):
    """route_writes' (groups, forms, complete) of a plain batch ``req``."""
    groups, forms, complete = {}, {}, True
    for _name, table, requests, writes in batch.plain_write_plans(db, req):
        saved = table.ring
        if ring is not None:
            table.ring = ring
        try:
            done = _core.route_writes(table, requests, writes, groups, forms)
        finally:
            table.ring = saved
        assert done is not None
        complete = complete and done
    return groups, forms, complete


def test_routed_parts_read_back_and_store_as_the_batch_would():
    db = kvstore.Database()
    _create(db)
    ring = _core.Ring(range(2), 8)
    put = {"id": {"S": "k7"}, "m": {"M": {"é": {"L": [{"N": "1"}, {"NULL": True}]}}}}
    req = {"RequestItems": {
        "t_hs": [{"PutRequest": {"Item": put}}, {"DeleteRequest": {"Key": {"id": {"S": "k0"}}}}]
        + [{"PutRequest": {"Item": {"id": {"S": f"n{i}"}}}} for i in range(8)],
        "t_rs": [{"PutRequest": {"Item": {"pk": {"S": "p9"}, "sk": {"S": "s"}, "v": {"BOOL": False}}}}],
    }}
    groups, forms, complete = _parts(db, req, ring)
    assert complete and set(forms) == set(groups) == {0, 1}
    table_ids = {name: db.tables[name].table_id for name in ("t_hs", "t_rs")}
    seen = {}
    for owner, part in forms.items():
        for name, table_id, writes in _core.routed_writes(part):
            assert table_id == table_ids[name]
            assert len(writes) == len(groups[owner][name])
            for (hk, sk, raw, size), request in zip(writes, groups[owner][name]):
                assert ring.owner(_core.hash64(hk)) == owner
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    assert (msgspec.json.decode(raw), size) == (item, item_size(item))
                else:
                    assert (msgspec.json.decode(raw), size) == (request["DeleteRequest"]["Key"], -1)
                seen[name, hk, sk] = size
    assert len(seen) == 11 and seen["t_hs", b"k0", b""] == -1 and ("t_rs", b"p9", b"s") in seen
    for part in forms.values():
        assert _core.store_part(part, db.tables) is True
    assert db.tables["t_hs"].item_count == 3 - 1 + 9
    assert db.request("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "k7"}}})["Item"] == put
    assert db.request("GetItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p9"}, "sk": {"S": "s"}}})["Item"]["v"] == {
        "BOOL": False}
    _state(db)
    assert _core.store_part(b"", db.tables) is True and _core.routed_writes(bytearray()) == []


def test_routed_part_is_refused_whole_where_the_front_checks_do_not_hold():
    """None and nothing written: a table gone, created again (another id),
    not writing alone (an index or stream), or a partition not here."""
    db = kvstore.Database()
    _create(db)
    req = {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "new"}}}}],
                            "t_rs": [{"PutRequest": {"Item": {"pk": {"S": "new"}, "sk": {"S": "s"}}}}]}}
    (part,) = _parts(db, req)[1].values()
    before = _state(db)
    tables = db.tables
    assert _core.store_part(part, {"t_hs": tables["t_hs"]}) is None
    table = tables["t_rs"]
    saved_id, table.table_id = table.table_id, "another"
    assert _core.store_part(part, tables) is None
    table.table_id = saved_id
    saved_partitions, table.partitions = table.partitions, dict.fromkeys(table.partitions, "elsewhere")
    assert _core.store_part(part, tables) is None
    table.partitions = saved_partitions
    assert _state(db) == before
    indexed = {"RequestItems": {"t_rn": [{"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"N": "1"}}}}]}}
    groups, forms, complete = _parts(db, indexed)
    assert complete and _core.store_part(forms[0], tables) is None and _state(db) == before
    assert _core.store_part(part, tables) is True and tables["t_hs"].item_count == 4


def test_routed_part_that_is_not_one_raises():
    db = kvstore.Database()
    _create(db)
    (part,) = _parts(db, {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "x"}}}}]}})[1].values()
    before = _state(db)
    for cut in (1, 4, len(part) - 1):
        with pytest.raises(ValueError):
            _core.store_part(bytes(part[:cut]), db.tables)
        with pytest.raises(ValueError):
            _core.routed_writes(part[:cut])
    assert _state(db) == before
    with pytest.raises(TypeError):
        _core.store_part(memoryview(part), db.tables)
    # A B value has no exact JSON form: the forms are not complete.
    binary = {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "b"}, "b": {"B": b"\x00"}}}}]}}
    assert _parts(db, binary)[2] is False


# -- the server's encoded answers (kvstore.api.ENCODED_PATHS) -----------------------
# GetItem, Query and BatchGetItem answered with JSON bytes spliced from the
# items' JSON cached in the partitions: byte for byte what the server's
# handler gives through dispatch and its encoder, and every write (put,
# update, delete, batch write, TTL) drops the cached JSON of what it changed.


def _body(req):
    return json.dumps(req).encode()


def _handler_both(requests, monkeypatch):
    """The server handler's (status, bytes) answers and the state after, with
    every fast path then with none; asserted equal."""
    results = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            if not fast:
                m.setattr(api, "FAST_PATHS", {})
                m.setattr(api, "ENCODED_PATHS", {})
            db = kvstore.Database()
            _create(db)
            handle = make_handler(db)
            answers = [handle(b"DynamoDB_20120810." + op.encode(), _body(req)) for op, req in requests]
            results.append((answers, _state(db)))
            for table in db.tables.values():
                for partition in table.partitions.values():
                    partition._check()
    (fast_out, fast_state), (slow_out, slow_state) = results
    for request, a, b in zip(requests, fast_out, slow_out):
        assert a == b, request
    assert fast_state == slow_state
    return fast_out


@many
@given(st.lists(requests, min_size=1, max_size=14))
def test_encoded_answers_match_the_general_path(monkeypatch, sequence):
    _handler_both(sequence, monkeypatch)


def test_encoded_answers_follow_every_write(monkeypatch):
    get = ("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}})
    get_r = ("GetItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s1"}}})
    query = ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p",
                       "ExpressionAttributeValues": {":p": {"S": "p1"}}})
    bget = ("BatchGetItem", {"RequestItems": {"t_hs": {"Keys": [{"id": {"S": "k1"}}, {"id": {"S": "k2"}}]},
                                              "t_rs": {"Keys": [{"pk": {"S": "p1"}, "sk": {"S": "s1"}}]}}})
    reads = [get, get_r, query, bget]
    writes = [
        ("PutItem", {"TableName": "t_hs", "Item": {"id": {"S": "k1"}, "v": {"S": "put"}}}),
        ("PutItem", {"TableName": "t_rs", "Item": {"pk": {"S": "p1"}, "sk": {"S": "s1"}, "v": {"S": "put"}}}),
        ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"S": "fast update"}}}),
        ("UpdateItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s1"}},
                        "UpdateExpression": "ADD c :v", "ExpressionAttributeValues": {":v": {"N": "1"}}}),
        ("BatchWriteItem", {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "k2"}}}}],
                                             "t_rs": [{"DeleteRequest": {"Key": {"pk": {"S": "p1"},
                                                                                 "sk": {"S": "s0"}}}}]}}),
        ("DeleteItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s1"}}}),
        ("DeleteItem", {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}}),
        ("PutItem", {"TableName": "t_hs", "Item": {"id": {"S": "k1"}, "v": {"S": "back"}}}),
        ("DeleteItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s2"}}}),
        ("DeleteItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s3"}}}),
        ("PutItem", {"TableName": "t_rs", "Item": {"pk": {"S": "p1"}, "sk": {"S": "s9"}}}),
    ]
    sequence = list(reads)
    for write in writes:
        sequence += [write] + reads
    out = _handler_both(sequence, monkeypatch)
    assert all(status == 200 for status, _ in out), out
    # The last reads see the last writes: k1 back, p1's s0..s3 gone and s9 there.
    assert json.loads(out[-4][1]) == {"Item": {"id": {"S": "k1"}, "v": {"S": "back"}}}
    assert out[-3][1] == b"{}"
    assert [i["sk"]["S"] for i in json.loads(out[-2][1])["Items"]] == ["s9"]
    assert json.loads(out[-1][1])["Responses"]["t_hs"][0]["v"] == {"S": "back"}


def _no_encode(item):
    raise AssertionError("encoded %r: its stored JSON was expected" % (item,))


def test_fast_writes_store_json_every_reader_decodes(monkeypatch):
    """PutItem's, BatchWriteItem's and UpdateItem's fast writes store a
    plain item as the JSON the server answers with; the raw readers answer
    it without encoding, every other reader and writer (projections, Scan,
    ReturnValues, DeleteItem) decodes it: the same answers and state as the
    general path, which stores the dicts."""
    hs, rs = {"id": {"S": "k1"}, "v": {"S": "put"}, "m": {"M": {"l": {"L": [{"N": "1"}, {"NULL": True}]}}}}, \
        {"pk": {"S": "p1"}, "sk": {"S": "s1"}, "v": {"S": "é\u2028\\\""}}
    writes = [("PutItem", {"TableName": "t_hs", "Item": hs}),
              ("BatchWriteItem", {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "k2"}}}}],
                                                   "t_rs": [{"PutRequest": {"Item": rs}}]}}),
              ("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "k0"}}, "UpdateExpression": "SET v = :v",
                              "ExpressionAttributeValues": {":v": {"S": "up"}}})]
    db = kvstore.Database()
    _create(db)
    for op, req in writes:
        db.request(op, req)
    updated = {"id": {"S": "k0"}, "n": {"N": "0"}, "s": {"SS": ["x", "y"]}, "v": {"S": "up"}}
    for table, key, item in [("t_hs", {"id": {"S": "k1"}}, hs), ("t_rs", {"pk": {"S": "p1"}, "sk": {"S": "s1"}}, rs),
                             ("t_hs", {"id": {"S": "k0"}}, updated)]:
        table = db.tables[table]
        partition, _token, hk, sk = table.locate(*items.key_from_key(table, key))
        assert partition.get_raw(hk, sk, _no_encode) == msgspec.json.encode(item)
        assert partition.get(hk, sk) == item and partition.get(hk, sk) is not item
    get = ("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}})
    reads = [get, ("GetItem", {**get[1], "ProjectionExpression": "m.l[1]"}),
             ("Scan", {"TableName": "t_hs"}), ("Scan", {"TableName": "t_rs", "Limit": 3}),
             ("Query", {"TableName": "t_rs", "KeyConditionExpression": "pk = :p",
                        "ExpressionAttributeValues": {":p": {"S": "p1"}}}),
             ("BatchGetItem", {"RequestItems": {"t_hs": {"Keys": [{"id": {"S": "k1"}}, {"id": {"S": "k2"}}]}}})]
    olds = [("UpdateItem", {"TableName": "t_rs", "Key": {"pk": {"S": "p1"}, "sk": {"S": "s1"}},
                            "UpdateExpression": "SET w = :w", "ExpressionAttributeValues": {":w": {"S": "x"}},
                            "ReturnValues": "ALL_OLD"}),
            ("PutItem", {"TableName": "t_hs", "Item": {"id": {"S": "k1"}}, "ReturnValues": "ALL_OLD"}),
            ("DeleteItem", {"TableName": "t_hs", "Key": {"id": {"S": "k2"}}, "ReturnValues": "ALL_OLD"})]
    out = _handler_both(writes + reads + olds + reads, monkeypatch)
    assert json.loads(out[len(writes) + len(reads) + 1][1]) == {"Attributes": hs}


def test_embedded_fast_writes_keep_bytes_exact():
    """The embedded API's requests take the same fast writes with B and BS
    values as bytes, which JSON would turn into base64 text: such an item
    is stored as itself, and reads back with its bytes."""
    db = kvstore.Database()
    _create(db)
    item = {"id": {"S": "b1"}, "b": {"B": b"\x00\xff"}, "l": {"L": [{"B": b"z"}]}}
    db.request("PutItem", {"TableName": "t_hs", "Item": item})
    db.request("BatchWriteItem", {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {**item, "id": {"S": "b2"}}}}]}})
    sets = {"id": {"S": "b3"}, "bs": {"BS": [b"\x01", b"\x02"]}}
    db.request("PutItem", {"TableName": "t_hs", "Item": sets})         # a set: the general path
    update = {"UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"B": b"\x03"}}}
    db.request("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "b1"}}, **update})
    db.request("UpdateItem", {"TableName": "t_hs", "Key": {"id": {"S": "b3"}},
                              "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": {"S": "x"}}})
    for key, want in [("b1", {**item, "v": {"B": b"\x03"}}), ("b2", {**item, "id": {"S": "b2"}}),
                      ("b3", {**sets, "v": {"S": "x"}})]:
        assert db.request("GetItem", {"TableName": "t_hs", "Key": {"id": {"S": key}}})["Item"] == want


def test_reads_take_the_encoded_path():
    db = kvstore.Database()
    _create(db)
    encode = msgspec.json.Encoder().encode
    req = {"TableName": "t_hs", "Key": {"id": {"S": "k1"}}}
    assert items.get_encoded(db, req, encode) == encode(db.request("GetItem", req))
    assert items.get_encoded(db, {"TableName": "t_hs", "Key": {"id": {"S": "no"}}}, encode) == b"{}"
    assert items.get_encoded(db, {"TableName": "t_hs", "Key": {"id": {"S": ""}}}, encode) is None
    req = {"TableName": "t_rn", "KeyConditionExpression": "pk = :p AND sk > :s",
           "ExpressionAttributeValues": {":p": {"S": "p1"}, ":s": {"N": "0"}}}
    assert read.query_encoded(db, req, encode) == encode(db.request("Query", req))
    req = {"RequestItems": {"t_hn": {"Keys": [{"id": {"N": str(i)}} for i in range(5)]}}}
    assert batch.batch_get_encoded(db, req, encode) == encode(db.request("BatchGetItem", req))
    req = {"RequestItems": {"t_hn": {"Keys": [{"id": {"N": "1"}}, {"id": {"N": "1"}}]}}}
    assert batch.batch_get_encoded(db, req, encode) is None  # duplicates: the general path's error
    req = {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "b"}}}},
                                     {"DeleteRequest": {"Key": {"id": {"S": "k0"}}}}]}}
    assert batch.batch_write_fast(db, req) == {"UnprocessedItems": {}}
    assert db.tables["t_hs"].item_count == 3
    assert batch.batch_write_fast(db, {"RequestItems": {"t_hs": [{"PutRequest": {"Item": {"id": {"S": "b"}}}}]},
                                       "ReturnConsumedCapacity": "TOTAL"}) is None
