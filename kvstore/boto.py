"""boto3 and botocore without sockets: a client's requests answered in-process.

botocore emits ``before-send.<service>.<Operation>`` with the prepared HTTP
request just before it would open a connection, and uses the first
non-None answer of a handler as the HTTP response.  :func:`install` registers
such a handler on one client: it reads the request as the HTTP server would
(``X-Amz-Target``, a JSON body, maybe gzip), runs ``kvstore.api.dispatch``
on a :class:`kvstore.Database`, and answers with the bytes the server would
send (status, ``x-amzn-RequestId``, ``x-amz-crc32``, the JSON body or the
error body).  Everything else stays botocore's own: parameter validation and
serialization, signing, response parsing, ``ClientError`` with DynamoDB's
code and message, retries, paginators, waiters.  aiobotocore clients get the
same handler with an awaitable response body.

This module does the small bytes <-> engine step itself (kvstore never
imports ``server``); the order of its checks is the server's
(``server/app.py``).  One deliberate difference: an exception that is not a
DynamoDB error -- a bug of ours -- is raised as itself, with its traceback,
rather than becoming a 500 that botocore would retry ten times.

``make_client(db)``/``make_resource(db)`` (``db.client()``/``db.resource()``)
make ordinary boto3 objects and install the handler on them.
"""

import gzip
import itertools
import os
import zlib

import msgspec

from .errors import DynamoDBError, SerializationException, UnknownOperationException

__all__ = ["install", "uninstall", "make_client", "make_resource", "make_session", "Handler"]

HANDLER_ID = "kvstore-in-process"
DYNAMODB_PREFIX = "DynamoDB_20120810."
STREAMS_PREFIX = "DynamoDBStreams_20120810."
# Where the requests nominally go; ".invalid" can never resolve, so nothing
# reaches a network even if the handler were missing.
ENDPOINT_URL = "http://kvstore.invalid"
CREDENTIALS = {"aws_access_key_id": "kvstore", "aws_secret_access_key": "kvstore"}

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

# 52 characters of [0-9A-Z], like the server's: a per-process prefix and a counter.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID_PREFIX = "".join(_ALPHABET[b % 36] for b in os.urandom(26))
_ids = itertools.count()


def _request_id():
    n = next(_ids)
    digits = []
    for _ in range(26):
        n, r = divmod(n, 36)
        digits.append(_ALPHABET[r])
    return _ID_PREFIX + "".join(reversed(digits))


class _Body:
    """The raw response botocore reads (``stream()``) or aiobotocore awaits (``read()``)."""

    __slots__ = ("_data",)

    def __init__(self, data):
        self._data = data

    def stream(self, **_):
        yield self._data

    async def read(self, *_):
        return self._data

    def close(self):
        pass


def _streams_dispatch(db, operation, req):
    from . import api

    streams = getattr(api, "streams_dispatch", None)
    if streams is None:
        raise UnknownOperationException()
    return streams(db, operation, req)


def _header(headers, name):
    value = headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value


def _body(request):
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, (bytes, bytearray)):
        body = body.read()  # a file-like body
        if isinstance(body, str):
            body = body.encode("utf-8")
    encoding = (_header(request.headers, "Content-Encoding") or "").lower()
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    return body


def answer(db, target, body):
    """(status, body bytes) for one request: the server's steps, in its order."""
    from .api import OPERATIONS, dispatch

    try:
        if body:
            try:
                request = _decode(body)
            except (msgspec.DecodeError, RecursionError, ValueError):
                raise SerializationException() from None
            if type(request) is not dict:
                raise SerializationException()
        else:
            request = None
        if target and target.startswith(DYNAMODB_PREFIX):
            fn, operation = dispatch, target[len(DYNAMODB_PREFIX):]
        elif target and target.startswith(STREAMS_PREFIX):
            fn, operation = _streams_dispatch, target[len(STREAMS_PREFIX):]
        else:
            raise UnknownOperationException()
        if not operation or "." in operation:
            raise UnknownOperationException()
        if request is None:
            if fn is dispatch and operation not in OPERATIONS:
                raise UnknownOperationException()
            raise SerializationException()
        return 200, _encode(fn(db, operation, request))
    except DynamoDBError as err:
        return err.status, _encode(err.to_body())


class Handler:
    """The ``before-send`` handler of one client: answers from ``db``.

    Or ``route``, a callable returning the database to use at each request
    (or None to let botocore send the request): how :mod:`kvstore.mock`
    routes to whichever mock is active.
    """

    def __init__(self, db=None, *, route=None, aio=False):
        self._db = db
        self._route = route
        if aio:
            from aiobotocore.awsrequest import AioAWSResponse as response_class
        else:
            from botocore.awsrequest import AWSResponse as response_class
        self._response = response_class

    @property
    def db(self):
        return self._db if self._route is None else self._route()

    def __call__(self, request, **_):
        db = self._db if self._route is None else self._route()
        if db is None:
            return None  # not ours to answer: botocore sends it as usual
        status, body = answer(db, _header(request.headers, "X-Amz-Target"), _body(request))
        headers = {
            "x-amzn-RequestId": _request_id(),
            "x-amz-crc32": str(zlib.crc32(body)),
            "Content-Type": "application/x-amz-json-1.0",
            "Content-Length": str(len(body)),
        }
        return self._response(request.url, status, headers, _Body(body))


def _is_aio(client):
    return any(c.__module__.startswith("aiobotocore") for c in type(client).__mro__)


def _event_name(client):
    return "before-send." + client.meta.service_model.service_id.hyphenize()


def install(client, db=None, *, route=None):
    """Answer every request of this botocore/boto3/aiobotocore client from ``db``
    (or from ``route()``, see :class:`Handler`), replacing any kvstore handler
    already installed on it.  Returns the client."""
    uninstall(client)
    handler = Handler(db, route=route, aio=_is_aio(client))
    client.meta.events.register(_event_name(client), handler, unique_id=HANDLER_ID)
    return client


def uninstall(client):
    client.meta.events.unregister(_event_name(client), unique_id=HANDLER_ID)


def make_session(db=None, **kwargs):
    """A boto3 Session with the database's region and placeholder credentials."""
    import boto3

    if db is not None:
        kwargs.setdefault("region_name", db.region)
    for name, value in CREDENTIALS.items():
        kwargs.setdefault(name, value)
    return boto3.session.Session(**kwargs)


_SESSION_ARGS = ("region_name", "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                 "botocore_session", "profile_name")


def _split(db, kwargs):
    session_kwargs = {k: kwargs.pop(k) for k in _SESSION_ARGS if k in kwargs}
    kwargs.setdefault("endpoint_url", ENDPOINT_URL)
    return make_session(db, **session_kwargs), kwargs


def make_client(db, service_name="dynamodb", **kwargs):
    """A boto3 client (``dynamodb`` or ``dynamodbstreams``) answered by ``db``."""
    session, kwargs = _split(db, kwargs)
    return install(session.client(service_name, **kwargs), db)


def make_resource(db, **kwargs):
    """A boto3 DynamoDB service resource answered by ``db``."""
    session, kwargs = _split(db, kwargs)
    resource = session.resource("dynamodb", **kwargs)
    install(resource.meta.client, db)
    return resource
