"""Each operation's request members, as data.

One table per operation maps every top-level member (wire name, in the order
DynamoDB lists its constraint errors) to its shape: the JSON type Coral
deserialises it as, and the model's constraints (required, lengths, pattern,
enum, value range).  ``validation.py`` compiles these tables once, at import,
into small checkers; nothing here runs per request.

The shapes mirror DynamoDB's service model, which decides two things a client
can see: which SerializationException text a wrongly typed member gets (a
"field" structure and a "value" structure answer differently, so do a plain
map and the parameterised map of an Item or a Key) and the text of each
constraint error.  Enum sets are written in the order DynamoDB prints them,
which is not alphabetical.  Members a table does not list are ignored, as
DynamoDB ignores them.

AttributeValues are only shaped here (an object, or a map of objects); their
contents are checked by ``kvstore.values``.
"""

from dataclasses import dataclass, field

__all__ = [
    "String", "Integer", "Long", "Boolean", "Blob", "List", "Map", "Struct",
    "AttributeValue", "AttributeMap", "AttributeValues",
    "SPECS", "TABLE_NAME_PATTERN",
]

TABLE_NAME_PATTERN = "[a-zA-Z0-9_.-]+"


# -- shapes ----------------------------------------------------------------
# ``required`` is the model's "Member must not be null".  ``table_name`` marks
# the TableName of the table-level operations (CreateTable, DescribeTable,
# DeleteTable), which DynamoDB checks ahead of every other constraint with
# messages of their own.


@dataclass(frozen=True)
class String:
    required: bool = False
    min_len: int | None = None
    max_len: int | None = None
    pattern: str | None = None
    enum: tuple | None = None
    table_name: bool = False


@dataclass(frozen=True)
class Integer:
    required: bool = False
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class Long:
    required: bool = False
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class Boolean:
    required: bool = False


@dataclass(frozen=True)
class Blob:
    required: bool = False


@dataclass(frozen=True)
class List:
    member: object
    required: bool = False
    min_len: int | None = None
    max_len: int | None = None
    # A list whose members are themselves generic (a list of Keys) is
    # "parameterised" in Coral's model and answers a scalar differently.
    parameterized: bool = False


@dataclass(frozen=True)
class Map:
    value: object
    # The Java type of the values, as Coral names it in
    # "Unrecognized collection type java.util.Map<java.lang.String, ...>".
    java_value: str
    required: bool = False
    min_len: int | None = None
    max_len: int | None = None
    # Constraints on the keys (a String shape) and on the length of each
    # value, reported once for the whole map: "Map keys must satisfy
    # constraint: [...]", "Map value must satisfy constraint: [...]"
    # (BatchGetItem / BatchWriteItem's RequestItems).
    key: object = None
    value_min_len: int | None = None
    value_max_len: int | None = None


@dataclass(frozen=True)
class Struct:
    name: str  # the model's shape name, e.g. "KeySchemaElement"
    members: dict = field(default_factory=dict)
    required: bool = False
    # A "field" structure (ProvisionedThroughput, Projection) answers a scalar
    # with "Unexpected field type"; a "value" structure (a list member, a map
    # value, StreamSpecification) with "Unexpected value type in payload".
    field_struct: bool = False


@dataclass(frozen=True)
class AttributeValue:
    """One AttributeValue (an ExpressionAttributeValues value, a Value)."""

    required: bool = False


@dataclass(frozen=True)
class AttributeMap:
    """An Item or a Key: Coral's parameterised map of AttributeValues."""

    required: bool = False


@dataclass(frozen=True)
class AttributeValues:
    """ExpressionAttributeValues: a plain map of AttributeValues."""

    required: bool = False


# -- shared pieces -----------------------------------------------------------

_DDB = "com.amazonaws.dynamodb.v20120810."

TABLE_NAME = String(required=True, pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255)
TABLE_NAME_CHECKED_FIRST = String(
    required=True, pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255, table_name=True
)
INDEX_NAME = String(pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255)

RETURN_CONSUMED_CAPACITY = String(enum=("INDEXES", "TOTAL", "NONE"))
RETURN_ITEM_COLLECTION_METRICS = String(enum=("SIZE", "NONE"))
RETURN_VALUES = String(enum=("ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"))
RETURN_VALUES_ON_CONDITION_CHECK_FAILURE = String(enum=("ALL_OLD", "NONE"))
CONDITIONAL_OPERATOR = String(enum=("OR", "AND"))
COMPARISON_OPERATOR = (
    "IN", "NULL", "BETWEEN", "LT", "NOT_CONTAINS", "EQ", "GT", "NOT_NULL",
    "NE", "LE", "BEGINS_WITH", "GE", "CONTAINS",
)
SELECT = String(
    enum=("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES")
)

ATTRIBUTES_TO_GET = List(String(), min_len=1)
EXPRESSION_ATTRIBUTE_NAMES = Map(String(), "java.lang.String")
EXPRESSION_ATTRIBUTE_VALUES = AttributeValues()

KEY_SCHEMA_ELEMENT = Struct(
    "KeySchemaElement",
    {
        "AttributeName": String(required=True, min_len=1, max_len=255),
        "KeyType": String(required=True, enum=("HASH", "RANGE")),
    },
)
KEY_SCHEMA = List(KEY_SCHEMA_ELEMENT, required=True, min_len=1, max_len=2)

ATTRIBUTE_DEFINITION = Struct(
    "AttributeDefinition",
    {
        "AttributeName": String(required=True, min_len=1, max_len=255),
        "AttributeType": String(required=True, enum=("B", "N", "S")),
    },
)


def _throughput(**kw):
    return Struct(
        "ProvisionedThroughput",
        {
            "WriteCapacityUnits": Long(required=True, min=1),
            "ReadCapacityUnits": Long(required=True, min=1),
        },
        field_struct=True,
        **kw,
    )


PROVISIONED_THROUGHPUT = _throughput()
ON_DEMAND_THROUGHPUT = Struct(
    "OnDemandThroughput",
    {"MaxReadRequestUnits": Long(), "MaxWriteRequestUnits": Long()},
    field_struct=True,
)
WARM_THROUGHPUT = Struct(
    "WarmThroughput",
    {"ReadUnitsPerSecond": Long(), "WriteUnitsPerSecond": Long()},
    field_struct=True,
)

PROJECTION = Struct(
    "Projection",
    {
        "ProjectionType": String(enum=("ALL", "INCLUDE", "KEYS_ONLY")),
        "NonKeyAttributes": List(String(min_len=1, max_len=255), min_len=1, max_len=20),
    },
    required=True,
    field_struct=True,
)

LOCAL_SECONDARY_INDEX = Struct(
    "LocalSecondaryIndex",
    {
        "KeySchema": KEY_SCHEMA,
        "Projection": PROJECTION,
        "IndexName": String(required=True, pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255),
    },
)

GLOBAL_SECONDARY_INDEX = Struct(
    "GlobalSecondaryIndex",
    {
        "KeySchema": KEY_SCHEMA,
        "Projection": PROJECTION,
        "IndexName": String(required=True, pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255),
        "ProvisionedThroughput": PROVISIONED_THROUGHPUT,
        "OnDemandThroughput": ON_DEMAND_THROUGHPUT,
        "WarmThroughput": WARM_THROUGHPUT,
    },
)

STREAM_SPECIFICATION = Struct(
    "StreamSpecification",
    {
        "StreamEnabled": Boolean(required=True),
        "StreamViewType": String(enum=("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")),
    },
)

SSE_SPECIFICATION = Struct(
    "SSESpecification",
    {
        "Enabled": Boolean(),
        "SSEType": String(enum=("AES256", "KMS")),
        "KMSMasterKeyId": String(),
    },
)

# A Tag's Key and Value are checked by kvstore/api/control.py (check_tags),
# with DynamoDB's own texts ("The Tag Key provided is invalid, Key: ..."),
# not as model constraints: that is what DynamoDB answers, on CreateTable too.
TAG = Struct("Tag", {"Key": String(), "Value": String()})

EXPECTED_ATTRIBUTE_VALUE = Struct(
    "ExpectedAttributeValue",
    {
        "Value": AttributeValue(),
        "Exists": Boolean(),
        "ComparisonOperator": String(enum=COMPARISON_OPERATOR),
        "AttributeValueList": List(AttributeValue()),
    },
)
EXPECTED = Map(EXPECTED_ATTRIBUTE_VALUE, _DDB + "ExpectedAttributeValue")

CONDITION = Struct(
    "Condition",
    {
        "AttributeValueList": List(AttributeValue()),
        "ComparisonOperator": String(required=True, enum=COMPARISON_OPERATOR),
    },
)
CONDITIONS = Map(CONDITION, _DDB + "Condition")

ATTRIBUTE_VALUE_UPDATE = Struct(
    "AttributeValueUpdate",
    {
        "Value": AttributeValue(),
        "Action": String(enum=("ADD", "PUT", "DELETE")),
    },
)


# -- operations --------------------------------------------------------------

CREATE_TABLE = {
    "AttributeDefinitions": List(ATTRIBUTE_DEFINITION, required=True),
    "TableName": TABLE_NAME_CHECKED_FIRST,
    "ProvisionedThroughput": PROVISIONED_THROUGHPUT,
    "KeySchema": KEY_SCHEMA,
    "LocalSecondaryIndexes": List(LOCAL_SECONDARY_INDEX),
    "GlobalSecondaryIndexes": List(GLOBAL_SECONDARY_INDEX),
    "BillingMode": String(enum=("PROVISIONED", "PAY_PER_REQUEST")),
    "StreamSpecification": STREAM_SPECIFICATION,
    "SSESpecification": SSE_SPECIFICATION,
    "Tags": List(TAG),
    "TableClass": String(enum=("STANDARD", "STANDARD_INFREQUENT_ACCESS")),
    "DeletionProtectionEnabled": Boolean(),
    "ResourcePolicy": String(),
    "OnDemandThroughput": ON_DEMAND_THROUGHPUT,
    "WarmThroughput": WARM_THROUGHPUT,
}

DESCRIBE_TABLE = {"TableName": TABLE_NAME_CHECKED_FIRST}

DELETE_TABLE = {"TableName": TABLE_NAME_CHECKED_FIRST}

LIST_TABLES = {
    "ExclusiveStartTableName": String(pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255),
    "Limit": Integer(min=1, max=100),
}

PUT_ITEM = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "TableName": TABLE_NAME,
    "Item": AttributeMap(required=True),
    "ReturnValues": RETURN_VALUES,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
    "Expected": EXPECTED,
    "ConditionalOperator": CONDITIONAL_OPERATOR,
    "ConditionExpression": String(),
    "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
    "ExpressionAttributeValues": EXPRESSION_ATTRIBUTE_VALUES,
    "ReturnValuesOnConditionCheckFailure": RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
}

GET_ITEM = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "AttributesToGet": ATTRIBUTES_TO_GET,
    "TableName": TABLE_NAME,
    "Key": AttributeMap(required=True),
    "ConsistentRead": Boolean(),
    "ProjectionExpression": String(),
    "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
}

DELETE_ITEM = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "TableName": TABLE_NAME,
    "ReturnValues": RETURN_VALUES,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
    "Key": AttributeMap(required=True),
    "Expected": EXPECTED,
    "ConditionalOperator": CONDITIONAL_OPERATOR,
    "ConditionExpression": String(),
    "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
    "ExpressionAttributeValues": EXPRESSION_ATTRIBUTE_VALUES,
    "ReturnValuesOnConditionCheckFailure": RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
}

UPDATE_ITEM = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "TableName": TABLE_NAME,
    "ReturnValues": RETURN_VALUES,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
    "Key": AttributeMap(required=True),
    "AttributeUpdates": Map(ATTRIBUTE_VALUE_UPDATE, _DDB + "AttributeValueUpdate"),
    "Expected": EXPECTED,
    "ConditionalOperator": CONDITIONAL_OPERATOR,
    "UpdateExpression": String(),
    "ConditionExpression": String(),
    "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
    "ExpressionAttributeValues": EXPRESSION_ATTRIBUTE_VALUES,
    "ReturnValuesOnConditionCheckFailure": RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
}

QUERY = {
    "Limit": Integer(min=1),
    "KeyConditions": CONDITIONS,
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "AttributesToGet": ATTRIBUTES_TO_GET,
    "QueryFilter": CONDITIONS,
    "TableName": TABLE_NAME,
    "Select": SELECT,
    "IndexName": INDEX_NAME,
    "ConditionalOperator": CONDITIONAL_OPERATOR,
    "ConsistentRead": Boolean(),
    "ScanIndexForward": Boolean(),
    "ExclusiveStartKey": AttributeMap(),
    "ProjectionExpression": String(),
    "FilterExpression": String(),
    "KeyConditionExpression": String(),
    "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
    "ExpressionAttributeValues": EXPRESSION_ATTRIBUTE_VALUES,
}

SCAN = {
    "Limit": Integer(min=1),
    "TotalSegments": Integer(min=1, max=1000000),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "AttributesToGet": ATTRIBUTES_TO_GET,
    "Select": SELECT,
    "TableName": TABLE_NAME,
    "Segment": Integer(min=0, max=999999),
    "ScanFilter": CONDITIONS,
    "IndexName": INDEX_NAME,
    "ConditionalOperator": CONDITIONAL_OPERATOR,
    "ExclusiveStartKey": AttributeMap(),
    "ConsistentRead": Boolean(),
    "ProjectionExpression": String(),
    "FilterExpression": String(),
    "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
    "ExpressionAttributeValues": EXPRESSION_ATTRIBUTE_VALUES,
}

GLOBAL_SECONDARY_INDEX_UPDATE = Struct(
    "GlobalSecondaryIndexUpdate",
    {
        "Update": Struct(
            "UpdateGlobalSecondaryIndexAction",
            {
                "IndexName": String(required=True, pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255),
                "ProvisionedThroughput": PROVISIONED_THROUGHPUT,
                "OnDemandThroughput": ON_DEMAND_THROUGHPUT,
                "WarmThroughput": WARM_THROUGHPUT,
            },
            field_struct=True,
        ),
        "Create": Struct(
            "CreateGlobalSecondaryIndexAction",
            {
                "IndexName": String(required=True, pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255),
                "KeySchema": KEY_SCHEMA,
                "Projection": PROJECTION,
                "ProvisionedThroughput": PROVISIONED_THROUGHPUT,
                "OnDemandThroughput": ON_DEMAND_THROUGHPUT,
                "WarmThroughput": WARM_THROUGHPUT,
            },
            field_struct=True,
        ),
        "Delete": Struct(
            "DeleteGlobalSecondaryIndexAction",
            {"IndexName": String(required=True, pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255)},
            field_struct=True,
        ),
    },
)

UPDATE_TABLE = {
    "AttributeDefinitions": List(ATTRIBUTE_DEFINITION),
    "TableName": TABLE_NAME_CHECKED_FIRST,
    "BillingMode": String(enum=("PROVISIONED", "PAY_PER_REQUEST")),
    "ProvisionedThroughput": PROVISIONED_THROUGHPUT,
    "GlobalSecondaryIndexUpdates": List(GLOBAL_SECONDARY_INDEX_UPDATE),
    "StreamSpecification": STREAM_SPECIFICATION,
    "SSESpecification": SSE_SPECIFICATION,
    "TableClass": String(enum=("STANDARD", "STANDARD_INFREQUENT_ACCESS")),
    "DeletionProtectionEnabled": Boolean(),
    "OnDemandThroughput": ON_DEMAND_THROUGHPUT,
    "WarmThroughput": WARM_THROUGHPUT,
}

# -- batches and transactions ---------------------------------------------------
# RequestItems' keys are table names, checked as a whole map.

_TABLE_NAME_KEY = String(pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255)

KEYS_AND_ATTRIBUTES = Struct(
    "KeysAndAttributes",
    {
        "Keys": List(AttributeMap(), required=True, min_len=1, max_len=100, parameterized=True),
        "AttributesToGet": ATTRIBUTES_TO_GET,
        "ConsistentRead": Boolean(),
        "ProjectionExpression": String(),
        "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
    },
)

BATCH_GET_ITEM = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "RequestItems": Map(
        KEYS_AND_ATTRIBUTES, _DDB + "KeysAndAttributes", required=True, min_len=1, max_len=100,
        key=_TABLE_NAME_KEY,
    ),
}

# DynamoDB lists a WriteRequest's errors DeleteRequest first.
WRITE_REQUEST = Struct(
    "WriteRequest",
    {
        "DeleteRequest": Struct("DeleteRequest", {"Key": AttributeMap(required=True)}, field_struct=True),
        "PutRequest": Struct("PutRequest", {"Item": AttributeMap(required=True)}, field_struct=True),
    },
)

BATCH_WRITE_ITEM = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
    "RequestItems": Map(
        List(WRITE_REQUEST, parameterized=True),
        "java.util.List<" + _DDB + "WriteRequest>",
        required=True,
        min_len=1,
        max_len=25,
        key=_TABLE_NAME_KEY,
        value_min_len=1,
        value_max_len=25,
    ),
}

_EXPRESSION_MEMBERS = {
    "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
    "ExpressionAttributeValues": EXPRESSION_ATTRIBUTE_VALUES,
    "ReturnValuesOnConditionCheckFailure": RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
}

TRANSACT_PUT = Struct("Put", {
    "Item": AttributeMap(required=True),
    "TableName": TABLE_NAME,
    "ConditionExpression": String(),
    **_EXPRESSION_MEMBERS,
}, field_struct=True)
TRANSACT_UPDATE = Struct("Update", {
    "Key": AttributeMap(required=True),
    "UpdateExpression": String(required=True),
    "TableName": TABLE_NAME,
    "ConditionExpression": String(),
    **_EXPRESSION_MEMBERS,
}, field_struct=True)
TRANSACT_DELETE = Struct("Delete", {
    "Key": AttributeMap(required=True),
    "TableName": TABLE_NAME,
    "ConditionExpression": String(),
    **_EXPRESSION_MEMBERS,
}, field_struct=True)
TRANSACT_CONDITION_CHECK = Struct("ConditionCheck", {
    "Key": AttributeMap(required=True),
    "TableName": TABLE_NAME,
    "ConditionExpression": String(required=True),
    **_EXPRESSION_MEMBERS,
}, field_struct=True)

# The members of each TransactWriteItems action (transact.py keeps only these).
TRANSACT_WRITE_ACTIONS = {
    "ConditionCheck": TRANSACT_CONDITION_CHECK.members,
    "Put": TRANSACT_PUT.members,
    "Delete": TRANSACT_DELETE.members,
    "Update": TRANSACT_UPDATE.members,
}

TRANSACT_WRITE_ITEMS = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
    "TransactItems": List(
        Struct("TransactWriteItem", {
            "ConditionCheck": TRANSACT_CONDITION_CHECK,
            "Put": TRANSACT_PUT,
            "Delete": TRANSACT_DELETE,
            "Update": TRANSACT_UPDATE,
        }),
        required=True, min_len=1, max_len=100,
    ),
    "ClientRequestToken": String(min_len=1, max_len=36),
}

TRANSACT_GET_ITEMS = {
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "TransactItems": List(
        Struct("TransactGetItem", {
            "Get": Struct("Get", {
                "Key": AttributeMap(required=True),
                "TableName": TABLE_NAME,
                "ProjectionExpression": String(),
                "ExpressionAttributeNames": EXPRESSION_ATTRIBUTE_NAMES,
            }, required=True, field_struct=True),
        }),
        required=True, min_len=1, max_len=100,
    ),
}

# -- PartiQL (api/partiql.py) ---------------------------------------------------
# Parameters are AttributeValues, checked as values when a statement binds them.

STATEMENT = String(required=True, min_len=1, max_len=8192)
PARAMETERS = List(AttributeValue(), min_len=1)

EXECUTE_STATEMENT = {
    "Statement": STATEMENT,
    "Parameters": PARAMETERS,
    "ConsistentRead": Boolean(),
    "NextToken": String(min_len=1, max_len=32768),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "Limit": Integer(min=1),
    "ReturnValuesOnConditionCheckFailure": RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
}

BATCH_EXECUTE_STATEMENT = {
    "Statements": List(
        Struct("BatchStatementRequest", {
            "Statement": STATEMENT,
            "Parameters": PARAMETERS,
            "ConsistentRead": Boolean(),
            "ReturnValuesOnConditionCheckFailure": RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
        }),
        required=True, min_len=1, max_len=25,
    ),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
}

EXECUTE_TRANSACTION = {
    "TransactStatements": List(
        Struct("ParameterizedStatement", {
            "Statement": STATEMENT,
            "Parameters": PARAMETERS,
            "ReturnValuesOnConditionCheckFailure": RETURN_VALUES_ON_CONDITION_CHECK_FAILURE,
        }),
        required=True, min_len=1, max_len=100,
    ),
    "ClientRequestToken": String(min_len=1, max_len=36),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
}

# -- Time to Live, tags and the rest of the control plane (api/control.py) --

TIME_TO_LIVE_SPECIFICATION = Struct(
    "TimeToLiveSpecification",
    {
        "Enabled": Boolean(required=True),
        "AttributeName": String(required=True, min_len=1, max_len=255),
    },
    required=True,
    field_struct=True,
)

UPDATE_TIME_TO_LIVE = {
    "TableName": TABLE_NAME,
    "TimeToLiveSpecification": TIME_TO_LIVE_SPECIFICATION,
}

DESCRIBE_TIME_TO_LIVE = {"TableName": TABLE_NAME}

# ResourceArn's absence, and an empty Tags / TagKeys, have texts of their own
# (control.py); Tags and TagKeys being absent is the model's null check, which
# DynamoDB reports after ResourceArn's own checks, so control.py does it too.
TAG_RESOURCE = {"ResourceArn": String(), "Tags": List(TAG)}
UNTAG_RESOURCE = {"ResourceArn": String(), "TagKeys": List(String())}
LIST_TAGS_OF_RESOURCE = {"ResourceArn": String(), "NextToken": String()}

DESCRIBE_CONTINUOUS_BACKUPS = {"TableName": TABLE_NAME}

# -- DynamoDB Streams (api/streams.py) ----------------------------------------
# Keyed "Streams.<Operation>" below: the streams service has its own
# operation names.  A malformed StreamArn is "Invalid StreamArn" (streams.py),
# not a length constraint.

LIST_STREAMS = {
    "TableName": String(pattern=TABLE_NAME_PATTERN, min_len=3, max_len=255),
    "Limit": Integer(min=1, max=100),
    "ExclusiveStartStreamArn": String(),
}

DESCRIBE_STREAM = {
    "StreamArn": String(required=True),
    "Limit": Integer(min=1, max=100),
    "ExclusiveStartShardId": String(),
}

GET_SHARD_ITERATOR = {
    "StreamArn": String(required=True),
    "ShardId": String(required=True),
    "ShardIteratorType": String(
        required=True,
        enum=("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"),
    ),
    "SequenceNumber": String(),
}

GET_RECORDS = {
    "ShardIterator": String(required=True, min_len=1, max_len=2048),
    "Limit": Integer(min=1, max=1000),
}

SPECS = {
    "UpdateTimeToLive": UPDATE_TIME_TO_LIVE,
    "DescribeTimeToLive": DESCRIBE_TIME_TO_LIVE,
    "TagResource": TAG_RESOURCE,
    "UntagResource": UNTAG_RESOURCE,
    "ListTagsOfResource": LIST_TAGS_OF_RESOURCE,
    "DescribeContinuousBackups": DESCRIBE_CONTINUOUS_BACKUPS,
    "Streams.ListStreams": LIST_STREAMS,
    "Streams.DescribeStream": DESCRIBE_STREAM,
    "Streams.GetShardIterator": GET_SHARD_ITERATOR,
    "Streams.GetRecords": GET_RECORDS,
    "CreateTable": CREATE_TABLE,
    "DescribeTable": DESCRIBE_TABLE,
    "ListTables": LIST_TABLES,
    "DeleteTable": DELETE_TABLE,
    "PutItem": PUT_ITEM,
    "GetItem": GET_ITEM,
    "DeleteItem": DELETE_ITEM,
    "UpdateItem": UPDATE_ITEM,
    "UpdateTable": UPDATE_TABLE,
    "Query": QUERY,
    "Scan": SCAN,
    "BatchGetItem": BATCH_GET_ITEM,
    "BatchWriteItem": BATCH_WRITE_ITEM,
    "TransactGetItems": TRANSACT_GET_ITEMS,
    "TransactWriteItems": TRANSACT_WRITE_ITEMS,
    "ExecuteStatement": EXECUTE_STATEMENT,
    "BatchExecuteStatement": BATCH_EXECUTE_STATEMENT,
    "ExecuteTransaction": EXECUTE_TRANSACTION,
}
