"""``kvstore.Database(path=...)``: the embedded engine on a data directory.

The same log, snapshots and recovery as ``kvstore serve --data-dir``; each
``db.request`` is durable per the fsync policy before it returns.  Also
here: a data directory written by another number of shards is recovered
whole (items routed by key), and transactions' writes are one record.
"""

import os

import pytest

import kvstore
from kvstore.datadir import DataDir, DataDirLocked
from kvstore.wal import Atomic, Log, atomic, read_segment
from server.cli import main

KEY = [{"AttributeName": "id", "KeyType": "HASH"}]
ATTRS = [{"AttributeName": "id", "AttributeType": "S"}]


def create(db, name="things", **extra):
    db.request("CreateTable", {"TableName": name, "KeySchema": KEY, "AttributeDefinitions": ATTRS,
                               "BillingMode": "PAY_PER_REQUEST", **extra})


def put(db, key, value, name="things"):
    db.request("PutItem", {"TableName": name, "Item": {"id": {"S": key}, "v": {"N": str(value)}}})


def items(db, name="things"):
    return sorted((i["id"]["S"], i["v"]["N"]) for i in db.request("Scan", {"TableName": name})["Items"])


@pytest.mark.parametrize("fsync", ["always", "batch", "never"])
def test_embedded_database_on_a_data_directory(tmp_path, fsync):
    """What one Database wrote, the next one on the same path reads back."""
    with kvstore.Database(path=tmp_path, fsync=fsync) as db:
        create(db)
        for i in range(20):
            put(db, f"k{i}", i)
        db.request("DeleteItem", {"TableName": "things", "Key": {"id": {"S": "k3"}}})
        db.request("TagResource", {"ResourceArn": db.tables["things"].arn,
                                   "Tags": [{"Key": "env", "Value": "test"}]})
        db.request("UpdateTimeToLive", {"TableName": "things", "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": "expires"}})
        described = db.request("DescribeTable", {"TableName": "things"})
        expected = items(db)
    with kvstore.Database(path=tmp_path) as db:
        assert db.request("DescribeTable", {"TableName": "things"}) == described
        assert items(db) == expected
        assert db.request("ListTagsOfResource", {"ResourceArn": db.tables["things"].arn})["Tags"] == [
            {"Key": "env", "Value": "test"}]
        assert db.request("DescribeTimeToLive", {"TableName": "things"})["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_stream_survives_with_its_arn(tmp_path):
    """An enabled stream is open again after recovery, same label and ARN (empty)."""
    with kvstore.Database(path=tmp_path) as db:
        create(db, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        put(db, "a", 1)
        arn = db.request("DescribeTable", {"TableName": "things"})["Table"]["LatestStreamArn"]
    with kvstore.Database(path=tmp_path) as db:
        assert db.request("DescribeTable", {"TableName": "things"})["Table"]["LatestStreamArn"] == arn
        put(db, "b", 2)
        assert db.tables["things"].stream is not None


def test_snapshot_then_more_writes(tmp_path):
    """db.snapshot() writes a snapshot and drops the log before it; the log after it is replayed."""
    with kvstore.Database(path=tmp_path) as db:
        create(db)
        for i in range(50):
            put(db, f"k{i}", i)
        db.snapshot()
        put(db, "after", 1)
        expected = items(db)
    shard = tmp_path / "shard-0"
    assert len([n for n in os.listdir(shard) if n.startswith("snapshot-")]) == 1
    with kvstore.Database(path=tmp_path) as db:
        assert items(db) == expected
        assert db.durable.report.snapshots == 1


def test_a_second_database_on_the_path_is_refused(tmp_path):
    with kvstore.Database(path=tmp_path):
        with pytest.raises(DataDirLocked, match="in use by another kvstore process"):
            kvstore.Database(path=tmp_path)
    kvstore.Database(path=tmp_path).close()


def test_another_shard_count_recovers_every_partition(tmp_path):
    """Two shard directories (as two workers leave them) recover into one
    shard: every item is routed by its key, and the layout is rewritten."""
    source = kvstore.Database()
    create(source)
    for i in range(40):
        put(source, f"k{i}", i)
    table = source.tables["things"]
    everything = [e[3] for p in table.partitions.values() for e in p.scan()]
    datadir = DataDir(str(tmp_path))
    for shard in (0, 1):
        log = Log(datadir.shard_dir(shard), 1, "always")
        log.table_created(table)
        for item in everything[shard::2]:
            log.put("things", item, 10)
        log.close()
    datadir.close()
    with kvstore.Database(path=tmp_path) as db:
        assert items(db) == items(source)
    assert sorted(os.listdir(tmp_path)) == ["LOCK", "shard-0"]
    with kvstore.Database(path=tmp_path) as db:
        assert items(db) == items(source)


def test_atomic_writes_are_one_record(tmp_path):
    """Writes made inside ``atomic(db)`` replay all or nothing (one Atomic record)."""
    with kvstore.Database(path=tmp_path) as db:
        create(db)
        with atomic(db):
            put(db, "a", 1)
            put(db, "b", 2)
        path = db.wal.path
    records = read_segment(path).records
    assert type(records[-1]) is Atomic and len(records[-1].records) == 2
    with kvstore.Database(path=tmp_path) as db:
        assert items(db) == [("a", "1"), ("b", "2")]


def test_fsync_without_data_dir_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--fsync", "always"])
    assert exit_info.value.code == 2
    assert "need --data-dir" in capsys.readouterr().err
