"""The control plane: CreateTable, DescribeTable, ListTables, DeleteTable.

By the time a handler runs, ``validation.py`` has checked every member's type
and model constraints.  What is left is DynamoDB's semantic validation of a
table definition, which :func:`create_table` does in DynamoDB's order, each
check raising the first problem it finds with DynamoDB's own text: billing
mode against provisioned throughput, attribute definitions, the table's key
schema, then local and global secondary indexes (key schemas, projections,
names, counts, throughput), then streams and encryption; an existing table
is refused last.

A created table is ACTIVE at once (so boto3's waiters return at once) and
keeps clean wire-form copies of what was asked for; :func:`describe` builds
the TableDescription that CreateTable, DescribeTable and DeleteTable answer
with.  Indexes are defined and described here; their contents are the
engine's.
"""

import time
import uuid
from bisect import bisect_right

from ..errors import ResourceInUseException, ResourceNotFoundException, ValidationException
from ..schema import Table

__all__ = ["create_table", "describe_table", "list_tables", "delete_table", "describe"]

MAX_LOCAL_INDEXES = 5
MAX_GLOBAL_INDEXES = 20
MAX_PROJECTED_ATTRIBUTES = 100
MAX_CAPACITY_UNITS = 1_000_000_000_000
LIST_TABLES_LIMIT = 100


# -- CreateTable ---------------------------------------------------------------


def create_table(db, req):
    name = req["TableName"]
    billing_mode = req.get("BillingMode") or "PROVISIONED"
    throughput = _check_billing(billing_mode, req.get("ProvisionedThroughput"))

    attribute_definitions = [
        {"AttributeName": d["AttributeName"], "AttributeType": d["AttributeType"]}
        for d in req["AttributeDefinitions"]
    ]
    defined = [d["AttributeName"] for d in attribute_definitions]
    seen = set()
    for attribute in defined:
        if attribute in seen:
            raise ValidationException(f"Attribute Name is duplicated: {attribute}")
        seen.add(attribute)

    key_schema = _key_schema(req["KeySchema"])
    _check_table_key_schema(key_schema, defined)

    lsis = req.get("LocalSecondaryIndexes")
    gsis = req.get("GlobalSecondaryIndexes")
    if lsis is None and gsis is None and len(key_schema) != len(attribute_definitions):
        raise ValidationException(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not "
            "exactly match number of attributes defined in AttributeDefinitions"
        )

    index_names = set()
    local_indexes = None
    if lsis is not None:
        local_indexes = _local_indexes(lsis, key_schema, defined, index_names)
    global_indexes = None
    if gsis is not None:
        global_indexes = _global_indexes(gsis, defined, index_names, billing_mode)

    if lsis is not None or gsis is not None:
        used = [e["AttributeName"] for e in key_schema]
        for index in (local_indexes or []) + (global_indexes or []):
            used.extend(e["AttributeName"] for e in index["KeySchema"] if e["AttributeName"] not in used)
        if any(attribute not in used for attribute in defined):
            raise ValidationException(
                "One or more parameter values were invalid: Some AttributeDefinitions are not used. "
                f"AttributeDefinitions: [{', '.join(defined)}], keys used: [{', '.join(used)}]"
            )
        projected = sum(
            len(index["Projection"].get("NonKeyAttributes", ()))
            for index in (local_indexes or []) + (global_indexes or [])
        )
        if projected > MAX_PROJECTED_ATTRIBUTES:
            raise ValidationException(
                "One or more parameter values were invalid: Number of projected attributes in all "
                "indexes exceeds limit of 100"
            )

    stream_specification = _stream_specification(req.get("StreamSpecification"))
    sse_specification = _sse_specification(req.get("SSESpecification"))

    if db.find_table(name) is not None:
        raise ResourceInUseException(f"Table already exists: {name}")

    tags = req.get("Tags")
    table = Table(
        name,
        key_schema,
        attribute_definitions,
        billing_mode=billing_mode,
        provisioned_throughput=throughput,
        local_secondary_indexes=local_indexes,
        global_secondary_indexes=global_indexes,
        stream_specification=stream_specification,
        table_class=req.get("TableClass"),
        deletion_protection=bool(req.get("DeletionProtectionEnabled")),
        tags=[{"Key": t["Key"], "Value": t["Value"]} for t in tags] if tags else None,
        sse_specification=sse_specification,
        region=db.region,
        account_id=db.account_id,
    )
    db.add_table(table)
    return {"TableDescription": describe(table)}


def _check_billing(billing_mode, throughput):
    """The table's throughput as stored: {Read,WriteCapacityUnits} or None."""
    if billing_mode == "PAY_PER_REQUEST":
        if throughput is not None:
            raise ValidationException(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        return None
    if throughput is None:
        raise ValidationException(
            "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits "
            "must both be specified when BillingMode is PROVISIONED"
        )
    return _capacity(throughput)


def _capacity(throughput):
    read = int(throughput["ReadCapacityUnits"])
    write = int(throughput["WriteCapacityUnits"])
    if read > MAX_CAPACITY_UNITS:
        raise ValidationException(f"Given value {read} for ReadCapacityUnits is out of bounds")
    if write > MAX_CAPACITY_UNITS:
        raise ValidationException(f"Given value {write} for WriteCapacityUnits is out of bounds")
    return {"ReadCapacityUnits": read, "WriteCapacityUnits": write}


def _key_schema(elements):
    return [{"AttributeName": e["AttributeName"], "KeyType": e["KeyType"]} for e in elements]


def _check_table_key_schema(key_schema, defined):
    names = [e["AttributeName"] for e in key_schema]
    if len(names) == 2:
        if any(n not in defined for n in names) or (names[0] == names[1] and len(defined) == 1):
            raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
    elif any(n not in defined for n in names):
        raise ValidationException(
            "One or more parameter values were invalid: Some index key attributes are not defined in "
            f"AttributeDefinitions. Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(defined)}]"
        )
    _check_key_types(key_schema)


def _check_key_types(key_schema):
    if len(key_schema) == 2 and key_schema[0]["AttributeName"] == key_schema[1]["AttributeName"]:
        raise ValidationException("Both the Hash Key and the Range Key element in the KeySchema have the same name")
    if key_schema[0]["KeyType"] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(key_schema) == 2 and key_schema[1]["KeyType"] != "RANGE":
        raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")


def _check_index_key_schema(key_schema, defined):
    names = [e["AttributeName"] for e in key_schema]
    if any(n not in defined for n in names):
        raise ValidationException(
            "One or more parameter values were invalid: Some index key attributes are not defined in "
            f"AttributeDefinitions. Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(defined)}]"
        )
    _check_key_types(key_schema)


def _projection(index_name, projection, index_names):
    projection_type = projection.get("ProjectionType")
    if projection_type is None:
        raise ValidationException("One or more parameter values were invalid: Unknown ProjectionType: null")
    non_key = projection.get("NonKeyAttributes")
    if non_key is not None and projection_type != "INCLUDE":
        raise ValidationException(
            f"One or more parameter values were invalid: ProjectionType is {projection_type}, "
            "but NonKeyAttributes is specified"
        )
    if non_key is None and projection_type == "INCLUDE":
        raise ValidationException(
            "One or more parameter values were invalid: ProjectionType is INCLUDE, "
            "but NonKeyAttributes is not specified"
        )
    if non_key is not None:
        seen = set()
        for attribute in non_key:
            if attribute in seen:
                raise ValidationException(
                    f"One or more parameter values were invalid: Duplicate element in NonKeyAttributes: {attribute}"
                )
            seen.add(attribute)
    if index_name in index_names:
        raise ValidationException(f"One or more parameter values were invalid: Duplicate index name: {index_name}")
    index_names.add(index_name)
    if projection_type == "INCLUDE":
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(non_key)}
    return {"ProjectionType": projection_type}


def _local_indexes(lsis, table_key_schema, defined, index_names):
    if not lsis:
        raise ValidationException("One or more parameter values were invalid: List of LocalSecondaryIndexes is empty")
    if len(table_key_schema) != 2:
        raise ValidationException(
            "One or more parameter values were invalid: Table KeySchema does not have a range key, "
            "which is required when specifying a LocalSecondaryIndex"
        )
    table_hash = table_key_schema[0]["AttributeName"]
    indexes = []
    for lsi in lsis:
        index_name = lsi["IndexName"]
        key_schema = _key_schema(lsi["KeySchema"])
        _check_index_key_schema(key_schema, defined)
        if len(key_schema) != 2:
            raise ValidationException(
                "One or more parameter values were invalid: Index KeySchema does not have a range key "
                f"for index: {index_name}"
            )
        index_hash = key_schema[0]["AttributeName"]
        if index_hash != table_hash:
            raise ValidationException(
                "One or more parameter values were invalid: Index KeySchema does not have the same "
                f"leading hash key as table KeySchema for index: {index_name}. "
                f"index hash key: {index_hash}, table hash key: {table_hash}"
            )
        projection = _projection(index_name, lsi["Projection"], index_names)
        indexes.append({"IndexName": index_name, "KeySchema": key_schema, "Projection": projection})
    if len(lsis) > MAX_LOCAL_INDEXES:
        raise ValidationException(
            "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds "
            "per-table limit of 5"
        )
    return indexes


def _global_indexes(gsis, defined, index_names, billing_mode):
    if not gsis:
        raise ValidationException("One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty")
    indexes = []
    for gsi in gsis:
        index_name = gsi["IndexName"]
        key_schema = _key_schema(gsi["KeySchema"])
        _check_index_key_schema(key_schema, defined)
        projection = _projection(index_name, gsi["Projection"], index_names)
        throughput = gsi.get("ProvisionedThroughput")
        if billing_mode == "PAY_PER_REQUEST":
            if throughput is not None:
                raise ValidationException(
                    "One or more parameter values were invalid: ProvisionedThroughput should not be "
                    f"specified for index: {index_name} when BillingMode is PAY_PER_REQUEST"
                )
        else:
            if throughput is None:
                raise ValidationException(
                    "One or more parameter values were invalid: ProvisionedThroughput is not specified "
                    f"for index: {index_name}"
                )
            throughput = _capacity(throughput)
        index = {"IndexName": index_name, "KeySchema": key_schema, "Projection": projection}
        if throughput is not None:
            index["ProvisionedThroughput"] = throughput
        indexes.append(index)
    if len(gsis) > MAX_GLOBAL_INDEXES:
        raise ValidationException(
            "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the "
            "per-table limit of 20"
        )
    return indexes


def _stream_specification(spec):
    if spec is None:
        return None
    enabled = spec["StreamEnabled"]
    view_type = spec.get("StreamViewType")
    if enabled and view_type is None:
        raise ValidationException(
            "One or more parameter values were invalid: Table is being created with a stream enabled, "
            "UpdateViewType is required"
        )
    if not enabled and view_type is not None:
        raise ValidationException(
            "One or more parameter values were invalid: Table is being created with a stream disabled, "
            "UpdateViewType should not be specified"
        )
    if not enabled:
        return None
    return {"StreamEnabled": True, "StreamViewType": view_type}


def _sse_specification(spec):
    if spec is None:
        return None
    if not spec.get("Enabled"):
        if spec.get("SSEType") is not None:
            raise ValidationException(
                "One or more parameter values were invalid: SSEType can not be specified if Enabled is false"
            )
        if spec.get("KMSMasterKeyId") is not None:
            raise ValidationException(
                "One or more parameter values were invalid: KMSMasterKeyId can not be specified if Enabled is false"
            )
        return None
    clean = {"Enabled": True, "SSEType": spec.get("SSEType") or "KMS"}
    if spec.get("KMSMasterKeyId") is not None:
        clean["KMSMasterKeyId"] = spec["KMSMasterKeyId"]
    return clean


# -- TableDescription ------------------------------------------------------------


def _throughput_description(throughput):
    if throughput is None:
        return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    described = {}
    for name in ("LastIncreaseDateTime", "LastDecreaseDateTime"):
        if throughput.get(name) is not None:
            described[name] = throughput[name]
    described["NumberOfDecreasesToday"] = throughput.get("NumberOfDecreasesToday", 0)
    described["ReadCapacityUnits"] = throughput["ReadCapacityUnits"]
    described["WriteCapacityUnits"] = throughput["WriteCapacityUnits"]
    return described


def _index_description(table, index, is_global):
    described = {
        "IndexName": index["IndexName"],
        "KeySchema": [dict(e) for e in index["KeySchema"]],
        "Projection": {
            k: (list(v) if k == "NonKeyAttributes" else v) for k, v in index["Projection"].items()
        },
    }
    if is_global:
        described["IndexStatus"] = "ACTIVE"
        described["ProvisionedThroughput"] = _throughput_description(index.get("ProvisionedThroughput"))
    # Index contents are the engine's; until it keeps them, they are empty.
    described["IndexSizeBytes"] = 0
    described["ItemCount"] = 0
    described["IndexArn"] = f"{table.arn}/index/{index['IndexName']}"
    return described


def stream_label(table):
    """The stream label DynamoDB derives from the stream's creation time."""
    seconds = table.creation_date_time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


def describe(table, status=None):
    """The TableDescription of a table, as DynamoDB shows it."""
    described = {
        "AttributeDefinitions": [dict(d) for d in table.attribute_definitions],
        "TableName": table.name,
        "KeySchema": [dict(e) for e in table.key_schema],
        "TableStatus": status or table.status,
        "CreationDateTime": table.creation_date_time,
        "ProvisionedThroughput": _throughput_description(table.provisioned_throughput),
        "TableSizeBytes": table.size_bytes,
        "ItemCount": table.item_count,
        "TableArn": table.arn,
        "TableId": table.table_id,
    }
    if table.billing_mode == "PAY_PER_REQUEST":
        described["BillingModeSummary"] = {
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": table.creation_date_time,
        }
    if table.local_secondary_indexes:
        described["LocalSecondaryIndexes"] = [
            _index_description(table, index, False) for index in table.local_secondary_indexes
        ]
    if table.global_secondary_indexes:
        described["GlobalSecondaryIndexes"] = [
            _index_description(table, index, True) for index in table.global_secondary_indexes
        ]
    stream = table.stream_specification
    if stream and stream.get("StreamEnabled"):
        label = stream_label(table)
        described["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        described["LatestStreamLabel"] = label
        described["LatestStreamArn"] = f"{table.arn}/stream/{label}"
    sse = table.sse_specification
    if sse and sse.get("Enabled"):
        key = sse.get("KMSMasterKeyId")
        if key is None:
            key = str(uuid.uuid5(uuid.NAMESPACE_URL, table.arn))
        if not key.startswith("arn:"):
            key = f"arn:aws:kms:{table.region}:{table.account_id}:key/{key}"
        described["SSEDescription"] = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key}
    if table.table_class is not None:
        described["TableClassSummary"] = {"TableClass": table.table_class}
    described["DeletionProtectionEnabled"] = bool(table.deletion_protection)
    return described


# -- DescribeTable, ListTables, DeleteTable --------------------------------------


def describe_table(db, req):
    name = req["TableName"]
    table = db.find_table(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return {"Table": describe(table)}


def list_tables(db, req):
    names = sorted(db.tables)
    start = req.get("ExclusiveStartTableName")
    if start is not None:
        names = names[bisect_right(names, start):]
    limit = req.get("Limit")
    limit = LIST_TABLES_LIMIT if limit is None else int(limit)
    answer = {"TableNames": names[:limit]}
    if len(names) > limit:
        answer["LastEvaluatedTableName"] = names[limit - 1]
    return answer


def delete_table(db, req):
    name = req["TableName"]
    table = db.find_table(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    if table.deletion_protection:
        raise ValidationException(
            "Resource cannot be deleted as it is currently protected against deletion. "
            "Disable deletion protection first."
        )
    described = describe(table, "DELETING")
    db.drop_table(name)
    return {"TableDescription": described}
