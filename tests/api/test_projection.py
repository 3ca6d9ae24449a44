"""ProjectionExpression and AttributesToGet on GetItem (see conftest)."""

import pytest


from api_helpers import raises

K = {"id": {"S": "k"}}
ITEM = {
    **K,
    "a": {"M": {"b": {"L": [{"N": "0"}, {"N": "1"}, {"M": {"x": {"S": "ex"}, "y": {"S": "yo"}}}]}, "c": {"S": "c"}}},
    "top": {"S": "t"},
    "Percentile": {"N": "99"},
}


@pytest.fixture
def table(ddb, make_table):
    name = make_table()
    ddb.call("PutItem", TableName=name, Item=ITEM)
    return name


def get(ddb, name, **kw):
    return ddb.call("GetItem", TableName=name, Key=K, **kw)


@pytest.mark.parametrize("projection, expected", [
    ("top", {"top": {"S": "t"}}),
    ("top, id", {"top": {"S": "t"}, "id": {"S": "k"}}),
    ("a.c", {"a": {"M": {"c": {"S": "c"}}}}),
    ("a.b[2].y", {"a": {"M": {"b": {"L": [{"M": {"y": {"S": "yo"}}}]}}}}),
    ("a.b[1], a.b[2].x", {"a": {"M": {"b": {"L": [{"N": "1"}, {"M": {"x": {"S": "ex"}}}]}}}}),
    ("a.b[5], nope, a.nope, top.x, a.c[0]", {}),
])
def test_get_item_projection_expression(ddb, table, projection, expected):
    # Only the requested paths come back; missing paths are left out, lists compacted.
    assert get(ddb, table, ProjectionExpression=projection) == {"Item": expected}


def test_get_item_projection_of_missing_item(ddb, table):
    # A missing item answers {} whatever the projection.
    assert ddb.call("GetItem", TableName=table, Key={"id": {"S": "nope"}}, ProjectionExpression="top") == {}


def test_get_item_projection_names(ddb, table):
    # #names resolve; a reserved word needs one; unused names are refused.
    assert get(ddb, table, ProjectionExpression="#p", ExpressionAttributeNames={"#p": "Percentile"}) == {
        "Item": {"Percentile": {"N": "99"}}}
    raises(ddb, "ValidationException",
           "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: Percentile",
           "GetItem", TableName=table, Key=K, ProjectionExpression="Percentile")
    raises(ddb, "ValidationException",
           "Value provided in ExpressionAttributeNames unused in expressions: keys: {#q}",
           "GetItem", TableName=table, Key=K, ProjectionExpression="#p",
           ExpressionAttributeNames={"#p": "Percentile", "#q": "x"})
    raises(ddb, "ValidationException",
           "Invalid ProjectionExpression: An expression attribute name used in the document path is not "
           "defined; attribute name: #p",
           "GetItem", TableName=table, Key=K, ProjectionExpression="#p")
    raises(ddb, "ValidationException", "ExpressionAttributeNames can only be specified when using expressions",
           "GetItem", TableName=table, Key=K, ExpressionAttributeNames={"#p": "Percentile"})


def test_get_item_projection_errors(ddb):
    # Syntax and overlap errors are ValidationExceptions, even before the table is found.
    raises(ddb, "ValidationException", "Invalid ProjectionExpression: The expression can not be empty;",
           "GetItem", TableName="no_such_table", Key=K, ProjectionExpression="")
    raises(ddb, "ValidationException",
           "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite "
           "one of these paths; path one: [a], path two: [a, b]",
           "GetItem", TableName="no_such_table", Key=K, ProjectionExpression="a, a.b")


def test_get_item_attributes_to_get(ddb, table):
    # AttributesToGet names top-level attributes; an existing item with none of them is {}.
    assert get(ddb, table, AttributesToGet=["top", "nope"]) == {"Item": {"top": {"S": "t"}}}
    assert get(ddb, table, AttributesToGet=["nope"]) == {"Item": {}}
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Duplicate value in attribute name: top",
           "GetItem", TableName=table, Key=K, AttributesToGet=["top", "top"])
    raises(ddb, "ValidationException",
           "Can not use both expression and non-expression parameters in the same request: "
           "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}",
           "GetItem", TableName=table, Key=K, AttributesToGet=["top"], ProjectionExpression="top")


def test_get_item_ignores_members_it_does_not_have(ddb, table):
    # GetItem has no ExpressionAttributeValues; DynamoDB ignores unknown members.
    if ddb.mode != "embedded":
        pytest.skip("botocore does not send members outside the operation's model")
    got = ddb.call("GetItem", TableName=table, Key=K, ProjectionExpression="top",
                   ExpressionAttributeValues={":x": {"S": "x"}})
    assert got == {"Item": {"top": {"S": "t"}}}
