"""ConditionExpression on PutItem, DeleteItem and UpdateItem (see conftest)."""

import re

import pytest

from kvstore.errors import ConditionalCheckFailedException

from api_helpers import raises

CCF = "The conditional request failed"
K = {"id": {"S": "k"}}
ITEM = {**K, "n": {"N": "5"}, "s": {"S": "hello"}, "l": {"L": [{"N": "1"}]}}


def get(ddb, name):
    return ddb.call("GetItem", TableName=name, Key=K).get("Item")


@pytest.mark.parametrize("condition, holds", [
    ("attribute_exists(id)", True),
    ("attribute_not_exists(id)", False),
    ("n = :five", True),
    ("n <> :five", False),
    ("n > :four AND s = :hello", True),
    ("n < :four OR begins_with(s, :he)", True),
    ("NOT contains(s, :he)", False),
    ("n BETWEEN :four AND :five", True),
    ("n IN (:four, :hello)", False),
    ("size(l) = :one", True),
    ("attribute_type(n, :N)", True),
    ("nope <> :five", True),
    ("nope = :five", False),
])
def test_condition_expression_on_every_write(ddb, make_table, condition, holds):
    # A write happens only when its ConditionExpression holds for the stored item.
    name = make_table()
    values = {":five": {"N": "5"}, ":four": {"N": "4"}, ":hello": {"S": "hello"}, ":he": {"S": "he"},
              ":one": {"N": "1"}, ":N": {"S": "N"}}
    used = {k: values[k] for k in re.findall(r":\w+", condition)}
    for op, extra in (
        ("PutItem", {"Item": {**ITEM, "fresh": {"BOOL": True}}}),
        ("UpdateItem", {"Key": K, "UpdateExpression": "SET fresh = :t", "ExpressionAttributeValues": {":t": {"BOOL": True}}}),
        ("DeleteItem", {"Key": K}),
    ):
        ddb.call("PutItem", TableName=name, Item=ITEM)
        request = dict(TableName=name, ConditionExpression=condition, **extra)
        request["ExpressionAttributeValues"] = {**request.get("ExpressionAttributeValues", {}), **used}
        if not request["ExpressionAttributeValues"]:
            del request["ExpressionAttributeValues"]
        if holds:
            ddb.call(op, **request)
            after = get(ddb, name)
            assert after is None if op == "DeleteItem" else after["fresh"] == {"BOOL": True}
        else:
            raises(ddb, "ConditionalCheckFailedException", CCF, op, **request)
            assert get(ddb, name) == ITEM


def test_condition_on_missing_item(ddb, make_table):
    # With no stored item, attribute_not_exists holds and comparisons fail.
    name = make_table()
    raises(ddb, "ConditionalCheckFailedException", CCF, "PutItem", TableName=name, Item=K,
           ConditionExpression="attribute_exists(id)")
    raises(ddb, "ConditionalCheckFailedException", CCF, "UpdateItem", TableName=name, Key=K,
           ConditionExpression="a = :a", ExpressionAttributeValues={":a": {"S": "x"}})
    raises(ddb, "ConditionalCheckFailedException", CCF, "DeleteItem", TableName=name, Key=K,
           ConditionExpression="attribute_exists(id)")
    assert get(ddb, name) is None
    ddb.call("PutItem", TableName=name, Item=K, ConditionExpression="attribute_not_exists(id)")
    assert get(ddb, name) == K


def test_condition_names_and_values(ddb, make_table):
    # #names and :values substitute into conditions; unused ones are refused.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "status": {"S": "on"}})
    ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="SET #s = :off",
             ConditionExpression="#s = :on", ExpressionAttributeNames={"#s": "status"},
             ExpressionAttributeValues={":on": {"S": "on"}, ":off": {"S": "off"}})
    assert get(ddb, name)["status"] == {"S": "off"}
    raises(ddb, "ValidationException",
           "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}",
           "DeleteItem", TableName=name, Key=K, ConditionExpression="attribute_exists(id)",
           ExpressionAttributeNames={"#x": "x"})
    raises(ddb, "ValidationException",
           "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status",
           "DeleteItem", TableName=name, Key=K, ConditionExpression="status = :on",
           ExpressionAttributeValues={":on": {"S": "on"}})
    raises(ddb, "ValidationException",
           "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null",
           "PutItem", TableName=name, Item=K, ExpressionAttributeValues={":on": {"S": "on"}})
    raises(ddb, "ValidationException", "Invalid ConditionExpression: The expression can not be empty;",
           "PutItem", TableName=name, Item=K, ConditionExpression="")


def test_return_values_on_condition_check_failure_all_old(ddb, make_table):
    # With ALL_OLD the ConditionalCheckFailedException carries the stored item.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item=ITEM)
    for op, extra in (("PutItem", {"Item": K}), ("DeleteItem", {"Key": K}),
                      ("UpdateItem", {"Key": K, "UpdateExpression": "REMOVE n"})):
        err = raises(ddb, "ConditionalCheckFailedException", CCF, op, TableName=name,
                     ConditionExpression="attribute_not_exists(id)",
                     ReturnValuesOnConditionCheckFailure="ALL_OLD", **extra)
        if ddb.mode == "embedded":
            assert err.extra == {"Item": ITEM}
    assert get(ddb, name) == ITEM


def test_condition_failure_item_in_http_body(http_client, table_name):
    # Over the wire, the item is the error's "Item" member, as botocore parses it.
    from botocore.exceptions import ClientError

    http_client.create_table(
        TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    http_client.put_item(TableName=table_name, Item=ITEM)
    with pytest.raises(ClientError) as info:
        http_client.delete_item(TableName=table_name, Key=K, ConditionExpression="n = :x",
                                ExpressionAttributeValues={":x": {"N": "6"}},
                                ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert info.value.response["Item"] == ITEM
    with pytest.raises(ClientError) as info:
        http_client.delete_item(TableName=table_name, Key=K, ConditionExpression="n = :x",
                                ExpressionAttributeValues={":x": {"N": "6"}})
    assert "Item" not in info.value.response


def test_condition_failure_without_item_has_no_item(ddb, make_table):
    # ALL_OLD on a missing item: the exception carries no Item.
    name = make_table()
    err = raises(ddb, "ConditionalCheckFailedException", CCF, "DeleteItem", TableName=name, Key=K,
                 ConditionExpression="attribute_exists(id)", ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert isinstance(err, ConditionalCheckFailedException)
    if ddb.mode == "embedded":
        assert err.extra == {}


def test_condition_operand_type_errors(ddb, make_table):
    # Type errors known from the values are ValidationExceptions, before any read.
    raises(ddb, "ValidationException",
           "Invalid ConditionExpression: Incorrect operand type for operator or function; "
           "operator or function: <, operand type: BOOL",
           "PutItem", TableName="no_such_table", Item=K, ConditionExpression="a < :b",
           ExpressionAttributeValues={":b": {"BOOL": True}})
