"""Snapshots: a shard's whole state in one file, written without stopping writes.

A snapshot numbered n holds every table (its definition, as the log's
``CreateTable`` carries it) and every item, and covers the log segments
below n: recovery loads the newest complete snapshot, then replays the
segments numbered n and up (``kvstore/recovery.py``).  Cross-worker
transactions prepared and undecided are not in it: the log's rotation
writes their ``Prepare`` records again at the start of segment n
(``kvstore/wal.py``).

How it runs without stopping writes (copy-on-write by immutability): items
are never changed in place -- every write stores a new dict -- so a list
of references to the items *is* a consistent view.  :func:`capture` takes
that list for every partition of every table, encodes the tables'
definitions, and rotates the log, all in one synchronous step on the
owner's thread (no write can come between); a background thread then
encodes and writes the file while the shard goes on serving.  When the file
is complete (written to ``.tmp``, fsynced, renamed, directory fsynced), the
segments and snapshots it replaces are deleted.

File: the log's framing (``kvstore/wal.py``) after the magic ``KVSSNP01``:
``Begin``, then per table its ``Table`` record and ``Items`` records of up
to ``CHUNK`` items (each with its size), then ``End`` with the counts.  A
file without its ``End``, or with any bad checksum, is not a snapshot.
"""

import logging
import os
import threading
import time

import msgspec

from .datadir import segments, snapshots
from .values import item_size
from .wal import _fsync_dir, frame, read_segment, table_meta

__all__ = ["Begin", "Table", "Items", "End", "capture", "write_snapshot", "load_snapshot", "Snapshotter"]

log = logging.getLogger("kvstore")

MAGIC = b"KVSSNP01"
CHUNK = 512
FORMAT = 1


class Begin(msgspec.Struct, tag=True, array_like=True):
    format: int
    number: int
    created: float


class Table(msgspec.Struct, tag=True, array_like=True):
    meta: dict


class Items(msgspec.Struct, tag=True, array_like=True):
    table: str
    items: list[dict]
    sizes: list[int]


class End(msgspec.Struct, tag=True, array_like=True):
    tables: int
    items: int


SnapshotRecord = Begin | Table | Items | End
_decoder = msgspec.msgpack.Decoder(SnapshotRecord)


def snapshot_name(number):
    return f"snapshot-{number:020d}.kvs"


def capture(db):
    """[(name, encoded Table record, [items])] of every table: a consistent view."""
    encode = msgspec.msgpack.encode
    view = []
    for table in db.tables.values():
        items = []
        for partition in table.partitions.values():
            items.extend([entry[3] for entry in partition.scan()])
        view.append((table.name, encode(Table(table_meta(table))), items))
    return view


def write_snapshot(directory, number, view):
    """Write ``view`` (from :func:`capture`) as snapshot ``number``; its path."""
    encode = msgspec.msgpack.Encoder().encode
    final = os.path.join(directory, snapshot_name(number))
    tmp = final + ".tmp"
    total = 0
    with open(tmp, "wb") as f:
        f.write(MAGIC)
        f.write(frame(encode(Begin(FORMAT, number, time.time()))))
        for name, meta_payload, items in view:
            f.write(frame(meta_payload))
            for i in range(0, len(items), CHUNK):
                chunk = items[i:i + CHUNK]
                f.write(frame(encode(Items(name, chunk, [item_size(item) for item in chunk]))))
            total += len(items)
        f.write(frame(encode(End(len(view), total))))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(directory)
    return final


class SnapshotState(msgspec.Struct):
    number: int
    tables: list       # [(meta, [(items, sizes), ...])]


def load_snapshot(path, number):
    """The snapshot's contents, or raise ValueError saying what is wrong."""
    segment = read_segment(path, number, decoder=_decoder, magic=MAGIC)
    if segment.damage is not None:
        raise ValueError(segment.damage.describe())
    records = segment.records
    if not records or type(records[0]) is not Begin:
        raise ValueError(f"{path} does not start with a snapshot header")
    if type(records[-1]) is not End:
        raise ValueError(f"{path} is incomplete (no end record)")
    tables = []
    items = 0
    for record in records[1:-1]:
        if type(record) is Table:
            tables.append((record.meta, []))
        elif type(record) is Items and tables and tables[-1][0]["name"] == record.table:
            tables[-1][1].append((record.items, record.sizes))
            items += len(record.items)
        else:
            raise ValueError(f"{path} holds an unexpected record {type(record).__name__}")
    end = records[-1]
    if end.tables != len(tables) or end.items != items:
        raise ValueError(f"{path} holds {len(tables)} tables and {items} items, its end record says "
                         f"{end.tables} and {end.items}")
    return SnapshotState(number, tables)


def remove_covered(directory, number):
    """Delete the segments and snapshots snapshot ``number`` replaces."""
    for n, path in segments(directory):
        if n < number:
            os.unlink(path)
    for n, path in snapshots(directory):
        if n < number:
            os.unlink(path)
    for name in os.listdir(directory):
        if name.endswith(".kvs.tmp"):
            os.unlink(os.path.join(directory, name))
    _fsync_dir(directory)


class Snapshotter:
    """Takes a snapshot of ``db`` when its log has grown by ``threshold``
    bytes since the last one; one at a time, in a background thread."""

    def __init__(self, db, wal, directory, threshold):
        self.db = db
        self.wal = wal
        self.directory = directory
        self.threshold = threshold
        self.thread = None
        self.taken = 0
        self.failed = None

    def due(self):
        return (self.threshold and self.wal.since_snapshot >= self.threshold
                and (self.thread is None or not self.thread.is_alive()))

    def start(self, wait=False):
        """Capture now, write in the background (or now, with ``wait``)."""
        self.join()
        view = capture(self.db)
        number = self.wal.rotate()
        if wait:
            self._write(number, view)
            if self.failed is not None:
                raise self.failed
            return
        self.thread = threading.Thread(target=self._write, args=(number, view),
                                       name="kvstore-snapshot", daemon=True)
        self.thread.start()

    def _write(self, number, view):
        try:
            write_snapshot(self.directory, number, view)
            remove_covered(self.directory, number)
            self.taken += 1
            self.failed = None
        except Exception as exc:  # disk full and the like: keep the log, try again later
            self.failed = exc
            log.error("kvstore: snapshot %d in %s failed: %s", number, self.directory, exc)

    def join(self):
        if self.thread is not None:
            self.thread.join()
            self.thread = None
