"""The ``kvstore`` command: ``kvstore serve`` and ``kvstore --version``.

``serve`` runs the HTTP server in memory (one engine, one process), logs one
line to stderr when it is ready -- ``kvstore 0.1.0 listening on
http://127.0.0.1:8000``, with the real port when ``--port 0`` asked for any
free one, so scripts and tests can read it -- and one line when a SIGINT or
SIGTERM has stopped it after draining.  The exit code is then 0.
``--enforce-throughput`` turns on provisioned-throughput throttling
(``kvstore.capacity``).
"""

import argparse
import logging
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
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                       help="log level (default: info)")
    serve.add_argument("--enforce-throughput", action="store_true",
                       help="hold PROVISIONED tables and GSIs to their capacity units (with "
                            "DynamoDB's 300-second burst); over it, requests fail with "
                            "ProvisionedThroughputExceededException (default: off)")
    return parser


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

    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(message)s")

    from .app import serve

    db = kvstore.Database(enforce_throughput=args.enforce_throughput)

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
