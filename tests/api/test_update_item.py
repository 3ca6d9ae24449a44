"""UpdateItem with UpdateExpression, embedded and over HTTP (see conftest)."""

from api_helpers import raises


def get(ddb, name, key):
    return ddb.call("GetItem", TableName=name, Key=key, ConsistentRead=True).get("Item")


K = {"id": {"S": "k"}}


def test_update_item_upserts_missing_item(ddb, make_table):
    # UpdateItem on an absent key creates the item from the key and the SETs.
    name = make_table()
    out = ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="SET a = :a",
                   ExpressionAttributeValues={":a": {"S": "x"}}, ReturnValues="ALL_NEW")
    assert out == {"Attributes": {"id": {"S": "k"}, "a": {"S": "x"}}}
    assert get(ddb, name, K) == {"id": {"S": "k"}, "a": {"S": "x"}}


def test_update_item_without_update_creates_key_only_item(ddb, make_table):
    # With neither UpdateExpression nor AttributeUpdates, DynamoDB stores the key alone.
    name = make_table()
    assert ddb.call("UpdateItem", TableName=name, Key=K) == {}
    assert get(ddb, name, K) == K


def test_update_item_remove_on_missing_item_creates_nothing(ddb, make_table):
    # Removing attributes of an item that does not exist writes nothing.
    name = make_table()
    assert ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="REMOVE a, b",
                    ReturnValues="ALL_NEW") == {}
    assert get(ddb, name, K) is None


def test_update_item_return_values(ddb, make_table):
    # NONE, ALL_OLD, UPDATED_OLD, ALL_NEW, UPDATED_NEW return what they name.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "a": {"N": "1"}, "b": {"S": "x"}})
    upd = dict(TableName=name, Key=K, UpdateExpression="SET a = a + :one",
               ExpressionAttributeValues={":one": {"N": "1"}})
    assert ddb.call("UpdateItem", **upd) == {}
    assert ddb.call("UpdateItem", **upd, ReturnValues="NONE") == {}
    assert ddb.call("UpdateItem", **upd, ReturnValues="ALL_OLD") == {
        "Attributes": {**K, "a": {"N": "3"}, "b": {"S": "x"}}}
    assert ddb.call("UpdateItem", **upd, ReturnValues="UPDATED_OLD") == {"Attributes": {"a": {"N": "4"}}}
    assert ddb.call("UpdateItem", **upd, ReturnValues="ALL_NEW") == {
        "Attributes": {**K, "a": {"N": "6"}, "b": {"S": "x"}}}
    assert ddb.call("UpdateItem", **upd, ReturnValues="UPDATED_NEW") == {"Attributes": {"a": {"N": "7"}}}


def test_update_item_updated_values_empty_when_nothing_there(ddb, make_table):
    # UPDATED_OLD of a new attribute, and UPDATED_NEW of a removed one, return nothing.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "a": {"S": "x"}})
    assert ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="SET b = :v",
                    ExpressionAttributeValues={":v": {"S": "y"}}, ReturnValues="UPDATED_OLD") == {}
    assert ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="REMOVE a",
                    ReturnValues="UPDATED_NEW") == {}
    assert get(ddb, name, K) == {**K, "b": {"S": "y"}}


def test_update_item_updated_new_projects_nested_paths(ddb, make_table):
    # UPDATED_NEW returns the updated paths only, lists compacted, as DynamoDB does.
    name = make_table()
    ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="SET b = :b, c = :c",
             ExpressionAttributeValues={":b": {"M": {"a": {"N": "1"}, "b": {"N": "2"}, "c": {"N": "3"}}},
                                        ":c": {"L": [{"N": "1"}, {"N": "3"}]}})
    out = ddb.call(
        "UpdateItem", TableName=name, Key=K,
        UpdateExpression="set b.c=((c[1])+(b.a)),b.a = id,c[1] = id, c[4] = b.a - b.b, c[2] = b.c "
                         "add c[8] :b, c[6] :a",
        ExpressionAttributeValues={":a": {"N": "2"}, ":b": {"SS": ["a"]}}, ReturnValues="UPDATED_NEW")
    assert out == {"Attributes": {"b": {"M": {"a": K["id"], "c": {"N": "4"}}},
                                  "c": {"L": [K["id"], {"N": "3"}, {"N": "2"}]}}}
    assert get(ddb, name, K) == {
        **K, "b": {"M": {"a": K["id"], "b": {"N": "2"}, "c": {"N": "4"}}},
        "c": {"L": [{"N": "1"}, K["id"], {"N": "3"}, {"N": "-1"}, {"N": "2"}, {"SS": ["a"]}]}}


def test_update_item_add_and_delete_sets(ddb, make_table):
    # ADD unites sets and adds numbers; DELETE subtracts and drops an emptied set.
    name = make_table()
    ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="ADD s :s, n :n",
             ExpressionAttributeValues={":s": {"SS": ["a", "b"]}, ":n": {"N": "5"}})
    ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="ADD s :s, n :n",
             ExpressionAttributeValues={":s": {"SS": ["b", "c"]}, ":n": {"N": "-7.5"}})
    item = get(ddb, name, K)
    assert sorted(item["s"]["SS"]) == ["a", "b", "c"] and item["n"] == {"N": "-2.5"}
    ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="DELETE s :s",
             ExpressionAttributeValues={":s": {"SS": ["a", "b", "c", "z"]}})
    assert get(ddb, name, K) == {**K, "n": {"N": "-2.5"}}


def test_update_item_numbers_exact_in_38_digits(ddb, make_table):
    # Arithmetic is exact; a result needing more than 38 digits is refused, never rounded.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "n": {"N": "0.1"}})
    out = ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="SET n = n + :v",
                   ExpressionAttributeValues={":v": {"N": "0.2"}}, ReturnValues="UPDATED_NEW")
    assert out == {"Attributes": {"n": {"N": "0.3"}}}
    for value, message in (
        ("1E-40", "Attempting to store more than 38 significant digits in a Number"),
        ("9.9999999999999999999999999999999999999E+125",
         "Number overflow. Attempting to store a number with magnitude larger than supported range"),
    ):
        raises(ddb, "ValidationException", message, "UpdateItem", TableName=name, Key=K,
               UpdateExpression="SET n = :v + :w",
               ExpressionAttributeValues={":v": {"N": value}, ":w": {"N": value if value[0] == "9" else "1"}})
    raises(ddb, "ValidationException",
           "Number underflow. Attempting to store a number with magnitude smaller than supported range",
           "UpdateItem", TableName=name, Key=K, UpdateExpression="SET n = :v - :w",
           ExpressionAttributeValues={":v": {"N": "1.0000000000000000000000000000000000001E-120"},
                                      ":w": {"N": "1E-120"}})
    assert get(ddb, name, K)["n"] == {"N": "0.3"}


def test_update_item_key_attributes_refused(ddb, make_table):
    # A path starting at a key attribute cannot be updated.
    name = make_table(range_key=("r", "N"))
    key = {**K, "r": {"N": "1"}}
    for expr in ("SET r = :v", "REMOVE r", "ADD r :v", "SET r.x = :v"):
        kw = {"ExpressionAttributeValues": {":v": {"N": "1"}}} if ":v" in expr else {}
        raises(ddb, "ValidationException",
               "One or more parameter values were invalid: Cannot update attribute r. This attribute is part of the key",
               "UpdateItem", TableName=name, Key=key, UpdateExpression=expr, **kw)


def test_update_item_runtime_errors(ddb, make_table):
    # Errors that need the stored item: missing operands, wrong types, bad paths.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "s": {"S": "x"}, "m": {"M": {}}})
    for expr, values, message in (
        ("SET a = nope", None, "The provided expression refers to an attribute that does not exist in the item"),
        ("SET a = s + :n", {":n": {"N": "1"}}, "An operand in the update expression has an incorrect data type"),
        ("ADD s :n", {":n": {"N": "1"}}, "An operand in the update expression has an incorrect data type"),
        ("SET nope.x = :n", {":n": {"N": "1"}},
         "The document path provided in the update expression is invalid for update"),
        ("SET m.a.b = :n", {":n": {"N": "1"}},
         "The document path provided in the update expression is invalid for update"),
    ):
        kw = {"ExpressionAttributeValues": values} if values else {}
        raises(ddb, "ValidationException", message, "UpdateItem", TableName=name, Key=K,
               UpdateExpression=expr, **kw)
    assert get(ddb, name, K) == {**K, "s": {"S": "x"}, "m": {"M": {}}}


def test_update_item_expression_validation_messages(ddb, make_table):
    # Malformed expressions and maps get DynamoDB's ValidationException text, table or not.
    for request, message in (
        ({"UpdateExpression": ""}, "Invalid UpdateExpression: The expression can not be empty;"),
        ({"UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"S": "x"}, ":b": {"S": "y"}}},
         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"),
        ({"UpdateExpression": "SET a = :a"},
         "Invalid UpdateExpression: An expression attribute value used in expression is not defined; "
         "attribute value: :a"),
        ({"ExpressionAttributeValues": {":a": {"S": "x"}}},
         "ExpressionAttributeValues can only be specified when using expressions: "
         "UpdateExpression and ConditionExpression are null"),
        ({"ExpressionAttributeNames": {"#a": "a"}},
         "ExpressionAttributeNames can only be specified when using expressions"),
        ({"UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"SS": []}}},
         "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: "
         "An string set  may not be empty for key :a"),
        ({"UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {"N": "x"}}},
         "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric "
         "value: x for key :a"),
        ({"UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {":a": {}}},
         "ExpressionAttributeValues contains invalid value: Supplied AttributeValue is empty, must contain "
         "exactly one of the supported datatypes for key :a"),
        ({"UpdateExpression": "SET a = :a", "ExpressionAttributeValues": {}},
         "ExpressionAttributeValues must not be empty"),
        ({"UpdateExpression": "ADD a :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
         "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, "
         "operand type: STRING"),
    ):
        raises(ddb, "ValidationException", message, "UpdateItem", TableName="no_such_table", Key=K, **request)


def test_update_item_item_size_limit(ddb, make_table):
    # A result over 400 KB is refused with UpdateItem's own message; nothing changes.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={**K, "a": {"S": "x" * 300000}})
    raises(ddb, "ValidationException", "Item size to update has exceeded the maximum allowed size",
           "UpdateItem", TableName=name, Key=K, UpdateExpression="SET b = :b",
           ExpressionAttributeValues={":b": {"S": "y" * 200000}})
    assert set(get(ddb, name, K)) == {"id", "a"}


def test_update_item_key_checks(ddb, make_table):
    # The Key must match the schema; a missing table is ResourceNotFoundException.
    name = make_table()
    raises(ddb, "ValidationException", "The provided key element does not match the schema",
           "UpdateItem", TableName=name, Key={"id": {"N": "1"}})
    raises(ddb, "ResourceNotFoundException", "Requested resource not found",
           "UpdateItem", TableName="no_such_table", Key=K)


def test_update_item_consumed_capacity(ddb, make_table):
    # Capacity counts the larger of the old and new item.
    name = make_table()
    out = ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="SET a = :a",
                   ExpressionAttributeValues={":a": {"S": "x" * 1500}}, ReturnConsumedCapacity="TOTAL")
    assert out == {"ConsumedCapacity": {"TableName": name, "CapacityUnits": 2.0}}
    out = ddb.call("UpdateItem", TableName=name, Key=K, UpdateExpression="REMOVE a",
                   ReturnConsumedCapacity="TOTAL")
    assert out == {"ConsumedCapacity": {"TableName": name, "CapacityUnits": 2.0}}
