"""Recovery, and the durable store a Database with a data directory runs on.

:func:`open_durable` is what ``Database(path=...)`` and ``kvstore serve
--data-dir`` call before serving: lock the directory (``datadir.py``),
recover, open a fresh log segment and hand the log to the database.

Recovery, per shard directory: load the newest snapshot (``snapshot.py``),
then replay the log segments it does not cover, in order.  Where a segment
stops being readable (``wal.read_segment``):

* a torn tail in the last segment -- what a crash during an append leaves --
  is copied into ``damaged/``, cut off, and reported: the records before it
  are all recovered, the one cut short was never acknowledged;
* anything else (a bad record with data after it, a damaged older segment
  or snapshot) refuses to start with :class:`CorruptData`, which says where
  and what to do -- unless ``recover_corrupt`` is set: then recovery keeps
  everything before the damage, moves the rest (of that segment and every
  later one) into ``damaged/``, and says what it dropped.

Replay applies the records below the API: items go straight into the
partitions (and their indexes), bypassing ``Table.write``, so nothing
replayed is logged again or treated as a new change (streams).  Items are
placed by their key's token on the ring of the database recovering, which
is why a server restarted with another number of shards recovers every
partition: each shard directory is read and every item routed to its
owner; when the layout had other shard directories, a snapshot in the new
layout is written at once and the old directories are removed.
"""

import logging
import os
import shutil
import time

import msgspec

from ._core import encode_key_value, hash64
from .datadir import CorruptData, DataDir, DurabilityError, segments, snapshots
from .schema import Table
from .snapshot import Snapshotter, load_snapshot, remove_covered, snapshot_name, write_snapshot, capture
from .wal import (
    FSYNC_POLICIES, TABLE_FIELDS, Atomic, CreateTable, Delete, DropTable, Log, Put, UpdateTable,
    read_segment,
)

__all__ = ["open_durable", "Durable", "Report", "recover", "apply_record", "build_table",
           "DurabilityError", "CorruptData", "SNAPSHOT_BYTES"]

log = logging.getLogger("kvstore")

# Take a snapshot once the log has grown by this much since the last one.
SNAPSHOT_BYTES = 64 * 1024 * 1024

_CONSTRUCTOR = (
    "billing_mode", "provisioned_throughput", "local_secondary_indexes", "global_secondary_indexes",
    "stream_specification", "table_class", "deletion_protection", "tags", "sse_specification",
    "region", "account_id",
)


class Report(msgspec.Struct):
    """What recovery did, for the log line and the tests."""

    path: str = ""
    snapshots: int = 0
    segments: int = 0
    records: int = 0
    tables: int = 0
    items: int = 0
    seconds: float = 0.0
    problems: list = msgspec.field(default_factory=list)   # what was kept aside, one line each

    def summary(self):
        return (f"recovered {self.tables} tables, {self.items} items from {self.path} "
                f"({self.snapshots} snapshot, {self.segments} log segments, {self.records} records "
                f"replayed) in {self.seconds:.2f}s")


# -- applying records -----------------------------------------------------------


_NOT_ATTRIBUTES = ("name", "key_schema", "attribute_definitions", "stream_created")


def build_table(meta):
    """A Table exactly as it was defined (creation time and TableId included)."""
    kwargs = {name: meta[name] for name in _CONSTRUCTOR if name in meta}
    table = Table(meta["name"], meta["key_schema"], meta["attribute_definitions"], **kwargs)
    for name, value in meta.items():
        if name not in _NOT_ATTRIBUTES and name not in kwargs:
            setattr(table, name, value)
    table.stream_created = meta.get("stream_created")
    return table


def reopen_streams(db):
    """Open again, under their old label and ARN, the streams enabled when
    the log was written (empty: stream records do not survive a restart)."""
    store = getattr(db, "streams", None)
    if store is None:
        return
    from .streams import Stream

    for table in db.tables.values():
        created = getattr(table, "stream_created", None)
        spec = table.stream_specification
        if created is None or not spec or not spec.get("StreamEnabled") or table.stream is not None:
            continue
        stream = Stream(store, table, spec["StreamViewType"], created)
        store.streams[stream.arn] = stream
        table.stream = table.latest_stream = stream


def _owned_partition(table, key_item):
    hk = encode_key_value(key_item[table.hash_key])
    token = hash64(hk)
    partition = table.partitions.get(table.ring.partition_of(token))
    if partition is None:
        return None  # another shard's item
    range_key = table.range_key
    sk = encode_key_value(key_item[range_key]) if range_key is not None else b""
    return partition, token, hk, sk


def raw_put(table, item, size):
    loc = _owned_partition(table, item)
    if loc is None:
        return
    partition, token, hk, sk = loc
    old = partition.put(token, hk, sk, item, size)
    if table.indexes:
        table._update_indexes(token, hk, sk, old, item, size)


def raw_delete(table, key):
    loc = _owned_partition(table, key)
    if loc is None:
        return
    partition, token, hk, sk = loc
    old = partition.delete(hk, sk)
    if old is not None and table.indexes:
        table._update_indexes(token, hk, sk, old, None, 0)


def _update_table(db, meta):
    table = db.tables[meta["name"]]
    old = [d["IndexName"] for d in table.global_secondary_indexes or ()]
    new = [d["IndexName"] for d in meta.get("global_secondary_indexes") or ()]
    if old != new:
        # An index created or deleted: rebuild the table with its items.
        rebuilt = build_table(meta)
        db.drop_table(table.name)
        db.add_table(rebuilt)
        for partition in table.partitions.values():
            for _token, _hk, _sk, item in partition.scan():
                raw_put(rebuilt, item, item_size_of(item))
        return
    for name, value in meta.items():
        if name not in _NOT_ATTRIBUTES:
            setattr(table, name, value)
    table.attribute_definitions = meta["attribute_definitions"]
    table.stream_created = meta.get("stream_created")
    table.types.clear()
    table.types.update({d["AttributeName"]: d["AttributeType"] for d in table.attribute_definitions})
    by_name = {d["IndexName"]: d for d in table.global_secondary_indexes or ()}
    for index in table.global_indexes:
        index.definition = by_name[index.name]
    by_name = {d["IndexName"]: d for d in table.local_secondary_indexes or ()}
    for index in table.local_indexes:
        index.definition = by_name[index.name]
    table._refresh_indexes()


def item_size_of(item):
    from .values import item_size

    return item_size(item)


def apply_record(db, record):
    """Redo one log record on ``db`` (below the API: nothing is logged)."""
    kind = type(record)
    if kind is Put:
        raw_put(_table(db, record.table), record.item, record.size)
    elif kind is Delete:
        raw_delete(_table(db, record.table), record.key)
    elif kind is Atomic:
        for inner in record.records:
            apply_record(db, inner)
    elif kind is CreateTable:
        if record.meta["name"] not in db.tables:
            db.add_table(build_table(record.meta))
    elif kind is UpdateTable:
        _update_table(db, record.meta)
    elif kind is DropTable:
        if record.name in db.tables:
            db.drop_table(record.name)
    else:  # pragma: no cover - the decoder admits nothing else
        raise CorruptData(f"unknown log record {record!r}")


def _table(db, name):
    table = db.tables.get(name)
    if table is None:
        raise KeyError(name)
    return table


# -- recovery ---------------------------------------------------------------------


def _load_snapshot(db, directory, report, recover_corrupt):
    """Load the newest readable snapshot; its number (0 if none)."""
    found = snapshots(directory)
    for number, path in reversed(found):
        try:
            state = load_snapshot(path, number)
        except (ValueError, OSError) as exc:
            if not recover_corrupt:
                raise CorruptData(
                    f"the snapshot {path} is damaged: {exc}. Start with --recover-corrupt to recover "
                    "from an older snapshot and the log, losing what only this snapshot held"
                ) from None
            aside = path + ".damaged"
            os.replace(path, aside)
            report.problems.append(f"damaged snapshot {path} moved to {aside}: {exc}")
            continue
        for meta, chunks in state.tables:
            existing = db.tables.get(meta["name"])
            table = existing if existing is not None else build_table(meta)
            if existing is None:
                db.add_table(table)
            for items, sizes in chunks:
                for item, size in zip(items, sizes):
                    raw_put(table, item, size)
        report.snapshots += 1
        return number
    return 0


def recover_shard(db, datadir, directory, report, recover_corrupt=False):
    """Recover one shard directory into ``db``; the next free segment number."""
    start = _load_snapshot(db, directory, report, recover_corrupt)
    found = [(n, p) for n, p in segments(directory) if n >= start]
    last_number = max([start - 1] + [n for n, _ in segments(directory)])
    for i, (number, path) in enumerate(found):
        segment = read_segment(path, number)
        for j, record in enumerate(segment.records):
            try:
                apply_record(db, record)
            except KeyError as exc:
                raise CorruptData(
                    f"the log {path} refers to table {exc.args[0]!r}, which does not exist at record {j}"
                ) from None
        report.records += len(segment.records)
        report.segments += 1
        damage = segment.damage
        if damage is None:
            continue
        is_last = i == len(found) - 1
        if damage.torn and is_last:
            aside = datadir.keep_aside(path, damage.offset, "torn")
            _truncate(path, damage.offset)
            report.problems.append(f"{damage.describe()}; kept aside in {aside}")
            continue
        if not recover_corrupt:
            later = len(found) - 1 - i
            raise CorruptData(
                f"the write-ahead log is damaged: {damage.describe()}"
                + (f", and {later} later log segments follow" if later else "")
                + ". Refusing to start: records after the damage would be lost. Start with "
                "--recover-corrupt to recover every record before it (the rest is kept in "
                f"{os.path.join(datadir.path, 'damaged')})"
            )
        aside = datadir.keep_aside(path, damage.offset, "corrupt")
        _truncate(path, damage.offset)
        report.problems.append(f"{damage.describe()}; recovered up to it, the rest kept aside in {aside}")
        for _n, later_path in found[i + 1:]:
            moved = datadir.keep_aside(later_path, 0, "after-corrupt")
            os.unlink(later_path)
            report.problems.append(f"later log segment {later_path} not replayed; kept aside in {moved}")
        break
    return last_number + 1


def _truncate(path, offset):
    with open(path, "r+b") as f:
        f.truncate(offset)
        f.flush()
        os.fsync(f.fileno())


def recover(db, datadir, shard=0, recover_corrupt=False):
    """Recover every shard directory of ``datadir`` into ``db``:
    ``(report, next segment number of this shard, other shard directories)``."""
    started = time.monotonic()
    report = Report(path=datadir.path)
    own = datadir.shard_dir(shard)
    dirs = datadir.shard_dirs()
    next_number = 1
    others = []
    for k in sorted(dirs):
        number = recover_shard(db, datadir, dirs[k], report, recover_corrupt)
        if dirs[k] == own:
            next_number = number
        else:
            others.append(dirs[k])
    report.tables = len(db.tables)
    report.items = sum(t.item_count for t in db.tables.values())
    report.seconds = time.monotonic() - started
    return report, next_number, others


# -- the durable store ------------------------------------------------------------


class Durable:
    """A database's data directory, log and snapshots, open and locked."""

    def __init__(self, db, datadir, wal, snapshotter, report):
        self.db = db
        self.datadir = datadir
        self.wal = wal
        self.snapshotter = snapshotter
        self.report = report

    def commit(self):
        """After a request (embedded): make its records durable per the policy."""
        self.wal.commit()
        if self.snapshotter.due():
            self.snapshotter.start()

    def maybe_snapshot(self):
        if self.snapshotter.due():
            self.snapshotter.start()

    def snapshot(self, wait=True):
        """Take a snapshot now (and wait for it, by default)."""
        self.snapshotter.start(wait=wait)

    def close(self):
        try:
            self.snapshotter.join()
            self.wal.close()
        finally:
            self.datadir.close()


def open_durable(db, path, *, fsync="always", recover_corrupt=False, snapshot_bytes=SNAPSHOT_BYTES):
    """Lock ``path``, recover ``db`` from it and start logging; a :class:`Durable`.

    Raises :class:`DurabilityError` (``DataDirLocked``, ``CorruptData``) with
    a message meant for the user.
    """
    if fsync not in FSYNC_POLICIES:
        raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}: {fsync!r}")
    datadir = DataDir(path)
    try:
        shard = getattr(db, "shard", 0)
        report, number, others = recover(db, datadir, shard, recover_corrupt)
        reopen_streams(db)
        directory = datadir.shard_dir(shard)
        if others:
            # Another layout (another shard count): write this shard's state
            # in the new one before the old directories go.
            write_snapshot(directory, number, capture(db))
            remove_covered(directory, number)
            for other in others:
                shutil.rmtree(other)
            number += 1
        wal = Log(directory, number, fsync)
        snapshotter = Snapshotter(db, wal, directory, snapshot_bytes)
    except BaseException:
        datadir.close()
        raise
    for problem in report.problems:
        log.warning("kvstore: %s", problem)
    return Durable(db, datadir, wal, snapshotter, report)
