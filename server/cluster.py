"""Routing inside a multi-worker server: who answers a request, and how.

Every worker of ``kvstore serve --workers N`` holds the same table metadata
and the ring ``Ring(range(N), VNODES)``; worker ``i`` stores only the ring
partitions the ring gives node ``i`` (``Database.shard = i``).  A request
reaches whichever worker the kernel gave the connection to (SO_REUSEPORT);
that worker, the *front*, decides here:

* **one owner** -- GetItem/PutItem/UpdateItem/DeleteItem (the token of the
  key's partition-key bytes), Query (the hash key of its key condition: the
  table's, or for a GSI the index's own, whose entries live on the ring by
  that key).  Owned here: the ordinary dispatch.  Else the raw JSON body is
  forwarded to the owner (a forward frame, ``PeerNode.forward``) and the
  owner's encoded answer is written back as is, as soon as its answer
  frame is read (:class:`Forwarded`: no future, no further loop callback).
  An item request's or a Query's owner is read from the raw bytes when
  that is certain (``kvstore._core.wire_owner``: a plain S key;
  ``wire_query_owner``: a key condition "<hash key> = :v ..." with a plain
  S value), its body then forwarded undecoded; other requests are decoded
  first.  A request whose key cannot be read (a malformed request) runs
  here: validation fails the same way on every worker, before any storage
  is touched.
* **metadata changes** (CreateTable, UpdateTable, DeleteTable, tags, TTL,
  ...) -- worker 0 orders them: the front forwards to worker 0, which
  applies under one lock, then sends the request and a *snapshot* of the
  table's resulting plain-data attributes (creation time, table id, ARNs:
  what must not differ between workers) to every other worker (``"ddl"``)
  and answers once every live worker has applied it.  A starting worker
  takes the *catalog* (every table's definition, ``kvstore.wal.table_meta``,
  plus that snapshot) from a live worker before it listens, and from worker
  0 once it listens (``"catalog"``), and makes its tables match it
  (:meth:`Cluster.catch_up`: missing tables built, tables gone or created
  again dropped, the rest aligned).  Worker 0 numbers the changes
  (``ddl_epoch``) so that a catalog older than a change already applied is
  not taken.
* **every owner** -- Scan (and parallel scan): each worker returns the
  entries of its partitions in token order from the start position, as many
  as could be in the page (Limit, 1 MB); the front merges them in
  (token, key) order and evaluates the page itself with the engine's own
  page loop, so ExclusiveStartKey, LastEvaluatedKey, Count/ScannedCount and
  the 1 MB cut are exactly the single-process ones.  DescribeTable answers
  from local metadata with ItemCount/TableSizeBytes summed over workers.
* **GSI maintenance** -- a base write's owner changes the GSI entry on the
  owner of the GSI key: an index's partitions map (``RemoteIndexPartitions``)
  stands in for other workers' partitions with a proxy that sends ``"gsi"``
  calls, in order on one link; the write's answer waits for their acks, so
  a Query on the index right after the write sees it.

* **several owners** -- BatchGetItem/BatchWriteItem, TransactGetItems,
  BatchExecuteStatement: the whole request is first checked here with no
  partition reachable (:meth:`Cluster.validate_only`: every engine check
  runs, the first storage access stops it), so an invalid request fails as
  a whole before anything is written; then it is split by owner, run, and
  the answers gathered (Responses, Unprocessed*, ConsumedCapacity summed
  per table).  A part travels as data (``"part"`` call: msgpack both ways,
  no JSON encoded or decoded for it) and runs on its owner without the
  request-shape check the front already made (``validate_request``, the
  first step of ``kvstore.api.dispatch``).  A part whose worker is down
  comes back as unprocessed.  The common BatchWriteItem -- only
  RequestItems, every request one that ``batch_write_fast`` takes, no item
  twice -- is certainly valid once that check passes here, so it skips the
  ``validate_only`` pass, and its parts are counted back with no future per
  part (:meth:`Cluster._spread_writes`).  When its tables write alone (no
  index, stream or log: so not with ``--data-dir``) and every item has an
  exact JSON form, each owner's part goes as it will be stored (a
  ``kvstore.StoreWrites`` forward frame whose body the core writes and
  reads, ``_core.route_writes`` / ``store_part``: per table its name and
  id, per write the key bytes, the JSON of the item put or of the key
  deleted, the item's size) and its owner only stores it, after checking that the
  front's checks still hold there (the same table, no transaction lock,
  throughput not enforced); else it writes nothing and answers RESEND, and
  the part goes again as below.  The front's own part is stored the same
  way.  Most such batches are split so before they are decoded at all:
  ``_core.route_raw_writes`` makes the same parts from the request's
  bytes when every item (or delete key) has no escape in its strings and
  no member name twice (boto3's ", " and ": " are dropped as it copies),
  so neither the front nor the owners decode or encode any JSON for them.
  Otherwise each part goes as a forward frame of its JSON, run there
  by ``batch_write_fast`` again.
* **TransactWriteItems / ExecuteTransaction across workers** -- two-phase
  commit on ``kvstore.api.transact.Transaction``'s steps: every owner
  prepares its actions (per-item locks, conditions, new images) and holds
  them; all prepared -> commit everywhere, else abort everywhere and
  answer TransactionCanceledException with the reasons in request order.  A
  participant that hears no decision within TX_HOLD_SECONDS asks
  (``tx_status``): the coordinator (an undecided one then decides abort),
  else the other participants (one that committed means commit); else it
  aborts.  A coordinator that hears no vote within TX_CALL_SECONDS aborts
  the others.  So no lock outlives a failed worker, and a coordinator lost
  between its commit calls leaves the transaction committed everywhere.  A ClientRequestToken's
  transaction is always coordinated by the same worker (by the token's hash).
* **streams** -- a shard per ring partition, so per worker: a shard id names
  its worker, GetShardIterator/GetRecords go there, DescribeStream gathers
  every worker's shards.  TTL sweeps run in every worker over its own items.
* anything else -- runs here; if it meets another worker's partition
  before writing anything (``NotHere``, raised by the stand-ins of
  ``RemoteTablePartitions``), it is forwarded to that worker.

A forwarded call that cannot reach its owner (dead, restarting) answers 503
ServiceUnavailable, which SDKs retry; other partitions keep answering.

**Durability** (``--data-dir``, see ``kvstore/recovery.py``): worker i logs
the writes of its own partitions in ``shard-i``, and every worker logs every
metadata change it applies (a non-coordinator logs the table again once
aligned with the coordinator's snapshot, so its log carries the same
TableId).  An answer waits for the log records it depends on
(``server/commit.py``'s group commit, :meth:`GroupCommit.barrier`): the
HTTP front's answer (:meth:`Cluster.handle`) and the replies to the calls
that write (``req``, ``ddl``, ``tx_prepare``, ``tx_commit``) leave once what
was logged meanwhile is durable, so an acknowledged write, a metadata change
included, is on disk in its owner's shard (and, for a metadata change, in
every live worker's) under ``--fsync always``.  GSI entries are not
logged: they are derived.  A worker rebuilds the entries of its own items
while it recovers; entries that other workers store are exchanged when a
worker starts (``gsi_sync``: "here are all the entries of my items you
store; drop the ones you had from me"; ``gsi_request``: "send me yours"),
on the same links as the ``gsi`` changes that follow, so in order.

**Transactions across workers and crashes.** With a log, a participant's
prepare is logged (``kvstore.wal.Prepare``: its entries, what prepares it
again) and its vote leaves once that record is durable; its commit is one
``Atomic`` record of its writes and its ``Resolved``, durable before its
``tx_commit`` reply; an abort logs a ``Resolved``.  The coordinator answers
200 only after every participant replied, so an *acknowledged* transaction
is wholly durable.  A participant SIGKILLed between its vote and its commit
(after another participant committed, say) comes back with the transaction
prepared again, its items locked before it serves anything, and resolves it
at once as a participant past its hold does
(:meth:`Cluster.recover_transactions`): commit if the coordinator or a
participant says commit -- a participant that committed says so from its
log (since its last snapshot) after a restart of its own too, and one out
of reach is asked again for up to TX_RECOVER_SECONDS -- else abort.  The
coordinator's decision is not logged, on purpose
(:meth:`Cluster._tx_decision`).  A snapshot keeps the undecided prepares
(``kvstore.wal.Log.rotate``).  Left open: the decision lives in memory --
the coordinator tells a participant whose commit call failed again until it
answers (:meth:`Cluster._tx_deliver`, up to TX_DELIVER_SECONDS), and each
participant remembers its commit TX_OUTCOME_SECONDS (from the commit, or
from its restart while its log holds it) -- so a participant back only
after its coordinator died too and its fellows forgot, or that cannot reach
one that committed within TX_RECOVER_SECONDS, aborts its part; and a
restart with another worker count drops an undecided part (re-sharding runs
before anyone can be asked; it says so in the log).  A coordinator killed
after some commit calls leaves no partial transaction either: the
participants it did not reach ask the others once past their hold, and
commit.  A clean stop (SIGTERM, or the supervisor's death) never cuts one:
a stopping worker keeps its links until the transactions prepared or
coordinated there are decided (:meth:`Cluster.drain`, ``DRAIN_SECONDS`` at
most).

``AsyncHttpProtocol`` is ``server.http.HttpProtocol`` with deferred answers:
a handler may return ``(0, future)`` (an asyncio future or a
:class:`Forwarded`); requests of one connection still run, and their
answers leave, in order.  An answer ready at once with none
queued before it (a request for this worker's own keys) is written by the
C reader (server/_http.pyx's ``FastPath``); the others wait in the
protocol's queue and are written as their futures finish: by the C reader
too for a :class:`Forwarded` (queued there, written in the turn its answer
frame is read), by ``_on_ready`` for anything else.  Requests that
run here answer from the items' cached JSON where the single-process
server does (``kvstore.api.ENCODED_PATHS``).

Not done yet: a transaction whose participant is back only after its
coordinator failed too and its fellows forgot the commit, or after a
change of the worker count, can be left partly applied (see above);
--enforce-throughput keeps a
token bucket per worker (a table gets its rate on each worker); a PartiQL
SELECT that scans copies every worker's items of the table to the front.
"""

import asyncio
import bisect
import collections
import heapq
import inspect
import logging
import random
from functools import partial

import msgspec

from kvstore import api
from kvstore._core import (
    encode_key_value,
    hash64,
    json_encode,
    route_raw_writes,
    route_writes,
    routed_writes,
    store_part,
    wire_owner,
    wire_query_owner,
)
from kvstore.api.batch import plain_write_plans
from kvstore.api.read import MAX_PAGE_BYTES, ReadRequest, _read_page
from kvstore.api.transact import CONFLICT_MESSAGE, _reason, begin_write, cancelled
from kvstore.api.validation import validate_request
from kvstore.capacity import render_list
from kvstore.errors import DynamoDBError, ServiceUnavailable
from kvstore.recovery import _update_table, build_table, reopen_streams, same_table
from kvstore.schema import TOKEN_SPACE, scan_order
from kvstore.values import MAX_ITEM_SIZE, item_size
from kvstore.wal import table_meta

from ._http import FastPath, Forwarded, encode_response
from ._peer import forward as _forward_to
from .app import make_handler
from .http import _CLOSE, _KEEP_ALIVE, _SMALL_BODY, INTERNAL_ERROR_BODY, HttpProtocol
from .peers import PeerNode, PeerUnavailable

__all__ = ["Cluster", "AsyncHttpProtocol", "Forwarded", "RemoteIndexPartitions", "DEFERRED", "DDL_OPERATIONS"]

log = logging.getLogger("server.cluster")

DEFERRED = 0  # the status of a deferred answer: (DEFERRED, future of (status, payload) or Forwarded)

DYNAMODB_PREFIX = b"DynamoDB_20120810."
STREAMS_PREFIX = b"DynamoDBStreams_20120810."

# Operations that change table metadata: ordered by worker 0, applied everywhere.
DDL_OPERATIONS = frozenset((
    "CreateTable", "UpdateTable", "DeleteTable", "TagResource", "UntagResource",
    "UpdateTimeToLive", "UpdateContinuousBackups", "UpdateContributorInsights",
    "EnableKinesisStreamingDestination", "DisableKinesisStreamingDestination",
    "UpdateKinesisStreamingDestination", "PutResourcePolicy", "DeleteResourcePolicy",
    "UpdateTableReplicaAutoScaling",
))
ITEM_OPERATIONS = frozenset(("GetItem", "PutItem", "DeleteItem", "UpdateItem"))
# An item operation's request member holding its key: wire_owner reads the
# owner from the raw body there, before (and mostly instead of) decoding it.
KEY_MEMBERS = {"GetItem": b"Key", "DeleteItem": b"Key", "UpdateItem": b"Key", "PutItem": b"Item"}

DDL_TIMEOUT = 60.0
TX_HOLD_SECONDS = 10.0   # a prepared participant aborts by itself after this
TX_CALL_SECONDS = 5.0
TX_ASK_SECONDS = 1.0     # a participant past its hold asks the others this long at most
# With a log: how long a participant past its hold keeps asking a participant
# out of reach (restarting: it may hold the commit on disk) before an abort.
TX_RECOVER_SECONDS = 60.0
# With a log: how long a coordinator keeps telling a participant whose
# commit call failed the commit (it may be restarting, slowly).
TX_DELIVER_SECONDS = 600.0
# How long a transaction's outcome is remembered for the participants
# that ask (on_tx_status): past any participant's hold.
TX_OUTCOME_SECONDS = 3 * TX_HOLD_SECONDS
TX_GET_ATTEMPTS = 4     # cross-worker TransactGetItems: reads before a TransactionConflict
DRAIN_SECONDS = 3.0      # a stopping worker waits this long at most for open transactions
STASH_SECONDS = 30.0

_encode = json_encode  # the core's: the items it stores as JSON are answers as they stand
_decode = msgspec.json.Decoder().decode
_msgpack_encode = msgspec.msgpack.encode

# A plain BatchWriteItem's part in stored form (Cluster._spread_writes): an
# internal forward op, never a DynamoDB operation; RESEND is its answer when
# the owner cannot take it so (nothing written): the front sends it as JSON.
STORE_WRITES = "kvstore.StoreWrites"
RESEND = 1

_INTERNAL_ERROR = _decode(INTERNAL_ERROR_BODY)
UNAVAILABLE_BODY = _encode(ServiceUnavailable(
    "The service is currently unavailable or busy: the partition's worker is restarting."
).to_body())

# Table attributes that are storage or derived from the definition: never
# part of a metadata snapshot.
_STORAGE_ATTRIBUTES = frozenset((
    "ring", "partitions", "local_indexes", "global_indexes", "indexes", "index_by_name",
    "_index_key_checks",
))


_STREAM_CREATED = "__stream_created__"


def _table_name(req):
    name = req.get("TableName")
    if type(name) is str:
        return name
    arn = req.get("ResourceArn")
    if type(arn) is str and ":table/" in arn:
        return arn.split(":table/", 1)[1].split("/", 1)[0]
    return None


def snapshot(table):
    """The table's plain-data attributes (what msgpack can carry)."""
    out = {}
    for name, value in vars(table).items():
        if name in _STORAGE_ATTRIBUTES:
            continue
        try:
            _msgpack_encode(value)
        except (TypeError, OverflowError):
            continue
        out[name] = value
    stream = getattr(table, "latest_stream", None)
    out[_STREAM_CREATED] = stream.created if stream is not None else None
    return out


def apply_snapshot(table, snap):
    """Make ``table``'s metadata the coordinator's (see :func:`snapshot`)."""
    missing = object()
    relink = False
    for name, value in snap.items():
        if name == _STREAM_CREATED:
            continue
        current = getattr(table, name, missing)
        if type(current) is tuple and type(value) is list:
            value = tuple(value)
        if current != value:
            setattr(table, name, value)
            relink = relink or name in ("global_secondary_indexes", "local_secondary_indexes")
    if relink:
        for index in table.indexes:
            group = table.global_secondary_indexes if index.is_global else table.local_secondary_indexes
            for definition in group or ():
                if definition["IndexName"] == index.name:
                    index.definition = definition


def _merge_unprocessed(into, op, name, entry):
    if op == "BatchWriteItem":
        into.setdefault(name, []).extend(entry)
    else:
        found = into.get(name)
        if found is None:
            into[name] = {**entry, "Keys": list(entry["Keys"])}
        else:
            found["Keys"].extend(entry["Keys"])


def _merge_batch(op, req, subs, answers):
    """The answer of a BatchGetItem/BatchWriteItem run in parts: ``subs``
    and ``answers`` map each owner to its part and to its ``(status, answer
    object)`` or exception; a failed part is handed back as unprocessed."""
    unprocessed_member = "UnprocessedItems" if op == "BatchWriteItem" else "UnprocessedKeys"
    out = {"Responses": {name: [] for name in req["RequestItems"]}} if op == "BatchGetItem" else {}
    out[unprocessed_member] = {}
    consumed = []
    metrics = {}
    failures = []
    for owner, answer in answers.items():
        if isinstance(answer, BaseException) or answer[0] != 200:
            log.warning("%s: worker %d: %.200r", op, owner, answer)
            failures.append(answer)
            # Not done (its worker is restarting, say): the client retries it.
            for name, entry in subs[owner]["RequestItems"].items():
                _merge_unprocessed(out[unprocessed_member], op, name, entry)
            continue
        part = answer[1]
        for name, found in part.get("Responses", {}).items():
            out["Responses"].setdefault(name, []).extend(found)
        for name, entry in part.get(unprocessed_member, {}).items():
            _merge_unprocessed(out[unprocessed_member], op, name, entry)
        consumed.extend(part.get("ConsumedCapacity") or ())
        for name, found in (part.get("ItemCollectionMetrics") or {}).items():
            metrics.setdefault(name, []).extend(found)
    if len(failures) == len(answers):
        first = failures[0]
        if isinstance(first, BaseException):
            return 503, UNAVAILABLE_BODY
        return first[0], _encode(first[1])
    if req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        out["ConsumedCapacity"] = _sum_consumed(consumed)
    if metrics:
        out["ItemCollectionMetrics"] = metrics
    return 200, _encode(out)


_NOTHING_UNPROCESSED = _encode({"UnprocessedItems": {}})


def _form_json(part):
    """The JSON of a part in stored form (see ``_core.route_writes``) as a
    BatchWriteItem: each put's item and each delete's key are there as
    JSON already."""
    tables = []
    for name, _table_id, writes in routed_writes(part):
        requests = [b'{"PutRequest":{"Item":%b}}' % raw if size >= 0 else b'{"DeleteRequest":{"Key":%b}}' % raw
                    for _hk, _sk, raw, size in writes]
        tables.append(b"%b:[%b]" % (_encode(name), b",".join(requests)))
    return b'{"RequestItems":{%b}}' % b",".join(tables)


class _Parts:
    """The parts of a plain BatchWriteItem in flight (``Cluster._spread_writes``):
    counted as they answer, with no future per part; the last answer
    resolves ``answer`` (a :class:`Forwarded`) with the merged one.  A part
    answered RESEND is forwarded again as JSON by ``forward``
    (``PeerNode.forward``).

    ``parts`` maps each owner to its part: its RequestItems, or when
    ``stored`` its stored form as sent, which holds all a resend
    or an unprocessed answer needs (as JSON).  So the request's decoded
    tree is not kept: it is freed as soon as the parts are sent, while
    still in the caches.  (Kept until the last answer, after every worker
    ran, freeing it cost about as much as the rest of the front's work.)"""

    __slots__ = ("parts", "stored", "answers", "answer", "forward", "others")

    def __init__(self, parts, stored, forward):
        self.parts = parts
        self.stored = stored
        self.answers = {}     # owner -> (status, JSON bytes) or exception
        self.answer = Forwarded()
        self.forward = forward
        self.others = 0       # answers other than 200 with nothing unprocessed

    def json(self, owner):
        """``owner``'s part as the JSON of a BatchWriteItem."""
        part = self.parts[owner]
        return _form_json(part) if self.stored else _encode({"RequestItems": part})

    def send_json(self, owner):
        """Forward ``owner``'s part as the BatchWriteItem of its JSON."""
        self.forward(owner, "BatchWriteItem", self.json(owner), partial(self.done, owner))

    def done(self, owner, status, payload):
        """One part's answer (``PeerNode.forward``'s ``done`` convention)."""
        if status == RESEND:
            # Its owner wrote none of it: the general path there decides.
            self.send_json(owner)
            return
        self.answers[owner] = (status, payload) if status else payload
        if status != 200 or payload != _NOTHING_UNPROCESSED:
            self.others += 1
        if len(self.answers) < len(self.parts):
            return
        if not self.others:
            self.answer(200, _NOTHING_UNPROCESSED)
            return
        try:
            result = self._merged()
        except Exception:
            log.exception("internal error answering BatchWriteItem")
            result = 500, INTERNAL_ERROR_BODY
        self.answer(*result)

    def _merged(self):
        answers = self.answers
        decoded = {owner: (a[0], _decode(a[1])) if type(a) is tuple else a for owner, a in answers.items()}
        if self.stored:
            subs = {owner: _decode(self.json(owner)) for owner in self.parts}
        else:
            subs = {owner: {"RequestItems": request_items} for owner, request_items in self.parts.items()}
        # A plain batch has only RequestItems: no ReturnConsumedCapacity.
        return _merge_batch("BatchWriteItem", {}, subs, decoded)


def _settled(fut):
    """``(status, payload)`` of a finished future of it, or ``(0, exception)``."""
    if fut.cancelled():
        return 0, asyncio.CancelledError()
    exc = fut.exception()
    return (0, exc) if exc is not None else fut.result()


def _add_numbers(into, other):
    for key, value in other.items():
        if key not in into:
            into[key] = value
        elif type(value) is dict and type(into[key]) is dict:
            _add_numbers(into[key], value)
        elif type(value) in (int, float) and type(into[key]) in (int, float):
            into[key] = into[key] + value


def _sum_consumed(entries):
    """ConsumedCapacity lists from several workers: one entry per table, summed."""
    by_table = {}
    for entry in entries:
        found = by_table.get(entry.get("TableName"))
        if found is None:
            by_table[entry.get("TableName")] = {k: (dict(v) if type(v) is dict else v) for k, v in entry.items()}
        else:
            _add_numbers(found, entry)
    return list(by_table.values())


def _tokens(db):
    from kvstore.api import transact

    tokens = getattr(db, "transaction_tokens", None)
    if tokens is None:
        tokens = db.transaction_tokens = transact._Tokens()
    return tokens


def _fingerprint(req):
    from kvstore.api import transact

    return transact._fingerprint(req)


def _partiql_transaction(db, statements):
    """ExecuteTransaction's write statements as a transact.Transaction (its
    prepare/commit/abort steps); ``.inserts`` marks the INSERT statements."""
    from kvstore.api.partiql import _plan_transaction_statement
    from kvstore.api.transact import CheckWrite, Transaction

    writes, kinds, inserts = [], [], []
    for i, entry in enumerate(statements):
        p = _plan_transaction_statement(db, i, entry)
        write = p.write
        if p.kind == "check":
            check = CheckWrite.__new__(CheckWrite)
            for name in ("table", "loc", "key", "condition", "failure_returns_old"):
                setattr(check, name, getattr(write, name))
            write = check
        writes.append(write)
        kinds.append("ConditionCheck" if p.kind == "check" else "Update")
        inserts.append(p.kind == "write" and p.statement == "insert")
    tx = Transaction(db, writes, kinds)
    tx.inserts = inserts
    return tx


def _partiql_reason(reason, insert):
    if insert and reason.get("Code") == "ConditionalCheckFailed":
        return {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}
    return reason


class _Nowhere(dict):
    """Every partition elsewhere (a validation pass: see Cluster.validate_only)."""

    def __missing__(self, part):
        return _ELSEWHERE


# -- GSI entries on other workers -----------------------------------------------


class _RemotePartition:
    """Stands in for a ring partition of a GSI stored by another worker."""

    __slots__ = ("cluster", "index", "part", "owner")

    def __init__(self, cluster, index, part, owner):
        self.cluster = cluster
        self.index = index
        self.part = part
        self.owner = owner

    def put(self, token, hk, sk, item, size):
        index = self.index
        self.cluster.index_change(self.owner, [index.table.name, index.name, self.part, token, hk, sk, item, size])

    def delete(self, hk, sk):
        index = self.index
        self.cluster.index_change(self.owner, [index.table.name, index.name, self.part, None, hk, sk, None, 0])

    def __getattr__(self, name):
        # A read of the index (a Query on its key): the owner answers it.
        raise NotHere(self.owner)


class RemoteIndexPartitions(dict):
    """A GSI's local partitions; a missing one is another worker's (a proxy).

    ``get`` and iteration see only the local ones (scans, counts)."""

    __slots__ = ("cluster", "index")

    def __missing__(self, part):
        cluster = self.cluster
        return _RemotePartition(cluster, self.index, part, cluster.ring.partition_owner(part))


class NotHere(Exception):
    """A request touched a ring partition another worker stores (before any
    write of its own): ``args[0]`` is that worker.  The request is forwarded."""


class _Elsewhere:
    """Stands in for another worker's partition of a table: any use raises NotHere."""

    __slots__ = ("owner",)

    def __init__(self, owner):
        self.owner = owner

    def __getattr__(self, name):
        raise NotHere(self.owner)

    def __len__(self):
        raise NotHere(self.owner)


class RemoteTablePartitions(dict):
    """A table's local partitions; a missing one is another worker's."""

    __slots__ = ("ring",)

    def __missing__(self, part):
        return _Elsewhere(self.ring.partition_owner(part))


_ELSEWHERE = _Elsewhere(None)
_NOWHERE = _Nowhere()


def wrap_table(table, ring):
    """Let every lookup of a partition this worker does not store say whose it is."""
    for holder in [table] + list(table.local_indexes):
        if type(holder.partitions) is not RemoteTablePartitions:
            wrapped = RemoteTablePartitions(holder.partitions)
            wrapped.ring = ring
            holder.partitions = wrapped


class _GatheredRead(ReadRequest):
    """A Scan whose entries were gathered from every worker (in token order)."""

    __slots__ = ("gathered",)

    def entries(self):
        return self.gathered


def build_database(worker, count, **options):
    """The engine of worker ``worker`` of ``count``: shard ``worker`` of the
    ring ``Ring(range(count))``, whose tables know other workers' partitions.
    ``options`` go to ``kvstore.Database``."""
    from kvstore import Database
    from kvstore._core import Ring
    from kvstore.database import VNODES

    class ClusterDatabase(Database):
        def add_table(self, table):
            super().add_table(table)
            wrap_table(table, self.ring)

    db = ClusterDatabase(**{k: v for k, v in options.items() if v})
    db.shard = worker
    db.ring = Ring(range(count), VNODES)
    return db


# -- the cluster -----------------------------------------------------------------


class Cluster:
    """One worker's view of the server: its engine, its peers, the routing."""

    def __init__(self, db, worker, count, directory, *, loop=None):
        self.db = db
        self.worker = worker
        self.count = count
        self.others = [i for i in range(count) if i != worker]
        self.ring = db.ring
        self.loop = loop or asyncio.get_event_loop()
        self.peers = PeerNode(worker, directory, {
            # The calls that write answer once their log records are durable.
            "part": self._durably(self.on_part),
            "ddl": self._durably(self.on_ddl),
            "catalog": self.on_catalog,
            "gsi_sync": self.on_gsi_sync,
            "gsi_request": self.on_gsi_request,
            "counts": self.on_counts,
            "scan": self.on_scan,
            "gsi": self.on_index_change,
            "ping": lambda body: body,
            "stream_shards": self.on_stream_shards,
            # "tx_prepare": set with self.commit (its vote waits for its Prepare record)
            "tx_commit": self._durably(self.on_tx_commit),
            "tx_abort": self.on_tx_abort,
            "tx_status": self.on_tx_status,
            "tx_get": self.on_tx_get,
        }, on_forward=self.on_request, loop=self.loop)
        self.commit = None          # server/commit.py's GroupCommit, with --data-dir (a property)
        self.recovering = False     # replaying the log: GSI changes for others are not sent
        self.synced = False         # the catalog is worker 0's: may hand it to others
        self.ddl_epoch = 0          # metadata changes ordered by worker 0 so far
        self.local = make_handler(db)
        self.pending = []           # acks of index changes made by the running request
        self.stash = []             # (time, body, future): index changes for an index not here yet
        self.ddl_lock = asyncio.Lock()
        self.routes = {}            # raw X-Amz-Target -> operation name or None
        self.dispatch = api.dispatch
        # operation -> (db, req, encode) -> JSON bytes or None (kvstore.api.ENCODED_PATHS)
        self.encoded = dict(getattr(api, "ENCODED_PATHS", {}))
        self.routers = {op: self.route_item for op in ITEM_OPERATIONS}
        self.routers.update({
            "Query": self.route_query,
            "Scan": self.route_scan,
            "DescribeTable": self.route_describe,
        })
        for op in DDL_OPERATIONS:
            self.routers[op] = self.route_ddl
        for op in ("BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems"):
            self.routers[op] = self.route_multi
        self.routers["ExecuteStatement"] = self.route_statement
        self.routers["BatchExecuteStatement"] = self.route_statements
        self.routers["ExecuteTransaction"] = self.route_statements
        self.routers["Streams.GetShardIterator"] = self.route_shard
        self.routers["Streams.GetRecords"] = self.route_shard
        self.routers["Streams.DescribeStream"] = self.route_describe_stream
        self.renamed = set()        # ids of the Streams whose shard ids name this worker
        self.transactions = {}      # txid -> (Transaction, expiry timer): prepared here
        self.tx_participants = {}   # txid -> the workers it was prepared on (prepared here)
        # txid -> "commit" / "abort": how a transaction ended here (as a
        # participant) or was decided here (as its coordinator; None while
        # undecided), kept TX_OUTCOME_SECONDS for a participant past its hold.
        self.tx_outcomes = {}
        self.tx_outcome_order = collections.deque()  # (forget at, txid), oldest first
        self.tx_late = {}           # txid -> consumed: committed by asking, its commit call to come
        # Transaction ids name their coordinator and this incarnation of it:
        # a restarted worker's ids are not its former self's.
        self.tx_prefix = f"{worker}.{random.getrandbits(32):08x}."
        self.tx_counter = 0
        self.coordinating = 0       # cross-worker transactions this worker is deciding
        self.tx_commits = 0         # their parts committed here (TransactGetItems' check)
        self.tx_delivering = set()  # txids decided commit, still told to a participant (_tx_deliver)

    @property
    def commit(self):
        return self._commit

    @commit.setter
    def commit(self, commit):
        """With a log, a forwarded request's answer, and a participant's
        vote, wait for their records (``_durably``); without one, nothing to
        wait for: no wrapper."""
        self._commit = commit
        self.peers.on_forward = self.on_request if commit is None else self._durably(self.on_request)
        self.tx_prepare = self.on_tx_prepare if commit is None else self._durably(self.on_tx_prepare)
        self.peers.handlers["tx_prepare"] = self.tx_prepare

    # -- lifetime --------------------------------------------------------------

    async def start(self, catalog_wait=30.0):
        """Take the table catalog from a live worker, open our socket, then
        take worker 0's (which orders metadata changes: its word is final),
        and exchange GSI entries with the live workers.

        Before listening the catalog comes from any live worker that has
        itself finished starting (so that forwarded requests meet the right
        tables); worker 0 uses its own recovered tables when none is live
        (a whole server starting).  Once listening, a worker other than 0
        waits (up to ``catalog_wait`` seconds) for worker 0's catalog: worker
        0 may order a change while we start, which reaches us only once we
        listen, and after a whole restart its log is the one with every
        acknowledged change.

        With a log, the transactions it recovered prepared are prepared
        again before it listens (:meth:`recover_transactions`)."""
        peers = sorted(self.others, key=lambda p: p != 0)
        for peer in peers:
            try:
                catalog = await self.peers.call(peer, "catalog", None, timeout=10.0)
            except PeerUnavailable:
                continue
            if self.catch_up(catalog):
                break
        if self._commit is not None:
            self.recover_transactions(self.db.durable.report)
        await self.peers.listen()
        if self.worker != 0:
            deadline = self.loop.time() + catalog_wait
            while True:
                try:
                    if self.catch_up(await self.peers.call(0, "catalog", None, timeout=10.0)):
                        break
                except PeerUnavailable:
                    pass
                if self.loop.time() > deadline:
                    log.warning("worker %d: no catalog from worker 0; serving with its own", self.worker)
                    break
                await asyncio.sleep(0.05)
        self.synced = True
        await self.exchange_index_entries()

    async def drain(self, timeout=DRAIN_SECONDS):
        """Before the links close (a stop): let the transactions prepared here
        hear their decision, and the ones coordinated here finish, so that a
        clean stop never leaves a transaction committed on some workers only
        (bounded by ``timeout``)."""
        deadline = self.loop.time() + timeout
        while (self.transactions or self.coordinating) and self.loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def close(self):
        await self.peers.close()

    def index_partitions(self, index, partitions):
        """The ``kvstore.schema.Index.remote_partitions`` hook."""
        wrapped = RemoteIndexPartitions(partitions)
        wrapped.cluster = self
        wrapped.index = index
        return wrapped

    # -- the HTTP front ------------------------------------------------------------

    def handle(self, target, body):
        """``(target, body) -> (status, payload)`` or ``(DEFERRED, future)``;
        with a log, an answer that follows writes waits for their fsync."""
        commit = self.commit
        if commit is None:
            return self.route(target, body)
        wal = commit.wal
        seq = wal.seq
        result = self.route(target, body)
        if wal.seq == seq and (result[0] != DEFERRED or type(result[1]) is Forwarded):
            # Nothing logged here (a forwarded request's owner answers once
            # its own log records are durable).
            return result
        if result[0] == DEFERRED:
            return DEFERRED, self.loop.create_task(self._durable_answer(seq, result[1]))
        return DEFERRED, self.loop.create_task(self._durable_answer(seq, result))

    def _durably(self, handler):
        """A peer-call handler whose reply waits for the log records it wrote."""

        def run(*args):
            commit = self.commit
            if commit is None:
                return handler(*args)
            seq = commit.wal.seq
            result = handler(*args)
            if not inspect.isawaitable(result) and commit.wal.seq == seq:
                return result
            return self._durable_answer(seq, result)

        return run

    async def _durable_answer(self, seq, result):
        """``result`` (or what it resolves to) once every log record appended
        since ``seq`` -- its own among them -- is durable."""
        if inspect.isawaitable(result):
            result = await result
        commit = self.commit
        if commit is not None and commit.wal.seq != seq:
            await commit.barrier()
        return result

    def route(self, target, body):
        """``handle`` without the wait for the log."""
        routes = self.routes
        op = routes.get(target, False)
        if op is False:
            op = None
            for prefix, kind in ((DYNAMODB_PREFIX, ""), (STREAMS_PREFIX, "Streams.")):
                if target is not None and target.startswith(prefix):
                    name = target[len(prefix):]
                    if name and b"." not in name:
                        try:
                            op = kind + name.decode("ascii")
                        except UnicodeDecodeError:
                            op = None
            if len(routes) < 256:
                routes[target] = op
        if op is None or not body:
            return self.local(target, body)
        # Another worker's item request or Query: its raw body goes there
        # undecoded (-1: not certain from the bytes; route_item or
        # route_query decides).
        member = KEY_MEMBERS.get(op)
        if member is not None:
            owner = wire_owner(body, member, self.db.tables, self.ring)
        elif op == "Query":
            owner = wire_query_owner(body, self.db.tables, self.ring)
        else:
            owner = -1
        if owner >= 0 and owner != self.worker:
            return DEFERRED, self.forward(owner, op, body)
        if op == "BatchWriteItem":
            # A plain batch split by owner straight from its bytes (None:
            # not certain from them; route_multi decodes it).
            db = self.db
            forms = None if db.throughput.enabled or db.locks._held else route_raw_writes(
                body, db.tables, MAX_ITEM_SIZE)
            if forms is not None:
                if len(forms) == 1 and self.worker in forms and self.store_forms(forms[self.worker]):
                    return 200, _NOTHING_UNPROCESSED
                return DEFERRED, self._spread_writes(None, forms)
        try:
            req = _decode(body)
        except Exception:
            return self.local(target, body)
        if type(req) is not dict:
            return self.local(target, body)
        router = self.routers.get(op)
        if router is None:
            if op.startswith("Streams."):
                return self.local(target, body)
            return self._deferred(self.run_local(op, req))
        return self._deferred(router(op, body, req))

    @staticmethod
    def _deferred(result):
        if type(result) is tuple:
            return result
        return DEFERRED, result

    def run_local(self, op, req, may_forward=True):
        """Dispatch here: (status, payload), or a future of it when the
        request changed GSI entries on other workers (answered after their
        acks) or turned out to be another worker's (forwarded)."""
        pending = self.pending
        try:
            encoded = self.encoded.get(op)
            if encoded is not None and (answer := encoded(self.db, req, _encode)) is not None:
                # GetItem, Query, ...: the answer spliced from cached JSON, as
                # server/app.py's handler does (None: a partition not here, or
                # a request for the general path)
                result = 200, answer
            elif op.startswith("Streams."):
                result = 200, _encode(api.streams_dispatch(self.db, op[8:], req))
            else:
                result = 200, _encode(self.dispatch(self.db, op, req))
        except NotHere as here:
            # Validation passed and nothing was written: the owner answers.
            self.pending.clear()
            self._release_stray_locks()
            if may_forward:
                return self.forward(here.args[0], op, _encode(req))
            log.error("%s reached worker %d for worker %s's partition", op, self.worker, here.args[0])
            result = 500, INTERNAL_ERROR_BODY
        except DynamoDBError as err:
            result = err.status, _encode(err.to_body())
        except Exception:
            log.exception("internal error answering %s", op)
            result = 500, INTERNAL_ERROR_BODY
        if not pending:
            return result
        acks = self.take_pending()
        return self.loop.create_task(self._after(acks, result))

    def _release_stray_locks(self):
        """Locks taken by a request that stopped at another worker's partition.

        Only this worker's prepared two-phase-commit participants hold locks
        between loop turns; any other lock was taken by the request that was
        just interrupted."""
        held = self.db.locks._held
        if held:
            live = {tx.id for tx, _timer in self.transactions.values()}
            for key in [k for k, txid in held.items() if txid not in live]:
                del held[key]

    def take_pending(self):
        acks = list(self.pending)
        self.pending.clear()
        return acks

    async def _after(self, acks, result):
        outcomes = await asyncio.gather(*acks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                log.error("a GSI change on another worker failed: %r", outcome)
        return result

    def forward(self, owner, op, body):
        """Send the request to ``owner``: a :class:`Forwarded` of its answer."""
        answer = Forwarded()
        # PeerNode.forward itself, in C: a Python frame fewer per request.
        _forward_to(self.peers, owner, op, body, answer)
        return answer

    def route_item(self, op, body, req):
        table = self.db.tables.get(req.get("TableName")) if type(req.get("TableName")) is str else None
        if table is None:
            return self.run_local(op, req)
        source = req.get("Item") if op == "PutItem" else req.get("Key")
        try:
            owner = self.ring.owner(hash64(encode_key_value(source[table.hash_key])))
        except Exception:
            return self.run_local(op, req)
        if owner == self.worker:
            return self.run_local(op, req)
        return self.forward(owner, op, body)

    def route_query(self, op, body, req):
        # Only the hash key's value is read here (its owner checks the rest,
        # and an invalid request fails the same way on any worker).
        try:
            token = hash64(encode_key_value(self._query_hash_value(req)))
        except Exception:
            return self.run_local(op, req)
        owner = self.ring.owner(token)
        if owner == self.worker:
            return self.run_local(op, req)
        return self.forward(owner, op, body)

    def _query_hash_value(self, req):
        """The value a Query's key condition gives the hash key (raises if none)."""
        table = self.db.tables[req["TableName"]]
        index_name = req.get("IndexName")
        hash_key = table.hash_key if index_name is None else table.find_index(index_name).hash_key
        text = req.get("KeyConditionExpression")
        if text is None:
            return req["KeyConditions"][hash_key]["AttributeValueList"][0]
        values = req["ExpressionAttributeValues"]
        names = req.get("ExpressionAttributeNames") or {}
        # The usual shape, "<hash key> = :v [AND ...]", without the parser.
        words = text.split()
        for i in range(len(words) - 2):
            if words[i + 1] == "=" and names.get(words[i], words[i]) == hash_key and words[i + 2][:1] == ":":
                return values[words[i + 2]]
        from kvstore.api.read import _collect_key_conditions
        from kvstore.expressions import Resolver

        conditions = {}
        _collect_key_conditions(Resolver(names, values).key_condition(text).root, conditions)
        return conditions[hash_key][1][0]

    def route_ddl(self, op, body, req):
        if self.worker != 0:
            return self.forward(0, op, body)
        return self.loop.create_task(self.coordinate(op, body, req))

    def route_describe(self, op, body, req):
        try:
            out = self.dispatch(self.db, op, req)
        except DynamoDBError as err:
            return err.status, _encode(err.to_body())
        except Exception:
            log.exception("internal error answering %s", op)
            return 500, INTERNAL_ERROR_BODY
        if not self.others:
            return 200, _encode(out)
        return self.loop.create_task(self._summed(out, "Table"))

    def route_scan(self, op, body, req):
        try:
            plan = _GatheredRead(self.db, req, False)
        except DynamoDBError as err:
            return err.status, _encode(err.to_body())
        except Exception:
            log.exception("internal error answering %s", op)
            return 500, INTERNAL_ERROR_BODY
        return self.loop.create_task(self._scan(plan))

    # -- BatchGetItem, BatchWriteItem, TransactGetItems, TransactWriteItems ---------------

    def _owner_of(self, table_name, key):
        table = self.db.tables[table_name]
        return self.ring.owner(hash64(encode_key_value(key[table.hash_key])))

    def _groups(self, op, req):
        """owner -> [(position, table name, entry)] for every key of a
        multi-item request, or None if a key cannot be read (malformed)."""
        groups = {}
        try:
            if op == "BatchWriteItem":
                for name, requests in req["RequestItems"].items():
                    for position, request in enumerate(requests):
                        put = request.get("PutRequest")
                        key = put["Item"] if put is not None else request["DeleteRequest"]["Key"]
                        groups.setdefault(self._owner_of(name, key), []).append((position, name, request))
            elif op == "BatchGetItem":
                for name, entry in req["RequestItems"].items():
                    for position, key in enumerate(entry["Keys"]):
                        groups.setdefault(self._owner_of(name, key), []).append((position, name, key))
            else:
                for position, entry in enumerate(req["TransactItems"]):
                    (kind, action), = entry.items()
                    key = action["Item"] if kind == "Put" else action["Key"]
                    groups.setdefault(self._owner_of(action["TableName"], key), []).append(
                        (position, action["TableName"], entry))
        except Exception:
            return None
        return groups

    def validate_only(self, op, req):
        """Run every check of ``op`` with no partition reachable: None when the
        request is valid (it stopped at its first storage access), else the
        error answer.  Nothing is read or written."""
        tables = self.db.tables
        saved = {}
        try:
            for name, table in tables.items():
                saved[name] = table.partitions
                table.partitions = _NOWHERE
            if op == "TransactWriteItems":
                # Its checks, without its prepare step (which takes locks).
                validate_request(op, req)
                begin_write(self.db, req)
            else:
                self.dispatch(self.db, op, req)
        except NotHere:
            return None
        except DynamoDBError as err:
            return err.status, _encode(err.to_body())
        finally:
            for name, partitions in saved.items():
                table = tables.get(name)
                if table is not None:
                    table.partitions = partitions
            self.pending.clear()
        return None

    def route_multi(self, op, body, req):
        plain = self._plain_write_groups(req) if op == "BatchWriteItem" else None
        groups = plain[0] if plain is not None else self._groups(op, req)
        forms = plain[1] if plain is not None else None
        if groups is None or not groups:
            return self.run_local(op, req)
        if len(groups) == 1:
            (owner,) = groups
            if owner == self.worker:
                if forms is not None and self.store_forms(forms[owner]):
                    return 200, _NOTHING_UNPROCESSED
                return self.run_local(op, req)
            if forms is None:
                return self.forward(owner, op, body)
            # else in stored form: a part of its own, below
        if plain is not None:
            return self._spread_writes(groups, forms)
        problem = self.validate_only(op, req)
        if problem is not None:
            return problem
        if op == "TransactWriteItems":
            token = req.get("ClientRequestToken")
            if type(token) is str:
                # One worker per token coordinates it, so the token is remembered once.
                coordinator = hash64(token.encode()) % self.count
                if coordinator != self.worker:
                    return self.forward(coordinator, op, body)
            return self.loop.create_task(self._transact_write(req, groups))
        if op == "TransactGetItems":
            return self.loop.create_task(self._transact_get(req, groups))
        return self.loop.create_task(self._batch(op, req, groups))

    def _call(self, owner, op, sub):
        """Run a part of a multi-owner request on ``owner``: an awaitable of
        ``(status, body)``, ``body`` the answer's (or the error's) JSON object
        as data.  Parts travel as msgpack (``"part"`` calls): nobody encodes
        or decodes JSON for them."""
        if owner == self.worker:
            return self._here(self.on_part, (op, sub))
        return self.peers.call(owner, "part", (op, sub))

    def on_part(self, body):
        """A part of a multi-owner request (already checked whole by the
        front, :meth:`validate_only`): ``(status, answer object)``, or a
        future of it when it changed GSI entries on other workers."""
        op, sub = body
        try:
            # Its request's members were checked whole at the front
            # (validate_request is dispatch's first step): the operation
            # runs without that step here.
            run = api.OPERATIONS.get(op)
            if run is None or self.dispatch is not api.dispatch:
                result = 200, self.dispatch(self.db, op, sub)
            else:
                result = 200, run(self.db, sub)
        except NotHere as here:
            self.pending.clear()
            self._release_stray_locks()
            log.error("%s reached worker %d for worker %s's partition", op, self.worker, here.args[0])
            result = 500, _INTERNAL_ERROR
        except DynamoDBError as err:
            result = err.status, err.to_body()
        except Exception:
            log.exception("internal error answering %s", op)
            result = 500, _INTERNAL_ERROR
        if not self.pending:
            return result
        return self.loop.create_task(self._after(self.take_pending(), result))

    async def _batch(self, op, req, groups):
        subs = {}
        for owner, entries in groups.items():
            request_items = {}
            for _position, name, entry in entries:
                if op == "BatchWriteItem":
                    request_items.setdefault(name, []).append(entry)
                else:
                    request_items.setdefault(name, {**req["RequestItems"][name], "Keys": []})["Keys"].append(entry)
            subs[owner] = {**req, "RequestItems": request_items}
        owners = list(subs)
        answers = await asyncio.gather(*(self._call(o, op, subs[o]) for o in owners), return_exceptions=True)
        return _merge_batch(op, req, subs, dict(zip(owners, answers)))

    # -- plain BatchWriteItem: checked whole here, a forward frame per owner ------------

    def _plain_write_groups(self, req):
        """``(groups, forms)`` of a BatchWriteItem that ``batch_write_fast``
        takes whole: every request certainly valid (so no
        :meth:`validate_only` pass) and no item twice; else None.

        ``groups``: owner -> {table name: [WriteRequest, ...]}.  ``forms``:
        owner -> its part, the writes in stored form (``_core.route_writes``)
        when every table writes alone (no index, stream or log) and every
        item has a JSON form, else None."""
        plans = plain_write_plans(self.db, req)
        if plans is None:
            return None
        groups = {}
        forms = {} if all(table.writes_alone for _name, table, _requests, _writes in plans) else None
        for _name, table, requests, writes in plans:
            complete = route_writes(table, requests, writes, groups, forms)
            if complete is None:
                return None
            if not complete:
                forms = None
        return groups, forms

    def _spread_writes(self, groups, forms):
        """A plain BatchWriteItem's parts, run by their owners: a
        :class:`Forwarded` of the gathered answer.  With ``forms`` (see
        :meth:`_plain_write_groups`; ``groups`` None when they were made
        from the request's bytes, ``_core.route_raw_writes``) the other owners' parts go as
        STORE_WRITES forward frames of their stored form and ours
        is stored here (:meth:`store_forms`); else, or where an owner cannot
        take it so, as forward frames of their JSON, run there by
        ``batch_write_fast`` again and answered as JSON."""
        if forms is None:
            parts = _Parts(groups, False, self.peers.forward)
        else:
            parts = _Parts(forms, True, self.peers.forward)
        for owner in groups if groups is not None else forms:
            if owner != self.worker:
                if forms is None:
                    parts.send_json(owner)
                else:
                    _forward_to(self.peers, owner, STORE_WRITES, parts.parts[owner], partial(parts.done, owner))
                continue
            if forms is not None and self.store_forms(forms[owner]):
                parts.done(owner, 200, _NOTHING_UNPROCESSED)
                continue
            # Not stored so here (a table changed, a lock taken): the general path.
            request_items = groups[owner] if groups is not None else _decode(_form_json(forms[owner]))["RequestItems"]
            result = self.run_local("BatchWriteItem", {"RequestItems": request_items}, may_forward=False)
            if type(result) is tuple:
                parts.done(owner, *result)
            else:
                # changed GSI entries elsewhere: answered after their acks
                result.add_done_callback(lambda fut, owner=owner: parts.done(owner, *_settled(fut)))
        return parts.answer

    async def _transact_get(self, req, groups):
        """TransactGetItems across workers: one serializable snapshot.

        Each owner reads its items (an item held by a prepared transaction
        is a TransactionConflict, as on one process), then every owner reads
        them again.  Every second read starts after every first read ended.
        If each item reads the same both times and no owner committed a
        part of a cross-worker transaction between its two reads (its
        ``tx_commits`` count, read with its items), the answer is never
        half of one: such a transaction's items are locked from before its
        first commit until its last one, so one that committed a part on
        an owner after that owner's first read either did so before its
        second read (the count moved) or still held the item locked at the
        second read (a conflict).  The count, not the values alone: an item
        changed and changed back between its two reads reads the same.  A
        changed item or count starts the read over, up to TX_GET_ATTEMPTS
        times; then the items that kept changing (all of an owner's, when
        its count moved) are cancelled with TransactionConflict."""
        subs = {o: [e for _p, _n, e in entries] for o, entries in groups.items()}
        owners = list(subs)
        count = len(req["TransactItems"])
        changed = ()
        for _attempt in range(TX_GET_ATTEMPTS):
            first = await self._transact_get_round(req, groups, subs, owners, count)
            if type(first[0]) is int or len(owners) == 1:
                break
            second = await self._transact_get_round(req, groups, subs, owners, count)
            if type(second[0]) is int:
                first = second
                break
            changed = {p for p in range(count) if first[0][p] != second[0][p]}
            for owner, before, after in zip(owners, first[2], second[2]):
                if before != after:
                    changed.update(p for p, _n, _e in groups[owner])
            if not changed:
                break
        else:
            reasons = [{"Code": "None"} for _ in range(count)]
            for p in changed:
                reasons[p] = _reason("TransactionConflict", CONFLICT_MESSAGE)
            error = cancelled(reasons)
            return error.status, _encode(error.to_body())
        if type(first[0]) is int:
            return first
        responses, consumed, _commits = first
        out = {"Responses": responses}
        if req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = _sum_consumed(consumed)
        return 200, _encode(out)

    async def _transact_get_round(self, req, groups, subs, owners, count):
        """One read of every owner's part: ``(responses, consumed, [each
        owner's tx_commits count])``, or the final ``(status, payload)``
        when it failed or was cancelled."""
        answers = await asyncio.gather(
            *(self._tx_get_call(o, {**req, "TransactItems": subs[o]}) for o in owners),
            return_exceptions=True)
        commits = []
        responses = [None] * count
        reasons = [{"Code": "None"} for _ in range(count)]
        cancelled_ = False
        consumed = []
        for owner, answer in zip(owners, answers):
            if isinstance(answer, BaseException) or answer[0] >= 500:
                return 503, UNAVAILABLE_BODY
            part = answer[1]
            commits.append(answer[2])
            positions = [p for p, _n, _e in groups[owner]]
            if answer[0] != 200:
                if "CancellationReasons" not in part:
                    return answer[0], _encode(part)
                cancelled_ = True
                for p, reason in zip(positions, part["CancellationReasons"]):
                    reasons[p] = reason
                continue
            for p, response in zip(positions, part["Responses"]):
                responses[p] = response
            consumed.extend(part.get("ConsumedCapacity") or ())
        if cancelled_:
            error = cancelled(reasons)
            return error.status, _encode(error.to_body())
        return responses, consumed, commits

    def _tx_get_call(self, owner, sub):
        """``owner``'s part of a TransactGetItems read: an awaitable of
        :meth:`on_tx_get`'s answer."""
        if owner == self.worker:
            return self._here(self.on_tx_get, sub)
        return self.peers.call(owner, "tx_get", sub)

    def on_tx_get(self, sub):
        """A part of a cross-worker TransactGetItems: ``(status, answer
        object, tx_commits)``, the count read in the same turn as the items."""
        status, answer = self.on_part(("TransactGetItems", sub))
        return status, answer, self.tx_commits

    # -- TransactWriteItems across workers: two-phase commit --------------------------

    async def _transact_write(self, req, groups, partiql=False):
        """Coordinate: prepare on every owner (locks + checks), then commit all
        or abort all.  A participant that does not hear back aborts by itself.
        ``partiql``: the entries are ExecuteTransaction statements."""
        self.coordinating += 1
        try:
            return await self._coordinate_write(req, groups, partiql)
        finally:
            self.coordinating -= 1

    async def _coordinate_write(self, req, groups, partiql):
        token = req.get("ClientRequestToken")
        tokens = _tokens(self.db)
        fingerprint = None
        if type(token) is str:
            if partiql:
                token = "partiql:" + token
                fingerprint = _encode({"TransactStatements": req["TransactStatements"]})
            else:
                fingerprint = _fingerprint(req)
            try:
                seen = tokens.find(token, fingerprint)
            except DynamoDBError as err:
                return err.status, _encode(err.to_body())
            if seen is not None:
                return 200, _encode({"Responses": []} if partiql else {})
        self.tx_counter += 1
        txid = f"{self.tx_prefix}{self.tx_counter}"
        owners = list(groups)
        self._tx_outcome(txid, None)  # undecided: a participant that asks now aborts it
        prepares = []
        for owner in owners:
            body = [txid, [e for _p, _n, e in groups[owner]], TX_HOLD_SECONDS, partiql, owners]
            if owner == self.worker:
                prepares.append(self._here(self.tx_prepare, body))
            else:
                prepares.append(self.peers.call(owner, "tx_prepare", body, timeout=TX_CALL_SECONDS))
        answers = await asyncio.gather(*prepares, return_exceptions=True)
        prepared = [o for o, a in zip(owners, answers) if not isinstance(a, BaseException) and a[0] == "ok"]
        if len(prepared) == len(owners) and self.tx_outcomes.get(txid) == "abort":
            # A participant past its hold asked (on_tx_status) before every
            # vote was in, and was told abort: so it is.
            await self._tx_send(prepared, "tx_abort", [txid])
            return 503, UNAVAILABLE_BODY
        if len(prepared) != len(owners):
            self._tx_outcome(txid, "abort")
            await self._tx_send(prepared, "tx_abort", [txid])
            count = len(req["TransactStatements" if partiql else "TransactItems"])
            reasons = [{"Code": "None"} for _ in range(count)]
            for owner, answer in zip(owners, answers):
                if isinstance(answer, BaseException):
                    return 503, UNAVAILABLE_BODY
                if answer[0] == "error":
                    return answer[1], answer[2]
                if answer[0] == "cancel":
                    for (p, _n, _e), reason in zip(groups[owner], answer[1]):
                        reasons[p] = reason
            error = cancelled(reasons)
            return error.status, _encode(error.to_body())
        mode = req.get("ReturnConsumedCapacity")
        self._tx_outcome(txid, "commit")
        commits = await self._tx_send(owners, "tx_commit", [txid, mode])
        unreached = [o for o, answer in zip(owners, commits) if isinstance(answer, BaseException)]
        if unreached and self._commit is not None:
            self.loop.create_task(self._tx_deliver(txid, unreached))
        consumed = []
        for answer in commits:
            if isinstance(answer, BaseException) or answer is None:
                log.error("transaction %s: a participant did not commit: %r", txid, answer)
                return 503, UNAVAILABLE_BODY
            consumed.extend(answer)
        if fingerprint is not None:
            tokens.remember(token, fingerprint, [])
        out = {"Responses": []} if partiql else {}
        if mode in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = _sum_consumed(consumed)
        return 200, _encode(out)

    async def _tx_send(self, owners, kind, body, timeout=None):
        """``kind`` (tx_commit, tx_abort, tx_status) to each of ``owners``,
        this worker's own handled here: their answers or exceptions."""
        calls = []
        for owner in owners:
            if owner == self.worker:
                handler = {"tx_commit": self.on_tx_commit, "tx_abort": self.on_tx_abort,
                           "tx_status": self.on_tx_status}[kind]
                calls.append(self._here(handler, body))
            else:
                calls.append(self.peers.call(owner, kind, body, timeout=timeout or TX_CALL_SECONDS))
        return await asyncio.gather(*calls, return_exceptions=True)

    async def _tx_deliver(self, txid, owners):
        """With a log: tell ``owners`` -- participants whose commit call
        failed (killed, say) -- the commit again every TX_ASK_SECONDS until
        each answers, for up to TX_DELIVER_SECONDS, and meanwhile answer
        "commit" to those that ask (:meth:`on_tx_status`).  One back from a
        crash holds the transaction prepared again, and may be back only
        after TX_OUTCOME_SECONDS: it must still find the decision."""
        self.tx_delivering.add(txid)
        deadline = self.loop.time() + TX_DELIVER_SECONDS
        try:
            while owners and self.loop.time() < deadline:
                await asyncio.sleep(TX_ASK_SECONDS)
                answers = await self._tx_send(owners, "tx_commit", [txid, None])
                owners = [o for o, answer in zip(owners, answers) if isinstance(answer, BaseException)]
        finally:
            self.tx_delivering.discard(txid)

    def _here(self, handler, body):
        """A future of ``handler(body)`` run on this worker now (its result,
        what it returns resolves to, or the exception it raises)."""
        try:
            result = handler(body)
        except Exception as exc:
            fut = self.loop.create_future()
            fut.set_exception(exc)
            return fut
        if inspect.isawaitable(result):
            return asyncio.ensure_future(result)
        fut = self.loop.create_future()
        fut.set_result(result)
        return fut

    def on_tx_prepare(self, body):
        txid, entries, hold = body[:3]
        partiql = len(body) > 3 and body[3]
        participants = body[4] if len(body) > 4 else ()
        try:
            tx = _partiql_transaction(self.db, entries) if partiql else begin_write(self.db, {"TransactItems": entries})
            tx.prepare()
        except NotHere:
            return ["error", 500, INTERNAL_ERROR_BODY]
        except DynamoDBError as err:
            reasons = err.extra.get("CancellationReasons")
            if reasons is not None:
                if partiql:
                    reasons = [_partiql_reason(r, i) for r, i in zip(reasons, tx.inserts)]
                return ["cancel", reasons]
            return ["error", err.status, _encode(err.to_body())]
        if self._commit is not None:
            # What redoes this prepare after a crash: the vote waits for it (tx_prepare).
            self._commit.wal.prepare(txid, entries, bool(partiql), list(participants))
        timer = self.loop.call_later(hold, self._tx_expire, txid)
        self.transactions[txid] = (tx, timer)
        self.tx_participants[txid] = [p for p in participants if p != self.worker]
        return ["ok"]

    def recover_transactions(self, report):
        """After a restart with a log (``report``: what recovery found,
        ``kvstore/recovery.py``): prepare again each transaction the log
        left prepared and undecided -- a crash between the vote and the
        decision -- so its items are locked before any request or peer call
        can write them (its ``Prepare`` logged again, so the next snapshot
        keeps it too), and resolve it at once as a participant past its
        hold does (:meth:`_tx_resolve`: no hold); and answer "commit" for
        the commits the log holds, to a participant that asks.  The items
        were locked from the prepare to the crash, so the prepare finds
        them as it left them; one that fails anyway is aborted, loudly."""
        for txid in report.committed:
            self._tx_outcome(txid, "commit")
        for record in report.prepared.values():
            txid = record.txid
            answer = self.on_tx_prepare([txid, record.entries, 0, record.partiql, record.participants])
            if answer[0] != "ok":
                log.error("transaction %s: prepared here before a restart, cannot be prepared again "
                          "(%r); aborted", txid, answer)
                self._commit.wal.resolved(txid, False)

    def _tx_outcome(self, txid, outcome):
        """Remember how ``txid`` ended here (or, as its coordinator, what was
        decided), for the participants that ask (:meth:`on_tx_status`)."""
        outcomes, order = self.tx_outcomes, self.tx_outcome_order
        now = self.loop.time()
        while order and order[0][0] <= now:
            forgotten = order.popleft()[1]
            outcomes.pop(forgotten, None)
            self.tx_late.pop(forgotten, None)
        if txid not in outcomes:
            order.append((now + TX_OUTCOME_SECONDS, txid))
        outcomes[txid] = outcome

    def _tx_expire(self, txid):
        """No decision within the hold: find out what was decided, else abort."""
        if txid in self.transactions:
            self.loop.create_task(self._tx_resolve(txid))

    async def _tx_resolve(self, txid):
        """A prepared participant that heard no decision in time (its
        coordinator died, or its decision is late) asks before it lets go:
        the coordinator (``commit`` or ``abort``: once asked, an undecided
        coordinator decides abort), else the other participants (one that
        committed means the coordinator decided commit).  Otherwise nothing
        was committed anywhere and no coordinator can still decide commit:
        abort.  So a coordinator killed between its commit calls leaves
        the transaction committed everywhere, not partly applied."""
        found = self.transactions.get(txid)
        if found is None:
            return  # decided meanwhile
        decided = None
        try:
            decided = await self._tx_decision(txid)
        except Exception:
            log.exception("transaction %s: asking for its outcome failed", txid)
        finally:
            # Unless the decision came meanwhile, let go (even if this task
            # was cancelled).
            if self.transactions.get(txid) is found:
                if decided == "commit":
                    log.warning("transaction %s: no decision in time; committed, as decided", txid)
                    self.on_tx_commit([txid, None], late=True)
                else:
                    log.warning("transaction %s: no decision in time, aborted (locks released)", txid)
                    self.on_tx_abort([txid])

    async def _tx_decision(self, txid):
        """``"commit"`` or ``"abort"`` as the coordinator answers, else
        ``"commit"`` if a participant committed (a participant's "abort" is
        only its own: not conclusive), else None: abort.

        The coordinator's decision is not logged, on purpose: it dies with
        the coordinator, so a coordinator found dead (or restarted: its new
        self knows nothing) can no longer decide commit, and if no
        participant committed either, abort is safe without waiting for the
        coordinator to come back.  A logged decision that came back with a
        restarted coordinator would commit where the others had aborted.

        What a commit leaves is each committed participant's ``Resolved``
        record, and a participant answers "commit" from it after a restart
        too (:meth:`recover_transactions`).  So with a log, a participant
        out of reach -- restarting, maybe with its commit on disk -- is asked
        again, every TX_ASK_SECONDS for up to TX_RECOVER_SECONDS, before an
        abort; without one, what it knew died with it: no wait."""
        coordinator = txid.partition(".")[0]
        if coordinator.isdigit():
            answer = (await self._tx_send([int(coordinator)], "tx_status", txid, TX_ASK_SECONDS))[0]
            if answer in ("commit", "abort"):
                return answer
        workers = self.tx_participants.get(txid, ())
        deadline = self.loop.time() + TX_RECOVER_SECONDS
        while True:
            answers = await self._tx_send(workers, "tx_status", txid, TX_ASK_SECONDS)
            if "commit" in answers:
                return "commit"
            unreachable = any(isinstance(answer, BaseException) for answer in answers)
            if not unreachable or self._commit is None or self.loop.time() >= deadline:
                return None
            await asyncio.sleep(TX_ASK_SECONDS)

    def on_tx_status(self, txid):
        """What this worker knows of ``txid``: ``"commit"``, ``"abort"``,
        ``"prepared"`` or None.  Asked its coordinator's undecided
        transaction, decides abort (the coordinator then aborts it)."""
        if txid in self.tx_delivering:
            return "commit"
        if txid in self.tx_outcomes:
            if self.tx_outcomes[txid] is None:
                self.tx_outcomes[txid] = "abort"
            return self.tx_outcomes[txid]
        return "prepared" if txid in self.transactions else None

    def on_tx_commit(self, body, late=False):
        """Commit ``txid`` here: its consumed capacity rendered per ``mode``.
        ``late``: committed by asking past the hold (:meth:`_tx_resolve`),
        so its capacity is kept for the commit call still to come."""
        txid, mode = body
        found = self.transactions.pop(txid, None)
        if found is None:
            # Committed already (decided so past its hold), or aborted past its hold.
            if self.tx_outcomes.get(txid) != "commit":
                return None
            return render_list(self.tx_late.pop(txid, ()), mode, split=True) or []
        self.tx_participants.pop(txid, None)
        tx, timer = found
        timer.cancel()
        if not self._coordinates(txid):
            self._tx_outcome(txid, "commit")
        consumed = tx.commit() if self._commit is None else self._commit_logged(txid, tx)
        self.tx_commits += 1
        for c in consumed:
            self.db.throughput.charge(c)
        if late:
            self.tx_late[txid] = consumed
        rendered = render_list(consumed, mode, split=True) or []
        acks = self.take_pending()
        if acks:
            return self.loop.create_task(self._after(acks, rendered))
        return rendered

    def _commit_logged(self, txid, tx):
        """``tx.commit()`` with its writes and its ``Resolved`` in one
        ``Atomic`` record: recovery finds both or neither."""
        wal = self._commit.wal
        with wal.atomic():
            consumed = tx.commit()
            wal.resolved(txid, True)
        return consumed

    def on_tx_abort(self, body):
        txid = body[0]
        found = self.transactions.pop(txid, None)
        self.tx_participants.pop(txid, None)
        if found is not None:
            found[1].cancel()
            found[0].abort()
            if self._commit is not None:
                self._commit.wal.resolved(txid, False)
            if not self._coordinates(txid):
                self._tx_outcome(txid, "abort")
        return True

    def _coordinates(self, txid):
        """Whether ``txid`` was coordinated here, by this incarnation (its
        outcome entry is then the coordinator's decision; a transaction of
        this worker's former self, recovered from its log, is not)."""
        return txid.startswith(self.tx_prefix)

    # -- PartiQL ------------------------------------------------------------------------
    # A statement naming one item runs like the item operation (here, or
    # forwarded when it meets another worker's partition: run_local).  A
    # SELECT that scans sees every worker's items: they are gathered first and
    # the statement runs here over them.  BatchExecuteStatement splits by the
    # owner of each statement's item.  ExecuteTransaction whose statements
    # name items of several workers uses the two-phase commit of
    # TransactWriteItems (a ClientRequestToken's is coordinated by the
    # token's worker); reads (SELECTs) are split by owner like
    # BatchExecuteStatement; on one worker it runs there.

    def _plan(self, text, parameters):
        from kvstore.partiql.executor import plan

        return plan(self.db, text, parameters)

    def route_statement(self, op, body, req):
        try:
            p = self._plan(req.get("Statement"), req.get("Parameters"))
        except Exception:
            return self.run_local(op, req)
        if p.kind != "select" or p.conditions is not None or not self.others:
            return self.run_local(op, req)
        return self.loop.create_task(self._gathered_statement(op, req, p))

    async def _gathered_statement(self, op, req, p):
        table, index = p.table, p.index
        spec = [table.name, index.name if index is not None else None, None, 0, None, None, False]
        calls = [self.peers.call(peer, "scan", spec + [True]) for peer in self.others]
        try:
            parts = await asyncio.gather(*calls)
        except PeerUnavailable:
            return 503, UNAVAILABLE_BODY
        from kvstore._core import Partition

        owner = index if index is not None else table
        local = owner.partitions
        view = dict(local)
        for part in parts:
            for token, hk, sk, item in part[0]:
                number = self.ring.partition_of(token)
                partition = view.get(number)
                if partition is None:
                    partition = view[number] = Partition()
                partition.put(token, hk, sk, item, item_size(item))
        owner.partitions = view
        try:
            return self.run_local(op, req, may_forward=False)
        finally:
            owner.partitions = local

    def _statement_owner(self, entry, kinds=None):
        from kvstore.partiql.executor import plan, select_by_key

        try:
            p = plan(self.db, entry["Statement"], entry.get("Parameters"), allow_exists=True)
            if kinds is not None:
                kinds.append(p.kind)
            if p.kind == "select":
                select_by_key(p, "")
                table = p.table
                return self.ring.owner(hash64(encode_key_value(p.key[table.hash_key])))
            return self.ring.owner(p.write.loc[1])
        except Exception:
            return self.worker

    def route_statements(self, op, body, req):
        member = "TransactStatements" if op == "ExecuteTransaction" else "Statements"
        kinds = []
        try:
            owners = [self._statement_owner(entry, kinds) for entry in req[member]]
        except Exception:
            return self.run_local(op, req)
        if len(set(owners)) <= 1:
            owner = owners[0] if owners else self.worker
            if owner == self.worker:
                return self.run_local(op, req)
            return self.forward(owner, op, body)
        problem = self.validate_only(op, req)
        if problem is not None:
            return problem
        if op == "ExecuteTransaction" and "select" not in kinds:
            token = req.get("ClientRequestToken")
            if type(token) is str:
                coordinator = hash64(token.encode()) % self.count
                if coordinator != self.worker:
                    return self.forward(coordinator, op, body)
            groups = {}
            for position, (owner, entry) in enumerate(zip(owners, req[member])):
                groups.setdefault(owner, []).append((position, None, entry))
            return self.loop.create_task(self._transact_write(req, groups, partiql=True))
        return self.loop.create_task(self._statements(op, req, owners, member))

    async def _statements(self, op, req, owners, member="Statements"):
        groups = {}
        for position, owner in enumerate(owners):
            groups.setdefault(owner, []).append(position)
        order = list(groups)
        statements = req[member]
        answers = await asyncio.gather(
            *(self._call(o, op, {**req, member: [statements[i] for i in groups[o]]}) for o in order),
            return_exceptions=True)
        responses = [None] * len(statements)
        consumed = []
        for owner, answer in zip(order, answers):
            if isinstance(answer, BaseException) or answer[0] >= 500:
                return 503, UNAVAILABLE_BODY
            if answer[0] != 200:
                part = answer[1]
                if "CancellationReasons" not in part:
                    return answer[0], _encode(part)
                reasons = [{"Code": "None"} for _ in statements]
                for i, reason in zip(groups[owner], part["CancellationReasons"]):
                    reasons[i] = reason
                error = cancelled(reasons)
                return error.status, _encode(error.to_body())
            part = answer[1]
            for i, slot in zip(groups[owner], part["Responses"]):
                responses[i] = slot
            consumed.extend(part.get("ConsumedCapacity") or ())
        out = {"Responses": responses}
        if req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = _sum_consumed(consumed)
        return 200, _encode(out)

    # -- DynamoDB Streams: a shard per ring partition, so per worker ------------------
    # A shard's id carries its worker (the first two of its last eight hex
    # digits), so GetShardIterator and GetRecords go to that worker, and
    # DescribeStream gathers every worker's shards.  The stream itself (label,
    # ARN) is the same everywhere: its creation time is the coordinator's.

    def own_streams(self, table):
        stream = getattr(table, "latest_stream", None)
        if stream is None or id(stream) in self.renamed:
            return
        self.renamed.add(id(stream))
        mark = f"{self.worker:02x}"
        by_id = {}
        for shard in stream.by_id.values():
            shard.shard_id = shard.shard_id[:-8] + mark + shard.shard_id[-6:]
            by_id[shard.shard_id] = shard
        stream.by_id = by_id
        stream.shard_ids = sorted(by_id)

    def align_stream(self, table, created):
        """Give the table's latest stream the coordinator's creation time (label, ARN)."""
        from kvstore.streams import stream_label_of

        stream = getattr(table, "latest_stream", None)
        if stream is None or created is None or stream.created == created:
            return
        store = self.db.streams
        store.streams.pop(stream.arn, None)
        stream.created = created
        stream.label = stream_label_of(created)
        stream.arn = f"{table.arn}/stream/{stream.label}"
        store.streams[stream.arn] = stream

    def _shard_worker(self, shard_id):
        if type(shard_id) is str and len(shard_id) > 8:
            try:
                worker = int(shard_id[-8:-6], 16)
            except ValueError:
                return None
            if worker < self.count:
                return worker
        return None

    def route_shard(self, op, body, req):
        if op == "Streams.GetShardIterator":
            worker = self._shard_worker(req.get("ShardId"))
        else:
            from kvstore.streams import parse_iterator

            text = req.get("ShardIterator")
            parsed = parse_iterator(text) if type(text) is str else None
            worker = self._shard_worker(parsed[1]) if parsed is not None else None
        if worker is None or worker == self.worker:
            return self.run_local(op, req)
        return self.forward(worker, op, body)

    def route_describe_stream(self, op, body, req):
        limit = req.get("Limit")
        start = req.get("ExclusiveStartShardId")
        try:
            api.streams_dispatch(self.db, "DescribeStream", req)  # its checks and errors
            whole = {k: v for k, v in req.items() if k not in ("Limit", "ExclusiveStartShardId")}
            out = api.streams_dispatch(self.db, "DescribeStream", whole)
        except DynamoDBError as err:
            return err.status, _encode(err.to_body())
        return self.loop.create_task(self._describe_stream(out, req["StreamArn"], start, limit))

    async def _describe_stream(self, out, arn, start, limit):
        description = out["StreamDescription"]
        shards = list(self.on_stream_shards(arn))
        calls = [self.peers.call(peer, "stream_shards", arn) for peer in self.others]
        for found in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(found, BaseException):
                return 503, UNAVAILABLE_BODY
            shards.extend(found)
        shards.sort(key=lambda shard: shard["ShardId"])
        ids = [shard["ShardId"] for shard in shards]
        first = 0 if start is None else bisect.bisect_right(ids, start)
        limit = 100 if limit is None else int(limit)
        description["Shards"] = shards[first:first + limit]
        description.pop("LastEvaluatedShardId", None)
        if first + limit < len(ids):
            description["LastEvaluatedShardId"] = ids[first + limit - 1]
        return 200, _encode(out)

    def on_stream_shards(self, arn):
        stream = self.db.streams.find(arn)
        if stream is None:
            return []
        return [stream.by_id[i].describe() for i in stream.shard_ids]

    # -- Scan across workers -----------------------------------------------------

    def scan_spec(self, plan):
        start, end = 0, 1 << 64
        if plan.segment is not None:
            segment, total = plan.segment
            start = segment * (1 << 64) // total
            end = (segment + 1) * (1 << 64) // total
        return [
            plan.table.name, plan.index.name if plan.index is not None else None,
            list(plan.start) if plan.start is not None else None, start,
            end if end < TOKEN_SPACE else None, plan.limit, plan.fetch,
        ]

    async def _scan(self, plan):
        spec = self.scan_spec(plan)
        calls = [self.peers.call(peer, "scan", spec) for peer in self.others]
        parts = [self.on_scan(spec)]
        if calls:
            try:
                parts.extend(await asyncio.gather(*calls))
            except PeerUnavailable:
                for call in calls:
                    if not call.done():
                        call.cancel()
                    elif not call.cancelled():
                        call.exception()
                return 503, UNAVAILABLE_BODY
        merged = heapq.merge(*(part[0] for part in parts), key=lambda e: (e[0], e[1], e[2]))
        plan.gathered = ((entry[3] for entry in merged), sum(part[1] for part in parts))
        plan.fetch = False
        try:
            throughput = self.db.throughput
            if throughput.enabled:
                throughput.admit_read(plan.table, plan.index)
            return 200, _encode(_read_page(plan, throughput))
        except DynamoDBError as err:
            return err.status, _encode(err.to_body())

    def on_scan(self, spec):
        """This worker's entries for a Scan page: [[token, hk, sk, item], ...], size bound."""
        name, index_name, after, start, end, limit, fetch = spec[:7]
        everything = len(spec) > 7 and spec[7]
        if end is None:
            end = TOKEN_SPACE
        table = self.db.tables.get(name)
        if table is None:
            return [[], 0]
        if index_name is None:
            partitions = table.partitions
        else:
            index = table.find_index(index_name)
            if index is None:
                return [[], 0]
            partitions = index.partitions
        entries = []
        size = 0
        for token, hk, sk, item in scan_order(table.ring, partitions, tuple(after) if after else None, start, end):
            if fetch:
                full = table.read(table.locate(
                    item[table.hash_key], item.get(table.range_key) if table.range_key else None))
                if full is not None:
                    item = full
            entries.append((token, hk, sk, item))
            if limit is not None and len(entries) >= limit:
                break
            if not everything:
                size += item_size(item)
                if size >= MAX_PAGE_BYTES:
                    break
        return [entries, sum(p.size_bytes for p in partitions.values())]

    # -- counts -------------------------------------------------------------------------

    def on_counts(self, name):
        table = self.db.tables.get(name)
        if table is None:
            return None
        return [table.item_count, table.size_bytes,
                {index.name: [index.item_count, index.size_bytes] for index in table.indexes}]

    async def _summed(self, out, member):
        description = out.get(member)
        if description is None:
            return 200, _encode(out)
        calls = [self.peers.call(peer, "counts", description["TableName"]) for peer in self.others]
        for counts in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(counts, BaseException) or counts is None:
                continue
            items, size, indexes = counts
            description["ItemCount"] = description.get("ItemCount", 0) + items
            description["TableSizeBytes"] = description.get("TableSizeBytes", 0) + size
            for group in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
                for described in description.get(group) or ():
                    found = indexes.get(described["IndexName"])
                    if found is not None and described.get("IndexStatus") != "DELETING":
                        described["ItemCount"] = described.get("ItemCount", 0) + found[0]
                        described["IndexSizeBytes"] = described.get("IndexSizeBytes", 0) + found[1]
        return 200, _encode(out)

    # -- metadata: ordered by worker 0 ---------------------------------------------------

    async def coordinate(self, op, body, req):
        async with self.ddl_lock:
            try:
                out = self.dispatch(self.db, op, req)
            except DynamoDBError as err:
                self.pending.clear()
                return err.status, _encode(err.to_body())
            except Exception:
                self.pending.clear()
                log.exception("internal error answering %s", op)
                return 500, INTERNAL_ERROR_BODY
            acks = self.take_pending()
            name = _table_name(req)
            table = self.db.tables.get(name) if name is not None else None
            if table is not None:
                self.own_streams(table)
            snap = snapshot(table) if table is not None else None
            self.ddl_epoch += 1
            self.replay_stash()
            calls = [self.peers.call(peer, "ddl", [op, body, snap, self.ddl_epoch], timeout=DDL_TIMEOUT)
                     for peer in self.others]
            for outcome in await asyncio.gather(*calls, *acks, return_exceptions=True):
                if isinstance(outcome, BaseException) and not isinstance(outcome, PeerUnavailable):
                    log.error("%s on another worker: %r", op, outcome)
        if op == "UpdateTable" and self.others:
            return await self._summed(out, "TableDescription")
        return 200, _encode(out)

    def apply_ddl(self, op, body, snap):
        req = _decode(body)
        try:
            self.dispatch(self.db, op, req)
        except Exception as exc:
            log.error("worker %d could not apply %s: %r", self.worker, op, exc)
        name = _table_name(req)
        table = self.db.tables.get(name) if name is not None else None
        if table is not None and snap is not None:
            apply_snapshot(table, snap)
            self.align_stream(table, snap.get(_STREAM_CREATED))
            wal = self.db.wal
            if wal is not None:
                # The log has the table as dispatch left it (this worker's
                # TableId, say): log it again as the coordinator made it.
                wal.table_updated(table)
        if table is not None:
            self.own_streams(table)

    def on_ddl(self, entry):
        op, body, snap = entry[:3]
        if len(entry) > 3:
            self.ddl_epoch = max(self.ddl_epoch, entry[3])
        self.apply_ddl(op, body, snap)
        self.replay_stash()
        acks = self.take_pending()
        if acks:
            return self.loop.create_task(self._after(acks, True))
        return True

    def on_catalog(self, _body):
        """``[epoch, [[table_meta, snapshot], ...]]``, or None while starting."""
        if not self.synced and self.worker != 0:
            return None
        return [self.ddl_epoch, [[table_meta(t), snapshot(t)] for t in self.db.tables.values()]]

    def catch_up(self, catalog):
        """Make our tables ``catalog``'s (:meth:`on_catalog`): build the ones
        we lack, drop the ones it lacks or has created again (another
        TableId), align the rest; each change logged.  False (nothing done)
        for no catalog, or one older than a change we applied already."""
        if catalog is None:
            return False
        epoch, entries = catalog
        if epoch < self.ddl_epoch:
            return False
        self.ddl_epoch = epoch
        db = self.db
        wal = db.wal
        names = set()
        for meta, snap in entries:
            name = meta["name"]
            names.add(name)
            table = db.tables.get(name)
            wanted = build_table(meta)
            if table is not None and not same_table(table, wanted):
                self._drop_table(name)
                table = None
            if table is None:
                db.add_table(wanted)
                table = wanted
                if wal is not None:
                    wal.table_created(table)
            else:
                before = table_meta(table)
                indexes = [d["IndexName"] for d in table.global_secondary_indexes or ()]
                if indexes != [d["IndexName"] for d in meta.get("global_secondary_indexes") or ()]:
                    _update_table(db, meta)  # a GSI created or deleted: rebuilt with the items
                    table = db.tables[name]
                apply_snapshot(table, snap)
                if wal is not None and table_meta(table) != before:
                    wal.table_updated(table)
            apply_snapshot(table, snap)
            reopen_streams(db)
            self.align_stream(table, snap.get(_STREAM_CREATED))
            self.own_streams(table)
        for name in [n for n in db.tables if n not in names]:
            self._drop_table(name)
        self.pending.clear()
        return True

    def _drop_table(self, name):
        db = self.db
        table = db.tables.get(name)
        if table is None:
            return
        db.streams.close(table)
        db.drop_table(name)
        if db.wal is not None:
            db.wal.table_dropped(name)

    # -- GSI entries of other workers' items, when a worker starts ------------------------

    def index_entries_for(self, peer):
        """The ``gsi`` changes that store, on ``peer``, the GSI entries of every
        item of ours whose entry ``peer`` stores."""
        ring = self.ring
        out = []
        for table in self.db.tables.values():
            indexes = table.global_indexes
            if not indexes:
                continue
            for partition in table.partitions.values():
                for _token, hk, sk, item in partition.scan():
                    for index in indexes:
                        key = index.entry_key(item, hk, sk)
                        if key is None:
                            continue
                        part = ring.partition_of(key[0])
                        if ring.partition_owner(part) != peer:
                            continue
                        entry = index.project(item)
                        out.append([table.name, index.name, part, key[0], key[1], key[2], entry,
                                    item_size(entry)])
        return out

    def on_gsi_sync(self, body):
        """Worker ``source`` sends every GSI entry of its items we store: drop
        the ones we had from it (older, or of items it no longer has), store these."""
        source, changes = body
        ring = self.ring
        for table in self.db.tables.values():
            hash_key = table.hash_key
            for index in table.global_indexes:
                for partition in list(index.partitions.values()):
                    stale = [(hk, sk) for _t, hk, sk, item in partition.scan()
                             if ring.owner(hash64(encode_key_value(item[hash_key]))) == source]
                    for hk, sk in stale:
                        partition.delete(hk, sk)
        for change in changes:
            self._apply_index_change(change)
        return True

    def on_gsi_request(self, requester):
        """Send ``requester`` our items' entries it stores (a ``gsi_sync`` on
        our link to it, in order with the ``gsi`` changes that follow)."""
        return self.peers.call(requester, "gsi_sync", [self.worker, self.index_entries_for(requester)],
                               timeout=DDL_TIMEOUT)

    async def exchange_index_entries(self):
        """At start: give every live worker the entries of our items, and
        have each send us the entries of its items."""
        if not self.others or not any(t.global_indexes for t in self.db.tables.values()):
            return
        calls = []
        for peer in self.others:
            calls.append(self.peers.call(peer, "gsi_sync", [self.worker, self.index_entries_for(peer)],
                                         timeout=DDL_TIMEOUT))
            calls.append(self.peers.call(peer, "gsi_request", self.worker, timeout=DDL_TIMEOUT))
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, PeerUnavailable):
                log.error("worker %d: GSI exchange: %r", self.worker, outcome)

    # -- forwarded requests ------------------------------------------------------------

    def on_request(self, op, raw):
        """A request forwarded here (``PeerNode.forward``): ``(status, JSON
        bytes)`` or an awaitable of it; a STORE_WRITES part answers RESEND
        when it was not stored (:meth:`store_forms`)."""
        if op == STORE_WRITES:
            if self.store_forms(raw):
                return 200, _NOTHING_UNPROCESSED
            return RESEND, b""
        if op in DDL_OPERATIONS:
            return self.coordinate(op, raw, _decode(raw))
        try:
            req = _decode(raw)
        except Exception:
            req = None
        if type(req) is not dict:
            # A request the front forwarded undecoded (wire_owner,
            # wire_query_owner) is then answered as the front's plain
            # handler would have.
            return self.local(DYNAMODB_PREFIX + op.encode(), raw)
        if op == "TransactWriteItems":
            # A multi-owner transaction sent here to be coordinated (its token's worker).
            groups = self._groups(op, req)
            if groups is not None and len(groups) > 1:
                return self.loop.create_task(self._transact_write(req, groups))
        if op == "ExecuteTransaction" and type(req.get("ClientRequestToken")) is str:
            owners = [self._statement_owner(entry) for entry in req.get("TransactStatements") or ()]
            if len(set(owners)) > 1:
                groups = {}
                for position, (owner, entry) in enumerate(zip(owners, req["TransactStatements"])):
                    groups.setdefault(owner, []).append((position, None, entry))
                return self.loop.create_task(self._transact_write(req, groups, partiql=True))
        return self.run_local(op, req, may_forward=False)

    def store_forms(self, part):
        """Store a plain BatchWriteItem's part in stored form (see
        :meth:`_plain_write_groups`) when what ``batch_write_fast`` relies on
        holds here too: throughput is not enforced, no transaction lock is
        held (locks are per worker), and (checked by ``_core.store_part``)
        each table exists, is the one the front saw (its id: not deleted and
        created again) and writes alone, and every partition is here.  True
        once stored; else False, nothing written."""
        db = self.db
        if db.throughput.enabled or db.locks._held:
            return False
        return store_part(part, db.tables) is not None

    # -- GSI entries ---------------------------------------------------------------------

    def index_change(self, owner, change):
        if self.recovering:
            return  # replaying our log: the entries go out whole once we start
        self.pending.append(self.peers.call(owner, "gsi", change))

    def on_index_change(self, change):
        if self._apply_index_change(change):
            return True
        fut = self.loop.create_future()
        self.stash.append((self.loop.time(), change, fut))
        return fut

    def _apply_index_change(self, change):
        name, index_name, part, token, hk, sk, item, size = change
        table = self.db.tables.get(name)
        index = table.find_index(index_name) if table is not None else None
        if index is None:
            return False
        partition = index.partitions.get(part)
        if partition is None:
            raise RuntimeError(f"worker {self.worker} does not own partition {part}")
        if token is None:
            partition.delete(hk, sk)
        else:
            partition.put(token, hk, sk, item, size)
        return True

    def replay_stash(self):
        if not self.stash:
            return
        now = self.loop.time()
        kept = []
        for stamp, change, fut in self.stash:
            try:
                done = self._apply_index_change(change)
            except Exception as exc:
                if not fut.done():
                    fut.set_exception(exc)
                continue
            if done:
                if not fut.done():
                    fut.set_result(True)
            elif now - stamp > STASH_SECONDS:
                if not fut.done():
                    fut.set_result(False)
            else:
                kept.append((stamp, change, fut))
        self.stash = kept


# -- HTTP with deferred answers ----------------------------------------------------------


def _chain(source, target):
    if not target.done():
        target.set_result(outcome(source))


def outcome(fut):
    """(status, payload) of a finished deferred answer: a worker that could
    not be reached is a 503 (retryable), any other failure a 500."""
    try:
        status, payload = fut.result()
    except (asyncio.CancelledError, PeerUnavailable):
        return 503, UNAVAILABLE_BODY
    except Exception as exc:
        log.error("internal error in a deferred answer: %r", exc)
        return 500, INTERNAL_ERROR_BODY
    return status, payload


class AsyncHttpProtocol(HttpProtocol):
    """``HttpProtocol`` whose handler may answer ``(DEFERRED, future)``.

    Answers leave in request order: while a deferred answer is pending,
    later answers wait behind it (in ``waiting``).  Requests run in order
    too: a pipelined request that follows one still in flight (forwarded,
    say) starts only when that one is done, so it sees its effects, as on
    one process.  A future's result is ``(status, payload)``; a
    :class:`PeerUnavailable` becomes 503, any other exception 500.

    The C reader (server/_http.pyx's ``FastPath``) writes an answer itself
    when it is ready at once and ``waiting`` is empty -- the common case, a
    request for this worker's own keys -- and queues a :class:`Forwarded`
    one itself, writing it (and the ready answers behind it) right as its
    answer frame is read; everything else comes through ``_send``, and is
    written by ``_on_ready`` as its future finishes, in order (the C reader
    hands the queue to ``_on_ready`` at the first entry it does not write).
    """

    __slots__ = ("waiting", "tail", "run")

    MAX_WAITING = 256

    def __init__(self, handler, *args, **kwargs):
        super().__init__(self._in_order, *args, **kwargs)
        self.run = handler
        # Answers not written yet, in request order: [status, payload,
        # content_type, connection, keep_alive, head_only, close, extra],
        # status DEFERRED (payload a future) until _on_ready resolves it; or
        # a Forwarded the C reader queued itself (its own entry).
        # The FastPath reads this list's length (the list is never replaced).
        self.waiting = []
        self.tail = None  # the last deferred answer of this connection, until done

    def _fast_path(self, transport):
        return FastPath(self, transport, False, INTERNAL_ERROR_BODY, self.waiting)

    def _in_order(self, target, body):
        # The C reader runs the first branch itself (FastPath._in_order).
        tail = self.tail
        if tail is not None and tail.done():
            tail = self.tail = None
        if tail is None:
            result = self.run(target, body)
            if result[0] == DEFERRED:
                self.tail = result[1]
            return result
        # Behind a request still in flight: run when it is done.
        later = self.loop.create_future()

        def go(_):
            try:
                status, payload = self.run(target, body)
            except Exception as exc:
                later.set_exception(exc)
                return
            if status == DEFERRED:
                payload.add_done_callback(lambda f: _chain(f, later))
            else:
                later.set_result((status, payload))

        tail.add_done_callback(go)
        self.tail = later
        return DEFERRED, later

    def _send(self, status, body, content_type, keep_alive, head_only=False, close=True, **extra):
        waiting = self.waiting
        if status != DEFERRED and not waiting:
            HttpProtocol._send(self, status, body, content_type, keep_alive, head_only, close, **extra)
            return
        # The Connection header as HttpProtocol._send would write it now
        # (the C reader takes HTTP/1.1 only; httptools knows the version).
        if keep_alive:
            connection = b"" if self.fast is not None or self.parser.get_http_version() != "1.0" else _KEEP_ALIVE
        else:
            connection = _CLOSE
        waiting.append([status, body, content_type, connection, keep_alive, head_only, close, extra])
        if status == DEFERRED:
            body.add_done_callback(self._on_ready)
            if len(waiting) >= self.MAX_WAITING and not self.closing:
                self.transport.pause_reading()

    def _on_ready(self, _fut):
        waiting = self.waiting
        while waiting:
            entry = waiting[0]
            if type(entry) is Forwarded:
                # queued by the C reader itself: as _send would have
                entry = waiting[0] = entry.queued()
            status = entry[0]
            if status == DEFERRED:
                fut = entry[1]
                if not fut.done():
                    break
                status, body = outcome(fut)
            else:
                body = entry[1]
            del waiting[0]
            if self.closing:
                continue
            _, _, content_type, connection, keep_alive, head_only, close, extra = entry
            if extra or head_only or self.held is not None or len(body) > _SMALL_BODY:
                # group commit, HEAD, large bodies: the general writer
                HttpProtocol._send(self, status, body, content_type, keep_alive, head_only, close, **extra)
                continue
            transport = self.transport
            transport.write(encode_response(status, body, content_type, connection, True))
            self.last_activity = self.loop.time()
            if not keep_alive and close:
                self.closing = True
                transport.close()
        if not self.closing:
            if len(waiting) < self.MAX_WAITING and not self.writing_paused:
                self.transport.resume_reading()
            if not waiting and self.draining and not self.in_request:
                self.closing = True
                self.transport.close()

    def shutdown(self):
        self.draining = True
        if not self.in_request and not self.closing and not self.waiting:
            self.closing = True
            self.transport.close()
