"""`kvstore serve --data-dir`: what was acknowledged survives a stop, a kill, a torn tail.

Each test runs real servers (``python -m server serve``) on a temporary data
directory: write, stop (SIGTERM) or kill (SIGKILL), start again, compare.
A corrupt record in the middle of the log makes the server refuse to start,
saying so, unless ``--recover-corrupt`` asks it to recover up to the damage.
"""

import glob
import os

import pytest

TABLE = "durable"


def create(client, name=TABLE, **extra):
    return client.call(
        "CreateTable", TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        Tags=[{"Key": "team", "Value": "storage"}], **extra)


def item(i):
    return {"pk": {"S": f"p{i % 5}"}, "sk": {"N": str(i)}, "g": {"S": f"g{i % 2}"},
            "b": {"B": "AAEC"}, "ns": {"NS": ["1", "2.5"]}, "m": {"M": {"x": {"L": [{"NULL": True}]}}}}


def state(client):
    """What a client can see of the data: tables, descriptions, items, index entries."""
    names = client.call("ListTables")["TableNames"]
    out = {}
    for name in names:
        description = client.call("DescribeTable", TableName=name)["Table"]
        items = sorted(client.scan_all(name), key=lambda i: (i["pk"]["S"], i["sk"]["N"]))
        out[name] = (description, items)
        for index in description.get("GlobalSecondaryIndexes", ()):
            entries = client.scan_all(name, IndexName=index["IndexName"])
            out[f"{name}/{index['IndexName']}"] = sorted(entries, key=lambda i: (i["pk"]["S"], i["sk"]["N"]))
    return out


def populate(client):
    create(client)
    for i in range(40):
        client.call("PutItem", TableName=TABLE, Item=item(i))
    client.call("UpdateItem", TableName=TABLE, Key={"pk": {"S": "p1"}, "sk": {"N": "1"}},
                UpdateExpression="SET c = :one ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
    client.call("DeleteItem", TableName=TABLE, Key={"pk": {"S": "p2"}, "sk": {"N": "2"}})
    client.call("UpdateTable", TableName=TABLE,
                AttributeDefinitions=[{"AttributeName": "h", "AttributeType": "N"}],
                GlobalSecondaryIndexUpdates=[{"Create": {
                    "IndexName": "by_h", "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"}}}])
    client.call("PutItem", TableName=TABLE, Item=dict(item(100), h={"N": "7"}))
    client.call("UpdateTable", TableName=TABLE, DeletionProtectionEnabled=True)
    create(client, "other")
    client.call("PutItem", TableName="other", Item=item(1))
    client.call("DeleteTable", TableName="other")


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_recovery_after_a_stop_or_a_kill(tmp_path, servers, how):
    """Tables (DescribeTable identical: creation time, TableId, indexes), items and
    index entries are back after a clean stop and after SIGKILL."""
    first = servers(tmp_path)
    client = first.client()
    populate(client)
    before = state(client)
    client.close()
    assert (first.stop() if how == "stop" else first.kill()) == (0 if how == "stop" else -9)

    second = servers(tmp_path)
    assert "recovered 1 tables" in second.output
    client = second.client()
    assert state(client) == before
    # And it keeps working: a write after recovery, then another restart.
    client.call("PutItem", TableName=TABLE, Item=item(500))
    after = state(client)
    client.close()
    second.kill()
    third = servers(tmp_path)
    client = third.client()
    assert state(client) == after
    client.close()


def shard_of(partition_key):
    """The shard (worker) whose log holds items of this partition key."""
    from kvstore._core import Ring, encode_key_value, hash64
    from kvstore.database import VNODES

    count = int(os.environ.get("KVSTORE_TEST_WORKERS") or 1)
    return Ring(range(count), VNODES).owner(hash64(encode_key_value({"S": partition_key})))


def last_segment(data_dir):
    return sorted(glob.glob(os.path.join(str(data_dir), "shard-0", "wal-*.log")),
                  key=os.path.getsize)[-1]


def test_torn_last_record_is_kept_aside_and_reported(tmp_path, servers):
    """A crash in the middle of an append: everything before the torn record comes back."""
    first = servers(tmp_path)
    client = first.client()
    create(client)
    for i in range(10):
        client.call("PutItem", TableName=TABLE, Item=item(i))
    client.close()
    first.kill()
    path = last_segment(tmp_path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 7)

    second = servers(tmp_path)
    assert "torn tail" in second.output and "kept aside" in second.output
    client = second.client()
    items = client.scan_all(TABLE)
    assert sorted(int(i["sk"]["N"]) for i in items) == list(range(9))
    assert len(os.listdir(tmp_path / "damaged")) == 1
    client.close()


def test_corrupt_record_in_the_middle_refuses_to_start(tmp_path, servers):
    """Damage with records after it: refuse with a clear message; --recover-corrupt
    recovers every record before it and keeps the rest aside."""
    first = servers(tmp_path)
    client = first.client()
    create(client)
    for i in range(30):
        client.call("PutItem", TableName=TABLE, Item=item(i))
    client.close()
    first.stop()
    path = last_segment(tmp_path)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))

    refused = servers(tmp_path, expect_ready=False)
    assert refused.wait_exit() == 1
    assert "corrupt record" in refused.output and "--recover-corrupt" in refused.output
    assert "listening" not in refused.output

    second = servers(tmp_path, "--recover-corrupt")
    assert "recovered up to it" in second.output
    client = second.client()
    got = sorted(int(i["sk"]["N"]) for i in client.scan_all(TABLE))
    # Lost: a suffix of what shard 0 logged (every item, in one process;
    # its own partitions' items with --workers); the other shards lose nothing.
    logged = [i for i in range(30) if shard_of(f"p{i % 5}") == 0]
    lost = [i for i in range(30) if i not in got]
    assert 0 < len(got) < 30 and lost == logged[len(logged) - len(lost):]
    client.close()
    second.stop()
    # Recovered once: the log is clean again.
    third = servers(tmp_path)
    assert "corrupt record" not in third.output and "kept aside" not in third.output


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path, servers):
    first = servers(tmp_path)
    second = servers(tmp_path, expect_ready=False)
    assert second.wait_exit() == 1
    assert "is in use by another kvstore process" in second.output
    assert f"pid {first.proc.pid}" in second.output
    first.kill()
    servers(tmp_path)  # the lock dies with its process


def test_snapshots_bound_the_log_and_recover(tmp_path, servers):
    """With a small --snapshot-bytes, snapshots replace old segments; recovery is
    snapshot + the log after it."""
    first = servers(tmp_path, "--snapshot-bytes", "20000", "--fsync", "never")
    client = first.client()
    create(client)
    for i in range(600):
        client.call("PutItem", TableName=TABLE, Item=item(i))
    before = state(client)
    client.close()
    first.kill()
    shard = tmp_path / "shard-0"
    assert glob.glob(str(shard / "snapshot-*.kvs"))
    assert len(glob.glob(str(shard / "wal-*.log"))) <= 3
    second = servers(tmp_path)
    assert "1 snapshot" in second.output
    client = second.client()
    assert state(client) == before
    client.close()
