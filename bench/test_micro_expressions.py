"""Expressions: parse (uncached and cached), resolve, evaluate, apply."""

from kvstore.expressions import Resolver, apply_update, evaluate
from kvstore.expressions.parser import cache_clear, parse_condition, parse_update

ITEM = {"pk": {"S": "k0001234"}, "n": {"N": "42"}, "tag": {"S": "bench"},
        "m": {"M": {"x": {"L": [{"N": "1"}, {"N": "2"}]}}}}
CONDITION = "attribute_exists(pk) AND #n BETWEEN :lo AND :hi AND begins_with(tag, :p)"
NAMES = {"#n": "n"}
VALUES = {":lo": {"N": "1"}, ":hi": {"N": "100"}, ":p": {"S": "be"}}
UPDATE = "SET #n = #n + :one, m.x[0] = :v REMOVE tag"


def test_parse_condition_uncached(benchmark):
    def parse():
        cache_clear()
        return parse_condition(CONDITION)

    assert benchmark(parse) is not None


def test_parse_condition_cached(benchmark):
    parse_condition(CONDITION)
    assert benchmark(parse_condition, CONDITION) is not None


def test_parse_update_uncached(benchmark):
    def parse():
        cache_clear()
        return parse_update(UPDATE)

    assert benchmark(parse) is not None


def test_resolve_condition(benchmark):
    def resolve():
        return Resolver(NAMES, VALUES).condition(CONDITION)

    assert benchmark(resolve) is not None


def test_evaluate_condition(benchmark):
    cond = Resolver(NAMES, VALUES).condition(CONDITION)
    assert benchmark(evaluate, cond, ITEM) is True


def test_key_condition_pk_eq(benchmark):
    def resolve():
        return Resolver(None, {":pk": {"S": "p000001"}}).key_condition("pk = :pk")

    assert benchmark(resolve) is not None


def test_apply_update(benchmark):
    update = Resolver(NAMES, {":one": {"N": "1"}, ":v": {"S": "z"}}).update(UPDATE)
    new_item, _ = benchmark(apply_update, update, ITEM, ("pk",))
    assert new_item["n"] == {"N": "43"} and "tag" not in new_item
