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

from ..errors import (
    LimitExceededException, ResourceInUseException, ResourceNotFoundException, ValidationException,
)
from ..schema import Table
from .control import check_tags

__all__ = ["create_table", "describe_table", "list_tables", "delete_table", "update_table", "describe"]

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

    tags = req.get("Tags")
    if tags:
        tags = check_tags(tags)

    if db.find_table(name) is not None:
        raise ResourceInUseException(f"Table already exists: {name}")

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
        tags=tags or None,
        sse_specification=sse_specification,
        region=db.region,
        account_id=db.account_id,
    )
    db.add_table(table)
    if stream_specification is not None:
        db.streams.open(table)
    if getattr(db, "wal", None) is not None:  # kvstore/wal.py
        db.wal.table_created(table)
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


def _index_description(table, index, is_global, status=None):
    described = {
        "IndexName": index["IndexName"],
        "KeySchema": [dict(e) for e in index["KeySchema"]],
        "Projection": {
            k: (list(v) if k == "NonKeyAttributes" else v) for k, v in index["Projection"].items()
        },
    }
    if is_global:
        described["IndexStatus"] = status or "ACTIVE"
        described["ProvisionedThroughput"] = _throughput_description(index.get("ProvisionedThroughput"))
    stored = table.find_index(index["IndexName"])
    described["IndexSizeBytes"] = stored.size_bytes if stored is not None else 0
    described["ItemCount"] = stored.item_count if stored is not None else 0
    described["IndexArn"] = f"{table.arn}/index/{index['IndexName']}"
    return described


def stream_label(table):
    """The stream label DynamoDB derives from the stream's creation time."""
    if table.latest_stream is not None:
        return table.latest_stream.label
    seconds = table.creation_date_time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}"


def describe(table, status=None, index_status=None, deleted_indexes=()):
    """The TableDescription of a table, as DynamoDB shows it.

    ``index_status`` maps GSI names to the IndexStatus to show (UpdateTable's
    answer: CREATING); ``deleted_indexes`` are GSI definitions just deleted,
    shown as DELETING in UpdateTable's answer."""
    index_status = index_status or {}
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
    if table.global_secondary_indexes or deleted_indexes:
        described["GlobalSecondaryIndexes"] = [
            _index_description(table, index, True, index_status.get(index["IndexName"]))
            for index in table.global_secondary_indexes or ()
        ] + [_index_description(table, index, True, "DELETING") for index in deleted_indexes]
    stream = table.stream_specification
    if stream is not None:
        described["StreamSpecification"] = dict(stream)
    if table.latest_stream is not None:
        # Kept after the stream is disabled, as DynamoDB keeps them.
        described["LatestStreamLabel"] = table.latest_stream.label
        described["LatestStreamArn"] = table.latest_stream.arn
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
    db.streams.close(table)  # its stream stays readable, DISABLED, for 24 hours
    db.drop_table(name)
    if getattr(db, "wal", None) is not None:  # kvstore/wal.py
        db.wal.table_dropped(name)
    return {"TableDescription": described}


# -- UpdateTable -------------------------------------------------------------------
# Checked in DynamoDB's order: something to update, then billing mode and
# throughput, then the GSI updates one by one (structure, then each action
# against the table), then streams; nothing changes until every check passed.
#
# Index creation is immediate here: the backfill runs inside the call.  The
# answer shows what DynamoDB's answer shows (TableStatus UPDATING, the new
# index CREATING, a deleted one DELETING) so that clients which poll
# DescribeTable for ACTIVE (Terraform, CDK, custom waiters) see the usual
# sequence; the next DescribeTable already shows the index ACTIVE.

_NOTHING_TO_UPDATE = (
    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, "
    "SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, "
    "DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required"
)


def _throughput_unchanged(what, current, requested):
    return ValidationException(
        f"The provisioned throughput for {what} will not change. The requested value equals the current value. "
        f"Current ReadCapacityUnits provisioned for {what}: {current['ReadCapacityUnits']}. "
        f"Requested ReadCapacityUnits: {requested['ReadCapacityUnits']}. "
        f"Current WriteCapacityUnits provisioned for {what}: {current['WriteCapacityUnits']}. "
        f"Requested WriteCapacityUnits: {requested['WriteCapacityUnits']}. "
        "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
    )


def _updated_throughput(current, requested):
    now = time.time()
    updated = dict(current or {})
    if current is not None:
        if requested["ReadCapacityUnits"] > current["ReadCapacityUnits"] or (
            requested["WriteCapacityUnits"] > current["WriteCapacityUnits"]
        ):
            updated["LastIncreaseDateTime"] = now
        if requested["ReadCapacityUnits"] < current["ReadCapacityUnits"] or (
            requested["WriteCapacityUnits"] < current["WriteCapacityUnits"]
        ):
            updated["LastDecreaseDateTime"] = now
            updated["NumberOfDecreasesToday"] = updated.get("NumberOfDecreasesToday", 0) + 1
    updated["ReadCapacityUnits"] = requested["ReadCapacityUnits"]
    updated["WriteCapacityUnits"] = requested["WriteCapacityUnits"]
    return updated


def _check_gsi_updates(table, updates, billing_mode, new_definitions):
    """The GSI actions as (kind, name, payload), checked; raises."""
    actions = []
    seen = set()
    for update in updates:
        present = [kind for kind in ("Update", "Create", "Delete") if update.get(kind) is not None]
        if not present:
            raise ValidationException(
                "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, "
                "GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null"
            )
        if len(present) > 1:
            raise ValidationException(
                "One or more parameter values were invalid: Only one global secondary index action is allowed "
                "per GlobalSecondaryIndexUpdate object"
            )
        kind = present[0]
        action = update[kind]
        name = action["IndexName"]
        if name in seen:
            raise ValidationException(
                "One or more parameter values were invalid: Only one global secondary index update per index "
                f"is allowed simultaneously. Index: {name}"
            )
        seen.add(name)
        actions.append((kind, name, action))
    structural = sum(1 for kind, _, _ in actions if kind != "Update")
    if structural > 1:
        raise LimitExceededException(
            "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table"
        )
    defined_types = dict(table.types)
    for d in new_definitions:
        defined_types.setdefault(d["AttributeName"], d["AttributeType"])
    checked = []
    for kind, name, action in actions:
        existing = table.find_index(name)
        if kind == "Create":
            if existing is not None:
                raise ValidationException("Attempting to create an index which already exists")
            key_schema = _key_schema(action["KeySchema"])
            names = [e["AttributeName"] for e in key_schema]
            if not new_definitions:
                if any(n not in table.types for n in names):
                    raise ValidationException(
                        f"One or more parameter values were invalid: AttributeDefinitions is not specified for index: {name}"
                    )
            elif any(n not in defined_types for n in names):
                defined = [d["AttributeName"] for d in new_definitions]
                raise ValidationException(
                    "One or more parameter values were invalid: Some index key attributes are not defined in "
                    f"AttributeDefinitions. Keys: [{', '.join(names)}], AttributeDefinitions: [{', '.join(defined)}]"
                )
            _check_key_types(key_schema)
            projection = _projection(name, action["Projection"], set())
            throughput = action.get("ProvisionedThroughput")
            if billing_mode == "PAY_PER_REQUEST":
                if throughput is not None:
                    raise ValidationException(
                        "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
                        f"can be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                    )
            else:
                if throughput is None:
                    raise ValidationException(
                        f"One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {name}"
                    )
                throughput = _capacity(throughput)
            if len(table.global_indexes) + 1 > MAX_GLOBAL_INDEXES:
                raise LimitExceededException(
                    "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the "
                    f"per-table limit of {MAX_GLOBAL_INDEXES}"
                )
            definition = {"IndexName": name, "KeySchema": key_schema, "Projection": projection}
            if throughput is not None:
                definition["ProvisionedThroughput"] = throughput
            checked.append((kind, name, definition))
            continue
        if existing is None or not existing.is_global:
            if existing is not None:
                verb = "delete" if kind == "Delete" else "update"
                raise ValidationException(f"Cannot {verb} an index that is not a GlobalSecondaryIndex: {name}")
            raise ResourceNotFoundException(f"Requested resource not found: Index {name} for table {table.name}")
        if kind == "Update":
            throughput = action.get("ProvisionedThroughput")
            if billing_mode == "PAY_PER_REQUEST":
                if throughput is not None:
                    raise ValidationException(
                        f"One or more parameter values were invalid: The only Updates for index: {name} when "
                        "TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"
                    )
                checked.append((kind, name, None))
                continue
            if throughput is not None:
                throughput = _capacity(throughput)
                current = existing.definition.get("ProvisionedThroughput")
                if current is not None and (
                    current["ReadCapacityUnits"] == throughput["ReadCapacityUnits"]
                    and current["WriteCapacityUnits"] == throughput["WriteCapacityUnits"]
                ):
                    raise _throughput_unchanged(f"the index {name}", current, throughput)
            checked.append((kind, name, throughput))
            continue
        checked.append((kind, name, existing.definition))
    return checked


def update_table(db, req):
    name = req["TableName"]
    table = db.find_table(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    billing = req.get("BillingMode")
    throughput = req.get("ProvisionedThroughput")
    gsi_updates = req.get("GlobalSecondaryIndexUpdates") or None
    stream = req.get("StreamSpecification")
    sse = req.get("SSESpecification")
    table_class = req.get("TableClass")
    protection = req.get("DeletionProtectionEnabled")
    if all(v is None for v in (
        billing, throughput, gsi_updates, stream, sse, table_class, protection,
        req.get("OnDemandThroughput"), req.get("WarmThroughput"),
    )):
        raise ValidationException(_NOTHING_TO_UPDATE)
    # SSE, table class and deletion protection changes each come alone.
    for member, value, what in (
        ("SSESpecification", sse, "Server-Side Encryption"),
        ("TableClass", table_class, "TableClass"),
        ("DeletionProtectionEnabled", protection, "DeletionProtection"),
    ):
        if value is not None and any(
            other is not None for key, other in (
                ("BillingMode", billing), ("ProvisionedThroughput", throughput),
                ("GlobalSecondaryIndexUpdates", gsi_updates), ("StreamSpecification", stream),
                ("SSESpecification", sse), ("TableClass", table_class),
                ("DeletionProtectionEnabled", protection),
            ) if key != member
        ):
            raise ValidationException(
                f"One or more parameter values were invalid: {what} modification must be the only operation "
                "in the request"
            )
    if stream is not None and throughput is not None:
        raise ValidationException(
            "One or more parameter values were invalid: You cannot modify stream status while updating table IOPS"
        )

    # Billing mode and the table's throughput.
    new_billing = billing or table.billing_mode
    new_throughput = None
    if new_billing == "PAY_PER_REQUEST":
        if throughput is not None:
            if billing is None:
                raise ValidationException(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits "
                    "can be specified when BillingMode is PAY_PER_REQUEST"
                )
            raise ValidationException(
                "One or more parameter values were invalid: ProvisionedThroughput cannot be specified when "
                "BillingMode is PAY_PER_REQUEST"
            )
    else:
        if throughput is None and table.billing_mode == "PAY_PER_REQUEST":
            raise ValidationException(
                "One or more parameter values were invalid: ProvisionedThroughput must be specified when "
                "BillingMode is PROVISIONED"
            )
        if throughput is not None:
            new_throughput = _capacity(throughput)
            current = table.provisioned_throughput
            if (
                table.billing_mode == "PROVISIONED" and current is not None
                and current["ReadCapacityUnits"] == new_throughput["ReadCapacityUnits"]
                and current["WriteCapacityUnits"] == new_throughput["WriteCapacityUnits"]
                and gsi_updates is None
            ):
                raise _throughput_unchanged("the table", current, new_throughput)

    new_definitions = [
        {"AttributeName": d["AttributeName"], "AttributeType": d["AttributeType"]}
        for d in req.get("AttributeDefinitions") or ()
    ]
    actions = []
    if gsi_updates is not None:
        actions = _check_gsi_updates(table, gsi_updates, new_billing, new_definitions)
        structural = any(kind != "Update" for kind, _, _ in actions)
        if structural and (throughput is not None or billing is not None):
            raise ValidationException(
                "One or more parameter values were invalid: You cannot create or delete index while updating table IOPS"
            )
        if structural and stream is not None:
            raise ValidationException(
                "One or more parameter values were invalid: You cannot create or delete index while changing stream status"
            )

    new_stream = table.stream_specification
    if stream is not None:
        enabled = stream["StreamEnabled"]
        view_type = stream.get("StreamViewType")
        active = bool(table.stream_specification and table.stream_specification.get("StreamEnabled"))
        if enabled:
            if view_type is None:
                raise ValidationException(
                    "One or more parameter values were invalid: If stream is being enabled then UpdateViewType is required"
                )
            if active:
                raise ValidationException(f"Table already has an enabled stream: TableName: {name}")
            new_stream = {"StreamEnabled": True, "StreamViewType": view_type}
        else:
            if view_type is not None:
                raise ValidationException(
                    "One or more parameter values were invalid: If stream is being disabled, then UpdateViewType "
                    "must not be specified"
                )
            if not active:
                raise ValidationException(f"Table has no stream to disable: TableName: {name}")
            new_stream = {"StreamEnabled": False}
    new_sse = _sse_specification(sse) if sse is not None else table.sse_specification

    # Apply.
    if billing is not None:
        table.billing_mode = billing
        if billing == "PAY_PER_REQUEST":
            table.provisioned_throughput = None
    if new_throughput is not None:
        table.provisioned_throughput = _updated_throughput(table.provisioned_throughput, new_throughput)
    table.stream_specification = new_stream
    if stream is not None:
        # Enabling makes a new stream (label, ARN, shards); disabling closes
        # the current one's shards (kvstore/streams.py).
        if stream["StreamEnabled"]:
            db.streams.open(table)
        else:
            db.streams.close(table)
    table.sse_specification = new_sse
    if table_class is not None:
        table.table_class = table_class
    if protection is not None:
        table.deletion_protection = bool(protection)
    index_status = {}
    deleted = []
    for kind, index_name, payload in actions:
        if kind == "Create":
            used = {e["AttributeName"] for e in payload["KeySchema"]}
            wanted = [d for d in new_definitions if d["AttributeName"] in used]
            for d in wanted:
                if d["AttributeName"] not in table.types:
                    table.attribute_definitions.append(dict(d))
            table.add_global_index(payload, wanted)
            index_status[index_name] = "CREATING"
        elif kind == "Delete":
            deleted.append(payload)
            table.drop_global_index(index_name)
            _drop_unused_definitions(table)
        elif payload is not None:
            index = table.find_index(index_name)
            index.definition["ProvisionedThroughput"] = _updated_throughput(
                index.definition.get("ProvisionedThroughput"), payload
            )
    status = "UPDATING" if (actions or throughput is not None or billing is not None) else None
    if getattr(db, "wal", None) is not None:  # kvstore/wal.py
        db.wal.table_updated(table)
    return {"TableDescription": describe(table, status, index_status, deleted)}


def _drop_unused_definitions(table):
    """After an index is deleted, DynamoDB forgets attribute definitions no key uses."""
    used = set(table.key_names)
    for index in table.indexes:
        used.update(index.key_names)
    table.attribute_definitions[:] = [d for d in table.attribute_definitions if d["AttributeName"] in used]
    for name in [n for n in table.types if n not in used]:
        del table.types[name]
