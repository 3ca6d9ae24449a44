"""Query and Scan: one parsed request, one read loop.

Both operations go through :func:`do_query`, in three steps:

1. :class:`ReadRequest` checks what needs no table, in DynamoDB's order
   (expression vs legacy parameters, placeholders, Select and its
   companions, ExclusiveStartKey values, Segment/TotalSegments, the
   expressions themselves, the key condition's shape), then what needs the
   table (index name, ConsistentRead on a GSI, key conditions against the
   key schema, the filter against key attributes, ExclusiveStartKey against
   the schema and the conditions).
2. It picks a *source*: the table's Partitions or an index's, and an
   iterator of ``(entry, position)`` over it.  A Query is one
   ``Partition.query`` on one partition key with sort-key bounds, so it
   costs O(log n + k); a Scan walks :func:`kvstore.schema.scan_order` in
   token order, from ExclusiveStartKey or the segment's first token.
3. :func:`_read_page` evaluates entries: each counts toward Limit and toward
   the 1 MB page (sizes as read, before the filter), then passes the filter
   (Count vs ScannedCount), then is projected.  A page cut short by Limit or
   size answers a LastEvaluatedKey: the table key, plus the index key on an
   index, of the last entry evaluated.

:func:`query_fast` (tried by ``kvstore.api.dispatch`` first) answers the
common Query -- a key condition on the table's key, its values valid as
sent, nothing else but ScanIndexForward, a page under 1 MB -- from a plan of
the key condition cached by its text, and returns None for anything else
(the general path then answers or raises exactly).

Index entries hold the item as the index projects it.  An LSI can answer
more than it projects (DynamoDB fetches the rest from the table), a GSI
cannot: Select=ALL_ATTRIBUTES on a GSI that does not project ALL is refused.
"""

from ..capacity import Consumed, read_units
from ..errors import ValidationException
from ..expressions import Resolver, check_expression_parameters, compare_values, evaluate, project
from ..expressions.ast import And, Between, Call, Compare, Const, In, Not, Or, Path
from ..schema import TOKEN_SPACE, escape_sort_bytes, scan_order, table_key_suffix
from .._core import Partition, encode_key_value, hash64, prefix_bounds, value_size_fast
from ..expressions import parse_condition
from ..expressions.ast import Value
from ..expressions.resolve import NAME_KEY, VALUE_KEY
from ..values import item_size, validate_value
from . import legacy, specs
from .items import fast_table, get_table

__all__ = ["query", "scan", "do_query", "query_fast", "query_encoded", "MAX_PAGE_BYTES"]

MAX_PAGE_BYTES = 1024 * 1024

_VALIDATION_PREFIX = "1 validation error detected: "

# KeyConditionExpression operators as the legacy ComparisonOperator names.
_KEY_OPERATORS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NOT_INDEXABLE = frozenset(("NULL", "NOT_NULL", "NE", "CONTAINS", "NOT_CONTAINS", "IN"))


def query(db, req):
    return do_query(db, req, True)


def scan(db, req):
    return do_query(db, req, False)


# -- the key condition -----------------------------------------------------------


def _key_condition_error(message):
    return ValidationException(message)


def _collect_key_conditions(node, conditions):
    """Flatten a resolved KeyConditionExpression into {name: (operator, [values])}."""
    kind = type(node)
    if kind is Or:
        raise _key_condition_error("Invalid operator used in KeyConditionExpression: OR")
    if kind is Not:
        raise _key_condition_error("Invalid operator used in KeyConditionExpression: NOT")
    if kind is In:
        raise _key_condition_error("Invalid operator used in KeyConditionExpression: IN")
    if kind is Compare and node.op == "<>":
        raise _key_condition_error("Invalid operator used in KeyConditionExpression: <>")
    if kind is Call:
        if node.name in ("attribute_exists", "attribute_not_exists", "attribute_type", "contains"):
            raise _key_condition_error(f"Invalid operator used in KeyConditionExpression: {node.name}")
        if node.name == "size":
            raise _key_condition_error("KeyConditionExpressions cannot contain nested operations")
        if node.name == "begins_with" and type(node.args[0]) is not Path:
            raise _key_condition_error(
                "Invalid condition in KeyConditionExpression: begins_with operator must have the key "
                "attribute as its first operand"
            )
    if kind is Between and type(node.operand) is not Path:
        raise _key_condition_error(
            "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute "
            "as its first operand"
        )
    if kind is And:
        _collect_key_conditions(node.left, conditions)
        _collect_key_conditions(node.right, conditions)
        return
    if kind is Compare:
        operands = (node.left, node.right)
    elif kind is Between:
        operands = (node.operand, node.low, node.high)
    elif kind is Call:
        operands = node.args
    else:  # pragma: no cover - the parser builds nothing else at the top
        raise _key_condition_error("Invalid condition in KeyConditionExpression: No key attribute specified")
    name = None
    position = 0
    for i, operand in enumerate(operands):
        if type(operand) is Path:
            if name is not None:
                raise _key_condition_error(
                    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"
                )
            if len(operand.elements) > 1 or type(operand.elements[0]) is not str:
                raise _key_condition_error("KeyConditionExpressions cannot have conditions on nested attributes")
            name = operand.elements[0]
            position = i
        elif type(operand) is not Const:
            _collect_key_conditions(operand, conditions)
    if name is None:
        raise _key_condition_error("Invalid condition in KeyConditionExpression: No key attribute specified")
    if name in conditions:
        raise _key_condition_error("KeyConditionExpressions must only contain one condition per key")
    values = [operand.value for operand in operands if type(operand) is Const]
    if kind is Compare:
        op = node.op if position == 0 else _FLIPPED[node.op]
        conditions[name] = (_KEY_OPERATORS[op], values)
    elif kind is Between:
        conditions[name] = ("BETWEEN", values)
    else:
        conditions[name] = ("BEGINS_WITH", values)


def _legacy_key_conditions(key_conditions):
    """KeyConditions (already checked by the legacy validator) as {name: (operator, [values])}."""
    return {
        name: (condition["ComparisonOperator"], [validate_value(v) for v in condition.get("AttributeValueList") or ()])
        for name, condition in key_conditions.items()
    }


def _av_type(av):
    for t in av:
        return t
    return None


def _check_key_conditions(conditions, hash_key, hash_type, range_key, range_type):
    """DynamoDB's checks of key conditions against the key schema in use."""
    count = len(conditions)
    for name, type_, is_hash in ((hash_key, hash_type, True), (range_key, range_type, False)):
        if name is None:
            continue
        if is_hash and range_key is None and count > 1:
            raise ValidationException("Query key condition not supported")
        condition = conditions.get(name)
        if condition is None:
            if is_hash or count > 1:
                raise ValidationException(f"Query condition missed key schema element: {name}")
            continue
        op, values = condition
        if op in _NOT_INDEXABLE:
            raise ValidationException("Attempted conditional constraint is not an indexable operation")
        if any(_av_type(v) != type_ for v in values):
            raise ValidationException(
                "One or more parameter values were invalid: Condition parameter type does not match schema type"
            )
        if is_hash and op != "EQ":
            raise ValidationException("Query key condition not supported")
    if range_key is None and count > 1:
        raise ValidationException("Query key condition not supported")


def _range_matches(op, value, values):
    c = compare_values(value, values[0])
    if op == "EQ":
        return c == 0
    if op == "LT":
        return c < 0
    if op == "LE":
        return c <= 0
    if op == "GT":
        return c > 0
    if op == "GE":
        return c >= 0
    if op == "BETWEEN":
        return c >= 0 and compare_values(value, values[1]) <= 0
    if op == "BEGINS_WITH":
        t = _av_type(value)
        return t == _av_type(values[0]) and encode_key_value(value).startswith(encode_key_value(values[0]))
    return False


def _table_bounds(op, values):
    """(lo, hi, lo_inclusive, hi_inclusive) on a table's sort-key bytes."""
    b = encode_key_value(values[0])
    if op == "EQ":
        return b, b, True, True
    if op == "LT":
        return None, b, True, False
    if op == "LE":
        return None, b, True, True
    if op == "GT":
        return b, None, False, True
    if op == "GE":
        return b, None, True, True
    if op == "BETWEEN":
        return b, encode_key_value(values[1]), True, True
    lo, hi = prefix_bounds(b)  # BEGINS_WITH
    return lo, hi, True, False


def _index_bounds(index, op, values):
    """The same, on an index's composite sort bytes (see kvstore.schema)."""
    v = values[0]
    if op == "EQ":
        return index.sort_bounds(v, v, True, True)
    if op == "LT":
        return index.sort_bounds(None, v, True, False)
    if op == "LE":
        return index.sort_bounds(None, v, True, True)
    if op == "GT":
        return index.sort_bounds(v, None, False, True)
    if op == "GE":
        return index.sort_bounds(v, None, True, True)
    if op == "BETWEEN":
        return index.sort_bounds(v, values[1], True, True)
    return index.prefix_sort_bounds(encode_key_value(v))


# -- filters and projections -------------------------------------------------------


def _condition_names(node, out):
    """Top-level attribute names a condition tree reads."""
    kind = type(node)
    if kind is Path:
        out.add(node.elements[0])
    elif kind is Compare or kind is And or kind is Or:
        _condition_names(node.left, out)
        _condition_names(node.right, out)
    elif kind is Not:
        _condition_names(node.operand, out)
    elif kind is Call:
        for arg in node.args:
            _condition_names(arg, out)
    elif kind is Between:
        for sub in (node.operand, node.low, node.high):
            _condition_names(sub, out)
    elif kind is In:
        _condition_names(node.operand, out)
        for sub in node.choices:
            _condition_names(sub, out)
    return out


def _check_select(req, is_query, index_name):
    select = req.get("Select")
    projection = req.get("ProjectionExpression")
    attributes = req.get("AttributesToGet")
    prefix = _VALIDATION_PREFIX if is_query else ""
    if select is None:
        if projection is not None or attributes is not None:
            return "SPECIFIC_ATTRIBUTES"
        return "ALL_PROJECTED_ATTRIBUTES" if index_name is not None else "ALL_ATTRIBUTES"
    if select == "SPECIFIC_ATTRIBUTES":
        if projection is None and attributes is None:
            raise ValidationException(
                prefix + "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
                "SPECIFIC_ATTRIBUTES"
            )
        return select
    what = "only the Count" if select == "COUNT" else select
    if projection is not None:
        raise ValidationException(prefix + f"Cannot specify the ProjectionExpression when choosing to get {what}")
    if attributes is not None:
        raise ValidationException(prefix + f"Cannot specify the AttributesToGet when choosing to get {what}")
    if select == "ALL_PROJECTED_ATTRIBUTES" and index_name is None:
        raise ValidationException(prefix + "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    return select


def _validated_values(values):
    if not values:
        return values
    out = {}
    for key, av in values.items():
        try:
            out[key] = validate_value(av)
        except ValidationException as e:
            raise ValidationException(f"ExpressionAttributeValues contains invalid value: {e.message} for key {key}") from None
    return out


class ReadRequest:
    """A Query or Scan request, checked and planned."""

    __slots__ = (
        "is_query", "table", "index", "select", "filter", "filter_names", "legacy_filter",
        "paths", "limit", "consistent", "reverse", "conditions", "start", "segment",
        "fetch", "key_names", "capacity",
    )

    def __init__(self, db, req, is_query):
        self.is_query = is_query
        index_name = req.get("IndexName")
        legacy.check_no_mixing(req, specs.QUERY if is_query else specs.SCAN)
        names = req.get("ExpressionAttributeNames")
        values = req.get("ExpressionAttributeValues")
        projection = req.get("ProjectionExpression")
        filter_text = req.get("FilterExpression")
        kce = req.get("KeyConditionExpression") if is_query else None
        check_expression_parameters(
            names, values,
            [("ProjectionExpression", projection), ("FilterExpression", filter_text)]
            + ([("KeyConditionExpression", kce)] if is_query else []),
        )
        self.select = _check_select(req, is_query, index_name)
        attributes = req.get("AttributesToGet")
        attribute_paths = legacy.attributes_to_get(attributes) if attributes is not None else None
        legacy_filter = req.get("QueryFilter" if is_query else "ScanFilter")
        key_conditions = req.get("KeyConditions") if is_query else None
        start = req.get("ExclusiveStartKey")
        if start is not None:
            checked = {}
            for name, av in start.items():
                try:
                    checked[name] = validate_value(av)
                except ValidationException as e:
                    raise ValidationException(f"The provided starting key is invalid: {e.message}") from None
            start = checked
        self.segment = None
        if not is_query:
            segment = req.get("Segment")
            total = req.get("TotalSegments")
            if segment is not None and total is None:
                raise ValidationException(
                    "The TotalSegments parameter is required but was not present in the request when "
                    "Segment parameter is present"
                )
            if total is not None:
                if segment is None:
                    raise ValidationException(
                        "The Segment parameter is required but was not present in the request when "
                        "parameter TotalSegments is present"
                    )
                if segment >= total:
                    raise ValidationException(
                        "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
                        f"Segment: {segment} is not less than TotalSegments: {total}"
                    )
                self.segment = (int(segment), int(total))
        if is_query and key_conditions is None and kce is None:
            raise ValidationException(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
            )
        # Expressions: parse (cached), resolve, then the unused placeholders.
        resolver = Resolver(names, _validated_values(values))
        conditions = None
        if kce is not None:
            key_condition = resolver.key_condition(kce)
        self.filter = resolver.filter(filter_text) if filter_text is not None else None
        self.paths = resolver.projection(projection) if projection is not None else None
        resolver.check_all_used()
        if kce is not None:
            conditions = {}
            _collect_key_conditions(key_condition.root, conditions)
        self.legacy_filter = None
        conditional_operator = req.get("ConditionalOperator")
        if legacy_filter is not None or conditional_operator is not None:
            param = "QueryFilter" if is_query else "ScanFilter"
            self.legacy_filter = legacy.legacy_condition(legacy_filter, conditional_operator, param)
        if legacy_filter is not None:
            self.filter_names = set(legacy_filter)
        elif self.filter is not None:
            self.filter_names = _condition_names(self.filter.root, set())
        else:
            self.filter_names = set()
        if key_conditions is not None:
            legacy.legacy_condition(key_conditions, None, "KeyConditions")  # validates the conditions
            conditions = _legacy_key_conditions(key_conditions)
            if len(conditions) not in (1, 2):
                raise ValidationException("Conditions can be of length 1 or 2 only")
        if self.paths is None and attribute_paths is not None:
            self.paths = attribute_paths
        limit = req.get("Limit")
        self.limit = int(limit) if limit is not None else None
        self.consistent = bool(req.get("ConsistentRead"))
        self.reverse = req.get("ScanIndexForward") is False
        self.capacity = req.get("ReturnConsumedCapacity")

        # -- against the table -------------------------------------------------
        table = self.table = get_table(db, req["TableName"])
        index = None
        if index_name is not None:
            index = table.find_index(index_name)
            if index is None:
                raise ValidationException(f"The table does not have the specified index: {index_name}")
            if index.is_global and self.consistent:
                raise ValidationException("Consistent reads are not supported on global secondary indexes")
        self.index = index
        if index is None:
            hash_key, hash_type = table.hash_key, table.hash_type
            range_key, range_type = table.range_key, table.range_type
            self.key_names = table.key_names
        else:
            hash_key, hash_type = index.hash_key, index.hash_type
            range_key, range_type = index.range_key, index.range_type
            self.key_names = index.start_key_names
        if is_query:
            _check_key_conditions(conditions, hash_key, hash_type, range_key, range_type)
            self.conditions = conditions
            hash_value = conditions[hash_key][1][0]
            if _av_type(hash_value) in ("S", "B") and hash_value[_av_type(hash_value)] in ("", b""):
                kind = "string" if _av_type(hash_value) == "S" else "binary"
                raise ValidationException(
                    "One or more parameter values are not valid. The AttributeValue for a key attribute "
                    f"cannot contain an empty {kind} value. Key: {hash_key}"
                )
            key_attributes = [n for n in (hash_key, range_key) if n is not None]
            for name in key_attributes:
                if name in self.filter_names:
                    what = "Filter Expression" if self.filter is not None else "QueryFilter"
                    raise ValidationException(
                        f"{what} can only contain non-primary key attributes: Primary key attribute: {name}"
                    )
        else:
            self.conditions = None
        if index is not None and index.is_global and self.select == "ALL_ATTRIBUTES" and index.projected is not None:
            raise ValidationException(
                "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for "
                f"global secondary index {index.name} because its projection type is not ALL"
            )
        # An LSI answers what it does not project from the table.
        self.fetch = False
        if index is not None and not index.is_global and index.projected is not None:
            wanted = set(self.filter_names)
            if self.paths is not None:
                wanted.update(p[0] for p in self.paths)
            self.fetch = self.select == "ALL_ATTRIBUTES" or any(n not in index.projected for n in wanted)
        self.start = None
        if start is not None:
            self.start = self._start_position(start, hash_key, range_key)

    # -- ExclusiveStartKey ---------------------------------------------------------

    def _start_position(self, start, hash_key, range_key):
        table, index = self.table, self.index
        names = self.key_names
        if len(start) != len(names) or any(name not in start for name in names):
            raise ValidationException("The provided starting key is invalid")
        for name in names:
            av = start[name]
            type_ = table.types[name]
            if _av_type(av) != type_ or len(av) != 1:
                raise ValidationException(
                    "The provided starting key is invalid: The provided key element does not match the schema"
                )
            if type_ != "N" and av[type_] in ("", b""):
                kind = "string" if type_ == "S" else "binary"
                raise ValidationException(
                    "The provided starting key is invalid: One or more parameter values are not valid. The "
                    f"AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {name}"
                )
        if self.is_query:
            conditions = self.conditions
            hash_value = conditions[hash_key][1][0]
            range_condition = conditions.get(range_key) if range_key is not None else None
            if range_condition is not None and not _range_matches(
                range_condition[0], start[range_key], range_condition[1]
            ):
                raise ValidationException("The provided starting key does not match the range key predicate")
            if compare_values(start[hash_key], hash_value) != 0:
                raise ValidationException(
                    "The provided starting key is outside query boundaries based on provided conditions"
                )
        hk = encode_key_value(start[table.hash_key])
        sk = encode_key_value(start[table.range_key]) if table.range_key is not None else b""
        if index is None:
            return hash64(hk), hk, sk
        if index.range_key is not None:
            sort = escape_sort_bytes(encode_key_value(start[index.range_key]))
        else:
            sort = escape_sort_bytes(b"")
        isk = sort + table_key_suffix(hk, sk)
        if index.is_global:
            ihk = encode_key_value(start[index.hash_key])
            return hash64(ihk), ihk, isk
        return hash64(hk), hk, isk

    # -- the entries to evaluate -------------------------------------------------------

    def entries(self):
        """(iterator of entries, an upper bound of their total size in bytes)."""
        table, index = self.table, self.index
        partitions = table.partitions if index is None else index.partitions
        if self.is_query:
            hash_key = table.hash_key if index is None else index.hash_key
            range_key = table.range_key if index is None else index.range_key
            hk = encode_key_value(self.conditions[hash_key][1][0])
            partition = partitions[table.ring.partition_of(hash64(hk))]
            range_condition = self.conditions.get(range_key) if range_key is not None else None
            if range_condition is None:
                lo = hi = None
                lo_inclusive = hi_inclusive = True
            elif index is None:
                lo, hi, lo_inclusive, hi_inclusive = _table_bounds(*range_condition)
            else:
                lo, hi, lo_inclusive, hi_inclusive = _index_bounds(index, *range_condition)
            start_after = None
            if self.start is not None:
                start_after = self.start[2]
            pairs = partition.query(hk, lo, hi, lo_inclusive, hi_inclusive, self.reverse, start_after)
            return (entry for _sk, entry in pairs), partition.collection_size(hk)
        start, end = 0, TOKEN_SPACE
        if self.segment is not None:
            segment, total = self.segment
            start = segment * TOKEN_SPACE // total
            end = (segment + 1) * TOKEN_SPACE // total
        walk = scan_order(table.ring, partitions, self.start, start, end)
        return (entry[3] for entry in walk), sum(p.size_bytes for p in partitions.values())


def _read_page(plan, throughput):
    entries, bound = plan.entries()
    measure = bound >= MAX_PAGE_BYTES or plan.capacity in ("TOTAL", "INDEXES") or throughput.enabled
    limit = plan.limit
    condition = plan.filter
    legacy = plan.legacy_filter
    paths = plan.paths if plan.select == "SPECIFIC_ATTRIBUTES" else None
    count_only = plan.select == "COUNT"
    fetch = plan.fetch
    table = plan.table
    items = []
    scanned = 0
    size = 0
    last = None
    stopped = False
    for entry in entries:
        scanned += 1
        last = entry
        if measure:
            size += item_size(entry)
        item = entry
        if fetch:
            item = table.read(table.locate(entry[table.hash_key], entry.get(table.range_key) if table.range_key else None))
            if item is None:  # pragma: no cover - an LSI is updated with its table
                item = entry
        if (condition is None or evaluate(condition, item)) and (legacy is None or evaluate(legacy, item)):
            if not count_only:
                if paths is not None:
                    item = project(item, paths)
                items.append(item)
            else:
                items.append(None)
        if (limit is not None and scanned >= limit) or size >= MAX_PAGE_BYTES:
            stopped = True
            break
    out = {}
    if not count_only:
        out["Items"] = items
    out["Count"] = len(items)
    out["ScannedCount"] = scanned
    if stopped and last is not None:
        out["LastEvaluatedKey"] = {name: last[name] for name in plan.key_names}
    if plan.capacity in ("TOTAL", "INDEXES") or throughput.enabled:
        # A page is charged on the total size read (before any filter), in
        # 4 KB units, halved unless consistent; on the index when reading one.
        consumed = Consumed(table)
        consumed.add_read(read_units(size, plan.consistent), plan.index)
        throughput.charge(consumed)
        if plan.capacity in ("TOTAL", "INDEXES"):
            out["ConsumedCapacity"] = consumed.render(plan.capacity)
    return out


def do_query(db, req, is_query):
    """The Query (``is_query``) or Scan answer to ``req``."""
    plan = ReadRequest(db, req, is_query)
    throughput = db.throughput
    if throughput.enabled:
        throughput.admit_read(plan.table, plan.index)
    return _read_page(plan, throughput)


# -- the common Query, planned once per key condition text ---------------------------
#
# A plan is what the text alone says: ((attribute or #placeholder, operator,
# (:placeholders...)), ...) for "k = :v" or "k = :v AND <range condition>",
# the range condition one of = < <= > >= (either side), BETWEEN or
# begins_with on a bare name; False for anything else.  Per request the
# placeholders are substituted and every check the general path would make
# on such a request is made again (or found to pass by construction); any
# doubt returns None.  query_fast answers with the items, query_encoded (the
# server's, kvstore.api.ENCODED_PATHS) with the answer's JSON bytes, spliced
# from the items' JSON cached in the partition.

_QUERY_PLANS = {}
_QUERY_PLANS_MAX = 1024
_QUERY_FAST_MEMBERS = frozenset((
    "TableName", "KeyConditionExpression", "ExpressionAttributeValues", "ExpressionAttributeNames",
    "ScanIndexForward",
))


def _plan_name(operand):
    if type(operand) is not Path or len(operand.elements) != 1 or type(operand.elements[0]) is not str:
        return None
    name = operand.elements[0]
    if name[0] == "#" and not NAME_KEY.fullmatch(name):
        return None
    return name


def _plan_value(operand):
    if type(operand) is not Value or not VALUE_KEY.fullmatch(operand.name):
        return None
    return operand.name


def _plan_condition(node):
    kind = type(node)
    if kind is Compare:
        if node.op not in _KEY_OPERATORS:
            return None
        name, value, op = _plan_name(node.left), _plan_value(node.right), node.op
        if name is None:
            name, value, op = _plan_name(node.right), _plan_value(node.left), _FLIPPED[node.op]
        if name is None or value is None:
            return None
        return name, _KEY_OPERATORS[op], (value,)
    if kind is Between:
        name, low, high = _plan_name(node.operand), _plan_value(node.low), _plan_value(node.high)
        if name is None or low is None or high is None:
            return None
        return name, "BETWEEN", (low, high)
    if kind is Call and node.name == "begins_with" and len(node.args) == 2:
        name, value = _plan_name(node.args[0]), _plan_value(node.args[1])
        if name is None or value is None:
            return None
        return name, "BEGINS_WITH", (value,)
    return None


def _query_plan(text):
    plan = False
    try:
        parsed = parse_condition(text, "KeyConditionExpression")
    except ValidationException:
        parsed = None
    if parsed is not None:
        root = parsed.root
        parts = (root.left, root.right) if type(root) is And else (root,)
        conditions = tuple(_plan_condition(part) for part in parts)
        if all(c is not None for c in conditions) and conditions[0][1] == "EQ":
            placeholders = [v for c in conditions for v in c[2]]
            if len(set(placeholders)) == len(placeholders):
                plan = conditions
    if len(_QUERY_PLANS) >= _QUERY_PLANS_MAX:
        _QUERY_PLANS.clear()
    _QUERY_PLANS[text] = plan
    return plan


def _query_fast_read(db, req):
    """The common Query's read (see above): (partition, hk, lo, hi,
    lo_inclusive, hi_inclusive, reverse) for ``Partition.query`` or
    ``query_raw``, or None for the general path."""
    if not _QUERY_FAST_MEMBERS.issuperset(req) or db.throughput.enabled:
        return None
    text = req.get("KeyConditionExpression")
    if type(text) is not str:
        return None
    plan = _QUERY_PLANS.get(text)
    if plan is None:
        plan = _query_plan(text)
    if not plan:
        return None
    table = fast_table(db, req)
    if table is None:
        return None
    forward = req.get("ScanIndexForward", True)
    if type(forward) is not bool:
        return None
    names = req.get("ExpressionAttributeNames")
    values = req.get("ExpressionAttributeValues")
    if type(values) is not dict or not values or (names is not None and (type(names) is not dict or not names)):
        return None
    used_names = used_values = 0
    hash_value = None
    range_condition = None
    for element, op, placeholders in plan:
        if element[0] == "#":
            if names is None:
                return None
            attribute = names.get(element)
            if type(attribute) is not str:
                return None
            used_names += 1
        else:
            attribute = element
        if attribute == table.hash_key and hash_value is None and op == "EQ":
            type_ = table.hash_type
        elif attribute == table.range_key and range_condition is None and attribute != table.hash_key:
            type_ = table.range_type
        else:
            return None  # another attribute, a key twice, a hash key not by "="
        found = []
        for placeholder in placeholders:
            av = values.get(placeholder)
            # Valid as sent, of the key's type (so ordering and begins_with
            # on S or B only are allowed, and the general checks pass).
            if av is None or value_size_fast(av) < 0 or len(av) != 1 or type_ not in av:
                return None
            found.append(av)
            used_values += 1
        if attribute == table.hash_key:
            hash_value = found[0]
        else:
            if op == "BEGINS_WITH" and type_ == "N":
                return None
            if op == "BETWEEN" and compare_values(found[0], found[1]) > 0:
                return None
            range_condition = (op, found)
    if hash_value is None or used_values != len(values) or (names is not None and used_names != len(names)):
        return None
    if table.hash_type != "N" and hash_value[table.hash_type] == "":
        return None
    hk = encode_key_value(hash_value)
    partition = table.partitions[table.ring.partition_of(hash64(hk))]
    if partition.collection_size(hk) >= MAX_PAGE_BYTES:
        return None  # a page that may stop at 1 MB: the general path measures it
    if range_condition is None:
        return partition, hk, None, None, True, True, not forward
    lo, hi, lo_inclusive, hi_inclusive = _table_bounds(*range_condition)
    return partition, hk, lo, hi, lo_inclusive, hi_inclusive, not forward


def query_fast(db, req):
    """The common Query (see above): its answer, or None for the general path."""
    read = _query_fast_read(db, req)
    if read is None:
        return None
    partition, hk, lo, hi, lo_inclusive, hi_inclusive, reverse = read
    found = [item for _sk, item in partition.query(hk, lo, hi, lo_inclusive, hi_inclusive, reverse)]
    return {"Items": found, "Count": len(found), "ScannedCount": len(found)}


def query_encoded(db, req, encode):
    """query_fast's answer as ``encode`` writes it, spliced from the items'
    cached JSON (``Partition.query_raw``); None for the general path."""
    read = _query_fast_read(db, req)
    if read is None:
        return None
    partition, hk, lo, hi, lo_inclusive, hi_inclusive, reverse = read
    if type(partition) is not Partition:
        return None  # another worker's (server/cluster.py): dispatch routes it
    raws = partition.query_raw(hk, lo, hi, lo_inclusive, hi_inclusive, reverse, encode)
    return b'{"Items":[%b],"Count":%d,"ScannedCount":%d}' % (b",".join(raws), len(raws), len(raws))
