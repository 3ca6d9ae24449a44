"""The DynamoDB JSON API, transport-free.

``OPERATIONS`` maps each operation name (as in ``X-Amz-Target``) to its
handler ``(db, req) -> dict``.  :func:`dispatch` is the one entry point that
the HTTP server and the embedded ``Database.request`` both call, so their
behaviour cannot drift apart: it checks the request's members against the
operation's spec (``specs.py``, ``validation.py``), then runs the handler.
"""

from ..errors import UnknownOperationException
from . import items, read, tables
from .validation import validate_request

__all__ = ["OPERATIONS", "dispatch"]

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
}


def dispatch(db, operation, req):
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise UnknownOperationException()
    validate_request(operation, req)
    return handler(db, req)
