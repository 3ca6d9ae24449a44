"""Capacity units: DynamoDB's arithmetic, the ConsumedCapacity answer, and
the token buckets that enforce provisioned throughput.

Arithmetic (DynamoDB Developer Guide, "Read/write capacity mode"):

- a read costs one unit per 4 KB of item, rounded up, at least one; an
  eventually consistent read costs half of that;
- a write costs one unit per 1 KB, rounded up, at least one; a write is
  sized on the larger of the item before and after it (a delete of a
  missing item still costs one unit);
- transactional reads and writes cost double (``TRANSACTIONAL``);
- every secondary index a write changes is charged on its own entries, not
  on the item: see :func:`index_write_units` (an entry that appears or
  disappears costs its own size, an entry that moves to another index key
  costs both halves, an entry rewritten in place costs the larger of the
  two images, an unchanged entry costs nothing);
- Query and Scan are charged on the total size read per page (``read.py``).

:class:`Consumed` accumulates one table's units during a request and renders
the ``ConsumedCapacity`` member for ``TOTAL`` or ``INDEXES``.

Throttling (opt-in, ``kvstore serve --enforce-throughput``):
:class:`Throughput` keeps one :class:`TokenBucket` per PROVISIONED table and
GSI, for reads and for writes.  A bucket refills at the provisioned units per
second and holds at most ``BURST_SECONDS`` (300) seconds of them: DynamoDB's
burst allowance.  A request is admitted while its buckets are above zero and
is charged its real units afterwards, so a large item may take a bucket into
debt (as on DynamoDB, where an item larger than the bucket still succeeds and
the following requests wait).  PAY_PER_REQUEST tables are never throttled.
Rates are read from the table's definition at every check, so UpdateTable
takes effect at once.  The clock is injectable: unit tests need no sleeping.
"""

import time

from .errors import ProvisionedThroughputExceededException
from .values import item_size

__all__ = [
    "READ_UNIT_BYTES", "WRITE_UNIT_BYTES", "TRANSACTIONAL", "BURST_SECONDS",
    "read_units", "write_units", "index_write_units", "Consumed", "render_list",
    "TokenBucket", "Throughput", "TABLE_THROTTLED", "INDEX_THROTTLED",
]

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
TRANSACTIONAL = 2
BURST_SECONDS = 300

TABLE_THROTTLED = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)
INDEX_THROTTLED = (
    "The level of configured provisioned throughput for one or more global secondary indexes "
    "of the table was exceeded. Consider increasing your provisioning level for the "
    "under-provisioned global secondary indexes with the UpdateTable API."
)


def read_units(size, consistent=True):
    """Units of reading ``size`` bytes (one item, or a Query/Scan page)."""
    units = -(-size // READ_UNIT_BYTES) or 1
    return float(units) if consistent else units / 2


def write_units(size):
    """Units of writing an item of ``size`` bytes."""
    return float(-(-size // WRITE_UNIT_BYTES) or 1)


def _entry(index, item, hk, sk):
    """(position, projected entry) of ``item`` in ``index``, or None."""
    if item is None:
        return None
    key = index.entry_key(item, hk, sk)
    if key is None:
        return None
    return key, index.project(item)


def index_write_units(index, old, new, hk, sk):
    """Write units ``index`` consumes when ``old`` becomes ``new`` (either
    None), or None when the index's stored entry does not change."""
    before = _entry(index, old, hk, sk)
    after = _entry(index, new, hk, sk)
    if before is None:
        return None if after is None else write_units(item_size(after[1]))
    if after is None:
        return write_units(item_size(before[1]))
    if before[0] != after[0]:
        return write_units(item_size(before[1])) + write_units(item_size(after[1]))
    if before[1] == after[1]:
        return None
    return max(write_units(item_size(before[1])), write_units(item_size(after[1])))


class Consumed:
    """One table's consumed units during a request: reads and writes, on the
    table (key None) and on each index (key: the Index)."""

    __slots__ = ("table", "reads", "writes")

    def __init__(self, table):
        self.table = table
        self.reads = {}
        self.writes = {}

    @property
    def read(self):
        return sum(self.reads.values())

    @property
    def write(self):
        return sum(self.writes.values())

    @property
    def total(self):
        return self.read + self.write

    def add_read(self, units, index=None):
        self.reads[index] = self.reads.get(index, 0.0) + units

    def add_write(self, units, index=None):
        self.writes[index] = self.writes.get(index, 0.0) + units

    def add_item_write(self, old, new, loc, factor=1):
        """Charge a write of one item: the table (on the larger of the old
        and new item) and every index whose entry it changes."""
        size = max(item_size(old) if old is not None else 0, item_size(new) if new is not None else 0)
        self.add_write(write_units(size) * factor)
        indexes = self.table.indexes
        if indexes and (old is not None or new is not None):
            hk, sk = loc[2], loc[3]
            for index in indexes:
                units = index_write_units(index, old, new, hk, sk)
                if units is not None:
                    self.add_write(units * factor, index)

    def _entry(self, index, split):
        read, write = self.reads.get(index), self.writes.get(index)
        entry = {"CapacityUnits": (read or 0.0) + (write or 0.0)}
        if split:
            if read is not None:
                entry["ReadCapacityUnits"] = read
            if write is not None:
                entry["WriteCapacityUnits"] = write
        return entry

    def render(self, mode, split=False):
        """The ConsumedCapacity member for ``mode`` (TOTAL or INDEXES).
        ``split`` adds ReadCapacityUnits / WriteCapacityUnits, as the
        transactional operations report them."""
        out = {"TableName": self.table.name, "CapacityUnits": self.total}
        if split:
            if self.reads:
                out["ReadCapacityUnits"] = self.read
            if self.writes:
                out["WriteCapacityUnits"] = self.write
        if mode == "INDEXES":
            out["Table"] = self._entry(None, split)
            seen = []
            for index in list(self.reads) + list(self.writes):
                if index is None or index in seen:
                    continue
                seen.append(index)
                group = "GlobalSecondaryIndexes" if index.is_global else "LocalSecondaryIndexes"
                out.setdefault(group, {})[index.name] = self._entry(index, split)
        return out


def render_list(consumed, mode, split=False):
    """ConsumedCapacity of a multi-table operation: one entry per table, in
    the order the tables were first met; None when not asked for."""
    if mode not in ("TOTAL", "INDEXES"):
        return None
    return [c.render(mode, split) for c in consumed]


# -- throttling ---------------------------------------------------------------


class TokenBucket:
    """Units accrue at ``rate`` per second up to ``rate * BURST_SECONDS``."""

    __slots__ = ("rate", "tokens", "stamp", "clock")

    def __init__(self, rate, clock, full=True):
        self.rate = float(rate)
        self.clock = clock
        self.tokens = self.capacity if full else 0.0
        self.stamp = clock()

    @property
    def capacity(self):
        return self.rate * BURST_SECONDS

    def refill(self):
        now = self.clock()
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.stamp = now
        return self.tokens

    def set_rate(self, rate):
        """A new provisioned rate (UpdateTable): effective at once; the
        burst already saved is kept up to the new capacity."""
        self.refill()
        self.rate = float(rate)
        self.tokens = min(self.tokens, self.capacity)

    def available(self):
        return self.refill() > 0

    def consume(self, units):
        self.refill()
        self.tokens -= units


def _rates(definition):
    """(read rate, write rate) of a ProvisionedThroughput dict, or None."""
    if not definition:
        return None
    r, w = definition.get("ReadCapacityUnits"), definition.get("WriteCapacityUnits")
    if not r or not w:
        return None
    return r, w


class Throughput:
    """The shard's provisioned-throughput enforcement (off unless enabled)."""

    def __init__(self, enabled=False, clock=None):
        self.enabled = enabled
        self.clock = clock or time.monotonic
        self._buckets = {}  # (table_id, index name or None, "R"/"W") -> TokenBucket

    def _bucket(self, table, index, kind):
        """The bucket for a table (index None) or GSI, or None if unlimited."""
        if table.billing_mode == "PAY_PER_REQUEST":
            return None
        if index is None:
            rates = _rates(table.provisioned_throughput)
        elif index.is_global:
            rates = _rates(index.definition.get("ProvisionedThroughput"))
        else:
            index = None  # an LSI shares its table's throughput
            rates = _rates(table.provisioned_throughput)
        if rates is None:
            return None
        rate = rates[0] if kind == "R" else rates[1]
        key = (table.table_id, index.name if index is not None else None, kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(rate, self.clock)
        elif bucket.rate != rate:
            bucket.set_rate(rate)
        return bucket

    # -- admission: raise (or report) before anything is read or written --

    def read_refusal(self, table, index=None):
        """The throttling message for a read of ``table`` (or its index), or None."""
        if not self.enabled:
            return None
        bucket = self._bucket(table, index, "R")
        if bucket is not None and not bucket.available():
            return INDEX_THROTTLED if index is not None and index.is_global else TABLE_THROTTLED
        return None

    def write_refusal(self, table):
        """The throttling message for a write to ``table`` (its GSIs too), or None."""
        if not self.enabled:
            return None
        bucket = self._bucket(table, None, "W")
        if bucket is not None and not bucket.available():
            return TABLE_THROTTLED
        for index in table.global_indexes:
            bucket = self._bucket(table, index, "W")
            if bucket is not None and not bucket.available():
                return INDEX_THROTTLED
        return None

    def admit_read(self, table, index=None):
        message = self.read_refusal(table, index)
        if message is not None:
            raise ProvisionedThroughputExceededException(message)

    def admit_write(self, table):
        message = self.write_refusal(table)
        if message is not None:
            raise ProvisionedThroughputExceededException(message)

    # -- charging: the real units, after the fact ------------------------

    def charge(self, consumed):
        """Take a request's units (a :class:`Consumed`) from the buckets."""
        if not self.enabled:
            return
        table = consumed.table
        for kind, units_by_index in (("R", consumed.reads), ("W", consumed.writes)):
            for index, units in units_by_index.items():
                if index is not None and not index.is_global:
                    index = None  # an LSI spends its table's units
                bucket = self._bucket(table, index, kind)
                if bucket is not None:
                    bucket.consume(units)
