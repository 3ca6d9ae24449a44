"""Query, embedded and over HTTP (see conftest): key conditions, order, paging, filters, Select."""

import pytest

import kvstore

from api_helpers import raises


def _fill(ddb, name, n=10, pk="a"):
    for i in range(n):
        ddb.call("PutItem", TableName=name, Item={"pk": {"S": pk}, "sk": {"N": str(i)}, "v": {"S": f"v{i}"}})


def _q(ddb, name, kce, values, **extra):
    return ddb.call("Query", TableName=name, KeyConditionExpression=kce, ExpressionAttributeValues=values, **extra)


@pytest.fixture
def ranged(make_table):
    return make_table(hash_key=("pk", "S"), range_key=("sk", "N"))


def test_query_sort_key_operators(ddb, ranged):
    # DynamoDB supports = < <= > >= BETWEEN on the sort key, in sort-key order.
    _fill(ddb, ranged)
    _fill(ddb, ranged, 3, pk="b")
    a = {":p": {"S": "a"}}

    def sks(kce, **values):
        out = _q(ddb, ranged, kce, {**a, **values})
        return [int(item["sk"]["N"]) for item in out["Items"]]

    assert sks("pk = :p") == list(range(10))
    assert sks("pk = :p AND sk = :x", **{":x": {"N": "4"}}) == [4]
    assert sks("pk = :p AND sk < :x", **{":x": {"N": "4"}}) == [0, 1, 2, 3]
    assert sks("pk = :p AND sk <= :x", **{":x": {"N": "4"}}) == [0, 1, 2, 3, 4]
    assert sks("pk = :p AND sk > :x", **{":x": {"N": "7"}}) == [8, 9]
    assert sks("pk = :p AND sk >= :x", **{":x": {"N": "7"}}) == [7, 8, 9]
    assert sks("pk = :p AND sk BETWEEN :x AND :y", **{":x": {"N": "2"}, ":y": {"N": "5"}}) == [2, 3, 4, 5]
    assert sks(":x > sk AND pk = :p", **{":x": {"N": "2"}}) == [0, 1]  # operands either side


def test_query_begins_with_on_string_sort_key(ddb, make_table):
    # begins_with selects the sort keys with that prefix, in UTF-8 byte order.
    name = make_table(hash_key=("pk", "S"), range_key=("sk", "S"))
    for sk in ["a", "ab", "abc", "abd", "b", "aa\u00e9", "ac"]:
        ddb.call("PutItem", TableName=name, Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    out = _q(ddb, name, "pk = :p AND begins_with(sk, :s)", {":p": {"S": "p"}, ":s": {"S": "ab"}})
    assert [i["sk"]["S"] for i in out["Items"]] == ["ab", "abc", "abd"]


def test_query_scan_index_forward_false_reverses(ddb, ranged):
    # ScanIndexForward=false returns the items in descending sort-key order.
    _fill(ddb, ranged, 5)
    out = _q(ddb, ranged, "pk = :p", {":p": {"S": "a"}}, ScanIndexForward=False)
    assert [i["sk"]["N"] for i in out["Items"]] == ["4", "3", "2", "1", "0"]


@pytest.mark.parametrize("forward", [True, False])
def test_query_pagination_every_page_size(ddb, ranged, forward):
    # Paging with Limit and ExclusiveStartKey sees every item exactly once, in order.
    _fill(ddb, ranged, 7)
    expected = [str(i) for i in range(7)]
    if not forward:
        expected.reverse()
    for limit in range(1, 9):
        seen, start, pages = [], None, 0
        while True:
            extra = {"ExclusiveStartKey": start} if start else {}
            out = _q(ddb, ranged, "pk = :p AND sk >= :z", {":p": {"S": "a"}, ":z": {"N": "0"}},
                     Limit=limit, ScanIndexForward=forward, **extra)
            pages += 1
            assert out["ScannedCount"] == out["Count"] <= limit
            seen += [i["sk"]["N"] for i in out["Items"]]
            start = out.get("LastEvaluatedKey")
            if start is None:
                break
            assert start == {"pk": {"S": "a"}, "sk": {"N": seen[-1]}}
        assert seen == expected, limit
        assert pages == 7 // limit + 1


def test_query_filter_counts_before_filter(ddb, ranged):
    # Limit counts items evaluated; Count is after the FilterExpression, ScannedCount before.
    _fill(ddb, ranged, 10)
    out = _q(ddb, ranged, "pk = :p", {":p": {"S": "a"}, ":v": {"S": "v3"}},
             FilterExpression="v <> :v", Limit=5)
    assert out["ScannedCount"] == 5
    assert out["Count"] == 4
    assert out["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "4"}}


def test_query_projection_and_select_count(ddb, ranged):
    # ProjectionExpression picks attributes; Select=COUNT answers without Items.
    _fill(ddb, ranged, 3)
    out = _q(ddb, ranged, "pk = :p", {":p": {"S": "a"}}, ProjectionExpression="#v",
             ExpressionAttributeNames={"#v": "v"})
    assert out["Items"] == [{"v": {"S": "v0"}}, {"v": {"S": "v1"}}, {"v": {"S": "v2"}}]
    out = _q(ddb, ranged, "pk = :p", {":p": {"S": "a"}}, Select="COUNT")
    assert "Items" not in out and out["Count"] == 3 and out["ScannedCount"] == 3


def test_query_page_stops_at_one_megabyte(ddb, ranged):
    # A page ends once 1 MB has been read (measured before the filter).
    big = "x" * 100_000
    for i in range(14):
        ddb.call("PutItem", TableName=ranged, Item={"pk": {"S": "a"}, "sk": {"N": str(i)}, "d": {"S": big}})
    out = _q(ddb, ranged, "pk = :p", {":p": {"S": "a"}, ":n": {"S": "none"}}, FilterExpression="d = :n")
    assert out["Count"] == 0
    assert out["ScannedCount"] == 11  # 11 items of ~100 KB pass 1 MB
    assert out["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "10"}}
    rest = _q(ddb, ranged, "pk = :p", {":p": {"S": "a"}, ":n": {"S": "none"}}, FilterExpression="d = :n",
              ExclusiveStartKey=out["LastEvaluatedKey"])
    assert rest["ScannedCount"] == 3 and "LastEvaluatedKey" not in rest


def test_query_hash_only_table(ddb, make_table):
    # On a table without a sort key, Query returns the one item of the key.
    name = make_table(hash_key=("pk", "N"))
    ddb.call("PutItem", TableName=name, Item={"pk": {"N": "1"}, "x": {"S": "y"}})
    ddb.call("PutItem", TableName=name, Item={"pk": {"N": "2"}})
    out = _q(ddb, name, "pk = :p", {":p": {"N": "1.0"}})
    assert out["Items"] == [{"pk": {"N": "1"}, "x": {"S": "y"}}]


def test_query_key_condition_errors(ddb, ranged):
    # DynamoDB refuses key conditions it cannot answer from the key, each with its message.
    p = {":p": {"S": "a"}}
    v = "ValidationException"
    cases = [
        ("pk = :p OR sk = :n", {**p, ":n": {"N": "1"}}, "Invalid operator used in KeyConditionExpression: OR"),
        ("pk = :p AND sk <> :n", {**p, ":n": {"N": "1"}}, "Invalid operator used in KeyConditionExpression: <>"),
        ("pk = :p AND sk IN (:n)", {**p, ":n": {"N": "1"}}, "Invalid operator used in KeyConditionExpression: IN"),
        ("pk = :p AND attribute_exists(sk)", p, "Invalid operator used in KeyConditionExpression: attribute_exists"),
        ("pk = :p AND pk = :p", p, "KeyConditionExpressions must only contain one condition per key"),
        ("pk = :p AND sk = pk", p, "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
        ("pk = :p AND sk.x = :p", p, "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("pk < :p", p, "Query key condition not supported"),
        ("sk = :n", {":n": {"N": "1"}}, "Query condition missed key schema element: pk"),
        ("pk = :p AND colour = :p", p, "Query condition missed key schema element: sk"),
        ("pk = :n", {":n": {"N": "1"}}, "One or more parameter values were invalid: Condition parameter type does not match schema type"),
        ("pk = :p AND size(sk) = :n", {**p, ":n": {"N": "1"}}, "KeyConditionExpressions cannot contain nested operations"),
    ]
    for kce, values, message in cases:
        raises(ddb, v, message, "Query", TableName=ranged, KeyConditionExpression=kce,
               ExpressionAttributeValues=values)


def test_query_request_errors(ddb, ranged):
    # Missing key conditions, unknown index, key attributes in the filter, Select misuse.
    v = "ValidationException"
    raises(ddb, v, "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
           "Query", TableName=ranged)
    base = {"TableName": ranged, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "a"}}}
    raises(ddb, v, "The table does not have the specified index: nope", "Query", IndexName="nope", **base)
    raises(ddb, v, "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk",
           "Query", FilterExpression="sk > :p", **base)
    raises(ddb, v, "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using "
           "an IndexName", "Query", Select="ALL_PROJECTED_ATTRIBUTES", **base)
    raises(ddb, v, "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when "
           "choosing to get SPECIFIC_ATTRIBUTES", "Query", Select="SPECIFIC_ATTRIBUTES", **base)
    raises(ddb, v, "1 validation error detected: Cannot specify the ProjectionExpression when choosing to get "
           "only the Count", "Query", Select="COUNT", ProjectionExpression="v", **base)
    raises(ddb, "ResourceNotFoundException", "Requested resource not found", "Query",
           **{**base, "TableName": "missing_table"})


def test_query_exclusive_start_key_errors(ddb, ranged):
    # An ExclusiveStartKey must be a key of the schema, inside the key condition.
    base = {"TableName": ranged, "ExpressionAttributeValues": {":p": {"S": "a"}, ":n": {"N": "5"}},
            "KeyConditionExpression": "pk = :p AND sk > :n"}
    v = "ValidationException"
    raises(ddb, v, "The provided starting key is invalid", "Query",
           ExclusiveStartKey={"pk": {"S": "a"}}, **base)
    raises(ddb, v, "The provided starting key is invalid: The provided key element does not match the schema",
           "Query", ExclusiveStartKey={"pk": {"S": "a"}, "sk": {"S": "x"}}, **base)
    raises(ddb, v, "The provided starting key does not match the range key predicate", "Query",
           ExclusiveStartKey={"pk": {"S": "a"}, "sk": {"N": "1"}}, **base)
    raises(ddb, v, "The provided starting key is outside query boundaries based on provided conditions", "Query",
           ExclusiveStartKey={"pk": {"S": "b"}, "sk": {"N": "7"}}, **base)


def test_query_costs_log_n_plus_k_entries():
    # A Query reads only its own items: one partition's query(), k entries, no scan.
    db = kvstore.Database()
    db.request("CreateTable", {
        "TableName": "cost", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
    })
    for k in range(60):
        for i in range(40):
            db.request("PutItem", {"TableName": "cost", "Item": {"pk": {"S": f"k{k}"}, "sk": {"N": str(i)}}})

    class Counting:
        def __init__(self, partition):
            self.partition = partition
            self.queries = self.entries = self.scans = 0

        def query(self, *args):
            self.queries += 1
            for pair in self.partition.query(*args):
                self.entries += 1
                yield pair

        def scan(self, *args):
            self.scans += 1
            return self.partition.scan(*args)

        def __getattr__(self, name):
            return getattr(self.partition, name)

    table = db.tables["cost"]
    table.partitions = {i: Counting(p) for i, p in table.partitions.items()}
    out = db.request("Query", {"TableName": "cost", "KeyConditionExpression": "pk = :p AND sk BETWEEN :a AND :b",
                               "ExpressionAttributeValues": {":p": {"S": "k7"}, ":a": {"N": "10"}, ":b": {"N": "19"}}})
    assert out["Count"] == 10
    counters = list(table.partitions.values())
    assert sum(c.queries for c in counters) == 1
    assert sum(c.entries for c in counters) == 10
    assert sum(c.scans for c in counters) == 0


def test_query_legacy_parameters(ddb, ranged):
    # KeyConditions, QueryFilter and AttributesToGet work as their expression forms do.
    _fill(ddb, ranged, 6)
    out = ddb.call("Query", TableName=ranged,
                   KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
                                  "sk": {"ComparisonOperator": "BETWEEN",
                                         "AttributeValueList": [{"N": "1"}, {"N": "4"}]}},
                   QueryFilter={"v": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "v2"}]}},
                   AttributesToGet=["sk"])
    assert out["Items"] == [{"sk": {"N": "1"}}, {"sk": {"N": "3"}}, {"sk": {"N": "4"}}]
    assert out["ScannedCount"] == 4
    raises(ddb, "ValidationException", "Attempted conditional constraint is not an indexable operation", "Query",
           TableName=ranged, KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
                                            "sk": {"ComparisonOperator": "NOT_NULL"}})
    raises(ddb, "ValidationException", "QueryFilter can only contain non-primary key attributes: Primary key "
           "attribute: sk", "Query", TableName=ranged,
           KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]}},
           QueryFilter={"sk": {"ComparisonOperator": "NOT_NULL"}})
