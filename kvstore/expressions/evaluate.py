"""Evaluating resolved conditions on wire-form items, and the value helpers.

Items and values are AttributeValue dicts (``{"N": "1.5"}``), as stored.
DynamoDB's rules, all of which make a condition false rather than an error
once the expression itself is valid:

- a path that does not exist (missing attribute, missing key, index past
  the end, a step through a scalar) has no value; any comparison with it
  is false, except ``<>`` which is true;
- values of different types are never equal and never ordered;
- ``< <= > >=`` and BETWEEN order only N (numerically, exactly), S (by
  UTF-8 bytes, which is code-point order) and B (by bytes);
- ``=`` is deep: N by value, sets as sets, lists in order, maps by keys;
- size() has no value for N, BOOL, NULL; strings count UTF-8 bytes.

Conditions are two-valued: NOT of a false comparison on a missing
attribute is true.
"""

import binascii

from kvstore.expressions.ast import And, Between, Call, Compare, Const, In, Not, Or, Path
from kvstore.values import decode_binary, number_key

__all__ = [
    "evaluate", "get_path", "value_type", "values_equal", "compare_values", "format_value",
]


def value_type(value):
    """The type key of an AttributeValue ("S", "N", "SS", ...)."""
    for key in value:
        return key
    return None


def get_path(item, elements):
    """The value at a resolved path in ``item``, or None."""
    if item is None:
        return None
    value = item.get(elements[0])
    for element in elements[1:]:
        if value is None:
            return None
        if type(element) is int:
            items = value.get("L")
            if items is None or element >= len(items):
                return None
            value = items[element]
        else:
            members = value.get("M")
            if members is None:
                return None
            value = members.get(element)
    return value


def _set_key(kind, member):
    if kind == "NS":
        return number_key(member)
    if kind == "BS":
        return decode_binary(member)
    return member


def values_equal(a, b):
    """DynamoDB's equality of two AttributeValues (deep, type-aware)."""
    kind = value_type(a)
    if kind != value_type(b):
        return False
    x, y = a[kind], b[kind]
    if kind == "S" or kind == "BOOL" or kind == "NULL":
        return x == y
    if kind == "N":
        return x == y or number_key(x) == number_key(y)
    if kind == "B":
        return x == y or decode_binary(x) == decode_binary(y)
    if kind == "SS" or kind == "NS" or kind == "BS":
        return len(x) == len(y) and {_set_key(kind, m) for m in x} == {_set_key(kind, m) for m in y}
    if kind == "L":
        return len(x) == len(y) and all(values_equal(p, q) for p, q in zip(x, y))
    if kind == "M":
        return x.keys() == y.keys() and all(values_equal(v, y[k]) for k, v in x.items())
    return False


def compare_values(a, b):
    """-1, 0 or 1 for two values of one orderable type (N, S or B), else None."""
    kind = value_type(a)
    if kind != value_type(b):
        return None
    x, y = a[kind], b[kind]
    if kind == "N":
        x, y = number_key(x), number_key(y)
    elif kind == "B":
        x, y = decode_binary(x), decode_binary(y)
    elif kind != "S":
        return None
    return (x > y) - (x < y)


def format_value(value):
    """A value as DynamoDB prints it in messages: ``{N:5}``."""
    kind = value_type(value)
    member = value[kind]
    if kind == "B" and not isinstance(member, str):
        member = binascii.b2a_base64(bytes(member), newline=False).decode("ascii")
    return "{" + f"{kind}:{member}" + "}"


def _size(value):
    if value is None:
        return None
    kind = value_type(value)
    member = value[kind]
    if kind == "S":
        n = len(member.encode("utf-8"))
    elif kind == "B":
        n = len(decode_binary(member))
    elif kind in ("SS", "NS", "BS", "L", "M"):
        n = len(member)
    else:
        return None
    return {"N": str(n)}


def _operand(node, item):
    kind = type(node)
    if kind is Path:
        return get_path(item, node.elements)
    if kind is Const:
        return node.value
    if kind is Call:  # size(), the only function with a value
        return _size(_operand(node.args[0], item))
    raise TypeError(f"not an operand: {node!r}")


def _compare(op, a, b):
    if op == "=":
        return a is not None and b is not None and values_equal(a, b)
    if op == "<>":
        return a is None or b is None or not values_equal(a, b)
    if a is None or b is None:
        return False
    order = compare_values(a, b)
    if order is None:
        return False
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0  # ">="


def _contains(haystack, needle):
    if haystack is None or needle is None:
        return False
    kind = value_type(haystack)
    member = haystack[kind]
    needle_kind = value_type(needle)
    if kind == "S":
        return needle_kind == "S" and needle["S"] in member
    if kind == "B":
        return needle_kind == "B" and decode_binary(needle["B"]) in decode_binary(member)
    if kind == "SS" or kind == "NS" or kind == "BS":
        if needle_kind != kind[0]:
            return False
        key = _set_key(kind, needle[needle_kind])
        return any(_set_key(kind, m) == key for m in member)
    if kind == "L":
        return any(values_equal(element, needle) for element in member)
    return False


def _begins_with(value, prefix):
    if value is None or prefix is None:
        return False
    kind = value_type(value)
    if kind != value_type(prefix):
        return False
    if kind == "S":
        return value["S"].startswith(prefix["S"])
    if kind == "B":
        return decode_binary(value["B"]).startswith(decode_binary(prefix["B"]))
    return False


def _function(node, item):
    name = node.name
    args = node.args
    if name == "attribute_exists":
        return get_path(item, args[0].elements) is not None
    if name == "attribute_not_exists":
        return get_path(item, args[0].elements) is None
    if name == "attribute_type":
        value = _operand(args[0], item)
        return value is not None and value_type(value) == args[1].value["S"]
    if name == "begins_with":
        return _begins_with(_operand(args[0], item), _operand(args[1], item))
    if name == "contains":
        return _contains(_operand(args[0], item), _operand(args[1], item))
    raise TypeError(f"not a condition function: {name}")


def _evaluate(node, item):
    kind = type(node)
    if kind is Compare:
        return _compare(node.op, _operand(node.left, item), _operand(node.right, item))
    if kind is And:
        return _evaluate(node.left, item) and _evaluate(node.right, item)
    if kind is Or:
        return _evaluate(node.left, item) or _evaluate(node.right, item)
    if kind is Not:
        return not _evaluate(node.operand, item)
    if kind is Call:
        return _function(node, item)
    if kind is Between:
        value = _operand(node.operand, item)
        low = _operand(node.low, item)
        high = _operand(node.high, item)
        if value is None or low is None or high is None:
            return False
        above = compare_values(value, low)
        below = compare_values(value, high)
        return above is not None and below is not None and above >= 0 and below <= 0
    if kind is In:
        value = _operand(node.operand, item)
        if value is None:
            return False
        for choice in node.choices:
            candidate = _operand(choice, item)
            if candidate is not None and values_equal(value, candidate):
                return True
        return False
    raise TypeError(f"not a condition: {node!r}")


def evaluate(condition, item):
    """True if a resolved ConditionExpr holds for ``item`` (None: no item)."""
    return _evaluate(condition.root, item)
