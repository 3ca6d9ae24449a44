"""The engine of one shard: its tables and their partitions.

``Database`` is also the embedded API: ``db.request(operation, request)``
runs exactly the dispatch the HTTP server runs (``kvstore.api.dispatch``),
with requests and answers as the JSON-shaped dicts of DynamoDB's wire
protocol, and raises the :mod:`kvstore.errors` classes a client of the server
would receive.  There is no JSON round trip on this path.

Beside ``request`` it carries the rest of the embedded API, each a thin
entry into its own module: ``create_table``/``table``/``call`` and the
transaction helpers take plain Python values (``kvstore/embedded.py``), and
``client()``/``resource()`` are real boto3 objects served in-process
(``kvstore/boto.py``; boto3 is imported only when they are called).
"""

import time

from ._core import Ring
from .api import dispatch
from .streams import StreamStore
from .api.transact import LockTable
from .capacity import Throughput

__all__ = ["Database"]

# Virtual nodes per shard on the token ring.  Every table gets a Partition
# per virtual node this shard owns.
VNODES = 16


class Database:
    def __init__(self, *, region="us-east-1", account_id="000000000000", enforce_throughput=False,
                 clock=None, path=None, fsync="always", recover_corrupt=False, snapshot_bytes=None):
        """``enforce_throughput``: hold PROVISIONED tables and GSIs to their
        capacity units (``kvstore serve --enforce-throughput``);
        ``clock`` (seconds, monotonic) drives the token buckets.
        ``path``: a data directory (kvstore/recovery.py): recover from it,
        then log every write there, durable per ``fsync`` ("always",
        "batch", "never"); ``recover_corrupt`` recovers up to a corrupt
        record instead of refusing; ``snapshot_bytes`` of log between
        snapshots.  Without ``path``: memory only.  ``close()`` it."""
        self.region = region
        self.account_id = account_id
        self.shard = 0
        self.ring = Ring([self.shard], VNODES)
        self.tables = {}
        # DynamoDB Streams and TTL (kvstore/streams.py, kvstore/ttl.py) read
        # time from ``wall_clock`` (epoch seconds); tests replace it.
        self.wall_clock = time.time
        self.streams = StreamStore(clock=lambda: self.wall_clock())
        self.ttl_state = {}
        # Per-item locks of prepared transactions (kvstore/api/transact.py).
        self.locks = LockTable()
        self.throughput = Throughput(enforce_throughput, clock)
        # kvstore/recovery.py: the data directory; ``wal`` is its log.
        self.wal = None
        self.durable = None
        if path is not None:
            self._open(path, fsync, recover_corrupt, snapshot_bytes)

    def _open(self, path, fsync, recover_corrupt, snapshot_bytes, lock=True):
        """Recover from ``path`` and log there (``lock=False``: a worker of
        ``kvstore serve --workers``, whose supervisor holds the lock)."""
        from .recovery import SNAPSHOT_BYTES, open_durable

        if snapshot_bytes is None:
            snapshot_bytes = SNAPSHOT_BYTES
        self.durable = open_durable(self, path, fsync=fsync, recover_corrupt=recover_corrupt,
                                    snapshot_bytes=snapshot_bytes, lock=lock)
        self.wal = self.durable.wal
        for table in self.tables.values():
            table.wal = self.wal

    def snapshot(self):
        """Write a snapshot of the data directory now (and drop the log it covers)."""
        if self.durable is not None:
            self.durable.snapshot()

    def close(self):
        """Flush and fsync the log and release the data directory (no-op in memory)."""
        if self.durable is not None:
            durable, self.durable = self.durable, None
            durable.close()
            self.wal = None
            for table in self.tables.values():
                table.wal = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, operation, request=None):
        """Run one DynamoDB operation, e.g. ``db.request("GetItem", {...})``."""
        if self.durable is None:
            return dispatch(self, operation, {} if request is None else request)
        try:
            return dispatch(self, operation, {} if request is None else request)
        finally:
            self.durable.commit()  # durable per the fsync policy before answering

    def streams_request(self, operation, request=None):
        """Run one DynamoDB Streams operation, e.g. ``db.streams_request("ListStreams")``."""
        from .api.streams import streams_dispatch

        return streams_dispatch(self, operation, {} if request is None else request)

    def sweep_ttl(self, now=None, budget=None):
        """Delete the items whose TTL attribute has expired, as DynamoDB's
        background process does; ``kvstore serve`` calls this every
        ``--ttl-interval`` seconds, embedded users call it themselves.
        ``now``: epoch seconds (default ``wall_clock()``); ``budget``: items
        examined at most in this call (default: a bounded chunk).  Returns
        (items deleted, whether the whole of every table was examined)."""
        from .ttl import sweep

        return sweep(self, now, budget)

    # -- the Pythonic API (kvstore/embedded.py) ----------------------------

    def table(self, name):
        """A :class:`kvstore.embedded.Table` of plain Python values (no I/O)."""
        from .embedded import Table

        return Table(self, name)

    def create_table(self, name, hash_key, range_key=None, **request):
        """CreateTable; ``hash_key``/``range_key`` are ``"id"`` (type S) or
        ``("id", "N")``; other members are DynamoDB's own. Returns the table."""
        from .embedded import Table, create_table_request

        self.request("CreateTable", create_table_request(name, hash_key, range_key, **request))
        return Table(self, name)

    def delete_table(self, name):
        self.request("DeleteTable", {"TableName": name})

    def table_names(self):
        """Every table's name, in ListTables' order (all pages)."""
        names, req = [], {}
        while True:
            out = self.request("ListTables", req)
            names.extend(out.get("TableNames", ()))
            last = out.get("LastEvaluatedTableName")
            if not last:
                return names
            req = {"ExclusiveStartTableName": last}

    def call(self, operation, **request):
        """Any operation, with plain Python values where DynamoDB has
        AttributeValues (Item, Key, ExpressionAttributeValues, ...)."""
        from .embedded import call

        return call(self, operation, request)

    def transact_get(self, gets):
        """TransactGetItems of ``(table, key)`` pairs: items or None, in order."""
        from .embedded import transact_get

        return transact_get(self, gets)

    def transact_write(self, actions, *, client_token=None):
        """TransactWriteItems of wire-shaped actions with plain values."""
        from .embedded import transact_write

        transact_write(self, actions, client_token=client_token)

    # -- boto3 in-process (kvstore/boto.py) --------------------------------

    def client(self, **kwargs):
        """A real boto3 DynamoDB client whose requests this database answers
        in-process (no socket); ``kwargs`` go to ``boto3.client``."""
        from .boto import make_client

        return make_client(self, **kwargs)

    def resource(self, **kwargs):
        """A real boto3 DynamoDB service resource served by this database."""
        from .boto import make_resource

        return make_resource(self, **kwargs)

    # -- tables ----------------------------------------------------------

    def find_table(self, name):
        return self.tables.get(name)

    def add_table(self, table):
        table.attach(self.ring, self.ring.partitions_of(self.shard))
        table.wal = self.wal
        self.tables[table.name] = table

    def drop_table(self, name):
        return self.tables.pop(name)
