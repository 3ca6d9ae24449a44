"""ReturnConsumedCapacity and ReturnItemCollectionMetrics, embedded and over HTTP."""

from api_helpers import own_tables


table_name, _drop_tables = own_tables("cap")


def K(v):
    return {"id": {"S": v}}


def _gsi_table(make_table):
    return make_table(
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}])


def _lsi_table(ddb, table_name):
    ddb.call("CreateTable", TableName=table_name, BillingMode="PAY_PER_REQUEST",
             KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                                   {"AttributeName": "r", "AttributeType": "S"},
                                   {"AttributeName": "l", "AttributeType": "S"}],
             LocalSecondaryIndexes=[{"IndexName": "by_l",
                                     "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"},
                                                   {"AttributeName": "l", "KeyType": "RANGE"}],
                                     "Projection": {"ProjectionType": "ALL"}}])
    return table_name


def test_write_units_are_1kb_rounded_up(ddb, make_table):
    # Developer Guide: a 500-byte item costs 1 WCU; a 3.5 KB item costs 4.
    name = make_table()
    small = ddb.call("PutItem", TableName=name, Item={**K("a"), "b": {"S": "x" * 490}},
                     ReturnConsumedCapacity="TOTAL")
    assert small["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 1.0}
    big = ddb.call("PutItem", TableName=name, Item={**K("b"), "b": {"S": "x" * 3500}},
                   ReturnConsumedCapacity="TOTAL")
    assert big["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 4.0}
    # An update is sized on the larger of the old and new item; a delete on the old one.
    out = ddb.call("UpdateItem", TableName=name, Key=K("b"), UpdateExpression="REMOVE b",
                   ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"]["CapacityUnits"] == 4.0
    out = ddb.call("DeleteItem", TableName=name, Key=K("b"), ReturnConsumedCapacity="NONE")
    assert "ConsumedCapacity" not in out


def test_read_units_are_4kb_and_half_when_eventually_consistent(ddb, make_table):
    # Developer Guide: reading a 3,500-byte item costs what a 4 KB item costs.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K("a"), "b": {"S": "x" * 3490}})
    ddb.call("PutItem", TableName=name, Item={**K("c"), "b": {"S": "x" * 8000}})
    strong = ddb.call("GetItem", TableName=name, Key=K("a"), ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert strong["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 1.0}
    weak = ddb.call("GetItem", TableName=name, Key=K("c"), ReturnConsumedCapacity="INDEXES")
    assert weak["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}
    missing = ddb.call("GetItem", TableName=name, Key=K("zz"), ReturnConsumedCapacity="TOTAL")
    assert missing["ConsumedCapacity"]["CapacityUnits"] == 0.5


def test_index_writes_counted_per_index(ddb, make_table):
    # INDEXES breaks the total into the table and each GSI its write changed.
    name = _gsi_table(make_table)
    out = ddb.call("PutItem", TableName=name, Item={**K("a"), "g": {"S": "one"}, "b": {"S": "x" * 2000}},
                   ReturnConsumedCapacity="INDEXES")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 3.0, "Table": {"CapacityUnits": 2.0},
                                       "GlobalSecondaryIndexes": {"by_g": {"CapacityUnits": 1.0}}}
    # Moving the index key deletes one entry and writes another.
    out = ddb.call("UpdateItem", TableName=name, Key=K("a"), UpdateExpression="SET g = :g",
                   ExpressionAttributeValues={":g": {"S": "two"}}, ReturnConsumedCapacity="INDEXES")
    assert out["ConsumedCapacity"]["GlobalSecondaryIndexes"] == {"by_g": {"CapacityUnits": 2.0}}
    assert out["ConsumedCapacity"]["CapacityUnits"] == 4.0
    # A change outside a KEYS_ONLY projection leaves the index alone.
    out = ddb.call("UpdateItem", TableName=name, Key=K("a"), UpdateExpression="SET c = :c",
                   ExpressionAttributeValues={":c": {"S": "c"}}, ReturnConsumedCapacity="INDEXES")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 2.0, "Table": {"CapacityUnits": 2.0}}
    # TOTAL is the sum, without the breakdown.
    out = ddb.call("DeleteItem", TableName=name, Key=K("a"), ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 3.0}


def test_query_charged_on_the_size_read_per_page(ddb, make_table):
    # Query and Scan sum the sizes of the items read, then round once to 4 KB.
    name = make_table(range_key=("r", "N"))
    for i in range(3):
        ddb.call("PutItem", TableName=name, Item={**K("a"), "r": {"N": str(i)}, "b": {"S": "x" * 1500}})
    out = ddb.call("Query", TableName=name, KeyConditionExpression="id = :a",
                   ExpressionAttributeValues={":a": {"S": "a"}}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 2.0}
    out = ddb.call("Scan", TableName=name, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == {"TableName": name, "CapacityUnits": 1.0}


def test_item_collection_metrics_for_tables_with_lsis(ddb, make_table, table_name):
    # SIZE answers ItemCollectionKey and SizeEstimateRangeGB only where an LSI exists.
    name = _lsi_table(ddb, table_name)
    item = {**K("a"), "r": {"S": "1"}, "l": {"S": "x"}}
    out = ddb.call("PutItem", TableName=name, Item=item, ReturnItemCollectionMetrics="SIZE")
    assert out["ItemCollectionMetrics"] == {"ItemCollectionKey": K("a"), "SizeEstimateRangeGB": [0.0, 1.0]}
    out = ddb.call("BatchWriteItem", ReturnItemCollectionMetrics="SIZE", RequestItems={
        name: [{"PutRequest": {"Item": {**K("b"), "r": {"S": "1"}}}}]})
    assert out["ItemCollectionMetrics"] == {name: [{"ItemCollectionKey": K("b"), "SizeEstimateRangeGB": [0.0, 1.0]}]}
    out = ddb.call("TransactWriteItems", ReturnItemCollectionMetrics="SIZE", TransactItems=[
        {"Delete": {"TableName": name, "Key": {**K("a"), "r": {"S": "1"}}}}])
    assert out["ItemCollectionMetrics"] == {name: [{"ItemCollectionKey": K("a"), "SizeEstimateRangeGB": [0.0, 1.0]}]}
    plain = make_table(name=table_name + "p")
    out = ddb.call("PutItem", TableName=plain, Item=K("a"), ReturnItemCollectionMetrics="SIZE")
    assert "ItemCollectionMetrics" not in out
    # An LSI write is charged on the LSI too (a new entry: its own size).
    out = ddb.call("PutItem", TableName=name, Item={**item, "l": {"S": "y"}}, ReturnConsumedCapacity="INDEXES")
    assert out["ConsumedCapacity"]["LocalSecondaryIndexes"] == {"by_l": {"CapacityUnits": 1.0}}
