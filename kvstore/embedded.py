"""The Pythonic in-process API: tables of plain Python values, no JSON.

``db.table("users").put({"id": "u1", "n": 3})`` and ``.get({"id": "u1"})``
take and return plain values, converted the way boto3's TypeSerializer and
TypeDeserializer convert them (str -> S, int/Decimal -> N, bytes -> B, bool ->
BOOL, None -> NULL, list/tuple -> L, dict -> M, set -> SS/NS/BS; numbers come
back as Decimal; a float is refused with boto3's TypeError).  One deliberate
difference: binary values come back as ``bytes``, not boto3's ``Binary``
wrapper.  Errors are the :mod:`kvstore.errors` classes the wire API raises,
with the same messages, because every request ends in the engine's own
checks.

Two paths:

- **Generic.**  Every method builds the wire request, converts the
  AttributeValues in it (:func:`request_to_wire`, which knows the member
  names that hold AttributeValues, not the operations) and runs
  ``db.request`` -- the same dispatch as the HTTP server -- then converts the
  answer back.  ``Database.call(operation, **request)`` exposes this for any
  operation, so methods whose operation the engine does not have yet
  (update, query, scan, batches, transactions) raise
  UnknownOperationException today and work the day it lands.
- **Fast** (get and put without options, the calls the speed target is
  about).  ``get`` turns a key whose values are obviously valid (a short
  non-empty str, an int of at most 38 digits, short non-empty bytes, exactly
  the table's key attributes: the core's ``plain_key_fast``) into key
  AttributeValues, reads the partition found by ``schema.Table.locate`` and
  converts the item back (the core's ``wire_item_plain``, else
  :func:`from_wire`'s own loop); with throughput enforced, or for any other
  key, it takes the generic path, so every error and every charge comes from
  the engine's own checks.  ``put`` converts and validates the item in one
  step when the core's ``plain_item_fast`` can (the item
  ``validate_item_with_size`` would return, and its size), else with
  :func:`to_wire`, and calls ``api.items.put_valid`` / ``put_plain`` --
  PutItem's own path for a request of only TableName and Item -- skipping
  only ``validate_request``, whose checks the request passes by construction
  (the table exists, so its name is valid; the serializer only makes maps of
  AttributeValue objects).  On a data directory the fast put commits the
  log before returning, as ``db.request`` does.
"""

import binascii
from collections.abc import Mapping, Set
from decimal import Decimal

from .api import OPERATIONS
from ._core import plain_item_fast, plain_key_fast, wire_item_plain
from .api.items import put_plain, put_valid
from .errors import UnknownOperationException

__all__ = [
    "Table",
    "to_av",
    "from_av",
    "to_wire",
    "from_wire",
    "request_to_wire",
    "response_from_wire",
    "create_table_request",
    "operation_supported",
]

_MISSING = object()

# -- plain Python values <-> AttributeValues ----------------------------------


def _number_text(v):
    # str() of an int or a Decimal is text DynamoDB reads ("1E+2" included);
    # whether the number is storable is the engine's check, with its message.
    return str(v)


def _binary(v):
    if type(v) is bytes:
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    value = getattr(v, "value", _MISSING)  # boto3.dynamodb.types.Binary
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return _MISSING


def to_av(v):
    """One plain Python value as an AttributeValue (boto3's TypeSerializer rules)."""
    t = type(v)
    if t is str:
        return {"S": v}
    if t is bool:
        return {"BOOL": v}
    if t is int or t is Decimal:
        return {"N": _number_text(v)}
    if v is None:
        return {"NULL": True}
    if t is dict:
        return {"M": {k: to_av(x) for k, x in v.items()}}
    if t is list or t is tuple:
        return {"L": [to_av(x) for x in v]}
    if t is bytes:
        return {"B": v}
    if t is float:
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    if isinstance(v, bool):
        return {"BOOL": bool(v)}
    if isinstance(v, (int, Decimal)):
        return {"N": _number_text(v)}
    if isinstance(v, str):
        return {"S": str(v)}
    if isinstance(v, Mapping):
        return {"M": {k: to_av(x) for k, x in v.items()}}
    if isinstance(v, (Set, frozenset)):
        return _set_av(v)
    b = _binary(v)
    if b is not _MISSING:
        return {"B": b}
    if isinstance(v, (list, tuple)):
        return {"L": [to_av(x) for x in v]}
    raise TypeError(f"Unsupported type {type(v)!r} for value {v!r}")


def _set_av(v):
    # boto3 tests number first, so an empty set is an (empty, refused) NS.
    if all(type(x) is not bool and isinstance(x, (int, Decimal)) for x in v):
        return {"NS": [_number_text(x) for x in v]}
    if all(isinstance(x, str) for x in v):
        return {"SS": list(v)}
    binaries = [_binary(x) for x in v]
    if all(b is not _MISSING for b in binaries):
        return {"BS": binaries}
    raise TypeError(f"Unsupported type {type(v)!r} for value {v!r}")


def _b(v):
    return v if type(v) is bytes else binascii.a2b_base64(v)


def from_av(av):
    """One AttributeValue as a plain Python value (boto3's TypeDeserializer rules)."""
    for tag, v in av.items():
        if tag == "S":
            return v
        if tag == "N":
            return Decimal(v)
        if tag == "M":
            return {k: from_av(x) for k, x in v.items()}
        if tag == "L":
            return [from_av(x) for x in v]
        if tag == "BOOL":
            return v
        if tag == "NULL":
            return None
        if tag == "B":
            return _b(v)
        if tag == "SS":
            return set(v)
        if tag == "NS":
            return {Decimal(x) for x in v}
        if tag == "BS":
            return {_b(x) for x in v}
        raise TypeError(f"Unknown AttributeValue type {tag!r}")
    raise TypeError("An AttributeValue must have a type")


def to_wire(item):
    """A plain dict (item, key, :values) as a map of AttributeValues."""
    if not isinstance(item, Mapping):
        raise TypeError(f"an item or key is a dict of attribute values, not {type(item).__name__}")
    return {name: to_av(v) for name, v in item.items()}


def from_wire(item):
    """A map of AttributeValues as a plain dict."""
    out = wire_item_plain(item)  # the core, for items of the common types
    if out is not None:
        return out
    out = {}
    for name, av in item.items():
        # Inlined from_av for the common scalar types: this runs on every get.
        for tag, v in av.items():
            if tag == "S" or tag == "BOOL":
                out[name] = v
            elif tag == "N":
                out[name] = Decimal(v)
            else:
                out[name] = from_av(av)
    return out


# -- whole requests and answers ------------------------------------------------
# Which members hold AttributeValues is a property of DynamoDB's API, not of
# an operation, so one walk by member name serves every operation, present
# and future (TransactItems, RequestItems, Expected, ... are walked through).

_MAPS = frozenset({
    "Item", "Key", "ExclusiveStartKey", "LastEvaluatedKey", "Attributes",
    "ExpressionAttributeValues", "ItemCollectionKey",
})
_MAP_LISTS = frozenset({"Items", "Keys"})
_VALUES = frozenset({"Value"})
_VALUE_LISTS = frozenset({"AttributeValueList"})
# Maps whose *values* are tables' item lists (BatchGetItem's Responses).
_TABLE_ITEM_LISTS = frozenset({"Responses"})
# Members with a "Key"/"Value" of their own that are not AttributeValues.
_OPAQUE = frozenset({"Tags"})


def _walk(obj, conv_map, conv_value):
    if type(obj) is dict:
        out = {}
        for k, v in obj.items():
            if v is None or k in _OPAQUE:
                out[k] = v
            elif k in _MAPS and isinstance(v, Mapping):
                out[k] = conv_map(v)
            elif k in _MAP_LISTS and isinstance(v, list):
                out[k] = [conv_map(x) for x in v]
            elif k in _VALUES:
                out[k] = conv_value(v)
            elif k in _VALUE_LISTS and isinstance(v, list):
                out[k] = [conv_value(x) for x in v]
            elif k in _TABLE_ITEM_LISTS and type(v) is dict:
                out[k] = {t: [conv_map(x) for x in items] if type(items) is list else items
                          for t, items in v.items()}
            else:
                out[k] = _walk(v, conv_map, conv_value)
        return out
    if type(obj) is list:
        return [_walk(x, conv_map, conv_value) for x in obj]
    return obj


def request_to_wire(request):
    """A request with plain values where DynamoDB has AttributeValues, in wire form."""
    return _walk(request, to_wire, to_av)


def response_from_wire(response):
    """An answer in wire form, with plain values where it has AttributeValues."""
    return _walk(response, from_wire, from_av)


def operation_supported(operation):
    """Whether this engine runs ``operation`` (it grows as operations land)."""
    return operation in OPERATIONS


# -- tables ---------------------------------------------------------------------

_KEY_TYPES = {"S": "S", "N": "N", "B": "B", str: "S", int: "N", Decimal: "N", bytes: "B"}


def _key_element(spec, default_type="S"):
    if isinstance(spec, str):
        return spec, default_type
    name, type_ = spec
    try:
        return name, _KEY_TYPES[type_]
    except (KeyError, TypeError):
        raise ValueError(f"a key type is 'S', 'N' or 'B' (or str, int, bytes), not {type_!r}") from None


def create_table_request(name, hash_key, range_key=None, **request):
    """The CreateTable request for ``create_table(name, "id")`` or
    ``create_table(name, ("artist", "S"), ("year", "N"), **wire_members)``.

    Key attributes default to type S.  Extra members are DynamoDB's own
    (``GlobalSecondaryIndexes=[...]``, ``BillingMode=...``); extra
    ``AttributeDefinitions`` are merged with the key's.  BillingMode defaults
    to PAY_PER_REQUEST unless ProvisionedThroughput is given.
    """
    keys = [_key_element(hash_key) + ("HASH",)]
    if range_key is not None:
        keys.append(_key_element(range_key) + ("RANGE",))
    definitions = list(request.pop("AttributeDefinitions", ()))
    defined = {d.get("AttributeName") for d in definitions}
    for attr, type_, _ in keys:
        if attr not in defined:
            definitions.append({"AttributeName": attr, "AttributeType": type_})
    out = {
        "TableName": name,
        "KeySchema": [{"AttributeName": attr, "KeyType": kt} for attr, _, kt in keys],
        "AttributeDefinitions": definitions,
    }
    if "ProvisionedThroughput" not in request:
        out["BillingMode"] = "PAY_PER_REQUEST"
    out.update(request)
    return out


def _with_expression_members(req, condition, names, values):
    if condition is not None:
        req["ConditionExpression"] = condition
    if names:
        req["ExpressionAttributeNames"] = names
    if values:
        req["ExpressionAttributeValues"] = values
    return req


class Table:
    """One table of a :class:`kvstore.Database`, through plain Python values.

    Like boto3's ``resource.Table(name)`` it is only a name and a database:
    making one does not check that the table exists, and a table deleted and
    created again is picked up.
    """

    __slots__ = ("db", "name", "_schema", "_key")

    def __init__(self, db, name):
        self.db = db
        self.name = name
        self._schema = None

    def __repr__(self):
        return f"<kvstore Table {self.name!r}>"

    def __eq__(self, other):
        return type(other) is Table and other.db is self.db and other.name == self.name

    def __hash__(self):
        return hash((id(self.db), self.name))

    # -- the engine's table, for the fast paths --------------------------------

    def _current(self):
        schema = self.db.tables.get(self.name)
        if schema is not self._schema:
            self._schema = schema
            if schema is not None:
                # plain_key_fast's arguments after the key
                self._key = (schema.hash_key, schema.hash_type, schema.range_key, schema.range_type)
        return schema

    # -- items ------------------------------------------------------------------

    def get(self, key, *, consistent=False, attributes=None, projection=None, names=None):
        """The item with this key as a plain dict, or None (GetItem).

        ``attributes`` is a list of attribute names to return; ``projection``
        a ProjectionExpression (with ``names`` for #placeholders).
        """
        if attributes is None and projection is None and not self.db.throughput.enabled:
            schema = self._current()
            if schema is not None:
                hash_name, hash_type, range_name, range_type = self._key
                avs = plain_key_fast(key, hash_name, hash_type, range_name, range_type)
                if avs is not None:
                    loc = schema.locate(avs[0], avs[1])
                    stored = loc[0].get(loc[2], loc[3])
                    if stored is None:
                        return None
                    out = wire_item_plain(stored)  # from_wire's first step, one call less
                    return out if out is not None else from_wire(stored)
        req = {"TableName": self.name, "Key": to_wire(key)}
        if consistent:
            req["ConsistentRead"] = True
        if attributes is not None:
            req["AttributesToGet"] = list(attributes)
        if projection is not None:
            req["ProjectionExpression"] = projection
        if names:
            req["ExpressionAttributeNames"] = names
        item = self.db.request("GetItem", req).get("Item")
        return None if item is None else from_wire(item)

    def put(self, item, *, condition=None, names=None, values=None, return_values=None):
        """Store ``item`` (PutItem); with ``return_values="ALL_OLD"`` return the
        item it replaced (or None).  ``condition`` is a ConditionExpression,
        ``names``/``values`` its #names and :values (values plain)."""
        if condition is None and not names and not values and return_values is None:
            # The core converts and validates the common items in one step.
            found = plain_item_fast(item)
            wire = to_wire(item) if found is None else found[0]
            if self._current() is not None:
                # validate_request is skipped: see the module's docstring.
                db = self.db
                try:
                    if found is None:
                        put_plain(db, self.name, wire)
                    else:
                        put_valid(db, self.name, wire, found[1])
                finally:
                    if db.durable is not None:
                        db.durable.commit()  # durable before answering, as in db.request
                return None
        else:
            wire = to_wire(item)
        req = _with_expression_members({"TableName": self.name, "Item": wire}, condition, names,
                                       to_wire(values) if values else None)
        if return_values is not None:
            req["ReturnValues"] = return_values
        old = self.db.request("PutItem", req).get("Attributes")
        return None if old is None else from_wire(old)

    def delete(self, key, *, condition=None, names=None, values=None, return_values=None):
        """Delete the item with this key (DeleteItem); with
        ``return_values="ALL_OLD"`` return it (or None)."""
        req = _with_expression_members({"TableName": self.name, "Key": to_wire(key)}, condition,
                                       names, to_wire(values) if values else None)
        if return_values is not None:
            req["ReturnValues"] = return_values
        old = self.db.request("DeleteItem", req).get("Attributes")
        return None if old is None else from_wire(old)

    def update(self, key, expression=None, *, condition=None, names=None, values=None,
               return_values=None):
        """UpdateItem with an UpdateExpression, e.g.
        ``update({"id": "a"}, "SET n = n + :one", values={":one": 1},
        return_values="ALL_NEW")``; returns the attributes asked for, or None."""
        req = {"TableName": self.name, "Key": to_wire(key)}
        if expression is not None:
            req["UpdateExpression"] = expression
        _with_expression_members(req, condition, names, to_wire(values) if values else None)
        if return_values is not None:
            req["ReturnValues"] = return_values
        attributes = self.db.request("UpdateItem", req).get("Attributes")
        return None if attributes is None else from_wire(attributes)

    # -- reads of many items -----------------------------------------------------

    def _pages(self, operation, req, limit):
        """Items of every page of a Query or Scan; ``limit`` items at most."""
        count = 0
        while True:
            out = self.db.request(operation, req)
            for item in out.get("Items", ()):
                yield from_wire(item)
                count += 1
                if limit is not None and count >= limit:
                    return
            last = out.get("LastEvaluatedKey")
            if not last:
                return
            req = dict(req, ExclusiveStartKey=last)

    def _read_request(self, *, index, filter, projection, names, values, page_size, consistent,
                      start_key, select):
        req = {"TableName": self.name}
        if index is not None:
            req["IndexName"] = index
        if filter is not None:
            req["FilterExpression"] = filter
        if projection is not None:
            req["ProjectionExpression"] = projection
        if names:
            req["ExpressionAttributeNames"] = names
        if values:
            req["ExpressionAttributeValues"] = to_wire(values)
        if page_size is not None:
            req["Limit"] = page_size
        if consistent:
            req["ConsistentRead"] = True
        if start_key is not None:
            req["ExclusiveStartKey"] = to_wire(start_key)
        if select is not None:
            req["Select"] = select
        return req

    def query(self, key_condition, *, values=None, names=None, index=None, filter=None,
              projection=None, reverse=False, limit=None, page_size=None, consistent=False,
              start_key=None):
        """The items matching a KeyConditionExpression, every page, in order.

        ``table.query("pk = :p AND begins_with(sk, :s)", values={":p": "a", ":s": "x"})``
        """
        req = self._read_request(index=index, filter=filter, projection=projection, names=names,
                                 values=values, page_size=page_size, consistent=consistent,
                                 start_key=start_key, select=None)
        req["KeyConditionExpression"] = key_condition
        if reverse:
            req["ScanIndexForward"] = False
        return self._pages("Query", req, limit)

    def scan(self, *, filter=None, values=None, names=None, index=None, projection=None,
             limit=None, page_size=None, consistent=False, start_key=None, segment=None,
             total_segments=None):
        """Every item (matching ``filter``), every page, in the table's order."""
        req = self._read_request(index=index, filter=filter, projection=projection, names=names,
                                 values=values, page_size=page_size, consistent=consistent,
                                 start_key=start_key, select=None)
        if segment is not None:
            req["Segment"] = segment
        if total_segments is not None:
            req["TotalSegments"] = total_segments
        return self._pages("Scan", req, limit)

    def count(self, *, filter=None, values=None, names=None, index=None):
        """How many items (matching ``filter``) a Scan with Select=COUNT finds."""
        req = self._read_request(index=index, filter=filter, projection=None, names=names,
                                 values=values, page_size=None, consistent=False, start_key=None,
                                 select="COUNT")
        total = 0
        while True:
            out = self.db.request("Scan", req)
            total += out.get("Count", 0)
            last = out.get("LastEvaluatedKey")
            if not last:
                return total
            req = dict(req, ExclusiveStartKey=last)

    # -- batches -------------------------------------------------------------------

    def batch_get(self, keys, *, consistent=False, projection=None, names=None):
        """The items with these keys that exist (BatchGetItem, 100 keys a call,
        unprocessed keys asked again), in no particular order."""
        keys = [to_wire(k) for k in keys]
        found = []
        for start in range(0, len(keys), 100):
            spec = {"Keys": keys[start:start + 100]}
            if consistent:
                spec["ConsistentRead"] = True
            if projection is not None:
                spec["ProjectionExpression"] = projection
            if names:
                spec["ExpressionAttributeNames"] = names
            request_items = {self.name: spec}
            while request_items:
                out = self.db.request("BatchGetItem", {"RequestItems": request_items})
                found.extend(from_wire(item) for item in out.get("Responses", {}).get(self.name, ()))
                request_items = out.get("UnprocessedKeys") or None
        return found

    def batch_write(self, put=(), delete=()):
        """Put these items and delete these keys (BatchWriteItem, 25 requests a
        call, unprocessed requests sent again)."""
        requests = [{"PutRequest": {"Item": to_wire(i)}} for i in put]
        requests += [{"DeleteRequest": {"Key": to_wire(k)}} for k in delete]
        for start in range(0, len(requests), 25):
            request_items = {self.name: requests[start:start + 25]}
            while request_items:
                out = self.db.request("BatchWriteItem", {"RequestItems": request_items})
                request_items = out.get("UnprocessedItems") or None

    # -- the table itself -----------------------------------------------------------

    def describe(self):
        """DescribeTable's ``Table`` member."""
        return self.db.request("DescribeTable", {"TableName": self.name})["Table"]

    def exists(self):
        return self.name in self.db.tables

    def delete_table(self):
        self.db.request("DeleteTable", {"TableName": self.name})


def call(db, operation, request):
    """Run any operation with plain values where DynamoDB has AttributeValues."""
    return response_from_wire(db.request(operation, request_to_wire(request)))


def transact_get(db, gets):
    """TransactGetItems: ``gets`` are ``(table name, key)`` pairs, or wire-shaped
    ``{"Get": {...}}`` entries with plain values; a list of items (None where
    absent), in order."""
    entries = []
    for g in gets:
        if isinstance(g, tuple):
            table, key = g
            g = {"Get": {"TableName": table, "Key": key}}
        entries.append(g)
    out = call(db, "TransactGetItems", {"TransactItems": entries})
    return [r.get("Item") for r in out.get("Responses", ())]


def transact_write(db, actions, *, client_token=None):
    """TransactWriteItems: ``actions`` are wire-shaped entries
    (``{"Put": {"TableName": "t", "Item": {...}}}``, ``Update``, ``Delete``,
    ``ConditionCheck``) with plain values."""
    req = {"TransactItems": list(actions)}
    if client_token is not None:
        req["ClientRequestToken"] = client_token
    call(db, "TransactWriteItems", req)


def require_operation(operation):
    """Raise UnknownOperationException now if the engine lacks ``operation``."""
    if operation not in OPERATIONS:
        raise UnknownOperationException()
