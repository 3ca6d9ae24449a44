"""The core's item fast paths against the Python they stand in for.

``kvstore._core`` answers the common items faster than ``kvstore.values``
and ``kvstore.embedded``, and must answer exactly as they do or not at all
(None: the Python runs, and raises DynamoDB's error if there is one):

- ``validate_item_fast(item)`` is ``values.walk_item(item)`` (the item as
  DynamoDB stores it, and its size) for items of S, canonical N, BOOL,
  NULL, bytes B, M and L;
- ``plain_item_fast(item)`` is ``to_wire(item)`` then ``walk_item``;
- ``wire_item_plain(item)`` is ``from_av`` on every attribute;
- ``plain_key_fast(key, ...)`` is ``to_wire(key)`` for keys that
  ``key_from_key`` certainly accepts;
- ``item_key_fast(item, ...)`` is ``check_item_key`` for the items whose
  key it certainly accepts.

Random items mix valid and invalid values, so a fast answer given where the
Python raises is caught too.  A second family of properties checks that the
fast paths do answer for the shapes they are for (otherwise the speed is
lost silently).
"""

import binascii
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import kvstore
from kvstore._core import item_key_fast, plain_item_fast, plain_key_fast, validate_item_fast, wire_item_plain
from kvstore.api.items import check_item_key, key_from_key
from kvstore.embedded import from_av, to_wire
from kvstore.errors import DynamoDBError
from kvstore.values import normalize_number, validate_item_with_size, walk_item

many = settings(max_examples=400, deadline=None)


def same(a, b):
    """Equal, and of the same types all the way down (True == 1 is not enough)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if type(a) in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def python_answer(fn, *args):
    """fn(*args), or the exception it raises."""
    try:
        return fn(*args)
    except (DynamoDBError, TypeError, ValueError, AttributeError, binascii.Error) as e:
        return e


# -- strategies ------------------------------------------------------------------

names = st.one_of(st.text(max_size=6), st.sampled_from(["id", "a", "é", "\ud800", "😀"]))
texts = st.one_of(st.text(max_size=12), st.sampled_from(["", "\ud83d\ude00", "\udfff", "ß" * 5]))

# Number texts: plain, signed, decimal, exponent, leading/trailing zeros,
# long, and not numbers at all.
digits = st.text(alphabet="0123456789", min_size=1, max_size=42)
number_texts = st.one_of(
    st.builds(lambda s, i, f, e: s + i + f + e,
              st.sampled_from(["", "-", "+"]),
              st.one_of(digits, st.just("")),
              st.one_of(st.just(""), st.builds(lambda d: "." + d, st.one_of(digits, st.just("")))),
              st.one_of(st.just(""), st.builds(lambda d: "E" + d, st.sampled_from(["2", "-3", "+1", "130"])))),
    st.integers(min_value=-10 ** 45, max_value=10 ** 45).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["0", "-0", "0.0", "00", "0.05", "-0.5", "1.50", "1E2", "1e-131", "NaN", "", " 1",
                     "9" * 38, "9" * 39, "1" + "0" * 38, "0." + "0" * 37 + "1", "١", "1_000"]),
)

# Wire AttributeValues: every type, wrong member types, several members,
# unknown members, nulls.
scalar_avs = st.one_of(
    st.builds(lambda v: {"S": v}, texts),
    st.builds(lambda v: {"N": v}, number_texts),
    st.builds(lambda v: {"BOOL": v}, st.booleans()),
    st.builds(lambda v: {"NULL": v}, st.booleans()),
    st.builds(lambda v: {"B": v}, st.one_of(st.binary(max_size=6), st.sampled_from(["", "YQ==", "YQ=", "!!!!"]),
                                            st.builds(bytearray, st.binary(max_size=3)))),
    st.builds(lambda v: {"SS": v}, st.lists(texts, max_size=3)),
    st.builds(lambda v: {"NS": v}, st.lists(number_texts, max_size=3)),
    st.builds(lambda v: {"BS": v}, st.lists(st.binary(max_size=3), max_size=3)),
    st.sampled_from([{}, None, {"S": None}, {"S": 1}, {"N": 5}, {"BOOL": 1}, {"NULL": None}, {"BOOL": "true"},
                     {"S": "a", "N": "1"}, {"X": "a"}, {"S": "a", "X": 1}, {"M": []}, {"L": {}}, [], "a", 3]),
)
wire_avs = st.recursive(
    scalar_avs,
    lambda children: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(names, children, max_size=3)),
        st.builds(lambda v: {"L": v}, st.lists(children, max_size=3)),
    ),
    max_leaves=12,
)
wire_items = st.one_of(
    st.dictionaries(names, wire_avs, max_size=5),
    st.sampled_from([None, [], "item", {1: {"S": "a"}}]),
)

# Plain values as embedded users give them, good and bad.
plain_scalars = st.one_of(
    texts, st.booleans(), st.none(), st.binary(max_size=6),
    st.integers(), st.integers(min_value=-10 ** 40, max_value=10 ** 40),
    st.decimals(allow_nan=True, allow_infinity=True), st.floats(allow_nan=False),
    st.sampled_from([Decimal("1E+2"), Decimal("-0"), Decimal("1.50"), Decimal("0.001"), 10 ** 38, -10 ** 38 + 1,
                     bytearray(b"x"), set(), {"a"}, {1, 2}, frozenset({b"x"}), object()]),
)
plain_values = st.recursive(
    plain_scalars,
    lambda children: st.one_of(
        st.dictionaries(names, children, max_size=3),
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
    ),
    max_leaves=12,
)
plain_items = st.one_of(st.dictionaries(names, plain_values, max_size=5), st.sampled_from([None, [], {1: "a"}]))

# The shapes the fast paths are for: each must get a fast answer.
canonical_numbers = number_texts.map(lambda t: python_answer(normalize_number, t)).filter(
    lambda n: isinstance(n, str) and len(n) <= 40)
common_scalar_avs = st.one_of(
    st.builds(lambda v: {"S": v}, texts),
    st.builds(lambda v: {"N": v}, canonical_numbers),
    st.builds(lambda v: {"BOOL": v}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda v: {"B": v}, st.binary(max_size=6)),
)
common_wire_items = st.dictionaries(names, st.recursive(
    common_scalar_avs,
    lambda children: st.one_of(
        st.builds(lambda m: {"M": m}, st.dictionaries(names, children, max_size=3)),
        st.builds(lambda v: {"L": v}, st.lists(children, max_size=3)),
    ),
    max_leaves=10,
), max_size=5)


# -- validate_item_fast ------------------------------------------------------------


@many
@given(wire_items)
@example({"n": {"N": "-0"}})
@example({"n": {"N": "0.0"}})
@example({"n": {"N": "9" * 39}})
@example({"n": {"NULL": False}})
@example({"a": {"M": {"b": {"L": [{"N": "1.50"}]}}}})
def test_validate_item_fast_is_the_python_walk(item):
    # Whenever the core answers, DynamoDB's rules (values.py) give exactly that
    # answer: the same item object (nothing to normalise) and the same size.
    fast = validate_item_fast(item)
    if fast is None:
        return
    expected = python_answer(walk_item, item)
    assert not isinstance(expected, Exception), (item, expected)
    assert fast[0] is expected[0] is item
    assert fast[1] == expected[1]
    assert validate_item_with_size(item) == fast


@many
@given(common_wire_items)
@example({"n": {"N": "0"}, "m": {"N": "-0.05"}, "s": {"S": "\udfff"}})
def test_validate_item_fast_answers_the_common_shapes(item):
    # S, canonical numbers, BOOL, NULL, bytes and their maps and lists never
    # fall back to the Python walk.
    fast = validate_item_fast(item)
    assert fast is not None, item
    assert fast == walk_item(item)


@pytest.mark.parametrize("text", [
    "0", "1", "-1", "10", "100", "12", "123", "-123.45", "0.05", "0.5", "0.123", "1200", "-0.0012",
    "9" * 38, "-" + "9" * 38, "0." + "0" * 37 + "1", "1" + "0" * 37, "12345678901234567890.5",
])
def test_validate_item_fast_number_sizes(text):
    # DynamoDB's number size (base-100 digit pairs, one exponent byte, one
    # more for a negative number): the core agrees with values.py.
    item = {"": {"N": text}}
    assert validate_item_fast(item) == walk_item(item)


@pytest.mark.parametrize("text", ["-0", "00", "01", "1.", ".5", "1.50", "1E2", "+1", "1e5", "9" * 39, "١", " 1"])
def test_validate_item_fast_leaves_other_numbers_to_python(text):
    # Non-canonical or invalid number texts are rewritten or refused by values.py.
    assert validate_item_fast({"n": {"N": text}}) is None


def test_validate_item_fast_depth_limit():
    # Deep documents (DynamoDB allows 32 levels) are the Python walk's.
    av = {"S": "x"}
    for _ in range(15):
        av = {"M": {"a": av}}
    assert validate_item_fast({"a": av}) is not None
    assert validate_item_fast({"a": {"L": [av]}}) is None


# -- plain_item_fast ---------------------------------------------------------------


@many
@given(plain_items)
@example({"a": Decimal("1E+2")})
@example({"a": 10 ** 38})
@example({"a": float("nan")})
@example({"a": (1, "x", [True, None])})
def test_plain_item_fast_is_to_wire_then_the_walk(item):
    # The core's one-step conversion gives exactly the wire item to_wire
    # builds, which values.py stores unchanged, and its size.
    fast = plain_item_fast(item)
    if fast is None:
        return
    wire = to_wire(item)
    expected = python_answer(walk_item, wire)
    assert not isinstance(expected, Exception), (item, expected)
    assert expected[0] is wire  # nothing for values.py to rewrite
    assert same(fast[0], wire)
    assert fast[1] == expected[1]


@many
@given(st.dictionaries(names, st.recursive(
    st.one_of(texts, st.booleans(), st.none(), st.binary(max_size=4),
              st.integers(min_value=-10 ** 37, max_value=10 ** 37)),
    lambda children: st.one_of(st.dictionaries(names, children, max_size=3), st.lists(children, max_size=3)),
    max_leaves=10), max_size=5))
def test_plain_item_fast_answers_the_common_types(item):
    fast = plain_item_fast(item)
    assert fast is not None, item
    assert same(fast[0], to_wire(item))


# -- wire_item_plain -----------------------------------------------------------------


@many
@given(wire_items)
def test_wire_item_plain_is_from_av(item):
    # Stored items (those values.py accepts) come back as from_av makes them.
    stored = python_answer(walk_item, item)
    if isinstance(stored, Exception):
        return
    expected = python_answer(lambda: {name: from_av(av) for name, av in stored[0].items()})
    fast = wire_item_plain(stored[0])
    if fast is not None:
        assert same(fast, expected)


@many
@given(common_wire_items)
def test_wire_item_plain_answers_the_common_shapes(item):
    fast = wire_item_plain(item)
    assert fast is not None
    assert same(fast, {name: from_av(av) for name, av in item.items()})


# -- plain_key_fast -----------------------------------------------------------------

KEY_SCHEMAS = [("S", None), ("N", None), ("B", None), ("S", "N"), ("N", "B"), ("B", "S")]
key_values = st.one_of(
    st.text(max_size=8), st.text(min_size=250, max_size=600), st.sampled_from(["", "é" * 300, "😀" * 257]),
    st.integers(), st.integers(min_value=-10 ** 40, max_value=10 ** 40), st.binary(max_size=4),
    st.binary(min_size=1020, max_size=2100), st.booleans(), st.none(), st.decimals(allow_nan=False),
    st.floats(allow_nan=False),
)


@pytest.fixture(scope="module")
def key_tables():
    db = kvstore.Database()
    tables = {}
    for i, (hash_type, range_type) in enumerate(KEY_SCHEMAS):
        name = f"table{i}"
        db.create_table(name, ("h", hash_type), ("r", range_type) if range_type else None)
        tables[hash_type, range_type] = db.tables[name]
    return tables


@many
@given(st.sampled_from(KEY_SCHEMAS), key_values, key_values, st.sampled_from([None, "r", "x"]))
def test_plain_key_fast_is_a_key_key_from_key_accepts(key_tables, schema, hv, rv, range_name):
    table = key_tables[schema]
    key = {"h": hv}
    if range_name is not None:
        key[range_name] = rv
    fast = plain_key_fast(key, table.hash_key, table.hash_type, table.range_key, table.range_type)
    if fast is None:
        return
    wire = to_wire(key)
    checked = python_answer(key_from_key, table, wire)
    assert not isinstance(checked, Exception), (key, checked)
    assert same(fast, (wire["h"], wire.get("r")))
    assert same(checked, fast)


def test_plain_key_fast_answers_the_common_keys(key_tables):
    assert plain_key_fast({"h": "a", "r": -5}, "h", "S", "r", "N") == ({"S": "a"}, {"N": "-5"})
    table = key_tables["B", None]
    assert plain_key_fast({"h": b"\x00"}, table.hash_key, table.hash_type, None, None) == ({"B": b"\x00"}, None)
    assert plain_key_fast({"h": -(10 ** 38) + 1}, "h", "N", None, None) == ({"N": str(-(10 ** 38) + 1)}, None)
    assert plain_key_fast({"h": 10 ** 38}, "h", "N", None, None) is None
    assert plain_key_fast({"h": ""}, "h", "S", None, None) is None
    assert plain_key_fast({"h": "a", "x": 1}, "h", "S", None, None) is None


# -- item_key_fast -------------------------------------------------------------------

wire_key_values = st.one_of(
    st.builds(lambda v: {"S": v}, key_values.filter(lambda v: type(v) is str)),
    st.builds(lambda v: {"N": v}, canonical_numbers),
    st.builds(lambda v: {"B": v}, st.one_of(st.binary(max_size=4), st.binary(min_size=1020, max_size=2100),
                                            st.sampled_from(["", "YQ=="]))),
    st.sampled_from([{"S": "a", "N": "1"}, {"BOOL": True}, {"NULL": True}, {"SS": ["a"]}]),
)


@many
@given(st.sampled_from(KEY_SCHEMAS), wire_key_values, wire_key_values, st.booleans())
def test_item_key_fast_is_what_check_item_key_accepts(key_tables, schema, hv, rv, with_range):
    # The core's answer for a validated item's key is check_item_key's.
    table = key_tables[schema]
    item = {"h": hv, "other": {"S": "x"}}
    if with_range:
        item["r"] = rv
    fast = item_key_fast(item, table.hash_key, table.hash_type, table.range_key, table.range_type)
    if fast is None:
        return
    checked = python_answer(check_item_key, table, item)
    assert not isinstance(checked, Exception), (item, checked)
    assert checked[0] is fast[0] and checked[1] is fast[1]


def test_item_key_fast_answers_the_common_keys():
    item = {"h": {"S": "a"}, "r": {"N": "-1.5"}, "x": {"BOOL": True}}
    assert item_key_fast(item, "h", "S", "r", "N") == (item["h"], item["r"])
    assert item_key_fast({"h": {"B": b"k"}}, "h", "B", None, None) == ({"B": b"k"}, None)
    assert item_key_fast({"h": {"S": ""}}, "h", "S", None, None) is None
    assert item_key_fast({"h": {"S": "a"}}, "h", "S", "r", "N") is None
