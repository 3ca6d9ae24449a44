"""One worker process of ``kvstore serve --workers N`` (started by the supervisor).

    python -m server.worker --index I --count N --port P --sockets DIR -- serve <kvstore serve options>

The worker parses the ``kvstore serve`` options with the command's own parser
(``server/cli.py``), builds its engine as shard ``I`` of the ring
``Ring(range(N))``, takes the table catalog from a live worker (after a
restart), opens its peer socket ``DIR/wI.sock``, listens on (host, P) with
SO_REUSEPORT beside the other
workers, then writes ``ready`` on stdout (the supervisor's pipe).  SIGINT or
SIGTERM drains it like the single-process server; it also stops if its
parent (the supervisor) dies: at once (Linux ``PR_SET_PDEATHSIG`` sends it
SIGTERM), else within ``PARENT_CHECK_SECONDS`` (it polls its parent).

With ``--data-dir`` the worker recovers ``shard-I`` (its own partitions'
items and the whole table metadata; the supervisor holds the directory's
lock, which the worker inherits, and has re-sharded it for N workers
already: ``kvstore/recovery.py``), before it takes the catalog, then logs
there with group commit (``server/commit.py``).  A data directory it cannot
use (a corrupt log without ``--recover-corrupt``, say) makes it exit with
``EXIT_DATA_DIR`` and the message on stderr; the supervisor does not retry
that at start.  Once started, what exists is frozen out of the cyclic GC
(``gc.freeze``) and its youngest generation is collected less often
(``server.app.settle_gc``, as in the single-process server).
``KVSTORE_WORKER_PROFILE=/tmp/prof`` writes a
CPU-time cProfile of each worker to ``/tmp/prof.w<I>`` when it stops.
Test-only: ``KVSTORE_TEST_TX_COMMIT_DELAY=<I>:<seconds>`` makes worker I
answer ``tx_commit`` calls that late, so that a test can kill a participant
between its vote and its commit (tests/durability/test_workers_durability.py).
"""

import argparse
import asyncio
import inspect
import logging
import os
import signal
import sys

from kvstore.schema import Index

from . import app
from .app import SHUTDOWN_GRACE, Server, _new_loop
from .cli import build_parser
from .cluster import AsyncHttpProtocol, Cluster, build_database
from .http import MAX_BODY

__all__ = ["main"]

sweep_ttl_forever = getattr(app, "sweep_ttl_forever", None)

PARENT_CHECK_SECONDS = 1.0

EXIT_DATA_DIR = 78  # EX_CONFIG: the data directory cannot be used

log = logging.getLogger("server")


def install_index_hook(cluster):
    """GSI entries of another worker's partitions go to that worker
    (``kvstore.schema.Index.remote_partitions``; see server/cluster.py)."""

    def remote_partitions(index, partitions):
        return cluster.index_partitions(index, partitions)

    Index.remote_partitions = remote_partitions


def delay_commits_for_tests(cluster):
    """``KVSTORE_TEST_TX_COMMIT_DELAY`` (test-only, see above)."""
    worker, _, seconds = os.environ.get("KVSTORE_TEST_TX_COMMIT_DELAY", "").partition(":")
    if not seconds or int(worker) != cluster.worker:
        return
    handler = cluster.peers.handlers["tx_commit"]

    async def late(body):
        await asyncio.sleep(float(seconds))
        result = handler(body)
        return await result if inspect.isawaitable(result) else result

    cluster.peers.handlers["tx_commit"] = late


def die_with_parent():
    """SIGTERM when the parent dies (Linux; elsewhere the poll in run() does)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


async def run(args, serve):
    loop = asyncio.get_running_loop()
    db = build_database(args.index, args.count, enforce_throughput=getattr(serve, "enforce_throughput", False))
    cluster = Cluster(db, args.index, args.count, args.sockets, loop=loop)
    install_index_hook(cluster)
    delay_commits_for_tests(cluster)
    commit = None
    data_dir = getattr(serve, "data_dir", None)
    if data_dir is not None:
        from kvstore.datadir import DurabilityError

        from .commit import GroupCommit

        cluster.recovering = True
        try:
            db._open(data_dir, serve.fsync or "always", serve.recover_corrupt, serve.snapshot_bytes,
                     lock=False)
        except DurabilityError as exc:
            log.error("kvstore: %s", exc)
            return EXIT_DATA_DIR
        finally:
            cluster.recovering = False
        log.info("kvstore: %s", db.durable.report.summary())
        commit = cluster.commit = GroupCommit(db.durable, loop)
    await cluster.start()
    app.settle_gc()
    connections = set()
    # Without a log there is nothing to wait for: route, not handle.
    handler = cluster.handle if commit is not None else cluster.route

    def factory():
        return AsyncHttpProtocol(handler, loop=loop, idle_timeout=serve.idle_timeout or None,
                                 max_body=MAX_BODY, connections=connections)

    server = Server(await loop.create_server(factory, serve.host, args.port, reuse_port=True), connections)
    sweeper = None
    ttl_interval = getattr(serve, "ttl_interval", 0)
    if ttl_interval and sweep_ttl_forever is not None:
        sweeper = loop.create_task(sweep_ttl_forever(db, ttl_interval))
    stop = loop.create_future()

    def on_signal(signum):
        if not stop.done():
            stop.set_result(signum)
        else:
            for conn in list(connections):
                conn.abort()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    parent = getattr(args, "parent", None) or os.getppid()

    def watch_parent():
        # The supervisor is gone (killed): stop rather than serve alone.
        if os.getppid() != parent:
            on_signal(signal.SIGTERM)
        else:
            loop.call_later(PARENT_CHECK_SECONDS, watch_parent)

    loop.call_later(PARENT_CHECK_SECONDS, watch_parent)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await stop
    if sweeper is not None:
        sweeper.cancel()
    await server.shutdown(SHUTDOWN_GRACE)
    await cluster.drain()  # transactions across workers decided before the links go
    await cluster.close()
    if commit is not None:
        commit.close()
    db.close()  # the log flushed and fsynced
    return 0


def main(argv=None):
    """``--index I --count N --sockets DIR --port P -- serve <kvstore serve options>``."""
    parser = argparse.ArgumentParser(prog="kvstore-worker")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sockets", required=True)
    parser.add_argument("serve", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    args.parent = os.getppid()  # now, before anything: the supervisor may die while we recover
    serve_argv = args.serve[1:] if args.serve[:1] == ["--"] else args.serve
    serve = build_parser().parse_args(serve_argv or ["serve"])
    logging.basicConfig(stream=sys.stderr, level=serve.log_level.upper(),
                        format=f"[w{args.index}] %(message)s")
    die_with_parent()
    profile = os.environ.get("KVSTORE_WORKER_PROFILE")  # a path prefix: cProfile each worker
    if profile:
        import cProfile

        import time

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    try:
        with asyncio.Runner(loop_factory=_new_loop) as runner:
            return runner.run(run(args, serve))
    finally:
        if profile:
            profiler.disable()
            profiler.dump_stats(f"{profile}.w{args.index}")


if __name__ == "__main__":
    sys.exit(main())
