"""UpdateTimeToLive / DescribeTimeToLive (embedded and over HTTP) and the TTL sweeper.

The sweeper is driven with ``db.sweep_ttl(now=...)`` embedded; one test runs
a server with a short ``--ttl-interval`` and waits (bounded) for it.
"""

import time


import kvstore
from kvstore.ttl import FIVE_YEARS_SECONDS

from test_streams import boto_client, drop_tables  # noqa: F401 (autouse fixture)

from api_helpers import raises

SERVICE = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}


def _spec(enabled, name="exp"):
    return {"Enabled": enabled, "AttributeName": name}


def test_describe_time_to_live_disabled_by_default(ddb, make_table):
    # A new table's TTL is DISABLED, with no attribute name.
    name = make_table()
    assert ddb.call("DescribeTimeToLive", TableName=name) == {
        "TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}


def test_update_time_to_live_enables(ddb, make_table):
    # Enabling answers the specification and DescribeTimeToLive shows it ENABLED.
    name = make_table()
    out = ddb.call("UpdateTimeToLive", TableName=name, TimeToLiveSpecification=_spec(True))
    assert out == {"TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}
    assert ddb.call("DescribeTimeToLive", TableName=name) == {
        "TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}}


def test_update_time_to_live_rules(ddb, make_table):
    # Enabling twice, another attribute, disabling when disabled, and a change within the hour are refused.
    name = make_table()
    raises(ddb, "ValidationException", "TimeToLive is already disabled", "UpdateTimeToLive",
           TableName=name, TimeToLiveSpecification=_spec(False))
    ddb.call("UpdateTimeToLive", TableName=name, TimeToLiveSpecification=_spec(True))
    raises(ddb, "ValidationException", "TimeToLive is already enabled", "UpdateTimeToLive",
           TableName=name, TimeToLiveSpecification=_spec(True))
    raises(ddb, "ValidationException", "TimeToLive is active on a different AttributeName: current AttributeName is exp",
           "UpdateTimeToLive", TableName=name, TimeToLiveSpecification=_spec(True, "other"))
    raises(ddb, "ValidationException", "TimeToLive is active on a different AttributeName: current AttributeName is exp",
           "UpdateTimeToLive", TableName=name, TimeToLiveSpecification=_spec(False, "other"))
    raises(ddb, "ValidationException", "Time to live has been modified multiple times within a fixed interval",
           "UpdateTimeToLive", TableName=name, TimeToLiveSpecification=_spec(False))


def test_update_time_to_live_validation(ddb, make_table):
    # The specification and its members are required; the table must exist.
    name = make_table()
    raises(ddb, "ValidationException",
           "1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: "
           "Member must not be null", "UpdateTimeToLive", TableName=name)
    raises(ddb, "ValidationException",
           "2 validation errors detected: Value null at 'timeToLiveSpecification.enabled' failed to satisfy "
           "constraint: Member must not be null; Value null at 'timeToLiveSpecification.attributeName' failed to "
           "satisfy constraint: Member must not be null", "UpdateTimeToLive", TableName=name,
           TimeToLiveSpecification={})
    raises(ddb, "ResourceNotFoundException", "Requested resource not found: Table: nosuchtable not found",
           "UpdateTimeToLive", TableName="nosuchtable", TimeToLiveSpecification=_spec(True))
    raises(ddb, "ResourceNotFoundException", "Requested resource not found: Table: nosuchtable not found",
           "DescribeTimeToLive", TableName="nosuchtable")


# -- the sweeper (embedded, injected clock) -----------------------------------------


def _ttl_db(view_type="NEW_AND_OLD_IMAGES"):
    db = kvstore.Database()
    now = [1_700_000_000.0]
    db.wall_clock = lambda: now[0]
    db.create_table("ttltable", "id", StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})
    db.request("UpdateTimeToLive", {"TableName": "ttltable", "TimeToLiveSpecification": _spec(True)})
    return db, now


def _records(db):
    arn = db.request("DescribeTable", {"TableName": "ttltable"})["Table"]["LatestStreamArn"]
    records = []
    for shard in db.streams_request("DescribeStream", {"StreamArn": arn})["StreamDescription"]["Shards"]:
        it = db.streams_request("GetShardIterator", {"StreamArn": arn, "ShardId": shard["ShardId"],
                                                     "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        records.extend(db.streams_request("GetRecords", {"ShardIterator": it})["Records"])
    return records


def test_sweep_deletes_expired_items_only():
    # Past numbers expire; future ones, non-numbers, missing and >5-year-old values stay.
    db, now = _ttl_db()
    t = now[0]
    table = db.table("ttltable")
    table.put({"id": "past", "exp": int(t - 10)})
    table.put({"id": "future", "exp": int(t + 1000)})
    table.put({"id": "string", "exp": str(int(t - 10))})
    table.put({"id": "set", "exp": {int(t - 10)}})
    table.put({"id": "none"})
    table.put({"id": "ancient", "exp": int(t - FIVE_YEARS_SECONDS - 10)})
    table.put({"id": "millis", "exp": int((t - 10) * 1000)})  # far future in seconds
    assert table.get({"id": "past"}) is not None  # readable until swept
    assert db.sweep_ttl() == (1, True)
    assert table.get({"id": "past"}) is None
    left = sorted(i["id"] for i in table.scan())
    assert left == ["ancient", "future", "millis", "none", "set", "string"]
    now[0] += 2000
    assert db.sweep_ttl() == (1, True)
    assert table.get({"id": "future"}) is None


def test_sweep_emits_service_remove_records():
    # A TTL deletion is a REMOVE record with the service's userIdentity; user deletes have none.
    db, now = _ttl_db()
    table = db.table("ttltable")
    table.put({"id": "a", "exp": int(now[0] - 1)})
    table.put({"id": "b"})
    table.delete({"id": "b"})
    db.sweep_ttl()
    removes = [r for r in _records(db) if r["eventName"] == "REMOVE"]
    by_key = {r["dynamodb"]["Keys"]["id"]["S"]: r for r in removes}
    assert by_key["a"]["userIdentity"] == SERVICE
    assert by_key["a"]["dynamodb"]["OldImage"]["exp"] == {"N": str(int(now[0] - 1))}
    assert "userIdentity" not in by_key["b"]


def test_sweep_is_bounded_and_resumes():
    # A small budget examines a bounded number of items per call and resumes where it stopped.
    db, now = _ttl_db("KEYS_ONLY")
    table = db.table("ttltable")
    for i in range(100):
        table.put({"id": f"i{i}", "exp": int(now[0] - 1) if i % 2 else int(now[0] + 99)})
    total, calls = 0, 0
    while True:
        deleted, done = db.sweep_ttl(budget=7)
        total += deleted
        calls += 1
        assert deleted <= 7
        if done:
            break
    assert total == 50 and calls >= 100 // 7
    assert all(int(i["exp"]) > now[0] for i in table.scan())


def test_sweep_skips_disabled_tables_and_keeps_indexes_in_step():
    # Disabled TTL deletes nothing; a swept item leaves its GSI too.
    db = kvstore.Database()
    now = [1_700_000_000.0]
    db.wall_clock = lambda: now[0]
    db.create_table("gsittl", "id", AttributeDefinitions=[
        {"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    table = db.table("gsittl")
    table.put({"id": "x", "g": "G", "exp": int(now[0] - 5)})
    assert db.sweep_ttl() == (0, True)
    db.request("UpdateTimeToLive", {"TableName": "gsittl", "TimeToLiveSpecification": _spec(True)})
    assert db.sweep_ttl() == (1, True)
    out = db.request("Query", {"TableName": "gsittl", "IndexName": "byg", "KeyConditionExpression": "g = :g",
                               "ExpressionAttributeValues": {":g": {"S": "G"}}})
    assert out["Count"] == 0


def test_server_sweeps_on_its_own(server):
    # kvstore serve --ttl-interval deletes expired items in the background.
    srv = type(server)("--ttl-interval", "0.1")
    try:
        client = boto_client("dynamodb", srv.endpoint)
        client.create_table(TableName="swept", BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
        client.update_time_to_live(TableName="swept", TimeToLiveSpecification=_spec(True))
        client.put_item(TableName="swept", Item={"id": {"S": "gone"}, "exp": {"N": str(int(time.time()) - 5)}})
        client.put_item(TableName="swept", Item={"id": {"S": "kept"}, "exp": {"N": str(int(time.time()) + 3600)}})
        deadline = time.time() + 15
        while time.time() < deadline and "Item" in client.get_item(TableName="swept", Key={"id": {"S": "gone"}}):
            time.sleep(0.1)
        assert "Item" not in client.get_item(TableName="swept", Key={"id": {"S": "gone"}})
        assert "Item" in client.get_item(TableName="swept", Key={"id": {"S": "kept"}})
    finally:
        assert srv.stop() == 0
