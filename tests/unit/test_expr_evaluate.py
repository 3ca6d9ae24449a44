"""Condition evaluation on wire-form items, and a seeded comparison with a model.

The property test builds random conditions as small trees, renders them to
expression text with #names and :values, and checks ``evaluate`` against
``_model``, an independent evaluator over Python values written here from
DynamoDB's documented rules.  A failure prints the seed, the expression and
the item.
"""

import base64
import random
from decimal import Decimal

from kvstore.expressions import Resolver, evaluate

ITEM = {
    "pk": {"S": "p"},
    "n": {"N": "10"},
    "s": {"S": "banana"},
    "b": {"B": base64.b64encode(b"\x01\x02\x03").decode()},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "tags": {"SS": ["red", "green"]},
    "nums": {"NS": ["1", "5"]},
    "bins": {"BS": [base64.b64encode(b"\x07").decode()]},
    "letters": {"L": [{"S": "a"}, {"S": "b"}, {"N": "3"}]},
    "info": {"M": {"nested": {"M": {"deep": {"S": "x"}}}, "arr": {"L": [{"M": {"v": {"N": "1"}}}, {"M": {"v": {"N": "2"}}}]}}},
    "dotted.name": {"S": "yes"},
    "unicode": {"S": "\U0001F600"},
}


def holds(text, values=None, names=None, item=ITEM):
    r = Resolver(names, values)
    condition = r.condition(text)
    r.check_all_used()
    return evaluate(condition, item)


def N(x):
    return {"N": str(x)}


def S(x):
    return {"S": x}


def test_evaluate_numbers_compare_numerically():
    """N compares by value, not text: 10 > 9, 10 = 10.0 = 1E1."""
    assert holds("n > :v", {":v": N(9)})
    assert holds("n < :v", {":v": N(100)})
    assert holds("n = :v", {":v": N("10.0")})
    assert holds("n = :v", {":v": N("1E1")})
    assert holds("n >= :v AND n <= :v", {":v": N(10)})


def test_evaluate_strings_compare_by_utf8_bytes():
    """S orders by UTF-8 bytes: a character above U+FFFF sorts after U+FFFD."""
    assert holds("s > :v", {":v": S("apple")})
    assert holds("s < :v", {":v": S("banana_")})
    assert holds("unicode > :v", {":v": S("\ufffd")})


def test_evaluate_binary_compares_by_bytes():
    """B orders by unsigned bytes."""
    assert holds("b > :v", {":v": {"B": base64.b64encode(b"\x01\x02").decode()}})
    assert holds("b < :v", {":v": {"B": base64.b64encode(b"\xff").decode()}})


def test_evaluate_missing_attribute():
    """A missing attribute: <> is true, everything else false; NOT flips."""
    assert holds("absent <> :v", {":v": N(1)})
    assert not holds("absent < :v", {":v": N(1)})
    assert not holds("absent = :v", {":v": N(1)})
    assert holds("NOT absent = :v", {":v": N(1)})
    assert not holds("absent BETWEEN :a AND :b", {":a": N(1), ":b": N(2)})
    assert not holds("absent IN (:a)", {":a": N(1)})


def test_evaluate_different_types_never_equal_or_ordered():
    """Comparing different types is false, not an error."""
    assert not holds("s > :v", {":v": N(1)})
    assert holds("s <> :v", {":v": N(1)})
    assert not holds("n = :v", {":v": S("10")})


def test_evaluate_ordering_unordered_types_is_false():
    """< on a set, list, map, bool or null attribute is false."""
    for name in ("tags", "letters", "info", "flag", "nothing"):
        assert not holds(f"{name} < :v", {":v": S("zzz")})
        assert not holds(f"{name} >= {name}x", None)


def test_evaluate_deep_equality():
    """Sets compare unordered, lists in order, maps by keys; numbers inside by value."""
    assert holds("tags = :v", {":v": {"SS": ["green", "red"]}})
    assert holds("nums = :v", {":v": {"NS": ["5.0", "1"]}})
    assert not holds("letters = :v", {":v": {"L": [{"S": "b"}, {"S": "a"}, N(3)]}})
    assert holds("letters = :v", {":v": {"L": [{"S": "a"}, {"S": "b"}, N("3.00")]}})
    assert holds("info.nested = :v", {":v": {"M": {"deep": S("x")}}})


def test_evaluate_between_and_in():
    """BETWEEN is inclusive; IN is equality with any operand."""
    assert holds("n BETWEEN :lo AND :hi", {":lo": N(10), ":hi": N(20)})
    assert not holds("n BETWEEN :lo AND :hi", {":lo": N(11), ":hi": N(20)})
    assert holds("s IN (:a, :b)", {":a": S("apple"), ":b": S("banana")})
    assert not holds("s IN (:a)", {":a": S("apple")})
    assert holds("n IN (:a, s)", {":a": N("1E1")})


def test_evaluate_precedence():
    """AND binds tighter than OR, NOT tighter than AND; parentheses first."""
    values = {":yes": N(10), ":no": N(11)}
    assert holds("n = :yes OR n = :yes AND n = :no", values)
    assert not holds("(n = :yes OR n = :yes) AND n = :no", values)
    assert holds("NOT n = :no AND n = :yes", values)
    assert not holds("not (n = :yes)", {":yes": N(10)})


def test_evaluate_existence_and_type():
    """attribute_exists/not_exists/type look at the item, NULL counts as existing."""
    assert holds("attribute_exists(n) AND attribute_not_exists(absent)")
    assert holds("attribute_exists(nothing)")
    assert holds("attribute_type(tags, :ss) AND attribute_type(nothing, :null)", {":ss": S("SS"), ":null": S("NULL")})
    assert not holds("attribute_type(n, :s)", {":s": S("S")})
    assert not holds("attribute_type(absent, :s)", {":s": S("S")})


def test_evaluate_begins_with():
    """begins_with works on S and B, false on other types."""
    assert holds("begins_with(s, :p)", {":p": S("ban")})
    assert not holds("begins_with(s, :p)", {":p": S("nan")})
    assert holds("begins_with(b, :p)", {":p": {"B": base64.b64encode(b"\x01\x02").decode()}})
    assert not holds("begins_with(tags, :p)", {":p": S("r")})


def test_evaluate_contains():
    """contains: substring of S, member of a set, element of a list."""
    assert holds("contains(s, :v)", {":v": S("nan")})
    assert holds("contains(tags, :v)", {":v": S("red")})
    assert not holds("contains(tags, :v)", {":v": S("blue")})
    assert holds("contains(nums, :v)", {":v": N("5.0")})
    assert holds("contains(letters, :v)", {":v": N(3)})
    assert holds("contains(bins, :v)", {":v": {"B": base64.b64encode(b"\x07").decode()}})
    assert not holds("contains(n, :v)", {":v": N(1)})


def test_evaluate_size():
    """size counts string bytes, binary bytes, set/list/map members; none for numbers."""
    assert holds("size(s) = :v", {":v": N(6)})
    assert holds("size(unicode) = :v", {":v": N(4)})
    assert holds("size(tags) = :two AND size(letters) = :three AND size(info) = :two", {":two": N(2), ":three": N(3)})
    assert holds("size(b) = :v", {":v": N(3)})
    assert not holds("size(n) = :v", {":v": N(2)})
    assert holds("size(n) <> :v", {":v": N(2)})


def test_evaluate_nested_paths():
    """Dots and indexes walk maps and lists; a step past the end has no value."""
    assert holds("info.nested.deep = :x", {":x": S("x")})
    assert holds("info.arr[1].v = :two", {":two": N(2)})
    assert holds("letters[0] = :a", {":a": S("a")})
    assert holds("attribute_not_exists(letters[9])")
    assert holds("attribute_not_exists(s.x)")
    assert holds("attribute_not_exists(info[0])")


def test_evaluate_dotted_name_behind_placeholder():
    """A #name holding a dot names one top-level attribute."""
    assert holds("#d = :y", {":y": S("yes")}, {"#d": "dotted.name"})


def test_evaluate_missing_item():
    """A missing item is an item with no attributes."""
    assert not holds("attribute_exists(pk)", item=None)
    assert holds("attribute_not_exists(pk)", item=None)


# -- seeded comparison with an independent model ----------------------------------

_NAMES = ["a", "b", "c", "m", "l"]


def _random_value(rng, depth=0):
    kind = rng.choice(["N", "N", "S", "S", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"] if depth < 2
                      else ["N", "S", "B", "BOOL"])
    if kind == "N":
        return {"N": rng.choice(["0", "1", "-1", "2.5", "10", "1E1", "-0.5", "100", "3"])}
    if kind == "S":
        return {"S": rng.choice(["", "a", "ab", "b", "ba", "\u00e9", "\U0001F600", "abc"])}
    if kind == "B":
        return {"B": base64.b64encode(rng.choice([b"", b"\x00", b"\x01", b"\x01\x02", b"\xff"])).decode()}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": rng.sample(["a", "ab", "b", "c"], rng.randint(1, 3))}
    if kind == "NS":
        return {"NS": rng.sample(["1", "2.5", "10", "-1"], rng.randint(1, 3))}
    if kind == "BS":
        return {"BS": [base64.b64encode(x).decode() for x in rng.sample([b"\x00", b"\x01", b"\xff"], rng.randint(1, 2))]}
    if kind == "L":
        return {"L": [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}
    return {"M": {k: _random_value(rng, depth + 1) for k in rng.sample(["x", "y"], rng.randint(0, 2))}}


def _random_item(rng):
    return {name: _random_value(rng) for name in _NAMES if rng.random() < 0.7}


def _random_path(rng):
    name = rng.choice(_NAMES)
    roll = rng.random()
    if roll < 0.6:
        return (name,)
    if roll < 0.8:
        return (name, rng.choice(["x", "y"]))
    return (name, rng.randint(0, 2))


def _orderable_const(rng):
    while True:
        v = _random_value(rng, 2)
        if "BOOL" not in v:
            return v


def _random_condition(rng, depth=0):
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        op = rng.choice(["and", "or", "not"])
        if op == "not":
            return ("not", _random_condition(rng, depth + 1))
        return (op, _random_condition(rng, depth + 1), _random_condition(rng, depth + 1))
    kind = rng.choice(["cmp", "cmp", "cmp_path", "between", "in", "exists", "not_exists", "type", "begins",
                       "contains", "size"])
    path = _random_path(rng)
    if kind == "cmp":
        op = rng.choice(["=", "<>", "<", "<=", ">", ">="])
        value = _random_value(rng) if op in ("=", "<>") else _orderable_const(rng)
        return ("cmp", op, ("path", path), ("const", value))
    if kind == "cmp_path":
        other = _random_path(rng)
        while other == path:
            other = _random_path(rng)
        return ("cmp", rng.choice(["=", "<>", "<", "<=", ">", ">="]), ("path", path), ("path", other))
    if kind == "between":
        low = _orderable_const(rng)
        kind_of = next(iter(low))
        high = _orderable_const(rng)
        while next(iter(high)) != kind_of:
            high = _orderable_const(rng)
        if _model_order(low, high) > 0:
            low, high = high, low
        return ("between", ("path", path), ("const", low), ("const", high))
    if kind == "in":
        return ("in", ("path", path), [("const", _random_value(rng)) for _ in range(rng.randint(1, 3))])
    if kind == "exists":
        return ("fn", "attribute_exists", ("path", path))
    if kind == "not_exists":
        return ("fn", "attribute_not_exists", ("path", path))
    if kind == "type":
        t = rng.choice(["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"])
        return ("fn", "attribute_type", ("path", path), ("const", {"S": t}))
    if kind == "begins":
        prefix = rng.choice([{"S": "a"}, {"S": ""}, {"S": "b"}, {"B": base64.b64encode(b"\x01").decode()}])
        return ("fn", "begins_with", ("path", path), ("const", prefix))
    if kind == "contains":
        return ("fn", "contains", ("path", path), ("const", _random_value(rng, 2)))
    op = rng.choice(["=", "<>", "<", ">="])
    return ("cmp", op, ("size", ("path", path)), ("const", {"N": str(rng.randint(0, 3))}))


class _Renderer:
    def __init__(self):
        self.names = {}
        self.values = {}

    def path(self, path):
        parts = []
        for element in path:
            if type(element) is int:
                parts.append(f"[{element}]")
            else:
                placeholder = f"#n{len(self.names)}"
                self.names[placeholder] = element
                parts.append(("." if parts else "") + placeholder)
        return "".join(parts)

    def operand(self, node):
        if node[0] == "path":
            return self.path(node[1])
        if node[0] == "size":
            return f"size({self.operand(node[1])})"
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = node[1]
        return placeholder

    def condition(self, node):
        kind = node[0]
        if kind in ("and", "or"):
            return f"({self.condition(node[1])}) {kind.upper()} ({self.condition(node[2])})"
        if kind == "not":
            return f"NOT ({self.condition(node[1])})"
        if kind == "cmp":
            return f"{self.operand(node[2])} {node[1]} {self.operand(node[3])}"
        if kind == "between":
            return f"{self.operand(node[1])} BETWEEN {self.operand(node[2])} AND {self.operand(node[3])}"
        if kind == "in":
            return f"{self.operand(node[1])} IN ({', '.join(self.operand(c) for c in node[2])})"
        return f"{node[1]}({', '.join(self.operand(a) for a in node[2:])})"


def _py(value):
    """An AttributeValue as a hashable Python value whose == is DynamoDB's equality."""
    (kind, member), = value.items()
    if kind == "N":
        return ("N", Decimal(member))
    if kind == "B":
        return ("B", base64.b64decode(member))
    if kind == "NS":
        return ("NS", frozenset(Decimal(m) for m in member))
    if kind == "BS":
        return ("BS", frozenset(base64.b64decode(m) for m in member))
    if kind == "SS":
        return ("SS", frozenset(member))
    if kind == "L":
        return ("L", tuple(_py(v) for v in member))
    if kind == "M":
        return ("M", frozenset((k, _py(v)) for k, v in member.items()))
    return (kind, member)


def _model_order(a, b):
    x, y = _py(a), _py(b)
    if x[0] != y[0] or x[0] not in ("N", "S", "B"):
        return None
    p, q = x[1], y[1]
    if x[0] == "S":
        p, q = p.encode("utf-8"), q.encode("utf-8")
    return (p > q) - (p < q)


def _model_get(item, path):
    value = item.get(path[0])
    for element in path[1:]:
        if value is None:
            return None
        if type(element) is int:
            value = value["L"][element] if "L" in value and element < len(value["L"]) else None
        else:
            value = value["M"].get(element) if "M" in value else None
    return value


def _model_operand(node, item):
    if node[0] == "path":
        return _model_get(item, node[1])
    if node[0] == "const":
        return node[1]
    value = _model_operand(node[1], item)
    if value is None:
        return None
    (kind, member), = value.items()
    if kind == "S":
        return {"N": str(len(member.encode("utf-8")))}
    if kind == "B":
        return {"N": str(len(base64.b64decode(member)))}
    if kind in ("SS", "NS", "BS", "L", "M"):
        return {"N": str(len(member))}
    return None


def _model(node, item):
    kind = node[0]
    if kind == "and":
        return _model(node[1], item) and _model(node[2], item)
    if kind == "or":
        return _model(node[1], item) or _model(node[2], item)
    if kind == "not":
        return not _model(node[1], item)
    if kind == "cmp":
        a, b = _model_operand(node[2], item), _model_operand(node[3], item)
        op = node[1]
        if op == "<>":
            return a is None or b is None or _py(a) != _py(b)
        if a is None or b is None:
            return False
        if op == "=":
            return _py(a) == _py(b)
        order = _model_order(a, b)
        return order is not None and {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]
    if kind == "between":
        v, lo, hi = (_model_operand(n, item) for n in node[1:])
        if v is None:
            return False
        o1, o2 = _model_order(v, lo), _model_order(v, hi)
        return o1 is not None and o2 is not None and o1 >= 0 and o2 <= 0
    if kind == "in":
        v = _model_operand(node[1], item)
        return v is not None and any(_py(v) == _py(c[1]) for c in node[2])
    name = node[1]
    value = _model_operand(node[2], item)
    if name == "attribute_exists":
        return value is not None
    if name == "attribute_not_exists":
        return value is None
    if value is None:
        return False
    arg = node[3][1]
    (vk, vm), = value.items()
    (ak, am), = arg.items()
    if name == "attribute_type":
        return vk == am
    if name == "begins_with":
        if vk != ak or vk not in ("S", "B"):
            return False
        return _py(value)[1].startswith(_py(arg)[1])
    # contains
    if vk == "S":
        return ak == "S" and am in vm
    if vk == "B":
        return ak == "B" and base64.b64decode(am) in base64.b64decode(vm)
    if vk in ("SS", "NS", "BS"):
        return ak == vk[0] and _py(arg)[1] in _py(value)[1]
    if vk == "L":
        return any(_py(e) == _py(arg) for e in vm)
    return False


def test_evaluate_agrees_with_model_on_random_conditions():
    """Random conditions on random items: evaluate() equals the independent model."""
    seed = random.randrange(2 ** 32)
    rng = random.Random(seed)
    for _ in range(1500):
        item = _random_item(rng)
        tree = _random_condition(rng)
        renderer = _Renderer()
        text = renderer.condition(tree)
        resolver = Resolver(renderer.names or None, renderer.values or None)
        got = evaluate(resolver.condition(text), item)
        expected = _model(tree, item)
        assert got == expected, f"seed={seed} expression={text!r} names={renderer.names} " \
                                f"values={renderer.values} item={item}"
