"""The ``kvstore`` command: ``kvstore serve`` and ``kvstore --version``.

``serve`` runs the HTTP server in memory (one engine, one process), logs one
line to stderr when it is ready -- ``kvstore 0.1.0 listening on
http://127.0.0.1:8000``, with the real port when ``--port 0`` asked for any
free one, so scripts and tests can read it -- and one line when a SIGINT or
SIGTERM has stopped it after draining.  The exit code is then 0.
``--enforce-throughput`` turns on provisioned-throughput throttling
(``kvstore.capacity``).  ``--workers N`` (``auto``: one per core) runs a
supervisor and N worker processes, a shard each (``server/supervisor.py``,
``server/worker.py``, ``server/cluster.py``); it logs the same two lines.
``--data-dir`` works with either: one shard directory per worker, the
directory re-sharded when N changed (``kvstore/recovery.py``).
"""

import argparse
import logging
import os
import sys

import kvstore

__all__ = ["main"]

log = logging.getLogger("server")

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _port(text):
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range 0-65535: {port}")
    return port


def _workers(text):
    if text == "auto":
        return os.cpu_count() or 1
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of workers: {text!r}") from None
    if workers < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {workers}")
    return workers


def _seconds(text):
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if seconds < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return seconds


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kvstore",
        description="A DynamoDB-compatible key-value store.",
    )
    parser.add_argument("--version", action="version",
                        version=f"kvstore {kvstore.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the DynamoDB-compatible HTTP server")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000,
                       help="port to listen on, 0 for any free one (default: 8000)")
    serve.add_argument("--idle-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                       help="close connections silent this long, 0 for never (default: 60)")
    serve.add_argument("--ttl-interval", type=_seconds, default=5.0, metavar="SECONDS",
                       help="delete expired TTL items every this many seconds, 0 for never (default: 5)")
    serve.add_argument("--workers", type=_workers, default=1, metavar="N|auto",
                       help="worker processes, each a shard of the data, all on the same port "
                            "(auto: one per core; default: 1); with --data-dir each logs its own "
                            "shard, and a directory written with another N is re-sharded at start")
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                       help="log level (default: info)")
    serve.add_argument("--enforce-throughput", action="store_true",
                       help="hold PROVISIONED tables and GSIs to their capacity units (with "
                            "DynamoDB's 300-second burst); over it, requests fail with "
                            "ProvisionedThroughputExceededException (default: off)")
    serve.add_argument("--data-dir", metavar="PATH", default=None,
                       help="keep the data in PATH (write-ahead log + snapshots, a shard-<k> "
                            "directory per worker) and recover it at start, whatever --workers "
                            "wrote it; one server per PATH (default: memory only)")
    serve.add_argument("--fsync", choices=("always", "batch", "never"), default=None,
                       help="with --data-dir: answer a write once its log record is fsynced (always, "
                            "the default; one fsync per event-loop turn), fsync at least every 100 ms "
                            "(batch) or leave it to the OS (never)")
    serve.add_argument("--recover-corrupt", action="store_true",
                       help="with --data-dir: if the log is corrupt in the middle, recover every "
                            "record before the damage (the rest is kept in PATH/damaged) instead of "
                            "refusing to start")
    serve.add_argument("--snapshot-bytes", type=_size, default=None, metavar="BYTES",
                       help="with --data-dir: write a snapshot (and drop the log before it) each "
                            "time the log has grown by this much (default: 64 MiB)")
    return parser


def _size(text):
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size: {text!r}") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return size


def _url(host, port):
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def main(argv=None):
    """Run the ``kvstore`` command; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":
        parser.print_help(sys.stderr)
        return 2
    if args.data_dir is None and (args.fsync or args.recover_corrupt or args.snapshot_bytes):
        parser.error("--fsync, --recover-corrupt and --snapshot-bytes need --data-dir")

    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(message)s")

    if args.workers > 1:
        return _serve_workers(args, sys.argv[1:] if argv is None else argv)

    from .app import serve

    from kvstore.datadir import DurabilityError

    try:
        db = kvstore.Database(enforce_throughput=args.enforce_throughput, path=args.data_dir,
                              fsync=args.fsync or "always", recover_corrupt=args.recover_corrupt,
                              snapshot_bytes=args.snapshot_bytes)
    except DurabilityError as exc:
        log.error("kvstore: %s", exc)
        return 1
    if db.durable is not None:
        log.info("kvstore: %s", db.durable.report.summary())

    def ready(server):
        port = server.address[1]
        log.info("kvstore %s listening on %s", kvstore.__version__, _url(args.host, port))
        sys.stderr.flush()

    def stopped(signal_name):
        log.info("kvstore stopped (%s)", signal_name)
        sys.stderr.flush()

    try:
        return serve(args.host, args.port, db, idle_timeout=args.idle_timeout or None,
                     ready_callback=ready, stopped_callback=stopped, ttl_interval=args.ttl_interval)
    except OSError as exc:
        log.error("kvstore: cannot listen on %s: %s", _url(args.host, args.port), exc)
        return 1
    finally:
        db.close()  # the log flushed and fsynced, the data directory unlocked


def _serve_workers(args, argv):
    from .supervisor import serve_workers, worker_argv

    def ready(port):
        log.info("kvstore %s listening on %s", kvstore.__version__, _url(args.host, port))
        sys.stderr.flush()

    def stopped(signal_name):
        log.info("kvstore stopped (%s)", signal_name)
        sys.stderr.flush()

    try:
        return serve_workers(args.host, args.port, args.workers, worker_argv(argv),
                             ready_callback=ready, stopped_callback=stopped)
    except OSError as exc:
        log.error("kvstore: cannot listen on %s: %s", _url(args.host, args.port), exc)
        return 1
