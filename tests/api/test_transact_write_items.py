"""TransactWriteItems, embedded and over HTTP (see conftest)."""


import pytest

from kvstore.errors import DynamoDBError

from api_helpers import raises, own_tables


table_name, _drop_tables = own_tables("tw")


_CANCELLED = "Transaction cancelled, please refer cancellation reasons for specific reasons "


def cancellation(ddb, **request):
    """(message, CancellationReasons) of a cancelled TransactWriteItems."""
    if ddb.mode == "embedded":
        with pytest.raises(DynamoDBError) as info:
            ddb.call("TransactWriteItems", **request)
        assert info.value.code == "TransactionCanceledException"
        return info.value.message, info.value.extra["CancellationReasons"]
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        ddb.client._make_api_call("TransactWriteItems", request)
    error = info.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    return error["Error"]["Message"], error["CancellationReasons"]


def get(ddb, name, key):
    return ddb.call("GetItem", TableName=name, Key=key, ConsistentRead=True).get("Item")


def K(v):
    return {"id": {"S": v}}


def transfer(name, src, dst, amount):
    x = {":x": {"N": str(amount)}}
    return [
        {"Update": {"TableName": name, "Key": K(src), "UpdateExpression": "SET bal = bal - :x",
                    "ConditionExpression": "bal >= :x", "ExpressionAttributeValues": x,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Update": {"TableName": name, "Key": K(dst), "UpdateExpression": "SET bal = bal + :x",
                    "ExpressionAttributeValues": x}},
    ]


def test_transact_write_items_applies_every_action(ddb, make_table, table_name):
    # Put, Update, Delete and ConditionCheck over two tables, all applied.
    one = make_table()
    two = make_table(name=table_name + "b")
    ddb.call("PutItem", TableName=one, Item={**K("a"), "bal": {"N": "10"}})
    ddb.call("PutItem", TableName=one, Item={**K("gone")})
    ddb.call("PutItem", TableName=two, Item={**K("flag"), "on": {"BOOL": True}})
    out = ddb.call("TransactWriteItems", TransactItems=[
        {"Put": {"TableName": one, "Item": {**K("new"), "v": {"S": "x"}},
                 "ConditionExpression": "attribute_not_exists(id)"}},
        {"Update": {"TableName": one, "Key": K("a"), "UpdateExpression": "ADD bal :n",
                    "ExpressionAttributeValues": {":n": {"N": "5"}}}},
        {"Delete": {"TableName": one, "Key": K("gone")}},
        {"ConditionCheck": {"TableName": two, "Key": K("flag"), "ConditionExpression": "#o = :t",
                            "ExpressionAttributeNames": {"#o": "on"},
                            "ExpressionAttributeValues": {":t": {"BOOL": True}}}},
    ])
    assert out == {}
    assert get(ddb, one, K("new")) == {**K("new"), "v": {"S": "x"}}
    assert get(ddb, one, K("a")) == {**K("a"), "bal": {"N": "15"}}
    assert get(ddb, one, K("gone")) is None


def test_transact_write_items_failed_condition_cancels_everything(ddb, make_table):
    # Reasons in action order, the failing one with the item (ALL_OLD), "None" for the others.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K("a"), "bal": {"N": "10"}})
    ddb.call("PutItem", TableName=name, Item={**K("b"), "bal": {"N": "0"}})
    message, reasons = cancellation(ddb, TransactItems=transfer(name, "a", "b", 11)[::-1])
    assert message == _CANCELLED + "[None, ConditionalCheckFailed]"
    assert reasons == [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
                                          "Item": {**K("a"), "bal": {"N": "10"}}}]
    assert get(ddb, name, K("a")) == {**K("a"), "bal": {"N": "10"}}
    assert get(ddb, name, K("b")) == {**K("b"), "bal": {"N": "0"}}
    ddb.call("TransactWriteItems", TransactItems=transfer(name, "a", "b", 10))
    assert get(ddb, name, K("b")) == {**K("b"), "bal": {"N": "10"}}


def test_transact_write_items_condition_check_without_item(ddb, make_table):
    # ALL_OLD on a missing item carries no Item.
    name = make_table()
    message, reasons = cancellation(ddb, TransactItems=[
        {"ConditionCheck": {"TableName": name, "Key": K("nope"), "ConditionExpression": "attribute_exists(id)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        {"Put": {"TableName": name, "Item": K("x")}},
    ])
    assert message == _CANCELLED + "[ConditionalCheckFailed, None]"
    assert reasons[0] == {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
    assert get(ddb, name, K("x")) is None


def test_transact_write_items_validation(ddb, make_table, table_name):
    # One item at most once; one action per entry; limits; missing table.
    name = make_table()
    raises(ddb, "ValidationException", "Transaction request cannot include multiple operations on one item",
           "TransactWriteItems", TransactItems=[
               {"Put": {"TableName": name, "Item": K("a")}},
               {"ConditionCheck": {"TableName": name, "Key": K("a"), "ConditionExpression": "attribute_exists(id)"}}])
    raises(ddb, "ValidationException", "TransactItems can only contain one of Check, Put, Update or Delete",
           "TransactWriteItems", TransactItems=[{"Put": {"TableName": name, "Item": K("a")},
                                                 "Delete": {"TableName": name, "Key": K("b")}}])
    raises(ddb, "ValidationException",
           "1 validation error detected: Value '[]' at 'transactItems' failed to satisfy constraint: "
           "Member must have length greater than or equal to 1", "TransactWriteItems", TransactItems=[])
    many = [{"Put": {"TableName": name, "Item": K(str(i))}} for i in range(101)]
    with pytest.raises(DynamoDBError) as info:
        ddb.call("TransactWriteItems", TransactItems=many)
    assert info.value.message.endswith(
        "at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to 100")
    raises(ddb, "ValidationException",
           "1 validation error detected: Value null at 'transactItems.1.member.update.updateExpression' "
           "failed to satisfy constraint: Member must not be null",
           "TransactWriteItems", TransactItems=[{"Update": {"TableName": name, "Key": K("a")}}])
    raises(ddb, "ResourceNotFoundException", "Requested resource not found", "TransactWriteItems",
           TransactItems=[{"Put": {"TableName": table_name + "zz", "Item": K("a")}}])
    raises(ddb, "ValidationException", "The provided key element does not match the schema",
           "TransactWriteItems", TransactItems=[{"Delete": {"TableName": name, "Key": {"id": {"N": "1"}}}}])
    assert get(ddb, name, K("a")) is None


def test_transact_write_items_size_limit(ddb, make_table):
    # The items of one transaction may not exceed 4 MB in all.
    name = make_table()
    big = [{"Put": {"TableName": name, "Item": {**K(str(i)), "b": {"S": "x" * 350_000}}}} for i in range(13)]
    raises(ddb, "ValidationException",
           "Collection size of items exceeded, which can also be caused by the aggregate size of the items "
           "in the transaction exceeding the 4MB limit", "TransactWriteItems", TransactItems=big)
    ddb.call("TransactWriteItems", TransactItems=big[:11])


def test_transact_write_items_item_too_big_is_a_validation_reason(ddb, make_table):
    # An update that makes an item too large cancels with a ValidationError reason.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K("a"), "b": {"S": "x" * 300_000}})
    message, reasons = cancellation(ddb, TransactItems=[
        {"Put": {"TableName": name, "Item": K("other")}},
        {"Update": {"TableName": name, "Key": K("a"), "UpdateExpression": "SET c = :c",
                    "ExpressionAttributeValues": {":c": {"S": "y" * 200_000}}}}])
    assert message == _CANCELLED + "[None, ValidationError]"
    assert reasons[1] == {"Code": "ValidationError",
                          "Message": "Item size to update has exceeded the maximum allowed size"}
    assert get(ddb, name, K("other")) is None


def test_transact_write_items_client_request_token(ddb, make_table):
    # The same token and parameters apply once; other parameters are refused.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K("a"), "n": {"N": "0"}})
    request = {"TransactItems": [{"Update": {"TableName": name, "Key": K("a"), "UpdateExpression": "ADD n :one",
                                             "ExpressionAttributeValues": {":one": {"N": "1"}}}}],
               "ClientRequestToken": f"token-{ddb.mode}-{name}"}
    ddb.call("TransactWriteItems", **request)
    ddb.call("TransactWriteItems", **request)
    assert get(ddb, name, K("a"))["n"] == {"N": "1"}
    out = ddb.call("TransactWriteItems", **request, ReturnConsumedCapacity="TOTAL")
    assert out["ConsumedCapacity"] == [{"TableName": name, "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}]
    request["TransactItems"][0]["Update"]["ExpressionAttributeValues"][":one"] = {"N": "2"}
    raises(ddb, "IdempotentParameterMismatchException",
           "Request token has already been used with different parameters", "TransactWriteItems", **request)
    assert get(ddb, name, K("a"))["n"] == {"N": "1"}


def test_transact_write_items_consumed_capacity(ddb, make_table):
    # Transactional writes cost double: 2 WCUs per KB per item, reported per table.
    name = make_table()
    out = ddb.call("TransactWriteItems", ReturnConsumedCapacity="INDEXES", TransactItems=[
        {"Put": {"TableName": name, "Item": {**K("a"), "b": {"S": "x" * 1500}}}},
        {"Put": {"TableName": name, "Item": K("b")}}])
    assert out["ConsumedCapacity"] == [{
        "TableName": name, "CapacityUnits": 6.0, "WriteCapacityUnits": 6.0,
        "Table": {"CapacityUnits": 6.0, "WriteCapacityUnits": 6.0}}]
