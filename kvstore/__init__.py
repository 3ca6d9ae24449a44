"""kvstore: a DynamoDB-compatible key-value store.

The embedded API lives here: ``kvstore.Database()`` runs the same engine as
the HTTP server, in-process, with no socket::

    import kvstore
    db = kvstore.Database()
    db.request("CreateTable", {...})
    db.request("PutItem", {"TableName": "t", "Item": {...}})

Errors are raised as the classes of :mod:`kvstore.errors`, the same types a
client of the HTTP server receives.

The rest of the embedded API, each imported on first use: ``db.table(name)``
(plain Python values, ``kvstore.embedded``), ``db.client()`` and
``db.resource()`` (boto3 answered in-process, ``kvstore.boto``), and
``kvstore.mock()`` (every DynamoDB client made inside it answered
in-process, ``kvstore.mock``).
"""

from . import errors
from .errors import DynamoDBError

__version__ = "0.1.0"

__all__ = ["Database", "Table", "mock", "DynamoDBError", "errors", "__version__"]


def __getattr__(name):
    # Imported on first use so that `import kvstore.errors` (and the server's
    # start-up) does not pay for the engine and its compiled core.
    if name == "Database":
        from .database import Database

        return Database
    if name == "Table":
        from .embedded import Table

        return Table
    if name == "mock":
        # The submodule itself: it is callable (kvstore.mock() makes a mock),
        # and importing it binds this same object as the attribute.
        import importlib

        return importlib.import_module(".mock", __name__)
    raise AttributeError(f"module 'kvstore' has no attribute {name!r}")
