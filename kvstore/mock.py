"""``kvstore.mock()``: every DynamoDB client made inside it answered in-process.

Like moto's ``mock_aws``, but for DynamoDB (and DynamoDB Streams) only, and
with kvstore's engine, so with DynamoDB's behaviour::

    with kvstore.mock() as db:            # db: the kvstore.Database behind it
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(...)

    @kvstore.mock()                       # a fresh database per call
    def test_something(): ...

How: while a mock is active, ``botocore.client.BaseClient.__init__`` is
wrapped so that each new DynamoDB client (boto3, botocore, aiobotocore, and
so PynamoDB and others built on them) gets kvstore's ``before-send`` handler
(:mod:`kvstore.boto`).  That handler answers from the innermost active mock's
database; when no mock is active any more, from the database of the mock it
was created in, so a client kept after the mock ends still never reaches
AWS.  Clients created before the mock started are not touched (as with moto:
create clients inside the mock).  Other services are left alone.

While active, placeholder credentials (and a region) are put in the
environment if none are set, so clients can be created and sign requests
without any AWS configuration; they are removed again at the end.
"""

import functools
import inspect
import os
import sys
import threading
import types

__all__ = ["mock", "active_database"]

SERVICES = ("dynamodb", "dynamodbstreams")
_ENV_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "kvstore",
    "AWS_SECRET_ACCESS_KEY": "kvstore",
}
_REGION_VARS = ("AWS_DEFAULT_REGION", "AWS_REGION")

_lock = threading.RLock()
_active = []  # the active mocks, innermost last
_patch = None  # (original BaseClient.__init__, environment variables we set)


def active_database():
    """The database of the innermost active mock, or None."""
    with _lock:
        return _active[-1].db if _active else None


def _route_for(fallback):
    def route():
        return _active[-1].db if _active else fallback
    return route


def _patch_botocore():
    from botocore.client import BaseClient

    from .boto import install

    original = BaseClient.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        mocked = _active[-1] if _active else None
        if mocked is not None and self.meta.service_model.service_name in SERVICES:
            install(self, route=_route_for(mocked.db))

    BaseClient.__init__ = __init__
    env = {}
    for name, value in _ENV_DEFAULTS.items():
        if not os.environ.get(name):
            env[name] = os.environ.get(name)
            os.environ[name] = value
    if not any(os.environ.get(name) for name in _REGION_VARS):
        env["AWS_DEFAULT_REGION"] = os.environ.get("AWS_DEFAULT_REGION")
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    return original, env


def _unpatch_botocore(state):
    from botocore.client import BaseClient

    original, env = state
    BaseClient.__init__ = original
    for name, previous in env.items():
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


class mock:
    """Context manager and decorator; see the module's docstring.

    ``mock(db)`` serves an existing :class:`kvstore.Database`; ``mock()`` makes
    a fresh one at each start (each ``with``, each call of a decorated
    function, each test of a decorated ``unittest.TestCase``).  Like
    ``@mock_aws``, ``@mock`` works without parentheses too.
    """

    def __new__(cls, db=None):
        if inspect.isfunction(db) or inspect.isclass(db) or inspect.ismethod(db):
            decorator = object.__new__(cls)  # @mock without parentheses
            decorator.__init__()
            return decorator(db)
        return object.__new__(cls)

    def __init__(self, db=None):
        self._given = db
        self.db = db

    # -- start and stop ------------------------------------------------------

    def start(self):
        global _patch
        if self._given is None:
            from .database import Database

            self.db = Database()
        with _lock:
            if not _active:
                _patch = _patch_botocore()
            _active.append(self)
        return self.db

    def stop(self):
        global _patch
        with _lock:
            if self not in _active:
                raise RuntimeError("this kvstore.mock is not active")
            # Remove the innermost occurrence (a mock may be active twice).
            for i in range(len(_active) - 1, -1, -1):
                if _active[i] is self:
                    del _active[i]
                    break
            if not _active and _patch is not None:
                _unpatch_botocore(_patch)
                _patch = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- as a decorator --------------------------------------------------------

    def __call__(self, target):
        if inspect.isclass(target):
            return self._decorate_class(target)
        if inspect.iscoroutinefunction(target):
            @functools.wraps(target)
            async def run_async(*args, **kwargs):
                with mock(self._given):
                    return await target(*args, **kwargs)
            return run_async

        @functools.wraps(target)
        def run(*args, **kwargs):
            with mock(self._given):
                return target(*args, **kwargs)
        return run

    def _decorate_class(self, cls):
        import unittest

        given = self._given
        if issubclass(cls, unittest.TestCase):
            # One mock from setUp to the end of the test's cleanups, so
            # tables made in setUp are there for the test.
            original_setup = cls.setUp

            @functools.wraps(original_setup)
            def setUp(test_self, *args, **kwargs):
                m = mock(given)
                m.start()
                test_self.addCleanup(m.stop)
                return original_setup(test_self, *args, **kwargs)

            cls.setUp = setUp
            return cls
        for name, value in list(vars(cls).items()):
            if name.startswith("test") and callable(value):
                setattr(cls, name, mock(given)(value))
        return cls


class _CallableModule(types.ModuleType):
    """``kvstore.mock`` is this module once imported; calling it makes a mock,
    so ``kvstore.mock()`` works whether or not the submodule was imported."""

    def __call__(self, db=None):
        return mock(db)


sys.modules[__name__].__class__ = _CallableModule
