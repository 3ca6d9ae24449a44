"""Tables: their definition (as validated wire dicts) and their storage.

A :class:`Table` keeps what CreateTable was given, exactly, so that
DescribeTable can answer with it, plus what the engine derives from it: the
key attribute names and types, and the table's storage.  Storage follows
DESIGN.md's token order: the partition key's order-preserving bytes hash to a
64-bit token, the ring maps the token to one of its partitions, and each
:class:`kvstore._core.Partition` keeps its item collections in token order and
the items of a collection by sort key.

The ring is the database's (one per shard); a table has a Partition for every
ring partition this shard owns.  With one shard that is all of them.

Secondary indexes (:class:`Index`) are stored the same way, in Partitions of
their own.  An index entry is keyed by

* the index's partition key: its order-preserving bytes and their token (an
  LSI shares the table's partition key, so its entries sit in the same ring
  partition as the item; a GSI is a table of its own on the ring);
* a composite sort key: the index sort key's bytes, escaped so that
  concatenation keeps their order (0x00 -> 0x00 0xFF, then the terminator
  0x00 0x00), followed by the table key (4-byte length of the table's
  partition-key bytes, those bytes, the sort-key bytes).  Several items may
  share one index key; the table key makes each entry unique and orders
  them deterministically.

An entry's value is the item as the index projects it (the item itself for
ALL).  :meth:`Table.write` and :meth:`Table.remove` are the only ways items
change, and they keep every index in step (old item -> new item), after
:meth:`Table.check_index_keys` has refused a badly typed or empty index key
before anything is stored.  Items lacking an index key attribute are not in
that index (sparse indexes).

:func:`scan_order` walks any set of Partitions (a table's or an index's) in
global token order, which is what Scan, its ``ExclusiveStartKey`` and the
``Segment``/``TotalSegments`` slices are defined on.
"""

import struct
import time
import uuid

from ._core import Partition, encode_key_value, hash64, prefix_bounds
from .errors import ValidationException
from .values import item_size

__all__ = ["Table", "Index", "scan_order", "escape_sort_bytes", "TOKEN_SPACE"]

TOKEN_SPACE = 1 << 64

_TERMINATOR = b"\x00\x00"
_NO_HK = b""


def escape_sort_bytes(b):
    """Order-preserving, prefix-free form of sort-key bytes (see the module docstring)."""
    if b"\x00" in b:
        b = b.replace(b"\x00", b"\x00\xff")
    return b + _TERMINATOR


def table_key_suffix(hk, sk):
    return struct.pack(">I", len(hk)) + hk + sk


def split_table_key_suffix(suffix):
    n = struct.unpack_from(">I", suffix)[0]
    return suffix[4:4 + n], suffix[4 + n:]


def scan_order(ring, partitions, after=None, start=0, end=TOKEN_SPACE):
    """(token, hk, sk, value) of ``partitions`` (ring index -> Partition) in
    global (token, hk, sk) order, strictly after the position ``after`` if
    given, restricted to start <= token < end.

    The ring's partition i holds (tokens[i-1], tokens[i]]; partition 0 holds
    [0, tokens[0]] and, wrapping, (tokens[-1], 2**64): it is visited twice,
    first and last.  Each piece starts with one O(log n) seek.
    """
    tokens = ring.tokens
    n = len(tokens)
    if after is not None and after[0] < start:
        after = None
    begin = start if after is None else after[0]
    pieces = [(i, tokens[i - 1] + 1 if i else 0, tokens[i]) for i in range(n)]
    pieces.append((0, tokens[-1] + 1, TOKEN_SPACE - 1))
    for index, lo, hi in pieces:
        if hi < begin or lo >= end or lo > hi:
            continue
        partition = partitions.get(index)
        if partition is None:
            continue
        if after is not None and lo <= after[0] <= hi:
            position = after
        else:
            first = max(lo, begin)
            # Strictly after (first, b"", b""): every entry of token ``first``
            # (no partition key encodes to empty bytes).
            position = (first, _NO_HK, _NO_HK)
        for entry in partition.scan(position):
            token = entry[0]
            if token > hi or token >= end:
                break
            yield entry


class Index:
    """One LSI or GSI: its definition, its storage, and how items map to entries."""

    def __init__(self, table, definition, is_global, types):
        self.table = table
        self.definition = definition  # the wire dict kept for DescribeTable
        self.name = definition["IndexName"]
        self.is_global = is_global
        self.status = "ACTIVE"
        key_schema = definition["KeySchema"]
        self.hash_key = key_schema[0]["AttributeName"]
        self.hash_type = types[self.hash_key]
        if len(key_schema) > 1:
            self.range_key = key_schema[1]["AttributeName"]
            self.range_type = types[self.range_key]
        else:
            self.range_key = self.range_type = None
        self.key_names = tuple(e["AttributeName"] for e in key_schema)
        self.key_types = tuple(types[name] for name in self.key_names)
        projection = definition["Projection"]
        self.projection_type = projection["ProjectionType"]
        names = list(table.key_names)
        for name in self.key_names:
            if name not in names:
                names.append(name)
        # Table keys first, then the index's: LastEvaluatedKey's attributes.
        self.start_key_names = tuple(names)
        if self.projection_type == "ALL":
            self.projected = None  # every attribute
        else:
            self.projected = frozenset(names + list(projection.get("NonKeyAttributes") or ()))
        self.partitions = None

    # Set by a multi-worker server (server/cluster.py): given a GSI and its
    # local partitions, the mapping to use instead, which stands in for the
    # partitions other workers store (an entry's change is sent to its owner).
    remote_partitions = None

    def attach(self, ring, owned):
        self.partitions = {index: Partition() for index in owned}
        if self.is_global and self.remote_partitions is not None:
            self.partitions = self.remote_partitions(self.partitions)

    @property
    def item_count(self):
        return sum(len(p) for p in self.partitions.values())

    @property
    def size_bytes(self):
        return sum(p.size_bytes for p in self.partitions.values())

    def entry_key(self, item, hk, sk):
        """(token, index hk bytes, composite sort bytes) of ``item`` (whose
        table key bytes are hk, sk), or None when the item is not indexed."""
        hash_av = item.get(self.hash_key)
        if hash_av is None:
            return None
        if self.range_key is not None:
            range_av = item.get(self.range_key)
            if range_av is None:
                return None
            sort = escape_sort_bytes(encode_key_value(range_av))
        else:
            sort = _TERMINATOR
        if self.is_global:
            ihk = encode_key_value(hash_av)
            token = hash64(ihk)
        else:
            ihk = hk
            token = None
        return token, ihk, sort + table_key_suffix(hk, sk)

    def project(self, item):
        if self.projected is None:
            return item
        projected = self.projected
        return {name: av for name, av in item.items() if name in projected}

    def partition_of(self, token):
        return self.partitions[self.table.ring.partition_of(token)]

    def store(self, token, ihk, isk, item, size=None):
        entry = self.project(item)
        if size is None or entry is not item:
            size = item_size(entry)
        self.partition_of(token).put(token, ihk, isk, entry, size)

    def discard(self, token, ihk, isk):
        self.partition_of(token).delete(ihk, isk)

    def sort_bounds(self, lo_value, hi_value, lo_inclusive, hi_inclusive):
        """Bounds on composite sort bytes for index sort-key values lo..hi
        (AttributeValues or None), as (lo, hi, lo_inclusive, hi_inclusive)."""
        lo = hi = None
        if lo_value is not None:
            base = escape_sort_bytes(encode_key_value(lo_value))
            lo = base if lo_inclusive else base[:-1] + b"\x01"
        if hi_value is not None:
            base = escape_sort_bytes(encode_key_value(hi_value))
            hi = base[:-1] + b"\x01" if hi_inclusive else base
        return lo, hi, True, False

    @staticmethod
    def prefix_sort_bounds(prefix_bytes):
        """Bounds on composite sort bytes for sort keys starting with ``prefix_bytes``."""
        escaped = escape_sort_bytes(prefix_bytes)[:-2]
        lo, hi = prefix_bounds(escaped)
        return lo, hi, True, False


class Table:
    # kvstore/wal.py: the shard's log, set by Database.add_table (None: memory only).
    wal = None

    def __init__(
        self,
        name,
        key_schema,
        attribute_definitions,
        *,
        billing_mode="PROVISIONED",
        provisioned_throughput=None,
        local_secondary_indexes=None,
        global_secondary_indexes=None,
        stream_specification=None,
        table_class=None,
        deletion_protection=False,
        tags=None,
        sse_specification=None,
        region="us-east-1",
        account_id="000000000000",
    ):
        self.name = name
        self.key_schema = key_schema
        self.attribute_definitions = attribute_definitions
        self.billing_mode = billing_mode
        self.provisioned_throughput = provisioned_throughput
        self.local_secondary_indexes = local_secondary_indexes
        self.global_secondary_indexes = global_secondary_indexes
        self.stream_specification = stream_specification
        self.table_class = table_class
        self.deletion_protection = deletion_protection
        self.tags = tags
        self.sse_specification = sse_specification
        self.region = region
        self.account_id = account_id
        self.creation_date_time = time.time()
        self.table_id = str(uuid.uuid4())
        self.arn = f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"
        self.status = "ACTIVE"
        # kvstore/streams.py: the enabled stream (written to) and the latest one.
        self.stream = None
        self.latest_stream = None
        # kvstore/ttl.py: {"AttributeName", "Enabled", "Changed"} or None.
        self.ttl = None

        types = {d["AttributeName"]: d["AttributeType"] for d in attribute_definitions}
        self.hash_key = self.range_key = None
        for element in key_schema:
            if element["KeyType"] == "HASH":
                self.hash_key = element["AttributeName"]
            else:
                self.range_key = element["AttributeName"]
        self.hash_type = types[self.hash_key]
        self.range_type = types[self.range_key] if self.range_key is not None else None
        self.key_names = (
            (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)
        )
        self.ring = None
        self.partitions = None
        self.types = types
        self.local_indexes = [Index(self, d, False, types) for d in local_secondary_indexes or ()]
        self.global_indexes = [Index(self, d, True, types) for d in global_secondary_indexes or ()]
        self._refresh_indexes()

    def _refresh_indexes(self):
        self.indexes = self.local_indexes + self.global_indexes
        self.index_by_name = {index.name: index for index in self.indexes}
        # DynamoDB's order for index key checks on write: GSIs then LSIs,
        # each last-defined first.
        checks = []
        for group in (self.global_indexes, self.local_indexes):
            for index in reversed(group):
                names = index.key_names if index.is_global else index.key_names[1:]
                for name in names:
                    checks.append((name, self.types[name], index.name))
        self._index_key_checks = tuple(checks)

    def find_index(self, name):
        return self.index_by_name.get(name)

    def add_global_index(self, definition, attribute_definitions):
        """Create a GSI (UpdateTable) and backfill it from the items stored."""
        for d in attribute_definitions:
            self.types.setdefault(d["AttributeName"], d["AttributeType"])
        index = Index(self, definition, True, self.types)
        index.attach(self.ring, list(self.partitions))
        for partition in self.partitions.values():
            for _token, hk, sk, item in partition.scan():
                if self._index_key_problem(item, index) is None:
                    key = index.entry_key(item, hk, sk)
                    if key is not None:
                        token = key[0]
                        index.store(token, key[1], key[2], item)
        self.global_indexes.append(index)
        if self.global_secondary_indexes is None:
            self.global_secondary_indexes = []
        self.global_secondary_indexes.append(definition)
        self._refresh_indexes()
        return index

    def drop_global_index(self, name):
        self.global_indexes = [i for i in self.global_indexes if i.name != name]
        self.global_secondary_indexes = [
            d for d in self.global_secondary_indexes or () if d["IndexName"] != name
        ] or None
        self._refresh_indexes()

    def _index_key_problem(self, item, index):
        """Whether ``item`` could be stored in ``index`` (for a backfill): None if so."""
        for name, type_ in zip(index.key_names, index.key_types):
            av = item.get(name)
            if av is not None and (type_ not in av or av[type_] in ("", b"")):
                return name
        return None

    def check_index_keys(self, item):
        """Refuse an item whose index key attributes have the wrong type or
        are empty, with DynamoDB's messages; nothing is stored."""
        for name, type_, index_name in self._index_key_checks:
            av = item.get(name)
            if av is None:
                continue
            value = av.get(type_) if type(av) is dict else None
            if value is None:
                actual = next(iter(av), None) if type(av) is dict else None
                raise ValidationException(
                    "One or more parameter values were invalid: Type mismatch for Index Key "
                    f"{name} Expected: {type_} Actual: {actual} IndexName: {index_name}"
                )
            if value == "" or value == b"":
                kind = "string" if type_ == "S" else "binary"
                raise ValidationException(
                    "One or more parameter values are not valid. A value specified for a secondary "
                    "index key is not supported. The AttributeValue for a key attribute cannot contain "
                    f"an empty {kind} value. IndexName: {index_name}, IndexKey: {name}"
                )

    # -- storage ---------------------------------------------------------

    def attach(self, ring, owned):
        """Create the storage for the ring partitions this shard owns."""
        self.ring = ring
        self.partitions = {index: Partition() for index in owned}
        for index in self.indexes:
            index.attach(ring, owned)

    @property
    def item_count(self):
        return sum(len(p) for p in self.partitions.values())

    @property
    def size_bytes(self):
        return sum(p.size_bytes for p in self.partitions.values())

    @property
    def writes_alone(self):
        """Whether a write is the store alone: no index, stream or log follows
        it, so the fast paths may store with the core's plain stores."""
        return not self.indexes and self.stream is None and self.wal is None

    def locate(self, hash_value, range_value):
        """The location of a key given as validated AttributeValues.

        A location is ``(partition, token, hk, sk)``: what every read and
        write of that item needs, computed once per request.
        """
        hk = encode_key_value(hash_value)
        token = hash64(hk)
        sk = encode_key_value(range_value) if range_value is not None else b""
        return self.partitions[self.ring.partition_of(token)], token, hk, sk

    # Every write of every operation goes through these two, so that what
    # must follow a write (index maintenance, streams) has one place to live.

    def write(self, loc, item, size, want_old=True):
        """Store ``item`` (validated, ``size`` bytes) at ``loc``; return the old
        item or None -- None always when not ``want_old``, which spares
        reading the old item when nothing here needs it either."""
        partition, token, hk, sk = loc
        if not self.indexes:
            old = partition.put(token, hk, sk, item, size, want_old or self.stream is not None)
        else:
            self.check_index_keys(item)
            old = partition.put(token, hk, sk, item, size)
            self._update_indexes(token, hk, sk, old, item, size)
        if self.stream is not None and old != item:  # kvstore/streams.py
            self.stream.emit(token, old, item)
        if self.wal is not None:  # kvstore/wal.py
            self.wal.put(self.name, item, size)
        return old

    def remove(self, loc, identity=None):
        """Delete the item at ``loc``; return it, or None if there was none.
        ``identity`` is the stream record's userIdentity (TTL deletions)."""
        partition, token, hk, sk = loc
        old = partition.delete(hk, sk)
        if old is not None:
            if self.indexes:
                self._update_indexes(token, hk, sk, old, None, 0)
            if self.stream is not None:
                self.stream.emit(token, old, None, identity)
            if self.wal is not None:  # kvstore/wal.py
                self.wal.delete(self.name, {name: old[name] for name in self.key_names})
        return old

    def _update_indexes(self, token, hk, sk, old, new, size):
        for index in self.indexes:
            old_key = index.entry_key(old, hk, sk) if old is not None else None
            new_key = index.entry_key(new, hk, sk) if new is not None else None
            if old_key is not None and old_key != new_key:
                index.discard(token if old_key[0] is None else old_key[0], old_key[1], old_key[2])
            if new_key is not None:
                index.store(token if new_key[0] is None else new_key[0], new_key[1], new_key[2], new, size)

    def read(self, loc):
        """The item stored at ``loc``, or None."""
        partition, _token, hk, sk = loc
        return partition.get(hk, sk)
