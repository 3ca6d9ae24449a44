"""The legacy parameters: Expected, ConditionalOperator, AttributeUpdates (see conftest)."""

import pytest


from api_helpers import raises

CCF = "The conditional request failed"
INVALID = "One or more parameter values were invalid: "
K = {"id": {"S": "k"}}
ITEM = {**K, "n": {"N": "5"}, "s": {"S": "hello"}, "ss": {"SS": ["a", "b"]}, "l": {"L": [{"S": "x"}]}}


def get(ddb, name):
    return ddb.call("GetItem", TableName=name, Key=K).get("Item")


@pytest.mark.parametrize("expected, holds", [
    ({"n": {"Value": {"N": "5"}}}, True),
    ({"n": {"Value": {"N": "5.0"}, "Exists": True}}, True),
    ({"n": {"Value": {"S": "5"}}}, False),
    ({"nope": {"Exists": False}}, True),
    ({"n": {"Exists": False}}, False),
    ({"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "5"}]}}, True),
    ({"n": {"ComparisonOperator": "NE", "Value": {"N": "5"}}}, False),
    ({"nope": {"ComparisonOperator": "NE", "Value": {"N": "5"}}}, True),
    ({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "4"}]}}, True),
    ({"n": {"ComparisonOperator": "LE", "AttributeValueList": [{"N": "4"}]}}, False),
    ({"s": {"ComparisonOperator": "LT", "AttributeValueList": [{"S": "help"}]}}, True),
    ({"s": {"ComparisonOperator": "GE", "AttributeValueList": [{"N": "1"}]}}, False),
    ({"nope": {"ComparisonOperator": "NULL"}}, True),
    ({"n": {"ComparisonOperator": "NOT_NULL"}}, True),
    ({"s": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "ell"}]}}, True),
    ({"ss": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "b"}]}}, True),
    ({"l": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "x"}]}}, True),
    ({"ss": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "z"}]}}, True),
    ({"nope": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "z"}]}}, False),
    ({"s": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "he"}]}}, True),
    ({"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"N": "5"}]}}, True),
    ({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "5"}, {"N": "9"}]}}, True),
    ({"n": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "6"}, {"N": "9"}]}}, False),
    ({"n": {"Value": {"N": "5"}}, "s": {"Value": {"S": "no"}}}, False),
])
def test_expected_conditions(ddb, make_table, expected, holds):
    # Each Expected entry must hold (AND) for PutItem, UpdateItem and DeleteItem to write.
    name = make_table()
    for op, extra in (("PutItem", {"Item": {**ITEM, "w": {"S": "1"}}}),
                      ("UpdateItem", {"Key": K, "AttributeUpdates": {"w": {"Value": {"S": "1"}}}}),
                      ("DeleteItem", {"Key": K})):
        ddb.call("PutItem", TableName=name, Item=ITEM)
        if holds:
            ddb.call(op, TableName=name, Expected=expected, **extra)
            assert get(ddb, name) is None if op == "DeleteItem" else get(ddb, name)["w"] == {"S": "1"}
        else:
            raises(ddb, "ConditionalCheckFailedException", CCF, op, TableName=name, Expected=expected, **extra)
            assert get(ddb, name) == ITEM


def test_expected_conditional_operator(ddb, make_table):
    # ConditionalOperator OR needs one entry to hold; AND (the default) needs all.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item=ITEM)
    expected = {"n": {"Value": {"N": "5"}}, "s": {"Value": {"S": "no"}}}
    raises(ddb, "ConditionalCheckFailedException", CCF, "PutItem", TableName=name, Item=ITEM,
           Expected=expected, ConditionalOperator="AND")
    ddb.call("PutItem", TableName=name, Item=ITEM, Expected=expected, ConditionalOperator="OR")


def test_expected_on_missing_item(ddb, make_table):
    # Against no item, Exists false holds and Value comparisons fail.
    name = make_table()
    raises(ddb, "ConditionalCheckFailedException", CCF, "UpdateItem", TableName=name, Key=K,
           Expected={"id": {"Value": {"S": "k"}}})
    raises(ddb, "ConditionalCheckFailedException", CCF, "PutItem", TableName=name, Item=K,
           Expected={"id": {"ComparisonOperator": "NOT_NULL"}})
    ddb.call("PutItem", TableName=name, Item=K, Expected={"id": {"Exists": False}})
    assert get(ddb, name) == K


@pytest.mark.parametrize("entry, message", [
    ({}, INVALID + "Value must be provided when Exists is null for Attribute: a"),
    ({"Exists": True}, INVALID + "Value must be provided when Exists is true for Attribute: a"),
    ({"Exists": False, "Value": {"S": "a"}}, INVALID + "Value cannot be used when Exists is false for Attribute: a"),
    ({"Exists": True, "ComparisonOperator": "LT"},
     INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: a"),
    ({"Value": {"S": "a"}, "AttributeValueList": [{"S": "a"}], "ComparisonOperator": "LT"},
     INVALID + "Value and AttributeValueList cannot be used together for Attribute: a"),
    ({"AttributeValueList": [{"S": "a"}]},
     INVALID + "AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
    ({"ComparisonOperator": "EQ"},
     INVALID + "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"),
    ({"ComparisonOperator": "EQ", "AttributeValueList": []},
     INVALID + "Invalid number of argument(s) for the EQ ComparisonOperator"),
    ({"ComparisonOperator": "NULL", "Value": {"S": "a"}},
     INVALID + "Invalid number of argument(s) for the NULL ComparisonOperator"),
    ({"ComparisonOperator": "IN", "AttributeValueList": []},
     INVALID + "Invalid number of argument(s) for the IN ComparisonOperator"),
    ({"ComparisonOperator": "BETWEEN", "Value": {"N": "1"}},
     INVALID + "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
    ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"S": "2"}]},
     INVALID + "AttributeValues inside AttributeValueList must be of same type"),
    ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "2"}, {"N": "1"}]},
     "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
    ({"ComparisonOperator": "LT", "Value": {"BOOL": True}},
     INVALID + "ComparisonOperator LT is not valid for BOOL AttributeValue type"),
    ({"ComparisonOperator": "IN", "AttributeValueList": [{"SS": ["a"]}]},
     INVALID + "ComparisonOperator IN is not valid for SS AttributeValue type"),
    ({"ComparisonOperator": "BEGINS_WITH", "Value": {"N": "1"}},
     INVALID + "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
    ({"ComparisonOperator": "CONTAINS", "Value": {"L": []}},
     INVALID + "ComparisonOperator CONTAINS is not valid for L AttributeValue type"),
    ({"Value": {}}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
    ({"Value": {"NS": ["1", ""]}}, "The parameter cannot be converted to a numeric value"),
])
def test_expected_validation_messages(ddb, entry, message):
    # Malformed Expected entries get DynamoDB's messages, before the table is looked up.
    raises(ddb, "ValidationException", message, "PutItem", TableName="no_such_table", Item={},
           Expected={"a": entry})


def test_conditional_operator_needs_conditions(ddb):
    # ConditionalOperator with no or one Expected entry is refused.
    raises(ddb, "ValidationException", "ConditionalOperator cannot be used without Filter or Expected",
           "DeleteItem", TableName="no_such_table", Key=K, ConditionalOperator="OR")
    raises(ddb, "ValidationException",
           "ConditionalOperator can only be used when Filter or Expected has two or more elements",
           "DeleteItem", TableName="no_such_table", Key=K, ConditionalOperator="OR",
           Expected={"a": {"Exists": False}})


def test_mixing_legacy_and_expression_parameters(ddb):
    # A legacy parameter beside its expression counterpart is refused, naming both sides.
    prefix = "Can not use both expression and non-expression parameters in the same request: "
    raises(ddb, "ValidationException",
           prefix + "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
           "PutItem", TableName="no_such_table", Item=K, Expected={"a": {"Exists": False}},
           ConditionExpression="attribute_exists(a)")
    raises(ddb, "ValidationException",
           prefix + "Non-expression parameters: {AttributeUpdates, Expected} "
                    "Expression parameters: {UpdateExpression, ConditionExpression}",
           "UpdateItem", TableName="no_such_table", Key={"a": {}}, Expected={"a": {}}, AttributeUpdates={},
           ExpressionAttributeNames={}, ExpressionAttributeValues={}, ConditionExpression="",
           UpdateExpression="")
    raises(ddb, "ValidationException",
           prefix + "Non-expression parameters: {ConditionalOperator} Expression parameters: {ConditionExpression}",
           "DeleteItem", TableName="no_such_table", Key=K, ConditionalOperator="OR",
           ConditionExpression="attribute_exists(a)")
    raises(ddb, "ValidationException",
           prefix + "Non-expression parameters: {AttributeUpdates} Expression parameters: {ConditionExpression}",
           "UpdateItem", TableName="no_such_table", Key=K, AttributeUpdates={"a": {"Action": "DELETE"}},
           ConditionExpression="attribute_exists(a)")


def test_attribute_updates_actions(ddb, make_table):
    # PUT replaces, ADD adds numbers / unites sets / appends lists, DELETE removes.
    name = make_table()
    out = ddb.call("UpdateItem", TableName=name, Key=K, ReturnValues="UPDATED_NEW", AttributeUpdates={
        "b": {"Action": "DELETE"},
        "c": {"Action": "DELETE", "Value": {"SS": ["a", "b"]}},
        "d": {"Action": "ADD", "Value": {"N": "5"}},
        "e": {"Action": "ADD", "Value": {"SS": ["a", "b"]}},
        "f": {"Action": "ADD", "Value": {"L": [{"S": "a"}, {"N": "1"}]}},
        "g": {"Value": {"S": "put"}},
    })
    assert out == {"Attributes": {"d": {"N": "5"}, "e": {"SS": ["a", "b"]},
                                  "f": {"L": [{"S": "a"}, {"N": "1"}]}, "g": {"S": "put"}}}
    out = ddb.call("UpdateItem", TableName=name, Key=K, ReturnValues="ALL_NEW", AttributeUpdates={
        "d": {"Action": "ADD", "Value": {"N": "-7"}},
        "e": {"Action": "DELETE", "Value": {"SS": ["a", "z"]}},
        "f": {"Action": "ADD", "Value": {"L": [{"S": "b"}]}},
        "g": {"Action": "DELETE"},
    })
    assert out == {"Attributes": {**K, "d": {"N": "-2"}, "e": {"SS": ["b"]},
                                  "f": {"L": [{"S": "a"}, {"N": "1"}, {"S": "b"}]}}}
    out = ddb.call("UpdateItem", TableName=name, Key=K, ReturnValues="UPDATED_OLD", AttributeUpdates={
        "e": {"Action": "DELETE", "Value": {"SS": ["b"]}}, "zz": {"Action": "DELETE"}})
    assert out == {"Attributes": {"e": {"SS": ["b"]}}}
    assert "e" not in get(ddb, name)


def test_attribute_updates_on_missing_item(ddb, make_table):
    # Only deletions on an absent item write nothing; anything else creates it.
    name = make_table()
    ddb.call("UpdateItem", TableName=name, Key=K, AttributeUpdates={"a": {"Action": "DELETE"}})
    assert get(ddb, name) is None
    ddb.call("UpdateItem", TableName=name, Key=K, AttributeUpdates={"a": {"Action": "ADD", "Value": {"NS": ["1"]}}})
    assert get(ddb, name) == {**K, "a": {"NS": ["1"]}}


def test_attribute_updates_type_mismatch(ddb, make_table):
    # ADD or DELETE against a stored value of another type changes nothing.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "b": {"SS": ["1"]}, "c": {"N": "1"}, "d": {"NS": ["1"]}})
    for updates in ({"b": {"Action": "DELETE", "Value": {"NS": ["1"]}}},
                    {"c": {"Action": "DELETE", "Value": {"NS": ["1"]}}},
                    {"b": {"Action": "ADD", "Value": {"NS": ["1"]}}},
                    {"d": {"Action": "ADD", "Value": {"N": "1"}}}):
        raises(ddb, "ValidationException", "Type mismatch for attribute to update",
               "UpdateItem", TableName=name, Key=K, AttributeUpdates=updates)
    assert get(ddb, name) == {**K, "b": {"SS": ["1"]}, "c": {"N": "1"}, "d": {"NS": ["1"]}}


@pytest.mark.parametrize("update, message", [
    ({"Action": "PUT"}, INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ({"Action": "ADD"}, INVALID + "Only DELETE action is allowed when no attribute value is specified"),
    ({"Action": "DELETE", "Value": {"S": "1"}}, INVALID + "DELETE action with value is not supported for the type S"),
    ({"Action": "DELETE", "Value": {"L": []}}, INVALID + "DELETE action with value is not supported for the type L"),
    ({"Action": "ADD", "Value": {"S": "1"}}, INVALID + "ADD action is not supported for the type S"),
    ({"Action": "ADD", "Value": {"M": {}}}, INVALID + "ADD action is not supported for the type M"),
    ({"Action": "ADD", "Value": {"BOOL": True}}, INVALID + "ADD action is not supported for the type BOOL"),
    ({"Value": {"SS": []}}, INVALID + "An string set  may not be empty"),
])
def test_attribute_updates_validation_messages(ddb, update, message):
    # Malformed AttributeUpdates get DynamoDB's messages, before the table is looked up.
    raises(ddb, "ValidationException", message, "UpdateItem", TableName="no_such_table", Key=K,
           AttributeUpdates={"a": update})


def test_attribute_updates_key_and_size(ddb, make_table):
    # Key attributes cannot be updated; an oversized update is refused up front.
    name = make_table()
    raises(ddb, "ValidationException", INVALID + "Cannot update attribute id. This attribute is part of the key",
           "UpdateItem", TableName=name, Key=K, AttributeUpdates={"id": {"Value": {"S": "x"}}})
    raises(ddb, "ValidationException", "Item size to update has exceeded the maximum allowed size",
           "UpdateItem", TableName="no_such_table", Key=K,
           AttributeUpdates={"b": {"Value": {"S": "a" * 409600}}})


def test_attribute_updates_with_expected(ddb, make_table):
    # Expected guards AttributeUpdates like ConditionExpression guards UpdateExpression.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "active": {"BOOL": False}})
    out = ddb.call("UpdateItem", TableName=name, Key=K, ReturnValues="UPDATED_NEW",
                   Expected={"active": {"Value": {"BOOL": False}, "Exists": True}},
                   AttributeUpdates={"active": {"Action": "PUT", "Value": {"BOOL": True}}})
    assert out == {"Attributes": {"active": {"BOOL": True}}}
