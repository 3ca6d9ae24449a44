"""Expression trees: the parsed form (cached by text) and the resolved form.

The parser builds these small immutable-by-convention nodes; ``resolve``
copies a tree into a new one in which every ``#name`` of a path is replaced
by its ExpressionAttributeNames entry and every ``:value`` by a ``Const``
holding its ExpressionAttributeValues entry.  The parsed tree is shared by
every request with the same expression text (see ``parser.py``'s cache), so
nothing here is ever mutated after construction.

A path is a tuple of elements: ``str`` for a map key / attribute name and
``int`` for a list index.  In a parsed path a placeholder is kept as its
``"#name"`` text; a literal attribute name can never start with ``#``, so
the two cannot be confused.

Operands: Path, Value (parsed ``:name``), Const (resolved value), Call.
Conditions: Compare, Between, In, And, Or, Not, Call (boolean functions).
Updates: Arith (SET's ``+``/``-``), Call (if_not_exists, list_append),
and the four action kinds collected by UpdateExpr.
"""

__all__ = [
    "Path", "Value", "Const", "Call", "Compare", "Between", "In", "And", "Or", "Not",
    "Arith", "UpdateExpr", "ProjectionExpr", "ConditionExpr", "path_str",
]


class Path:
    __slots__ = ("elements",)

    def __init__(self, elements):
        self.elements = elements  # tuple of str | int

    def __repr__(self):
        return f"Path({self.elements!r})"


class Value:
    """A ``:name`` placeholder, before resolution."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Value({self.name!r})"


class Const:
    """A resolved ExpressionAttributeValues entry (an AttributeValue dict)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Const({self.value!r})"


class Call:
    __slots__ = ("name", "args")

    def __init__(self, name, args):
        self.name = name
        self.args = args  # tuple of operands

    def __repr__(self):
        return f"Call({self.name!r}, {self.args!r})"


class Compare:
    __slots__ = ("op", "left", "right")

    def __init__(self, op, left, right):
        self.op = op  # one of = <> < <= > >=
        self.left = left
        self.right = right

    def __repr__(self):
        return f"Compare({self.op!r}, {self.left!r}, {self.right!r})"


class Between:
    __slots__ = ("operand", "low", "high")

    def __init__(self, operand, low, high):
        self.operand = operand
        self.low = low
        self.high = high


class In:
    __slots__ = ("operand", "choices")

    def __init__(self, operand, choices):
        self.operand = operand
        self.choices = choices  # tuple of operands


class And:
    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right


class Or:
    __slots__ = ("left", "right")

    def __init__(self, left, right):
        self.left = left
        self.right = right


class Not:
    __slots__ = ("operand",)

    def __init__(self, operand):
        self.operand = operand


class Arith:
    """``left + right`` or ``left - right`` in a SET action."""

    __slots__ = ("op", "left", "right")

    def __init__(self, op, left, right):
        self.op = op
        self.left = left
        self.right = right


class ConditionExpr:
    """A parsed or resolved condition (also filter and key condition)."""

    __slots__ = ("root",)

    def __init__(self, root):
        self.root = root


class ProjectionExpr:
    __slots__ = ("paths",)

    def __init__(self, paths):
        self.paths = paths  # tuple of Path


class UpdateExpr:
    """The actions of an UpdateExpression, in the order they are written.

    ``actions`` is a tuple of ``(clause, Path, operand)`` triples, clause one
    of "SET", "REMOVE", "ADD", "DELETE"; the operand is the SET value, the
    ADD/DELETE ``:value`` (a Value, or a Const once resolved), or None for
    REMOVE.  ``paths`` lists the target paths in the same order: what
    UPDATED_OLD and UPDATED_NEW project.
    """

    __slots__ = ("actions",)

    def __init__(self, actions):
        self.actions = actions

    @property
    def paths(self):
        return tuple(action[1] for action in self.actions)


def path_str(elements):
    """A path as DynamoDB prints it in messages: ``[a, b, [2]]``."""
    return "[" + ", ".join(f"[{e}]" if isinstance(e, int) else e for e in elements) + "]"
