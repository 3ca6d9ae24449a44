"""``kvstore._core.wire_owner`` and ``wire_query_owner`` against the routing
they stand in for.

A multi-worker server's front (server/cluster.py ``Cluster.route``) reads an
item request's owner from its raw JSON body with ``wire_owner`` (a Query's
with ``wire_query_owner``) and forwards the body undecoded.  It must answer
exactly the owner that decoding the body and ``Cluster.route_item``
(``Cluster.route_query``) give, or -1 (the front then decodes and routes as
before): a body the Python would run here (not JSON, no such table, no
readable key) must give -1 too.

Random bodies are written out by hand (``render``) so that members can be
duplicated, names escaped and whitespace varied, then mutated at the byte
level (truncated, a byte changed) for malformed ones.  A second family of
properties checks that the common shapes -- an S key with no escape -- do
get an answer (otherwise the speed is lost silently).
"""

import json
import os
import sys
import types

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvstore import api
from kvstore._core import wire_owner, wire_query_owner
from server.cluster import KEY_MEMBERS, Cluster, _decode, build_database

sys.path.insert(0, os.path.dirname(__file__))
from handwritten_json import Obj, escaped_name, render  # noqa: E402

many = settings(max_examples=400, deadline=None)

WORKERS = 8


def make_db():
    """Worker 0 of 8 with the tables the bodies name: hash keys of types S
    and N, a non-ASCII hash key name, a hash and range key, and a table
    with indexes (GSIs keyed by S and N, an LSI)."""
    db = build_database(0, WORKERS)
    for name, keys in (("ttt", [("id", "HASH", "S")]), ("num", [("n", "HASH", "N")]),
                       ("cle", [("clé", "HASH", "S")]), ("rng", [("pk", "HASH", "S"), ("sk", "RANGE", "S")])):
        api.dispatch(db, "CreateTable", {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": a, "KeyType": k} for a, k, _ in keys],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t} for a, _, t in keys],
        })

    def schema(*keys):
        return [{"AttributeName": a, "KeyType": k} for a, k in zip(keys, ("HASH", "RANGE"))]

    api.dispatch(db, "CreateTable", {
        "TableName": "idx", "BillingMode": "PAY_PER_REQUEST", "KeySchema": schema("pk", "sk"),
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": t}
                                 for a, t in (("pk", "S"), ("sk", "S"), ("g", "S"), ("n", "N"), ("l", "S"))],
        "GlobalSecondaryIndexes": [
            {"IndexName": "by_g", "KeySchema": schema("g", "sk"), "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "by_n", "KeySchema": schema("n"), "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        "LocalSecondaryIndexes": [
            {"IndexName": "by_l", "KeySchema": schema("pk", "l"), "Projection": {"ProjectionType": "ALL"}}],
    })
    return db


DB = make_db()
HASH_NAMES = {"ttt": "id", "num": "n", "cle": "clé", "rng": "pk", "idx": "pk"}
INDEX_HASH_NAMES = {"by_g": "g", "by_n": "n", "by_l": "pk"}


def python_route(route, op, body):
    """What Cluster.route does with ``body`` today through ``route``
    (Cluster.route_item or route_query): the owner it forwards to, or None
    when it runs the request here."""
    try:
        req = _decode(body)
    except Exception:
        return None
    if type(req) is not dict:
        return None
    front = types.SimpleNamespace(db=DB, ring=DB.ring, worker=-1, forward=lambda owner, op, body: owner,
                                  run_local=lambda op, req: None)
    front._query_hash_value = lambda req: Cluster._query_hash_value(front, req)
    return route(front, op, body, req)


def python_owner(op, body):
    return python_route(Cluster.route_item, op, body)


def check(op, body):
    """wire_owner's answer for ``body``, asserted -1 or the Python's owner."""
    got = wire_owner(body, KEY_MEMBERS[op], DB.tables, DB.ring)
    want = python_owner(op, body)
    assert got == -1 or got == want, (body, got, want)
    return got, want


spaces = st.sampled_from([b"", b" ", b"\n", b"\t \r\n"])
styles = st.tuples(st.booleans(), st.builds(lambda a, b: a + b"," + b, spaces, spaces),
                   st.builds(lambda a, b: a + b":" + b, spaces, spaces))

# -- strategies -------------------------------------------------------------------

# Key strings: any text, and the characters JSON escapes or UTF-8 cannot hold.
key_texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", '"', "\\", "a\"b\\c", "\x00", "\x1f", "\x7f", "é", "😀", "\u2028", "\ud800", "\udfff",
                     "\ud83d\ude00", "/", "\b\f\n\r\t"]),
    st.lists(st.sampled_from(["a", "é", "\\", '"', "\x01", "😀", "\u07ff", "\uffff", "\U0010ffff"]),
             max_size=6).map("".join),
)
good_tables = st.sampled_from(["ttt", "cle", "rng"])
table_names = st.one_of(good_tables, good_tables, good_tables, good_tables, st.sampled_from(["num", "nope", "tt"]),
                        st.sampled_from(["ttt", "rng"]).map(escaped_name),
                        st.sampled_from([5, None, ["ttt"], Obj()]))
plain_names = st.sampled_from(["id", "pk", "sk", "n", "clé", "x", "Id", "id "])
attr_names = st.one_of(plain_names, plain_names, plain_names, st.sampled_from(["id", "pk"]).map(escaped_name),
                       st.text(max_size=3))
scalars = st.one_of(key_texts, st.integers(), st.integers(min_value=-10 ** 50, max_value=10 ** 50),
                    st.floats(), st.booleans(), st.none())
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.lists(st.tuples(attr_names, children), max_size=3).map(Obj)),
    max_leaves=10,
)
s_values = st.builds(lambda s: Obj([("S", s)]), key_texts)
key_values = st.one_of(
    s_values, s_values, s_values,
    st.builds(lambda s: Obj([(escaped_name("S"), s)]), key_texts),
    st.builds(lambda s: Obj([("N", s)]), st.sampled_from(["1", "-2.5", "x"])),
    st.builds(lambda s: Obj([("B", s)]), st.sampled_from(["YQ==", ""])),
    st.builds(lambda s, t: Obj([("S", s), ("S", t)]), key_texts, key_texts),
    st.builds(lambda s, v: Obj([("S", s), ("N", v)]), key_texts, json_values),
    st.builds(lambda v: Obj([("S", v)]), json_values),
    json_values,
)
other_attributes = st.lists(st.tuples(attr_names, st.one_of(key_values, json_values)), max_size=3)
extra_members = st.lists(st.tuples(st.sampled_from(["ReturnValues"] * 4 + ["x", "Key", "Item", "TableName"]),
                                   json_values), max_size=2)
ops = st.sampled_from(sorted(KEY_MEMBERS))


@st.composite
def bodies(draw):
    """A request body of ``op``: TableName, the key member and extra members
    in any order, any of them repeated or missing, in any style; the key
    member mostly holds the table's hash key among other attributes."""
    op = draw(ops)
    table = draw(table_names)
    attrs = draw(other_attributes)
    if draw(st.sampled_from([True, True, True, True, False])):
        name = HASH_NAMES.get(table, "id") if type(table) is str else "id"
        attrs.insert(draw(st.integers(0, len(attrs))), (name, draw(key_values)))
    member = KEY_MEMBERS[op].decode()
    pairs = [("TableName", table), (member, Obj(attrs))] + draw(extra_members)
    pairs = draw(st.permutations(pairs))
    if draw(st.sampled_from([False] * 9 + [True])):
        pairs = pairs[:draw(st.integers(0, len(pairs)))]
    body = draw(spaces) + render(Obj(pairs), draw(styles)) + draw(spaces)
    return op, body


# The common shapes: an S key with no escape (ensure_ascii off), among
# other attributes of every type; each must be answered.
plain_keys = st.text(min_size=1, max_size=20).filter(lambda s: not any(c in '"\\' or c < " " for c in s))
attribute_values = st.recursive(
    st.one_of(st.builds(lambda s: Obj([("S", s)]), st.text(max_size=8)),
              st.builds(lambda n: Obj([("N", str(n))]), st.integers()),
              st.just(Obj([("BOOL", True)])), st.just(Obj([("NULL", True)]))),
    lambda children: st.one_of(st.builds(lambda v: Obj([("L", v)]), st.lists(children, max_size=3)),
                               st.builds(lambda m: Obj([("M", Obj(m))]),
                                         st.lists(st.tuples(st.text(max_size=4), children), max_size=3))),
    max_leaves=10,
)


@st.composite
def plain_bodies(draw):
    """A request of ``op`` on an S-keyed table whose key needs no escape."""
    op = draw(ops)
    table = draw(good_tables)
    attrs = [(HASH_NAMES[table], Obj([("S", draw(plain_keys))]))]
    if table == "rng":
        attrs.append(("sk", Obj([("S", "s")])))
    if op == "PutItem":
        attrs += draw(st.lists(st.tuples(st.sampled_from(["a", "b", "éè", "n"]), attribute_values), max_size=3))
    pairs = [("TableName", table), (KEY_MEMBERS[op].decode(), Obj(draw(st.permutations(attrs)))),
             ("ReturnValues", "NONE")]
    style = (False,) + draw(styles)[1:]
    return op, draw(spaces) + render(Obj(draw(st.permutations(pairs))), style) + draw(spaces)


@st.composite
def mutated(draw):
    """A body cut short, or with one byte changed or inserted."""
    op, body = draw(st.one_of(bodies(), plain_bodies()))
    at = draw(st.integers(0, len(body)))
    kind = draw(st.sampled_from(["cut", "change", "insert"]))
    byte = bytes([draw(st.sampled_from(b'{}[]",:\\ u0e-.\x00\x80\xc3\xed\xff'))])
    if kind == "cut":
        return op, body[:at]
    if kind == "change":
        return op, body[:at] + byte + body[at + 1:]
    return op, body[:at] + byte + body[at:]


PLAIN = b'{"TableName":"ttt","Key":{"id":{"S":"abc"}}}'


# -- wire_owner answers the Python's owner or -1 ---------------------------------------


@many
@given(bodies())
@example(("GetItem", PLAIN))
@example(("PutItem", b'{"TableName":"ttt","Item":{"id":{"S":"a"},"id":{"S":"b"}}}'))
@example(("GetItem", b'{"TableName":"ttt","TableName":"ttt","Key":{"id":{"S":"a"}}}'))
@example(("GetItem", b'{"TableName":"ttt","Key":{"id":{"S":"a"}},"Key":{"id":{"S":"b"}}}'))
@example(("GetItem", b'{"TableName":"ttt","Key":{"id":{"S":"a"},"i\\u0064":{"S":"b"}}}'))
@example(("GetItem", b'{"TableName":"ttt","Key":{"id":{"S":"a","S":"b"}}}'))
@example(("GetItem", b'{"TableName":"t\\u0074t","Key":{"id":{"S":"a"}}}'))
@example(("GetItem", b'{"TableName":"num","Key":{"n":{"S":"a"}}}'))
def test_bodies(case):
    check(*case)


@many
@given(mutated())
@example(("GetItem", PLAIN[:-1]))
@example(("GetItem", PLAIN + b"x"))
@example(("GetItem", PLAIN + PLAIN))
@example(("GetItem", b"\xef\xbb\xbf" + PLAIN))
@example(("GetItem", b"[" + PLAIN + b"]"))
def test_malformed_bodies(case):
    check(*case)


def test_every_truncation():
    for op, body in (("GetItem", PLAIN),
                     ("PutItem", b' {"Item" : {"id":{"S":"\xc3\xa9\xf0\x9f\x98\x80"}, "n": [1, -2.5e+10, true, '
                                 b'false, null, {"x": "\\u00e9\\ud83d\\ude00\\n"}]}, "TableName":"ttt"}\n')):
        assert check(op, body)[0] >= 0
        for n in range(len(body)):
            check(op, body[:n])


# String contents, raw bytes between the quotes: UTF-8 (valid or not),
# escapes (valid or not, surrogates alone or paired), control characters.
string_bytes = st.lists(st.one_of(
    st.sampled_from([b"a", b"\\", b'"', b"\\u", b"d8", b"00", b"dc", b"DC", b"\\n", b"\\x", b"\\/", b"\x00", b"\x1f",
                     b"\x7f", b"\x80", b"\xbf", b"\xc0", b"\xc2", b"\xdf", b"\xe0", b"\xa0", b"\xed", b"\x9f",
                     b"\xef", b"\xf0", b"\x90", b"\xf4", b"\x8f", b"\xf5", b"\xff"]),
    st.binary(max_size=3),
), max_size=8).map(b"".join)


@many
@given(string_bytes, st.booleans())
@example(b"\\ud83d\\ude00", False)
@example(b"\\ud800", False)
@example(b"\\udc00\\ud800", False)
@example(b"\xed\xa0\x80", True)
@example(b"\xf4\x90\x80\x80", True)
@example(b"\xc0\x80", True)
@example(b"\xe0\x80\x80", True)
@example(b"\xf0\x80\x80\x80", True)
def test_string_contents(raw, in_key):
    # In the key's S (no escape: answered) or in another member (skipped).
    if in_key:
        body = b'{"TableName":"ttt","Key":{"id":{"S":"' + raw + b'"}}}'
    else:
        body = b'{"TableName":"ttt","x":"' + raw + b'","Key":{"id":{"S":"k"}}}'
    check("GetItem", body)


number_texts = st.one_of(
    st.text(alphabet="0123456789-+.eE", min_size=1, max_size=8),
    st.builds(lambda s, i, f, e: s + i + f + e, st.sampled_from(["", "-"]), st.text("0123456789", max_size=45),
              st.sampled_from(["", ".", ".5", ".05"]), st.sampled_from(["", "e", "e1", "E+99", "e-99", "e100", "e400"])),
)


@many
@given(number_texts)
@example("1e400")
@example("9" * 5000)
@example("9" * 40)
@example("-" + "9" * 39)
@example("01")
@example("-0")
def test_numbers(text):
    check("PutItem", b'{"TableName":"ttt","Item":{"id":{"S":"k"},"n":' + text.encode() + b"}}")


def test_hash_key_names_utf8_cannot_hold():
    tables = {"ttt": types.SimpleNamespace(hash_type="S", hash_key="\ud800")}
    assert wire_owner(PLAIN, b"Key", tables, DB.ring) == -1


@pytest.mark.parametrize("depth", [1, 30, 78, 79, 80, 200, 1200])
def test_nesting(depth):
    body = b'{"TableName":"ttt","Key":{"id":{"S":"k"}},"x":' + b"[" * depth + b"]" * depth + b"}"
    got, _ = check("GetItem", body)
    assert (got >= 0) == (depth <= 79)  # the top object is level 1


# -- the common shapes are answered ----------------------------------------------------


@many
@given(plain_bodies())
def test_plain_s_keys_are_answered(case):
    got, want = check(*case)
    assert got >= 0 and got == want


# -- wire_query_owner answers the Python's owner or -1 ----------------------------------


def python_query_owner(body):
    return python_route(Cluster.route_query, "Query", body)


def check_query(body):
    """wire_query_owner's answer for ``body``, asserted -1 or the Python's owner."""
    got = wire_query_owner(body, DB.tables, DB.ring)
    want = python_query_owner(body)
    assert got == -1 or got == want, (body, got, want)
    return got, want


# Words of key conditions, and what str.split() splits at (or not: \x85
# and \xa0 are whitespace, \x7f and \u200b are not).
condition_names = st.one_of(st.just("pk"), st.just("#p"),
                            st.sampled_from(["pk", "sk", "g", "n", "id", "clé", "#p", "#s", "#k", "#g", "#missing",
                                             "(pk", "PK"]))
placeholders = st.one_of(st.just(":v"), st.just(":v"), st.sampled_from([":v", ":s", ":w", ":v)", ":missing", ":"]))
separators = st.one_of(*[st.just(" ")] * 4, st.sampled_from(["  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f",
                                                              "\x85", "\xa0", "\u2003", "\u3000", "\x7f", "\u200b", ""]))
other_words = st.sampled_from(["=", "=", ">", "<=", "AND", "and", "BETWEEN", "begins_with(sk,", ":s)", "(", ")",
                               "pk=:v", "=:v"])


@st.composite
def key_conditions(draw):
    """A KeyConditionExpression: mostly "<name> = :<v>" conditions joined by
    AND, sometimes any words, with any separators."""
    if draw(st.sampled_from([True, True, True, False])):
        words = []
        for n in range(draw(st.integers(1, 3))):
            if n:
                words.append(draw(st.sampled_from(["AND", "AND", "and", "OR"])))
            words += [draw(condition_names), draw(st.sampled_from(["=", "=", "=", "=", ">", "=="])), draw(placeholders)]
    else:
        words = draw(st.lists(st.one_of(condition_names, placeholders, other_words), max_size=8))
    text = draw(st.sampled_from(["", "", " ", " ", "\t"]))
    for word in words:
        text += word + draw(separators)
    return text


plain_s_values = st.builds(lambda s: Obj([("S", s)]), plain_keys)
name_targets = st.one_of(st.sampled_from(["pk", "pk", "sk", "g", "n", "clé", "id", "p\\k", "pk "]),
                         st.sampled_from(["pk", "g"]).map(escaped_name), st.sampled_from([5, None, ["pk"]]))
name_keys = st.one_of(st.sampled_from(["#p", "#p", "#s", "#k", "#g", "pk", "sk", "#missing "]),
                      st.sampled_from(["#p", "#k"]).map(escaped_name))
# {"#p": a hash key name, ...}, {"pk": another name, ...} (an alias
# named as a plain word is taken too), any names, or not an object.
name_maps = st.one_of(
    st.builds(lambda target, pairs: Obj([("#p", target)] + pairs), st.sampled_from(["pk", "g"]),
              st.lists(st.tuples(name_keys, name_targets), max_size=2)),
    st.builds(lambda target, pairs: Obj([("pk", target)] + pairs), name_targets,
              st.lists(st.tuples(name_keys, name_targets), max_size=2)),
    st.builds(lambda pairs: Obj(pairs), st.lists(st.tuples(name_keys, name_targets), max_size=4)),
    st.sampled_from([None, [], "", 5]),
)
# ExpressionAttributeValues: plain_values has ":v" a plain S; value_maps any
# values (":v" of any type, placeholders escaped), or not an object.
other_values = st.lists(st.tuples(st.sampled_from([":s", ":w", ":v)", ":v"]), st.one_of(plain_s_values, key_values)),
                        max_size=2)
plain_values = st.builds(lambda v, pairs: Obj([(":v", v)] + pairs), plain_s_values, other_values)
value_maps = st.one_of(
    st.builds(lambda v, pairs: Obj([(":v", v)] + pairs), key_values, other_values),
    st.lists(st.tuples(st.one_of(placeholders, st.sampled_from([":v", ":s"]).map(escaped_name)),
                       st.one_of(plain_s_values, key_values)), max_size=4).map(Obj),
    st.sampled_from([None, [], Obj()]),
)
query_tables = st.one_of(st.sampled_from(["rng", "idx", "ttt", "cle", "num", "nope"]),
                         st.sampled_from(["rng", "idx"]).map(escaped_name), st.sampled_from([5, None]))
index_names = st.one_of(st.sampled_from(["by_g", "by_g", "by_n", "by_l", "nope", "by_g "]),
                        st.just("by_g").map(escaped_name), st.sampled_from([None, 5, ["by_g"]]))
key_condition_members = st.one_of(
    st.just(Obj()),
    st.builds(lambda v: Obj([("pk", Obj([("AttributeValueList", [v]), ("ComparisonOperator", "EQ")]))]), s_values),
    json_values,
)


@st.composite
def query_bodies(draw):
    """A Query body: TableName ("rng" or "idx" three times in four),
    KeyConditionExpression, the attribute values and names, and sometimes
    IndexName, KeyConditions and other members, in any order, any of them
    repeated or missing, in any style."""
    def often(likely, anything):
        # likely's value three times in four, else anything's.
        return draw(st.sampled_from([likely, likely, likely, anything]))

    pairs = [("TableName", draw(often(st.sampled_from(["rng", "idx"]), query_tables))),
             ("KeyConditionExpression", draw(often(key_conditions(), json_values))),
             ("ExpressionAttributeValues", draw(often(plain_values, value_maps)))]
    for name, values, likely in (("ExpressionAttributeNames", name_maps, True), ("IndexName", index_names, False),
                                 ("KeyConditions", key_condition_members, False),
                                 ("Limit", st.integers(0, 5), True), ("FilterExpression", st.just("x > :s"), False)):
        if draw(st.sampled_from([likely, False])):
            pairs.append((name, draw(values)))
    if draw(st.sampled_from([False] * 4 + [True])):
        pairs.append(draw(st.sampled_from(pairs)))  # a member twice
    pairs = draw(st.permutations(pairs))
    if draw(st.sampled_from([False] * 9 + [True])):
        pairs = pairs[:draw(st.integers(0, len(pairs)))]
    return draw(spaces) + render(Obj(pairs), draw(styles)) + draw(spaces)


@st.composite
def plain_query_members(draw):
    """The members of a Query in the usual shape, on the hash key of a
    table or index of type S whose value needs no escape: "<hash> = :v",
    maybe after or before a sort key condition, maybe through a name
    alias."""
    table = draw(st.sampled_from(["ttt", "cle", "rng", "idx"]))
    index = draw(st.sampled_from([None, "by_g", "by_l"])) if table == "idx" else None
    hash_key = INDEX_HASH_NAMES[index] if index else HASH_NAMES[table]
    names = Obj(draw(st.lists(st.tuples(st.sampled_from(["#s", "#x"]), st.sampled_from(["sk", "x"])), max_size=2)))
    word = hash_key
    if hash_key == "clé" or draw(st.booleans()):
        word = "#h"
        names.append(("#h", hash_key))
    spacing = draw(st.sampled_from([" ", "  "]))
    condition = spacing.join([word, "=", ":v"])
    sort = draw(st.sampled_from([None, "sk > :s", "#s BETWEEN :s AND :t", "begins_with(sk, :s)", "sk = :s"]))
    if sort is not None:
        condition = draw(st.sampled_from(["%s AND %s", "%s and %s"])) % ((condition, sort) if draw(st.booleans())
                                                                        else (sort, condition))
    values = [(":v", Obj([("S", draw(plain_keys))])), (":s", Obj([("S", "a")])), (":t", Obj([("S", "z")]))]
    pairs = [("TableName", table), ("KeyConditionExpression", condition),
             ("ExpressionAttributeValues", Obj(draw(st.permutations(values))))]
    if names:
        pairs.append(("ExpressionAttributeNames", names))
    if index:
        pairs.append(("IndexName", index))
    pairs += draw(st.lists(st.sampled_from([("Limit", 10), ("ScanIndexForward", False),
                                            ("ProjectionExpression", "pk, sk")]), max_size=2, unique=True))
    return draw(st.permutations(pairs))


@st.composite
def plain_query_bodies(draw):
    """A Query in the usual shape (plain_query_members) with no escape."""
    style = (False,) + draw(styles)[1:]
    return draw(spaces) + render(Obj(draw(plain_query_members())), style) + draw(spaces)


@st.composite
def near_plain_query_bodies(draw):
    """A Query in the usual shape with one member changed, or there twice
    (the changes the fast shape must see, in bodies it mostly answers)."""
    pairs = draw(plain_query_members())
    name, values = draw(st.sampled_from([
        ("ExpressionAttributeNames", name_maps), ("ExpressionAttributeValues", value_maps),
        ("KeyConditionExpression", key_conditions()), ("IndexName", index_names),
        ("KeyConditions", key_condition_members), ("TableName", query_tables)]))
    if draw(st.booleans()):
        pairs = [(n, v) for n, v in pairs if n != name]
    pairs.insert(draw(st.integers(0, len(pairs))), (name, draw(values)))
    return draw(spaces) + render(Obj(pairs), draw(styles)) + draw(spaces)


@st.composite
def mutated_queries(draw):
    """A Query body cut short, or with one byte changed or inserted."""
    body = draw(st.one_of(query_bodies(), near_plain_query_bodies(), plain_query_bodies()))
    at = draw(st.integers(0, len(body)))
    kind = draw(st.sampled_from(["cut", "change", "insert"]))
    byte = bytes([draw(st.sampled_from(b'{}[]",:\\ u0e-.=#\t\x00\x1c\x80\xc2\xa0\xff'))])
    if kind == "cut":
        return body[:at]
    if kind == "change":
        return body[:at] + byte + body[at + 1:]
    return body[:at] + byte + body[at:]


QUERY = b'{"TableName":"rng","KeyConditionExpression":"pk = :v","ExpressionAttributeValues":{":v":{"S":"abc"}}}'


def query(expression, values=b'{":v":{"S":"abc"}}', names=None, table=b"rng", extra=b""):
    """A Query body with these members (bytes of JSON but the expression's text)."""
    body = b'{"TableName":"%s","KeyConditionExpression":%s,"ExpressionAttributeValues":%s' % (
        table, json.dumps(expression, ensure_ascii=False).encode(), values)
    if names is not None:
        body += b',"ExpressionAttributeNames":' + names
    return body + extra + b"}"


@many
@given(st.one_of(query_bodies(), near_plain_query_bodies()))
@example(QUERY)
@example(query("sk = :s AND pk = :v", b'{":s":{"S":"x"},":v":{"S":"abc"}}'))
@example(query("pk = :v AND sk > :s", b'{":s":{"S":"x"},":v":{"S":"abc"}}'))
@example(query("#p = :v", names=b'{"#p":"pk"}'))
@example(query("#p = :v", names=b'{"#p":"sk"}'))
@example(query("#p = :v"))
@example(query("pk = :v", names=b'{"pk":"sk"}'))
@example(query("pk = :v", names=b'{"pk":"sk","pk":"pk"}'))
@example(query("pk = :v", names=b'{"p\\u006b":"sk"}'))
@example(query("#p = :v", names=b'{"#p":"p\\u006b"}'))
@example(query("pk = :v", names=b"null"))
@example(query("pk = :v", names=b"{}"))
@example(query("pk = :w"))
@example(query("pk = :v", b'{":v":{"S":"a"},":v":{"S":"b"}}'))
@example(query("pk = :v", b'{":v":{"N":"1"}}'))
@example(query("pk = :v", b'{":v":{"B":"YQ=="}}'))
@example(query("pk\t= :v"))
@example(query("pk =\x1c:v"))
@example(query("pk\xa0= :v"))
@example(query("pk = :v)"))
@example(query("(pk = :v)"))
@example(query("pk = :v", extra=b',"IndexName":"by_g"'))
@example(query("g = :v", table=b"idx", extra=b',"IndexName":"by_g"'))
@example(query("pk = :v", table=b"idx", extra=b',"IndexName":"by_l"'))
@example(query("n = :v", table=b"idx", extra=b',"IndexName":"by_n"'))
@example(query("g = :v", table=b"idx", extra=b',"IndexName":null'))
@example(query("pk = :v", extra=b',"KeyConditions":{}'))
@example(query("pk = :v", extra=b',"KeyConditionExpression":"pk = :v"'))
def test_query_bodies(body):
    check_query(body)


@many
@given(mutated_queries())
@example(QUERY[:-1])
@example(QUERY + b"x")
@example(QUERY + QUERY)
@example(b"[" + QUERY + b"]")
def test_malformed_query_bodies(body):
    check_query(body)


def test_every_query_truncation():
    body = (b' {"ExpressionAttributeValues" : {":s":{"S":"x"}, ":v":{"S":"\xc3\xa9"}}, "TableName":"idx",\n'
            b'"KeyConditionExpression": " #s > :s  AND #h = :v", "IndexName": "by_g",'
            b'"ExpressionAttributeNames": {"#h": "g", "#s": "sk"}, "Limit": 1e+10}\n')
    assert check_query(body)[0] >= 0
    for n in range(len(body)):
        check_query(body[:n])


def test_query_hash_key_names_utf8_cannot_hold():
    tables = {"rng": types.SimpleNamespace(hash_type="S", hash_key="\ud800")}
    assert wire_query_owner(QUERY, tables, DB.ring) == -1


@many
@given(plain_query_bodies())
def test_plain_queries_are_answered(body):
    got, want = check_query(body)
    assert got >= 0 and got == want
