"""Fixtures for the embedded-mode tests: the plugin's own, plus helpers.

The plugin's fixtures are imported here so these tests run from a source
checkout where the ``pytest11`` entry point is not installed (when it is,
these are the very same functions).  ``require`` skips a test whose
operation the engine does not have yet, asking the engine itself.
"""

import pytest

from kvstore.errors import DynamoDBError, UnknownOperationException
from kvstore.pytest_plugin import (  # noqa: F401  (fixtures)
    _kvstore_server_process,
    dynamodb_client,
    dynamodb_resource,
    kvstore_db,
    kvstore_mock,
    kvstore_server,
)


def supported(db, operation):
    """Whether the engine runs ``operation``: an empty request of an unknown
    operation is UnknownOperationException, of a known one another error."""
    try:
        db.request(operation, {})
    except UnknownOperationException:
        return False
    except DynamoDBError:
        return True
    return True


@pytest.fixture
def require(kvstore_db):
    """require("Query", ...): skip unless the engine has these operations."""

    def check(*operations):
        for operation in operations:
            if not supported(kvstore_db, operation):
                pytest.skip(f"{operation} is not implemented by the engine yet")

    return check


@pytest.fixture
def users(kvstore_db):
    """A table "users" keyed by the string id."""
    return kvstore_db.create_table("users", "id")


@pytest.fixture
def events(kvstore_db):
    """A table "events" keyed by (device S, at N)."""
    return kvstore_db.create_table("events", ("device", "S"), ("at", "N"))
