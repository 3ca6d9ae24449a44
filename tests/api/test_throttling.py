"""Throttling over HTTP: a server started with --enforce-throughput."""

import importlib.util
import os
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

# The root conftest's helpers, loaded by path: the module name "conftest" is
# ambiguous when several test directories have one.
_spec = importlib.util.spec_from_file_location(
    "kvstore_root_conftest", os.path.join(os.path.dirname(os.path.dirname(__file__)), "conftest.py"))
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
ServerProcess = _root.ServerProcess
boto3_client = _root.boto3_client


@pytest.fixture(scope="module")
def throttled_server():
    srv = ServerProcess("--enforce-throughput")
    yield srv
    srv.stop()


def _table(client, name, wcu=1, rcu=1, **extra):
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        ProvisionedThroughput={"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}, **extra)


def _spend_burst(client, name):
    # One 299 KB item costs 300 WCUs: the whole 300-second burst of 1 WCU.
    client.put_item(TableName=name, Item={"id": {"S": "big"}, "b": {"S": "x" * 299 * 1024}})


def test_throttled_without_retries_then_boto3_retries_recover(throttled_server, table_name):
    # Over the provisioned rate DynamoDB answers ProvisionedThroughputExceededException;
    # boto3's standard retries back off until the bucket refills.
    plain = boto3_client(throttled_server.endpoint)  # max_attempts=1: no retries
    _table(plain, table_name)
    _spend_burst(plain, table_name)
    with pytest.raises(ClientError) as info:
        for i in range(5):
            plain.put_item(TableName=table_name, Item={"id": {"S": f"k{i}"}})
    error = info.value.response["Error"]
    assert error["Code"] == "ProvisionedThroughputExceededException"
    assert error["Message"] == ("The level of configured provisioned throughput for the table was exceeded. "
                                "Consider increasing your provisioning level with the UpdateTable API.")
    retrying = boto3.client("dynamodb", endpoint_url=throttled_server.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"mode": "standard", "max_attempts": 10}))
    for i in range(3):
        out = retrying.put_item(TableName=table_name, Item={"id": {"S": f"r{i}"}})
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Item" in retrying.get_item(TableName=table_name, Key={"id": {"S": "r2"}})


def test_batch_write_hands_back_throttled_items(throttled_server, table_name):
    # All throttled: the batch fails; the SDK-style loop over UnprocessedItems finishes.
    client = boto3_client(throttled_server.endpoint)
    _table(client, table_name)
    _spend_burst(client, table_name)
    with pytest.raises(ClientError) as info:
        for _ in range(3):
            client.batch_write_item(RequestItems={table_name: [{"PutRequest": {"Item": {"id": {"S": "b"}}}}]})
    assert info.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"


def test_pay_per_request_is_never_throttled(throttled_server, table_name):
    client = boto3_client(throttled_server.endpoint)
    client.create_table(TableName=table_name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    for i in range(5):
        client.put_item(TableName=table_name, Item={"id": {"S": str(i)}, "b": {"S": "x" * 300 * 1024}})


def test_update_table_raises_the_limit_at_once(throttled_server, table_name):
    client = boto3_client(throttled_server.endpoint)
    _table(client, table_name)
    _spend_burst(client, table_name)
    with pytest.raises(ClientError):
        for i in range(5):
            client.put_item(TableName=table_name, Item={"id": {"S": f"k{i}"}})
    client.update_table(TableName=table_name,
                        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1000})
    time.sleep(0.05)  # 50 units at the new rate
    client.put_item(TableName=table_name, Item={"id": {"S": "after"}})
