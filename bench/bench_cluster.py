"""The multi-worker path's own cost per BatchWriteItem, without HTTP or TCP.

    python bench/bench_cluster.py [--workers 8] [--batches 4000] [--rounds 3]
    python bench/bench_cluster.py --callgrind [--workers 8] [--op batchwrite|get|put]

``--workers N`` ``server.cluster.Cluster`` objects run in this one process
and event loop (uvloop), linked by their real Unix sockets as in ``kvstore
serve --workers N``; the table is preloaded with ``--items`` items, then
batches of 25 puts of bench/run.py's items at distinct keys (the
batchwrite workload's) enter through ``Cluster.handle``, round-robin over
the workers as fronts, ``--inflight`` at a time.  What is counted is every
worker's work on them (the front's decode, checks and split, the owners'
stores, the peer frames both ways) and none of the HTTP stack's or the
kernel's TCP: the part forwarding adds, and the part a change to it moves.

``--op get`` or ``put`` measures a GetItem or PutItem of a random
preloaded key instead (``--batches`` then counts those requests): with
``--workers 1`` against 8, what forwarding adds to one request.

The default prints CPU microseconds per batch for each round; on a shared
machine they move as much as bench_workers.py's figures.  ``--callgrind``
instead counts instructions (valgrind's callgrind, which must be
installed): it runs the same load twice under it, with ``--batches``
(200) and six times as many after the same preload and warm-up, and
prints the difference per batch, which repeats to about a percent.  (A
diagnostic: about two minutes for 8 workers.)
"""

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import msgspec  # noqa: E402

import run as kit  # noqa: E402  (bench/run.py: items and tables as the Lua scripts make them)
from server.cluster import DEFERRED, Cluster, build_database, outcome  # noqa: E402  (this tree's)

TARGET = b"DynamoDB_20120810."
PLAIN_ANSWER = b'{"UnprocessedItems":{}}'
BATCH = 25


def batch_body(indexes):
    return msgspec.json.encode({"RequestItems": {kit.HASH_TABLE: [
        {"PutRequest": {"Item": kit.make_item(i, random.randrange(1000000))}} for i in indexes]}})


# --op: the request measured, how one is made (from a random key's index)
# and the start of the answer each must give.
OPS = {
    "batchwrite": (b"BatchWriteItem", lambda i: batch_body(random.sample(range(ITEMS[0]), BATCH)), PLAIN_ANSWER),
    "get": (b"GetItem", lambda i: msgspec.json.encode(
        {"TableName": kit.HASH_TABLE, "Key": {"pk": {"S": kit.hkey(i)}}}), b'{"Item":'),
    "put": (b"PutItem", lambda i: msgspec.json.encode(
        {"TableName": kit.HASH_TABLE, "Item": kit.make_item(i, random.randrange(1000000))}), b"{}"),
}
ITEMS = [50000]


async def drive(nodes, bodies, count, inflight, op=b"BatchWriteItem", answer=PLAIN_ANSWER):
    """Send ``count`` requests ``op`` (``bodies`` in turn, fronts
    round-robin), ``inflight`` at a time; each must answer 200 and a body
    that starts with ``answer``."""
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    state = {"sent": 0, "open": 0}
    if not count:
        return

    def send():
        k = state["sent"]
        state["sent"] = k + 1
        state["open"] += 1
        status, payload = nodes[k % len(nodes)].handle(TARGET + op, bodies[k % len(bodies)])
        if status == DEFERRED:
            payload.add_done_callback(lambda fut: done(outcome(fut)))
        else:
            loop.call_soon(done, (status, payload))

    def done(result):
        if result[0] != 200 or not result[1].startswith(answer):
            if not finished.done():
                finished.set_exception(RuntimeError(f"{op.decode()} answered {result!r}"))
            return
        state["open"] -= 1
        if state["sent"] < count:
            send()
        elif not state["open"] and not finished.done():
            finished.set_result(None)

    for _ in range(min(inflight, count)):
        send()
    await finished


async def main(args):
    loop = asyncio.get_running_loop()
    directory = tempfile.mkdtemp(prefix="kv-bench-cluster-")
    nodes = [Cluster(build_database(i, args.workers), i, args.workers, directory, loop=loop)
             for i in range(args.workers)]
    for node in nodes:
        await node.start()
    try:
        status, answer = nodes[0].handle(TARGET + b"CreateTable", msgspec.json.encode(
            kit.create_table_request(kit.HASH_TABLE, False)))
        if status == DEFERRED:
            await answer
        random.seed(1)
        await drive(nodes, [batch_body(range(k, min(k + BATCH, args.items)))
                            for k in range(0, args.items, BATCH)], -(-args.items // BATCH), args.inflight)
        ITEMS[0] = args.items
        op, make, answer = OPS[args.op]
        bodies = [make(random.randrange(args.items)) for _ in range(512)]
        await drive(nodes, bodies, args.warm, args.inflight, op, answer)
        per = BATCH if args.op == "batchwrite" else 1
        for _ in range(args.rounds):
            cpu = time.process_time()
            await drive(nodes, bodies, args.batches, args.inflight, op, answer)
            cpu = time.process_time() - cpu
            print(f"{args.workers} workers: {cpu / args.batches * 1e6:.1f} us of CPU per {op.decode()} "
                  f"({args.batches * per / cpu:,.0f} items per CPU-second)", flush=True)
    finally:
        for node in nodes:
            await node.close()


def callgrind(args):
    """Instructions per batch: two runs under callgrind, the difference."""
    counts = []
    runs = (args.batches, 6 * args.batches)
    for batches in runs:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "callgrind.out")
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                   os.path.abspath(__file__), "--workers", str(args.workers), "--items", str(args.items),
                   "--warm", str(args.warm), "--inflight", str(args.inflight), "--rounds", "1", "--op", args.op,
                   "--batches", str(batches)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(out) as f:
                counts.append(int(re.search(r"^summary: (\d+)", f.read(), re.M).group(1)))
    per_batch = (counts[1] - counts[0]) / (runs[1] - runs[0])
    print(f"{args.workers} workers: {per_batch:,.0f} instructions per {args.op} request (callgrind)")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--batches", type=int, help="batches per round (default 4000; --callgrind: of the "
                   "first run, default 200)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--items", type=int, default=50000, help="items preloaded, the keys the batches write")
    p.add_argument("--warm", type=int, default=300, help="batches before the first round")
    p.add_argument("--inflight", type=int, default=64, help="batches in flight at a time")
    p.add_argument("--callgrind", action="store_true", help="count instructions per batch instead")
    p.add_argument("--op", choices=sorted(OPS), default="batchwrite",
                   help="the request measured (get, put: of one random preloaded key; default batchwrite)")
    args = p.parse_args(argv)
    if args.batches is None:
        args.batches = 200 if args.callgrind else 4000
    return args


if __name__ == "__main__":
    args = parse_args()
    if args.callgrind:
        callgrind(args)
    else:
        import uvloop

        uvloop.run(main(args))
