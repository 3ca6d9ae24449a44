"""Single-item operations: PutItem, GetItem, DeleteItem, UpdateItem.

Each write validates everything first (the request's parameters, values,
expressions or their legacy counterparts, the key against the schema),
then applies as one step on the item's partition, so a failed request or a
failed condition changes nothing.  Items are stored normalised, in wire
form, with their DynamoDB size beside them; GetItem answers with the stored
dict itself (or its projection) -- decoded, for an item the fast writes
stored as its JSON (kvstore/_core.pyx).

The write step is shaped for reuse (scylladb's rmw_operation): the
``prepare_put / prepare_delete / prepare_update`` functions return an
``ItemWrite`` (table, location, key, condition) holding everything that
needs no stored item; ``ItemWrite.holds(old)`` evaluates the condition,
``ItemWrite.apply(old) -> (new item or None, size)`` is pure, and
``execute(write)`` reads, checks, applies and stores with one
``table.write`` / ``table.remove`` (refusing, with TransactionConflictException,
an item that a prepared transaction has locked).  BatchWriteItem and
TransactWriteItems prepare every request first, then check and apply.
Consumed capacity, item collection metrics and throughput admission use
``kvstore.capacity``.

A PutItem of only TableName and Item -- most of them, and the embedded
``Table.put`` -- takes :func:`put_plain` / :func:`put_valid`: the same checks
in the same order (those of absent members pass by definition), one
``table.write``, no ItemWrite; tests/unit/test_put_fast.py holds it to the
general path.  The common items' validation and key checks are answered by
the compiled core when it can (``values.validate_item_with_size``,
:func:`key_from_item`), by the Python otherwise.

The server's common requests skip the general path altogether:
:func:`get_fast`, :func:`put_fast` and :func:`update_fast` (``FAST_PATHS``,
tried by ``kvstore.api.dispatch`` before ``validate_request``) answer a
request only when it is certainly valid and plain -- a table that exists
(so its name is valid), a key the core accepts as is (``wire_key_fast``),
values the core finds valid and unchanged, no member that asks for more --
and return None for anything else, which then takes the general path and
gets its exact answer or error.  What they do for the requests they take
is what the general path does for them (tests/unit/test_server_fast.py
holds them to it), minus the checks that pass by construction.
:func:`get_encoded` is get_fast for the server (``ENCODED_PATHS``): the
answer as JSON bytes, spliced from the item's JSON cached in its partition.

The key checks here are shared by every operation that names an item:
:func:`key_from_key` for a ``Key`` parameter and :func:`key_from_item` for
a whole item (PutItem).  Legacy parameters are converted by ``legacy.py``;
expressions are the ``kvstore.expressions`` library's.
"""

from .._core import (item_key_fast, read_raw, store_item, store_plain_item, validate_item_fast, value_size_fast,
                     wire_key_fast)
from ..capacity import Consumed, read_units
from ..errors import (
    ConditionalCheckFailedException, ResourceNotFoundException, TransactionConflictException, ValidationException,
)
from ..expressions import (
    Resolver, apply_update, check_expression_parameters, check_key_update, evaluate, parse_update, project,
)
from ..expressions.ast import Value
from ..expressions.resolve import NAME_KEY, VALUE_KEY
from ..values import MAX_ITEM_SIZE, decode_binary, item_size, validate_item_with_size, validate_value, value_size
from .legacy import AttributeUpdates, attributes_to_get, check_no_mixing, expected_condition
from .specs import SPECS

__all__ = [
    "put_item", "put_plain", "put_valid", "get_item", "delete_item", "update_item",
    "get_table", "key_from_key", "key_from_item", "check_item_key", "key_dict", "make_resolver",
    "ItemWrite", "PutWrite", "DeleteWrite", "UpdateWrite",
    "prepare_put", "prepare_delete", "prepare_update", "execute", "item_collection_metrics",
    "get_fast", "put_fast", "update_fast", "FAST_PATHS", "get_encoded",
]

MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024


def get_table(db, name):
    table = db.tables.get(name)
    if table is None:
        raise ResourceNotFoundException("Requested resource not found")
    return table


def _key_value_size(value, type_):
    if type_ == "B":
        return len(decode_binary(value))
    if type_ == "S":
        return len(value.encode("utf-8"))
    return 0  # numbers are bounded by their 38 digits


def _check_key_value(name, type_, av, limit, message):
    """Refuse an empty or oversized key value (type already checked)."""
    value = av[type_]
    if type_ == "S" and value == "":
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty string value. Key: {name}"
        )
    if type_ == "B" and (value == "" or value == b""):
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty binary value. Key: {name}"
        )
    if type_ != "N" and _key_value_size(value, type_) > limit:
        raise ValidationException(message)


_HASH_TOO_BIG = (
    "One or more parameter values were invalid: Size of hashkey has exceeded the "
    "maximum size limit of2048 bytes"
)
_RANGE_TOO_BIG = (
    "One or more parameter values were invalid: Aggregated size of all range keys has "
    "exceeded the size limit of 1024 bytes"
)


def _single_type(av):
    if type(av) is dict and len(av) == 1:
        for t in av:
            return t
    return None


def key_from_key(table, key):
    """Validate a ``Key`` parameter; return (hash AttributeValue, range AttributeValue or None)."""
    key = {name: validate_value(av) for name, av in key.items()}
    hash_av = key.get(table.hash_key)
    range_av = key.get(table.range_key) if table.range_key is not None else None
    if (
        len(key) != len(table.key_names)
        or hash_av is None
        or _single_type(hash_av) != table.hash_type
        or (table.range_key is not None and (range_av is None or _single_type(range_av) != table.range_type))
    ):
        raise ValidationException("The provided key element does not match the schema")
    _check_key_value(table.hash_key, table.hash_type, hash_av, MAX_HASH_KEY_BYTES, _HASH_TOO_BIG)
    if range_av is not None:
        _check_key_value(table.range_key, table.range_type, range_av, MAX_RANGE_KEY_BYTES, _RANGE_TOO_BIG)
    return hash_av, range_av


def key_from_item(table, item):
    """Check a whole (validated) item's key attributes; return (hash AV, range AV or None)."""
    found = item_key_fast(item, table.hash_key, table.hash_type, table.range_key, table.range_type)
    if found is not None:  # the common case, decided by the core
        return found
    return check_item_key(table, item)


def check_item_key(table, item):
    """key_from_item without the core's fast answer: every check, with
    DynamoDB's messages (tests/unit/test_values_fast.py's reference)."""
    found = []
    for name, type_, limit, message in (
        (table.hash_key, table.hash_type, MAX_HASH_KEY_BYTES, _HASH_TOO_BIG),
        (table.range_key, table.range_type, MAX_RANGE_KEY_BYTES, _RANGE_TOO_BIG),
    ):
        if name is None:
            found.append(None)
            continue
        av = item.get(name)
        if av is None:
            raise ValidationException(
                f"One or more parameter values were invalid: Missing the key {name} in the item"
            )
        actual = _single_type(av)
        if actual != type_:
            raise ValidationException(
                "One or more parameter values were invalid: Type mismatch for key "
                f"{name} expected: {type_} actual: {actual}"
            )
        _check_key_value(name, type_, av, limit, message)
        found.append(av)
    return found[0], found[1]


def key_dict(table, hash_av, range_av):
    """The item's key as an attribute map (validated values)."""
    if range_av is None:
        return {table.hash_key: hash_av}
    return {table.hash_key: hash_av, table.range_key: range_av}


# -- request-level checks shared by the item operations -------------------------
# DynamoDB's order (dynalite's tests and DynamoDB Local agree): legacy and
# expression parameters mixed; ExpressionAttributeNames/Values without an
# expression; the item's or key's values; the legacy parameters; then the
# expression maps, their values, and the expressions themselves.  Only then
# is the table looked up, so all of these answer even for a missing table.


def _check_parameters(req, operation, expressions):
    members = SPECS[operation]
    check_no_mixing(req, members)
    values = req.get("ExpressionAttributeValues") if "ExpressionAttributeValues" in members else None
    check_expression_parameters(req.get("ExpressionAttributeNames"), values, expressions)


def _validate_key_values(key):
    for av in key.values():
        validate_value(av)


def make_resolver(req):
    """A Resolver over the request's maps, ExpressionAttributeValues validated
    (and normalised) with DynamoDB's "contains invalid value" message."""
    values = req.get("ExpressionAttributeValues")
    resolver = Resolver(req.get("ExpressionAttributeNames"), values)
    if values:
        checked = {}
        for name, av in values.items():
            try:
                checked[name] = validate_value(av)
            except ValidationException as e:
                raise ValidationException(
                    f"ExpressionAttributeValues contains invalid value: {e.message} for key {name}"
                ) from None
        resolver.values = checked
    return resolver


def _check_return_values(req):
    rv = req.get("ReturnValues")
    if rv is not None and rv not in ("NONE", "ALL_OLD"):
        raise ValidationException("ReturnValues can only be ALL_OLD or NONE")
    return rv == "ALL_OLD"


# -- the write step: prepared once, applied as a pure function --------------------
#
# A write is prepared (``prepare_put/prepare_delete/prepare_update``):
# every check that needs no stored item, the table looked up, the key
# located.  ``execute`` then reads the old item, asks ``holds(old)``,
# computes ``apply(old) -> new item or None`` (pure) and stores the result
# with one ``table.write`` or ``table.remove``.  BatchWriteItem and
# TransactWriteItems reuse the same objects: prepare all, then check and
# apply each.


class ItemWrite:
    """A validated single-item write; subclasses define ``apply``."""

    __slots__ = ("table", "loc", "key", "condition", "failure_returns_old")

    def __init__(self, table, hash_av, range_av, condition, req):
        self.table = table
        self.loc = table.locate(hash_av, range_av)
        self.key = key_dict(table, hash_av, range_av)
        self.condition = condition
        self.failure_returns_old = req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"

    def holds(self, old):
        """True if the write's condition (if any) holds for ``old``."""
        return self.condition is None or evaluate(self.condition, old)

    def condition_failed(self, old):
        """The exception for a failed condition, carrying the item if asked."""
        if self.failure_returns_old and old is not None:
            return ConditionalCheckFailedException("The conditional request failed", Item=old)
        return ConditionalCheckFailedException("The conditional request failed")

    def apply(self, old):
        """(new item or None, its size): pure, raises ValidationException."""
        raise NotImplementedError


class PutWrite(ItemWrite):
    __slots__ = ("item", "size")

    def apply(self, old):
        return self.item, self.size


class DeleteWrite(ItemWrite):
    __slots__ = ()

    def apply(self, old):
        return None, 0


class UpdateWrite(ItemWrite):
    """UpdateExpression or AttributeUpdates (or neither: the key alone)."""

    __slots__ = ("update", "legacy", "paths")

    def apply(self, old):
        key_names = self.table.key_names
        if self.update is not None:
            new, _ = apply_update(self.update, old, key_names, key=self.key)
        elif self.legacy is not None:
            new, _ = self.legacy.apply(old, self.key)
        else:
            new = dict(old) if old is not None else dict(self.key)
        if old is None and self.paths and len(new) == len(key_names):
            # Only removals on an item that does not exist: DynamoDB writes nothing.
            return None, 0
        size = item_size(new)
        if size > MAX_ITEM_SIZE:
            raise ValidationException("Item size to update has exceeded the maximum allowed size")
        return new, size


def execute(write, locks=None):
    """Run a prepared write: check, apply, store.  Returns (old, new).

    ``locks`` is the shard's transaction lock table (``transact.LockTable``):
    an item a prepared transaction holds refuses single writes with
    TransactionConflictException, as on DynamoDB.
    """
    table, loc = write.table, write.loc
    if locks is not None and locks._held and locks.holder((table.name, loc[2], loc[3])) is not None:
        raise TransactionConflictException("Transaction is ongoing for the item")
    old = table.read(loc)
    if not write.holds(old):
        raise write.condition_failed(old)
    new, size = write.apply(old)
    if new is not None:
        table.write(loc, new, size, want_old=False)
    elif old is not None:
        table.remove(loc)
    return old, new


def _write_condition(req):
    """The condition of a PutItem or DeleteItem: Expected or ConditionExpression
    (never both: check_no_mixing refused that), resolved and checked."""
    condition = expected_condition(req.get("Expected"), req.get("ConditionalOperator"))
    text = req.get("ConditionExpression")
    if text is not None:  # names and values come only with an expression
        resolver = make_resolver(req)
        condition = resolver.condition(text)
        resolver.check_all_used()
    return condition


def _put_item_with_size(item):
    """PutItem's Item validated: (the item as stored, its size); raises."""
    try:
        item, size = validate_item_with_size(item)
    except ValidationException as e:
        if e.message.startswith("Nesting Levels"):
            # PutItem wraps this one message in the validation-error envelope.
            raise ValidationException("1 validation error detected: " + e.message) from None
        raise
    if size > MAX_ITEM_SIZE:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    return item, size


def prepare_put(db, req):
    _check_parameters(req, "PutItem", [("ConditionExpression", req.get("ConditionExpression"))])
    item, size = _put_item_with_size(req["Item"])
    _check_return_values(req)
    condition = _write_condition(req)
    table = get_table(db, req["TableName"])
    hash_av, range_av = key_from_item(table, item)
    write = PutWrite(table, hash_av, range_av, condition, req)
    write.item, write.size = item, size
    return write


def prepare_delete(db, req):
    _check_parameters(req, "DeleteItem", [("ConditionExpression", req.get("ConditionExpression"))])
    _validate_key_values(req["Key"])
    _check_return_values(req)
    condition = _write_condition(req)
    table = get_table(db, req["TableName"])
    hash_av, range_av = key_from_key(table, req["Key"])
    return DeleteWrite(table, hash_av, range_av, condition, req)


def prepare_update(db, req):
    update_text = req.get("UpdateExpression")
    _check_parameters(req, "UpdateItem", [
        ("UpdateExpression", update_text), ("ConditionExpression", req.get("ConditionExpression")),
    ])
    _validate_key_values(req["Key"])
    updates = req.get("AttributeUpdates")
    legacy = AttributeUpdates.parse(updates) if updates is not None else None
    condition = expected_condition(req.get("Expected"), req.get("ConditionalOperator"))
    resolver = make_resolver(req)
    update = resolver.update(update_text) if update_text is not None else None
    text = req.get("ConditionExpression")
    if text is not None:
        condition = resolver.condition(text)
    resolver.check_all_used()
    table = get_table(db, req["TableName"])
    hash_av, range_av = key_from_key(table, req["Key"])
    if update is not None:
        check_key_update(update, table.key_names)
    elif legacy is not None:
        legacy.check_key(table.key_names)
    write = UpdateWrite(table, hash_av, range_av, condition, req)
    write.update, write.legacy = update, legacy
    if update is not None:
        write.paths = tuple(path.elements for path in update.paths)
    else:
        write.paths = legacy.paths if legacy is not None else ()
    return write


# -- consumed capacity and item collection metrics ---------------------------------
# Units are computed (capacity.py) when the request asks for them or when
# throughput is enforced; otherwise the hot path skips them.


def _measuring(db, req):
    return req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES") or db.throughput.enabled


def item_collection_metrics(table, key, loc):
    """ItemCollectionMetrics of the item collection holding ``loc`` (tables
    with local secondary indexes only; None otherwise).  The size counts the
    collection's items and their LSI entries; the estimate is the whole-GB
    range around it, as DynamoDB gives it."""
    if not table.local_indexes:
        return None
    hk = loc[2]
    size = loc[0].collection_size(hk)
    for index in table.local_indexes:
        size += index.partition_of(loc[1]).collection_size(hk)
    low = float(size // (1 << 30))
    return {
        "ItemCollectionKey": {table.hash_key: key[table.hash_key]},
        "SizeEstimateRangeGB": [low, low + 1.0],
    }


def _write_answer(db, req, write, old, new, attributes):
    out = {}
    if attributes:
        out["Attributes"] = attributes
    if _measuring(db, req):
        consumed = Consumed(write.table)
        consumed.add_item_write(old, new, write.loc)
        db.throughput.charge(consumed)
        mode = req.get("ReturnConsumedCapacity")
        if mode in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = consumed.render(mode)
    if req.get("ReturnItemCollectionMetrics") == "SIZE":
        metrics = item_collection_metrics(write.table, write.key, write.loc)
        if metrics is not None:
            out["ItemCollectionMetrics"] = metrics
    return out


# -- operations --------------------------------------------------------------

def _run(db, write):
    if db.throughput.enabled:
        db.throughput.admit_write(write.table)
    return execute(write, db.locks)


def put_plain(db, name, item):
    """PutItem of ``item`` into table ``name`` with no other member (most
    PutItem requests): the item validated, then :func:`put_valid`."""
    item, size = _put_item_with_size(item)
    put_valid(db, name, item, size)


def put_valid(db, name, item, size):
    """PutItem of an item already validated as ``validate_item_with_size``
    does (``size`` its size), with no other member.

    The general path's checks, in its order, minus those of the members
    that are absent (mixing, expression maps, ReturnValues, Expected and
    ConditionExpression all pass when absent): the item's size, the table,
    the key, throughput admission, the transaction locks; then one
    ``table.write`` (indexes, stream, log) whose return value is the old
    item, and the units charged when throughput is enforced -- what
    ``execute`` and ``_write_answer`` do for such a request, without the
    ItemWrite object or the separate read.
    """
    if size > MAX_ITEM_SIZE:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    table = db.tables.get(name)
    if table is None:
        raise ResourceNotFoundException("Requested resource not found")
    hash_av, range_av = key_from_item(table, item)
    loc = table.locate(hash_av, range_av)
    throughput = db.throughput
    if throughput.enabled:
        throughput.admit_write(table)
    locks = db.locks
    if locks._held and locks.holder((name, loc[2], loc[3])) is not None:
        raise TransactionConflictException("Transaction is ongoing for the item")
    old = table.write(loc, item, size)
    if throughput.enabled:
        consumed = Consumed(table)
        consumed.add_item_write(old, item, loc)
        throughput.charge(consumed)


def put_item(db, req):
    if len(req) == 2 and "Item" in req and "TableName" in req:
        put_plain(db, req["TableName"], req["Item"])
        return {}
    write = prepare_put(db, req)
    old, new = _run(db, write)
    attributes = old if req.get("ReturnValues") == "ALL_OLD" else None
    return _write_answer(db, req, write, old, new, attributes)


def delete_item(db, req):
    write = prepare_delete(db, req)
    old, new = _run(db, write)
    attributes = old if req.get("ReturnValues") == "ALL_OLD" else None
    return _write_answer(db, req, write, old, new, attributes)


def update_item(db, req):
    write = prepare_update(db, req)
    old, new = _run(db, write)
    rv = req.get("ReturnValues")
    attributes = None
    if rv == "ALL_OLD":
        attributes = old
    elif rv == "ALL_NEW":
        attributes = new
    elif rv == "UPDATED_OLD":
        attributes = project(old, write.paths)
    elif rv == "UPDATED_NEW":
        attributes = project(new, write.paths)
    return _write_answer(db, req, write, old, new, attributes)


def get_item(db, req):
    projection = req.get("ProjectionExpression")
    _check_parameters(req, "GetItem", [("ProjectionExpression", projection)])
    _validate_key_values(req["Key"])
    names = req.get("AttributesToGet")
    paths = attributes_to_get(names) if names is not None else None
    if projection is not None:
        resolver = Resolver(req.get("ExpressionAttributeNames"))
        paths = resolver.projection(projection)
        resolver.check_all_used()
    table = get_table(db, req["TableName"])
    hash_av, range_av = key_from_key(table, req["Key"])
    throughput = db.throughput
    if throughput.enabled:
        throughput.admit_read(table)
    stored = table.read(table.locate(hash_av, range_av))
    out = {}
    if stored is not None:
        out["Item"] = stored if paths is None else project(stored, paths)
    if _measuring(db, req):
        consumed = Consumed(table)
        consumed.add_read(read_units(item_size(stored) if stored is not None else 0, bool(req.get("ConsistentRead"))))
        throughput.charge(consumed)
        mode = req.get("ReturnConsumedCapacity")
        if mode in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = consumed.render(mode)
    return out


# -- fast paths: the server's common requests, certainly valid -------------------
# Each returns the answer, or None: "not mine", and dispatch runs the general
# path (validate_request, then the handler), which answers or raises exactly.
# The request is never modified, so the general path sees it as it came.


def fast_table(db, req):
    """The fast paths' table: the one ``req["TableName"]`` names, or None
    (a missing or non-string name, or no such table: the general path
    answers with DynamoDB's error)."""
    name = req.get("TableName")
    return db.tables.get(name) if type(name) is str else None


def get_fast(db, req):
    """GetItem of only TableName and Key, the key certainly valid (S or
    canonical N values), throughput not enforced: what ``get_item`` answers."""
    if len(req) != 2 or db.throughput.enabled:
        return None
    table = fast_table(db, req)
    if table is None:
        return None
    found = wire_key_fast(req.get("Key"), table.hash_key, table.hash_type, table.range_key, table.range_type)
    if found is None:
        return None
    stored = table.read(table.locate(found[0], found[1]))
    if stored is None:
        return {}
    return {"Item": stored}


def get_encoded(db, req, encode):
    """get_fast's answer as ``encode`` writes it, spliced from the item's
    cached JSON (``_core.read_raw``); None for the general path."""
    if len(req) != 2 or db.throughput.enabled:
        return None
    table = fast_table(db, req)
    if table is None:
        return None
    raw = read_raw(req.get("Key"), table.hash_key, table.hash_type, table.range_key, table.range_type,
                   table.ring, table.partitions, encode)
    if raw is None:
        return None
    return b'{"Item":' + raw + b"}" if raw else b"{}"


def put_fast(db, req):
    """PutItem of only TableName and Item, the item of the core's common
    shapes: ``put_valid`` (``put_item``'s own branch for such a request)
    without the request's validation, which such a request passes."""
    if len(req) != 2:
        return None
    name = req.get("TableName")
    if type(name) is not str:
        return None
    table = db.tables.get(name)
    if table is None:
        return None
    item = req.get("Item")
    # A table with nothing to follow a write (no index, stream or log), no
    # throughput or lock to check: put_valid's write in one core call.
    if (table.writes_alone and not db.throughput.enabled and not db.locks._held
            and store_plain_item(item, table.hash_key, table.hash_type, table.range_key, table.range_type,
                                 table.ring, table.partitions, MAX_ITEM_SIZE)):
        return {}
    found = validate_item_fast(item)
    if found is None:
        return None
    put_valid(db, name, found[0], found[1])
    return {}


# UpdateExpression text -> ((raw attribute name or #placeholder, :placeholder), ...)
# for an expression of only ``SET <top-level name> = :value`` actions, or False.
_SET_PLANS = {}
_SET_PLANS_MAX = 1024
_UPDATE_FAST_MEMBERS = frozenset((
    "TableName", "Key", "UpdateExpression", "ExpressionAttributeNames", "ExpressionAttributeValues",
    "ReturnValues",
))
_RETURN_VALUES = frozenset(("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"))


def _set_plan(text):
    plan = False
    try:
        parsed = parse_update(text)
    except ValidationException:
        parsed = None
    if parsed is not None:
        actions = []
        for clause, path, operand in parsed.actions:
            elements = path.elements
            if (
                clause != "SET" or len(elements) != 1 or type(elements[0]) is not str
                or type(operand) is not Value or not VALUE_KEY.fullmatch(operand.name)
                or (elements[0][0] == "#" and not NAME_KEY.fullmatch(elements[0]))
            ):
                break
            actions.append((elements[0], operand.name))
        else:
            if len({placeholder for _, placeholder in actions}) == len(actions):
                plan = tuple(actions)  # else a value used twice: the general path
    if len(_SET_PLANS) >= _SET_PLANS_MAX:
        _SET_PLANS.clear()
    _SET_PLANS[text] = plan
    return plan


def _stored_value_size(av):
    n = value_size_fast(av)
    return n if n >= 0 else value_size(av)


def update_fast(db, req):
    """UpdateItem of ``SET name = :value, ...`` on top-level attributes (the
    names literal or #placeholders), no condition, ReturnValues any, throughput
    not enforced, every placeholder defined and used, the values valid as
    sent, no key attribute or name targeted twice: what ``update_item``
    answers.  The new item's size is the stored one's, less the replaced
    attributes, plus the new ones (no walk of the whole item); in a table
    with nothing to follow a write, the core stores it as PutItem's fast
    write does (``store_item``: as its JSON)."""
    if not _UPDATE_FAST_MEMBERS.issuperset(req) or db.throughput.enabled:
        return None
    text = req.get("UpdateExpression")
    if type(text) is not str:
        return None
    plan = _SET_PLANS.get(text)
    if plan is None:
        plan = _set_plan(text)
    if not plan:
        return None
    rv = req.get("ReturnValues")
    if rv is not None and rv not in _RETURN_VALUES:
        return None
    table = fast_table(db, req)
    if table is None:
        return None
    names = req.get("ExpressionAttributeNames")
    values = req.get("ExpressionAttributeValues")
    if type(values) is not dict or len(values) != len(plan) or (names is not None and (type(names) is not dict
                                                                                       or not names)):
        return None
    sets = {}
    used_names = 0
    key_names = table.key_names
    for element, placeholder in plan:
        if element[0] == "#":
            if names is None:
                return None
            attribute = names.get(element)
            if type(attribute) is not str:
                return None
            used_names += 1
        else:
            attribute = element
        av = values.get(placeholder)
        if av is None or attribute in sets or attribute in key_names:
            return None
        n = value_size_fast(av)
        if n < 0:
            return None
        sets[attribute] = (av, n)
    # Every name and value used (each once: a name used twice would target
    # one attribute twice, refused above; the plan's values are distinct).
    if names is not None and used_names != len(names):
        return None
    if len(sets) != len(values):
        return None
    found = wire_key_fast(req.get("Key"), table.hash_key, table.hash_type, table.range_key, table.range_type)
    if found is None:
        return None
    hash_av, range_av = found
    loc = table.locate(hash_av, range_av)
    partition, token, hk, sk = loc
    locks = db.locks
    if locks._held and locks.holder((table.name, hk, sk)) is not None:
        raise TransactionConflictException("Transaction is ongoing for the item")
    stored = partition.get_sized(hk, sk)
    if stored is None:
        old = None
        new = key_dict(table, hash_av, range_av)
        size = item_size(new)
    else:
        old, size = stored
        new = dict(old)
    for attribute, (av, n) in sets.items():
        was = new.get(attribute)
        if was is None:
            size += len(attribute.encode("utf-8", "surrogatepass")) + n
        else:
            size += n - _stored_value_size(was)
        new[attribute] = av
    if size > MAX_ITEM_SIZE:
        raise ValidationException("Item size to update has exceeded the maximum allowed size")
    if table.writes_alone:
        store_item(partition, token, hk, sk, new, size)
    else:
        table.write(loc, new, size, want_old=False)
    if rv is None or rv == "NONE":
        return {}
    if rv == "ALL_OLD":
        attributes = old
    elif rv == "ALL_NEW":
        attributes = new
    else:
        paths = tuple((attribute,) for attribute in sets)
        attributes = project(old if rv == "UPDATED_OLD" else new, paths)
    return {"Attributes": attributes} if attributes else {}


FAST_PATHS = {"GetItem": get_fast, "PutItem": put_fast, "UpdateItem": update_fast}
