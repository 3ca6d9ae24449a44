"""BatchGetItem and BatchWriteItem.

Both check the whole request before touching anything, in DynamoDB's order
(as dynalite's tests record it): per table, the expression and legacy
parameters and every AttributeValue; duplicate keys and the 100-key limit
(BatchGetItem); then each table is looked up (ResourceNotFoundException), then
every key is checked against its table's schema and, for BatchWriteItem, the
same item named twice is refused ("Provided list of item keys contains
duplicates").  Only then are reads or writes done.

Each item is then read or written on its own (a batch is not a transaction):

- a key or request that cannot be served now is handed back in
  ``UnprocessedKeys`` / ``UnprocessedItems``, in request form, for the client
  to retry: past the 16 MB response limit (BatchGetItem), when its table's
  provisioned throughput is spent (with ``--enforce-throughput``), or when a
  prepared transaction holds the item.  If throughput refused every request
  of the batch, DynamoDB answers ProvisionedThroughputExceededException
  instead;
- writes are unconditional puts and deletes: one ``table.write`` or
  ``table.remove`` each (what ``items.execute`` does for them), which
  returns the item replaced;
- ConsumedCapacity is a list with one entry per table (``capacity.Consumed``).

The server's common batches skip the general path (``kvstore.api``'s fast
paths, held to it by tests/unit/test_server_fast.py): :func:`batch_get_encoded`
answers a BatchGetItem of only ``Keys`` with the items' cached JSON spliced
into the answer (``_core.read_raws``), and :func:`batch_write_fast` a
BatchWriteItem of plain puts and deletes without the request's validation,
which such a request passes.  Both return None for anything else: a member
that asks for more, a key or item not certainly valid, a key twice, throughput
enforced, a transaction's lock held, a size near a limit.  Before either,
the server tries :func:`batch_write_raw` (``RAW_PATHS``), the same batch
stored from the request's bytes, never decoded (tests/unit/test_raw_writes.py
holds it to the decoding path).
"""

import msgspec

from .._core import (locate_writes, plain_writes, read_raws, route_raw_writes, store_part, store_writes,
                     value_size_fast, wire_key_fast)
from ..capacity import Consumed, read_units, render_list
from ..errors import ProvisionedThroughputExceededException, ValidationException
from ..expressions import Resolver, check_expression_parameters, project
from ..values import MAX_ITEM_SIZE, validate_item_with_size, validate_value
from . import items
from .legacy import attributes_to_get, check_no_mixing
from .specs import KEYS_AND_ATTRIBUTES

__all__ = [
    "batch_get_item", "batch_write_item", "batch_get_encoded", "batch_write_fast", "batch_write_raw",
    "plain_write_plans",
    "MAX_BATCH_GET_KEYS", "MAX_RESPONSE_BYTES",
]

MAX_BATCH_GET_KEYS = 100
MAX_RESPONSE_BYTES = 16 * 1024 * 1024

_DUPLICATES = "Provided list of item keys contains duplicates"
_TOO_MANY = "Too many items requested for the BatchGetItem call"
_ONE_REQUEST = (
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
    "supported datatypes"
)

_encode = msgspec.json.Encoder(order="sorted").encode


def _key_fingerprint(key):
    """Identity of a key given as validated values, before any table is known."""
    return _encode(key)


def _encodable(text):
    """Whether UTF-8 can encode ``text`` (no lone surrogate); the JSON
    fingerprint of one that cannot fails, and so must this path."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain_fingerprint(key):
    """The identity of a key of one or two attributes whose values are
    ``{type: str}`` and valid as sent (``validate_value`` keeps them): the
    sorted (name, type, text) triples -- equal exactly when the validated
    keys are, as _key_fingerprint's JSON is; None for any other key, which
    is then validated and fingerprinted the long way."""
    if type(key) is not dict or not 0 < len(key) <= 2:
        return None
    out = []
    for name, av in key.items():
        if type(av) is not dict or len(av) != 1:
            return None
        for tag, v in av.items():
            if type(v) is not str or value_size_fast(av) < 0 or not (v.isascii() or _encodable(v)):
                return None
            out.append((name, tag, v))
    if len(out) == 2 and out[1][0] < out[0][0]:
        out.reverse()
    return tuple(out)


def _throttled_everything(refused, total):
    return total and refused == total


# -- BatchGetItem ------------------------------------------------------------------


def _check_get_table(entry):
    """Per-table checks of a KeysAndAttributes: returns (validated keys, paths)."""
    projection = entry.get("ProjectionExpression")
    check_no_mixing(entry, KEYS_AND_ATTRIBUTES.members)
    check_expression_parameters(entry.get("ExpressionAttributeNames"), None,
                                [("ProjectionExpression", projection)])
    paths = None
    names = entry.get("AttributesToGet")
    if names is not None:
        paths = attributes_to_get(names)
    if projection is not None:
        resolver = Resolver(entry.get("ExpressionAttributeNames"))
        paths = resolver.projection(projection)
        resolver.check_all_used()
    keys = []
    seen = set()
    for key in entry["Keys"]:
        fingerprint = _plain_fingerprint(key)
        if fingerprint is None:
            checked = {name: validate_value(av) for name, av in key.items()}
            # The validated key's own plain fingerprint when it has one, so that
            # {"N": "01"} meets {"N": "1"} (validated, they are one key).
            fingerprint = _plain_fingerprint(checked)
            if fingerprint is None:
                fingerprint = _key_fingerprint(checked)
        if fingerprint in seen:
            raise ValidationException(_DUPLICATES)
        seen.add(fingerprint)
        keys.append(key)
    return keys, paths


def _unprocessed_get(entry, keys):
    out = {"Keys": keys}
    for name in ("AttributesToGet", "ConsistentRead", "ProjectionExpression", "ExpressionAttributeNames"):
        if entry.get(name) is not None:
            out[name] = entry[name]
    return out


def batch_get_item(db, req):
    request_items = req["RequestItems"]
    plans = []
    count = 0
    for name, entry in request_items.items():
        keys, paths = _check_get_table(entry)
        count += len(keys)
        if count > MAX_BATCH_GET_KEYS:
            raise ValidationException(_TOO_MANY)
        plans.append([name, entry, keys, paths, None])
    for plan in plans:
        plan[4] = items.get_table(db, plan[0])
    located = []
    for name, entry, keys, paths, table in plans:
        locs = []
        schema = (table.hash_key, table.hash_type, table.range_key, table.range_type)
        for key in keys:
            found = wire_key_fast(key, *schema)
            if found is None:
                found = items.key_from_key(table, key)
            locs.append(table.locate(found[0], found[1]))
        located.append(locs)

    throughput = db.throughput
    measuring = req.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES") or throughput.enabled
    locks = db.locks
    responses = {}
    unprocessed = {}
    consumed = []
    size = 0
    full = False
    refused = 0
    for (name, entry, keys, paths, table), locs in zip(plans, located):
        found = responses[name] = []
        consistent = bool(entry.get("ConsistentRead"))
        c = Consumed(table) if measuring else None
        left = []
        for key, loc in zip(keys, locs):
            if full or (locks._held and locks.holder((table.name, loc[2], loc[3])) is not None):
                left.append(key)
                continue
            if throughput.enabled and throughput.read_refusal(table) is not None:
                refused += 1
                left.append(key)
                continue
            # The size stored beside the item (its item_size) rather than a walk.
            stored = loc[0].get_sized(loc[2], loc[3])
            if stored is None:
                item, n = None, 0
            else:
                item, n = stored
            if size + n > MAX_RESPONSE_BYTES:
                full = True
                left.append(key)
                continue
            size += n
            if c is not None:
                c.add_read(read_units(n, consistent))
                if throughput.enabled:
                    one = Consumed(table)
                    one.add_read(read_units(n, consistent))
                    throughput.charge(one)
            if item is not None:
                found.append(item if paths is None else project(item, paths))
        if left:
            unprocessed[name] = _unprocessed_get(entry, left)
        if c is not None and (c.reads or not left):
            consumed.append(c)
    if _throttled_everything(refused, count):
        raise ProvisionedThroughputExceededException(throughput.read_refusal(plans[0][4]) or "")
    out = {"Responses": responses, "UnprocessedKeys": unprocessed}
    rendered = render_list(consumed, req.get("ReturnConsumedCapacity"))
    if rendered is not None:
        out["ConsumedCapacity"] = rendered
    return out


def _plain_request_items(db, req):
    """The RequestItems of a batch the fast paths may take: a request of only
    a non-empty RequestItems object, throughput not enforced, no transaction
    lock held; else None."""
    if len(req) != 1 or db.throughput.enabled or db.locks._held:
        return None
    request_items = req.get("RequestItems")
    if type(request_items) is not dict or not request_items:
        return None
    return request_items


def batch_get_encoded(db, req, encode):
    """batch_get_item's answer, as ``encode`` writes it, to a request of only
    RequestItems whose entries are only Keys (wire keys that wire_key_fast
    accepts, no key twice, 100 in all), tables that exist, throughput not
    enforced, no transaction lock held, the answer within 16 MB; else None."""
    request_items = _plain_request_items(db, req)
    if request_items is None:
        return None
    parts = []
    count = size = 0
    tables = db.tables
    for name, entry in request_items.items():
        if type(entry) is not dict or len(entry) != 1:
            return None
        table = tables.get(name)
        if table is None:
            return None
        keys = entry.get("Keys")
        found = read_raws(keys, table.hash_key, table.hash_type, table.range_key, table.range_type,
                          table.ring, table.partitions, encode)
        if found is None:
            return None
        count += len(keys)
        size += found[1]
        parts.append(b"%b:[%b]" % (encode(name), b",".join(found[0])))
    if count > MAX_BATCH_GET_KEYS or size > MAX_RESPONSE_BYTES:
        return None
    return b'{"Responses":{%b},"UnprocessedKeys":{}}' % b",".join(parts)


# -- BatchWriteItem ---------------------------------------------------------------


def _check_write_request(request):
    """Validate one WriteRequest's values: ('Put', item, size) or ('Delete', key)."""
    put, delete = request.get("PutRequest"), request.get("DeleteRequest")
    if (put is None) == (delete is None):
        raise ValidationException(_ONE_REQUEST)
    if put is not None:
        item, size = validate_item_with_size(put["Item"])
        if size > MAX_ITEM_SIZE:
            raise ValidationException("Item size has exceeded the maximum allowed size")
        return "Put", item, size
    for av in delete["Key"].values():
        validate_value(av)
    return "Delete", delete["Key"], 0


def _prepare_write(table, kind, value, size):
    """(location, item to store or None for a delete, size, key AVs): an
    unconditional write, applied by _apply_write."""
    if kind == "Put":
        hash_av, range_av = items.key_from_item(table, value)
        if table.indexes:
            table.check_index_keys(value)
        return table.locate(hash_av, range_av), value, size, (hash_av, range_av)
    hash_av, range_av = items.key_from_key(table, value)
    return table.locate(hash_av, range_av), None, 0, (hash_av, range_av)


def _apply_write(table, write):
    """Store or delete: what ``items.execute`` does for an unconditional
    PutWrite/DeleteWrite (``table.write`` returns the item it replaces, so
    no separate read).  Returns (old, new)."""
    loc, item, size, _ = write
    if item is not None:
        return table.write(loc, item, size), item
    return table.remove(loc), None


def batch_write_item(db, req):
    request_items = req["RequestItems"]
    checked = []
    for name, requests in request_items.items():
        checked.append((name, [_check_write_request(r) for r in requests]))
    tables = [items.get_table(db, name) for name, _ in checked]
    plans = []
    for table, (name, requests) in zip(tables, checked):
        seen = set()
        writes = []
        for kind, value, size in requests:
            write = _prepare_write(table, kind, value, size)
            key = (write[0][2], write[0][3])
            if key in seen:
                raise ValidationException(_DUPLICATES)
            seen.add(key)
            writes.append(write)
        plans.append((name, table, writes))

    throughput = db.throughput
    mode = req.get("ReturnConsumedCapacity")
    measuring = mode in ("TOTAL", "INDEXES") or throughput.enabled
    metrics_asked = req.get("ReturnItemCollectionMetrics") == "SIZE"
    locks = db.locks
    unprocessed = {}
    consumed = []
    metrics = {}
    refused = total = 0
    for name, table, writes in plans:
        c = Consumed(table) if measuring else None
        left = []
        for write, original in zip(writes, request_items[name]):
            total += 1
            if throughput.enabled and throughput.write_refusal(table) is not None:
                refused += 1
                left.append(original)
                continue
            loc = write[0]
            if locks._held and locks.holder((table.name, loc[2], loc[3])) is not None:
                left.append(original)
                continue
            old, new = _apply_write(table, write)
            if c is not None:
                one = Consumed(table)
                one.add_item_write(old, new, loc)
                throughput.charge(one)
                for index, units in one.writes.items():
                    c.add_write(units, index)
            if metrics_asked:
                m = items.item_collection_metrics(table, items.key_dict(table, *write[3]), loc)
                if m is not None:
                    metrics.setdefault(name, []).append(m)
        if left:
            unprocessed[name] = left
        if c is not None and c.writes:
            consumed.append(c)
    if _throttled_everything(refused, total):
        raise ProvisionedThroughputExceededException(throughput.write_refusal(plans[0][1]) or "")
    out = {"UnprocessedItems": unprocessed}
    rendered = render_list(consumed, mode)
    if rendered is not None:
        out["ConsumedCapacity"] = rendered
    if metrics:
        out["ItemCollectionMetrics"] = metrics
    return out


MAX_BATCH_WRITE_REQUESTS = 25


def _fast_writes(table, requests):
    """[(hash AV, range AV or None, item or None, size), ...] of one table's
    WriteRequests when each is certainly valid and plain (see
    batch_write_fast), else None."""
    writes = plain_writes(requests, table.hash_key, table.hash_type, table.range_key, table.range_type,
                          MAX_ITEM_SIZE)
    if writes is not None and table.indexes:
        for write in writes:
            if write[2] is not None:
                try:
                    table.check_index_keys(write[2])
                except ValidationException:
                    return None
    return writes


def _fast_locate(table, writes):
    """(Table.locate of each write, whether each is a Partition here), or
    None if one item is named twice."""
    located = locate_writes(writes, table.ring, table.partitions)
    if located is not None:
        return located, True
    # A partition that is not a Partition here (another worker's, a
    # validation pass): the general locate, which routes.
    seen = set()
    located = []
    for hash_av, range_av, _item, _size in writes:
        loc = table.locate(hash_av, range_av)
        ident = (loc[2], loc[3])
        if ident in seen:
            return None
        seen.add(ident)
        located.append(loc)
    return located, False


def plain_write_plans(db, req):
    """``[(table name, table, requests, writes), ...]`` of a BatchWriteItem
    whose every request is certainly valid (see batch_write_fast; ``writes``
    as ``_fast_writes`` gives them), else None.  Nothing is located yet:
    an item named twice is found later.  server/cluster.py splits such a
    batch by owner with no other check."""
    request_items = _plain_request_items(db, req)
    if request_items is None:
        return None
    plans = []
    total = 0
    tables = db.tables
    for name, requests in request_items.items():
        table = tables.get(name)
        if table is None:
            return None
        writes = _fast_writes(table, requests)
        if writes is None:
            return None
        total += len(writes)
        if total > MAX_BATCH_WRITE_REQUESTS:
            return None
        plans.append((name, table, requests, writes))
    return plans


NOTHING_UNPROCESSED = b'{"UnprocessedItems":{}}'


def batch_write_raw(db, body):
    """batch_write_fast for a request given as its JSON ``body``, with no
    decoding: its answer's JSON when ``_core.route_raw_writes`` takes the
    body (every table writing alone) and ``_core.store_part`` stores it,
    else None (nothing written).  Its parts, one per ring owner, are
    stored as one: every check before the first write."""
    if db.throughput.enabled or db.locks._held:
        return None
    forms = route_raw_writes(body, db.tables, MAX_ITEM_SIZE)
    if forms is None:
        return None
    part = next(iter(forms.values())) if len(forms) == 1 else b"".join(forms.values())
    if store_part(part, db.tables) is None:
        return None
    return NOTHING_UNPROCESSED


def batch_write_fast(db, req):
    """batch_write_item's answer to a request of only RequestItems: tables that
    exist, 25 requests in all, each a PutRequest of only an Item of the core's
    common shapes (validate_item_fast, item_key_fast, index keys valid) or a
    DeleteRequest of only a Key that wire_key_fast accepts, no item twice,
    throughput not enforced, no transaction lock held; else None (nothing
    written).  The writes are the general path's: table.write / table.remove
    in request order (indexes, stream, log), or their core equivalent
    ``store_writes`` for a table that has none of those (which stores the
    items as their JSON).

    Every check comes before the first ``table.locate``, as in the general
    path, whose first storage access it is (server/cluster.py's
    ``validate_only`` counts on that)."""
    plans = plain_write_plans(db, req)
    if plans is None:
        return None
    located = []
    for _name, table, _requests, writes in plans:
        locs = _fast_locate(table, writes)
        if locs is None:
            return None
        located.append(locs)
    for (_name, table, _requests, writes), (locs, here) in zip(plans, located):
        if here and table.writes_alone:
            store_writes(writes, locs)
            continue
        for (_hash, _range, item, size), loc in zip(writes, locs):
            if item is not None:
                table.write(loc, item, size, want_old=False)
            else:
                table.remove(loc)
    return {"UnprocessedItems": {}}
