"""kvstore.api.legacy: conversions, messages, and a seeded property test.

The property test draws random items and random legacy conditions (every
ComparisonOperator, AND/OR) and checks that the converted ConditionExpr,
run by the expression library's evaluator, agrees with the small reference
evaluator below, written from DynamoDB's "Condition" reference.
"""

import random
from decimal import Decimal

import pytest

from kvstore.api.legacy import (
    AttributeUpdates, attributes_to_get, check_no_mixing, expected_condition, legacy_condition,
)
from kvstore.api.specs import SPECS
from kvstore.errors import ValidationException
from kvstore.expressions import evaluate


def message(fn, *args):
    with pytest.raises(ValidationException) as info:
        fn(*args)
    return info.value.message


# -- the reference evaluator ----------------------------------------------------


def _kind(v):
    return next(iter(v))


def _eq(a, b):
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "N":
        return Decimal(a["N"]) == Decimal(b["N"])
    if ka == "NS":
        return {Decimal(x) for x in a["NS"]} == {Decimal(x) for x in b["NS"]}
    if ka in ("SS", "BS"):
        return set(a[ka]) == set(b[ka])
    if ka == "L":
        return len(a["L"]) == len(b["L"]) and all(_eq(x, y) for x, y in zip(a["L"], b["L"]))
    if ka == "M":
        return a["M"].keys() == b["M"].keys() and all(_eq(a["M"][k], b["M"][k]) for k in a["M"])
    return a[ka] == b[kb]


def _key(v):
    k = _kind(v)
    return Decimal(v["N"]) if k == "N" else v[k].encode() if k == "S" else v[k]


def _order(a, b):
    if _kind(a) != _kind(b) or _kind(a) not in ("S", "N"):
        return None
    x, y = _key(a), _key(b)
    return (x > y) - (x < y)


def _contains(a, b):
    ka, kb = _kind(a), _kind(b)
    if ka == "S":
        return kb == "S" and b["S"] in a["S"]
    if ka in ("SS", "NS"):
        return kb == ka[0] and any(_eq({kb: m}, b) for m in a[ka])
    if ka == "L":
        return any(_eq(m, b) for m in a["L"])
    return False


def reference(item, name, op, values):
    v = (item or {}).get(name)
    if op == "NULL":
        return v is None
    if op == "NOT_NULL":
        return v is not None
    if op == "NE":
        return v is None or not _eq(v, values[0])
    if v is None:
        return False
    if op == "EQ":
        return _eq(v, values[0])
    if op in ("LT", "LE", "GT", "GE"):
        o = _order(v, values[0])
        return o is not None and {"LT": o < 0, "LE": o <= 0, "GT": o > 0, "GE": o >= 0}[op]
    if op == "CONTAINS":
        return _contains(v, values[0])
    if op == "NOT_CONTAINS":
        return not _contains(v, values[0])
    if op == "BEGINS_WITH":
        return _kind(v) == "S" == _kind(values[0]) and v["S"].startswith(values[0]["S"])
    if op == "IN":
        return any(_eq(v, c) for c in values)
    lo, hi = _order(v, values[0]), _order(v, values[1])  # BETWEEN
    return lo is not None and hi is not None and lo >= 0 and hi <= 0


# -- random items and conditions --------------------------------------------------

NAMES = ("a", "b", "c")


def _scalar(rng, kind):
    if kind == "N":
        return {"N": str(rng.choice([-2, -1, 0, 1, 2, 3, 10]))}
    return {"S": rng.choice(["", "a", "ab", "b", "ba", "abc"])}


def _value(rng):
    kind = rng.choice(["N", "S", "S", "N", "SS", "NS", "L", "BOOL", "NULL"])
    if kind in ("N", "S"):
        return _scalar(rng, kind)
    if kind == "SS":
        return {"SS": rng.sample(["a", "b", "c"], rng.randint(1, 3))}
    if kind == "NS":
        return {"NS": rng.sample(["1", "2", "3"], rng.randint(1, 3))}
    if kind == "L":
        return {"L": [_scalar(rng, rng.choice("NS")) for _ in range(rng.randint(0, 3))]}
    return {"BOOL": rng.random() < 0.5} if kind == "BOOL" else {"NULL": True}


def _condition(rng):
    op = rng.choice(["EQ", "NE", "LT", "LE", "GT", "GE", "NULL", "NOT_NULL", "CONTAINS",
                     "NOT_CONTAINS", "BEGINS_WITH", "IN", "BETWEEN"])
    kind = rng.choice("NS")
    if op in ("NULL", "NOT_NULL"):
        values = []
    elif op == "IN":
        values = [_scalar(rng, kind) for _ in range(rng.randint(1, 3))]
    elif op == "BETWEEN":
        values = sorted([_scalar(rng, kind), _scalar(rng, kind)], key=_key)
    elif op == "BEGINS_WITH":
        values = [_scalar(rng, "S")]
    elif op in ("EQ", "NE"):
        values = [_value(rng)]
    else:
        values = [_scalar(rng, kind)]
    return op, values


def test_legacy_conditions_agree_with_reference():
    # Seeded: any disagreement prints the seed, item and conditions.
    seed = 20240611
    rng = random.Random(seed)
    for step in range(3000):
        item = None if rng.random() < 0.1 else {n: _value(rng) for n in NAMES if rng.random() < 0.7}
        conditions = {n: _condition(rng) for n in rng.sample(NAMES, rng.randint(1, 3))}
        operator = rng.choice([None, "AND", "OR"]) if len(conditions) > 1 else None
        wire = {n: {"ComparisonOperator": op, "AttributeValueList": vals} for n, (op, vals) in conditions.items()}
        results = [reference(item, n, op, vals) for n, (op, vals) in conditions.items()]
        want = any(results) if operator == "OR" else all(results)
        got = evaluate(legacy_condition(wire, operator, "ScanFilter"), item)
        assert got == want, (seed, step, item, wire, operator)
        # The same conditions as Expected (AttributeValueList form) evaluate the same way.
        got = evaluate(expected_condition(wire, operator), item)
        assert got == want, (seed, step, item, wire, operator)


# -- unit checks ------------------------------------------------------------------


def test_expected_exists_forms():
    # Value alone and Exists true mean EQ; Exists false means the attribute is absent.
    cond = expected_condition({"a": {"Value": {"N": "1"}}, "b": {"Exists": False}}, None)
    assert evaluate(cond, {"a": {"N": "1.0"}})
    assert not evaluate(cond, {"a": {"N": "1"}, "b": {"S": "x"}})
    assert expected_condition(None, None) is None and expected_condition({}, None) is None


def test_conditional_operator_messages():
    # DynamoDB refuses ConditionalOperator without at least two conditions.
    assert message(expected_condition, {}, "OR") == "ConditionalOperator cannot be used without Filter or Expected"
    assert message(legacy_condition, {"a": {"ComparisonOperator": "NULL"}}, "AND", "QueryFilter") == (
        "ConditionalOperator can only be used when Filter or Expected has two or more elements")
    assert legacy_condition({"a": {"ComparisonOperator": "NULL"}}, None, "KeyConditions") is not None


def test_condition_values_are_validated():
    # AttributeValueList members are AttributeValues, checked with the values' messages.
    assert message(legacy_condition, {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "x"}]}},
                   None, "ScanFilter") == "The parameter cannot be converted to a numeric value: x"


def test_check_no_mixing_lists_in_dynamodb_order():
    # Legacy and expression parameters are listed in DynamoDB's fixed orders.
    req = {"AttributesToGet": ["a"], "ScanFilter": {}, "ConditionalOperator": "OR",
           "FilterExpression": "a = :a", "ProjectionExpression": "a"}
    assert message(check_no_mixing, req, SPECS["Scan"]) == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributesToGet, ScanFilter, ConditionalOperator} "
        "Expression parameters: {ProjectionExpression, FilterExpression}")
    check_no_mixing({"KeyConditions": {}, "FilterExpression": "a = :a"}, SPECS["Query"])
    assert message(check_no_mixing, {"KeyConditions": {}, "KeyConditionExpression": "a = :a"},
                   SPECS["Query"]).endswith("Non-expression parameters: {KeyConditions} "
                                            "Expression parameters: {KeyConditionExpression}")
    # A member the operation does not have is ignored.
    check_no_mixing({"ScanFilter": {}, "ConditionExpression": "x"}, SPECS["PutItem"])


def test_attribute_updates_apply_is_pure():
    # apply returns a new item and the updated paths; its inputs are untouched.
    updates = AttributeUpdates.parse({
        "n": {"Action": "ADD", "Value": {"N": "2"}},
        "s": {"Action": "DELETE", "Value": {"SS": ["a"]}},
        "x": {"Value": {"S": "new"}},
    })
    old = {"id": {"S": "k"}, "n": {"N": "1"}, "s": {"SS": ["a", "b"]}}
    snapshot = repr(old)
    new, paths = updates.apply(old, {"id": {"S": "k"}})
    assert new == {"id": {"S": "k"}, "n": {"N": "3"}, "s": {"SS": ["b"]}, "x": {"S": "new"}}
    assert paths == (("n",), ("s",), ("x",))
    assert repr(old) == snapshot
    new, _ = updates.apply(None, {"id": {"S": "k"}})
    assert new == {"id": {"S": "k"}, "n": {"N": "2"}, "x": {"S": "new"}}


def test_attribute_updates_number_limits():
    # ADD is exact in 38 digits and raises DynamoDB's number errors.
    updates = AttributeUpdates.parse({"n": {"Action": "ADD", "Value": {"N": "1E-10"}}})
    assert message(updates.apply, {"n": {"N": "1E+30"}}, {}) == (
        "Attempting to store more than 38 significant digits in a Number")


def test_attributes_to_get():
    # Names become top-level projection paths; duplicates are refused.
    assert attributes_to_get(["a", "b"]) == (("a",), ("b",))
    assert message(attributes_to_get, ["a", "a"]) == (
        "One or more parameter values were invalid: Duplicate value in attribute name: a")
