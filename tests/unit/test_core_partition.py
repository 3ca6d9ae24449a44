"""Partition: the storage of one ring partition, checked case by case and by
a seeded stress test against a model (a dict plus sorted()), with
Partition._check() asserting every invariant after every step.  Items come
in both forms: put as themselves, and stored as their JSON alone by the
fast writes (``store_writes``), which every reader decodes.

A stress failure names its seed; rerun just that seed with
KVSTORE_STRESS_SEED=<seed> python -m pytest tests/unit/test_core_partition.py -q
"""

import itertools
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore._core import Partition, json_encode, prefix_bounds, store_item, store_writes


def store_json(part, token, hk, sk, item, size):
    """The server's fast write of ``item`` (store_writes: its JSON alone when exact)."""
    store_writes([(None, None, item, size)], [(part, token, hk, sk)])


def no_encode(item):
    raise AssertionError("encoded %r: its stored JSON was expected" % (item,))


def fill(part, rows):
    for token, hk, sk in rows:
        part.put(token, hk, sk, {"k": [hk, sk]}, len(hk) + len(sk))
    part._check()


def test_partition_put_get_delete_return_old_items():
    # put and delete answer with the item they replaced or removed (ReturnValues ALL_OLD).
    p = Partition()
    a, b = {"v": 1}, {"v": 2}
    assert p.put(9, b"h", b"s", a, 10) is None
    assert p.get(b"h", b"s") is a
    assert p.put(9, b"h", b"s", b, 4) is a
    assert p.get(b"h", b"s") is b
    assert (len(p), p.item_count(), p.size_bytes) == (1, 1, 4)
    assert p.delete(b"h", b"s") is b
    assert p.delete(b"h", b"s") is None
    assert p.get(b"h", b"s") is None and p.get(b"nope", b"") is None
    assert (len(p), p.size_bytes, p.collection_size(b"h")) == (0, 0, 0)
    p._check()


def test_partition_sizes_add_up_per_collection():
    # size_bytes and collection_size follow every put, overwrite and delete.
    p = Partition()
    p.put(1, b"a", b"1", {}, 100)
    p.put(1, b"a", b"2", {}, 50)
    p.put(2, b"b", b"", {}, 7)
    p.put(1, b"a", b"1", {}, 30)
    assert (p.collection_size(b"a"), p.collection_size(b"b"), p.size_bytes) == (80, 7, 87)
    p.delete(b"a", b"2")
    assert (p.collection_size(b"a"), p.size_bytes, len(p)) == (30, 37, 2)
    p._check()


def test_partition_query_bounds_direction_and_resume():
    # Query returns one collection's items between bounds, either direction, resuming after a key.
    p = Partition()
    sks = [b"", b"\x00", b"a", b"ab", b"abc", b"b", b"\xff"]
    for sk in reversed(sks):
        p.put(5, b"h", sk, sk, 1)
    p.put(5, b"other", b"a", "x", 1)
    q = lambda *a, **k: [sk for sk, _ in p.query(b"h", *a, **k)]
    assert q() == sks
    assert q(reverse=True) == sks[::-1]
    assert q(b"a", b"b") == [b"a", b"ab", b"abc", b"b"]
    assert q(b"a", b"b", False, False) == [b"ab", b"abc"]
    assert q(b"a", b"b", reverse=True, start_after=b"abc") == [b"ab", b"a"]
    assert q(start_after=b"ab") == [b"abc", b"b", b"\xff"]
    assert q(b"b", start_after=b"a") == [b"b", b"\xff"]
    assert q(b"b", b"a") == []
    assert all(sk == item for sk, item in p.query(b"h"))
    assert list(p.query(b"missing")) == []


def test_partition_query_single_item_collection():
    # A one-item collection (every hash-only table) still honours bounds and resume.
    p = Partition()
    p.put(3, b"h", b"m", "item", 1)
    q = lambda *a, **k: [sk for sk, _ in p.query(b"h", *a, **k)]
    assert q() == [b"m"] and q(reverse=True) == [b"m"]
    assert q(b"m", b"m") == [b"m"]
    assert q(b"m", None, False) == [] and q(None, b"m", True, False) == []
    assert q(b"n") == [] and q(None, b"l") == []
    assert q(start_after=b"m") == [] and q(start_after=b"l") == [b"m"]
    assert q(reverse=True, start_after=b"n") == [b"m"] and q(reverse=True, start_after=b"m") == []


@pytest.mark.parametrize(
    "prefix,lo,hi",
    [(b"ab", b"ab", b"ac"), (b"a\xff", b"a\xff", b"b"), (b"a\xff\xff", b"a\xff\xff", b"b"),
     (b"\xff", b"\xff", None), (b"", b"", None), (b"\x00", b"\x00", b"\x01")],
)
def test_prefix_bounds_cover_exactly_the_prefixed_keys(prefix, lo, hi):
    # begins_with(sk, prefix) is the half-open byte range [lo, hi).
    assert prefix_bounds(prefix) == (lo, hi) == Partition.prefix_bounds(prefix)
    for s in [prefix, prefix + b"\x00", prefix + b"\xff\xff", b"a", b"ab", b"ac", b"b", b"\xff", b""]:
        inside = s >= lo and (hi is None or s < hi)
        assert inside == s.startswith(prefix), s


def test_partition_scan_orders_by_token_then_keys_and_resumes_anywhere():
    # Scan walks (token, hk, sk) in order; ExclusiveStartKey may name a deleted item.
    p = Partition()
    rows = [(2**64 - 1, b"z", b""), (0, b"b", b"2"), (0, b"b", b"1"), (0, b"a", b"9"), (7, b"", b"x"), (7, b"", b"")]
    fill(p, rows)
    order = sorted(rows)
    assert [r[:3] for r in p.scan()] == order
    for i, pos in enumerate(order):
        assert [r[:3] for r in p.scan(pos)] == order[i + 1:]
    p.delete(b"b", b"1")
    assert [r[:3] for r in p.scan((0, b"b", b"1"))] == [(0, b"b", b"2")] + order[3:]
    assert [r[:3] for r in p.scan((0, b"c", b""))] == order[3:]       # never stored
    assert [r[:3] for r in p.scan((2**64 - 1, b"z", b""))] == []
    assert [r[3] for r in p.scan()][0] == {"k": [b"a", b"9"]}


def test_partition_rejects_misuse():
    # The engine's mistakes surface as plain Python errors, and leave the partition intact.
    p = Partition()
    p.put(5, b"h", b"", {}, 1)
    with pytest.raises(TypeError):
        p.put(5, b"h", b"x", None, 1)
    with pytest.raises(ValueError):
        p.put(5, b"h", b"x", {}, -1)
    with pytest.raises(ValueError):
        p.put(6, b"h", b"x", {}, 1)                 # one partition key has one token
    with pytest.raises(OverflowError):
        p.put(2**64, b"new", b"", {}, 1)
    with pytest.raises(TypeError):
        p.get("h", b"")
    assert len(p) == 1 and p.size_bytes == 1
    p._check()


def test_partition_large_collection_matches_model():
    # Thousands of sort keys in one collection (SortedList sublists split and merge).
    rnd = random.Random(3)
    p = Partition()
    keys = list({rnd.randbytes(rnd.randrange(1, 6)) for _ in range(6000)})
    rnd.shuffle(keys)
    for k in keys:
        p.put(42, b"big", k, k, len(k))
    for k in keys[: len(keys) // 2]:
        assert p.delete(b"big", k) == k
    p._check()
    live = sorted(keys[len(keys) // 2:])
    assert [sk for sk, _ in p.query(b"big")] == live
    lo, hi = sorted(rnd.sample(live, 2))
    assert [sk for sk, _ in p.query(b"big", lo, hi, False, True, True)] == [k for k in reversed(live) if lo < k <= hi]
    assert p.collection_size(b"big") == sum(map(len, live)) == p.size_bytes


# --------------------------------------------------------------------------
# Items stored as their JSON alone
# --------------------------------------------------------------------------


def test_partition_json_stored_item_reads_through_every_accessor():
    # A fast write's item: every dict reader decodes it (equal, a new dict
    # each time), every raw reader answers its stored JSON without encoding.
    p = Partition()
    a = {"id": {"S": "h"}, "m": {"M": {"x": {"L": [{"N": "1"}, {"NULL": True}, {"BOOL": False}]}}}}
    store_json(p, 7, b"h", b"", a, 40)
    p._check()
    got = p.get(b"h", b"")
    assert got == a and got is not a and p.get(b"h", b"") is not got
    assert p.get_sized(b"h", b"") == (a, 40) and (len(p), p.size_bytes) == (1, 40)
    assert list(p.query(b"h")) == [(b"", a)] and list(p.scan()) == [(7, b"h", b"", a)]
    raw = p.get_raw(b"h", b"", no_encode)
    assert raw == json_encode(a) and p.get_raw(b"h", b"", no_encode) is raw
    assert p.query_raw(b"h", None, None, True, True, False, no_encode) == [raw]
    b = {"id": {"S": "h"}, "v": {"S": "b"}}
    assert p.put(7, b"h", b"", b, 10) == a                 # the replaced item, decoded
    assert p.get(b"h", b"") is b and p.size_bytes == 10
    store_json(p, 7, b"h", b"", a, 40)                     # replaced, unread
    assert p.get(b"h", b"") == a and p.size_bytes == 40
    assert p.delete(b"h", b"") == a and len(p) == 0 and p.get_raw(b"h", b"", no_encode) is None
    p._check()


def test_partition_json_stored_items_survive_promotion_and_demotion():
    # Promotion and demotion carry the stored JSON over (it is the item).
    p = Partition()
    a, b, c = ({"k": {"S": s}} for s in "abc")
    store_json(p, 3, b"h", b"1", a, 5)
    p.put(3, b"h", b"2", b, 6)                             # a second item: promoted
    store_json(p, 3, b"h", b"3", c, 7)
    p._check()
    assert [item for _, item in p.query(b"h")] == [a, b, c] and p.get(b"h", b"2") is b
    assert p.get_sized(b"h", b"3") == (c, 7) and p.collection_size(b"h") == 18
    assert p.get_raw(b"h", b"1", no_encode) == json_encode(a)
    assert p.query_raw(b"h", b"3", None, True, True, True, no_encode) == [json_encode(c)]
    assert [entry[3] for entry in p.scan((3, b"h", b"1"))] == [b, c]
    assert p.put(3, b"h", b"3", b, 1, want_old=False) is None and p.get(b"h", b"3") is b
    store_json(p, 3, b"h", b"3", c, 7)
    assert p.delete(b"h", b"2") is b
    assert p.delete(b"h", b"3") == c                       # one item left: demoted
    p._check()
    assert p.get(b"h", b"1") == a and p.get_raw(b"h", b"1", no_encode) == json_encode(a)
    assert list(p.query(b"h")) == [(b"1", a)] and p.size_bytes == 5
    p.put(3, b"h", b"2", b, 6)                             # promoted again
    p.delete(b"h", b"1")
    p._check()
    assert p.get(b"h", b"2") is b and p.get(b"h", b"1") is None


@pytest.mark.parametrize("item", [
    {"id": {"S": "x"}, "b": {"B": b"\x00\xff"}},                     # bytes: JSON would give base64 text
    {"id": {"S": "x"}, "m": {"M": {"a": {"L": [{"B": b"z"}]}}}},
    {"id": {"S": "x"}, "bs": {"BS": [b"z", b"y"]}},
    {"id": {"S": "x\ud800"}},                                        # a lone surrogate: no UTF-8
])
def test_partition_stores_an_item_itself_when_its_json_is_not_exact(item):
    p = Partition()
    store_json(p, 1, b"h", b"", item, 9)
    assert p.get(b"h", b"") is item
    p._check()


def test_partition_json_form_keeps_attributes_named_like_types():
    # An attribute (or map key) named B or S is no B value: stored as JSON.
    p = Partition()
    item = {"B": {"S": "B"}, "m": {"M": {"B": {"S": "\"B\":\""}}}}
    store_json(p, 1, b"h", b"", item, 9)
    assert p.get(b"h", b"") == item and p.get(b"h", b"") is not item
    assert p.get_raw(b"h", b"", no_encode) == json_encode(item)


# Validated items, with the characters JSON escapes and the names and texts
# that look like a B or BS value's JSON.
tricky_texts = st.one_of(st.text(alphabet='B"\\:Sx\u2028é', max_size=6),
                         st.sampled_from(['"B":"', '\\"B\\":\\"', '"BS":["', "x\ud800", "\udfff"]))
fast_names = st.one_of(tricky_texts, st.sampled_from(["B", "BS", "S", "SS", "N", "M", "L"]))
fast_items = st.dictionaries(fast_names, st.recursive(
    st.one_of(st.builds(lambda v: {"S": v}, tricky_texts), st.sampled_from([{"N": "1"}, {"N": "-2.5"}]),
              st.builds(lambda v: {"BOOL": v}, st.booleans()), st.just({"NULL": True}),
              st.builds(lambda v: {"B": v}, st.binary(max_size=3)),
              st.builds(lambda v: {"BS": v}, st.lists(st.binary(max_size=3), min_size=1, max_size=2)),
              st.builds(lambda v: {"SS": v}, st.lists(tricky_texts, min_size=1, max_size=2)),
              st.sampled_from([{"NS": ["1", "2"]}, {"BS": ["eA=="]}])),
    lambda children: st.one_of(st.builds(lambda m: {"M": m}, st.dictionaries(fast_names, children, max_size=3)),
                               st.builds(lambda v: {"L": v}, st.lists(children, max_size=3))),
    max_leaves=8,
), max_size=4)


def json_exact(value):
    """Whether JSON gives ``value`` back: no bytes, no lone surrogate."""
    if type(value) is dict:
        return all(json_exact(k) and json_exact(v) for k, v in value.items())
    if type(value) is list:
        return all(map(json_exact, value))
    if type(value) is str:
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    return type(value) is not bytes


def holds_binary(av):
    """Whether an AttributeValue is or holds a B or BS value."""
    (tag, v), = av.items()
    if tag == "M":
        return any(map(holds_binary, v.values()))
    if tag == "L":
        return any(map(holds_binary, v))
    return tag in ("B", "BS")


@settings(max_examples=300, deadline=None)
@given(fast_items)
def test_partition_json_form_exactly_when_json_gives_the_item_back(item):
    # As its JSON exactly when that gives the item back; a B or BS value of
    # base64 text is stored as itself too (the JSON cannot tell it from bytes).
    as_json = json_exact(item) and not any(map(holds_binary, item.values()))
    for store in (store_json, store_item):
        p = Partition()
        store(p, 1, b"h", b"", item, 9)
        got = p.get(b"h", b"")
        assert got == item and (got is not item) == as_json
        if as_json:
            assert p.get_raw(b"h", b"", no_encode) == json_encode(item)


# --------------------------------------------------------------------------
# Stress against a model
# --------------------------------------------------------------------------

HKS = [b"", b"a", b"b", b"ab", b"\xff", b"\x00z"]
SKS = [b"", b"\x00", b"a", b"ab", b"abc", b"b", b"\x7f", b"\x80", b"\xff"]
# Few tokens, shared between partition keys, so (token, hk) ties are common.
TOKEN_CHOICES = [0, 1, 2**63, 2**64 - 1]


def bound(rnd):
    return None if rnd.random() < 0.3 else rnd.choice(SKS + [b"aa", b"c", b"\xff\xff"])


def model_query(model, hk, lo, hi, lo_inc, hi_inc, reverse, start_after):
    rows = sorted(model.get(hk, {}).items())
    out = []
    for sk, (item, _) in rows:
        if lo is not None and (sk < lo or (sk == lo and not lo_inc)):
            continue
        if hi is not None and (sk > hi or (sk == hi and not hi_inc)):
            continue
        if start_after is not None and (sk >= start_after if reverse else sk <= start_after):
            continue
        out.append((sk, item))
    return out[::-1] if reverse else out


def model_scan(model, tokens, after):
    rows = sorted((tokens[hk], hk, sk, item) for hk, coll in model.items() for sk, (item, _) in coll.items())
    return [r for r in rows if after is None or r[:3] > after]


class Json:
    """A model item stored as its JSON alone: read back equal, a new dict."""

    def __init__(self, item):
        self.item = item


def stored_as(got, want):
    """Whether the partition's answer ``got`` is the model's item ``want``:
    that very object, or for a Json an equal dict decoded anew."""
    if type(want) is Json:
        return got == want.item and got is not want.item
    return got is want


def same(got, want):
    # Compare positions by value and items with stored_as.
    return len(got) == len(want) and all(
        g[:-1] == w[:-1] and stored_as(g[-1], w[-1]) for g, w in zip(got, want)
    )


def run_stress(seed, steps):
    rnd = random.Random(seed)
    tokens = {hk: rnd.choice(TOKEN_CHOICES) for hk in HKS}
    p = Partition()
    model = {}                                   # hk -> {sk: (item, size)}
    for step in range(steps):
        op = rnd.choices(["put", "store", "delete", "get", "query", "scan"], [3, 3, 3, 2, 2, 1])[0]
        hk, sk = rnd.choice(HKS), rnd.choice(SKS)
        where = "seed %d step %d %s" % (seed, step, op)
        if op in ("put", "store"):
            item, size = {"step": {"N": str(step)}}, rnd.randrange(0, 400)
            old = model.setdefault(hk, {}).get(sk, (None, 0))[0]
            if op == "store":
                model[hk][sk] = (Json(item), size)
                store_json(p, tokens[hk], hk, sk, item, size)
            elif rnd.random() < 0.2:
                model[hk][sk] = (item, size)
                assert p.put(tokens[hk], hk, sk, item, size, want_old=False) is None, where
            else:
                model[hk][sk] = (item, size)
                assert stored_as(p.put(tokens[hk], hk, sk, item, size), old), where
        elif op == "delete":
            coll = model.get(hk, {})
            old = coll.pop(sk, (None, 0))[0]
            if not coll:
                model.pop(hk, None)
            assert stored_as(p.delete(hk, sk), old), where
        elif op == "get":
            want = model.get(hk, {}).get(sk, (None, 0))
            assert stored_as(p.get(hk, sk), want[0]), where
            got = p.get_sized(hk, sk)
            assert (got is None) if want[0] is None else (stored_as(got[0], want[0]) and got[1] == want[1]), where
        elif op == "query":
            args = (hk, bound(rnd), bound(rnd), rnd.random() < 0.5, rnd.random() < 0.5,
                    rnd.random() < 0.5, bound(rnd))
            want = model_query(model, *args)
            it = p.query(*args)
            take = rnd.choice([None, 0, 1, 2])          # the engine may stop early (Limit)
            got = list(it) if take is None else list(itertools.islice(it, take))
            assert same(got, want if take is None else want[:take]), "%s %r" % (where, args)
        else:
            after = None
            if rnd.random() < 0.7:
                h = rnd.choice(HKS)
                after = (tokens[h] if rnd.random() < 0.9 else rnd.choice(TOKEN_CHOICES), h, rnd.choice(SKS))
            assert same(list(p.scan(after)), model_scan(model, tokens, after)), "%s after=%r" % (where, after)
        try:
            p._check()
        except AssertionError as e:
            raise AssertionError("%s: %s" % (where, e)) from e
        count = sum(len(c) for c in model.values())
        total = sum(s for c in model.values() for _, s in c.values())
        assert (len(p), p.item_count(), p.size_bytes) == (count, count, total), where
        assert p.collection_size(hk) == sum(s for _, s in model.get(hk, {}).values()), where


SEEDS = [int(os.environ["KVSTORE_STRESS_SEED"])] if os.environ.get("KVSTORE_STRESS_SEED") else [1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("seed", SEEDS)
def test_partition_stress_matches_model(seed):
    # Random put/delete/get/query/scan steps agree with a dict + sorted() model, invariants hold throughout.
    run_stress(seed, 4000)


@pytest.mark.parametrize("seed", SEEDS)
def test_partition_cached_json_follows_every_change(seed):
    # get_raw/query_raw answer encode() of the item stored now, whatever put,
    # overwrite, delete, promotion and demotion came between (no stale bytes).
    import gc

    import msgspec

    encode = msgspec.json.Encoder().encode
    rnd = random.Random(seed)
    p = Partition()
    model = {}
    hks = [b"a", b"b", b"c"]
    sks = [b"", b"1", b"2", b"3"]
    tokens = {hk: i for i, hk in enumerate(hks)}
    for step in range(3000):
        hk, sk = rnd.choice(hks), rnd.choice(sks)
        action = rnd.random()
        if action < 0.2:
            item = {"v": {"N": str(step)}, "m": {"M": {"x": {"L": [{"S": "y"}]}}}}
            p.put(tokens[hk], hk, sk, item, 1)
            model[(hk, sk)] = item
            assert not gc.is_tracked(item) and not gc.is_tracked(item["m"]["M"]["x"]["L"])
        elif action < 0.4:
            item = {"v": {"N": str(step)}, "j": {"BOOL": True}}
            store_json(p, tokens[hk], hk, sk, item, 1)
            model[(hk, sk)] = item
        elif action < 0.6:
            p.delete(hk, sk)
            model.pop((hk, sk), None)
        elif action < 0.85:
            raw = p.get_raw(hk, sk, encode)
            assert raw == (encode(model[(hk, sk)]) if (hk, sk) in model else None), (seed, step)
        else:
            reverse = rnd.random() < 0.5
            lo = rnd.choice([None, b"1", b"2"])
            expected = [encode(item) for sk_, item in p.query(hk, lo, None, True, True, reverse)]
            assert p.query_raw(hk, lo, None, True, True, reverse, encode) == expected, (seed, step)
        if step % 100 == 0:
            p._check()
    p._check()
