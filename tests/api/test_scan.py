"""Scan, embedded and over HTTP (see conftest): token order, paging, segments, filters, errors."""

import pytest


from api_helpers import raises


@pytest.fixture
def filled(ddb, make_table):
    name = make_table(hash_key=("pk", "S"), range_key=("sk", "N"))
    for k in range(9):
        for i in range(3):
            ddb.call("PutItem", TableName=name,
                     Item={"pk": {"S": f"k{k}"}, "sk": {"N": str(i)}, "n": {"N": str(k * 3 + i)}})
    return name


def _key(item):
    return item["pk"]["S"], item["sk"]["N"]


def _all(ddb, name, **extra):
    seen, start = [], None
    while True:
        out = ddb.call("Scan", TableName=name, **extra, **({"ExclusiveStartKey": start} if start else {}))
        seen += out.get("Items", [])
        start = out.get("LastEvaluatedKey")
        if start is None:
            return seen


def test_scan_returns_every_item_in_one_stable_order(ddb, filled):
    # A Scan returns every item once; the same table scans in the same order.
    items = ddb.call("Scan", TableName=filled)["Items"]
    assert len(items) == 27 and len({_key(i) for i in items}) == 27
    assert [_key(i) for i in ddb.call("Scan", TableName=filled)["Items"]] == [_key(i) for i in items]
    # Items of one partition key come together, in sort-key order.
    order = [_key(i) for i in items]
    for k in range(9):
        positions = [order.index((f"k{k}", str(i))) for i in range(3)]
        assert positions == list(range(positions[0], positions[0] + 3))


def test_scan_pagination_every_page_size(ddb, filled):
    # ExclusiveStartKey resumes exactly: every page size sees every item exactly once, in order.
    full = [_key(i) for i in ddb.call("Scan", TableName=filled)["Items"]]
    for limit in (1, 2, 4, 5, 13, 26, 27, 28):
        assert [_key(i) for i in _all(ddb, filled, Limit=limit)] == full, limit


def test_scan_parallel_segments_cover_every_item_once(ddb, filled):
    # Segments are disjoint slices of the token space: together they hold every item once.
    full = sorted(_key(i) for i in ddb.call("Scan", TableName=filled)["Items"])
    for total in (1, 2, 3, 7, 40):
        seen = []
        for segment in range(total):
            seen += [_key(i) for i in _all(ddb, filled, Segment=segment, TotalSegments=total, Limit=2)]
        assert sorted(seen) == full, total


def test_scan_filter_limit_and_count(ddb, filled):
    # Limit counts items evaluated; Count is after the filter; Select=COUNT omits Items.
    out = ddb.call("Scan", TableName=filled, Limit=10, FilterExpression="n < :x",
                   ExpressionAttributeValues={":x": {"N": "0"}})
    assert out["ScannedCount"] == 10 and out["Count"] == 0 and "LastEvaluatedKey" in out
    total = 0
    for item in _all(ddb, filled, FilterExpression="n >= :x", ExpressionAttributeValues={":x": {"N": "20"}}):
        total += 1
        assert int(item["n"]["N"]) >= 20
    assert total == 7
    out = ddb.call("Scan", TableName=filled, Select="COUNT")
    assert out["Count"] == 27 and "Items" not in out


def test_scan_projection(ddb, filled):
    # ProjectionExpression returns only the named attributes.
    out = ddb.call("Scan", TableName=filled, ProjectionExpression="n", Limit=3)
    assert all(set(item) == {"n"} for item in out["Items"])


def test_scan_request_errors(ddb, filled):
    # Segment/TotalSegments, Select and ExclusiveStartKey misuse, with DynamoDB's messages.
    v = "ValidationException"
    raises(ddb, v, "The TotalSegments parameter is required but was not present in the request when Segment "
           "parameter is present", "Scan", TableName=filled, Segment=1)
    raises(ddb, v, "The Segment parameter is required but was not present in the request when parameter "
           "TotalSegments is present", "Scan", TableName=filled, TotalSegments=2)
    raises(ddb, v, "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
           "Segment: 2 is not less than TotalSegments: 2", "Scan", TableName=filled, Segment=2, TotalSegments=2)
    raises(ddb, v, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName", "Scan",
           TableName=filled, Select="ALL_PROJECTED_ATTRIBUTES")
    raises(ddb, v, "Cannot specify the ProjectionExpression when choosing to get ALL_ATTRIBUTES", "Scan",
           TableName=filled, Select="ALL_ATTRIBUTES", ProjectionExpression="n")
    raises(ddb, v, "The provided starting key is invalid: The provided key element does not match the schema",
           "Scan", TableName=filled, ExclusiveStartKey={"pk": {"N": "1"}, "sk": {"N": "1"}})
    raises(ddb, v, "The provided starting key is invalid", "Scan", TableName=filled,
           ExclusiveStartKey={"pk": {"S": "k1"}})
    raises(ddb, v, "The table does not have the specified index: nope", "Scan", TableName=filled, IndexName="nope")
    raises(ddb, v, "Can not use both expression and non-expression parameters in the same request: "
           "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}",
           "Scan", TableName=filled, AttributesToGet=["n"], ProjectionExpression="n")


def test_scan_legacy_filter(ddb, filled):
    # ScanFilter with ConditionalOperator=OR selects items matching either condition.
    items = _all(ddb, filled, ScanFilter={"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "2"}]},
                                          "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "k8"}]}},
                 ConditionalOperator="OR", AttributesToGet=["n"])
    assert sorted(int(i["n"]["N"]) for i in items) == [0, 1, 24, 25, 26]
