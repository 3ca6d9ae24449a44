"""The DynamoDB JSON API, transport-free.

``OPERATIONS`` maps each operation name (as in ``X-Amz-Target``) to its
handler ``(db, req) -> dict``.  :func:`dispatch` is the one entry point that
the HTTP server and the embedded ``Database.request`` both call, so their
behaviour cannot drift apart: it checks the request's members against the
operation's spec (``specs.py``, ``validation.py``), then runs the handler.

``FAST_PATHS`` come first: for the hot operations, a function that answers
a request which is certainly valid and plain, without the general checks,
or returns None and leaves it to them (``items.get_fast`` and its kin; each
answers exactly as the general path would, tested in
tests/unit/test_server_fast.py).  ``ENCODED_PATHS`` are the server's
(``server.app.make_handler``): the same idea for the hot reads, answering
with the encoded JSON itself, spliced from the items' cached JSON.
"""

from ..errors import UnknownOperationException
from . import batch, control, items, partiql, read, tables, transact
from .streams import STREAMS_OPERATIONS, streams_dispatch
from .validation import validate_request

__all__ = ["OPERATIONS", "dispatch", "ENCODED_PATHS", "RAW_PATHS", "STREAMS_OPERATIONS", "streams_dispatch"]

OPERATIONS = {
    "CreateTable": tables.create_table,
    "DescribeTable": tables.describe_table,
    "ListTables": tables.list_tables,
    "DeleteTable": tables.delete_table,
    "UpdateTable": tables.update_table,
    "PutItem": items.put_item,
    "GetItem": items.get_item,
    "DeleteItem": items.delete_item,
    "UpdateItem": items.update_item,
    "Query": read.query,
    "Scan": read.scan,
    "BatchGetItem": batch.batch_get_item,
    "BatchWriteItem": batch.batch_write_item,
    "TransactGetItems": transact.transact_get_items,
    "TransactWriteItems": transact.transact_write_items,
    "ExecuteStatement": partiql.execute_statement,
    "BatchExecuteStatement": partiql.batch_execute_statement,
    "ExecuteTransaction": partiql.execute_transaction,
    "UpdateTimeToLive": control.update_time_to_live,
    "DescribeTimeToLive": control.describe_time_to_live,
    "TagResource": control.tag_resource,
    "UntagResource": control.untag_resource,
    "ListTagsOfResource": control.list_tags_of_resource,
    "DescribeLimits": control.describe_limits,
    "DescribeEndpoints": control.describe_endpoints,
    "DescribeContinuousBackups": control.describe_continuous_backups,
}

FAST_PATHS = {**items.FAST_PATHS, "Query": read.query_fast, "BatchWriteItem": batch.batch_write_fast}

# The server's reads answered as JSON bytes: ``(db, req, encode) -> bytes or
# None``, the answer ``encode(dispatch(...))`` would give, spliced from the
# items' JSON, stored or cached beside them (``Partition.get_raw``; ``encode``
# is ``_core.json_encode``, which wrote the stored JSON); None: dispatch.
ENCODED_PATHS = {"GetItem": items.get_encoded, "Query": read.query_encoded, "BatchGetItem": batch.batch_get_encoded}

# The server's writes taken from the request's bytes: ``(db, body) -> answer
# bytes or None``, before the body is decoded (None: decode it and dispatch).
RAW_PATHS = {"BatchWriteItem": batch.batch_write_raw}


def dispatch(db, operation, req):
    fast = FAST_PATHS.get(operation)
    if fast is not None:
        out = fast(db, req)
        if out is not None:
            return out
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise UnknownOperationException()
    validate_request(operation, req)
    return handler(db, req)
