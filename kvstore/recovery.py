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

Transactions across workers (``server/cluster.py``): replay notes the
``Prepare`` records left without their ``Resolved`` (``Report.prepared``:
prepared here, undecided when the shard stopped) and the transactions the
log holds the commit of (``Report.committed``); the server prepares the
former again and resolves them by asking the other workers, and answers
"commit" for the latter when asked.  Re-sharding cannot ask anyone (it
runs before any worker starts): it drops an undecided transaction's part
with a warning.

Replay applies the records below the API: items go straight into the
partitions (and their indexes), bypassing ``Table.write``, so nothing
replayed is logged again or treated as a new change (streams).  Items are
placed by their key's token on the ring of the database recovering, which
is why a server restarted with another number of shards recovers every
partition: each shard directory is read and every item routed to its
owner.

Shards and re-sharding.  A server of N shards (``--workers N``; a single
process is N = 1) keeps shard k in ``shard-k`` (``datadir.py``): the items
shard k owns on ``Ring(range(N))`` -- a ring that depends on N alone -- and
every table's metadata (each shard logs every table change, so each
recovers the full catalog by itself).  Each shard recovers only its own
directory (:func:`recover`).  When the directory was written by another N,
:func:`reshard` changes the layout *offline*, before any shard starts (the
supervisor does it for its workers, :func:`open_durable` for a single
process), holding the lock:

1. every old ``shard-*`` is recovered on its own (snapshot + log, as above);
2. the tables are shard 0's (the shard that orders metadata changes, so the
   one whose log has every acknowledged one); an old shard's items of a
   table count only if its table is the same table (same TableId: not an
   older table of that name that shard missed the deletion of);
3. each item goes to its owner on the new ring, and each new shard's state
   is written as snapshot 1 of ``reshard.tmp/shard-k``, fsynced, with
   ``reshard.tmp/SHARDS`` saying N, and the directories fsynced;
4. commit: ``reshard.tmp`` is renamed ``reshard.new`` (one atomic rename,
   then the data directory fsynced);
5. switch (:func:`finish_reshard`): the old ``shard-*`` directories are
   removed, the new ones renamed into place, ``reshard.new`` removed.

A crash before step 4 leaves the old layout untouched (``reshard.tmp`` is
dropped at the next start); a crash after it leaves a committed
``reshard.new`` that the next start finishes switching in, whatever the
step 5 had done (an old directory is one whose number is >= N or still has
a replacement waiting in ``reshard.new``).  Nothing is served during a
re-shard, so nothing acknowledged can be lost or applied twice: at any
moment the data is either wholly in the old layout or wholly in the new.
"""

import logging
import os
import shutil
import time

import msgspec

from ._core import encode_key_value, hash64
from .datadir import (
    RESHARD_NEW, RESHARD_TMP, CorruptData, DataDir, DurabilityError, fsync_dir, segments, shard_dirs,
    snapshots,
)
from .schema import Table
from .snapshot import Snapshotter, load_snapshot, write_snapshot
from .snapshot import Table as SnapshotTable
from .wal import (
    FSYNC_POLICIES, Atomic, CreateTable, Delete, DropTable, Log, Prepare, Put, Resolved, UpdateTable,
    read_segment, table_meta,
)

__all__ = ["open_durable", "Durable", "Report", "recover", "apply_record", "build_table",
           "reshard", "finish_reshard", "same_table", "note_transaction", "DurabilityError", "CorruptData",
           "SNAPSHOT_BYTES"]

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
    resharded: str = ""    # what re-sharding did before (reshard), if it ran
    prepared: dict = msgspec.field(default_factory=dict)   # txid -> Prepare left undecided
    committed: list = msgspec.field(default_factory=list)  # txids of the commits replayed

    def summary(self):
        text = (f"recovered {self.tables} tables, {self.items} items from {self.path} "
                f"({self.snapshots} snapshot, {self.segments} log segments, {self.records} records "
                f"replayed) in {self.seconds:.2f}s")
        if self.resharded:
            text = f"{self.resharded}; {text}"
        return text


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
    elif kind is Prepare or kind is Resolved:
        pass  # no data: what they say is note_transaction's
    else:  # pragma: no cover - the decoder admits nothing else
        raise CorruptData(f"unknown log record {record!r}")


def note_transaction(report, record):
    """Keep ``report.prepared`` / ``report.committed`` up to date with
    ``record`` (a commit's ``Resolved`` is its ``Atomic``'s last record)."""
    kind = type(record)
    if kind is Atomic:
        record = record.records[-1]
        kind = type(record)
    if kind is Prepare:
        report.prepared[record.txid] = record
    elif kind is Resolved:
        report.prepared.pop(record.txid, None)
        if record.committed:
            report.committed.append(record.txid)


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
            note_transaction(report, record)
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
    """Recover shard directory ``shard`` of ``datadir`` into ``db``:
    ``(report, next segment number of this shard, the other shard
    directories)`` -- those are not read: each is another shard's (a
    different layout is :func:`reshard`'s business, before this)."""
    started = time.monotonic()
    report = Report(path=datadir.path)
    own = datadir.shard_dir(shard)
    next_number = recover_shard(db, datadir, own, report, recover_corrupt)
    others = [d for k, d in sorted(datadir.shard_dirs().items()) if d != own]
    report.tables = len(db.tables)
    report.items = sum(t.item_count for t in db.tables.values())
    report.seconds = time.monotonic() - started
    return report, next_number, others


# -- re-sharding ------------------------------------------------------------------


def same_table(a, b):
    """Whether tables ``a`` and ``b`` (same name) are one table, not a table
    and the one created again under its name after a deletion."""
    for field in ("table_id", "creation_date_time"):
        x, y = getattr(a, field, None), getattr(b, field, None)
        if x is not None and y is not None:
            return x == y
    return True


def finish_reshard(datadir):
    """Drop an uncommitted re-sharding; finish switching in a committed one.
    Idempotent: safe to run again after a crash anywhere inside it."""
    path = datadir.path
    tmp = os.path.join(path, RESHARD_TMP)
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
        fsync_dir(path)
    new = os.path.join(path, RESHARD_NEW)
    if not os.path.isdir(new):
        return False
    with open(os.path.join(new, "SHARDS")) as f:
        count = int(f.read())
    for k, directory in sorted(shard_dirs(path).items()):
        if k >= count or os.path.isdir(os.path.join(new, f"shard-{k}")):
            shutil.rmtree(directory)  # an old one (a new one was moved out of reshard.new)
    fsync_dir(path)
    for k in range(count):
        source = os.path.join(new, f"shard-{k}")
        if os.path.isdir(source):
            os.rename(source, os.path.join(path, f"shard-{k}"))
    fsync_dir(path)
    shutil.rmtree(new)
    fsync_dir(path)
    return True


def _drop_undecided(report, directory):
    """Re-sharding: the transactions ``directory``'s shard left prepared and
    undecided lose its part (nobody can be asked their outcome offline)."""
    for txid in report.prepared:
        log.warning("kvstore: transaction %s was prepared and undecided in %s when the worker count "
                    "changed; its part there is dropped (aborted)", txid, directory)
    report.prepared.clear()
    report.committed.clear()


def reshard(datadir, count, recover_corrupt=False):
    """Make ``datadir`` a layout of ``count`` shards (see the module's
    docstring); a line saying what was done, or None if nothing had to be."""
    from ._core import Ring
    from .database import VNODES, Database

    finish_reshard(datadir)
    dirs = datadir.shard_dirs()
    if set(dirs) == set(range(count)):
        return None
    if not any(os.listdir(d) for d in dirs.values()):
        for directory in dirs.values():
            os.rmdir(directory)
        for k in range(count):
            datadir.shard_dir(k)
        fsync_dir(datadir.path)
        return None
    started = time.monotonic()
    report = Report(path=datadir.path)
    old = {}
    for k in sorted(dirs):
        shard_db = Database()  # one shard owning every partition
        recover_shard(shard_db, datadir, dirs[k], report, recover_corrupt)
        _drop_undecided(report, dirs[k])
        reopen_streams(shard_db)
        old[k] = shard_db
    for problem in report.problems:
        log.warning("kvstore: %s", problem)
    authority = old[min(old)]
    ring = Ring(range(count), VNODES)
    views = [[] for _ in range(count)]
    encode = msgspec.msgpack.encode
    items = 0
    for name, table in authority.tables.items():
        per_shard = [[] for _ in range(count)]
        for shard_db in old.values():
            source = shard_db.tables.get(name)
            if source is None or not same_table(source, table):
                continue
            for partition in source.partitions.values():
                for token, _hk, _sk, item in partition.scan():
                    per_shard[ring.owner(token)].append(item)
                    items += 1
        payload = encode(SnapshotTable(table_meta(table)))
        for k in range(count):
            views[k].append((name, payload, per_shard[k]))
    tmp = os.path.join(datadir.path, RESHARD_TMP)
    os.mkdir(tmp)
    for k in range(count):
        directory = os.path.join(tmp, f"shard-{k}")
        os.mkdir(directory)
        write_snapshot(directory, 1, views[k])  # file and directory fsynced
    with open(os.path.join(tmp, "SHARDS"), "w") as f:
        f.write(f"{count}\n")
        f.flush()
        os.fsync(f.fileno())
    fsync_dir(tmp)
    os.rename(tmp, os.path.join(datadir.path, RESHARD_NEW))  # the commit point
    fsync_dir(datadir.path)
    finish_reshard(datadir)
    return (f"re-sharded {len(dirs)} shard directories into {count} ({len(authority.tables)} tables, "
            f"{items} items) in {time.monotonic() - started:.2f}s")


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


def open_durable(db, path, *, fsync="always", recover_corrupt=False, snapshot_bytes=SNAPSHOT_BYTES,
                 lock=True):
    """Lock ``path``, recover ``db`` from it and start logging; a :class:`Durable`.

    ``db`` is shard ``db.shard`` of ``len(db.ring.nodes)`` shards.  With
    ``lock`` (a single process) the layout is first made that count
    (:func:`reshard`); ``lock=False`` is a worker of ``--workers N``: its
    supervisor holds the lock and has re-sharded already.

    Raises :class:`DurabilityError` (``DataDirLocked``, ``CorruptData``) with
    a message meant for the user.
    """
    if fsync not in FSYNC_POLICIES:
        raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}: {fsync!r}")
    datadir = DataDir(path, lock=lock)
    try:
        shard = getattr(db, "shard", 0)
        resharded = None
        if lock:
            ring = getattr(db, "ring", None)
            resharded = reshard(datadir, len(ring.nodes) if ring is not None else 1, recover_corrupt)
        report, number, _others = recover(db, datadir, shard, recover_corrupt)
        report.resharded = resharded or ""
        reopen_streams(db)
        directory = datadir.shard_dir(shard)
        wal = Log(directory, number, fsync)
        snapshotter = Snapshotter(db, wal, directory, snapshot_bytes)
    except BaseException:
        datadir.close()
        raise
    for problem in report.problems:
        log.warning("kvstore: %s", problem)
    return Durable(db, datadir, wal, snapshotter, report)
