"""Resolution: ``#names`` and ``:values`` substituted, per request, never cached.

A parsed tree (``parser.py``) is shared by every request with the same
expression text; what a ``#name`` or ``:value`` stands for belongs to one
request.  So resolution copies the tree, and its result is never cached:
caching it by text would hand one request's values to another (the point
scylladb's alternator/expressions.cc makes about its own cache).  It is
cheap: a walk over a handful of nodes.

One ``Resolver`` serves all the expressions of one request (an UpdateItem
has an UpdateExpression and a ConditionExpression, a Query a key condition,
a filter and a projection): it remembers which names and values were used,
and ``check_all_used()`` at the end reports the unused ones as DynamoDB does.

After substitution come the checks that need the values, in DynamoDB's
order.  Conditions: an undefined name or value (whichever comes first in
the text), wrong number of operands, identical first operands, then the
operand types (attribute_type's type name, begins_with/size operands,
ordering comparisons and BETWEEN bounds).  Updates: undefined names, then
undefined values, overlapping and conflicting paths, ADD/DELETE operand
types, then functions (operands, document-path arguments, operand types).
"""

import re

from kvstore.errors import ValidationException
from kvstore.expressions.ast import (
    And, Arith, Between, Call, Compare, Const, ConditionExpr, In, Not, Or, Path,
    UpdateExpr, Value, path_str,
)
from kvstore.expressions.evaluate import compare_values, format_value, value_type
from kvstore.expressions.parser import FUNCTIONS, parse_condition, parse_projection, parse_update

__all__ = ["Resolver", "check_expression_parameters", "find_path_overlap", "NAME_KEY", "VALUE_KEY"]

# What a key of ExpressionAttributeNames / ExpressionAttributeValues must look like.
NAME_KEY = _NAME_KEY = re.compile(r"#[A-Za-z0-9_]+")
VALUE_KEY = _VALUE_KEY = re.compile(r":[A-Za-z0-9_]+")

_ORDERED_TYPES = frozenset(("N", "S", "B"))
_ATTRIBUTE_TYPES = frozenset(("S", "N", "B", "NULL", "SS", "BOOL", "L", "BS", "NS", "M"))
_SET_TYPES = frozenset(("SS", "NS", "BS"))

# ADD/DELETE operand types as their messages name them.
_LONG_TYPE_NAMES = {
    "S": "STRING", "N": "NUMBER", "B": "BINARY", "NULL": "NULL",
    "BOOL": "BOOLEAN", "L": "LIST", "M": "MAP",
}


def check_expression_parameters(names, values, expressions):
    """DynamoDB's checks that placeholders come with expressions.

    ``expressions`` lists ``(parameter name, text or None)`` for every
    expression parameter of the operation, in the order DynamoDB names them
    in its message (UpdateItem: UpdateExpression, ConditionExpression; Query:
    FilterExpression, KeyConditionExpression; ProjectionExpression anywhere:
    it takes names but no values).
    """
    if names is not None and all(text is None for _, text in expressions):
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    if values is not None:
        valued = [param for param, _ in expressions if param != "ProjectionExpression"]
        if all(text is None for param, text in expressions if param != "ProjectionExpression"):
            verb = "are" if len(valued) > 1 else "is"
            raise ValidationException(
                "ExpressionAttributeValues can only be specified when using expressions: "
                f"{' and '.join(valued)} {verb} null"
            )


def _paths_clash(one, two):
    """None, "overlap" (one is a prefix of the other) or "conflict"."""
    for a, b in zip(one, two):
        if type(a) is not type(b):
            return "conflict"
        if a != b:
            return None
    return "overlap"


def find_path_overlap(paths, param):
    """Raise DynamoDB's error for the first overlapping (else conflicting) pair."""
    conflict = None
    for j in range(1, len(paths)):
        for i in range(j):
            clash = _paths_clash(paths[i], paths[j])
            if clash == "overlap":
                raise ValidationException(
                    f"Invalid {param}: Two document paths overlap with each other; must remove or rewrite "
                    f"one of these paths; path one: {path_str(paths[i])}, path two: {path_str(paths[j])}"
                )
            if clash == "conflict" and conflict is None:
                conflict = (paths[i], paths[j])
    if conflict is not None:
        raise ValidationException(
            f"Invalid {param}: Two document paths conflict with each other; must remove or rewrite "
            f"one of these paths; path one: {path_str(conflict[0])}, path two: {path_str(conflict[1])}"
        )


def _known_type(operand):
    """The type an operand is known to have before reading any item, or None."""
    if type(operand) is Const:
        return value_type(operand.value)
    if type(operand) is Call and operand.name == "size":
        return "N"
    return None


class Resolver:
    """Names and values of one request, and which of them its expressions used."""

    __slots__ = ("names", "values", "used_names", "used_values")

    def __init__(self, names=None, values=None):
        if names is not None:
            if not names:
                raise ValidationException("ExpressionAttributeNames must not be empty")
            for key in names:
                if not _NAME_KEY.fullmatch(key):
                    raise ValidationException(f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"')
        if values is not None:
            if not values:
                raise ValidationException("ExpressionAttributeValues must not be empty")
            for key in values:
                if not _VALUE_KEY.fullmatch(key):
                    raise ValidationException(f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"')
        self.names = names or {}
        self.values = values or {}
        self.used_names = set()
        self.used_values = set()

    # -- public entry points: parse (cached) + resolve (not cached) ------------

    def condition(self, text, param="ConditionExpression"):
        """A resolved ConditionExpr for ConditionExpression (or ``param``)."""
        return self.resolve_condition(parse_condition(text, param), param)

    def filter(self, text):
        return self.condition(text, "FilterExpression")

    def key_condition(self, text):
        return self.condition(text, "KeyConditionExpression")

    def update(self, text):
        """A resolved UpdateExpr, ready for ``apply_update``."""
        return self.resolve_update(parse_update(text))

    def projection(self, text):
        """The resolved paths (tuples) of a ProjectionExpression, for ``project``."""
        return self.resolve_projection(parse_projection(text))

    def check_all_used(self):
        """Raise DynamoDB's error for names, then values, that no expression used."""
        unused = [key for key in self.names if key not in self.used_names]
        if unused:
            raise ValidationException(
                f"Value provided in ExpressionAttributeNames unused in expressions: keys: {{{', '.join(unused)}}}"
            )
        unused = [key for key in self.values if key not in self.used_values]
        if unused:
            raise ValidationException(
                f"Value provided in ExpressionAttributeValues unused in expressions: keys: {{{', '.join(unused)}}}"
            )

    # -- substitution ------------------------------------------------------

    def _path(self, path, missing):
        elements = path.elements
        for element in elements:
            if type(element) is str and element[0] == "#":
                break
        else:
            return path  # nothing to substitute: share the parsed node
        resolved = []
        for element in elements:
            if type(element) is str and element[0] == "#":
                name = self.names.get(element)
                if name is None:
                    missing.append((
                        "name",
                        "An expression attribute name used in the document path is not defined; "
                        f"attribute name: {element}",
                    ))
                    name = element
                else:
                    self.used_names.add(element)
                resolved.append(name)
            else:
                resolved.append(element)
        return Path(tuple(resolved))

    def _value(self, node, missing):
        value = self.values.get(node.name)
        if value is None:
            missing.append((
                "value",
                f"An expression attribute value used in expression is not defined; attribute value: {node.name}",
            ))
            return Const(None)
        self.used_values.add(node.name)
        return Const(value)

    def _node(self, node, missing):
        kind = type(node)
        if kind is Path:
            return self._path(node, missing)
        if kind is Value:
            return self._value(node, missing)
        if kind is Compare:
            return Compare(node.op, self._node(node.left, missing), self._node(node.right, missing))
        if kind is And or kind is Or:
            return kind(self._node(node.left, missing), self._node(node.right, missing))
        if kind is Not:
            return Not(self._node(node.operand, missing))
        if kind is Call:
            return Call(node.name, tuple(self._node(arg, missing) for arg in node.args))
        if kind is Between:
            return Between(
                self._node(node.operand, missing), self._node(node.low, missing), self._node(node.high, missing)
            )
        if kind is In:
            return In(self._node(node.operand, missing), tuple(self._node(c, missing) for c in node.choices))
        if kind is Arith:
            return Arith(node.op, self._node(node.left, missing), self._node(node.right, missing))
        raise TypeError(f"not an expression node: {node!r}")

    # -- conditions --------------------------------------------------------

    def resolve_condition(self, parsed, param="ConditionExpression"):
        missing = []
        root = self._node(parsed.root, missing)
        if missing:
            raise ValidationException(f"Invalid {param}: {missing[0][1]}")
        nodes = list(_walk(root))
        for node in nodes:  # number of operands
            if type(node) is Call:
                arity = FUNCTIONS[node.name][0]
                if len(node.args) != arity:
                    raise ValidationException(
                        f"Invalid {param}: Incorrect number of operands for operator or function; "
                        f"operator or function: {node.name}, number of operands: {len(node.args)}"
                    )
        for node in nodes:  # a path compared with itself
            if type(node) is Compare:
                operator, pair = node.op, (node.left, node.right)
            elif type(node) is Call and len(node.args) == 2:
                operator, pair = node.name, node.args
            else:
                continue
            if type(pair[0]) is Path and type(pair[1]) is Path and pair[0].elements == pair[1].elements:
                raise ValidationException(
                    f"Invalid {param}: The first operand must be distinct from the remaining operands for this "
                    f"operator or function; operator: {operator}, first operand: {path_str(pair[0].elements)}"
                )
        for node in nodes:
            _check_condition_types(node, param)
        return ConditionExpr(root)

    # -- updates -----------------------------------------------------------

    def resolve_update(self, parsed, param="UpdateExpression"):
        missing = []
        actions = []
        for clause, path, operand in parsed.actions:
            path = self._path(path, missing)
            if operand is not None:
                operand = self._node(operand, missing)
            actions.append((clause, path, operand))
        for kind in ("name", "value"):
            for found, message in missing:
                if found == kind:
                    raise ValidationException(f"Invalid {param}: {message}")
        find_path_overlap([path.elements for _, path, _ in actions], param)
        for clause, path, operand in actions:  # ADD and DELETE operand types
            if clause == "ADD" or clause == "DELETE":
                kind = value_type(operand.value)
                if kind not in _SET_TYPES and not (clause == "ADD" and kind == "N"):
                    raise ValidationException(
                        f"Invalid {param}: Incorrect operand type for operator or function; "
                        f"operator: {clause}, operand type: {_LONG_TYPE_NAMES.get(kind, kind)}"
                    )
        for clause, path, operand in actions:  # functions and + / -
            if clause == "SET":
                for node in _walk(operand):
                    _check_update_function(node, param)
        return UpdateExpr(tuple(actions))

    # -- projections -------------------------------------------------------

    def resolve_projection(self, parsed, param="ProjectionExpression"):
        missing = []
        paths = tuple(self._path(path, missing).elements for path in parsed.paths)
        if missing:
            raise ValidationException(f"Invalid {param}: {missing[0][1]}")
        find_path_overlap(paths, param)
        return paths


def _walk(node):
    """Every node of a tree, parents before children, left to right."""
    yield node
    kind = type(node)
    if kind is Compare or kind is And or kind is Or or kind is Arith:
        yield from _walk(node.left)
        yield from _walk(node.right)
    elif kind is Not:
        yield from _walk(node.operand)
    elif kind is Call:
        for arg in node.args:
            yield from _walk(arg)
    elif kind is Between:
        yield from _walk(node.operand)
        yield from _walk(node.low)
        yield from _walk(node.high)
    elif kind is In:
        yield from _walk(node.operand)
        for choice in node.choices:
            yield from _walk(choice)


def _operand_type_error(param, operator, kind):
    return ValidationException(
        f"Invalid {param}: Incorrect operand type for operator or function; "
        f"operator or function: {operator}, operand type: {kind}"
    )


def _check_condition_types(node, param):
    kind = type(node)
    if kind is Call:
        name = node.name
        if name == "attribute_exists" or name == "attribute_not_exists":
            if type(node.args[0]) is not Path:
                raise ValidationException(
                    f"Invalid {param}: Operator or function requires a document path; operator or function: {name}"
                )
        elif name == "attribute_type":
            type_name = node.args[1]
            known = _known_type(type_name)
            if known != "S":
                raise _operand_type_error(param, name, known or "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}")
            if type_name.value["S"] not in _ATTRIBUTE_TYPES:
                raise ValidationException(
                    f"Invalid {param}: Invalid attribute type name found; type: {type_name.value['S']}, "
                    "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
                )
        elif name == "begins_with":
            for arg in node.args:
                known = _known_type(arg)
                if known is not None and known != "S" and known != "B":
                    raise _operand_type_error(param, name, known)
        elif name == "size":
            known = _known_type(node.args[0])
            if known == "N" or known == "BOOL" or known == "NULL":
                raise _operand_type_error(param, name, known)
    elif kind is Compare:
        if node.op != "=" and node.op != "<>":
            for operand in (node.left, node.right):
                known = _known_type(operand)
                if known is not None and known not in _ORDERED_TYPES:
                    raise _operand_type_error(param, node.op, known)
    elif kind is Between:
        for operand in (node.operand, node.low, node.high):
            known = _known_type(operand)
            if known is not None and known not in _ORDERED_TYPES:
                raise _operand_type_error(param, "BETWEEN", known)
        if type(node.low) is Const and type(node.high) is Const:
            low, high = node.low.value, node.high.value
            if value_type(low) != value_type(high):
                raise ValidationException(
                    f"Invalid {param}: The BETWEEN operator requires same data type for lower and upper bounds; "
                    f"lower bound operand: AttributeValue: {format_value(low)}, "
                    f"upper bound operand: AttributeValue: {format_value(high)}"
                )
            if compare_values(low, high) > 0:
                raise ValidationException(
                    f"Invalid {param}: The BETWEEN operator requires upper bound to be greater than or equal to "
                    f"lower bound; lower bound operand: AttributeValue: {format_value(low)}, "
                    f"upper bound operand: AttributeValue: {format_value(high)}"
                )


def _check_update_function(node, param):
    kind = type(node)
    if kind is Call:
        name = node.name
        arity = FUNCTIONS[name][0]
        if len(node.args) != arity:
            raise ValidationException(
                f"Invalid {param}: Incorrect number of operands for operator or function; "
                f"operator or function: {name}, number of operands: {len(node.args)}"
            )
        if name == "if_not_exists":
            if type(node.args[0]) is not Path:
                raise ValidationException(
                    f"Invalid {param}: Operator or function requires a document path; operator or function: {name}"
                )
        elif name == "list_append":
            for arg in node.args:
                if type(arg) is Const and value_type(arg.value) != "L":
                    raise _operand_type_error(param, name, value_type(arg.value))
    elif kind is Arith:
        for arg in (node.left, node.right):
            if type(arg) is Const and value_type(arg.value) != "N":
                raise _operand_type_error(param, node.op, value_type(arg.value))
