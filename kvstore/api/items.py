"""Single-item operations: PutItem, GetItem, DeleteItem.

Each write validates everything first (values, key against the schema,
size), then applies as one step on the item's partition, so a failed request
changes nothing.  Items are stored normalised, in wire form, with their
DynamoDB size beside them; GetItem answers with the stored dict itself.

The key checks here are shared by every operation that names an item:
:func:`key_from_key` for a ``Key`` parameter (GetItem, DeleteItem, and later
UpdateItem and the batch and transaction forms) and :func:`key_from_item` for
a whole item (PutItem).
"""

from ..errors import ResourceNotFoundException, ValidationException
from ..values import MAX_ITEM_SIZE, decode_binary, item_size, validate_item_with_size, validate_value

__all__ = ["put_item", "get_item", "delete_item", "get_table", "key_from_key", "key_from_item"]

MAX_HASH_KEY_BYTES = 2048
MAX_RANGE_KEY_BYTES = 1024


def get_table(db, name):
    table = db.tables.get(name)
    if table is None:
        raise ResourceNotFoundException("Requested resource not found")
    return table


def _key_value_size(value, type_):
    if type_ == "B":
        return len(decode_binary(value))
    if type_ == "S":
        return len(value.encode("utf-8"))
    return 0  # numbers are bounded by their 38 digits


def _check_key_value(name, type_, av, limit, message):
    """Refuse an empty or oversized key value (type already checked)."""
    value = av[type_]
    if type_ == "S" and value == "":
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty string value. Key: {name}"
        )
    if type_ == "B" and (value == "" or value == b""):
        raise ValidationException(
            "One or more parameter values are not valid. The AttributeValue for a key "
            f"attribute cannot contain an empty binary value. Key: {name}"
        )
    if type_ != "N" and _key_value_size(value, type_) > limit:
        raise ValidationException(message)


_HASH_TOO_BIG = (
    "One or more parameter values were invalid: Size of hashkey has exceeded the "
    "maximum size limit of2048 bytes"
)
_RANGE_TOO_BIG = (
    "One or more parameter values were invalid: Aggregated size of all range keys has "
    "exceeded the size limit of 1024 bytes"
)


def _single_type(av):
    if type(av) is dict and len(av) == 1:
        for t in av:
            return t
    return None


def key_from_key(table, key):
    """Validate a ``Key`` parameter; return (hash AttributeValue, range AttributeValue or None)."""
    key = {name: validate_value(av) for name, av in key.items()}
    hash_av = key.get(table.hash_key)
    range_av = key.get(table.range_key) if table.range_key is not None else None
    if (
        len(key) != len(table.key_names)
        or hash_av is None
        or _single_type(hash_av) != table.hash_type
        or (table.range_key is not None and (range_av is None or _single_type(range_av) != table.range_type))
    ):
        raise ValidationException("The provided key element does not match the schema")
    _check_key_value(table.hash_key, table.hash_type, hash_av, MAX_HASH_KEY_BYTES, _HASH_TOO_BIG)
    if range_av is not None:
        _check_key_value(table.range_key, table.range_type, range_av, MAX_RANGE_KEY_BYTES, _RANGE_TOO_BIG)
    return hash_av, range_av


def key_from_item(table, item):
    """Check a whole (validated) item's key attributes; return (hash AV, range AV or None)."""
    found = []
    for name, type_, limit, message in (
        (table.hash_key, table.hash_type, MAX_HASH_KEY_BYTES, _HASH_TOO_BIG),
        (table.range_key, table.range_type, MAX_RANGE_KEY_BYTES, _RANGE_TOO_BIG),
    ):
        if name is None:
            found.append(None)
            continue
        av = item.get(name)
        if av is None:
            raise ValidationException(
                f"One or more parameter values were invalid: Missing the key {name} in the item"
            )
        actual = _single_type(av)
        if actual != type_:
            raise ValidationException(
                "One or more parameter values were invalid: Type mismatch for key "
                f"{name} expected: {type_} actual: {actual}"
            )
        _check_key_value(name, type_, av, limit, message)
        found.append(av)
    return found[0], found[1]


def _check_return_values(req):
    rv = req.get("ReturnValues")
    if rv is not None and rv not in ("NONE", "ALL_OLD"):
        raise ValidationException("ReturnValues can only be ALL_OLD or NONE")
    return rv == "ALL_OLD"


# -- consumed capacity (the simple rules; the capacity issue refines them) ---

def _write_units(size):
    return float(max(1, -(-size // 1024)))


def _read_units(size, consistent):
    units = max(1, -(-size // 4096))
    return float(units) if consistent else units / 2


def _consumed(req, table, units):
    mode = req.get("ReturnConsumedCapacity")
    if mode == "TOTAL":
        return {"TableName": table.name, "CapacityUnits": units}
    if mode == "INDEXES":
        return {"TableName": table.name, "CapacityUnits": units, "Table": {"CapacityUnits": units}}
    return None


# -- operations --------------------------------------------------------------

def put_item(db, req):
    want_old = _check_return_values(req)
    try:
        item, size = validate_item_with_size(req["Item"])
    except ValidationException as e:
        if e.message.startswith("Nesting Levels"):
            # PutItem wraps this one message in the validation-error envelope.
            raise ValidationException("1 validation error detected: " + e.message) from None
        raise
    table = get_table(db, req["TableName"])
    hash_av, range_av = key_from_item(table, item)
    if size > MAX_ITEM_SIZE:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    old = table.write(table.locate(hash_av, range_av), item, size)
    out = {}
    if want_old and old is not None:
        out["Attributes"] = old
    consumed = _consumed(req, table, _write_units(size))
    if consumed is not None:
        out["ConsumedCapacity"] = consumed
    return out


def get_item(db, req):
    table = get_table(db, req["TableName"])
    hash_av, range_av = key_from_key(table, req["Key"])
    stored = table.read(table.locate(hash_av, range_av))
    out = {}
    if stored is not None:
        item = stored
        names = req.get("AttributesToGet")
        if names is not None:
            item = {name: stored[name] for name in names if name in stored}
        if item:
            out["Item"] = item
    if req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        size = item_size(stored) if stored is not None else 0
        out["ConsumedCapacity"] = _consumed(req, table, _read_units(size, bool(req.get("ConsistentRead"))))
    return out


def delete_item(db, req):
    want_old = _check_return_values(req)
    table = get_table(db, req["TableName"])
    hash_av, range_av = key_from_key(table, req["Key"])
    old = table.remove(table.locate(hash_av, range_av))
    out = {}
    if want_old and old is not None:
        out["Attributes"] = old
    if req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
        out["ConsumedCapacity"] = _consumed(
            req, table, _write_units(item_size(old) if old is not None else 0)
        )
    return out
