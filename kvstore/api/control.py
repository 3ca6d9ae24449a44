"""The rest of the control plane: Time to Live, tags, limits, endpoints, backups.

- UpdateTimeToLive / DescribeTimeToLive: one TTL attribute per table, a
  Number of epoch seconds; the expiry itself is ``kvstore/ttl.py``'s sweeper.
  DynamoDB's rules: enabling when enabled ("TimeToLive is already enabled"),
  disabling when disabled, naming another attribute than the active one, and
  a second change within an hour of the last ("Time to live has been
  modified multiple times within a fixed interval") are refused.
- TagResource / UntagResource / ListTagsOfResource (and CreateTable's Tags,
  through :func:`check_tags`): keys 1-128 and values 0-256 characters of
  letters, digits, whitespace and ``_ . : / = + - @``, no ``aws:`` prefix,
  at most 50 per table.  ListTagsOfResource answers every tag at once: the
  service does not page (50 tags at most), whatever NextToken suggests.
- DescribeLimits and DescribeEndpoints answer DynamoDB's defaults;
  DescribeContinuousBackups says point-in-time recovery is disabled.

Checks run in DynamoDB's order (dynalite's recorded one where the reference
is silent): the ResourceArn, the request's shape, the tags themselves, then
whether the table exists, then the 50-tag limit against what it holds.
"""

import unicodedata

from ..errors import ResourceNotFoundException, TableNotFoundException, ValidationException
from .validation import _length

__all__ = [
    "update_time_to_live", "describe_time_to_live",
    "tag_resource", "untag_resource", "list_tags_of_resource",
    "describe_limits", "describe_endpoints", "describe_continuous_backups",
    "check_tags", "TTL_CHANGE_COOLDOWN_SECONDS", "MAX_TAGS",
]

TTL_CHANGE_COOLDOWN_SECONDS = 3600
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256

_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _get_table(db, name):
    table = db.find_table(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return table


# -- Time to Live ------------------------------------------------------------------


def update_time_to_live(db, req):
    table = _get_table(db, req["TableName"])
    spec = req["TimeToLiveSpecification"]
    enabled = spec["Enabled"]
    attribute = spec["AttributeName"]
    current = table.ttl
    active = current is not None and current["Enabled"]
    if enabled:
        if active:
            if current["AttributeName"] == attribute:
                raise ValidationException("TimeToLive is already enabled")
            raise ValidationException(
                f"TimeToLive is active on a different AttributeName: current AttributeName is {current['AttributeName']}"
            )
    else:
        if not active:
            raise ValidationException("TimeToLive is already disabled")
        if current["AttributeName"] != attribute:
            raise ValidationException(
                f"TimeToLive is active on a different AttributeName: current AttributeName is {current['AttributeName']}"
            )
    now = db.wall_clock()
    if current is not None and now - current["Changed"] < TTL_CHANGE_COOLDOWN_SECONDS:
        raise ValidationException("Time to live has been modified multiple times within a fixed interval")
    table.ttl = {"AttributeName": attribute, "Enabled": enabled, "Changed": now}
    if getattr(db, "wal", None) is not None:  # kvstore/wal.py
        db.wal.table_updated(table)
    return {"TimeToLiveSpecification": {"Enabled": enabled, "AttributeName": attribute}}


def describe_time_to_live(db, req):
    table = _get_table(db, req["TableName"])
    ttl = table.ttl
    if ttl is None or not ttl["Enabled"]:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": ttl["AttributeName"]}}


# -- tags ----------------------------------------------------------------------------


def _tag_text_ok(text, min_len, max_len):
    if type(text) is not str or not min_len <= _length(text) <= max_len:
        return False
    for ch in text:
        if ch in _TAG_PUNCTUATION:
            continue
        if unicodedata.category(ch)[0] not in "LZN":
            return False
    return True


def _check_tag_key(key):
    if not _tag_text_ok(key, 1, MAX_TAG_KEY):
        raise ValidationException(f"The Tag Key provided is invalid, Key: {'null' if key is None else key}")
    if key.startswith("aws:"):
        raise ValidationException(f"Tag Key cannot be prefixed with aws:, Key: {key}")


def check_tags(tags):
    """Refuse tags DynamoDB refuses; return them as clean {Key, Value} dicts."""
    clean = []
    seen = set()
    for tag in tags:
        if tag is None:
            tag = {}
        key = tag.get("Key")
        value = tag.get("Value")
        _check_tag_key(key)
        if not _tag_text_ok(value, 0, MAX_TAG_VALUE):
            raise ValidationException(
                f"The Tag Value provided is invalid, Value: {'null' if value is None else value}"
            )
        if key in seen:
            raise ValidationException(f"Duplicate Tag Keys provided as input: Duplicate Tag Key found {key}")
        seen.add(key)
        clean.append({"Key": key, "Value": value})
    if len(clean) > MAX_TAGS:
        raise ValidationException("Number of Tags exceed the current limit for the provided ResourceArn")
    return clean


def _resource_table_name(db, arn):
    """The table a ResourceArn names (DynamoDB's checks, in its order)."""
    if arn is None:
        raise ValidationException("Invalid TableArn")
    if not arn.startswith("arn:"):
        raise ValidationException(f"One or more parameter values were invalid: ARNs must start with 'arn:': {arn}")
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "dynamodb":
        raise ValidationException(
            f"One or more parameter values were invalid: Provided Arn is not a DynamoDB resource arn: {arn}"
        )
    resource = parts[5]
    kind, _, rest = resource.partition("/")
    if kind == "table" and "/index/" in rest:
        raise ValidationException(
            "One or more parameter values were invalid: Invalid resource arn provided, only table or stream "
            f"is accepted. Provided resource arn: {arn}"
        )
    name = rest
    if (
        kind != "table"
        or parts[1] != "aws"
        or parts[3] != db.region
        or parts[4] != db.account_id
        or not 3 <= len(name) <= 255
        or any(not (c.isascii() and (c.isalnum() or c in "_.-")) for c in name)
    ):
        raise ValidationException(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    return name


def _find_resource(db, arn, name):
    table = db.find_table(name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: ResourcArn: {arn} not found")
    return table


def tag_resource(db, req):
    arn = req.get("ResourceArn")
    name = _resource_table_name(db, arn)
    tags = req.get("Tags")
    if tags is None:
        raise ValidationException(
            "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"
        )
    if not tags:
        raise ValidationException("Atleast one Tag needs to be provided as Input.")
    tags = check_tags(tags)
    table = _find_resource(db, arn, name)
    merged = {t["Key"]: t["Value"] for t in table.tags or ()}
    for tag in tags:
        merged[tag["Key"]] = tag["Value"]
    if len(merged) > MAX_TAGS:
        raise ValidationException("Number of Tags exceed the current limit for the provided ResourceArn")
    table.tags = [{"Key": k, "Value": v} for k, v in merged.items()]
    if getattr(db, "wal", None) is not None:  # kvstore/wal.py
        db.wal.table_updated(table)
    return {}


def untag_resource(db, req):
    arn = req.get("ResourceArn")
    name = _resource_table_name(db, arn)
    keys = req.get("TagKeys")
    if keys is None:
        raise ValidationException(
            "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"
        )
    if not keys:
        raise ValidationException("Atleast one Tag Key needs to be provided as Input.")
    for key in keys:
        _check_tag_key(key)
    if len(keys) > MAX_TAGS:
        raise ValidationException("Number of Tags exceed the current limit for the provided ResourceArn")
    table = _find_resource(db, arn, name)
    doomed = set(keys)
    remaining = [t for t in table.tags or () if t["Key"] not in doomed]
    table.tags = remaining or None
    if getattr(db, "wal", None) is not None:  # kvstore/wal.py
        db.wal.table_updated(table)
    return {}


def list_tags_of_resource(db, req):
    arn = req.get("ResourceArn")
    name = _resource_table_name(db, arn)
    table = _find_resource(db, arn, name)
    return {"Tags": [dict(t) for t in table.tags or ()]}


# -- limits, endpoints, backups ---------------------------------------------------


def describe_limits(db, req):
    return {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }


def describe_endpoints(db, req):
    return {"Endpoints": [{"Address": f"dynamodb.{db.region}.amazonaws.com", "CachePeriodInMinutes": 1440}]}


def describe_continuous_backups(db, req):
    name = req["TableName"]
    if db.find_table(name) is None:
        raise TableNotFoundException(f"Table not found: {name}")
    return {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }
    }
