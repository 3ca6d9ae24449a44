"""Ceiling servers: what kvstore's HTTP stack can do with (almost) no engine.

Both run the very stack ``kvstore serve`` runs -- ``server.app.start_server``
with ``server.http.HttpProtocol`` on uvloop + httptools, so the same request
parsing, request ids, CRC32 and Date headers -- and differ only in the
handler behind it:

``stack``    answers every POST with the fixed body ``{}``: the cost of the
             HTTP layer alone, the upper bound for any operation.
``minimal``  a "minimal GetItem": decode the JSON body with a reused msgspec
             decoder, look the key up in a plain dict of preloaded items, and
             encode the answer with a reused encoder.  PutItem stores into
             the dict the same way; every other operation decodes its body
             and answers ``{}`` (decode cost, no engine).  No validation, no
             DynamoDB semantics: the floor of any real GetItem/PutItem.

``engine``   not a ceiling of the stack but of forwarding: kvstore's own
             one-worker server (``kvstore serve``'s handler and engine),
             its tables created and filled in-process as bench/run.py's
             ``setup_tables`` fills a real target's.  With
             ``--processes N`` each copy has every item: N kvstore
             processes with no forwarding between them, what
             bench/bench_workers.py's ``--independent`` compares
             ``--workers N`` with.

kvstore's figures are reported as a fraction of these (bench/run.py).

    python bench/ceiling.py stack   --port 0 [--items 100000] [--processes N]
    python bench/ceiling.py minimal --port 0 [--items 100000] [--processes N]
    python bench/ceiling.py engine  --port 0 [--items 100000] [--processes N]

prints ``ceiling <mode> listening on http://127.0.0.1:PORT`` on stderr when
ready, like ``kvstore serve`` does.

``--processes N`` forks N-1 copies once the items are loaded, all listening
on the port (SO_REUSEPORT), each with its own items and nothing shared: N
processes with no forwarding at all, what bench/bench_workers.py's
``--minimal`` compares ``kvstore serve --workers N`` with.  A port of 0
needs one port for all: give ``--port``.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import msgspec  # noqa: E402

from server.app import serve  # noqa: E402

__all__ = ["PAYLOAD", "make_item", "stack_handler", "minimal_handler"]

# The same items bench/run.py preloads and bench/lua/common.lua writes.
PAYLOAD = "abcdefghijklmnop" * 10


def make_item(i, n=None):
    return {
        "pk": {"S": "k%07d" % i},
        "payload": {"S": PAYLOAD},
        "n": {"N": str(i if n is None else n)},
        "tag": {"S": "bench"},
    }


def stack_handler():
    """The handler of the "fixed body" ceiling: ``{}`` for every POST."""
    body = b"{}"

    def handle(target, request_body):
        return 200, body

    return handle


def minimal_handler(items=100_000):
    """The handler of the "minimal GetItem" ceiling (see the module doc)."""
    store = {"k%07d" % i: make_item(i) for i in range(items)}
    decode = msgspec.json.Decoder().decode
    encode = msgspec.json.Encoder().encode
    empty = b"{}"
    get_target = b"DynamoDB_20120810.GetItem"
    put_target = b"DynamoDB_20120810.PutItem"

    def handle(target, body):
        req = decode(body)
        if target == get_target:
            item = store.get(req["Key"]["pk"]["S"])
            return 200, encode({"Item": item}) if item is not None else empty
        if target == put_target:
            item = req["Item"]
            store[item["pk"]["S"]] = item
        return 200, empty

    return handle


def engine_db(items=100_000):
    """A kvstore Database with bench/run.py's two tables, filled as its
    ``setup_tables`` fills a server (through the server's own handler)."""
    import kvstore
    from server.app import make_handler

    sys.path.insert(0, HERE)
    import run as kit

    db = kvstore.Database()
    handler = make_handler(db)
    requests = [("CreateTable", msgspec.json.encode(kit.create_table_request(table, ranged)))
                for table, ranged in ((kit.HASH_TABLE, False), (kit.RANGE_TABLE, True))]
    for operation, body in requests + kit.preload_requests(items, use_batch=True):
        status, answer = handler(b"DynamoDB_20120810." + operation.encode(), body)
        if status != 200:
            raise RuntimeError(f"engine: {operation}: {status} {answer!r}")
    return db


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("stack", "minimal", "engine"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    if args.processes > 1 and not args.port:
        parser.error("--processes needs a --port")
    db = handler = None
    if args.mode == "engine":
        db = engine_db(args.items)
    else:
        handler = stack_handler() if args.mode == "stack" else minimal_handler(args.items)
    first = True
    for _ in range(args.processes - 1):
        if os.fork() == 0:
            first = False
            break

    def ready(server):
        if not first:
            return
        print(f"ceiling {args.mode} listening on http://{args.host}:{server.address[1]}",
              file=sys.stderr, flush=True)

    return serve(args.host, args.port, db, handler=handler, ready_callback=ready,
                 idle_timeout=None, reuse_port=args.processes > 1)


if __name__ == "__main__":
    raise SystemExit(main())
