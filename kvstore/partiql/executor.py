"""Planning statements against the tables, and running them.

``plan(db, text, parameters, ...)`` parses (cached), binds the parameters
and checks the statement against its table, in DynamoDB's order: the WHERE
clause and the SET/REMOVE clauses (with their values), then the table,
then the key.  It returns one of:

- ``SelectPlan``: a Query (the partition key fixed by ``=``) or a Scan
  (anything else), run by ``run_select`` through ``kvstore.api.read``'s
  read loop (``ReadRequest`` + ``_read_page``: Limit, the 1 MB page,
  ConsistentRead, capacity), with the whole WHERE as its filter and the
  projection applied afterwards (a nested path answers under its last
  component: ``SELECT m.k[1]`` -> ``{"k[1]": ...}``);
- ``WritePlan``: an ``ItemWrite`` from ``kvstore.api.items`` (PutWrite for
  INSERT with ``attribute_not_exists(<hash key>)``, UpdateWrite for UPDATE
  with ``attribute_exists(<hash key>)`` and the rest of the WHERE,
  DeleteWrite for DELETE with the rest of the WHERE), so a PartiQL write is
  checked and applied exactly as the item operations are;
- ``CheckPlan``: ``EXISTS(SELECT ...)`` in a transaction, a condition on
  one item.

Paging: a SELECT that stops early answers a ``NextToken``: the page's
LastEvaluatedKey and a digest of the statement and its parameters,
base64-encoded.  A token of another statement is refused.

Transactions (``run_transaction``) check everything first: no two
statements on one item, every condition against the items as they are,
every new item computed (pure ``apply``); only when all of that passed is
anything stored, so a cancelled transaction changes nothing.
"""

import base64
import hashlib
import json
from functools import cmp_to_key

from kvstore.api.items import DeleteWrite, UpdateWrite, execute, get_table, key_from_key, prepare_put
from kvstore.api.read import ReadRequest, _read_page
from kvstore.capacity import TRANSACTIONAL, Consumed, read_units
from kvstore.errors import (
    ConditionalCheckFailedException, DuplicateItemException, TransactionCanceledException, ValidationException,
)
from kvstore.expressions import check_key_update, compare_values, get_path, project
from kvstore.expressions.ast import (
    And, Between as XBetween, Call as XCall, Compare, ConditionExpr, In, Not, Or, Path,
)
from kvstore.partiql.ast import Exists, Insert, PathRef, Select, Update, position_suffix
from kvstore.partiql.parser import parse
from kvstore.partiql.planner import (
    Binder, dml_key, has_hash_condition, item_value, query_conditions, update_expression, where_condition,
)
from kvstore.values import MAX_ITEM_SIZE, item_size
from kvstore.wal import atomic

__all__ = [
    "plan", "SelectPlan", "WritePlan", "CheckPlan", "run_select", "run_write", "run_transaction",
    "transaction_failure", "read_item", "select_by_key", "returned_items",
]

_TRANSACTION_ITEM_TWICE = "Transaction request cannot include multiple operations on one item"


class SelectPlan:
    __slots__ = ("db", "table", "index", "condition", "conditions", "projection", "order_by", "key",
                 "filter_names", "text", "parameters")

    kind = "select"


class WritePlan:
    __slots__ = ("db", "write", "statement", "returning")

    kind = "write"


class CheckPlan:
    __slots__ = ("write",)

    kind = "check"


# -- planning ---------------------------------------------------------------------


def plan(db, text, parameters, rvoccf=None, allow_exists=False):
    """Parse, bind and check one statement; returns a plan (see above)."""
    stmt, count = parse(text)
    binder = Binder(parameters)
    kind = type(stmt)
    if kind is Select:
        return _plan_select(db, stmt, binder, count, text, parameters)
    if kind is Exists:
        if not allow_exists:
            raise ValidationException("EXISTS can only be used in ExecuteTransaction write requests.")
        return _plan_exists(db, stmt.select, binder, count)
    if kind is Insert:
        return _plan_insert(db, stmt, binder, count, rvoccf)
    if kind is Update:
        return _plan_update(db, stmt, binder, count, rvoccf)
    return _plan_delete(db, stmt, binder, count, rvoccf)


def _projection(stmt):
    if stmt.projection is None:
        return None
    out = []
    seen = set()
    for node in stmt.projection:
        if type(node) is not PathRef:
            pos = getattr(node, "pos", None)
            raise ValidationException("Unexpected path component" + (position_suffix(pos) if pos else ""))
        if node.label in seen:
            raise ValidationException(f"Duplicate identifiers in select clause: {node.label}")
        seen.add(node.label)
        out.append((node.label, node.elements))
    return out


def _condition_names(node, out):
    """Top-level attribute names a resolved condition reads."""
    kind = type(node)
    if kind is Path:
        out.add(node.elements[0])
    elif kind is Compare or kind is And or kind is Or:
        _condition_names(node.left, out)
        _condition_names(node.right, out)
    elif kind is Not:
        _condition_names(node.operand, out)
    elif kind is XCall:
        for arg in node.args:
            _condition_names(arg, out)
    elif kind is XBetween:
        for sub in (node.operand, node.low, node.high):
            _condition_names(sub, out)
    elif kind is In:
        _condition_names(node.operand, out)
    return out


def _plan_select(db, stmt, binder, count, text, parameters):
    projection = _projection(stmt)
    condition = where_condition(stmt.where, binder)
    binder.check_count(count)
    table = get_table(db, stmt.table)
    index = None
    if stmt.index is not None:
        index = table.find_index(stmt.index)
        if index is None:
            raise ValidationException(f"The table does not have the specified index: {stmt.index}")
    hash_key = table.hash_key if index is None else index.hash_key
    range_key = table.range_key if index is None else index.range_key
    key_names = (hash_key,) if range_key is None else (hash_key, range_key)
    order_by = None
    if stmt.order_by is not None:
        if condition is None:
            raise ValidationException("Must have WHERE clause in the statement when using ORDER BY clause.")
        if not has_hash_condition(condition.root, hash_key):
            raise ValidationException(
                "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause."
            )
        order_by = []
        for node, descending in stmt.order_by:
            if type(node) is not PathRef:
                raise ValidationException(
                    f"Argument to ORDER BY must be of type VariableReference. Type: {type(node).__name__}"
                )
            if len(node.elements) != 1 or node.elements[0] not in key_names:
                raise ValidationException(
                    f"Variable reference {node.label} in ORDER BY clause must be part of the primary key"
                )
            order_by.append((node.elements[0], descending))
    p = SelectPlan()
    p.db = db
    p.table, p.index, p.condition, p.projection, p.order_by = table, index, condition, projection, order_by
    p.conditions = query_conditions(condition, hash_key, range_key, table.types)
    p.filter_names = _condition_names(condition.root, set()) if condition is not None else set()
    p.text, p.parameters = text, parameters
    p.key = None
    if index is not None and index.is_global and index.projected is not None and projection is not None:
        missing = []
        for _, elements in projection:
            if elements[0] not in index.projected and elements[0] not in missing:
                missing.append(elements[0])
        if missing:
            raise ValidationException(
                "One or more parameter values were invalid: Global secondary index "
                f"{index.name} does not project [{', '.join(missing)}]"
            )
    return p


def _exact_key(condition, table):
    """The key of a SELECT whose WHERE is exactly the table's key, else None."""
    if condition is None:
        return None
    try:
        key, rest = dml_key(condition, table)
    except ValidationException:
        return None
    return key if rest is None else None


def _plan_exists(db, stmt, binder, count):
    condition = where_condition(stmt.where, binder)
    binder.check_count(count)
    table = get_table(db, stmt.table)
    if stmt.index is not None:
        raise ValidationException("Operations on indices are not supported in transactions")
    try:
        key, rest = dml_key(condition, table)
    except ValidationException:
        raise ValidationException("EXISTS() must contain a single item read with additional condition") from None
    if rest is None:
        raise ValidationException("EXISTS() must contain a single item read with additional condition")
    hash_av, range_av = key_from_key(table, key)
    exists = XCall("attribute_exists", (Path((table.hash_key,)),))
    write = DeleteWrite(table, hash_av, range_av, ConditionExpr(And(exists, rest.root)), {})
    p = CheckPlan()
    p.write = write
    return p


def _plan_insert(db, stmt, binder, count, rvoccf):
    item = item_value(binder, stmt.value)
    binder.check_count(count)
    table = get_table(db, stmt.table)
    for name in table.key_names:
        if name not in item:
            raise ValidationException(f"Key attribute should be present in the item: Key {name}")
        av = item[name]
        if next(iter(av), None) != table.types[name]:
            raise ValidationException(
                f"Key attribute's data type should match its data type in table's schema: Key {name}"
            )
    req = {"TableName": table.name, "Item": item}
    if rvoccf is not None:
        req["ReturnValuesOnConditionCheckFailure"] = rvoccf
    write = prepare_put(db, req)
    write.condition = ConditionExpr(XCall("attribute_not_exists", (Path((table.hash_key,)),)))
    p = WritePlan()
    p.db = db
    p.write, p.statement, p.returning = write, "insert", None
    return p


def _plan_update(db, stmt, binder, count, rvoccf):
    condition = where_condition(stmt.where, binder)
    update = update_expression(stmt.actions, binder)
    binder.check_count(count)
    table = get_table(db, stmt.table)
    key, rest = dml_key(condition, table)
    check_key_update(update, table.key_names)
    hash_av, range_av = key_from_key(table, key)
    exists = XCall("attribute_exists", (Path((table.hash_key,)),))
    full = ConditionExpr(exists if rest is None else And(exists, rest.root))
    write = UpdateWrite(table, hash_av, range_av, full, {"ReturnValuesOnConditionCheckFailure": rvoccf})
    write.update, write.legacy = update, None
    write.paths = tuple(path.elements for path in update.paths)
    p = WritePlan()
    p.db = db
    p.write, p.statement, p.returning = write, "update", stmt.returning
    return p


def _plan_delete(db, stmt, binder, count, rvoccf):
    condition = where_condition(stmt.where, binder)
    binder.check_count(count)
    if stmt.returning is not None and stmt.returning != "ALL OLD":
        raise ValidationException(
            f"Invalid returning clause: RETURNING {stmt.returning} *. Only RETURNING ALL OLD * is allowed in "
            "DELETE statements."
        )
    table = get_table(db, stmt.table)
    key, rest = dml_key(condition, table)
    hash_av, range_av = key_from_key(table, key)
    write = DeleteWrite(table, hash_av, range_av, rest, {"ReturnValuesOnConditionCheckFailure": rvoccf})
    p = WritePlan()
    p.db = db
    p.write, p.statement, p.returning = write, "delete", stmt.returning
    return p


# -- reads ----------------------------------------------------------------------------


def _token_digest(text, parameters):
    blob = json.dumps([text, parameters], sort_keys=True, default=_bytes_default).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def _bytes_default(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(type(value).__name__)


def _encode_token(last_key, digest):
    blob = json.dumps({"k": last_key, "h": digest}, default=_bytes_default).encode("utf-8")
    return base64.b64encode(blob).decode("ascii")


def _decode_token(token, digest):
    try:
        data = json.loads(base64.b64decode(token.encode("ascii"), validate=True))
        key, found = data["k"], data["h"]
        if type(key) is not dict or not key:
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeError):
        raise ValidationException("Invalid NextToken") from None
    if found != digest:
        raise ValidationException("NextToken does not match request")
    return key


def _read_plan(p, limit, consistent, capacity, start_key, reverse):
    table, index = p.table, p.index
    r = object.__new__(ReadRequest)
    r.is_query = p.conditions is not None
    r.table, r.index = table, index
    r.select = "ALL_ATTRIBUTES"
    r.filter = p.condition
    r.filter_names = p.filter_names
    r.legacy_filter = None
    r.paths = None
    r.limit = limit
    r.consistent = consistent
    r.reverse = reverse
    r.conditions = p.conditions
    r.segment = None
    r.capacity = capacity
    r.key_names = table.key_names if index is None else index.start_key_names
    r.fetch = False
    if index is not None and not index.is_global and index.projected is not None:
        wanted = set(p.filter_names)
        if p.projection is not None:
            wanted.update(elements[0] for _, elements in p.projection)
        r.fetch = any(name not in index.projected for name in wanted)
    r.start = None
    if start_key is not None:
        hash_key = table.hash_key if index is None else index.hash_key
        range_key = table.range_key if index is None else index.range_key
        r.start = r._start_position(start_key, hash_key, range_key)
    return r


def _project(p, item):
    if p.projection is None:
        return item
    out = {}
    for label, elements in p.projection:
        value = get_path(item, elements)
        if value is not None:
            out[label] = value
    return out


def _key_order(p):
    names = p.order_by

    def cmp(a, b):
        for name, descending in names:
            x, y = a.get(name), b.get(name)
            c = compare_values(x, y) if x is not None and y is not None else 0
            c = c or 0
            if c:
                return -c if descending else c
        return 0

    return cmp_to_key(cmp)


def run_select(p, limit=None, consistent=False, capacity=None, next_token=None):
    """The ExecuteStatement answer of a SELECT plan."""
    index = p.index
    if consistent and index is not None and index.is_global:
        raise ValidationException("Consistent reads are not supported on global secondary indexes")
    digest = _token_digest(p.text, p.parameters)
    start_key = _decode_token(next_token, digest) if next_token is not None else None
    throughput = p.db.throughput
    if throughput.enabled:
        throughput.admit_read(p.table, index)
    reverse = False
    if p.order_by is not None and p.conditions is not None:
        range_key = p.table.range_key if index is None else index.range_key
        for name, descending in p.order_by:
            if name == range_key:
                reverse = descending
                break
    if p.order_by is not None and p.conditions is None:
        # A Scan in key order: every page read, sorted here.
        items, units, key = [], 0.0, None
        while True:
            page = _read_page(_read_plan(p, None, consistent, capacity, key, False), throughput)
            items.extend(page["Items"])
            if "ConsumedCapacity" in page:
                units += page["ConsumedCapacity"]["CapacityUnits"]
            key = page.get("LastEvaluatedKey")
            if key is None:
                break
        items.sort(key=_key_order(p))
        out = {"Items": [_project(p, item) for item in items]}
        if capacity in ("TOTAL", "INDEXES"):
            consumed = Consumed(p.table)
            consumed.add_read(units, index)
            out["ConsumedCapacity"] = consumed.render(capacity)
        return out
    page = _read_page(_read_plan(p, limit, consistent, capacity, start_key, reverse), throughput)
    out = {"Items": [_project(p, item) for item in page["Items"]]}
    last = page.get("LastEvaluatedKey")
    if last is not None:
        out["NextToken"] = _encode_token(last, digest)
        out["LastEvaluatedKey"] = last
    if "ConsumedCapacity" in page:
        out["ConsumedCapacity"] = page["ConsumedCapacity"]
    return out


def read_item(p, consistent=False, consumed=None):
    """The item (projected) of a SELECT by full key, or None (batches and
    transactions); its read units are added to ``consumed``."""
    table = p.table
    hash_av, range_av = key_from_key(table, p.key)
    item = table.read(table.locate(hash_av, range_av))
    if consumed is not None:
        consumed.add_read(read_units(item_size(item) if item is not None else 0, consistent))
    if item is None:
        return None
    return _project(p, item)


def select_by_key(p, message):
    """Check that a SELECT names exactly one item by its key (batch, transaction)."""
    if p.index is not None:
        raise ValidationException(message)
    key = _exact_key(p.condition, p.table)
    if key is None:
        raise ValidationException(message)
    p.key = key
    return p


# -- writes ----------------------------------------------------------------------------


def run_write(p, consumed=None):
    """Run one write plan; returns the Items of its answer (RETURNING).
    Its units are added to ``consumed``, if given."""
    db, write = p.db, p.write
    if db.throughput.enabled:
        db.throughput.admit_write(write.table)
    try:
        old, new = execute(write, db.locks)
    except ConditionalCheckFailedException:
        if p.statement == "insert":
            raise DuplicateItemException("Duplicate primary key exists in table") from None
        raise
    if consumed is not None or db.throughput.enabled:
        charge = Consumed(write.table)
        charge.add_item_write(old, new, write.loc)
        db.throughput.charge(charge)
        if consumed is not None:
            for index, units in charge.writes.items():
                consumed.add_write(units, index)
    return returned_items(p, old, new)


def returned_items(p, old, new):
    returning = p.returning
    if returning is None:
        return []
    if returning == "ALL OLD":
        found = old
    elif returning == "ALL NEW":
        found = new
    elif returning == "MODIFIED OLD":
        found = project(old, p.write.paths)
    else:
        found = project(new, p.write.paths)
    return [found] if found else []


# -- transactions -----------------------------------------------------------------------


def transaction_failure(reasons):
    """TransactionCanceledException with its reasons (its body spells the
    message member "Message", as DynamoDB's does)."""
    codes = ", ".join(reason["Code"] for reason in reasons)
    message = f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]"
    error = TransactionCanceledException(message, CancellationReasons=reasons, Message=message)
    error.has_message = False
    return error


def run_transaction(plans):
    """Check, then apply, a list of WritePlan/CheckPlan all or nothing.

    Returns one ``Consumed`` per table, in first-met order.  Raises
    TransactionCanceledException (with CancellationReasons) if a condition
    fails or a new item is invalid; nothing is stored then."""
    seen = set()
    for p in plans:
        write = p.write
        identity = (write.table.name, write.loc[2], write.loc[3])
        if identity in seen:
            raise ValidationException(_TRANSACTION_ITEM_TWICE)
        seen.add(identity)
    olds = [p.write.table.read(p.write.loc) for p in plans]
    reasons = []
    news = []
    failed = False
    for p, old in zip(plans, olds):
        write = p.write
        new = None
        if not write.holds(old):
            if p.kind == "write" and p.statement == "insert":
                reason = {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}
            else:
                reason = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                if write.failure_returns_old and old is not None:
                    reason["Item"] = old
        elif p.kind == "check":
            reason = {"Code": "None"}
        else:
            reason = {"Code": "None"}
            try:
                new, size = write.apply(old)
                if new is not None:
                    if size > MAX_ITEM_SIZE:
                        raise ValidationException("Item size has exceeded the maximum allowed size")
                    write.table.check_index_keys(new)
            except ValidationException as e:
                reason = {"Code": "ValidationError", "Message": e.message}
        if reason["Code"] != "None":
            failed = True
        reasons.append(reason)
        news.append(new)
    if failed:
        raise transaction_failure(reasons)
    consumed = {}
    # One log record, so recovery replays all or none: every table of a
    # shard carries that shard's log as ``table.wal`` (None in memory).
    with atomic(plans[0].write.table if plans else None):
        for p, old, new in zip(plans, olds, news):
            write = p.write
            table = write.table
            c = consumed.get(table.name)
            if c is None:
                c = consumed[table.name] = Consumed(table)
            if p.kind == "check":
                c.add_read(read_units(item_size(old) if old is not None else 0) * TRANSACTIONAL)
                continue
            if new is not None:
                table.write(write.loc, new, item_size(new))
            elif old is not None:
                table.remove(write.loc)
            c.add_item_write(old, new, write.loc, TRANSACTIONAL)
    return list(consumed.values())
