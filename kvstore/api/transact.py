"""TransactGetItems and TransactWriteItems: all-or-nothing, serializable.

The protocol is two-phase commit over per-item locks, written as explicit
steps so that the shard-per-core design (DESIGN.md) can run the same steps
across processes, each shard preparing the actions whose items it owns:

1. **Validate** every action first (``items.prepare_put / prepare_update /
   prepare_delete``; a ConditionCheck is a write that only has a condition).
   Any error here is the request's own ValidationException (or
   ResourceNotFoundException) and nothing is locked.
2. **Prepare** (:meth:`Transaction.prepare`): lock every item in the shard's
   :class:`LockTable` under the transaction's id; an item another
   transaction holds cancels with a ``TransactionConflict`` reason.  Then
   read each item, check its condition and compute its new image (a pure
   step).  Any failure releases the locks and cancels with
   ``TransactionCanceledException``, whose ``CancellationReasons`` follow the
   actions' order.  A prepared transaction holds its locks: a single write
   to one of its items meets ``TransactionConflictException`` (the check is
   in ``items.execute``), another transaction meets a ``TransactionConflict``
   reason, and TransactGetItems too.
3. **Commit** (:meth:`Transaction.commit`): store every new image, release.
   **Abort** (:meth:`Transaction.abort`): release only.

In this engine a request runs synchronously, so a transaction's prepare and
commit happen within one call and no other request observes its locks; the
locks matter once prepare and commit are separate messages between shards,
and the tests drive them directly to show the conflicts.

``ClientRequestToken`` makes TransactWriteItems idempotent for ten minutes:
the same token with the same parameters answers success again without
writing; with other parameters it is IdempotentParameterMismatchException.
"""

import itertools
import time

import msgspec

from ..capacity import TRANSACTIONAL, Consumed, read_units, render_list
from ..errors import IdempotentParameterMismatchException, TransactionCanceledException, ValidationException
from ..expressions import Resolver, project
from ..values import item_size
from ..wal import atomic
from . import items
from .specs import TRANSACT_WRITE_ACTIONS

__all__ = [
    "LockTable", "Transaction", "transact_get_items", "transact_write_items",
    "begin_write", "cancelled", "lock_key", "CheckWrite",
    "CONFLICT_MESSAGE", "MAX_TRANSACTION_BYTES", "TOKEN_WINDOW_SECONDS",
]

CONFLICT_MESSAGE = "Transaction is ongoing for the item"
CONDITION_MESSAGE = "The conditional request failed"
MAX_TRANSACTION_BYTES = 4 * 1024 * 1024
TOKEN_WINDOW_SECONDS = 600

_DUPLICATE = "Transaction request cannot include multiple operations on one item"
_ONE_ACTION = "TransactItems can only contain one of Check, Put, Update or Delete"
_TOO_BIG = (
    "Collection size of items exceeded, which can also be caused by the aggregate size of "
    "the items in the transaction exceeding the 4MB limit"
)


def lock_key(table, loc):
    """The lock table's key of an item: (table name, hk bytes, sk bytes)."""
    return table.name, loc[2], loc[3]


class LockTable:
    """Per-item locks of one shard: key -> the id of the transaction holding it."""

    def __init__(self):
        self._held = {}
        self._ids = itertools.count(1)

    def new_id(self):
        return next(self._ids)

    def holder(self, key):
        return self._held.get(key)

    def __len__(self):
        return len(self._held)

    def acquire(self, txid, keys):
        """Lock every key for ``txid``, or none: returns the positions of
        the keys another transaction holds (empty when all were locked)."""
        held = self._held
        conflicts = [i for i, key in enumerate(keys) if held.get(key, txid) != txid]
        if not conflicts:
            for key in keys:
                held[key] = txid
        return conflicts

    def release(self, txid, keys):
        held = self._held
        for key in keys:
            if held.get(key) == txid:
                del held[key]


def _reason(code, message=None, item=None):
    reason = {"Code": code}
    if item is not None:
        reason["Item"] = item
    if message is not None:
        reason["Message"] = message
    return reason


def cancelled(reasons):
    """TransactionCanceledException with its reasons.  Its body spells the
    message member "Message" (the model's member name), not "message"."""
    codes = ", ".join(r["Code"] for r in reasons)
    message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
    error = TransactionCanceledException(message, CancellationReasons=reasons, Message=message)
    error.has_message = False
    return error


# -- TransactWriteItems -----------------------------------------------------------


class CheckWrite(items.ItemWrite):
    """A ConditionCheck: a condition, and nothing written."""

    __slots__ = ()

    def apply(self, old):
        return old, item_size(old) if old is not None else 0


_ACTIONS = ("ConditionCheck", "Put", "Delete", "Update")


def _prepare_check(db, req):
    text = req["ConditionExpression"]
    items._check_parameters(req, "DeleteItem", [("ConditionExpression", text)])
    for av in req["Key"].values():
        items.validate_value(av)
    resolver = items.make_resolver(req)
    condition = resolver.condition(text)
    resolver.check_all_used()
    table = items.get_table(db, req["TableName"])
    hash_av, range_av = items.key_from_key(table, req["Key"])
    return CheckWrite(table, hash_av, range_av, condition, req)


def _prepare_action(db, entry):
    found = [name for name in _ACTIONS if entry.get(name) is not None]
    if len(found) != 1:
        raise ValidationException(_ONE_ACTION)
    kind = found[0]
    # Only the members of the action's shape count (DynamoDB ignores others,
    # e.g. Expected or AttributeUpdates inside an Update).
    members = TRANSACT_WRITE_ACTIONS[kind]
    req = {name: value for name, value in entry[kind].items() if name in members}
    if kind == "Put":
        return kind, items.prepare_put(db, req)
    if kind == "Delete":
        return kind, items.prepare_delete(db, req)
    if kind == "Update":
        return kind, items.prepare_update(db, req)
    return kind, _prepare_check(db, req)


class Transaction:
    """A validated TransactWriteItems: prepare, then commit or abort."""

    def __init__(self, db, writes, kinds):
        self.db = db
        self.writes = writes
        self.kinds = kinds
        self.id = db.locks.new_id()
        self.keys = [lock_key(w.table, w.loc) for w in writes]
        self.olds = None
        self.news = None
        self.prepared = False

    def prepare(self):
        """Lock and check; raise TransactionCanceledException (locks released)
        if any action cannot commit."""
        n = len(self.writes)
        conflicts = self.db.locks.acquire(self.id, self.keys)
        if conflicts:
            reasons = [_reason("None") for _ in range(n)]
            for i in conflicts:
                reasons[i] = _reason("TransactionConflict", CONFLICT_MESSAGE)
            raise cancelled(reasons)
        reasons = []
        failed = False
        olds, news = [], []
        throughput = self.db.throughput
        for write in self.writes:
            old = write.table.read(write.loc)
            olds.append(old)
            new = None
            reason = _reason("None")
            message = throughput.write_refusal(write.table) if throughput.enabled else None
            if message is not None:
                reason = _reason("ProvisionedThroughputExceeded", message)
            elif not write.holds(old):
                item = old if write.failure_returns_old and old is not None else None
                reason = _reason("ConditionalCheckFailed", CONDITION_MESSAGE, item)
            else:
                try:
                    new, size = write.apply(old)
                    if new is not None and type(write) is not CheckWrite:
                        write.table.check_index_keys(new)
                except ValidationException as e:
                    reason = _reason("ValidationError", e.message)
            if reason["Code"] != "None":
                failed = True
            reasons.append(reason)
            news.append(new)
        if failed:
            self.abort()
            raise cancelled(reasons)
        self.olds, self.news = olds, news
        self.prepared = True

    def commit(self):
        """Apply every prepared write and release the locks; returns the
        per-table Consumed list (in first-met order)."""
        consumed = {}
        with atomic(self.db):  # one log record: recovery replays all or none
            for write, old, new in zip(self.writes, self.olds, self.news):
                table = write.table
                c = consumed.get(table.name)
                if c is None:
                    c = consumed[table.name] = Consumed(table)
                if type(write) is CheckWrite:
                    size = item_size(old) if old is not None else 0
                    c.add_read(read_units(size) * TRANSACTIONAL)
                    continue
                if new is not None:
                    table.write(write.loc, new, item_size(new))
                elif old is not None:
                    table.remove(write.loc)
                c.add_item_write(old, new, write.loc, TRANSACTIONAL)
        self.db.locks.release(self.id, self.keys)
        self.prepared = False
        return list(consumed.values())

    def abort(self):
        self.db.locks.release(self.id, self.keys)
        self.prepared = False


def _action_size(kind, write):
    if kind == "Put":
        return write.size
    return item_size(write.key)


def begin_write(db, req):
    """Validate a TransactWriteItems request into a :class:`Transaction`."""
    writes, kinds = [], []
    total = 0
    for entry in req["TransactItems"]:
        kind, write = _prepare_action(db, entry)
        writes.append(write)
        kinds.append(kind)
        total += _action_size(kind, write)
    seen = set()
    for write in writes:
        key = lock_key(write.table, write.loc)
        if key in seen:
            raise ValidationException(_DUPLICATE)
        seen.add(key)
    if total > MAX_TRANSACTION_BYTES:
        raise ValidationException(_TOO_BIG)
    return Transaction(db, writes, kinds)


class _Tokens:
    """ClientRequestToken -> (request fingerprint, completed at, tables)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._seen = {}

    def find(self, token, fingerprint):
        now = self.clock()
        entry = self._seen.get(token)
        if entry is None:
            return None
        if now - entry[1] > TOKEN_WINDOW_SECONDS:
            del self._seen[token]
            return None
        if entry[0] != fingerprint:
            raise IdempotentParameterMismatchException(
                "Request token has already been used with different parameters"
            )
        return entry

    def remember(self, token, fingerprint, sizes):
        now = self.clock()
        if len(self._seen) > 10000:
            for t in [t for t, e in self._seen.items() if now - e[1] > TOKEN_WINDOW_SECONDS]:
                del self._seen[t]
        self._seen[token] = (fingerprint, now, sizes)


_encode = msgspec.json.Encoder(order="sorted").encode


def _fingerprint(req):
    return _encode({k: v for k, v in req.items() if k not in ("ReturnConsumedCapacity", "ReturnItemCollectionMetrics")})


def transact_write_items(db, req):
    token = req.get("ClientRequestToken")
    tokens = getattr(db, "transaction_tokens", None)
    if tokens is None:
        tokens = db.transaction_tokens = _Tokens()
    fingerprint = _fingerprint(req) if token is not None else None
    if token is not None:
        seen = tokens.find(token, fingerprint)
        if seen is not None:
            # Already applied: answer again without writing.  DynamoDB reports
            # the read units of reading the items back.
            out = {}
            mode = req.get("ReturnConsumedCapacity")
            if mode in ("TOTAL", "INDEXES"):
                consumed = {}
                for table, size in seen[2]:
                    c = consumed.get(table.name)
                    if c is None:
                        c = consumed[table.name] = Consumed(table)
                    c.add_read(read_units(size) * TRANSACTIONAL)
                out["ConsumedCapacity"] = render_list(consumed.values(), mode, split=True)
            return out
    tx = begin_write(db, req)
    tx.prepare()
    consumed = tx.commit()
    for c in consumed:
        db.throughput.charge(c)
    if token is not None:
        sizes = [(w.table, item_size(n) if n is not None else item_size(o) if o is not None else 0)
                 for w, o, n in zip(tx.writes, tx.olds, tx.news)]
        tokens.remember(token, fingerprint, sizes)
    out = {}
    mode = req.get("ReturnConsumedCapacity")
    if mode in ("TOTAL", "INDEXES"):
        out["ConsumedCapacity"] = render_list(consumed, mode, split=True)
    if req.get("ReturnItemCollectionMetrics") == "SIZE":
        metrics = {}
        for write, kind in zip(tx.writes, tx.kinds):
            if kind == "ConditionCheck":
                continue
            m = items.item_collection_metrics(write.table, write.key, write.loc)
            if m is not None:
                metrics.setdefault(write.table.name, []).append(m)
        if metrics:
            out["ItemCollectionMetrics"] = metrics
    return out


# -- TransactGetItems --------------------------------------------------------------


def _prepare_get(db, get):
    projection = get.get("ProjectionExpression")
    items._check_parameters(get, "GetItem", [("ProjectionExpression", projection)])
    for av in get["Key"].values():
        items.validate_value(av)
    paths = None
    if projection is not None:
        resolver = Resolver(get.get("ExpressionAttributeNames"))
        paths = resolver.projection(projection)
        resolver.check_all_used()
    table = items.get_table(db, get["TableName"])
    hash_av, range_av = items.key_from_key(table, get["Key"])
    return table, table.locate(hash_av, range_av), paths


def transact_get_items(db, req):
    gets = [_prepare_get(db, entry["Get"]) for entry in req["TransactItems"]]
    seen = set()
    for table, loc, _ in gets:
        key = lock_key(table, loc)
        if key in seen:
            raise ValidationException(_DUPLICATE)
        seen.add(key)
    locks = db.locks
    reasons = []
    failed = False
    throughput = db.throughput
    for table, loc, _ in gets:
        if locks.holder(lock_key(table, loc)) is not None:
            reasons.append(_reason("TransactionConflict", CONFLICT_MESSAGE))
            failed = True
        elif throughput.enabled and throughput.read_refusal(table) is not None:
            reasons.append(_reason("ProvisionedThroughputExceeded", throughput.read_refusal(table)))
            failed = True
        else:
            reasons.append(_reason("None"))
    if failed:
        raise cancelled(reasons)
    responses = []
    consumed = {}
    for table, loc, paths in gets:
        item = table.read(loc)
        c = consumed.get(table.name)
        if c is None:
            c = consumed[table.name] = Consumed(table)
        c.add_read(read_units(item_size(item) if item is not None else 0) * TRANSACTIONAL)
        if item is None:
            responses.append({})
        else:
            responses.append({"Item": item if paths is None else project(item, paths)})
    for c in consumed.values():
        throughput.charge(c)
    out = {"Responses": responses}
    mode = req.get("ReturnConsumedCapacity")
    if mode in ("TOTAL", "INDEXES"):
        out["ConsumedCapacity"] = render_list(consumed.values(), mode, split=True)
    return out

