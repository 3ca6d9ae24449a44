"""What durability costs: PutItem and BatchWriteItem under each --fsync policy.

    python bench/bench_durability.py [--duration 5] [--connections 64] [--rounds 3]
                                     [--ops put,batchwrite] [--data-dir /var/tmp]

For each policy -- memory only (no --data-dir), ``--fsync never``,
``--fsync batch``, ``--fsync always`` -- it starts ``python -m server
serve`` pinned to core 0 (a fresh data directory under ``--data-dir``,
default the system's temporary directory: it must be a real disk, not a
tmpfs, for fsync to mean anything), creates the ``bench`` table, and runs
``wrk`` pinned to core 1 with the workload scripts of ``bench/lua``
(``put.lua``: ~200-byte items at random keys; ``batchwrite.lua``: 25 of
them per request).  Around each run it reads the server's CPU time from
/proc, so each run gives requests per second and requests per server
CPU-second.  Rounds interleave the policies; medians are printed as a
Markdown table, with the ratio to memory-only, the command and the machine.

The target (ROADMAP): with group commit, ``--fsync always`` keeps at least
half of memory-only PutItem throughput at 64 connections.
"""

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA_DIR = os.path.join(ROOT, "bench", "lua")
POLICIES = ("memory", "never", "batch", "always")
OPS = {"put": ("put.lua", "PutItem", 1), "batchwrite": ("batchwrite.lua", "BatchWriteItem", 25)}
ITEMS = 100_000
_WRK_JSON = re.compile(r"^WRK_JSON (\{.*\})$", re.M)
_READY = re.compile(r"listening on http://[\d.]+:(\d+)")


class Server:
    def __init__(self, policy, base, cpu):
        args = []
        self.dir = None
        if policy != "memory":
            self.dir = tempfile.mkdtemp(prefix=f"kvstore-bench-{policy}-", dir=base)
            args = ["--data-dir", self.dir, "--fsync", policy]
        cmd = [sys.executable, "-m", "server", "serve", "--port", "0", *args]
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu)] + cmd
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                m = _READY.search(line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(60) or self.port is None:
            raise SystemExit(f"the {policy} server did not start")
        self.pid = self.proc.pid

    def call(self, operation, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", "/", json.dumps(body), {
            "X-Amz-Target": f"DynamoDB_20120810.{operation}",
            "Content-Type": "application/x-amz-json-1.0"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks  # utime stime cutime cstime


def run(server, op, args):
    script, _, _ = OPS[op]
    cmd = ["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout", "10s",
           "-s", script, f"http://127.0.0.1:{server.port}/", "--", f"items={ITEMS}"]
    if shutil.which("taskset") and args.client_cpu is not None:
        cmd = ["taskset", "-c", str(args.client_cpu)] + cmd
    cpu0 = cpu_seconds(server.pid)
    out = subprocess.run(cmd, cwd=LUA_DIR, capture_output=True, text=True, timeout=args.duration + 60)
    cpu = cpu_seconds(server.pid) - cpu0
    found = _WRK_JSON.search(out.stdout)
    if out.returncode or not found:
        raise SystemExit(f"wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    summary = json.loads(found.group(1))
    seconds = summary["duration_us"] / 1e6
    errors = summary["errors"]
    return {"rps": summary["requests"] / seconds, "per_cpu": summary["requests"] / cpu if cpu else 0,
            "p50": summary["latency_us"]["p50"] / 1000, "p99": summary["latency_us"]["p99"] / 1000,
            "errors": errors["status"] + errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ops", default="put,batchwrite")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--data-dir", default=None, help="where the data directories go (a real disk)")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found (Debian: apt-get install wrk)")
    ops = args.ops.split(",")
    policies = args.policies.split(",")
    results = {(p, op): [] for p in policies for op in ops}
    skipped = set()
    for round_no in range(args.rounds):
        for policy in policies:
            server = Server(policy, args.data_dir, args.server_cpu)
            try:
                status, out = server.call("CreateTable", {
                    "TableName": "bench", "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
                assert status == 200, out
                for op in ops:
                    _, operation, _ = OPS[op]
                    status, out = server.call(operation, {})
                    if "UnknownOperation" in str(out.get("__type")):
                        skipped.add(op)
                        continue
                    r = run(server, op, args)
                    results[(policy, op)].append(r)
                    print(f"round {round_no + 1} {policy:7} {op:10} {r['rps']:9.0f} req/s "
                          f"{r['per_cpu']:9.0f} req/cpu-s p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms "
                          f"errors {r['errors']}", file=sys.stderr)
            finally:
                server.stop()
    print(f"\n`python bench/bench_durability.py --duration {args.duration} --connections {args.connections} "
          f"--rounds {args.rounds} --ops {args.ops}` -- {platform.node()}, {os.cpu_count()} CPUs, "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}; medians of {args.rounds} rounds, server on core "
          f"{args.server_cpu}, wrk on core {args.client_cpu}, {args.connections} connections\n")
    print("| workload | policy | req/s | vs memory | req per server CPU-s | p50 ms | p99 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for op in ops:
        if op in skipped:
            print(f"| {op} | (not supported yet) | | | | | |")
            continue
        base = statistics.median(r["rps"] for r in results[("memory", op)]) if ("memory", op) in results else None
        for policy in policies:
            runs = results[(policy, op)]
            rps = statistics.median(r["rps"] for r in runs)
            ratio = f"{rps / base:.2f}" if base else ""
            print(f"| {op} | {policy} | {rps:.0f} | {ratio} | "
                  f"{statistics.median(r['per_cpu'] for r in runs):.0f} | "
                  f"{statistics.median(r['p50'] for r in runs):.2f} | {statistics.median(r['p99'] for r in runs):.2f} |")


if __name__ == "__main__":
    main()
