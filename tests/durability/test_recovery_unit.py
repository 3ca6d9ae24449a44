"""Snapshots, recovery and the data directory, below the API hooks.

The log is written by hand here (what the hooks in Table.write/remove and
the table operations append), then recovered into a fresh Database and
compared with the original: DescribeTable identical, every item back.
"""

import os

import pytest

import kvstore
from kvstore.datadir import CorruptData, DataDir, DataDirLocked
from kvstore.recovery import recover, reshard
from kvstore.snapshot import capture, load_snapshot, write_snapshot
from kvstore.wal import Log, Prepare, segment_name


def make_db():
    db = kvstore.Database()
    db.request("CreateTable", {
        "TableName": "tbl",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"}}],
        "BillingMode": "PAY_PER_REQUEST",
        "Tags": [{"Key": "a", "Value": "b"}],
    })
    return db


def items(n):
    return [{"pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)}, "g": {"S": f"g{i % 3}"}, "blob": {"B": b"\x01\x02"}}
            for i in range(n)]


def scan_all(db, index=None):
    req = {"TableName": "tbl"}
    if index:
        req["IndexName"] = index
    out = db.request("Scan", req)
    return sorted(out["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["N"]))


def log_db(log, db):
    table = db.tables["tbl"]
    log.table_created(table)
    for _t, _hk, _sk, item in (e for p in table.partitions.values() for e in p.scan()):
        from kvstore.values import item_size
        log.put("tbl", item, item_size(item))


def test_log_replay_rebuilds_tables_items_and_indexes(tmp_path):
    """Replaying CreateTable + Puts + Delete gives the same DescribeTable, items and GSI."""
    db = make_db()
    for item in items(50):
        db.request("PutItem", {"TableName": "tbl", "Item": item})
    key = {"pk": {"S": "p1"}, "sk": {"N": "1"}}
    datadir = DataDir(str(tmp_path))
    log = Log(datadir.shard_dir(0), 1, "always")
    log_db(log, db)
    db.request("DeleteItem", {"TableName": "tbl", "Key": key})
    log.delete("tbl", key)
    log.close()

    fresh = kvstore.Database()
    report, number, others = recover(fresh, datadir)
    assert (report.records, report.tables, report.items, number, others) == (52, 1, 49, 2, [])
    assert fresh.request("DescribeTable", {"TableName": "tbl"}) == db.request("DescribeTable", {"TableName": "tbl"})
    assert scan_all(fresh) == scan_all(db)
    assert scan_all(fresh, "by_g") == scan_all(db, "by_g")
    datadir.close()


def test_snapshot_round_trip_and_log_after_it(tmp_path):
    """A snapshot plus the segments after it recover everything."""
    db = make_db()
    for item in items(1200):  # more than one Items chunk
        db.request("PutItem", {"TableName": "tbl", "Item": item})
    datadir = DataDir(str(tmp_path))
    shard = datadir.shard_dir(0)
    write_snapshot(shard, 5, capture(db))
    state = load_snapshot(os.path.join(shard, "snapshot-%020d.kvs" % 5), 5)
    assert sum(len(i) for i, _ in state.tables[0][1]) == 1200
    log = Log(shard, 5, "always")
    extra = {"pk": {"S": "new"}, "sk": {"N": "0"}}
    db.request("PutItem", {"TableName": "tbl", "Item": extra})
    log.put("tbl", extra, 10)
    log.close()
    fresh = kvstore.Database()
    report, number, _ = recover(fresh, datadir)
    assert (report.snapshots, report.records, number) == (1, 1, 6)
    assert scan_all(fresh) == scan_all(db)
    assert fresh.request("DescribeTable", {"TableName": "tbl"})["Table"]["TableId"] == \
        db.tables["tbl"].table_id
    datadir.close()


# -- transactions across workers (server/cluster.py's two-phase commit) -----------------

PUT = {"Put": {"TableName": "tbl", "Item": {"pk": {"S": "x"}, "sk": {"N": "1"}}}}


def test_recovery_tells_undecided_transactions_from_resolved_ones(tmp_path):
    """A Prepare without its Resolved is undecided; a commit's Resolved is
    in the Atomic of its writes."""
    db = make_db()
    datadir = DataDir(str(tmp_path))
    log = Log(datadir.shard_dir(0), 1, "always")
    log_db(log, db)
    for txid in ("0.a.1", "0.a.2", "0.a.3"):
        log.prepare(txid, [PUT], txid == "0.a.3", [1, 2])
    with log.atomic():
        log.put("tbl", PUT["Put"]["Item"], 10)
        log.resolved("0.a.1", True)
    log.resolved("0.a.2", False)
    assert list(log.prepared) == ["0.a.3"]
    log.close()
    fresh = kvstore.Database()
    report, _, _ = recover(fresh, datadir)
    assert report.prepared == {"0.a.3": Prepare("0.a.3", [PUT], True, [1, 2])}
    assert report.committed == ["0.a.1"]
    assert fresh.tables["tbl"].item_count == 1  # the commit's write
    datadir.close()


def test_an_undecided_transaction_survives_a_snapshot(tmp_path):
    """A snapshot holds items only: the new segment starts with the
    undecided Prepare records (on disk before the old segments go)."""
    db = kvstore.Database(path=str(tmp_path), snapshot_bytes=0)
    db.wal.prepare("0.a.1", [PUT], False, [1, 2])
    db.wal.prepare("0.a.2", [PUT], False, [1, 2])
    db.wal.resolved("0.a.2", False)
    db.snapshot()
    shard = os.path.join(str(tmp_path), "shard-0")
    assert len([name for name in os.listdir(shard) if name.startswith("wal-")]) == 1
    db.close()
    datadir = DataDir(str(tmp_path))
    report, _, _ = recover(kvstore.Database(), datadir)
    assert list(report.prepared) == ["0.a.1"]
    datadir.close()


def test_resharding_drops_an_undecided_transaction_with_a_warning(tmp_path, caplog):
    """Nobody can be asked before the workers start: its part is aborted."""
    datadir = DataDir(str(tmp_path))
    log = Log(datadir.shard_dir(0), 1, "always")
    log_db(log, make_db())
    log.prepare("0.a.1", [PUT], False, [0, 1])
    log.close()
    reshard(datadir, 2)
    assert "transaction 0.a.1 was prepared and undecided" in caplog.text
    for shard in (0, 1):
        report, _, _ = recover(kvstore.Database(), datadir, shard)
        assert report.prepared == {}
    datadir.close()


def test_an_incomplete_snapshot_is_refused(tmp_path):
    db = make_db()
    datadir = DataDir(str(tmp_path))
    shard = datadir.shard_dir(0)
    path = write_snapshot(shard, 3, capture(db))
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:-5])
    with pytest.raises(CorruptData, match="snapshot .* is damaged"):
        recover(kvstore.Database(), datadir)
    datadir.close()


def test_corrupt_middle_refuses_and_recover_corrupt_keeps_the_prefix(tmp_path):
    """A damaged record with records after it: refuse; with the flag, recover up to it."""
    db = make_db()
    for item in items(20):
        db.request("PutItem", {"TableName": "tbl", "Item": item})
    datadir = DataDir(str(tmp_path))
    log = Log(datadir.shard_dir(0), 1, "always")
    log_db(log, db)
    log.close()
    path = os.path.join(datadir.shard_dir(0), segment_name(1))
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    with pytest.raises(CorruptData, match="--recover-corrupt"):
        recover(kvstore.Database(), datadir)
    fresh = kvstore.Database()
    report, _, _ = recover(fresh, datadir, recover_corrupt=True)
    assert 0 < fresh.tables["tbl"].item_count < 20
    assert report.problems and "kept aside" in report.problems[0]
    assert os.listdir(datadir.damaged_dir)
    # The log now ends where the damage was: a second recovery is clean.
    again = kvstore.Database()
    report2, _, _ = recover(again, datadir)
    assert report2.problems == [] and scan_all(again) == scan_all(fresh)
    datadir.close()


def test_torn_tail_is_kept_aside_and_cut(tmp_path):
    db = make_db()
    for item in items(5):
        db.request("PutItem", {"TableName": "tbl", "Item": item})
    datadir = DataDir(str(tmp_path))
    log = Log(datadir.shard_dir(0), 1, "always")
    log_db(log, db)
    log.close()
    path = os.path.join(datadir.shard_dir(0), segment_name(1))
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 3)
    fresh = kvstore.Database()
    report, _, _ = recover(fresh, datadir)
    assert fresh.tables["tbl"].item_count == 4
    assert len(report.problems) == 1 and "torn tail" in report.problems[0]
    assert [n for n in os.listdir(datadir.damaged_dir) if n.endswith(".torn")]
    datadir.close()


def test_a_second_user_of_the_data_directory_is_refused(tmp_path):
    """The LOCK file: a clear message naming the holder; released on close."""
    first = DataDir(str(tmp_path))
    with pytest.raises(DataDirLocked, match=rf"in use by another kvstore process \(pid {os.getpid()}\)"):
        DataDir(str(tmp_path))
    first.close()
    DataDir(str(tmp_path)).close()
