"""Applying a resolved UpdateExpression, and projecting items by paths.

``apply_update`` is a pure step (the shape of scylladb's
alternator/rmw_operation.hh): old item in, new item out, nothing mutated.
The new item shares every value the update does not touch with the old
one and copies only the maps and lists on the way to a change, so the same
code serves UpdateItem, batches and transactions, and a failed condition
or a later error leaves nothing to undo.  Values are therefore treated as
immutable everywhere in the engine.

DynamoDB's semantics, in the order they apply:

1. Every SET value is computed from the item *before* the update, so
   ``SET x = :v, y = x`` reads the old x, and ``REMOVE a SET b = a`` works.
   A path that has no value is "The provided expression refers to an
   attribute that does not exist in the item"; ``+``/``-`` on a non-number
   and list_append on a non-list are "An operand in the update expression
   has an incorrect data type".
2. The target paths (never overlapping: ``resolve`` refused that) form a
   tree that is applied in one walk.  Each list is rebuilt from its *old*
   indexes: ``REMOVE a[1], a[3]`` removes two of the old elements and
   ``REMOVE a[1] SET a[3] = :v`` replaces the old a[3]; indexes past the end
   append, in index order (SET, and ADD which creates); removing past the
   end does nothing.  A step through a missing attribute or the wrong type
   of container is "The document path provided in the update expression is
   invalid for update", except that REMOVE on an item that does not exist
   does nothing at all.
3. ADD adds numbers (exactly, in 38 digits, ``kvstore.values.format_number``
   raising DynamoDB's overflow/underflow/precision errors) or unites sets,
   creating the attribute if missing; DELETE subtracts from a set and
   removes the attribute when the set becomes empty.

``project`` builds the item a ProjectionExpression (or UPDATED_OLD /
UPDATED_NEW over the updated paths) returns: only the requested paths,
maps keeping the requested keys, lists the requested elements compacted in
index order, missing paths left out.
"""

from kvstore.errors import ValidationException
from kvstore.expressions.ast import Arith, Call, Const, Path
from kvstore.expressions.evaluate import get_path, value_type
from kvstore.values import NUMBER_CONTEXT, decode_binary, format_number, number_key

__all__ = ["apply_update", "check_key_update", "project"]

_ABSENT = object()  # "this path has no value after the update"
_SET_TYPES = frozenset(("SS", "NS", "BS"))


def _bad_path():
    return ValidationException("The document path provided in the update expression is invalid for update")


def _bad_operand():
    return ValidationException("An operand in the update expression has an incorrect data type")


def check_key_update(update, key_names):
    """Refuse an update whose target path starts at a key attribute."""
    for _, path, _ in update.actions:
        name = path.elements[0]
        if name in key_names:
            raise ValidationException(
                f"One or more parameter values were invalid: Cannot update attribute {name}. "
                "This attribute is part of the key"
            )


# -- step 1: SET values, from the old item -------------------------------------


def _arith(op, left, right):
    if value_type(left) != "N" or value_type(right) != "N":
        raise _bad_operand()
    a, b = number_key(left["N"]), number_key(right["N"])
    result = NUMBER_CONTEXT.add(a, b) if op == "+" else NUMBER_CONTEXT.subtract(a, b)
    return {"N": format_number(result)}


def _set_value(node, item):
    kind = type(node)
    if kind is Const:
        return node.value
    if kind is Path:
        value = get_path(item, node.elements)
        if value is None:
            raise ValidationException("The provided expression refers to an attribute that does not exist in the item")
        return value
    if kind is Arith:
        return _arith(node.op, _set_value(node.left, item), _set_value(node.right, item))
    if kind is Call:
        if node.name == "if_not_exists":
            value = get_path(item, node.args[0].elements)
            return value if value is not None else _set_value(node.args[1], item)
        if node.name == "list_append":
            first = _set_value(node.args[0], item)
            second = _set_value(node.args[1], item)
            if value_type(first) != "L" or value_type(second) != "L":
                raise _bad_operand()
            return {"L": first["L"] + second["L"]}
    raise TypeError(f"not an update value: {node!r}")


# -- step 2: the tree of changes -----------------------------------------------


class _Leaf:
    __slots__ = ("clause", "value")

    def __init__(self, clause, value):
        self.clause = clause
        self.value = value


def _only_removes(node):
    if type(node) is _Leaf:
        return node.clause == "REMOVE"
    return all(_only_removes(child) for child in node.values())


def _set_member_key(kind, member):
    if kind == "NS":
        return number_key(member)
    if kind == "BS":
        return decode_binary(member)
    return member


def _add(old, value):
    if old is None:
        return value
    kind = value_type(value)
    if value_type(old) != kind:
        raise _bad_operand()
    if kind == "N":
        return _arith("+", old, value)
    members = old[kind]
    seen = {_set_member_key(kind, m) for m in members}
    extra = []
    for m in value[kind]:
        key = _set_member_key(kind, m)
        if key not in seen:
            seen.add(key)
            extra.append(m)
    return {kind: members + extra} if extra else old


def _delete(old, value):
    if old is None:
        return _ABSENT
    kind = value_type(value)
    if value_type(old) != kind:
        raise _bad_operand()
    gone = {_set_member_key(kind, m) for m in value[kind]}
    kept = [m for m in old[kind] if _set_member_key(kind, m) not in gone]
    if not kept:
        return _ABSENT
    return {kind: kept} if len(kept) != len(old[kind]) else old


def _apply_leaf(old, leaf):
    clause = leaf.clause
    if clause == "SET":
        return leaf.value
    if clause == "REMOVE":
        return _ABSENT
    if clause == "ADD":
        return _add(old, leaf.value)
    return _delete(old, leaf.value)


def _apply(old, node, item_missing):
    if type(node) is _Leaf:
        return _apply_leaf(old, node)
    if old is None:
        if item_missing and _only_removes(node):
            return _ABSENT
        raise _bad_path()
    first = next(iter(node))
    if type(first) is int:
        items = old.get("L")
        if items is None:
            raise _bad_path()
        result = []
        for index, element in enumerate(items):
            child = node.get(index)
            if child is None:
                result.append(element)
                continue
            new = _apply(element, child, item_missing)
            if new is not _ABSENT:
                result.append(new)
        for index in sorted(i for i in node if i >= len(items)):
            new = _apply(None, node[index], item_missing)
            if new is not _ABSENT:
                result.append(new)
        return {"L": result}
    members = old.get("M")
    if members is None:
        raise _bad_path()
    result = dict(members)
    for name, child in node.items():
        new = _apply(members.get(name), child, item_missing)
        if new is _ABSENT:
            result.pop(name, None)
        else:
            result[name] = new
    return {"M": result}


def apply_update(update, item, key_names=(), key=None):
    """Apply a resolved UpdateExpr to ``item``; returns ``(new_item, paths)``.

    ``item`` is the stored item, or None when there is none; then the update
    starts from ``key`` (the request's Key, which SET values may read) and
    the new item includes it.  ``key_names`` are the table's key attribute
    names, which no action may target.  ``paths`` are the target paths (as
    element tuples) in the order written: ``project(old_item, paths)`` is
    UPDATED_OLD and ``project(new_item, paths)`` is UPDATED_NEW.
    Neither ``item`` nor ``key`` is modified.
    """
    check_key_update(update, key_names)
    item_missing = item is None
    base = item if item is not None else (key if key is not None else {})
    tree = {}
    for clause, path, operand in update.actions:
        if clause == "SET":
            value = _set_value(operand, base)
        elif clause == "REMOVE":
            value = None
        else:
            value = operand.value
        node = tree
        elements = path.elements
        for element in elements[:-1]:
            node = node.setdefault(element, {})
        node[elements[-1]] = _Leaf(clause, value)
    new_item = dict(base)
    for name, child in tree.items():
        new = _apply(base.get(name), child, item_missing)
        if new is _ABSENT:
            new_item.pop(name, None)
        else:
            new_item[name] = new
    return new_item, tuple(path.elements for _, path, _ in update.actions)


# -- projection ----------------------------------------------------------------


def _project(value, node):
    if node is True:
        return value
    if value is None:
        return None
    members = value.get("M")
    if members is not None:
        result = {}
        for key, child in node.items():
            if type(key) is str:
                projected = _project(members.get(key), child)
                if projected is not None:
                    result[key] = projected
        return {"M": result} if result else None
    items = value.get("L")
    if items is not None:
        result = []
        for index in sorted(k for k in node if type(k) is int):
            if index < len(items):
                projected = _project(items[index], node[index])
                if projected is not None:
                    result.append(projected)
        return {"L": result} if result else None
    return None


def project(item, paths):
    """The part of ``item`` that the resolved ``paths`` select, as DynamoDB returns it."""
    if item is None:
        return {}
    tree = {}
    for elements in paths:
        node = tree
        for element in elements[:-1]:
            child = node.get(element)
            if child is True:  # an ancestor is already selected whole
                break
            if child is None:
                child = node[element] = {}
            node = child
        else:
            node[elements[-1]] = True
    result = {}
    for name, child in tree.items():
        projected = _project(item.get(name), child)
        if projected is not None:
            result[name] = projected
    return result
