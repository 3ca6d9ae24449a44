"""The benchmark kit (bench/) imports, parses its options and its wrk output.

No server, no wrk, no timing: only that `python bench/run.py` would not fall
over on a typo, and that every workload has its Lua script.
"""

import importlib.util
import json
import os
import re

import msgspec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCH, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load("run")
ceiling = _load("ceiling")
bench_cluster = _load("bench_cluster")


def test_bench_options_default_to_every_workload_and_target():
    args = run.parse_args([])
    assert [op.name for op in args.ops] == list(run.OPS)
    assert args.targets == list(run.TARGETS)
    args = run.parse_args(["--ops", "get,put", "--targets", "kvstore", "--no-pin"])
    assert [op.name for op in args.ops] == ["get", "put"] and args.server_cpu is None


def test_bench_every_workload_has_a_lua_script_for_its_operation():
    for op in run.OPS.values():
        with open(os.path.join(run.LUA_DIR, op.script)) as f:
            script = f.read()
        assert re.search(r'common\.install\("%s"' % op.operation, script), op.script
        json.dumps(run.sample_request(op, 100_000))


def test_bench_sample_batches_use_distinct_keys():
    for name, size in (("batchget", 100), ("batchwrite", 25), ("transactwrite", 4)):
        body = json.dumps(run.sample_request(run.OPS[name], 100_000))
        keys = re.findall(r'"pk": \{"S": "(k\d+)"\}', body)
        assert len(keys) == size == len(set(keys)), name


def test_bench_parses_the_summary_line_of_wrk():
    out = ("Running 1s test\n  1 threads and 4 connections\n"
           'WRK_JSON {"requests":10,"duration_us":1000000,"bytes":5,'
           '"errors":{"connect":0,"read":0,"write":0,"status":1,"timeout":0},'
           '"latency_us":{"p50":100,"p90":200,"p99":300,"max":400,"mean":120.5}}\n')
    summary = run.parse_wrk_output(out)
    assert summary["requests"] == 10 and summary["latency_us"]["p99"] == 300


def test_bench_slow_servers_get_fewer_connections_and_longer_runs():
    args = run.parse_args(["--duration", "3"])
    assert run.load_shape(0.0002, args) == (64, 3)
    connections, duration = run.load_shape(0.7, args)
    assert connections == 1 and 3 < duration <= args.max_duration


def test_bench_summary_table_reports_medians_and_fractions_of_the_stack():
    runs = [
        {"op": "get", "target": t, "connections": 64, "requests": 1, "seconds": 3.0,
         "rps": v, "items_per_s": v,
         "req_per_cpu_s": v, "items_per_cpu_s": v, "p50_ms": 1.0, "p99_ms": 2.0,
         "server_busy": 1.0, "client_busy": 0.5, "non_2xx": 0, "socket_errors": 0}
        for t, v in (("kvstore", 50.0), ("kvstore", 40.0), ("kvstore", 60.0), ("stack", 100.0))
    ]
    summary = run.summarize(runs)
    assert summary[("get", "kvstore")]["req_per_cpu_s"] == (50.0, 40.0, 60.0)
    lines = run.table_lines(summary, [run.OPS["get"]], ["kvstore", "stack"],
                            {("put", "kvstore"): "not supported yet"})
    assert any("| get | kvstore |" in line and "50%" in line for line in lines)


def test_bench_minimal_ceiling_handler_decodes_looks_up_and_encodes():
    handle = ceiling.minimal_handler(items=10)
    status, body = handle(b"DynamoDB_20120810.GetItem",
                          b'{"TableName":"bench","Key":{"pk":{"S":"k0000003"}}}')
    assert status == 200
    assert msgspec.json.decode(body)["Item"]["pk"] == {"S": "k0000003"}
    assert ceiling.stack_handler()(b"x", b"{}") == (200, b"{}")


def test_bench_workers_table_has_minimal_rows_relative_to_one_process():
    workers = _load("bench_workers")
    args = workers.parse_args(["--workers", "1,8", "--ops", "get,query", "--minimal"])
    assert args.minimal and args.workers == [1, 8]

    def runs(per_cpu):
        return [{"req_per_cpu_s": per_cpu, "items_per_cpu_s": per_cpu * 10, "non_2xx": 0}]

    results = {("get", 1): runs(100.0), ("get", 8): runs(50.0),
               ("query", 1): runs(40.0), ("query", 8): runs(30.0),
               ("get", ("minimal", 1)): runs(200.0), ("get", ("minimal", 8)): runs(180.0)}
    lines = workers.table(results, args)
    assert "| GetItem (req/CPU-s) | 100 (100%) | 50 (50%) |" in lines
    assert "| Query (items/CPU-s) | 400 (100%) | 300 (75%) |" in lines
    # the minimal server answers GetItem and PutItem only: no Query row for it
    assert lines[-1] == "| GetItem, minimal server (req/CPU-s) | 200 (100%) | 180 (90%) |"


def test_bench_workers_same_connections_rows_are_relative_to_one_worker():
    workers = _load("bench_workers")
    args = workers.parse_args(["--workers", "1,2,8", "--ops", "get,query", "--per-worker", "64", "--same-connections"])
    assert args.same_connections

    def runs(per_cpu):
        return [{"req_per_cpu_s": per_cpu, "items_per_cpu_s": per_cpu * 10, "non_2xx": 0}]

    results = {("get", 1): runs(100.0), ("get", 2): runs(70.0), ("get", 8): runs(50.0),
               ("query", 1): runs(40.0), ("query", 2): runs(35.0), ("query", 8): runs(30.0),
               ("get", ("one", 2)): runs(95.0), ("get", ("one", 8)): runs(80.0)}
    lines = workers.table(results, args)
    # one worker with 128 and 512 connections, against its own 64; no Query row
    assert lines[-1] == "| GetItem, 1 worker at N workers' connections (req/CPU-s) | 100 (100%) | 95 (95%) | 80 (80%) |"


def test_bench_workers_compare_rows_are_relative_to_this_tree_at_each_worker_count():
    workers = _load("bench_workers")
    args = workers.parse_args(["--workers", "1,8", "--ops", "get", "--compare", "/tmp/before"])

    def runs(per_cpu):
        return [{"req_per_cpu_s": per_cpu, "items_per_cpu_s": per_cpu, "non_2xx": 0}]

    results = {("get", 1): runs(100.0), ("get", 8): runs(50.0),
               ("get", ("compare", 1)): runs(90.0), ("get", ("compare", 8)): runs(40.0)}
    lines = workers.table(results, args)
    assert lines[-2] == "| GetItem (req/CPU-s) | 100 (100%) | 50 (50%) |"
    assert lines[-1] == "| GetItem, /tmp/before (req/CPU-s) | 90 (90%) | 40 (80%) |"


def test_bench_engine_ceiling_is_kvstore_filled_like_a_bench_target():
    db = ceiling.engine_db(items=20)
    assert sorted(db.table_names()) == ["bench", "bench_range"]
    assert db.table("bench").get({"pk": "k0000019"})["n"] == 19
    assert len(list(db.table("bench_range").query("pk = :p", values={":p": "p000001"}))) == 10


def test_bench_workers_table_has_independent_rows_for_every_workload():
    workers = _load("bench_workers")
    args = workers.parse_args(["--workers", "1,8", "--ops", "get,query", "--independent"])
    assert args.independent

    def runs(per_cpu):
        return [{"req_per_cpu_s": per_cpu, "items_per_cpu_s": per_cpu * 10, "non_2xx": 0}]

    results = {("get", 1): runs(100.0), ("get", 8): runs(50.0),
               ("query", 1): runs(40.0), ("query", 8): runs(30.0),
               ("get", ("engine", 1)): runs(110.0), ("get", ("engine", 8)): runs(77.0),
               ("query", ("engine", 1)): runs(40.0), ("query", ("engine", 8)): runs(32.0)}
    lines = workers.table(results, args)
    assert lines[-2] == "| GetItem, independent processes (req/CPU-s) | 110 (100%) | 77 (70%) |"
    assert lines[-1] == "| Query, independent processes (items/CPU-s) | 400 (100%) | 320 (80%) |"


def test_bench_cluster_runs_a_few_batches_across_workers(capsys):
    # Two Cluster objects in this process: the preload and a round complete,
    # every batch answered with nothing unprocessed (and every GetItem and
    # PutItem as expected).
    import asyncio

    for op in ("batchwrite", "get", "put"):
        args = bench_cluster.parse_args(["--workers", "2", "--items", "100", "--batches", "20", "--warm", "0",
                                         "--rounds", "1", "--inflight", "4", "--op", op])
        asyncio.run(bench_cluster.main(args))
        assert "2 workers:" in capsys.readouterr().out
    assert bench_cluster.parse_args(["--callgrind"]).batches == 200
