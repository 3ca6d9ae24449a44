"""Validation: AttributeValues (kvstore.values) and request members
(kvstore.api.validation), on the items and requests the wrk workloads send."""

from kvstore.api.validation import validate_request
from kvstore.values import item_size, normalize_number, validate_item_with_size

PAYLOAD = "abcdefghijklmnop" * 10
ITEM = {"pk": {"S": "k0001234"}, "payload": {"S": PAYLOAD}, "n": {"N": "123456"},
        "tag": {"S": "bench"}}
NESTED = {
    "pk": {"S": "k0001234"},
    "m": {"M": {"a": {"L": [{"N": "1"}, {"S": "x"}, {"BOOL": True}]},
                "b": {"SS": ["x", "y", "z"]}, "c": {"NS": ["1", "2.5", "-3"]}}},
}


def test_validate_item_200b(benchmark):
    item, size = benchmark(validate_item_with_size, ITEM)
    assert item == ITEM and 150 < size < 250


def test_validate_item_nested(benchmark):
    benchmark(validate_item_with_size, NESTED)


def test_item_size(benchmark):
    assert benchmark(item_size, ITEM) > 0


def test_normalize_number(benchmark):
    assert benchmark(normalize_number, "0001234.5000") == "1234.5"


def test_validate_request_get(benchmark):
    req = {"TableName": "bench", "Key": {"pk": {"S": "k0001234"}}}
    assert benchmark(validate_request, "GetItem", req) is None


def test_validate_request_put(benchmark):
    req = {"TableName": "bench", "Item": ITEM}
    assert benchmark(validate_request, "PutItem", req) is None
