"""Embedded-mode benchmark: calls per second of get and put, four ways, one run.

1. ``pythonic``  -- ``db.table(name).get(key)`` / ``.put(item)``, plain values.
2. ``boto3-inproc`` -- a real boto3 client from ``db.client()``, answered
   in-process (kvstore.boto: no socket).
3. ``boto3-http`` -- a boto3 client over HTTP to ``python -m server serve`` on
   a free loopback port (a child process; the client is this process).
4. ``moto``      -- boto3 inside moto's ``mock_aws`` (skipped if moto is absent).

Every mode runs the same workload on a small item (a string key and three
attributes, ~50 bytes): ``--keys`` distinct keys are written first, then
``get`` and ``put`` loops cycle through them, each timed with
``time.perf_counter`` over ``--seconds`` (per mode and operation; modes
that are far slower stop after at least 200 calls).  One thread, so one
core for the client; the HTTP server is another process.  Each figure is
given per wall-clock second and per CPU-second of this process
(``time.process_time``): the second stays stable on a shared machine, and
for ``boto3-http`` counts only the client's side.  The numbers are
single runs: rerun for spread; ``--profile`` prints where ``pythonic`` spends
its time.

    python bench/bench_embedded.py                 # all four modes
    python bench/bench_embedded.py --modes pythonic --seconds 3 --profile
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

TABLE = "bench"
KEY_SCHEMA = [{"AttributeName": "id", "KeyType": "HASH"}]
ATTRIBUTES = [{"AttributeName": "id", "AttributeType": "S"}]


def plain_item(i):
    return {"id": f"user{i:06d}", "name": "Ada Lovelace", "age": 36, "active": True}


def wire_item(i):
    return {"id": {"S": f"user{i:06d}"}, "name": {"S": "Ada Lovelace"}, "age": {"N": "36"},
            "active": {"BOOL": True}}


def timed(fn, args, seconds, min_calls=200):
    """(calls, elapsed, cpu): call fn(arg) cycling through args for about
    ``seconds``; ``cpu`` is this process's CPU time over the same calls."""
    n = len(args)
    calls = 0
    batch = 1000
    cpu_start = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for j in range(batch):
            fn(args[(calls + j) % n])
        calls += batch
        now = time.perf_counter()
        if now >= deadline and calls >= min_calls:
            return calls, now - start, time.process_time() - cpu_start
        # Slow modes: smaller batches so they stop near the deadline.
        per_call = (now - start) / calls
        batch = max(1, min(100000, int(0.05 / per_call)))


# -- the modes ------------------------------------------------------------------


def mode_pythonic(keys):
    import kvstore

    db = kvstore.Database()
    table = db.create_table(TABLE, "id")
    items = [plain_item(i) for i in range(keys)]
    for item in items:
        table.put(item)
    key_list = [{"id": item["id"]} for item in items]
    assert table.get(key_list[0]) == {"id": items[0]["id"], "name": "Ada Lovelace", "age": 36, "active": True}
    return table.get, key_list, table.put, items, None


def _boto3_mode(client, keys, cleanup=None):
    client.create_table(TableName=TABLE, KeySchema=KEY_SCHEMA, AttributeDefinitions=ATTRIBUTES,
                        BillingMode="PAY_PER_REQUEST")
    items = [wire_item(i) for i in range(keys)]
    for item in items:
        client.put_item(TableName=TABLE, Item=item)
    key_list = [{"id": item["id"]} for item in items]
    assert client.get_item(TableName=TABLE, Key=key_list[0])["Item"] == items[0]

    def get(key):
        return client.get_item(TableName=TABLE, Key=key)

    def put(item):
        return client.put_item(TableName=TABLE, Item=item)

    return get, key_list, put, items, cleanup


def mode_boto3_inproc(keys):
    import kvstore

    return _boto3_mode(kvstore.Database().client(), keys)


def mode_boto3_http(keys):
    from kvstore.pytest_plugin import KvstoreServer

    server = KvstoreServer()
    return _boto3_mode(server.client(), keys, cleanup=server.stop)


def mode_moto(keys):
    try:
        from moto import mock_aws
    except ImportError:
        return None
    import boto3

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, value)
    mocked = mock_aws()
    mocked.start()
    return _boto3_mode(boto3.client("dynamodb", region_name="us-east-1"), keys, cleanup=mocked.stop)


MODES = {
    "pythonic": mode_pythonic,
    "boto3-inproc": mode_boto3_inproc,
    "boto3-http": mode_boto3_http,
    "moto": mode_moto,
}


def profile_pythonic(keys, calls=200000):
    import cProfile
    import pstats

    get, key_list, put, items, _ = mode_pythonic(keys)
    for label, fn, args in (("get", get, key_list), ("put", put, items)):
        profiler = cProfile.Profile()
        n = len(args)
        profiler.enable()
        for i in range(calls):
            fn(args[i % n])
        profiler.disable()
        print(f"\n-- profile of pythonic {label} ({calls} calls; cProfile inflates every call) --")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES))
    parser.add_argument("--seconds", type=float, default=2.0, help="time per mode and operation")
    parser.add_argument("--keys", type=int, default=1000, help="distinct keys cycled through")
    parser.add_argument("--profile", action="store_true", help="profile the pythonic mode afterwards")
    args = parser.parse_args(argv)

    import platform

    print(f"# bench_embedded: python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cpus, {args.keys} keys, ~{args.seconds}s per measurement")
    print(f"{'mode':14s} {'get/s':>12s} {'get/CPU-s':>12s} {'get µs':>9s} "
          f"{'put/s':>12s} {'put/CPU-s':>12s} {'put µs':>9s}")
    results = {}
    for name in args.modes.split(","):
        setup = MODES[name](args.keys)
        if setup is None:
            print(f"{name:14s} {'(not installed)':>12s}")
            continue
        get, key_list, put, items, cleanup = setup
        try:
            row = []
            for fn, fn_args in ((get, key_list), (put, items)):
                calls, elapsed, cpu = timed(fn, fn_args, args.seconds)
                row.append((calls / elapsed, calls / cpu, elapsed / calls * 1e6))
        finally:
            if cleanup is not None:
                cleanup()
        results[name] = row
        (g, gc, gus), (p, pc, pus) = row
        print(f"{name:14s} {g:12,.0f} {gc:12,.0f} {gus:9.2f} {p:12,.0f} {pc:12,.0f} {pus:9.2f}", flush=True)
    if "pythonic" in results and "moto" in results:
        (_, g, _), (_, p, _) = results["pythonic"]
        (_, mg, _), (_, mp, _) = results["moto"]
        print(f"# pythonic vs moto, calls per CPU-second: get x{g / mg:,.0f}, put x{p / mp:,.0f}")
    if args.profile:
        profile_pythonic(args.keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
