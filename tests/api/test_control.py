"""The rest of the control plane, embedded and over HTTP: DescribeLimits,
DescribeEndpoints, DescribeContinuousBackups and UpdateTable's table settings."""


import kvstore

from test_streams import drop_tables  # noqa: F401 (autouse fixture)

from api_helpers import raises


def test_describe_limits(ddb):
    # DynamoDB's default account and table limits.
    assert ddb.call("DescribeLimits") == {
        "AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000,
    }


def test_describe_endpoints(ddb):
    # One endpoint, cached for a day.
    assert ddb.call("DescribeEndpoints") == {
        "Endpoints": [{"Address": "dynamodb.us-east-1.amazonaws.com", "CachePeriodInMinutes": 1440}]}


def test_describe_continuous_backups(ddb, make_table):
    # Point-in-time recovery is disabled; an unknown table is TableNotFoundException.
    name = make_table()
    assert ddb.call("DescribeContinuousBackups", TableName=name) == {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }
    }
    raises(ddb, "TableNotFoundException", "Table not found: nosuchtable", "DescribeContinuousBackups",
           TableName="nosuchtable")


def test_deletion_protection_blocks_delete_table(ddb, make_table):
    # With deletion protection DeleteTable is refused; once disabled it succeeds.
    name = make_table(DeletionProtectionEnabled=True)
    raises(ddb, "ValidationException", "Resource cannot be deleted as it is currently protected against deletion. "
           "Disable deletion protection first.", "DeleteTable", TableName=name)
    out = ddb.call("UpdateTable", TableName=name, DeletionProtectionEnabled=False)
    assert out["TableDescription"]["DeletionProtectionEnabled"] is False
    assert ddb.call("DeleteTable", TableName=name)["TableDescription"]["TableStatus"] == "DELETING"


def test_update_table_settings_that_come_alone(ddb, make_table):
    # SSE, TableClass and DeletionProtection changes must each be the only one in the request.
    name = make_table()
    prefix = "One or more parameter values were invalid: "
    raises(ddb, "ValidationException", prefix + "TableClass modification must be the only operation in the request",
           "UpdateTable", TableName=name, TableClass="STANDARD_INFREQUENT_ACCESS", DeletionProtectionEnabled=True)
    raises(ddb, "ValidationException",
           prefix + "Server-Side Encryption modification must be the only operation in the request",
           "UpdateTable", TableName=name, SSESpecification={"Enabled": True}, DeletionProtectionEnabled=True)
    raises(ddb, "ValidationException",
           prefix + "DeletionProtection modification must be the only operation in the request",
           "UpdateTable", TableName=name, DeletionProtectionEnabled=True, BillingMode="PAY_PER_REQUEST")
    out = ddb.call("UpdateTable", TableName=name, TableClass="STANDARD_INFREQUENT_ACCESS")
    assert out["TableDescription"]["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}


def test_update_table_billing_mode_round_trip(ddb, make_table):
    # PAY_PER_REQUEST -> PROVISIONED (throughput required) -> PAY_PER_REQUEST; the answer is UPDATING.
    name = make_table()
    out = ddb.call("UpdateTable", TableName=name, BillingMode="PROVISIONED",
                   ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6})
    described = out["TableDescription"]
    assert described["TableStatus"] == "UPDATING"
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    ddb.call("UpdateTable", TableName=name, BillingMode="PAY_PER_REQUEST")
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_stream_and_throughput_change_together_refused(ddb, make_table):
    # A stream change cannot ride along a throughput change.
    name = make_table(BillingMode="PROVISIONED",
                      ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: You cannot modify stream status while updating table IOPS",
           "UpdateTable", TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
           StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})


def test_boto3_waiters_see_table_status_transitions():
    # boto3's table_exists / table_not_exists waiters return at once around create, update, delete.
    db = kvstore.Database()
    client = db.client()
    client.create_table(TableName="waited", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    fast = {"Delay": 0.01, "MaxAttempts": 3}
    client.get_waiter("table_exists").wait(TableName="waited", WaiterConfig=fast)
    client.update_table(TableName="waited", StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    client.get_waiter("table_exists").wait(TableName="waited", WaiterConfig=fast)
    client.delete_table(TableName="waited")
    client.get_waiter("table_not_exists").wait(TableName="waited", WaiterConfig=fast)
