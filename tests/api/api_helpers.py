"""Helpers the API test modules share (imported as ``api_helpers``).

``raises`` checks an error's type and message, which is what DynamoDB's
clients and their users match on; ``own_tables`` gives a module table names
of its own that it drops after each test.
"""

import itertools
import os

import pytest

from kvstore.errors import DynamoDBError

__all__ = ["raises", "own_tables"]


def raises(ddb, code, message, operation, **request):
    """Call ``operation`` and check it fails with ``code`` and, unless None, ``message``."""
    with pytest.raises(DynamoDBError) as info:
        ddb.call(operation, **request)
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message
    return info.value


def own_tables(tag, suffixes=("", "b", "n", "p")):
    """(table_name, drop_tables) fixtures for a module: assign both at module level.

    The names sort after conftest's shared ``t<pid>_<n>`` sequence, and every
    table named ``table_name + suffix`` is deleted after the test, so the
    session's shared HTTP server keeps other tests' ListTables pages as they were.
    """
    names = itertools.count()

    @pytest.fixture(name="table_name")
    def table_name():
        return f"x{os.getpid()}{tag}_{next(names)}"

    @pytest.fixture(name="_drop_tables", autouse=True)
    def drop_tables(request, table_name):
        ddb = request.getfixturevalue("ddb") if "ddb" in request.fixturenames else None
        yield
        if ddb is None:
            return
        for suffix in suffixes:
            try:
                ddb.call("DeleteTable", TableName=table_name + suffix)
            except DynamoDBError:
                pass

    return table_name, drop_tables
