"""CreateTable, DescribeTable, ListTables and DeleteTable, embedded and over HTTP.

Each test runs twice (see conftest): through kvstore.Database and through
boto3 against a real server.  Exact DynamoDB messages are asserted.
"""

import datetime
import re

import pytest


from api_helpers import raises

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
PT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 3}
INVALID = "One or more parameter values were invalid: "


def attrs(*pairs):
    return [{"AttributeName": n, "AttributeType": t} for n, t in pairs]


def keys(hash_key, range_key=None):
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key is not None:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def invalid_create(ddb, message, **request):
    return raises(ddb, "ValidationException", message, "CreateTable", **request)


def range_table(name, **extra):
    request = {
        "TableName": name,
        "AttributeDefinitions": attrs(("a", "S"), ("b", "S")),
        "KeySchema": keys("a", "b"),
        "ProvisionedThroughput": PT,
    }
    request.update(extra)
    return request


def lsi(name, range_key="b", projection=None):
    return {"IndexName": name, "KeySchema": keys("a", range_key),
            "Projection": projection or {"ProjectionType": "ALL"}}


def gsi(name, hash_key="a", range_key=None, projection=None, throughput=PT):
    index = {"IndexName": name, "KeySchema": keys(hash_key, range_key),
             "Projection": projection or {"ProjectionType": "ALL"}}
    if throughput is not None:
        index["ProvisionedThroughput"] = throughput
    return index


# -- CreateTable: success -----------------------------------------------------------------


def test_create_table_describes_the_new_table(ddb, table_name):
    # DynamoDB answers with the full TableDescription (ACTIVE here at once).
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    out = ddb.call("CreateTable", TableName=table_name, AttributeDefinitions=attrs(("id", "S")),
                   KeySchema=keys("id"), ProvisionedThroughput=PT)
    desc = out["TableDescription"]
    assert UUID.match(desc.pop("TableId"))
    assert desc.pop("CreationDateTime") > before
    assert desc == {
        "AttributeDefinitions": attrs(("id", "S")),
        "TableName": table_name,
        "KeySchema": keys("id"),
        "TableStatus": "ACTIVE",
        "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        "TableSizeBytes": 0,
        "ItemCount": 0,
        "TableArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{table_name}",
        "DeletionProtectionEnabled": False,
    }


def test_create_table_pay_per_request(ddb, table_name):
    # An on-demand table shows 0/0 throughput and a BillingModeSummary.
    desc = ddb.call("CreateTable", TableName=table_name, AttributeDefinitions=attrs(("k", "N"), ("r", "B")),
                    KeySchema=keys("k", "r"), BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert desc["ProvisionedThroughput"] == {
        "NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    summary = desc["BillingModeSummary"]
    assert summary["BillingMode"] == "PAY_PER_REQUEST"
    assert summary["LastUpdateToPayPerRequestDateTime"] == desc["CreationDateTime"]
    assert desc["KeySchema"] == keys("k", "r")


def test_create_table_with_indexes_describes_them(ddb, table_name):
    # LSIs and GSIs are described with sizes, counts, ARNs; GSIs with status and throughput.
    arn = f"arn:aws:dynamodb:us-east-1:000000000000:table/{table_name}"
    request = range_table(
        table_name,
        AttributeDefinitions=attrs(("a", "S"), ("b", "S"), ("c", "N")),
        LocalSecondaryIndexes=[lsi("byc", "c", {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x", "y"]})],
        GlobalSecondaryIndexes=[gsi("gic", "c", "b", {"ProjectionType": "KEYS_ONLY"})],
    )
    desc = ddb.call("CreateTable", **request)["TableDescription"]
    assert desc["LocalSecondaryIndexes"] == [{
        "IndexName": "byc",
        "KeySchema": keys("a", "c"),
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x", "y"]},
        "IndexSizeBytes": 0,
        "ItemCount": 0,
        "IndexArn": f"{arn}/index/byc",
    }]
    assert desc["GlobalSecondaryIndexes"] == [{
        "IndexName": "gic",
        "KeySchema": keys("c", "b"),
        "Projection": {"ProjectionType": "KEYS_ONLY"},
        "IndexStatus": "ACTIVE",
        "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 5, "WriteCapacityUnits": 3},
        "IndexSizeBytes": 0,
        "ItemCount": 0,
        "IndexArn": f"{arn}/index/gic",
    }]
    assert ddb.call("DescribeTable", TableName=table_name)["Table"]["GlobalSecondaryIndexes"] == (
        desc["GlobalSecondaryIndexes"])


def test_create_table_options_are_described(ddb, table_name):
    # Streams, encryption, table class and deletion protection show in the description.
    desc = ddb.call(
        "CreateTable", TableName=table_name, AttributeDefinitions=attrs(("id", "S")), KeySchema=keys("id"),
        BillingMode="PAY_PER_REQUEST", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        SSESpecification={"Enabled": True}, TableClass="STANDARD_INFREQUENT_ACCESS",
        DeletionProtectionEnabled=True, Tags=[{"Key": "k", "Value": "v"}],
    )["TableDescription"]
    assert desc["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert desc["LatestStreamArn"] == desc["TableArn"] + "/stream/" + desc["LatestStreamLabel"]
    assert desc["SSEDescription"]["Status"] == "ENABLED"
    assert desc["SSEDescription"]["SSEType"] == "KMS"
    assert desc["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}
    assert desc["DeletionProtectionEnabled"] is True
    raises(ddb, "ValidationException",
           "Resource cannot be deleted as it is currently protected against deletion. "
           "Disable deletion protection first.",
           "DeleteTable", TableName=table_name)


def test_create_table_existing_table(ddb, table_name):
    # A second CreateTable of the same name is ResourceInUseException.
    request = range_table(table_name)
    ddb.call("CreateTable", **request)
    raises(ddb, "ResourceInUseException", f"Table already exists: {table_name}", "CreateTable", **request)


# -- CreateTable: request validation -------------------------------------------------------


def test_create_table_missing_table_name(ddb):
    # Without TableName DynamoDB names the missing parameter.
    invalid_create(ddb, "The parameter 'TableName' is required but was not present in the request",
                   AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"), ProvisionedThroughput=PT)


def test_create_table_short_table_name(ddb):
    # A table name outside 3..255 characters has a message of its own.
    invalid_create(ddb, "TableName must be at least 3 characters long and at most 255 characters long",
                   TableName="ab", AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"),
                   ProvisionedThroughput=PT)


def test_create_table_constraint_errors(ddb):
    # Model constraints are reported together, in DynamoDB's member order.
    invalid_create(
        ddb,
        "3 validation errors detected: "
        "Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null; "
        "Value 'abc;' at 'tableName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value null at 'keySchema' failed to satisfy constraint: Member must not be null",
        TableName="abc;",
    )


def test_create_table_bad_attribute_type(ddb, table_name):
    # Key attributes can only be S, N or B.
    invalid_create(
        ddb,
        "1 validation error detected: Value 'SS' at 'attributeDefinitions.1.member.attributeType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
        TableName=table_name, AttributeDefinitions=attrs(("a", "SS")), KeySchema=keys("a"),
        ProvisionedThroughput=PT,
    )


def test_create_table_wrong_json_type(ddb, table_name):
    # A wrongly typed member is a SerializationException.
    raises(ddb, "SerializationException", "STRING_VALUE cannot be converted to Long", "CreateTable",
           TableName=table_name, AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"),
           ProvisionedThroughput={"ReadCapacityUnits": "1", "WriteCapacityUnits": 1})


# -- CreateTable: semantic validation --------------------------------------------------------


def test_create_table_provisioned_needs_throughput(ddb, table_name):
    # PROVISIONED (the default) needs ProvisionedThroughput.
    message = INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
    invalid_create(ddb, message, TableName=table_name, AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"))
    invalid_create(ddb, message, TableName=table_name, AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"),
                   BillingMode="PROVISIONED")


def test_create_table_pay_per_request_refuses_throughput(ddb, table_name):
    # PAY_PER_REQUEST refuses ProvisionedThroughput.
    invalid_create(
        ddb, INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        TableName=table_name, AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"),
        BillingMode="PAY_PER_REQUEST", ProvisionedThroughput=PT,
    )


def test_create_table_throughput_out_of_bounds(ddb, table_name):
    # Capacity above 10^12 is out of bounds, read checked first.
    big = 1000000000001
    invalid_create(ddb, f"Given value {big} for ReadCapacityUnits is out of bounds",
                   TableName=table_name, AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"),
                   ProvisionedThroughput={"ReadCapacityUnits": big, "WriteCapacityUnits": big})
    invalid_create(ddb, f"Given value {big} for WriteCapacityUnits is out of bounds",
                   TableName=table_name, AttributeDefinitions=attrs(("a", "S")), KeySchema=keys("a"),
                   ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": big})


def test_create_table_hash_key_not_defined(ddb, table_name):
    # A hash-only key must be in AttributeDefinitions; the message lists both.
    invalid_create(
        ddb, INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
        "Keys: [a], AttributeDefinitions: [b]",
        TableName=table_name, AttributeDefinitions=attrs(("b", "S")), KeySchema=keys("a"), ProvisionedThroughput=PT,
    )


@pytest.mark.parametrize("defs, schema", [
    ([("b", "S")], keys("a", "b")),
    ([("a", "S")], [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "a", "KeyType": "HASH"}]),
])
def test_create_table_range_key_not_defined(ddb, table_name, defs, schema):
    # With two key elements the message is the terse "Invalid KeySchema" one.
    invalid_create(ddb, "Invalid KeySchema: Some index key attribute have no definition",
                   TableName=table_name, AttributeDefinitions=attrs(*defs), KeySchema=schema,
                   ProvisionedThroughput=PT)


def test_create_table_key_schema_order_and_names(ddb, table_name):
    # HASH first, RANGE second, two different attributes.
    base = {"TableName": table_name, "AttributeDefinitions": attrs(("a", "S"), ("b", "S")), "ProvisionedThroughput": PT}
    invalid_create(ddb, "Both the Hash Key and the Range Key element in the KeySchema have the same name",
                   KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "a", "KeyType": "RANGE"}],
                   **base)
    invalid_create(ddb, "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
                   KeySchema=[{"AttributeName": "a", "KeyType": "RANGE"}, {"AttributeName": "b", "KeyType": "HASH"}],
                   **base)
    invalid_create(ddb, "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
                   KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "HASH"}],
                   **base)


def test_create_table_unused_attribute_definition(ddb, table_name):
    # Without indexes, every definition must be a key attribute.
    invalid_create(
        ddb, INVALID + "Number of attributes in KeySchema does not exactly match number of attributes defined "
        "in AttributeDefinitions",
        TableName=table_name, AttributeDefinitions=attrs(("a", "S"), ("b", "S")), KeySchema=keys("a"),
        ProvisionedThroughput=PT,
    )


def test_create_table_duplicate_attribute_definition(ddb, table_name):
    # An attribute defined twice is refused.
    invalid_create(ddb, "Attribute Name is duplicated: a", TableName=table_name,
                   AttributeDefinitions=attrs(("a", "S"), ("a", "N")), KeySchema=keys("a"), ProvisionedThroughput=PT)


def test_create_table_local_index_rules(ddb, table_name):
    # An LSI shares the table's hash key, needs a range key, and a table with a range key.
    invalid_create(ddb, INVALID + "List of LocalSecondaryIndexes is empty",
                   **range_table(table_name, LocalSecondaryIndexes=[]))
    invalid_create(
        ddb, INVALID + "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
        **range_table(table_name, KeySchema=keys("a"), LocalSecondaryIndexes=[lsi("abc")]))
    invalid_create(
        ddb, INVALID + "Some index key attributes are not defined in AttributeDefinitions. "
        "Keys: [a, c], AttributeDefinitions: [a, b]",
        **range_table(table_name, LocalSecondaryIndexes=[lsi("abc", "c")]))
    invalid_create(
        ddb, INVALID + "Index KeySchema does not have a range key for index: abc",
        **range_table(table_name, LocalSecondaryIndexes=[
            {"IndexName": "abc", "KeySchema": keys("a"), "Projection": {"ProjectionType": "ALL"}}]))
    invalid_create(
        ddb, INVALID + "Index KeySchema does not have the same leading hash key as table KeySchema for index: abc. "
        "index hash key: b, table hash key: a",
        **range_table(table_name, LocalSecondaryIndexes=[
            {"IndexName": "abc", "KeySchema": keys("b", "a"), "Projection": {"ProjectionType": "ALL"}}]))


def test_create_table_index_projection_rules(ddb, table_name):
    # ProjectionType is needed, and NonKeyAttributes go only with INCLUDE.
    invalid_create(ddb, INVALID + "Unknown ProjectionType: null",
                   **range_table(table_name, LocalSecondaryIndexes=[lsi("abc", projection={"NonKeyAttributes": ["x"]})]))
    invalid_create(
        ddb, INVALID + "ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified",
        **range_table(table_name, GlobalSecondaryIndexes=[
            gsi("abc", projection={"ProjectionType": "KEYS_ONLY", "NonKeyAttributes": ["x"]})]))
    invalid_create(
        ddb, INVALID + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        **range_table(table_name, GlobalSecondaryIndexes=[gsi("abc", projection={"ProjectionType": "INCLUDE"})]))


def test_create_table_duplicate_index_names(ddb, table_name):
    # Index names are unique across LSIs and GSIs.
    invalid_create(ddb, INVALID + "Duplicate index name: abc",
                   **range_table(table_name, LocalSecondaryIndexes=[lsi("abc")], GlobalSecondaryIndexes=[gsi("abc")]))


def test_create_table_index_counts(ddb, table_name):
    # At most 5 LSIs and 20 GSIs.
    invalid_create(ddb, INVALID + "Number of LocalSecondaryIndexes exceeds per-table limit of 5",
                   **range_table(table_name, LocalSecondaryIndexes=[lsi(f"i{n:02}") for n in range(6)]))
    invalid_create(ddb, INVALID + "GlobalSecondaryIndex count exceeds the per-table limit of 20",
                   **range_table(table_name, GlobalSecondaryIndexes=[gsi(f"i{n:02}") for n in range(21)]))
    invalid_create(ddb, INVALID + "List of GlobalSecondaryIndexes is empty",
                   **range_table(table_name, GlobalSecondaryIndexes=[]))


def test_create_table_global_index_throughput(ddb, table_name):
    # A GSI's throughput follows the table's billing mode.
    invalid_create(ddb, INVALID + "ProvisionedThroughput is not specified for index: abc",
                   **range_table(table_name, GlobalSecondaryIndexes=[gsi("abc", throughput=None)]))
    request = range_table(table_name, GlobalSecondaryIndexes=[gsi("abc")], BillingMode="PAY_PER_REQUEST")
    del request["ProvisionedThroughput"]
    invalid_create(ddb, INVALID + "ProvisionedThroughput should not be specified for index: abc when BillingMode "
                   "is PAY_PER_REQUEST", **request)


def test_create_table_unused_definition_with_indexes(ddb, table_name):
    # With indexes, a definition no key uses is refused by name.
    invalid_create(
        ddb, INVALID + "Some AttributeDefinitions are not used. AttributeDefinitions: [a, b, z], keys used: [a, b]",
        **range_table(table_name, AttributeDefinitions=attrs(("a", "S"), ("b", "S"), ("z", "S")),
                      GlobalSecondaryIndexes=[gsi("abc")]))


# -- DescribeTable ------------------------------------------------------------------------------


def test_describe_table_matches_create_table(ddb, table_name):
    # DescribeTable answers {"Table": ...}, the same description CreateTable gave.
    created = ddb.call("CreateTable", **range_table(table_name))["TableDescription"]
    assert ddb.call("DescribeTable", TableName=table_name) == {"Table": created}


def test_describe_table_counts_items(ddb, table_name):
    # ItemCount and TableSizeBytes follow the table's contents.
    ddb.call("CreateTable", **range_table(table_name))
    ddb.call("PutItem", TableName=table_name, Item={"a": {"S": "x"}, "b": {"S": "y"}})
    table = ddb.call("DescribeTable", TableName=table_name)["Table"]
    assert table["ItemCount"] == 1
    assert table["TableSizeBytes"] == 4


def test_describe_table_missing_table(ddb, table_name):
    # A missing table is ResourceNotFoundException naming it.
    raises(ddb, "ResourceNotFoundException", f"Requested resource not found: Table: {table_name} not found",
           "DescribeTable", TableName=table_name)


def test_describe_table_bad_name(ddb):
    # The table name is checked before the table is looked up.
    raises(ddb, "ValidationException",
           "TableName must be at least 3 characters long and at most 255 characters long",
           "DescribeTable", TableName="x")


# -- ListTables ------------------------------------------------------------------------------------


def test_list_tables_sorted_and_paged(ddb, table_name):
    # Names come sorted; Limit pages them and LastEvaluatedTableName resumes.
    names = [f"{table_name}-{c}" for c in "cab"]
    for name in names:
        ddb.call("CreateTable", **range_table(name))
    first = ddb.call("ListTables", ExclusiveStartTableName=f"{table_name}-", Limit=2)
    assert first == {"TableNames": [f"{table_name}-a", f"{table_name}-b"],
                     "LastEvaluatedTableName": f"{table_name}-b"}
    second = ddb.call("ListTables", ExclusiveStartTableName=first["LastEvaluatedTableName"], Limit=1)
    assert second["TableNames"] == [f"{table_name}-c"]
    everything, req = [], {}
    while True:  # the HTTP server is shared: there may be more than one page
        out = ddb.call("ListTables", **req)
        everything.extend(out["TableNames"])
        if "LastEvaluatedTableName" not in out:
            break
        req = {"ExclusiveStartTableName": out["LastEvaluatedTableName"]}
    assert everything == sorted(everything)
    assert set(names) <= set(everything)


def test_list_tables_no_last_name_when_none_remain(ddb, table_name):
    # LastEvaluatedTableName appears only when more tables remain.
    names = [f"zzzz{table_name}-{c}" for c in "ab"]
    for name in names:
        ddb.call("CreateTable", **range_table(name))
    assert ddb.call("ListTables", ExclusiveStartTableName=f"zzzz{table_name}-", Limit=2) == {"TableNames": names}
    assert ddb.call("ListTables", ExclusiveStartTableName=names[1]) == {"TableNames": []}


def test_list_tables_limit_bounds(ddb):
    # Limit must be 1..100.
    raises(ddb, "ValidationException",
           "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
           "Member must have value greater than or equal to 1",
           "ListTables", Limit=0)
    raises(ddb, "ValidationException",
           "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: "
           "Member must have value less than or equal to 100",
           "ListTables", Limit=101)


def test_list_tables_bad_start_name(ddb):
    # ExclusiveStartTableName is checked like any table name member.
    raises(ddb, "ValidationException",
           "2 validation errors detected: Value 'a;' at 'exclusiveStartTableName' failed to satisfy constraint: "
           "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
           "Value 'a;' at 'exclusiveStartTableName' failed to satisfy constraint: "
           "Member must have length greater than or equal to 3",
           "ListTables", ExclusiveStartTableName="a;")


# -- DeleteTable ---------------------------------------------------------------------------------------


def test_delete_table_answers_deleting_and_removes(ddb, table_name):
    # DeleteTable answers the description with TableStatus DELETING; the table is gone.
    created = ddb.call("CreateTable", **range_table(table_name))["TableDescription"]
    deleted = ddb.call("DeleteTable", TableName=table_name)["TableDescription"]
    assert deleted["TableStatus"] == "DELETING"
    assert deleted["TableArn"] == created["TableArn"]
    assert deleted["TableId"] == created["TableId"]
    raises(ddb, "ResourceNotFoundException", f"Requested resource not found: Table: {table_name} not found",
           "DescribeTable", TableName=table_name)


def test_delete_table_missing_table(ddb, table_name):
    # Deleting a missing table is ResourceNotFoundException.
    raises(ddb, "ResourceNotFoundException", f"Requested resource not found: Table: {table_name} not found",
           "DeleteTable", TableName=table_name)


def test_delete_table_then_create_again(ddb, table_name):
    # A deleted table's name can be used again, for a new table.
    first = ddb.call("CreateTable", **range_table(table_name))["TableDescription"]
    ddb.call("DeleteTable", TableName=table_name)
    second = ddb.call("CreateTable", **range_table(table_name))["TableDescription"]
    assert second["TableId"] != first["TableId"]
