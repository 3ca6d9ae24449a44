"""The write-ahead log of one shard: records, framing, the writer, the reader.

Every accepted write is appended here *after* it has been applied in memory
and *before* its answer leaves the server (``server/commit.py`` holds the
answers until the log is on disk, see DESIGN.md "Durability").

Records are physical redo records, msgspec tagged-union Structs (the shape of
msgspec's ``examples/asyncio-kv``), encoded with MessagePack:

* ``Put(table, item, size)`` -- the full image of an item after a write; its
  key is read back from the item on replay.  ``Delete(table, key)``.
* ``CreateTable(meta)`` / ``UpdateTable(meta)`` -- the table's whole
  definition (see :func:`table_meta`: creation time and TableId included, so
  DescribeTable answers the same after recovery; GSIs are in it, so an index
  created or deleted by UpdateTable is rebuilt by replay); ``DropTable(name)``.
* ``Atomic(records)`` -- several records that replay all or not at all: a
  transaction's writes (see :meth:`Log.atomic`).
* ``Prepare(txid, entries, partiql, participants)`` -- a cross-worker
  transaction prepared on this shard (``server/cluster.py``): what redoes
  its prepare after a restart.  ``Resolved(txid, committed)`` -- how it
  ended here; a commit's is the last record of the ``Atomic`` of its writes,
  so recovery finds the writes and the resolution together or neither.  A
  ``Prepare`` without its ``Resolved`` is a transaction left undecided by a
  crash (``kvstore/recovery.py`` hands it to the server to resolve).

Framing: a segment file starts with the 8 bytes ``MAGIC``; then each record
is ``<u32 length><u32 crc32(payload)><u32 crc32(the 8 bytes before)>`` and
``length`` bytes of payload (little-endian; zlib's CRC-32, which needs no
new dependency).  The header has a checksum of its own so that a damaged
length is never mistaken for a torn tail: :func:`read_segment` tells apart

* a *torn tail* -- the file ends inside the last record (a partial header, a
  valid header whose payload is cut short, a last record whose payload
  checksum fails, or zeros to the end): what a crash in the middle of an
  append leaves; recovery keeps it aside and goes on; and
* *corruption* -- a bad record with more data after it: recovery refuses to
  start unless told to recover up to it (``--recover-corrupt``).

The writer appends encoded frames to an in-memory buffer; ``flush`` writes
the buffer to the file with one ``os.write``, ``sync`` fsyncs the file.
The server calls them once per event-loop turn (group commit); the embedded
``Database`` calls :meth:`Log.commit` after each request.  Log files are
segments ``wal-<n>.log``; a snapshot numbered n covers every segment below n
(see ``kvstore/snapshot.py``).  A snapshot holds items only, so the
``Prepare`` records of the transactions still undecided when the log rotates
(:attr:`Log.prepared`) are written again, durably, at the start of the new
segment.
"""

import os
import struct
import threading
import time
import zlib
from contextlib import contextmanager, nullcontext

import msgspec

__all__ = [
    "Put", "Delete", "CreateTable", "UpdateTable", "DropTable", "Atomic", "Prepare", "Resolved", "Record",
    "Log", "Damage", "Segment", "read_segment", "read_frames", "frame", "atomic", "table_meta",
    "FSYNC_POLICIES", "BATCH_INTERVAL", "MAGIC", "segment_name",
]

MAGIC = b"KVSWAL01"
HEADER = struct.Struct("<III")
_PAIR = struct.Struct("<II")
HEADER_SIZE = HEADER.size
# No record is this large (an item is at most 400 KB; a transaction at most
# 100 of them); a header that says more is damaged.
MAX_RECORD = 256 * 1024 * 1024

FSYNC_POLICIES = ("always", "batch", "never")
# --fsync batch: the longest a written record waits for its fsync.
BATCH_INTERVAL = 0.1

_crc32 = zlib.crc32


# -- records -------------------------------------------------------------------


class Put(msgspec.Struct, tag=True, array_like=True):
    table: str
    item: dict
    size: int


class Delete(msgspec.Struct, tag=True, array_like=True):
    table: str
    key: dict


class CreateTable(msgspec.Struct, tag=True, array_like=True):
    meta: dict


class UpdateTable(msgspec.Struct, tag=True, array_like=True):
    meta: dict


class DropTable(msgspec.Struct, tag=True, array_like=True):
    name: str


class Resolved(msgspec.Struct, tag=True, array_like=True):
    txid: str
    committed: bool


class Atomic(msgspec.Struct, tag=True, array_like=True):
    records: list[Put | Delete | CreateTable | UpdateTable | DropTable | Resolved]


class Prepare(msgspec.Struct, tag=True, array_like=True):
    txid: str
    entries: list         # the shard's TransactItems entries, or PartiQL statements
    partiql: bool
    participants: list    # every worker the transaction was prepared on


Record = Put | Delete | CreateTable | UpdateTable | DropTable | Atomic | Prepare | Resolved


# The table attributes a record of its definition carries (tags and TTL
# settings included: TagResource/UpdateTimeToLive log the table whole).
TABLE_FIELDS = [
    "name", "key_schema", "attribute_definitions", "billing_mode", "provisioned_throughput",
    "local_secondary_indexes", "global_secondary_indexes", "stream_specification",
    "table_class", "deletion_protection", "tags", "sse_specification", "region",
    "account_id", "creation_date_time", "table_id", "ttl",
]


def table_meta(table):
    """The table's definition as plain data (what CreateTable/UpdateTable log).

    ``stream_created`` is the creation time of the table's enabled stream:
    recovery opens the stream again under the same label and ARN (its
    records are not kept: see README "Durability")."""
    meta = {}
    for name in TABLE_FIELDS:
        if hasattr(table, name):
            meta[name] = getattr(table, name)
    stream = getattr(table, "stream", None)
    meta["stream_created"] = stream.created if stream is not None else None
    return meta


def segment_name(number):
    return f"wal-{number:020d}.log"


# -- framing -------------------------------------------------------------------


def frame(payload):
    """Header + payload of one record."""
    head = _PAIR.pack(len(payload), _crc32(payload))
    return head + _crc32(head).to_bytes(4, "little") + payload


class Damage(msgspec.Struct):
    """Where a segment stops being readable and why."""

    path: str
    offset: int        # the first byte not recovered
    size: int          # bytes from there to the end of the file
    torn: bool         # True: a torn tail; False: corruption with data after it
    reason: str
    records: int       # valid records before it

    def describe(self):
        what = "torn tail" if self.torn else "corrupt record"
        return (f"{what} in {self.path} at byte {self.offset} after {self.records} valid records "
                f"({self.reason}; {self.size} bytes from there to the end of the file)")


def read_frames(data, start, path="<log>"):
    """Payloads of ``data`` from ``start``: ``(payloads, end, damage or None)``.

    ``end`` is the offset just past the last valid record.
    """
    payloads = []
    offset = start
    n = len(data)
    damage = None
    while offset < n:
        rest = n - offset
        problem = None
        torn = True
        if rest < HEADER_SIZE:
            problem = "a partial record header"
        else:
            length, crc, head_crc = HEADER.unpack_from(data, offset)
            if _crc32(data[offset:offset + 8]) != head_crc:
                problem = "a bad record header checksum"
                torn = not any(data[offset:])
            elif length > MAX_RECORD:
                problem = f"a record length of {length} bytes"
                torn = False
            elif rest < HEADER_SIZE + length:
                problem = f"a record of {length} bytes cut short at {rest - HEADER_SIZE}"
            else:
                payload = data[offset + HEADER_SIZE:offset + HEADER_SIZE + length]
                if _crc32(payload) != crc:
                    problem = "a bad record checksum"
                    torn = rest == HEADER_SIZE + length or not any(data[offset + HEADER_SIZE:])
                else:
                    payloads.append(payload)
                    offset += HEADER_SIZE + length
                    continue
        damage = Damage(path, offset, rest, torn, problem, len(payloads))
        break
    return payloads, offset, damage


class Segment(msgspec.Struct):
    path: str
    number: int
    records: list      # decoded records
    end: int           # offset past the last valid record
    damage: Damage | None


_decoder = msgspec.msgpack.Decoder(Record)


def read_segment(path, number=0, decoder=_decoder, magic=MAGIC):
    """Read and decode a whole segment file (a log or a snapshot)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < len(magic):
        if data and not magic.startswith(data):
            damage = Damage(path, 0, len(data), False, "not a kvstore file", 0)
        else:
            damage = Damage(path, 0, len(data), True, "a partial file header", 0) if data else None
        return Segment(path, number, [], 0, damage)
    if data[:len(magic)] != magic:
        return Segment(path, number, [], 0, Damage(path, 0, len(data), False, "not a kvstore file", 0))
    payloads, end, damage = read_frames(data, len(magic), path)
    records = []
    for i, payload in enumerate(payloads):
        try:
            records.append(decoder.decode(payload))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            offset = len(magic)
            for p in payloads[:i]:
                offset += HEADER_SIZE + len(p)
            damage = Damage(path, offset, len(data) - offset, False, f"an undecodable record: {exc}", i)
            end = offset
            break
    return Segment(path, number, records, end, damage)


# -- the writer ------------------------------------------------------------------


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Log:
    """The appending end of one shard's log.

    ``seq`` counts the records appended (the server compares it around a
    request to know whether the answer must wait for the log); ``synced``
    is the ``seq`` the last completed fsync covered.  ``flush`` and
    ``commit`` run on the owner's thread; ``sync`` may run in another one
    (the server's group commit), serialised with segment rotation by a lock.
    """

    def __init__(self, directory, number, fsync="always"):
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync policy must be one of {', '.join(FSYNC_POLICIES)}: {fsync!r}")
        self.directory = directory
        self.fsync = fsync
        self.buffer = bytearray()
        self.seq = 0
        self.flushed = 0          # seq written to the file
        self.synced = 0           # seq known to be on disk
        self.size = 0             # bytes written to the current segment
        self.since_snapshot = 0   # bytes appended since the last rotation
        self.last_sync = time.monotonic()
        self._atomic = None       # records of an open atomic() block
        self._depth = 0
        self.prepared = {}        # txid -> Prepare: not resolved yet (carried over by rotate)
        self._encode = msgspec.msgpack.Encoder().encode
        self._lock = threading.Lock()
        self.number = number
        self.fd = self._open(number)
        self.closed = False

    def _open(self, number):
        path = os.path.join(self.directory, segment_name(number))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        os.write(fd, MAGIC)
        os.fsync(fd)
        _fsync_dir(self.directory)
        self.size = len(MAGIC)
        return fd

    @property
    def path(self):
        return os.path.join(self.directory, segment_name(self.number))

    # -- appending

    def append(self, record):
        if self._atomic is not None:
            self._atomic.append(record)
            return
        payload = self._encode(record)
        head = _PAIR.pack(len(payload), _crc32(payload))
        buf = self.buffer
        buf += head
        buf += _crc32(head).to_bytes(4, "little")
        buf += payload
        self.seq += 1

    def put(self, table, item, size):
        self.append(Put(table, item, size))

    def delete(self, table, key):
        self.append(Delete(table, key))

    def table_created(self, table):
        self.append(CreateTable(table_meta(table)))

    def table_updated(self, table):
        self.append(UpdateTable(table_meta(table)))

    def table_dropped(self, name):
        self.append(DropTable(name))

    def prepare(self, txid, entries, partiql, participants):
        """A cross-worker transaction prepared here: unresolved until :meth:`resolved`."""
        record = Prepare(txid, entries, partiql, participants)
        self.prepared[txid] = record
        self.append(record)

    def resolved(self, txid, committed):
        self.prepared.pop(txid, None)
        self.append(Resolved(txid, committed))

    @contextmanager
    def atomic(self):
        """Every record appended inside the block goes into one ``Atomic``
        record, written when the block ends, so that recovery replays all of
        them or none.  The records are written even if the block raises:
        the log follows what was applied in memory."""
        if self._depth == 0:
            self._atomic = []
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                records, self._atomic = self._atomic, None
                if len(records) == 1:
                    self.append(records[0])
                elif records:
                    self.append(Atomic(records))

    # -- writing and syncing

    @property
    def pending(self):
        """Records appended but not yet known to be on disk."""
        return self.seq != self.synced

    def flush(self):
        """Write the buffered records to the file (one ``os.write``)."""
        buf = self.buffer
        if buf:
            data = bytes(buf)
            buf.clear()
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
            self.size += len(data)
            self.since_snapshot += len(data)
        self.flushed = self.seq

    def sync(self):
        """fsync what has been flushed; returns the ``seq`` it covers.  Thread-safe."""
        with self._lock:
            covered = self.flushed
            if self.synced < covered:
                os.fsync(self.fd)
                self.last_sync = time.monotonic()
                if covered > self.synced:
                    self.synced = covered
            return covered

    def commit(self):
        """Make the records appended so far durable as the policy says
        (the embedded API's path: after each request)."""
        if self.seq == self.flushed:
            if self.fsync == "batch" and self.synced != self.flushed and (
                time.monotonic() - self.last_sync >= BATCH_INTERVAL
            ):
                self.sync()
            return
        self.flush()
        if self.fsync == "always" or (
            self.fsync == "batch" and time.monotonic() - self.last_sync >= BATCH_INTERVAL
        ):
            self.sync()
        elif self.fsync == "never":
            # Nothing waits on it: what is written is as durable as it gets.
            self.synced = self.flushed

    def rotate(self):
        """Close this segment (flushed and synced) and start the next one;
        returns the new segment's number.

        The segments before it go once a snapshot covers them, but a
        snapshot holds no transaction: the unresolved ``Prepare`` records
        start the new segment, on disk before this returns."""
        self.flush()
        with self._lock:
            os.fsync(self.fd)
            self.synced = self.flushed
            old = self.fd
            self.number += 1
            self.fd = self._open(self.number)
            self.since_snapshot = 0
            os.close(old)
        if self.prepared:
            for record in self.prepared.values():
                self.append(record)
            self.flush()
            self.sync()
        return self.number

    def close(self):
        if self.closed:
            return
        self.flush()
        with self._lock:
            os.fsync(self.fd)  # a clean stop leaves everything on disk, whatever the policy
            self.synced = self.flushed
            os.close(self.fd)
            self.closed = True


def atomic(db):
    """``with atomic(db):`` -- the writes inside are one record in ``db``'s
    log (all or nothing on recovery); nothing at all without a log."""
    log = getattr(db, "wal", None)
    return log.atomic() if log is not None else nullcontext()
