"""The legacy (pre-expression) parameters: Expected, ConditionalOperator,
the Condition maps, AttributeUpdates, AttributesToGet.

DynamoDB still accepts them and answers them with their own validation
messages.  This module validates them and turns them into what the rest of
the engine already evaluates, so there is one evaluator, not two:

- conditions (``Expected``, and the ``Condition`` maps of ``QueryFilter``,
  ``ScanFilter`` and ``KeyConditions``) become a ``ConditionExpr`` built
  from the expression library's nodes (``kvstore.expressions.ast``), which
  ``kvstore.expressions.evaluate`` evaluates like any ConditionExpression;
- ``AttributeUpdates`` (top-level attributes only, no paths) is applied by
  :meth:`AttributeUpdates.apply`, a pure step like ``apply_update`` with
  the legacy semantics and messages (ADD appends lists, a type clash is
  "Type mismatch for attribute to update");
- ``AttributesToGet`` becomes projection paths for ``project``.

Entry points (all raise ``ValidationException`` with DynamoDB's text):

- ``check_no_mixing(req, members)``: "Can not use both expression and
  non-expression parameters in the same request: ..."; ``members`` are the
  operation's request members (its ``specs`` table), so a member the
  operation does not have is ignored, as DynamoDB ignores it.
- ``expected_condition(expected, conditional_operator)`` -> ConditionExpr
  or None: PutItem / UpdateItem / DeleteItem (and the transaction forms).
- ``legacy_condition(conditions, conditional_operator, param)`` ->
  ConditionExpr or None: QueryFilter / ScanFilter / KeyConditions (pass
  ``conditional_operator=None`` for KeyConditions; ``param`` is only used to
  tell filters from key conditions).  Each entry of ``conditions`` is
  ``{"ComparisonOperator": ..., "AttributeValueList": [...]}``.
  ``validate_condition(name, op, values)`` checks one such entry alone
  (a KeyConditions checker can reuse it before its own key rules).
- ``AttributeUpdates.parse(updates)`` then ``.check_key(key_names)`` and
  ``.apply(item, key) -> (new_item or None, paths)``.
- ``attributes_to_get(names)`` -> projection paths.

Semantics of the comparison operators (DynamoDB's "Condition" reference):
a missing attribute satisfies only NULL and NE; values of different types
never match; LT/LE/GT/GE/BETWEEN order S, N and B only; NOT_CONTAINS
needs the attribute to exist.  Check order (DynamoDB Local's, which the
service's messages follow): the shape of an Expected entry (Exists /
Value / AttributeValueList / ComparisonOperator combinations), its values,
the number of arguments, their types, BETWEEN's bounds.
"""

from ..errors import ValidationException
from ..expressions.ast import And, Between, Call, Compare, ConditionExpr, Const, In, Not, Or, Path
from ..expressions.evaluate import compare_values, value_type
from ..values import (
    MAX_ITEM_SIZE, NUMBER_CONTEXT, decode_binary, format_number, number_key, validate_value, value_size,
)

__all__ = [
    "check_no_mixing", "expected_condition", "legacy_condition", "validate_condition",
    "AttributeUpdates", "attributes_to_get",
]

_INVALID = "One or more parameter values were invalid: "

# DynamoDB lists the parameters in these orders in the mixing message.
_LEGACY_PARAMS = ("AttributeUpdates", "AttributesToGet", "Expected", "QueryFilter", "ScanFilter", "ConditionalOperator")
_EXPRESSION_PARAMS = (
    "UpdateExpression", "ProjectionExpression", "ConditionExpression", "FilterExpression", "KeyConditionExpression",
)


def check_no_mixing(req, members):
    """Refuse a request that uses a legacy parameter and an expression together."""
    legacy = [p for p in _LEGACY_PARAMS if p in members and req.get(p) is not None]
    expressions = [p for p in _EXPRESSION_PARAMS if p in members and req.get(p) is not None]
    if req.get("KeyConditionExpression") is not None and req.get("KeyConditions") is not None:
        legacy.append("KeyConditions")
    if legacy and expressions:
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(legacy)}}} "
            f"Expression parameters: {{{', '.join(expressions)}}}"
        )


# -- conditions ------------------------------------------------------------------

# Number of arguments: exact count, or (minimum, None) for "at least".
_ARITY = {
    "EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1,
    "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1,
    "NULL": 0, "NOT_NULL": 0, "IN": (1, None), "BETWEEN": 2,
}
_SCALAR = frozenset(("S", "N", "B"))
# Argument types each operator accepts (EQ, NE, NULL, NOT_NULL take any).
_ALLOWED_TYPES = {
    "LE": _SCALAR, "LT": _SCALAR, "GE": _SCALAR, "GT": _SCALAR, "IN": _SCALAR, "BETWEEN": _SCALAR,
    "CONTAINS": frozenset(("S", "N", "B", "BOOL", "NULL")),
    "NOT_CONTAINS": frozenset(("S", "N", "B", "BOOL", "NULL")),
    "BEGINS_WITH": frozenset(("S", "B")),
}
_COMPARE = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}


def validate_condition(name, op, values):
    """Check one condition's arguments (already validated AttributeValues)."""
    arity = _ARITY[op]
    count = len(values)
    if (count < arity[0]) if type(arity) is tuple else (count != arity):
        raise ValidationException(_INVALID + f"Invalid number of argument(s) for the {op} ComparisonOperator")
    if count > 1:
        first = value_type(values[0])
        if any(value_type(v) != first for v in values[1:]):
            raise ValidationException(_INVALID + "AttributeValues inside AttributeValueList must be of same type")
    allowed = _ALLOWED_TYPES.get(op)
    if allowed is not None:
        for v in values:
            kind = value_type(v)
            if kind not in allowed:
                raise ValidationException(_INVALID + f"ComparisonOperator {op} is not valid for {kind} AttributeValue type")
    if op == "BETWEEN" and compare_values(values[0], values[1]) > 0:
        raise ValidationException(
            "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
        )


def _node(name, op, values):
    """The expression-library node equivalent to one legacy condition."""
    path = Path((name,))
    if op in _COMPARE:
        return Compare(_COMPARE[op], path, Const(values[0]))
    if op == "NULL":
        return Call("attribute_not_exists", (path,))
    if op == "NOT_NULL":
        return Call("attribute_exists", (path,))
    if op == "CONTAINS":
        return Call("contains", (path, Const(values[0])))
    if op == "NOT_CONTAINS":  # false, not true, when the attribute is missing
        return And(Call("attribute_exists", (path,)), Not(Call("contains", (path, Const(values[0])))))
    if op == "BEGINS_WITH":
        return Call("begins_with", (path, Const(values[0])))
    if op == "IN":
        return In(path, tuple(Const(v) for v in values))
    return Between(path, Const(values[0]), Const(values[1]))  # BETWEEN


def _combine(nodes, conditional_operator):
    if not nodes:
        return None
    kind = Or if conditional_operator == "OR" else And
    root = nodes[0]
    for node in nodes[1:]:
        root = kind(root, node)
    return ConditionExpr(root)


def _check_conditional_operator(conditional_operator, count):
    if conditional_operator is None:
        return
    if count == 0:
        raise ValidationException("ConditionalOperator cannot be used without Filter or Expected")
    if count == 1:
        raise ValidationException("ConditionalOperator can only be used when Filter or Expected has two or more elements")


def _values(values):
    return [validate_value(v) for v in values]


def legacy_condition(conditions, conditional_operator, param):
    """QueryFilter / ScanFilter / KeyConditions -> ConditionExpr (None when empty)."""
    nodes = []
    for name, condition in (conditions or {}).items():
        if condition is None:
            raise ValidationException("The filter condition for an attribute cannot be null")
        op = condition["ComparisonOperator"]
        values = _values(condition.get("AttributeValueList") or ())
        validate_condition(name, op, values)
        nodes.append(_node(name, op, values))
    if param != "KeyConditions":
        _check_conditional_operator(conditional_operator, len(nodes))
    return _combine(nodes, conditional_operator)


def _check_expected_shape(name, entry):
    exists = entry.get("Exists")
    value = entry.get("Value")
    values = entry.get("AttributeValueList")
    op = entry.get("ComparisonOperator")
    if exists is not None and op is not None:
        raise ValidationException(_INVALID + f"Exists and ComparisonOperator cannot be used together for Attribute: {name}")
    if value is not None and values is not None:
        raise ValidationException(_INVALID + f"Value and AttributeValueList cannot be used together for Attribute: {name}")
    if op is None and values is not None:
        raise ValidationException(
            _INVALID + f"AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"
        )
    if exists is False and value is not None:
        raise ValidationException(_INVALID + f"Value cannot be used when Exists is false for Attribute: {name}")
    if value is None and values is None:
        if op is not None:
            if op != "NULL" and op != "NOT_NULL":
                raise ValidationException(
                    _INVALID + f"Value or AttributeValueList must be used with ComparisonOperator: {op} "
                    f"for Attribute: {name}"
                )
        elif exists is None:
            raise ValidationException(_INVALID + f"Value must be provided when Exists is null for Attribute: {name}")
        elif exists:
            raise ValidationException(_INVALID + f"Value must be provided when Exists is true for Attribute: {name}")


def expected_condition(expected, conditional_operator):
    """Expected (+ ConditionalOperator) -> ConditionExpr, or None when absent."""
    nodes = []
    for name, entry in (expected or {}).items():
        if entry is None:
            raise ValidationException(_INVALID + f"ExpectedAttributeValue must not be null for Attribute: {name}")
        _check_expected_shape(name, entry)
        value = entry.get("Value")
        if value is not None:
            values = [validate_value(value)]
        else:
            values = _values(entry.get("AttributeValueList") or ())
        op = entry.get("ComparisonOperator")
        if op is None:
            op = "NULL" if entry.get("Exists") is False else "EQ"
        else:
            validate_condition(name, op, values)
        nodes.append(_node(name, op, values))
    _check_conditional_operator(conditional_operator, len(nodes))
    return _combine(nodes, conditional_operator)


# -- AttributeUpdates ------------------------------------------------------------

_ADD_TYPES = frozenset(("N", "SS", "NS", "BS", "L"))
_SET_TYPES = frozenset(("SS", "NS", "BS"))


def _member_key(kind, member):
    if kind == "NS":
        return number_key(member)
    if kind == "BS":
        return decode_binary(member)
    return member


def _type_mismatch():
    return ValidationException("Type mismatch for attribute to update")


class AttributeUpdates:
    """A validated AttributeUpdates map: ``actions`` is ((name, action, value or None), ...)."""

    __slots__ = ("actions",)

    def __init__(self, actions):
        self.actions = actions

    @classmethod
    def parse(cls, updates):
        """Validate AttributeUpdates (values, actions, size); no table needed."""
        actions = []
        size = 0
        for name, update in updates.items():
            if update is None:
                raise ValidationException(
                    "Supplied AttributeValueUpdate is empty, must contain one of the supported actions"
                )
            action = update.get("Action") or "PUT"
            value = update.get("Value")
            if value is not None:
                value = validate_value(value)
            if value is None and action != "DELETE":
                raise ValidationException(_INVALID + "Only DELETE action is allowed when no attribute value is specified")
            kind = value_type(value) if value is not None else None
            if action == "DELETE" and value is not None and kind not in _SET_TYPES:
                raise ValidationException(_INVALID + f"DELETE action with value is not supported for the type {kind}")
            if action == "ADD" and kind not in _ADD_TYPES:
                raise ValidationException(_INVALID + f"ADD action is not supported for the type {kind}")
            if action != "DELETE":
                size += len(name.encode("utf-8")) + value_size(value)
                if size > MAX_ITEM_SIZE:
                    raise ValidationException("Item size to update has exceeded the maximum allowed size")
            actions.append((name, action, value))
        return cls(tuple(actions))

    def check_key(self, key_names):
        for name, _, _ in self.actions:
            if name in key_names:
                raise ValidationException(
                    _INVALID + f"Cannot update attribute {name}. This attribute is part of the key"
                )

    @property
    def paths(self):
        return tuple((name,) for name, _, _ in self.actions)

    def apply(self, item, key):
        """The item after the updates (pure); ``item`` None starts from ``key``."""
        new = dict(item if item is not None else key)
        for name, action, value in self.actions:
            old = new.get(name)
            if action == "PUT":
                new[name] = value
            elif action == "DELETE":
                if value is None:
                    new.pop(name, None)
                elif old is not None:
                    kind = value_type(value)
                    if value_type(old) != kind:
                        raise _type_mismatch()
                    gone = {_member_key(kind, m) for m in value[kind]}
                    kept = [m for m in old[kind] if _member_key(kind, m) not in gone]
                    if kept:
                        new[name] = {kind: kept}
                    else:
                        del new[name]
            else:  # ADD
                if old is None:
                    new[name] = value
                    continue
                kind = value_type(value)
                if value_type(old) != kind:
                    raise _type_mismatch()
                if kind == "N":
                    total = NUMBER_CONTEXT.add(number_key(old["N"]), number_key(value["N"]))
                    new[name] = {"N": format_number(total)}
                elif kind == "L":
                    new[name] = {"L": old["L"] + value["L"]}
                else:
                    seen = {_member_key(kind, m) for m in old[kind]}
                    extra = []
                    for m in value[kind]:
                        k = _member_key(kind, m)
                        if k not in seen:
                            seen.add(k)
                            extra.append(m)
                    if extra:
                        new[name] = {kind: old[kind] + extra}
        return new, self.paths


# -- AttributesToGet -------------------------------------------------------------


def attributes_to_get(names):
    """AttributesToGet -> projection paths for ``project``."""
    seen = set()
    for name in names:
        if name in seen:
            raise ValidationException(_INVALID + f"Duplicate value in attribute name: {name}")
        seen.add(name)
    return tuple((name,) for name in names)
