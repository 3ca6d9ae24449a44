"""Capacity arithmetic and the token buckets, with an injected clock (no sleeping)."""

import pytest

import kvstore
from kvstore.capacity import (
    BURST_SECONDS, INDEX_THROTTLED, TABLE_THROTTLED, TokenBucket, index_write_units, read_units, write_units,
)
from kvstore.errors import ProvisionedThroughputExceededException


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_read_units_round_up_to_4kb_and_halve_when_eventually_consistent():
    # DynamoDB: a 3,500-byte item costs what a 4 KB item costs; 0 bytes still costs a unit.
    assert read_units(0) == 1.0
    assert read_units(3500) == 1.0
    assert read_units(4096) == 1.0
    assert read_units(4097) == 2.0
    assert read_units(3500, consistent=False) == 0.5
    assert read_units(4097, consistent=False) == 1.0
    # The Developer Guide's example: an 8 KB item read eventually consistent costs 1 RCU.
    assert read_units(8 * 1024, consistent=False) == 1.0


def test_write_units_round_up_to_1kb():
    # DynamoDB: a 500-byte item costs 1 WCU, a 3.5 KB item 4 WCUs.
    assert write_units(0) == 1.0
    assert write_units(500) == 1.0
    assert write_units(1024) == 1.0
    assert write_units(1025) == 2.0
    assert write_units(3500) == 4.0


def _gsi_table(projection="ALL"):
    db = kvstore.Database()
    proj = {"ProjectionType": projection}
    if projection == "INCLUDE":
        proj["NonKeyAttributes"] = ["p"]
    db.request("CreateTable", {
        "TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": proj}],
    })
    table = db.tables["tbl"]
    return table, table.global_indexes[0]


def test_index_write_units_follow_the_entry_not_the_item():
    table, index = _gsi_table("INCLUDE")
    hk, sk = b"k", b""
    small = {"id": {"S": "k"}, "g": {"S": "a"}, "p": {"S": "x"}}
    big_other = dict(small, o={"S": "y" * 3000})  # not projected
    moved = dict(small, g={"S": "b"})
    grown = dict(small, p={"S": "z" * 2000})
    no_key = {"id": {"S": "k"}, "p": {"S": "x"}}
    assert index_write_units(index, None, small, hk, sk) == 1.0          # joins
    assert index_write_units(index, small, None, hk, sk) == 1.0          # leaves
    assert index_write_units(index, None, no_key, hk, sk) is None        # never in it
    assert index_write_units(index, small, big_other, hk, sk) is None    # entry unchanged
    assert index_write_units(index, small, moved, hk, sk) == 2.0         # moves: both halves
    assert index_write_units(index, small, grown, hk, sk) == 2.0         # in place: the larger


def test_token_bucket_refills_up_to_300_seconds_of_units():
    clock = Clock()
    bucket = TokenBucket(5, clock)
    assert bucket.capacity == 5 * BURST_SECONDS
    assert bucket.tokens == 1500
    bucket.consume(1600)  # a large request may take the bucket into debt
    assert not bucket.available()
    clock.now += 19.9
    assert not bucket.available()
    clock.now += 0.2
    assert bucket.available()
    clock.now += 10_000
    assert bucket.refill() == 1500  # never more than the burst allowance


def test_token_bucket_rate_change_takes_effect_at_once():
    clock = Clock()
    bucket = TokenBucket(10, clock)
    bucket.set_rate(1)
    assert bucket.tokens == 300  # clipped to the new burst capacity
    bucket.consume(300)
    clock.now += 1
    assert bucket.refill() == pytest.approx(1)


def _provisioned(db, name="prov", rcu=1, wcu=1, gsi_wcu=None):
    req = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu},
    }
    if gsi_wcu is not None:
        req["AttributeDefinitions"].append({"AttributeName": "g", "AttributeType": "S"})
        req["GlobalSecondaryIndexes"] = [{
            "IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 100, "WriteCapacityUnits": gsi_wcu},
        }]
    db.request("CreateTable", req)


def _put(db, name, key, size=10, **extra):
    item = {"id": {"S": key}, "v": {"S": "x" * size}}
    item.update(extra)
    return db.request("PutItem", {"TableName": name, "Item": item})


def test_throttling_spends_the_burst_then_refuses_until_refilled():
    clock = Clock()
    db = kvstore.Database(enforce_throughput=True, clock=clock)
    _provisioned(db, wcu=1)
    _put(db, "prov", "big", size=299 * 1024)  # 300 WCUs: the whole burst
    with pytest.raises(ProvisionedThroughputExceededException) as info:
        _put(db, "prov", "small")
    assert info.value.message == TABLE_THROTTLED
    clock.now += 1.5
    _put(db, "prov", "small")  # one second of units came back


def test_throttling_reads_and_writes_have_separate_buckets():
    clock = Clock()
    db = kvstore.Database(enforce_throughput=True, clock=clock)
    _provisioned(db, rcu=1, wcu=1)
    _put(db, "prov", "big", size=299 * 1024)
    # Strongly consistent read of a 300 KB item: 75 RCUs, within the 300-unit burst.
    db.request("GetItem", {"TableName": "prov", "Key": {"id": {"S": "big"}}, "ConsistentRead": True})
    for _ in range(3):
        db.request("GetItem", {"TableName": "prov", "Key": {"id": {"S": "big"}}, "ConsistentRead": True})
    with pytest.raises(ProvisionedThroughputExceededException):
        db.request("GetItem", {"TableName": "prov", "Key": {"id": {"S": "big"}}})


def test_throttling_a_gsi_refuses_writes_to_its_table():
    clock = Clock()
    db = kvstore.Database(enforce_throughput=True, clock=clock)
    _provisioned(db, wcu=1000, gsi_wcu=1)
    _put(db, "prov", "a", size=299 * 1024, g={"S": "x"})
    with pytest.raises(ProvisionedThroughputExceededException) as info:
        _put(db, "prov", "b", g={"S": "y"})
    assert info.value.message == INDEX_THROTTLED


def test_update_table_throughput_takes_effect_at_once():
    clock = Clock()
    db = kvstore.Database(enforce_throughput=True, clock=clock)
    _provisioned(db, wcu=1)
    _put(db, "prov", "big", size=299 * 1024)
    with pytest.raises(ProvisionedThroughputExceededException):
        _put(db, "prov", "small")
    db.request("UpdateTable", {"TableName": "prov",
                               "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 100}})
    clock.now += 0.05  # 5 units at the new rate
    _put(db, "prov", "small")


def test_pay_per_request_and_disabled_enforcement_never_throttle():
    clock = Clock()
    db = kvstore.Database(enforce_throughput=True, clock=clock)
    db.request("CreateTable", {
        "TableName": "ond", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    })
    off = kvstore.Database(clock=clock)
    _provisioned(off, wcu=1)
    for i in range(5):
        _put(db, "ond", str(i), size=300 * 1024)
        _put(off, "prov", str(i), size=300 * 1024)
