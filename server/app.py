"""Glue between the wire and the engine, and the listening server.

``make_handler(db)`` builds the callable ``HttpProtocol`` calls for each
POST: ``(target, body) -> (status, payload)``.  It decodes the JSON body,
routes ``X-Amz-Target`` and encodes the answer or the error.  The order of
checks is DynamoDB's (as recorded by dynalite's connection tests):

1. a body that is not JSON, or not a JSON object -> SerializationException;
2. a target without the ``DynamoDB_20120810.`` (or, for streams,
   ``DynamoDBStreams_20120810.``) prefix -> UnknownOperationException;
3. an empty body for a known operation -> SerializationException;
4. the engine: ``kvstore.api.dispatch(db, operation, request)`` -- or first,
   for the hot reads, ``kvstore.api.ENCODED_PATHS`` (the answer as JSON
   bytes spliced from the items' cached JSON, or None: dispatch).

Streams operations go to ``streams_dispatch`` (same signature as
``dispatch``; by default ``kvstore.api.streams_dispatch``).  Nothing
here knows what an operation means: data semantics live in ``kvstore``.

``start_server(...)`` opens the listener (tests use it with port 0) and
``serve(...)`` runs it until SIGINT/SIGTERM, on uvloop when installed, then
drains: stop accepting, close idle keep-alive connections, give requests
in flight a short grace to finish and flush, then exit.
"""

import asyncio
import gc
import logging
import signal

import msgspec

from kvstore._core import json_encode
from kvstore.errors import (
    DynamoDBError,
    SerializationException,
    UnknownOperationException,
)

from .http import INTERNAL_ERROR_BODY, MAX_BODY, HttpProtocol

__all__ = ["make_handler", "start_server", "serve", "Server"]

log = logging.getLogger("server")

DYNAMODB_PREFIX = b"DynamoDB_20120810"
STREAMS_PREFIX = b"DynamoDBStreams_20120810"

# How long a shutdown waits for requests in flight before dropping them.
SHUTDOWN_GRACE = 2.0

# The cyclic GC's youngest generation is collected after this many container
# allocations (CPython's default is 700).  A busy server allocates a few
# dozen per request (decoded JSON, futures, frames), nearly all freed by
# reference counting: collecting every 700 re-scans the requests in flight
# and promotes them, so older generations fill and are scanned for nothing.
# Cyclic garbage waits a little longer: this many objects at most.  With
# 8 workers under BatchWriteItem the collector took ~15% of the CPU at 700
# and ~5% at 20,000 (perf, 2026-11).
GC_GEN0_THRESHOLD = 20_000


def settle_gc():
    """Once the server has started: what exists now (modules, the recovered
    tables and items, a worker's catalog) lives as long as the process, so
    it is frozen out of the cyclic GC's sight and a full collection scans
    only what came later; and the youngest generation is collected less
    often (``GC_GEN0_THRESHOLD``).  Stored items are untracked anyway
    (kvstore/_core.pyx); this is for everything else."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def _no_streams(db, operation, request):
    raise UnknownOperationException()


def make_handler(db=None, *, dispatch=None, streams_dispatch=None, operations=None):
    """The per-request callable: ``(target: bytes|None, body: bytes) -> (int, bytes)``.

    ``dispatch`` defaults to ``kvstore.api.dispatch`` and ``db`` to a new
    in-memory ``kvstore.Database()``.  ``operations`` (default
    ``kvstore.api.OPERATIONS`` when it exists) is the set of operation names
    the engine knows, used only to tell an empty body on a known operation
    (SerializationException) from an unknown one.
    """
    encoded_paths = {}
    raw_paths = {}
    if dispatch is None:
        from kvstore import api

        dispatch = api.dispatch
        encoded_paths = getattr(api, "ENCODED_PATHS", encoded_paths)
        raw_paths = {DYNAMODB_PREFIX + b"." + name.encode(): path
                     for name, path in getattr(api, "RAW_PATHS", {}).items()}
        if operations is None:
            operations = getattr(api, "OPERATIONS", None)
        if streams_dispatch is None:
            streams_dispatch = getattr(api, "streams_dispatch", None)
    if db is None:
        import kvstore

        db = kvstore.Database()
    if streams_dispatch is None:
        streams_dispatch = _no_streams

    decode = msgspec.json.Decoder().decode
    # The core's encoder: the items it stores as JSON are then the answer's
    # bytes as they stand (ENCODED_PATHS splice them in).
    encode = json_encode
    routes = {}  # raw target -> (dispatch function, operation name, encoded path or None)

    def route(target):
        if target is None:
            raise UnknownOperationException()
        service, dot, operation = target.partition(b".")
        if not dot or not operation or b"." in operation:
            raise UnknownOperationException()
        if service == DYNAMODB_PREFIX:
            fn = dispatch
        elif service == STREAMS_PREFIX:
            fn = streams_dispatch
        else:
            raise UnknownOperationException()
        try:
            name = operation.decode("ascii")
        except UnicodeDecodeError:
            raise UnknownOperationException() from None
        found = (fn, name, encoded_paths.get(name) if fn is dispatch else None)
        if len(routes) < 256:
            routes[target] = found
        return found

    def handle(target, body):
        try:
            raw = raw_paths.get(target)
            if raw is not None and body and (answer := raw(db, body)) is not None:
                return 200, answer
            if body:
                try:
                    request = decode(body)
                except (msgspec.DecodeError, RecursionError, ValueError):
                    raise SerializationException() from None
                if type(request) is not dict:
                    raise SerializationException()
            else:
                request = None
            found = routes.get(target)
            if found is None:
                found = route(target)
            fn, operation, encoded = found
            if request is None:
                if fn is dispatch and operations is not None and operation not in operations:
                    raise UnknownOperationException()
                raise SerializationException()
            if encoded is not None:
                answer = encoded(db, request, encode)
                if answer is not None:
                    return 200, answer
            return 200, encode(fn(db, operation, request))
        except DynamoDBError as err:
            return err.status, encode(err.to_body())
        except Exception:
            log.exception("internal error answering %r", target)
            return 500, INTERNAL_ERROR_BODY

    return handle


class Server:
    """A listening server: its address, its connections, a graceful stop."""

    def __init__(self, server, connections):
        self._server = server
        self.connections = connections

    @property
    def sockets(self):
        return self._server.sockets

    @property
    def address(self):
        """(host, port) of the first listening socket (the real port for 0)."""
        return self._server.sockets[0].getsockname()[:2]

    async def shutdown(self, grace=SHUTDOWN_GRACE):
        """Stop accepting; close idle connections; wait for the busy ones."""
        self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            conn.abort()
        # Let the aborts' connection_lost callbacks run.
        await asyncio.sleep(0)


async def start_server(db=None, host="127.0.0.1", port=8000, *, handler=None,
                       idle_timeout=60.0, max_body=MAX_BODY, reuse_port=False, commit=None):
    """Listen on (host, port) and return a :class:`Server`.

    ``handler`` defaults to ``make_handler(db)``.
    """
    if handler is None:
        handler = make_handler(db)
    loop = asyncio.get_running_loop()
    connections = set()

    def factory():
        return HttpProtocol(handler, loop=loop, idle_timeout=idle_timeout,
                            max_body=max_body, connections=connections, commit=commit)

    server = await loop.create_server(factory, host, port, reuse_port=reuse_port or None)
    return Server(server, connections)


def _new_loop():
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def sweep_ttl_forever(db, interval):
    """Delete expired TTL items every ``interval`` seconds (``--ttl-interval``).

    Each ``db.sweep_ttl()`` call is bounded (kvstore/ttl.py); while a pass is
    unfinished the next chunk runs on the next loop turn, so requests are
    served in between and the loop is never held for long."""
    while True:
        await asyncio.sleep(interval)
        try:
            while not db.sweep_ttl()[1]:
                await asyncio.sleep(0)
        except Exception:
            log.exception("TTL sweep failed")


def serve(host="127.0.0.1", port=8000, db=None, *, idle_timeout=60.0, handler=None,
          ready_callback=None, stopped_callback=None, grace=SHUTDOWN_GRACE, ttl_interval=5.0,
          reuse_port=False):
    """Run the server until SIGINT or SIGTERM; return the exit code (0).

    With ``db`` given and ``ttl_interval`` > 0, a background task sweeps
    expired TTL items every ``ttl_interval`` seconds.  Like the signal
    handlers, ``settle_gc`` is process-wide: ``serve`` owns its process.

    ``reuse_port`` lets other processes listen on the same port
    (SO_REUSEPORT; bench/ceiling.py's ``--processes``).
    ``ready_callback(server)`` is called once listening; ``stopped_callback
    (signal_name)`` once the shutdown has finished.  A second signal during
    the shutdown drops every connection at once.
    """
    if handler is None:
        handler = make_handler(db)

    async def run():
        loop = asyncio.get_running_loop()
        commit = None
        if db is not None and getattr(db, "durable", None) is not None:
            from .commit import GroupCommit  # group commit of the write-ahead log

            commit = GroupCommit(db.durable, loop)
        server = await start_server(host=host, port=port, handler=handler,
                                    idle_timeout=idle_timeout, commit=commit, reuse_port=reuse_port)
        settle_gc()
        stop = loop.create_future()
        signals = (signal.SIGINT, signal.SIGTERM)
        sweeper = None
        if db is not None and ttl_interval:
            sweeper = loop.create_task(sweep_ttl_forever(db, ttl_interval))

        def on_signal(signum):
            if not stop.done():
                stop.set_result(signum)
            else:
                for conn in list(server.connections):
                    conn.abort()

        for signum in signals:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            if ready_callback is not None:
                ready_callback(server)
            signum = await stop
            await server.shutdown(grace)
        finally:
            if sweeper is not None:
                sweeper.cancel()
            if commit is not None:
                commit.close()
            for signum_ in signals:
                loop.remove_signal_handler(signum_)
        if stopped_callback is not None:
            stopped_callback(signal.Signals(signum).name)
        return 0

    with asyncio.Runner(loop_factory=_new_loop) as runner:
        return runner.run(run())
