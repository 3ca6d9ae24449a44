"""DynamoDB Streams storage: per table stream, a shard per ring partition.

DESIGN.md: "A DynamoDB Streams shard maps to a partition: each partition
appends its change records with increasing sequence numbers."  So a
:class:`Stream` has one open :class:`Shard` per ring partition the table has,
and :meth:`kvstore.schema.Table.write` / ``remove`` -- the one place every
write of every operation passes (single items, batches, transactions, TTL
deletions) -- hand each change to ``table.stream.emit(...)``.  A table
without an enabled stream pays one attribute test per write.

What DynamoDB does, and so what this does:

- Enabling a stream (CreateTable or UpdateTable) creates a *new* stream with
  its own label (the creation time, ``2024-05-01T12:00:00.123``) and ARN
  (``<table arn>/stream/<label>``).  Disabling it (or deleting the table)
  closes its shards -- each gets an EndingSequenceNumber -- and the stream
  stays readable, DISABLED, for 24 hours.  Records older than 24 hours are
  trimmed; reading before the trim horizon is a TrimmedDataAccessException.
- Sequence numbers are decimal strings (21 digits here), increasing within a
  shard.  One counter per store hands them out, so they also increase across
  the shards of one database, which makes a total order for a consumer that
  wants one (DynamoDB only promises order within a shard).
- A write that changes nothing (an item put over an identical item, a delete
  of an absent item) emits no record; the caller checks that.
- Records hold references to the stored item dicts: items are immutable once
  stored (every write builds a new dict), so a record's images cannot change.

Shard iterators are self-contained strings (``<stream arn>|1|<payload>``):
the payload names the shard, the position (read records whose sequence
number is greater) and the time it was issued, after which it is valid for
15 minutes (ExpiredIteratorException), as on DynamoDB.

``StreamStore.clock`` (default ``time.time``) is the only clock used here, so
tests can move time forward instead of sleeping.
"""

import base64
import binascii
import itertools
import os
import time
import uuid
from bisect import bisect_right

import msgspec

from .values import item_size

__all__ = [
    "StreamStore", "Stream", "Shard", "SERVICE_IDENTITY",
    "RETENTION_SECONDS", "ITERATOR_LIFETIME_SECONDS",
]

RETENTION_SECONDS = 24 * 3600
ITERATOR_LIFETIME_SECONDS = 15 * 60
# Sequence numbers: 21 decimal digits and growing (DynamoDB's are 21 to 40).
_SEQUENCE_BASE = 10 ** 20

SERVICE_IDENTITY = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}

_NEW = frozenset(("NEW_IMAGE", "NEW_AND_OLD_IMAGES"))
_OLD = frozenset(("OLD_IMAGE", "NEW_AND_OLD_IMAGES"))

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def stream_label_of(seconds):
    """A stream label as DynamoDB prints one: UTC, milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


class Shard:
    """The records of one partition for one stream, in sequence order."""

    __slots__ = ("shard_id", "parent_shard_id", "start", "end", "seqs", "records", "trimmed")

    def __init__(self, shard_id, start, parent_shard_id=None):
        self.shard_id = shard_id
        self.parent_shard_id = parent_shard_id
        self.start = start  # StartingSequenceNumber (int)
        self.end = None  # EndingSequenceNumber (int) once closed
        self.seqs = []  # sequence numbers, parallel to records
        self.records = []  # (created, record dict)
        # Every record with a sequence number <= trimmed is gone.
        self.trimmed = start - 1

    def describe(self):
        numbers = {"StartingSequenceNumber": str(self.start)}
        if self.end is not None:
            numbers["EndingSequenceNumber"] = str(self.end)
        described = {"ShardId": self.shard_id, "SequenceNumberRange": numbers}
        if self.parent_shard_id is not None:
            described["ParentShardId"] = self.parent_shard_id
        return described

    @property
    def last(self):
        """The position just past the newest record (LATEST)."""
        return self.seqs[-1] if self.seqs else max(self.start - 1, self.trimmed)

    def trim(self, horizon):
        """Drop the records created before ``horizon`` (epoch seconds)."""
        records = self.records
        n = 0
        while n < len(records) and records[n][0] < horizon:
            n += 1
        if n:
            self.trimmed = self.seqs[n - 1]
            del self.seqs[:n]
            del records[:n]

    def read(self, position, limit):
        """Up to ``limit`` records after ``position``: (records, new position)."""
        i = bisect_right(self.seqs, position)
        chunk = self.records[i:i + limit]
        if not chunk:
            return [], position
        return [r for _, r in chunk], self.seqs[i + len(chunk) - 1]


class Stream:
    """One stream of one table: its identity, view type and shards."""

    def __init__(self, store, table, view_type, created):
        self.store = store
        self.table_name = table.name
        self.key_names = table.key_names
        self.key_schema = [dict(e) for e in table.key_schema]
        self.region = table.region
        self.view_type = view_type
        self.created = created
        self.label = stream_label_of(created)
        self.arn = f"{table.arn}/stream/{self.label}"
        self.status = "ENABLED"
        self.disabled_at = None
        self.ring = table.ring
        stamp = int(created * 1000)
        self.shards = {}  # ring partition index -> open Shard
        self.by_id = {}
        for index in sorted(table.partitions):
            shard_id = f"shardId-{stamp:020d}-{os.urandom(4).hex()}"
            shard = Shard(shard_id, store.next_sequence())
            self.shards[index] = shard
            self.by_id[shard_id] = shard
        self.shard_ids = sorted(self.by_id)

    # -- writing (Table.write / Table.remove) -------------------------------

    def emit(self, token, old, new, identity=None):
        """Append the record of one change (old -> new, not equal) to its shard."""
        shard = self.shards.get(self.ring.partition_of(token))
        if shard is None:
            return
        store = self.store
        seq = store.next_sequence()
        now = store.clock()
        if old is None:
            name, base = "INSERT", new
        elif new is None:
            name, base = "REMOVE", old
        else:
            name, base = "MODIFY", new
        keys = {k: base[k] for k in self.key_names}
        data = {"ApproximateCreationDateTime": int(now), "Keys": keys}
        size = item_size(keys)
        view_type = self.view_type
        if new is not None and view_type in _NEW:
            data["NewImage"] = new
            size += item_size(new)
        if old is not None and view_type in _OLD:
            data["OldImage"] = old
            size += item_size(old)
        data["SequenceNumber"] = str(seq)
        data["SizeBytes"] = size
        data["StreamViewType"] = view_type
        record = {
            "eventID": uuid.uuid4().hex,
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": data,
        }
        if identity is not None:
            record["userIdentity"] = identity
        shard.seqs.append(seq)
        shard.records.append((now, record))

    # -- lifecycle ---------------------------------------------------------

    def close(self, now):
        """Disable: every shard gets its EndingSequenceNumber; nothing more is written."""
        self.status = "DISABLED"
        self.disabled_at = now
        for shard in self.shards.values():
            shard.end = shard.seqs[-1] if shard.seqs else self.store.next_sequence()
        self.shards = {}

    def trim(self, now):
        horizon = now - RETENTION_SECONDS
        for shard in self.by_id.values():
            if shard.records and shard.records[0][0] < horizon:
                shard.trim(horizon)

    def describe(self, exclusive_start_shard_id=None, limit=100):
        ids = self.shard_ids
        start = 0 if exclusive_start_shard_id is None else bisect_right(ids, exclusive_start_shard_id)
        page = ids[start:start + limit]
        described = {
            "StreamArn": self.arn,
            "StreamLabel": self.label,
            "StreamStatus": self.status,
            "StreamViewType": self.view_type,
            "CreationRequestDateTime": self.created,
            "TableName": self.table_name,
            "KeySchema": [dict(e) for e in self.key_schema],
            "Shards": [self.by_id[i].describe() for i in page],
        }
        if start + limit < len(ids):
            described["LastEvaluatedShardId"] = page[-1]
        return described

    def summary(self):
        return {"StreamArn": self.arn, "TableName": self.table_name, "StreamLabel": self.label}

    # -- iterators -----------------------------------------------------------

    def iterator(self, shard, position):
        payload = _encode([shard.shard_id, position, int(self.store.clock() * 1000), os.urandom(6).hex()])
        return f"{self.arn}|1|{base64.urlsafe_b64encode(payload).decode('ascii')}"


def parse_iterator(text):
    """(stream arn, shard id, position, issued seconds) of an iterator, or None."""
    arn, sep, rest = text.partition("|")
    if not sep:
        return None
    version, sep, payload = rest.partition("|")
    if not sep or version != "1":
        return None
    try:
        shard_id, position, issued, _nonce = _decode(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, msgspec.DecodeError, ValueError, TypeError, UnicodeEncodeError):
        return None
    if type(shard_id) is not str or type(position) is not int or type(issued) is not int:
        return None
    return arn, shard_id, position, issued / 1000


class StreamStore:
    """Every stream of one database (enabled ones and, for 24 hours, disabled ones)."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._sequence = itertools.count(_SEQUENCE_BASE + 1)
        self.streams = {}  # arn -> Stream, in creation order

    def next_sequence(self):
        return next(self._sequence)

    def open(self, table):
        """Enable a new stream on ``table`` (its view type from its StreamSpecification)."""
        now = self.clock()
        created = now
        # Two streams of one table never share a label.
        latest = getattr(table, "latest_stream", None)
        if latest is not None and int(created * 1000) <= int(latest.created * 1000):
            created = (int(latest.created * 1000) + 1) / 1000
        stream = Stream(self, table, table.stream_specification["StreamViewType"], created)
        self.streams[stream.arn] = stream
        table.stream = stream
        table.latest_stream = stream
        return stream

    def close(self, table):
        stream = getattr(table, "stream", None)
        if stream is not None:
            stream.close(self.clock())
            table.stream = None

    def expire(self, now=None):
        """Trim records past retention; forget streams disabled more than 24 hours ago."""
        now = self.clock() if now is None else now
        for arn, stream in list(self.streams.items()):
            if stream.disabled_at is not None and stream.disabled_at < now - RETENTION_SECONDS:
                del self.streams[arn]
            else:
                stream.trim(now)

    def find(self, arn):
        return self.streams.get(arn)
