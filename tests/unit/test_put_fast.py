"""PutItem's branch for a request of only TableName and Item
(``api.items.put_plain``/``put_valid``) against its general path.

Adding ``ReturnValues: NONE`` sends the same request down the general path
(parameters, conditions, an ItemWrite, ``execute``) with the same meaning,
so each scenario runs twice on fresh databases and must give the same
answers, the same errors with the same messages, and the same state after:
items, index entries, stream records, throughput buckets, transaction
locks.  The embedded ``Table.put`` (which calls the branch directly) is
checked the same way, and on a data directory its write is in the log and
committed when it returns.
"""

from decimal import Decimal

import pytest

import kvstore
from kvstore.errors import DynamoDBError

STRING_KEY = [{"AttributeName": "id", "KeyType": "HASH"}]


def _schema(db):
    db.request("CreateTable", {"TableName": "plain", "KeySchema": STRING_KEY,
                               "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                               "BillingMode": "PAY_PER_REQUEST"})
    db.request("CreateTable", {
        "TableName": "indexed",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                 {"AttributeName": "r", "AttributeType": "N"},
                                 {"AttributeName": "g", "AttributeType": "S"},
                                 {"AttributeName": "l", "AttributeType": "B"}],
        "GlobalSecondaryIndexes": [{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"},
                                    "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}}],
        "LocalSecondaryIndexes": [{"IndexName": "by_l", "KeySchema": [
            {"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
    })


BIG = "x" * (400 * 1024)
NESTED = {"S": "deep"}
for _ in range(33):
    NESTED = {"M": {"a": NESTED}}

# (table, item) of every PutItem in the scenario, in order; good and bad.
PUTS = [
    ("plain", {"id": {"S": "a"}, "n": {"N": "36"}, "b": {"BOOL": True}}),
    ("plain", {"id": {"S": "a"}, "n": {"N": "036.50"}, "m": {"M": {"x": {"L": [{"NULL": True}]}}}}),
    ("plain", {"id": {"S": "b"}, "s": {"SS": ["x", "y"]}, "bin": {"B": "YWJj"}}),
    ("plain", {"n": {"N": "1"}}),
    ("plain", {"id": {"N": "1"}}),
    ("plain", {"id": {"S": ""}}),
    ("plain", {"id": {"S": "k" * 2049}}),
    ("plain", {"id": {"S": "é" * 1025}}),
    ("plain", {"id": {"S": "c"}, "big": {"S": BIG}}),
    ("plain", {"id": {"S": "c"}, "deep": NESTED}),
    ("plain", {"id": {"S": "c"}, "n": {"N": "1e200"}}),
    ("plain", {"id": {"S": "c"}, "x": {"NULL": False}}),
    ("plain", {"id": {"S": "c"}, "x": {"S": 5}}),
    ("plain", {"id": {"S": "c"}, "x": {}}),
    ("missing", {"id": {"S": "a"}}),
    ("indexed", {"id": {"S": "a"}, "r": {"N": "1"}, "g": {"S": "G"}, "l": {"B": b"\x01"}}),
    ("indexed", {"id": {"S": "a"}, "r": {"N": "1.0"}, "g": {"S": "H"}, "v": {"N": "2"}}),
    ("indexed", {"id": {"S": "a"}, "r": {"N": "2"}, "g": {"N": "1"}}),
    ("indexed", {"id": {"S": "a"}, "r": {"N": "2"}, "l": {"B": b""}}),
    ("indexed", {"id": {"S": "a"}}),
    ("indexed", {"id": {"S": "a"}, "r": {"S": "1"}}),
    ("indexed", {"id": {"S": "b"}, "r": {"N": "-0.5"}, "g": {"S": "G"}, "pad": {"S": "p" * 3000}}),
    # 350 units each, on the table and on by_g: the second one takes by_g's
    # 300-second burst of 2 units into debt, and the next writes are throttled.
    ("indexed", {"id": {"S": "c"}, "r": {"N": "1"}, "g": {"S": "G"}, "pad": {"S": "p" * (350 * 1024)}}),
    ("indexed", {"id": {"S": "c"}, "r": {"N": "2"}, "g": {"S": "G"}, "pad": {"S": "p" * (350 * 1024)}}),
] + [("indexed", {"id": {"S": f"t{i}"}, "r": {"N": str(i)}, "g": {"S": "G"}, "pad": {"S": "p" * 1500}})
     for i in range(12)]


def _outcome(call):
    try:
        return ("ok", call())
    except DynamoDBError as e:
        return (type(e).__name__, e.message)


def _state(db):
    state = {}
    for name in ("plain", "indexed"):
        state[name] = sorted(map(repr, db.request("Scan", {"TableName": name})["Items"]))
    for index in ("by_g", "by_l"):
        state[index] = sorted(map(repr, db.request("Scan", {"TableName": "indexed", "IndexName": index})["Items"]))
    stream = db.tables["indexed"].stream
    state["stream"] = sorted(
        repr((r["eventName"], r["dynamodb"].get("Keys"), r["dynamodb"].get("OldImage"),
              r["dynamodb"].get("NewImage"), r["dynamodb"]["SizeBytes"]))
        for shard in stream.by_id.values() for _, r in shard.records)
    state["buckets"] = sorted(repr((k[1:], round(b.tokens, 6))) for k, b in db.throughput._buckets.items())
    return state


def _run(extra, lock=None):
    clock = [1000.0]
    db = kvstore.Database(enforce_throughput=True, clock=lambda: clock[0])
    _schema(db)
    if lock is not None:
        table = db.tables["plain"]
        loc = table.locate({"S": lock}, None)
        db.locks.acquire(db.locks.new_id(), [(table.name, loc[2], loc[3])])
    outcomes = []
    for name, item in PUTS:
        outcomes.append(_outcome(lambda: db.request("PutItem", {"TableName": name, "Item": item, **extra})))
        clock[0] += 0.25
    return outcomes, _state(db)


def test_put_item_fast_branch_matches_the_general_path():
    # DynamoDB: a PutItem with ReturnValues NONE is the same request as one
    # without it: same validation errors in the same order, same throttling
    # (provisioned tables, throughput enforced), same indexes and stream.
    fast, fast_state = _run({})
    general, general_state = _run({"ReturnValues": "NONE"})
    assert fast == general
    assert fast_state == general_state
    kinds = {o[0] for o in fast}
    assert {"ok", "ValidationException", "ResourceNotFoundException",
            "ProvisionedThroughputExceededException"} <= kinds


def test_put_item_fast_branch_refuses_a_locked_item():
    # An item a prepared transaction holds refuses single writes:
    # TransactionConflictException, on both paths.
    fast, fast_state = _run({}, lock="a")
    general, general_state = _run({"ReturnValues": "NONE"}, lock="a")
    assert fast == general
    assert fast_state == general_state
    assert fast[0] == ("TransactionConflictException", "Transaction is ongoing for the item")


def test_embedded_put_matches_put_item():
    # Table.put takes the core's conversion and the fast branch; the same
    # items through db.request give the same answers and state.
    plain_items = [
        {"id": "a", "n": 36, "b": True, "none": None, "m": {"x": [1, "y", b"z"]}},
        {"id": "a", "n": Decimal("036.50")},
        {"id": "b", "s": {"x", "y"}},
        {"n": 1},
        {"id": 1},
        {"id": ""},
        {"id": "k" * 2049},
        {"id": "c", "big": BIG},
        {"id": "c", "n": 10 ** 38},
        {"id": "c", "n": -10 ** 37},
    ]
    for use_table in (True, False):
        db = kvstore.Database()
        _schema(db)
        table = db.table("plain")
        outcomes = []
        for item in plain_items:
            if use_table:
                outcomes.append(_outcome(lambda: table.put(item)))
            else:
                outcomes.append(_outcome(lambda: db.call("PutItem", TableName="plain", Item=item).get("Attributes")))
        if use_table:
            via_table = outcomes, _state(db)
        else:
            via_request = outcomes, _state(db)
    assert via_table == via_request


def test_embedded_put_and_get_with_throughput_enforced():
    # With enforcement on, the embedded get and put are charged and throttled
    # like GetItem and PutItem.
    clock = [0.0]
    db = kvstore.Database(enforce_throughput=True, clock=lambda: clock[0])
    table = db.create_table("slow", "id", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    table.put({"id": "big", "pad": "x" * (299 * 1024)})  # the whole 300 s burst of 1 WCU
    with pytest.raises(kvstore.errors.ProvisionedThroughputExceededException):
        table.put({"id": "small"})
    for _ in range(2):  # reads: 1 RCU, 300 s burst; 299 KB eventually consistent = 37.5 units
        table.get({"id": "big"})
    db.throughput._buckets[(db.tables["slow"].table_id, None, "R")].tokens = 0.0
    with pytest.raises(kvstore.errors.ProvisionedThroughputExceededException):
        table.get({"id": "big"})


@pytest.mark.parametrize("fsync", ["always", "never"])
def test_embedded_put_is_logged_and_committed(tmp_path, fsync):
    # On a data directory each put is in the log and committed per the
    # policy when Table.put returns, then recovered.
    with kvstore.Database(path=tmp_path, fsync=fsync) as db:
        table = db.create_table("things", "id")
        for i in range(5):
            table.put({"id": f"k{i}", "n": i})
            assert db.wal.flushed == db.wal.seq
            if fsync == "always":
                assert db.wal.synced == db.wal.seq
    with kvstore.Database(path=tmp_path) as db:
        assert [db.table("things").get({"id": f"k{i}"}) for i in range(5)] == [
            {"id": f"k{i}", "n": i} for i in range(5)]
