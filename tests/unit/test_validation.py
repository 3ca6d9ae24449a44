"""The request validator on its own: api/specs.py compiled by api/validation.py.

Type errors (SerializationException, Coral's texts), then the table-level
TableName checks, then model constraints joined into one ValidationException,
as DynamoDB answers them.  Messages are asserted exactly.
"""

import pytest

from kvstore.api import specs
from kvstore.api.validation import compile_operation, join_errors, validate_request
from kvstore.errors import SerializationException, ValidationException

CAST = (
    "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to "
    "class java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and "
    "java.lang.Class are in module java.base of loader 'bootstrap')"
)
KEY = [{"AttributeName": "a", "KeyType": "HASH"}]
DEFS = [{"AttributeName": "a", "AttributeType": "S"}]
PT = {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}


def serialization(operation, req):
    with pytest.raises(SerializationException) as info:
        validate_request(operation, req)
    return info.value.message


def validation(operation, req):
    with pytest.raises(ValidationException) as info:
        validate_request(operation, req)
    return info.value.message


def null(path):
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


# -- SerializationException: one text per (expected type, given JSON type) -----------


@pytest.mark.parametrize("value, message", [
    (True, "TRUE_VALUE cannot be converted to String"),
    (False, "FALSE_VALUE cannot be converted to String"),
    (23, "NUMBER_VALUE cannot be converted to String"),
    (2147483648, "NUMBER_VALUE cannot be converted to String"),
    (34.56, "DECIMAL_VALUE cannot be converted to String"),
    ([], "Unrecognized collection type class java.lang.String"),
    ({}, "Start of structure or map found where not expected"),
])
def test_validation_string_member_of_wrong_type(value, message):
    # DynamoDB names the JSON token it found where a String was expected.
    assert serialization("DescribeTable", {"TableName": value}) == message


@pytest.mark.parametrize("value, message", [
    ("23", "Unexpected token received from parser"),
    (23, "NUMBER_VALUE cannot be converted to Boolean"),
    (34.56, "DECIMAL_VALUE cannot be converted to Boolean"),
    ([], "Unrecognized collection type class java.lang.Boolean"),
    ({}, "Start of structure or map found where not expected"),
])
def test_validation_boolean_member_of_wrong_type(value, message):
    # A Boolean member refuses strings, numbers and collections with Coral's texts.
    req = {"TableName": "abc", "Key": {}, "ConsistentRead": value}
    assert serialization("GetItem", req) == message


@pytest.mark.parametrize("value, message", [
    ("23", "STRING_VALUE cannot be converted to Integer"),
    (True, "TRUE_VALUE cannot be converted to Integer"),
    (False, "FALSE_VALUE cannot be converted to Integer"),
    ([], "Unrecognized collection type class java.lang.Integer"),
    ({}, "Start of structure or map found where not expected"),
])
def test_validation_integer_member_of_wrong_type(value, message):
    # ListTables' Limit is an Integer.
    assert serialization("ListTables", {"Limit": value}) == message


@pytest.mark.parametrize("value, message", [
    ("23", "STRING_VALUE cannot be converted to Long"),
    (True, "TRUE_VALUE cannot be converted to Long"),
    ([], "Unrecognized collection type class java.lang.Long"),
    ({}, "Start of structure or map found where not expected"),
])
def test_validation_long_member_of_wrong_type(value, message):
    # Capacity units are Longs, and the message says so.
    req = {"TableName": "abc", "ProvisionedThroughput": {"ReadCapacityUnits": value}}
    assert serialization("CreateTable", req) == message


@pytest.mark.parametrize("value, message", [
    ("23", "Unexpected field type"),
    (True, "Unexpected field type"),
    (23, "Unexpected field type"),
    (34.56, "Unexpected field type"),
    ({}, "Start of structure or map found where not expected"),
])
def test_validation_list_member_of_wrong_type(value, message):
    # A List member refuses scalars as "Unexpected field type".
    assert serialization("CreateTable", {"KeySchema": value}) == message


@pytest.mark.parametrize("value, message", [
    ("23", "Unexpected field type"),
    (23, "Unexpected field type"),
    ([], "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.ProvisionedThroughput"),
])
def test_validation_field_structure_of_wrong_type(value, message):
    # ProvisionedThroughput is a "field" structure.
    assert serialization("CreateTable", {"ProvisionedThroughput": value}) == message


@pytest.mark.parametrize("value, message", [
    ("23", "Unexpected value type in payload"),
    (True, "Unexpected value type in payload"),
    (34.56, "Unexpected value type in payload"),
    ([], "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.KeySchemaElement"),
])
def test_validation_list_member_structure_of_wrong_type(value, message):
    # A structure inside a list is a "value" structure with its own texts.
    assert serialization("CreateTable", {"KeySchema": [value]}) == message


@pytest.mark.parametrize("value, message", [
    ("23", CAST),
    (23, CAST),
    ([], "Unrecognized collection type java.util.Map<java.lang.String, "
         "com.amazonaws.dynamodb.v20120810.AttributeValue>"),
])
def test_validation_item_of_wrong_type(value, message):
    # An Item or Key is Coral's parameterised map: a scalar gets a Java cast error.
    assert serialization("PutItem", {"TableName": "abc", "Item": value}) == message
    assert serialization("GetItem", {"TableName": "abc", "Key": value}) == message


@pytest.mark.parametrize("value, message", [
    ("x", "Unexpected value type in payload"),
    (1, "Unexpected value type in payload"),
    ([], "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"),
])
def test_validation_attribute_value_of_wrong_type(value, message):
    # Each AttributeValue must be a JSON object.
    assert serialization("PutItem", {"TableName": "abc", "Item": {"a": value}}) == message
    req = {"TableName": "abc", "Item": {}, "ExpressionAttributeValues": {":v": value}}
    assert serialization("PutItem", req) == message


@pytest.mark.parametrize("value, message", [
    ("23", "Unexpected field type"),
    (23, "Unexpected field type"),
    ([], "Unrecognized collection type java.util.Map<java.lang.String, java.lang.String>"),
])
def test_validation_map_of_wrong_type(value, message):
    # ExpressionAttributeNames is a plain Map<String, String>.
    req = {"TableName": "abc", "Key": {}, "ExpressionAttributeNames": value}
    assert serialization("GetItem", req) == message


def test_validation_map_value_of_wrong_type():
    # The values of ExpressionAttributeNames are Strings.
    req = {"TableName": "abc", "Key": {}, "ExpressionAttributeNames": {"#a": 5}}
    assert serialization("GetItem", req) == "NUMBER_VALUE cannot be converted to String"


def test_validation_serialization_wins_over_constraints():
    # Coral deserialises the whole request before checking any constraint.
    req = {"TableName": "a;", "Item": {}, "ReturnValues": 5}
    assert serialization("PutItem", req) == "NUMBER_VALUE cannot be converted to String"


def test_validation_serialization_inside_an_item_wins_over_constraints():
    # A badly typed AttributeValue is a deserialisation error too, and wins.
    req = {"TableName": "ab", "Item": {"a": {"S": 5}}}
    assert serialization("PutItem", req) == "NUMBER_VALUE cannot be converted to String"


def test_validation_first_type_error_in_request_order():
    # Coral stops at the first badly typed member in the body's own order.
    assert serialization("ListTables", {"Limit": "1", "ExclusiveStartTableName": 1}) == (
        "STRING_VALUE cannot be converted to Integer")
    assert serialization("ListTables", {"ExclusiveStartTableName": 1, "Limit": "1"}) == (
        "NUMBER_VALUE cannot be converted to String")


# -- what passes ----------------------------------------------------------------------


def test_validation_ignores_unknown_members():
    # DynamoDB ignores members it does not know, at any depth.
    validate_request("CreateTable", {
        "TableName": "abc", "KeySchema": [dict(KEY[0], Extra=5)], "AttributeDefinitions": DEFS,
        "ProvisionedThroughput": dict(PT, Foo=[1]), "Bogus": {"x": 1},
    })
    validate_request("ListTables", {"Nonsense": True})


def test_validation_null_is_absent():
    # A member given as JSON null is treated as not given.
    validate_request("ListTables", {"Limit": None, "ExclusiveStartTableName": None})
    assert validation("GetItem", {"TableName": "abc", "Key": None}) == (
        "1 validation error detected: " + null("key"))


def test_validation_decimal_for_integer_is_truncated():
    # Coral truncates a decimal given for an integer member before checking it.
    validate_request("ListTables", {"Limit": 1.9})
    assert validation("ListTables", {"Limit": 0.5}) == (
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1")


def test_validation_operation_without_spec_passes():
    # Operations without a spec are left to their handlers.
    validate_request("NoSuchOperation", {"anything": 1})


# -- table-level TableName --------------------------------------------------------------


@pytest.mark.parametrize("operation", ["CreateTable", "DescribeTable", "DeleteTable"])
def test_validation_table_name_missing(operation):
    # A table-level operation without TableName gets a message of its own.
    assert validation(operation, {}) == (
        "The parameter 'TableName' is required but was not present in the request")


@pytest.mark.parametrize("name", ["", "a;", "ab", "a" * 256])
@pytest.mark.parametrize("operation", ["CreateTable", "DescribeTable", "DeleteTable"])
def test_validation_table_name_length(operation, name):
    # Its length is checked before any other constraint, with its own text.
    assert validation(operation, {"TableName": name}) == (
        "TableName must be at least 3 characters long and at most 255 characters long")


def test_validation_table_name_pattern_is_a_constraint():
    # A table name of valid length but bad characters joins the constraint list.
    assert validation("DescribeTable", {"TableName": "abc;"}) == (
        "1 validation error detected: Value 'abc;' at 'tableName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")


# -- constraint messages ------------------------------------------------------------------


def test_validation_item_operation_table_name_constraints():
    # Item operations check TableName as ordinary constraints: pattern, then length.
    assert validation("PutItem", {"TableName": "", "Item": {}}) == (
        "2 validation errors detected: "
        "Value '' at 'tableName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3")
    name = "a" * 256
    assert validation("GetItem", {"TableName": name, "Key": {}}) == (
        f"1 validation error detected: Value '{name}' at 'tableName' failed to satisfy constraint: "
        "Member must have length less than or equal to 255")


def test_validation_missing_members_in_spec_order():
    # Missing required members are listed with the others, in DynamoDB's member order.
    assert validation("CreateTable", {"TableName": "abc;"}) == (
        "3 validation errors detected: "
        + null("attributeDefinitions") + "; "
        "Value 'abc;' at 'tableName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        + null("keySchema"))


def test_validation_enum_sets_in_dynamodb_order():
    # Enum sets are printed in DynamoDB's own (not alphabetical) order.
    req = {"TableName": "abc;", "ReturnConsumedCapacity": "hi",
           "ReturnItemCollectionMetrics": "hi", "ReturnValues": "hi"}
    assert validation("PutItem", req) == (
        "5 validation errors detected: "
        "Value 'hi' at 'returnConsumedCapacity' failed to satisfy constraint: "
        "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]; "
        "Value 'abc;' at 'tableName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        + null("item") + "; "
        "Value 'hi' at 'returnValues' failed to satisfy constraint: "
        "Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]; "
        "Value 'hi' at 'returnItemCollectionMetrics' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SIZE, NONE]")


def test_validation_nested_paths():
    # Nested members are named lowerCamelCase, list members as <list>.<n>.member.
    req = {"TableName": "abc", "AttributeDefinitions": [{}, {"AttributeName": "b", "AttributeType": "SS"}],
           "KeySchema": KEY, "ProvisionedThroughput": {"ReadCapacityUnits": -1, "WriteCapacityUnits": 0}}
    assert validation("CreateTable", req) == (
        "5 validation errors detected: "
        + null("attributeDefinitions.1.member.attributeName") + "; "
        + null("attributeDefinitions.1.member.attributeType") + "; "
        "Value 'SS' at 'attributeDefinitions.2.member.attributeType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [B, N, S]; "
        "Value '0' at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; "
        "Value '-1' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1")


def test_validation_list_length_and_its_members():
    # A list's own length is reported before its members' violations.
    req = {"TableName": "abc", "AttributeDefinitions": [],
           "KeySchema": [{"KeyType": "HASH"}, {"AttributeName": "a"}, {"KeyType": "Woop", "AttributeName": "a"}],
           "ProvisionedThroughput": PT}
    message = validation("CreateTable", req)
    prefix = "4 validation errors detected: Value '["
    assert message.startswith(prefix)
    assert message.split("; ")[0].endswith(
        "]' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2")
    assert message.split("; ")[1:] == [
        null("keySchema.1.member.attributeName"),
        null("keySchema.2.member.keyType"),
        "Value 'Woop' at 'keySchema.3.member.keyType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [HASH, RANGE]",
    ]


def test_validation_empty_list_rendered():
    # An empty list prints as '[]'.
    assert validation("GetItem", {"TableName": "abc", "Key": {}, "AttributesToGet": []}) == (
        "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1")


def test_validation_integer_range():
    # Integer members report their range bounds.
    assert validation("ListTables", {"Limit": 101}) == (
        "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 100")
    assert validation("ListTables", {"Limit": 0, "ExclusiveStartTableName": "a"}) == (
        "2 validation errors detected: "
        "Value 'a' at 'exclusiveStartTableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3; "
        "Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1")


def test_validation_index_name_pattern_then_length():
    # IndexName: pattern first, then the length bound, then the next member.
    req = {"TableName": "abc", "AttributeDefinitions": DEFS, "KeySchema": KEY, "ProvisionedThroughput": PT,
           "GlobalSecondaryIndexes": [{"IndexName": "h;", "KeySchema": [], "Projection": {},
                                       "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}}]}
    assert validation("CreateTable", req) == (
        "5 validation errors detected: "
        "Value '[]' at 'globalSecondaryIndexes.1.member.keySchema' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value 'h;' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value 'h;' at 'globalSecondaryIndexes.1.member.indexName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 3; "
        "Value '0' at 'globalSecondaryIndexes.1.member.provisionedThroughput.writeCapacityUnits' "
        "failed to satisfy constraint: Member must have value greater than or equal to 1; "
        "Value '0' at 'globalSecondaryIndexes.1.member.provisionedThroughput.readCapacityUnits' "
        "failed to satisfy constraint: Member must have value greater than or equal to 1")


def test_validation_map_value_paths():
    # Map values are addressed as <map>.<key>.member.
    req = {"TableName": "abc", "KeyConditions": {"a": {}, "b": {"ComparisonOperator": ""}}}
    assert validation("Query", req) == (
        "2 validation errors detected: "
        + null("keyConditions.a.member.comparisonOperator") + "; "
        "Value '' at 'keyConditions.b.member.comparisonOperator' failed to satisfy constraint: "
        "Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, "
        "NE, LE, BEGINS_WITH, GE, CONTAINS]")


def test_validation_list_of_strings_member_constraints():
    # Constraints on the members of a list of strings are reported at the list.
    req = {"TableName": "abc", "AttributeDefinitions": DEFS, "KeySchema": KEY, "ProvisionedThroughput": PT,
           "GlobalSecondaryIndexes": [{"IndexName": "abc", "KeySchema": KEY,
                                       "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["", None]},
                                       "ProvisionedThroughput": PT}]}
    assert validation("CreateTable", req) == (
        "1 validation error detected: Value '[, null]' at "
        "'globalSecondaryIndexes.1.member.projection.nonKeyAttributes' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must have length greater than or equal to 1, "
        "Member must not be null]")


# -- the join and the cap -------------------------------------------------------------------


def test_validation_join_singular_and_plural():
    # One error reads "1 validation error detected", more "N validation errors detected".
    assert join_errors(["x"]) == "1 validation error detected: x"
    assert join_errors(["x", "y"]) == "2 validation errors detected: x; y"


def test_validation_cap_at_ten():
    # DynamoDB lists (and counts) at most ten violations.
    req = {"TableName": "abc", "AttributeDefinitions": DEFS, "KeySchema": [],
           "ProvisionedThroughput": PT, "LocalSecondaryIndexes": [{}] * 9}
    message = validation("CreateTable", req)
    assert message.startswith("10 validation errors detected: ")
    listed = message[len("10 validation errors detected: "):].split("; ")
    assert listed == [
        "Value '[]' at 'keySchema' failed to satisfy constraint: Member must have length greater than or equal to 1",
        null("localSecondaryIndexes.1.member.keySchema"),
        null("localSecondaryIndexes.1.member.projection"),
        null("localSecondaryIndexes.1.member.indexName"),
        null("localSecondaryIndexes.2.member.keySchema"),
        null("localSecondaryIndexes.2.member.projection"),
        null("localSecondaryIndexes.2.member.indexName"),
        null("localSecondaryIndexes.3.member.keySchema"),
        null("localSecondaryIndexes.3.member.projection"),
        null("localSecondaryIndexes.3.member.indexName"),
    ]


def test_validation_compile_operation_from_a_spec():
    # A spec table compiles into a validator of its own.
    check = compile_operation({
        "Name": specs.String(required=True, min_len=2, enum=("xy", "zz")),
        "Count": specs.Long(max=5),
        "Flags": specs.List(specs.Boolean(), max_len=1),
    })
    check({"Name": "xy", "Count": 5, "Flags": [True]})
    with pytest.raises(ValidationException) as info:
        check({"Name": "q", "Count": 6, "Flags": [True, False]})
    assert info.value.message == (
        "4 validation errors detected: "
        "Value 'q' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 2; "
        "Value 'q' at 'name' failed to satisfy constraint: Member must satisfy enum value set: [xy, zz]; "
        "Value '6' at 'count' failed to satisfy constraint: Member must have value less than or equal to 5; "
        "Value '[true, false]' at 'flags' failed to satisfy constraint: "
        "Member must have length less than or equal to 1")
    with pytest.raises(SerializationException) as info:
        check({"Name": "xy", "Flags": [1]})
    assert info.value.message == "NUMBER_VALUE cannot be converted to Boolean"
