"""Profile kvstore's server under one wrk workload with py-spy.

    python bench/hotpath.py [--op get] [--seconds 8] [--items 100000] [--native]

Starts ``kvstore serve`` pinned to the server core, preloads the tables as
``bench/run.py`` does, runs wrk with the workload's Lua script for
``--seconds`` while ``py-spy record`` samples the server, and prints the
functions with the largest share of samples, inclusive (the function and
what it calls) and self (its own code).  The raw collapsed stacks are kept
in ``bench/.logs/profile-<op>.txt`` (a flame graph:
``py-spy``'s ``--format flamegraph`` or any collapsed-stack viewer).

``--native`` adds C frames (Cython, msgspec, uvloop) to the stacks (py-spy
then pauses the server for each sample: slower, skewed toward syscalls).
``--in-process`` runs no server: it times ``server.app``'s handler alone
(JSON bytes in, JSON bytes out) on the workload's requests and prints a
cProfile of it -- the engine's share, free of HTTP and of machine noise.
py-spy is installed with pip when missing (it says so).
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402  (bench/run.py)


def ensure_py_spy():
    found = shutil.which("py-spy")
    if found:
        return found
    run.say("py-spy not found: installing it with pip")
    run.run_visible([sys.executable, "-m", "pip", "install", "-q", "py-spy"])
    return shutil.which("py-spy")


def frame_name(frame):
    # py-spy's raw frames look like "function (path/to/file.py:123)".
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if path.startswith(run.ROOT):
        path = os.path.relpath(path, run.ROOT)
    return f"{name} ({path})" if path else name


def shares(collapsed_path):
    inclusive = collections.Counter()
    own = collections.Counter()
    total = 0
    with open(collapsed_path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            count = int(count)
            total += count
            frames = [frame_name(fr) for fr in stack.split(";")]
            for name in set(frames):
                inclusive[name] += count
            own[frames[-1]] += count
    return total, inclusive, own


def in_process(args):
    """Time and cProfile server.app's handler alone: no sockets, no HTTP."""
    import cProfile
    import json
    import pstats
    import random
    import re

    sys.path.insert(0, run.ROOT)
    from server.app import make_handler

    import kvstore

    db = kvstore.Database()
    for table, ranged in ((run.HASH_TABLE, False), (run.RANGE_TABLE, True)):
        db.request("CreateTable", run.create_table_request(table, ranged))
    for i in range(args.items):
        db.request("PutItem", {"TableName": run.HASH_TABLE, "Item": run.make_item(i)})
    for p in range(max(1, args.items // run.ITEMS_PER_PK)):
        for s in range(run.ITEMS_PER_PK):
            db.request("PutItem", {"TableName": run.RANGE_TABLE, "Item": run.make_range_item(p, s)})
    op = run.OPS[args.op]
    handle = make_handler(db)
    target = b"DynamoDB_20120810." + op.operation.encode()
    rnd = random.Random(1)
    bodies = []
    hash_key = re.compile(r'"k(\d{7})"')
    for _ in range(1024):
        req = run.sample_request(op, args.items)
        text = json.dumps(req, separators=(",", ":"))
        # Random keys, as the Lua scripts send: every key of the body moved by
        # one random shift below the stride of the batches' distinct keys (so
        # they stay distinct), which spreads them over the whole table -- the
        # cache misses of random reads are a large part of the server's time.
        n = max(1, len(hash_key.findall(text)))
        shift = rnd.randrange(max(1, args.items // n))
        text = hash_key.sub(lambda m: '"%s"' % run.hkey((int(m.group(1)) + shift) % args.items), text)
        text = text.replace("p000001", "p%06d" % rnd.randrange(max(1, args.items // 10)))
        bodies.append(text.encode())
    status, answer = handle(target, bodies[0])
    if status != 200:
        raise SystemExit(f"{op.operation}: {status} {answer[:300]!r}")
    import gc

    if args.gc == "freeze":
        gc.freeze()
    elif args.gc == "off":
        gc.disable()

    def timed(fn):
        state = [0]

        def one():
            state[0] = (state[0] + 1) & 1023
            return fn(target, bodies[state[0]])

        t0 = time.process_time()
        for _ in range(100):
            one()
        n = max(100, int(0.5 / max(1e-7, (time.process_time() - t0) / 100)))

        # Not timeit: it switches the cyclic GC off, and the GC's cost on a
        # heap of stored items is part of what is measured here.  CPU time
        # of this process, not wall time: other load does not count.
        results = []
        for _ in range(5):
            t0 = time.process_time()
            for _ in range(n):
                one()
            results.append((time.process_time() - t0) / n)
        return min(results), one

    best, one = timed(handle)
    print(f"{op.operation} through server.app's handler (JSON in, JSON out, no HTTP, "
          f"gc {args.gc}): {best * 1e6:.2f} us per request = {1 / best:,.0f} per CPU-second")
    if op.name in ("get", "put"):
        import ceiling

        minimal, _ = timed(ceiling.minimal_handler(args.items))
        print(f"  the minimal handler (bench/ceiling.py) on the same requests: "
              f"{minimal * 1e6:.2f} us; kvstore's engine adds {(best - minimal) * 1e6:.2f} us")
    n = max(100, int(0.3 / best))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        one()
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description="py-spy profile of kvstore under one wrk workload")
    p.add_argument("--op", default="get", choices=list(run.OPS))
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--native", action="store_true", help="include C frames")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--gc", choices=("default", "freeze", "off"), default="default",
                   help="--in-process: the cyclic GC as is, frozen after the preload, or off")
    p.add_argument("--in-process", action="store_true",
                   help="no server: time and cProfile server.app's handler alone")
    args = p.parse_args(argv)
    if args.in_process:
        return in_process(args)

    wrk = run.ensure_wrk()
    py_spy = ensure_py_spy()
    logdir = os.path.join(HERE, ".logs")
    os.makedirs(logdir, exist_ok=True)
    out_path = os.path.join(logdir, f"profile-{args.op}.txt")
    op = run.OPS[args.op]
    wrk_args = run.parse_args(["--connections", str(args.connections), "--items", str(args.items)])

    target = run.make_target("kvstore", args.items, logdir)
    target.start(wrk_args.server_cpu)
    try:
        run.setup_tables(target, args.items)
        reason, _ = run.probe(target, op, args.items)
        if reason:
            raise SystemExit(f"kvstore {op.operation}: {reason}")
        run.run_wrk(wrk, target, op, wrk_args, 1, args.connections)  # warm up
        spy_cmd = [py_spy, "record", "--pid", str(target.pid), "--rate", str(args.rate),
                   "--format", "raw", "--output", out_path, "--duration", str(args.seconds + 1)]
        # --nonblocking (no pauses of the server) cannot read C frames.
        spy_cmd.append("--native" if args.native else "--nonblocking")
        spy = subprocess.Popen(["taskset", "-c", str(wrk_args.client_cpu)] + spy_cmd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        result = run.run_wrk(wrk, target, op, wrk_args, args.seconds, args.connections)
        spy.wait(timeout=60)
    finally:
        target.stop()
    run.say(f"{op.operation}: {result['rps']:,.0f} req/s, {result['req_per_cpu_s'] or 0:,.0f} "
            f"req per server CPU-second (slowed by py-spy), stacks in {out_path}")
    total, inclusive, own = shares(out_path)
    if not total:
        raise SystemExit("py-spy recorded nothing: " + spy.stderr.read().decode()[-500:])
    print(f"\n{total} samples.  Inclusive share (function and its callees):")
    for name, count in inclusive.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("\nSelf share (the function's own code):")
    for name, count in own.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
