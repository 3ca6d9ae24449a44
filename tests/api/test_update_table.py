"""UpdateTable, embedded and over HTTP: GSI create (backfilled) and delete, billing, errors."""

from api_helpers import raises


def _create(name, attr="g", **extra):
    action = {"IndexName": name, "KeySchema": [{"AttributeName": attr, "KeyType": "HASH"}],
              "Projection": {"ProjectionType": "ALL"}, **extra}
    return [{"Create": action}]


def test_update_table_creates_backfilled_gsi(ddb, make_table):
    # A new GSI is backfilled from the items already stored; the answer shows it CREATING, then ACTIVE.
    name = make_table()
    for i in range(6):
        item = {"id": {"S": f"i{i}"}}
        if i % 2:
            item["g"] = {"S": "odd"}
        ddb.call("PutItem", TableName=name, Item=item)
    out = ddb.call("UpdateTable", TableName=name, GlobalSecondaryIndexUpdates=_create("by_g"),
                   AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}])
    described = out["TableDescription"]
    assert described["TableStatus"] == "UPDATING"
    assert described["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    assert {"AttributeName": "g", "AttributeType": "S"} in described["AttributeDefinitions"]
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    index = table["GlobalSecondaryIndexes"][0]
    assert index["IndexStatus"] == "ACTIVE" and index["ItemCount"] == 3
    assert index["IndexArn"].endswith(f"table/{name}/index/by_g")
    out = ddb.call("Query", TableName=name, IndexName="by_g", KeyConditionExpression="g = :g",
                   ExpressionAttributeValues={":g": {"S": "odd"}})
    assert sorted(i["id"]["S"] for i in out["Items"]) == ["i1", "i3", "i5"]
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "new"}, "g": {"S": "odd"}})
    raises(ddb, "ValidationException", "One or more parameter values were invalid: Type mismatch for Index Key g "
           "Expected: S Actual: N IndexName: by_g", "PutItem", TableName=name,
           Item={"id": {"S": "x"}, "g": {"N": "1"}})
    assert ddb.call("DescribeTable", TableName=name)["Table"]["GlobalSecondaryIndexes"][0]["ItemCount"] == 4


def test_update_table_deletes_gsi(ddb, make_table):
    # Deleting a GSI answers it DELETING; then it is gone and its unused definition too.
    name = make_table()
    ddb.call("UpdateTable", TableName=name, GlobalSecondaryIndexUpdates=_create("by_g"),
             AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}])
    out = ddb.call("UpdateTable", TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_g"}}])
    assert out["TableDescription"]["GlobalSecondaryIndexes"][0]["IndexStatus"] == "DELETING"
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    assert "GlobalSecondaryIndexes" not in table
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    raises(ddb, "ValidationException", "The table does not have the specified index: by_g", "Scan",
           TableName=name, IndexName="by_g")


def test_update_table_billing_and_throughput(ddb, make_table):
    # BillingMode and ProvisionedThroughput changes apply and show in DescribeTable.
    name = make_table()
    ddb.call("UpdateTable", TableName=name, BillingMode="PROVISIONED",
             ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6})
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 6
    raises(ddb, "ValidationException", "The provisioned throughput for the table will not change. The requested "
           "value equals the current value. Current ReadCapacityUnits provisioned for the table: 5. Requested "
           "ReadCapacityUnits: 5. Current WriteCapacityUnits provisioned for the table: 6. Requested "
           "WriteCapacityUnits: 6. Refer to the Amazon DynamoDB Developer Guide for current limits and how to "
           "request higher limits.", "UpdateTable", TableName=name,
           ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6})
    ddb.call("UpdateTable", TableName=name, BillingMode="PAY_PER_REQUEST")
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ddb.call("UpdateTable", TableName=name, DeletionProtectionEnabled=True)
    assert ddb.call("DescribeTable", TableName=name)["Table"]["DeletionProtectionEnabled"] is True


def test_update_table_errors(ddb, make_table):
    # Invalid updates are refused with DynamoDB's messages, and change nothing.
    name = make_table()
    v = "ValidationException"
    raises(ddb, v, "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
           "GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, "
           "ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, "
           "WarmThroughput or TableClass is required", "UpdateTable", TableName=name)
    raises(ddb, v, "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
           "can be specified when BillingMode is PAY_PER_REQUEST", "UpdateTable", TableName=name,
           ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    raises(ddb, v, "One or more parameter values were invalid: ProvisionedThroughput must be specified when "
           "BillingMode is PROVISIONED", "UpdateTable", TableName=name, BillingMode="PROVISIONED")
    raises(ddb, v, "One or more parameter values were invalid: AttributeDefinitions is not specified for index: "
           "by_g", "UpdateTable", TableName=name, GlobalSecondaryIndexUpdates=_create("by_g"))
    raises(ddb, v, "Attempting to create an index which already exists", "UpdateTable", TableName=name,
           GlobalSecondaryIndexUpdates=_create("by_g") if ddb.call(
               "UpdateTable", TableName=name, GlobalSecondaryIndexUpdates=_create("by_g"),
               AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}]) else None,
           AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}])
    raises(ddb, v, "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, "
           "GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null",
           "UpdateTable", TableName=name, GlobalSecondaryIndexUpdates=[{}])
    raises(ddb, v, "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
           "can be specified for index: by_x when BillingMode is PAY_PER_REQUEST", "UpdateTable", TableName=name,
           GlobalSecondaryIndexUpdates=_create(
               "by_x", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}),
           AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}])
    raises(ddb, "ResourceNotFoundException", f"Requested resource not found: Index nope for table {name}",
           "UpdateTable", TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "nope"}}])
    raises(ddb, "ResourceNotFoundException", "Requested resource not found: Table: missing_t not found",
           "UpdateTable", TableName="missing_t", BillingMode="PAY_PER_REQUEST")
    assert [i["IndexName"] for i in ddb.call("DescribeTable", TableName=name)["Table"]["GlobalSecondaryIndexes"]] \
        == ["by_g"]
