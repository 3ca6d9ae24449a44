"""``kvstore._core.route_raw_writes`` against the decoding path it stands in for.

A plain BatchWriteItem's parts (one per owner, each write in stored form)
are made either from the decoded request (``plain_write_plans``, then
``route_writes`` per table) or, when certain, straight from the request's
bytes (``route_raw_writes``).  The second must answer exactly the parts
the first makes, or None (the caller then decodes): for a body the
decoding path refuses (not JSON, a check that fails, an item twice, a
table with an index) None too.

Bodies are written out by hand so that members can repeat, names be
escaped, whitespace go anywhere and values be of any JSON type; then
mutated at the byte level.  A second property checks that the compact
bodies the SDKs send do take the raw path (else the speed is lost
silently).
"""

import json
import os
import sys

import msgspec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kvstore import api
from kvstore._core import route_raw_writes, route_writes
from kvstore.api.batch import plain_write_plans
from kvstore.values import MAX_ITEM_SIZE
from server.cluster import build_database

sys.path.insert(0, os.path.dirname(__file__))
from handwritten_json import Obj, escaped_name, render  # noqa: E402

many = settings(max_examples=300, deadline=None)


def make_db():
    """Worker 0 of 8 (its ring gives 8 owners) with tables keyed S, N, S+S
    and a table with a GSI (not writing alone)."""
    db = build_database(0, 8)
    for name, keys, extra in (
            ("tss", [("id", "HASH", "S")], {}),
            ("tnn", [("n", "HASH", "N")], {}),
            ("trr", [("pk", "HASH", "S"), ("sk", "RANGE", "S")], {}),
            ("tgg", [("id", "HASH", "S")], {"GlobalSecondaryIndexes": [{
                "IndexName": "by_x", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"}}]})):
        definitions = [{"AttributeName": a, "AttributeType": t} for a, _, t in keys]
        if extra:
            definitions.append({"AttributeName": "x", "AttributeType": "S"})
        api.dispatch(db, "CreateTable", {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST", **extra,
            "KeySchema": [{"AttributeName": a, "KeyType": k} for a, k, _ in keys],
            "AttributeDefinitions": definitions})
    return db


DB = make_db()


def decoded_parts(body):
    """The parts the decoding path makes of ``body`` (Cluster._plain_write_groups'
    forms), or None where it makes none (it then runs the general path)."""
    try:
        req = msgspec.json.decode(body)
    except Exception:
        return None
    if type(req) is not dict:
        return None
    plans = plain_write_plans(DB, req)
    if plans is None:
        return None
    groups, forms = {}, {}
    for _name, table, requests, writes in plans:
        if not table.writes_alone:
            return None
        complete = route_writes(table, requests, writes, groups, forms)
        if not complete:
            return None
    return forms


def check(body):
    got = route_raw_writes(body, DB.tables, MAX_ITEM_SIZE)
    want = decoded_parts(body)
    assert got is None or got == want, (body, got, want)
    return got, want


spaces = st.sampled_from([b"", b"", b" ", b"\n", b"\t \r\n"])
compact = (False, b",", b":")
styles = st.one_of(st.just(compact), st.just(compact), st.tuples(
    st.booleans(), st.builds(lambda a, b: a + b"," + b, spaces, spaces),
    st.builds(lambda a, b: a + b":" + b, spaces, spaces)))

# Mostly what the decoding path takes, with a fault now and then: whole
# bodies of valid requests are needed for the parts to be compared at all.
rarely = st.integers(0, 29).map(lambda n: n == 13)
plain_texts = st.text(max_size=8).filter(lambda s: not any(
    c in '"\\' or c < " " or "\ud800" <= c <= "\udfff" for c in s))
texts = st.one_of(
    plain_texts, plain_texts, plain_texts, st.sampled_from(["a" * 300, "é" * 200, "k1", "k2"]),
    st.sampled_from(["", '"', "\\", "\x00", "\x7f", "é", "😀", "\u2028", "\ud800", "/"]),
)
good_numbers = st.one_of(st.integers(-10 ** 37, 10 ** 37).map(str),
                         st.sampled_from(["1", "2", "3", "1.5", "-0.25", "0.001"]))
numbers = st.one_of(
    good_numbers, good_numbers, good_numbers, st.integers(-10 ** 45, 10 ** 45).map(str),
    st.sampled_from(["0", "-0", "1.50", "-0.0", ".5", "1e5", "007", "1.", "x", "",
                     "12345678901234567890123456789012345678", "123456789012345678901234567890123456789",
                     "0.00000000000000000000000000000000000001"]),
)
names = st.one_of(st.sampled_from(["id", "n", "pk", "sk", "x", "v", "é"]), st.sampled_from(["a", "b", "é"]),
                  st.text(max_size=3), st.sampled_from(["id", "pk", "x"]).map(escaped_name))


def values():
    good = st.one_of(
        st.builds(lambda s: Obj([("S", s)]), texts),
        st.builds(lambda s: Obj([("N", s)]), numbers),
        st.builds(lambda b: Obj([("BOOL", b)]), st.booleans()),
        st.just(Obj([("NULL", True)])),
    )
    odd = st.one_of(
        st.builds(lambda b: Obj([("BOOL", b)]), st.sampled_from([None, 1, "true"])),
        st.just(Obj([("NULL", False)])),
        st.builds(lambda s: Obj([("B", s)]), st.sampled_from(["YQ==", ""])),
        st.builds(lambda s: Obj([("SS", s)]), st.lists(texts, max_size=2)),
        st.builds(lambda s: Obj([(escaped_name("S"), s)]), texts),
        st.builds(lambda a, b: Obj([("S", a), ("S", b)]), texts, texts),
        st.sampled_from([Obj(), "x", 5, None, [Obj([("S", "a")])]]),
    )
    leaf = st.one_of(rarely, rarely).flatmap(lambda fault: odd if fault else good)
    return st.recursive(leaf, lambda children: st.one_of(
        st.builds(lambda v: Obj([("M", Obj(v))]), st.lists(st.tuples(names, children), max_size=3)),
        st.builds(lambda v: Obj([("L", v)]), st.lists(children, max_size=3)),
    ), max_leaves=4)


KEYS = {"tss": ["id"], "tnn": ["n"], "trr": ["pk", "sk"], "tgg": ["id"]}
KEY_TYPES = {"id": "S", "n": "N", "pk": "S", "sk": "S"}
many_keys = st.integers(0, 10 ** 9)
key_texts = st.one_of(many_keys.map("k{}".format), many_keys.map("é{}".format), many_keys.map("k{}".format),
                      st.sampled_from(["k1", "k2"]), texts)
key_numbers = st.one_of(many_keys.map(str), many_keys.map(str), st.sampled_from(["1", "2"]), numbers)


@st.composite
def key_value(draw, name):
    if draw(rarely):
        return draw(values())
    if KEY_TYPES.get(name) == "N" or draw(rarely):
        return Obj([("N", draw(key_numbers))])
    return Obj([("S", draw(key_texts))])


@st.composite
def key_members(draw, table):
    return [(name, draw(key_value(name))) for name in KEYS.get(table, ["id"]) if not draw(rarely)]


@st.composite
def write_requests(draw, table):
    kind = draw(st.sampled_from(["PutRequest"] * 6 + ["DeleteRequest"] * 3)) if not draw(rarely) else "Other"
    if kind == "DeleteRequest":
        key = Obj(draw(key_members(table)))
        if draw(rarely):
            key.append((draw(names), draw(key_value("x"))))
        inner = Obj([("Key", key)])
    else:
        attrs = draw(st.lists(st.tuples(names, values()), max_size=3)) + draw(key_members(table))
        inner = Obj([("Item", Obj(draw(st.permutations(attrs))))])
    if draw(rarely):
        inner.append((draw(st.sampled_from(["Item", "Key", "x"])), Obj()))
    request = Obj([(kind, inner)])
    if draw(rarely):
        request.append((draw(st.sampled_from(["PutRequest", "DeleteRequest"])), inner))
    return request


@st.composite
def bodies(draw):
    tables = draw(st.lists(st.sampled_from(["tss", "tss", "tnn", "trr", "trr"]), min_size=1, max_size=2))
    if draw(rarely):
        tables.append(draw(st.sampled_from(["tgg", "nope", "tss"])))
    request_items = Obj()
    for table in tables:
        requests = draw(st.lists(write_requests(table), min_size=0 if draw(rarely) else 1, max_size=9))
        request_items.append((table if not draw(rarely) else escaped_name(table), requests))
    top = Obj([("RequestItems", request_items)])
    if draw(rarely):
        top.insert(draw(st.integers(0, 1)), (draw(st.sampled_from(["ReturnConsumedCapacity", "RequestItems"])),
                                             draw(st.sampled_from(["NONE", Obj()]))))
    return draw(spaces) + render(top, draw(styles)) + draw(spaces)


@many
@given(bodies())
@example(b'{"RequestItems":{"tss":[{"PutRequest":{"Item":{"id":{"S":"a"}}}}]}}')
@example(b'{"RequestItems":{"tss":[{"PutRequest":{"Item":{"id":{"S":"a"},"id":{"S":"b"}}}}]}}')
@example(b'{"RequestItems":{"tss":[{"PutRequest":{"Item":{"id":{"S":"a"}}}},'
         b'{"DeleteRequest":{"Key":{"id":{"S":"a"}}}}]}}')
@example(b'{"RequestItems":{"tss":[{"PutRequest":{"Item":{"id":{"S":"a"}, "v":{"N":"1"}}}}]}}')
def test_raw_parts_are_the_decoded_parts_or_none(body):
    check(body)


@many
@given(bodies(), st.data())
def test_mutated_bodies_get_the_decoded_parts_or_none(body, data):
    at = data.draw(st.integers(0, max(len(body) - 1, 0)))
    if data.draw(st.booleans()):
        body = body[:at]
    else:
        body = body[:at] + bytes([data.draw(st.integers(0, 255))]) + body[at + 1:]
    check(body)


# -- the common shapes are taken -----------------------------------------------

plain_values = st.recursive(
    st.one_of(st.builds(lambda s: {"S": s}, st.text(max_size=8).filter(lambda s: not any(
                  c in '"\\' or c < " " or "\ud800" <= c <= "\udfff" for c in s))),
              st.builds(lambda n: {"N": str(n)}, st.integers(-10 ** 30, 10 ** 30)),
              st.just({"BOOL": True}), st.just({"NULL": True})),
    lambda children: st.one_of(st.builds(lambda v: {"L": v}, st.lists(children, max_size=3)),
                               st.builds(lambda v: {"M": v}, st.dictionaries(plain_texts.filter(bool), children, max_size=3))),
    max_leaves=8,
)


@many
@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.booleans(), st.dictionaries(
    st.sampled_from(["a", "b", "é", "payload"]), plain_values, max_size=3)), min_size=1, max_size=25,
    unique_by=lambda w: w[0]))
def test_compact_plain_batches_take_the_raw_path(writes):
    requests = []
    for k, put, attrs in writes:
        if put:
            requests.append({"PutRequest": {"Item": {"id": {"S": f"k{k}"}, **attrs}}})
        else:
            requests.append({"DeleteRequest": {"Key": {"id": {"S": f"k{k}"}}}})
    req = {"RequestItems": {"tss": requests}}
    # as msgspec and the JS SDK write it, and as botocore does (", ", ": ",
    # non-ASCII as \u escapes: those are left to the decoder)
    for body in msgspec.json.encode(req), json.dumps(req).encode():
        got, want = check(body)
        assert want is not None
        assert got is not None or b"\\u" in body


def test_a_batch_over_two_tables_and_numbers_takes_the_raw_path():
    body = msgspec.json.encode({"RequestItems": {
        "tnn": [{"PutRequest": {"Item": {"n": {"N": str(i)}, "v": {"S": "x"}}}} for i in range(10)],
        "trr": [{"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"S": f"s{i}"}}}} for i in range(15)],
    }})
    got, want = check(body)
    assert got is not None and got == want and len(got) > 1
    too_many = body.replace(b'"s14"}}}}]', b'"s14"}}}},{"DeleteRequest":{"Key":{"pk":{"S":"p"},"sk":{"S":"z"}}}}]')
    assert check(too_many) == (None, None)


def test_one_process_server_stores_a_plain_batch_from_its_bytes(monkeypatch):
    """server/app.py's handler answers a plain batch with
    ``api.RAW_PATHS``' ``batch_write_raw``: the decoding paths are not
    reached (here they would fail), and the items read back as sent; a
    batch it does not take (an index on the table) still goes to them."""
    import kvstore
    from server.app import make_handler

    db = kvstore.Database()
    for name, extra in (("plain", {}), ("indexed", {"GlobalSecondaryIndexes": [{
            "IndexName": "by_x", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}]})):
        db.request("CreateTable", {
            "TableName": name, "BillingMode": "PAY_PER_REQUEST", **extra,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]
            + ([{"AttributeName": "x", "AttributeType": "S"}] if extra else [])})
    handle = make_handler(db)
    taken = []

    def decoding_path(*args):
        taken.append(args)
        raise AssertionError("decoded")

    monkeypatch.setitem(api.FAST_PATHS, "BatchWriteItem", decoding_path)
    monkeypatch.setitem(api.OPERATIONS, "BatchWriteItem", decoding_path)
    items = [{"id": {"S": f"k{i}"}, "v": {"M": {"n": {"N": str(i)}, "s": {"S": "a b"}}}} for i in range(25)]
    requests = [{"PutRequest": {"Item": item}} for item in items]
    requests[3] = {"DeleteRequest": {"Key": {"id": {"S": "k3"}}}}
    for table in ("plain", "indexed"):
        status, body = handle(b"DynamoDB_20120810.BatchWriteItem",
                              json.dumps({"RequestItems": {table: requests}}).encode())
        if table == "plain":
            assert (status, body) == (200, b'{"UnprocessedItems":{}}') and not taken
        else:
            assert status == 500 and taken  # the decoding path, failing here on purpose
    assert db.tables["plain"].item_count == 24
    for i, item in enumerate(items):
        got = db.request("GetItem", {"TableName": "plain", "Key": {"id": item["id"]}}).get("Item")
        assert got == (None if i == 3 else item)
