"""Local and global secondary indexes, embedded and over HTTP: maintenance, Query and Scan."""

import pytest


from api_helpers import raises


def _key(name, kind):
    return {"AttributeName": name, "KeyType": kind}


@pytest.fixture
def indexed(make_table):
    """pk/sk table; LSI 'by_l' (KEYS_ONLY) on l; GSI 'by_g' (g, gs) INCLUDE [v]; GSI 'by_h' (h) ALL."""
    return make_table(
        hash_key=("pk", "S"), range_key=("sk", "N"),
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "l", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "gs", "AttributeType": "N"}, {"AttributeName": "h", "AttributeType": "B"},
        ],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "KeySchema": [_key("pk", "HASH"), _key("l", "RANGE")],
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_g", "KeySchema": [_key("g", "HASH"), _key("gs", "RANGE")],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["v"]}},
            {"IndexName": "by_h", "KeySchema": [_key("h", "HASH")], "Projection": {"ProjectionType": "ALL"}},
        ],
    )


def _put(ddb, name, **attrs):
    item = {}
    for k, v in attrs.items():
        item[k] = {"N": str(v)} if isinstance(v, int) else {"B": v} if isinstance(v, bytes) else {"S": v}
    ddb.call("PutItem", TableName=name, Item=item)


def _q(ddb, name, index, kce, values, **extra):
    return ddb.call("Query", TableName=name, IndexName=index, KeyConditionExpression=kce,
                    ExpressionAttributeValues=values, **extra)


def test_gsi_query_projection_order_and_sparseness(ddb, indexed):
    # A GSI answers in index sort-key order with its projected attributes; items lacking its key are absent.
    _put(ddb, indexed, pk="a", sk=1, g="G", gs=30, v="v1", w="w1")
    _put(ddb, indexed, pk="b", sk=1, g="G", gs=10, v="v2", w="w2")
    _put(ddb, indexed, pk="c", sk=1, g="G", gs=20)
    _put(ddb, indexed, pk="d", sk=1, g="G")  # no gs: not in by_g
    out = _q(ddb, indexed, "by_g", "g = :g", {":g": {"S": "G"}})
    assert [i["pk"]["S"] for i in out["Items"]] == ["b", "c", "a"]
    assert out["Items"][0] == {"pk": {"S": "b"}, "sk": {"N": "1"}, "g": {"S": "G"}, "gs": {"N": "10"},
                               "v": {"S": "v2"}}
    out = _q(ddb, indexed, "by_g", "g = :g AND gs > :x", {":g": {"S": "G"}, ":x": {"N": "15"}},
             ScanIndexForward=False)
    assert [i["pk"]["S"] for i in out["Items"]] == ["a", "c"]
    assert ddb.call("Scan", TableName=indexed, IndexName="by_g")["Count"] == 3
    described = ddb.call("DescribeTable", TableName=indexed)["Table"]
    gsis = {i["IndexName"]: i for i in described["GlobalSecondaryIndexes"]}
    assert gsis["by_g"]["ItemCount"] == 3 and gsis["by_g"]["IndexSizeBytes"] > 0
    assert gsis["by_h"]["ItemCount"] == 0 and gsis["by_h"]["IndexSizeBytes"] == 0
    assert gsis["by_g"]["IndexStatus"] == "ACTIVE"
    assert described["LocalSecondaryIndexes"][0]["ItemCount"] == 0


def test_index_follows_overwrite_update_and_delete(ddb, indexed):
    # Index entries move with the item: overwrite, key change and delete are reflected at once.
    _put(ddb, indexed, pk="a", sk=1, g="G", gs=1, h=b"\x01")
    _put(ddb, indexed, pk="a", sk=1, g="H", gs=1, h=b"\x01")
    assert _q(ddb, indexed, "by_g", "g = :g", {":g": {"S": "G"}})["Count"] == 0
    assert _q(ddb, indexed, "by_g", "g = :g", {":g": {"S": "H"}})["Count"] == 1
    assert _q(ddb, indexed, "by_h", "h = :h", {":h": {"B": b"\x01"}})["Items"][0]["g"] == {"S": "H"}
    ddb.call("DeleteItem", TableName=indexed, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert _q(ddb, indexed, "by_g", "g = :g", {":g": {"S": "H"}})["Count"] == 0
    assert ddb.call("Scan", TableName=indexed, IndexName="by_h")["Count"] == 0


def test_gsi_pagination_with_shared_index_keys(ddb, indexed):
    # Items sharing one GSI key page exactly once each; LastEvaluatedKey holds table and index keys.
    for i in range(7):
        _put(ddb, indexed, pk=f"p{i}", sk=i % 2, g="G", gs=5)
    for limit in range(1, 9):
        seen, start = [], None
        while True:
            out = _q(ddb, indexed, "by_g", "g = :g", {":g": {"S": "G"}}, Limit=limit,
                     **({"ExclusiveStartKey": start} if start else {}))
            seen += [(i["pk"]["S"], i["sk"]["N"]) for i in out["Items"]]
            start = out.get("LastEvaluatedKey")
            if not start:
                break
            assert set(start) == {"pk", "sk", "g", "gs"}
        assert sorted(seen) == sorted((f"p{i}", str(i % 2)) for i in range(7)), limit
        assert len(seen) == 7


def test_index_scan_pagination(ddb, indexed):
    # Scan on a GSI resumes exactly from its LastEvaluatedKey.
    for i in range(12):
        _put(ddb, indexed, pk=f"p{i}", sk=0, h=bytes([i % 4 + 1]))
    full = [i["pk"]["S"] for i in ddb.call("Scan", TableName=indexed, IndexName="by_h")["Items"]]
    assert sorted(full) == sorted(f"p{i}" for i in range(12))
    for limit in (1, 3, 5):
        seen, start = [], None
        while True:
            out = ddb.call("Scan", TableName=indexed, IndexName="by_h", Limit=limit,
                           **({"ExclusiveStartKey": start} if start else {}))
            seen += [i["pk"]["S"] for i in out["Items"]]
            start = out.get("LastEvaluatedKey")
            if not start:
                break
            assert set(start) == {"pk", "sk", "h"}
        assert seen == full


def test_lsi_query_and_fetch_from_table(ddb, indexed):
    # An LSI orders one partition key by its own sort key; ALL_ATTRIBUTES reads the rest from the table.
    _put(ddb, indexed, pk="a", sk=1, l="z", w="w1")
    _put(ddb, indexed, pk="a", sk=2, l="m", w="w2")
    _put(ddb, indexed, pk="a", sk=3, w="w3")  # no l: not in the LSI
    _put(ddb, indexed, pk="b", sk=1, l="a")
    out = _q(ddb, indexed, "by_l", "pk = :p", {":p": {"S": "a"}})
    assert out["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "2"}, "l": {"S": "m"}},
                            {"pk": {"S": "a"}, "sk": {"N": "1"}, "l": {"S": "z"}}]
    out = _q(ddb, indexed, "by_l", "pk = :p AND l < :x", {":p": {"S": "a"}, ":x": {"S": "n"}},
             Select="ALL_ATTRIBUTES", ConsistentRead=True)
    assert out["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "2"}, "l": {"S": "m"}, "w": {"S": "w2"}}]
    out = _q(ddb, indexed, "by_l", "pk = :p", {":p": {"S": "a"}}, Limit=1)
    assert out["LastEvaluatedKey"] == {"pk": {"S": "a"}, "sk": {"N": "2"}, "l": {"S": "m"}}


def test_index_key_type_and_empty_value_refused_on_write(ddb, indexed):
    # A wrong-typed or empty index key attribute is refused before anything is stored.
    v = "ValidationException"
    raises(ddb, v, "One or more parameter values were invalid: Type mismatch for Index Key g Expected: S "
           "Actual: N IndexName: by_g", "PutItem", TableName=indexed,
           Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "g": {"N": "1"}})
    raises(ddb, v, "One or more parameter values are not valid. A value specified for a secondary index key is "
           "not supported. The AttributeValue for a key attribute cannot contain an empty string value. "
           "IndexName: by_l, IndexKey: l", "PutItem", TableName=indexed,
           Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "l": {"S": ""}})
    assert ddb.call("Scan", TableName=indexed)["Count"] == 0


def test_index_read_errors(ddb, indexed):
    # GSIs refuse ConsistentRead and ALL_ATTRIBUTES without an ALL projection.
    v = "ValidationException"
    base = {"TableName": indexed, "IndexName": "by_g", "KeyConditionExpression": "g = :g",
            "ExpressionAttributeValues": {":g": {"S": "G"}}}
    raises(ddb, v, "Consistent reads are not supported on global secondary indexes", "Query",
           ConsistentRead=True, **base)
    raises(ddb, v, "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for "
           "global secondary index by_g because its projection type is not ALL", "Query",
           Select="ALL_ATTRIBUTES", **base)
    raises(ddb, v, "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for "
           "global secondary index by_g because its projection type is not ALL", "Scan",
           TableName=indexed, IndexName="by_g", Select="ALL_ATTRIBUTES")
    raises(ddb, v, "Query condition missed key schema element: g", "Query", TableName=indexed, IndexName="by_g",
           KeyConditionExpression="pk = :g", ExpressionAttributeValues={":g": {"S": "G"}})
    raises(ddb, v, "The provided starting key is invalid", "Query",
           ExclusiveStartKey={"g": {"S": "G"}, "gs": {"N": "1"}}, **base)
    assert ddb.call("Query", Select="ALL_PROJECTED_ATTRIBUTES", **base)["Count"] == 0
