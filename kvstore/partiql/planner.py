"""From PartiQL trees to the expression library's trees, and key extraction.

A PartiQL WHERE clause is a condition like a ConditionExpression, and SET /
REMOVE are an UpdateExpression, so nothing here evaluates anything: the
statement is rewritten into ``kvstore.expressions.ast`` nodes, with every
literal and ``?`` as a ``:pN`` placeholder, and handed to the same
``Resolver`` that UpdateItem and Query use.  That gives the same
evaluation and the same checks (operand types, function arities, BETWEEN
bounds, overlapping paths), with DynamoDB's messages less their
"Invalid <Parameter>: " prefix, which PartiQL does not print.

The rewrites:

- ``a IS [NOT] MISSING`` -> ``attribute_not_exists(a)`` / ``attribute_exists(a)``;
  ``a IS [NOT] NULL|BOOLEAN|STRING|NUMERIC|BLOB|LIST|STRUCT`` -> ``attribute_type``;
- ``f(...) = true`` (a boolean function compared with a boolean) -> ``f(...)``;
- ``x NOT IN / NOT BETWEEN`` -> ``NOT (...)``; ``!=`` -> ``<>``;
- ``SET a = set_add(a, <<...>>)`` -> ``ADD a :p``, ``set_delete`` -> ``DELETE``.

Values (``Binder``): literals become AttributeValues (numbers checked with
DynamoDB's rules, the failing path named "under root.x" / "root[1]"),
``<<...>>`` bags become SS or NS, ``?`` takes the request's parameter in
order, checked as any AttributeValue.

Key extraction follows DynamoDB: the top-level AND terms of a DML WHERE
that are ``key = value`` give the item's key (every key attribute is
required, once); the rest is the write's condition.  A SELECT is a Query
when the terms fix the partition key with one ``=`` (and at most one
condition on the sort key); any other use of a key attribute in those
terms makes it a Scan with the whole WHERE as its filter.
"""

import re

from kvstore.errors import ValidationException
from kvstore.expressions import Resolver
from kvstore.expressions.ast import (
    And, Arith, Between as XBetween, Call as XCall, Compare, ConditionExpr, Const, In, Not, Or, Path,
    UpdateExpr, Value,
)
from kvstore.partiql.ast import (
    MISSING, BagExpr, Between, Binary, Call, InList, Is, ListExpr, Lit, Param, PathRef, StructExpr, Unary,
    position_suffix,
)
from kvstore.values import normalize_number, validate_value

__all__ = [
    "Binder", "where_condition", "update_expression", "dml_key", "query_conditions",
    "has_hash_condition", "conjuncts", "item_value",
]

_BOOLEAN_FUNCTIONS = frozenset(("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"))
_IS_ATTRIBUTE_TYPES = {
    "NULL": "NULL", "BOOLEAN": "BOOL", "STRING": "S", "NUMERIC": "N", "BLOB": "B",
    "LIST": "L", "STRUCT": "M", "TUPLE": "M",
}
_COMPARATORS = frozenset(("=", "<>", "<", "<=", ">", ">="))
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_KEY_OPERATORS = {"=": "EQ", "<": "LT", "<=": "LE", ">": "GT", ">=": "GE"}
_PARAM = "PartiQL"
_PREFIX = f"Invalid {_PARAM}: "

_NOT_IN_BAG = "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags"


def _unprefixed(e):
    message = e.message
    if message.startswith(_PREFIX):
        message = message[len(_PREFIX):]
    return ValidationException(message)


# -- values ----------------------------------------------------------------------

_JAVA_NUMBER = re.compile(r"[+-]?(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_MAX_DEPTH = 32


def _int32(n):
    return _INT32[0] <= n <= _INT32[1]


def _check_java_number(text):
    """A parameter's number is read as Java's BigDecimal reads a string: an
    exponent or scale beyond 32 bits cannot be converted, and DynamoDB's
    magnitude check (precision - scale, in 32-bit arithmetic) wraps."""
    if type(text) is not str:
        return
    m = _JAVA_NUMBER.fullmatch(text)
    if m is None or m.group(4) is None:
        return
    whole, frac, frac_only, exp = m.groups()
    if frac_only is not None:
        whole, frac = "", frac_only
    frac = frac or ""
    unconvertible = ValidationException(f"The parameter cannot be converted to a numeric value: {text}")
    if len(exp.lstrip("+-")) > 12 or not _int32(int(exp)):
        raise unconvertible
    scale = len(frac) - int(exp)
    if not _int32(scale):
        raise unconvertible
    precision = len(((whole or "") + frac).lstrip("0")) or 1
    if not _int32(precision - scale):
        raise ValidationException(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )


def _check_parameter_numbers(av, depth):
    """The numbers of a parameter, in document order (too deep: left to validate_value)."""
    if type(av) is not dict or depth > _MAX_DEPTH:
        return
    for kind, member in av.items():
        if kind == "N":
            _check_java_number(member)
        elif kind == "NS" and type(member) is list:
            for n in member:
                _check_java_number(n)
        elif kind == "L" and type(member) is list:
            for v in member:
                _check_parameter_numbers(v, depth + 1)
        elif kind == "M" and type(member) is dict:
            for v in member.values():
                _check_parameter_numbers(v, depth + 1)


class Binder:
    """A request's parameters, and the placeholder values one statement uses."""

    __slots__ = ("parameters", "checked", "values")

    def __init__(self, parameters):
        self.parameters = parameters or ()
        self.checked = {}
        self.values = {}

    def parameter(self, index):
        value = self.checked.get(index)
        if value is None:
            if index >= len(self.parameters):
                raise ValidationException("Number of parameters in request and statement don't match.")
            try:
                _check_parameter_numbers(self.parameters[index], 1)
                value = self.checked[index] = validate_value(self.parameters[index])
            except ValidationException as e:
                e.value_error = True  # reported bare, even inside ExecuteTransaction
                raise
        return value

    def check_count(self, count):
        if count > len(self.parameters):
            raise ValidationException("Number of parameters in request and statement don't match.")

    def value(self, node, path="root"):
        """The AttributeValue a literal, a ``?`` or a constructor stands for."""
        kind = type(node)
        if kind is Lit:
            if node.number is not None:
                try:
                    return {"N": normalize_number(node.number)}
                except ValidationException as e:
                    raise ValidationException(f"{e.message} under {path}") from None
            if node.value is MISSING:
                raise ValidationException("MISSING must be compared using IS operator")
            return node.value
        if kind is Param:
            return self.parameter(node.index)
        if kind is ListExpr:
            return {"L": [self.value(item, f"{path}[{i}]") for i, item in enumerate(node.items)]}
        if kind is StructExpr:
            members = {}
            for key_node, value_node in node.fields:
                if type(key_node) is not Lit or key_node.value is None or "S" not in key_node.value:
                    raise ValidationException(
                        f"Tuple keys must be of type String. Actual type: {_type_name(key_node)} under {path}"
                    )
                key = key_node.value["S"]
                if key in members:
                    raise ValidationException(f"Duplicate keys in tuple. Key: {key} under {path}")
                members[key] = self.value(value_node, f"{path}.{key}")
            return {"M": members}
        if kind is BagExpr:
            return self.bag(node, path)
        if kind is Call:
            raise ValidationException(f"Unsupported data type: {node.name} under key {path}{position_suffix(node.pos)}")
        if kind is Unary and node.op == "-":
            raise ValidationException(f"Unsupported data type: - under key {path}{position_suffix(node.pos)}")
        if kind is PathRef:
            raise ValidationException(f"Unsupported data type: {node.label} under key {path}{position_suffix(node.pos)}")
        raise ValidationException(f"Unsupported data type: {_type_name(node)} under key {path}")

    def bag(self, node, path):
        if not node.items:
            raise ValidationException("Empty bags are not supported")
        kind = None
        members = []
        for i, item in enumerate(node.items):
            if type(item) is not Lit or item.value is MISSING:
                raise ValidationException(_NOT_IN_BAG)
            value = self.value(item, f"{path}[{i}]")
            t = "N" if "N" in value else "S" if "S" in value else None
            if t is None or (kind is not None and t != kind):
                raise ValidationException(_NOT_IN_BAG)
            kind = t
            members.append(value[t])
        if len(set(members)) != len(members):
            raise ValidationException(
                f"One or more parameter values were invalid: Input collection [{', '.join(members)}] contains duplicates."
            )
        return {kind + "S": members}

    def placeholder(self, node, path="root"):
        """A ``Value`` node standing for the value of ``node``."""
        name = f":p{len(self.values)}"
        self.values[name] = self.value(node, path)
        return Value(name)

    def resolver(self):
        return Resolver(None, self.values or None)


def _type_name(node):
    kind = type(node)
    if kind is Lit:
        if node.number is not None:
            return "DECIMAL"
        for t in node.value or ():
            return {"BOOL": "BOOL", "NULL": "NULL", "S": "STRING"}.get(t, t)
    return {ListExpr: "LIST", StructExpr: "STRUCT", BagExpr: "BAG", Param: "PARAMETER"}.get(kind, kind.__name__.upper())


def item_value(binder, node):
    """The item of an INSERT: a ``{...}`` tuple, each attribute converted."""
    if type(node) is not StructExpr:
        raise ValidationException(
            "Unsupported format in item expression. Please use struct format {...} to express item values for "
            "insert statement."
        )
    item = {}
    for key_node, value_node in node.fields:
        if type(key_node) is not Lit or key_node.value is None or "S" not in key_node.value:
            raise ValidationException(f"Tuple keys must be of type String. Actual type: {_type_name(key_node)} under root")
        key = key_node.value["S"]
        if key in item:
            raise ValidationException(f"Duplicate keys in tuple. Key: {key} under root")
        if type(value_node) is Lit and value_node.value is MISSING:
            continue
        item[key] = binder.value(value_node, "root")
    return item


# -- conditions ---------------------------------------------------------------------


def _is_boolean_call(node):
    return type(node) is Call and node.name in _BOOLEAN_FUNCTIONS


def _bool_literal(node):
    if type(node) is Lit and node.value is not None and node.value is not MISSING and "BOOL" in node.value:
        return node.value["BOOL"]
    return None


def _operand(node, binder):
    kind = type(node)
    if kind is PathRef:
        return Path(node.elements)
    if kind is Call:
        if node.name == "size":
            return XCall("size", tuple(_operand(a, binder) for a in node.args))
        if node.name in _BOOLEAN_FUNCTIONS:
            return _call(node, binder)
        raise ValidationException(f"Unrecognized function: {node.name}{position_suffix(node.pos)}")
    if kind is Binary and node.op in ("+", "-", "*", "/", "%", "||"):
        raise ValidationException(f"Unsupported operator in Condition Expression. Operator: {node.op}")
    if kind is Unary and node.op == "-":
        raise ValidationException("Unsupported operator in Condition Expression. Operator: -")
    if kind in (Binary, Unary, Between, InList, Is):
        raise ValidationException("The arguments to AND/OR must be Expressions")
    return binder.placeholder(node)


def _call(node, binder):
    return XCall(node.name, tuple(_operand(arg, binder) for arg in node.args))


def _condition(node, binder):
    kind = type(node)
    if kind is Binary:
        op = node.op
        if op == "and" or op == "or":
            left, right = _condition(node.left, binder), _condition(node.right, binder)
            return And(left, right) if op == "and" else Or(left, right)
        if op in _COMPARATORS:
            for call, other in ((node.left, node.right), (node.right, node.left)):
                flag = _bool_literal(other)
                if _is_boolean_call(call) and flag is not None and op in ("=", "<>"):
                    condition = _call(call, binder)
                    return condition if flag == (op == "=") else Not(condition)
            return Compare(op, _operand(node.left, binder), _operand(node.right, binder))
        raise ValidationException("WHERE clause must contain an expression that resolves to a boolean")
    if kind is Unary:
        if node.op == "not":
            return Not(_condition(node.operand, binder))
        raise ValidationException("WHERE clause must contain an expression that resolves to a boolean")
    if kind is Between:
        condition = XBetween(_operand(node.operand, binder), _operand(node.low, binder), _operand(node.high, binder))
        return Not(condition) if node.negated else condition
    if kind is InList:
        choices = node.choices
        if type(node.operand) is not PathRef or type(choices) not in (ListExpr, BagExpr) or not choices.items:
            raise ValidationException(
                "IN operator must have a left hand argument of type Variable Reference and right hand argument of "
                "type Seq with at least one member"
            )
        condition = In(_operand(node.operand, binder), tuple(binder.placeholder(c) for c in choices.items))
        return Not(condition) if node.negated else condition
    if kind is Is:
        if type(node.operand) is not PathRef:
            raise ValidationException("The left hand side argument to IS must be a Variable Reference, Literal, or Path")
        path = Path(node.operand.elements)
        if node.type_name == "MISSING":
            return XCall("attribute_exists" if node.negated else "attribute_not_exists", (path,))
        name = f":p{len(binder.values)}"
        binder.values[name] = {"S": _IS_ATTRIBUTE_TYPES[node.type_name]}
        condition = XCall("attribute_type", (path, Value(name)))
        return Not(condition) if node.negated else condition
    if kind is Call:
        if node.name in _BOOLEAN_FUNCTIONS:
            return _call(node, binder)
        if node.name == "size":
            raise ValidationException("WHERE clause must contain an expression that resolves to a boolean")
        raise ValidationException(f"Unrecognized function: {node.name}{position_suffix(node.pos)}")
    raise ValidationException("WHERE clause must contain an expression that resolves to a boolean")


def where_condition(node, binder):
    """The resolved ConditionExpr of a WHERE clause (None for no WHERE)."""
    if node is None:
        return None
    root = _condition(node, binder)
    try:
        return binder.resolver().resolve_condition(ConditionExpr(root), _PARAM)
    except ValidationException as e:
        raise _unprefixed(e) from None


# -- updates ------------------------------------------------------------------------


def _update_value(node, binder):
    kind = type(node)
    if kind is PathRef:
        return Path(node.elements)
    if kind is Binary and node.op in ("+", "-"):
        return Arith(node.op, _update_value(node.left, binder), _update_value(node.right, binder))
    if kind is Binary:
        raise ValidationException(f"Unsupported operator in Update Expression. Operator: {node.op}")
    if kind is Call:
        if node.name in ("list_append", "if_not_exists"):
            return XCall(node.name, tuple(_update_value(a, binder) for a in node.args))
        raise ValidationException(f"Unrecognized function: {node.name}{position_suffix(node.pos)}")
    if kind in (Unary, Between, InList, Is):
        raise ValidationException("IS operator is not supported in update expressions" if kind is Is
                                  else "Unsupported operator in Update Expression. Operator: " +
                                  ("NOT" if kind is Unary and node.op == "not" else kind.__name__.upper()))
    return binder.placeholder(node)


def _set_function(target, node, binder):
    name = node.name.upper()
    if len(node.args) != 2:
        raise ValidationException(f"{name} must have exactly two arguments{position_suffix(node.pos)}")
    first, second = node.args
    if type(first) is not PathRef or first.elements != target.elements:
        raise ValidationException(f"The first argument to {name} must equal the assignment value{position_suffix(node.pos)}")
    if type(second) is BagExpr:
        value = binder.placeholder(second)
    elif type(second) is Param:
        value = binder.placeholder(second)
        if not any(t in binder.values[value.name] for t in ("SS", "NS", "BS")):
            raise ValidationException(
                f"The second argument to {name} must be a value with type SET{position_suffix(first.pos)}"
            )
    else:
        raise ValidationException(f"The second argument to {name} must be a value with type SET{position_suffix(first.pos)}")
    return ("ADD" if name == "SET_ADD" else "DELETE", Path(target.elements), value)


def update_expression(actions, binder):
    """The resolved UpdateExpr of an UPDATE's SET and REMOVE clauses."""
    out = []
    for clause, target, value in actions:
        if clause == "REMOVE":
            out.append(("REMOVE", Path(target.elements), None))
        elif type(value) is Call and value.name in ("set_add", "set_delete"):
            out.append(_set_function(target, value, binder))
        else:
            out.append(("SET", Path(target.elements), _update_value(value, binder)))
    try:
        return binder.resolver().resolve_update(UpdateExpr(tuple(out)), _PARAM)
    except ValidationException as e:
        raise _unprefixed(e) from None


# -- keys ----------------------------------------------------------------------------


def conjuncts(root, out):
    """The top-level AND terms of a condition tree, left to right."""
    if type(root) is And:
        conjuncts(root.left, out)
        conjuncts(root.right, out)
    else:
        out.append(root)
    return out


def _key_path(node, names):
    if type(node) is Path and len(node.elements) == 1 and node.elements[0] in names:
        return node.elements[0]
    return None


def _av_type(av):
    for t in av:
        return t
    return None


def _mentions(node, names):
    """Whether a condition term reads a key attribute (as a top-level path)."""
    kind = type(node)
    if kind is Path:
        return node.elements[0] in names
    if kind is Compare or kind is And or kind is Or or kind is Arith:
        return _mentions(node.left, names) or _mentions(node.right, names)
    if kind is Not:
        return _mentions(node.operand, names)
    if kind is XCall:
        return any(_mentions(a, names) for a in node.args)
    if kind is XBetween:
        return any(_mentions(a, names) for a in (node.operand, node.low, node.high))
    if kind is In:
        return _mentions(node.operand, names)
    return False


def _check_schema_type(name, value, types):
    if _av_type(value) != types[name]:
        raise ValidationException(f"Key attribute's data type should match its data type in table's schema: Key {name}")


def dml_key(condition, table):
    """(key dict, remaining ConditionExpr or None) of an UPDATE/DELETE WHERE."""
    if condition is None:
        raise ValidationException("Where clause does not contain a mandatory equality on all key attributes")
    names = table.key_names
    key = {}
    rest = []
    for term in conjuncts(condition.root, []):
        if type(term) is Compare and term.op == "=":
            name = _key_path(term.left, names)
            other = term.right
            if name is None:
                name, other = _key_path(term.right, names), term.left
            if name is not None and type(other) is Const:
                previous = key.get(name)
                if previous is not None and previous != other.value:
                    raise ValidationException(
                        f"Multiple conditions on same key {name}. Only single item Update/Insert/Delete are supported"
                    )
                key[name] = other.value
                continue
        rest.append(term)
    if any(name not in key for name in names):
        raise ValidationException("Where clause does not contain a mandatory equality on all key attributes")
    for name in names:
        kind = _av_type(key[name])
        if kind not in ("S", "N", "B"):
            raise ValidationException(f"Key value must be of type S, N, or B. Key name: {name}, Key type: {kind}")
    for name in names:
        _check_schema_type(name, key[name], table.types)
    remaining = None
    for term in rest:
        remaining = term if remaining is None else And(remaining, term)
    return key, (ConditionExpr(remaining) if remaining is not None else None)


class _NotAQuery(Exception):
    pass


def _range_condition(term, range_key):
    kind = type(term)
    if kind is Compare:
        if _key_path(term.left, (range_key,)) and type(term.right) is Const:
            op, value = term.op, term.right.value
        elif _key_path(term.right, (range_key,)) and type(term.left) is Const:
            op, value = _FLIPPED.get(term.op, term.op), term.left.value
        else:
            raise _NotAQuery()
        if op not in _KEY_OPERATORS:
            raise _NotAQuery()
        return _KEY_OPERATORS[op], [value]
    if kind is XBetween:
        if _key_path(term.operand, (range_key,)) and type(term.low) is Const and type(term.high) is Const:
            return "BETWEEN", [term.low.value, term.high.value]
        raise _NotAQuery()
    if kind is XCall and term.name == "begins_with":
        if _key_path(term.args[0], (range_key,)) and type(term.args[1]) is Const:
            return "BEGINS_WITH", [term.args[1].value]
    raise _NotAQuery()


def query_conditions(condition, hash_key, range_key, types):
    """{name: (operator, [values])} when the WHERE makes a Query, else None."""
    if condition is None:
        return None
    names = (hash_key,) if range_key is None else (hash_key, range_key)
    found = {}
    try:
        for term in conjuncts(condition.root, []):
            kind = type(term)
            if kind is Or or not _mentions(term, names):
                continue
            if kind is Compare and term.op == "=":
                name = _key_path(term.left, (hash_key,))
                other = term.right
                if name is None:
                    name, other = _key_path(term.right, (hash_key,)), term.left
                if name is not None and type(other) is Const:
                    previous = found.get(hash_key)
                    if previous is not None and previous[1][0] != other.value:
                        raise _NotAQuery()
                    found[hash_key] = ("EQ", [other.value])
                    continue
            if range_key is None or _mentions(term, (hash_key,)):
                raise _NotAQuery()
            op_values = _range_condition(term, range_key)
            previous = found.get(range_key)
            if previous is not None and previous != op_values:
                raise _NotAQuery()
            found[range_key] = op_values
    except _NotAQuery:
        return None
    if hash_key not in found:
        return None
    for name, (_, values) in found.items():
        _check_schema_type(name, values[0], types)
    return found


def has_hash_condition(node, hash_key):
    """DynamoDB's "non-optional hash key condition": every OR branch names it."""
    kind = type(node)
    if kind is And:
        return has_hash_condition(node.left, hash_key) or has_hash_condition(node.right, hash_key)
    if kind is Or:
        return has_hash_condition(node.left, hash_key) and has_hash_condition(node.right, hash_key)
    if kind is Compare:
        operands = (node.left, node.right)
    elif kind is XBetween:
        operands = (node.operand, node.low, node.high)
    elif kind is In:
        operands = (node.operand,) + tuple(node.choices)
    elif kind is XCall:
        operands = node.args
    else:
        return False
    return any(_key_path(o, (hash_key,)) for o in operands) and any(type(o) is Const for o in operands)
