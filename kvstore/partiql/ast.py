"""PartiQL syntax trees: what the parser builds, before any table is known.

Expressions keep their source position (``pos`` = ``(line, column,
length)``) because several DynamoDB messages end with ``at
<line>:<column>:<length>`` pointing at a token.  Nothing here holds a
request's parameter values: a ``Param`` is only its 0-based position among
the statement's ``?``, so a parsed statement can be cached by its text.

Expressions: Lit (a scalar AttributeValue, or MISSING), Param, PathRef,
Call, Binary (comparisons, arithmetic, AND, OR), Unary (NOT, -), Between,
InList, Is, ListExpr, BagExpr, StructExpr.
Statements: Select, Insert, Update, Delete, Exists (a condition check, in
ExecuteTransaction only).
"""

__all__ = [
    "MISSING", "Lit", "Param", "PathRef", "Call", "Binary", "Unary", "Between", "InList", "Is",
    "ListExpr", "BagExpr", "StructExpr",
    "Select", "Insert", "Update", "Delete", "Exists", "position_suffix",
]

MISSING = object()  # the MISSING literal's value


def position_suffix(pos):
    """DynamoDB's `` at <line>:<column>:<length>``."""
    return f" at {pos[0]}:{pos[1]}:{pos[2]}"


class Node:
    __slots__ = ("pos",)

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Lit(Node):
    """A scalar literal: ``value`` is an AttributeValue dict, or MISSING.

    Numbers stay as their source text (``number``) until they are converted,
    because a bad number is reported with the path where it is used."""

    __slots__ = ("value", "number")

    def __init__(self, value, pos, number=None):
        self.value = value
        self.number = number
        self.pos = pos


class Param(Node):
    __slots__ = ("index",)

    def __init__(self, index, pos):
        self.index = index
        self.pos = pos


class PathRef(Node):
    """A document path: ``elements`` is a tuple of str (names) and int (indexes).

    ``label`` is how a SELECT names the value in its result: the last
    dotted component with its indexes (``m.k[1]`` -> ``k[1]``)."""

    __slots__ = ("elements", "label")

    def __init__(self, elements, label, pos):
        self.elements = elements
        self.label = label
        self.pos = pos


class Call(Node):
    __slots__ = ("name", "args")

    def __init__(self, name, args, pos):
        self.name = name  # lower-cased
        self.args = args
        self.pos = pos


class Binary(Node):
    __slots__ = ("op", "left", "right")

    def __init__(self, op, left, right, pos):
        self.op = op  # "and", "or", "=", "<>", "<", "<=", ">", ">=", "+", "-", ...
        self.left = left
        self.right = right
        self.pos = pos


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, op, operand, pos):
        self.op = op  # "not" or "-"
        self.operand = operand
        self.pos = pos


class Between(Node):
    __slots__ = ("operand", "low", "high", "negated")

    def __init__(self, operand, low, high, negated, pos):
        self.operand = operand
        self.low = low
        self.high = high
        self.negated = negated
        self.pos = pos


class InList(Node):
    __slots__ = ("operand", "choices", "negated")

    def __init__(self, operand, choices, negated, pos):
        self.operand = operand
        self.choices = choices  # a ListExpr/BagExpr, or any other expression
        self.negated = negated
        self.pos = pos


class Is(Node):
    __slots__ = ("operand", "type_name", "negated")

    def __init__(self, operand, type_name, negated, pos):
        self.operand = operand
        self.type_name = type_name  # upper-cased: MISSING, NULL, BOOLEAN, STRING...
        self.negated = negated
        self.pos = pos


class ListExpr(Node):
    __slots__ = ("items",)

    def __init__(self, items, pos):
        self.items = items
        self.pos = pos


class BagExpr(Node):
    __slots__ = ("items",)

    def __init__(self, items, pos):
        self.items = items
        self.pos = pos


class StructExpr(Node):
    __slots__ = ("fields",)

    def __init__(self, fields, pos):
        self.fields = fields  # list of (key expression, value expression)
        self.pos = pos


# -- statements ---------------------------------------------------------------


class Select:
    __slots__ = ("projection", "table", "index", "where", "order_by")

    def __init__(self, projection, table, index, where, order_by):
        self.projection = projection  # None for *, else a list of expressions
        self.table = table
        self.index = index
        self.where = where
        self.order_by = order_by  # list of (PathRef, descending)

    kind = "select"


class Insert:
    __slots__ = ("table", "value")

    def __init__(self, table, value):
        self.table = table
        self.value = value

    kind = "insert"


class Update:
    __slots__ = ("table", "actions", "where", "returning")

    def __init__(self, table, actions, where, returning):
        self.table = table
        self.actions = actions  # list of ("SET", PathRef, expr) / ("REMOVE", PathRef, None)
        self.where = where
        self.returning = returning  # None or "ALL OLD" / "MODIFIED OLD" / "ALL NEW" / "MODIFIED NEW"

    kind = "update"


class Delete:
    __slots__ = ("table", "where", "returning")

    def __init__(self, table, where, returning):
        self.table = table
        self.where = where
        self.returning = returning

    kind = "delete"


class Exists:
    __slots__ = ("select",)

    def __init__(self, select):
        self.select = select

    kind = "exists"
