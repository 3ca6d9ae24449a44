"""kvstore's benchmark kit: one command, every target, every workload.

    python bench/run.py [--ops get,put,...] [--targets kvstore,moto,dynalite,stack,minimal]
                        [--rounds 3] [--duration 3] [--connections 64] [--items 100000]

What it does, in order:

1. Finds its tools and installs what is missing, saying so: ``wrk`` (Debian
   package, via apt-get when run as root), moto's server (``moto[server]``
   from PyPI: the current environment when it already has it, else a venv in
   ``bench/.venv-moto``), dynalite (npm, into ``bench/.node``).
2. Starts every target on loopback, pinned to the server core (``taskset``,
   core 0 by default): kvstore (``python -m server serve``), moto's server,
   dynalite (in memory), and the two ceiling servers of ``bench/ceiling.py``
   (``stack``: the same uvloop + httptools stack answering a fixed body;
   ``minimal``: decode, dict lookup, encode).
3. Creates two tables on each real target and preloads them: ``bench``
   (hash key ``pk``, ``--items`` items of ~200 bytes) and ``bench_range``
   (``pk`` + ``sk``, ``--items``/10 partition keys of 10 items each).
4. Probes each workload once per target with a plain request; an operation
   the target answers with UnknownOperationException is reported as "not
   supported yet" and skipped (kvstore grows operation by operation).
5. Runs ``--rounds`` rounds; each round runs every workload against every
   target, interleaved, with ``wrk`` pinned to the client core (core 1) and
   the Lua scripts of ``bench/lua`` (random keys, DynamoDB JSON, a
   syntactically valid SigV4 Authorization header).  Around each wrk run it
   reads the server process's CPU time from /proc/<pid>/stat (utime+stime,
   children included), so every run yields requests per server CPU-second:
   the figure that stays stable on a shared machine.
6. Prints medians with min-max, writes every run to ``bench/results.json``,
   the tables to ``bench/RESULTS.md`` (with command, machine, commit, date)
   and a chart to ``bench/results.png``.

Workloads (``--ops``): get, put, update, query, scan, batchget, batchwrite,
transactwrite -- see ``OPS`` below and the matching ``bench/lua/*.lua``.
"""

import argparse
import asyncio
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LUA_DIR = os.path.join(HERE, "lua")
NODE_PREFIX = os.path.join(HERE, ".node")
MOTO_VENV = os.path.join(HERE, ".venv-moto")
DYNALITE_CLI = os.path.join(NODE_PREFIX, "node_modules", "dynalite", "cli.js")

HASH_TABLE = "bench"
RANGE_TABLE = "bench_range"
ITEMS_PER_PK = 10  # the range table: items per partition key (one Query)
SCAN_LIMIT = 100
PAYLOAD = "abcdefghijklmnop" * 10  # same as bench/lua/common.lua

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK/20240101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
    "Signature=" + "0123456789abcdef" * 4
)


class Op:
    def __init__(self, name, operation, script, items_per_request, target_note=""):
        self.name = name                    # the --ops name
        self.operation = operation          # the X-Amz-Target operation
        self.script = script                # bench/lua/<script>
        self.items = items_per_request      # items read/written per request
        self.note = target_note


OPS = {
    op.name: op
    for op in (
        Op("get", "GetItem", "get.lua", 1, "GetItem of a ~200-byte item, random key of 100k"),
        Op("put", "PutItem", "put.lua", 1, "PutItem of a ~200-byte item, random key of 100k"),
        Op("update", "UpdateItem", "update.lua", 1, "UpdateItem SET one number attribute"),
        Op("query", "Query", "query.lua", ITEMS_PER_PK, "Query returning 10 items"),
        Op("scan", "Scan", "scan.lua", SCAN_LIMIT, f"Scan page of {SCAN_LIMIT} items"),
        Op("batchget", "BatchGetItem", "batchget.lua", 100, "BatchGetItem of 100 keys"),
        Op("batchwrite", "BatchWriteItem", "batchwrite.lua", 25, "BatchWriteItem of 25 puts"),
        Op("transactwrite", "TransactWriteItems", "transactwrite.lua", 4,
           "TransactWriteItems of 4 puts"),
    )
}

TARGETS = ("kvstore", "moto", "dynalite", "stack", "minimal")
CEILINGS = ("stack", "minimal")


def say(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Items and request bodies (the Python twins of bench/lua/common.lua)


def hkey(i):
    return "k%07d" % i


def make_item(i, n=None):
    return {
        "pk": {"S": hkey(i)},
        "payload": {"S": PAYLOAD},
        "n": {"N": str(i if n is None else n)},
        "tag": {"S": "bench"},
    }


def make_range_item(p, s):
    return {
        "pk": {"S": "p%06d" % p},
        "sk": {"S": "s%02d" % s},
        "payload": {"S": PAYLOAD},
        "n": {"N": str(s)},
    }


def distinct(n, items, base=0):
    stride = items // n
    return [base + j * stride for j in range(n)]


def sample_request(op, items):
    """One request of workload `op`, as the Lua script would send it."""
    name = op.name
    if name == "get":
        return {"TableName": HASH_TABLE, "Key": {"pk": {"S": hkey(1)}}}
    if name == "put":
        return {"TableName": HASH_TABLE, "Item": make_item(1, 7)}
    if name == "update":
        return {"TableName": HASH_TABLE, "Key": {"pk": {"S": hkey(1)}},
                "UpdateExpression": "SET #n = :n", "ExpressionAttributeNames": {"#n": "n"},
                "ExpressionAttributeValues": {":n": {"N": "8"}}}
    if name == "query":
        return {"TableName": RANGE_TABLE, "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": {"S": "p000001"}}}
    if name == "scan":
        return {"TableName": HASH_TABLE, "Limit": SCAN_LIMIT,
                "ExclusiveStartKey": {"pk": {"S": hkey(1)}}}
    if name == "batchget":
        return {"RequestItems": {HASH_TABLE: {
            "Keys": [{"pk": {"S": hkey(i)}} for i in distinct(100, items)]}}}
    if name == "batchwrite":
        return {"RequestItems": {HASH_TABLE: [
            {"PutRequest": {"Item": make_item(i)}} for i in distinct(25, items)]}}
    if name == "transactwrite":
        return {"TransactItems": [
            {"Put": {"TableName": HASH_TABLE, "Item": make_item(i)}} for i in distinct(4, items)]}
    raise ValueError(name)


def create_table_request(name, range_key):
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "S"})
    return {"TableName": name, "KeySchema": keys, "AttributeDefinitions": attrs,
            "BillingMode": "PAY_PER_REQUEST"}


def headers(operation, host):
    return {
        "Host": host,
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810." + operation,
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": AUTH,
    }


def call(port, operation, request, timeout=60):
    """One request; returns (status, decoded JSON or None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = json.dumps(request).encode()
        conn.request("POST", "/", body, headers(operation, f"127.0.0.1:{port}"))
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data) if data else None
    except ValueError:
        return resp.status, {"raw": data[:200].decode("latin-1")}


def error_type(answer):
    if not isinstance(answer, dict):
        return ""
    return str(answer.get("__type", "")).rpartition("#")[2]


# ---------------------------------------------------------------------------
# Preloading: a small asyncio client, several keep-alive connections


async def _send_all(port, requests, connections):
    """Send (operation, body bytes) pairs over `connections` keep-alive
    connections; return the number of non-200 answers (and the first one)."""
    queue = list(reversed(requests))
    failures = []
    host = f"127.0.0.1:{port}"

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                operation, body = queue.pop()
                head = "".join(f"{k}: {v}\r\n" for k, v in headers(operation, host).items())
                writer.write(f"POST / HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n"
                             .encode() + body)
                status_line = await reader.readline()
                length = 0
                chunked = close = False
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "transfer-encoding" and "chunked" in value.lower():
                        chunked = True
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if chunked:
                    data = b""
                    while True:
                        size = int((await reader.readline()).split(b";")[0], 16)
                        if size == 0:
                            await reader.readline()
                            break
                        data += await reader.readexactly(size)
                        await reader.readline()
                else:
                    data = await reader.readexactly(length)
                if close:
                    # moto's server closes every connection after one answer.
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                status = int(status_line.split()[1])
                if status != 200 or b"UnprocessedItems\":{\"" in data:
                    failures.append((status, data[:300]))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return failures


def preload(port, items, use_batch, connections=8):
    """Fill both tables: `items` items each (range table: items/10 keys x 10)."""
    requests = preload_requests(items, use_batch)
    failures = asyncio.run(_send_all(port, requests, connections))
    if failures:
        raise RuntimeError(f"preload: {len(failures)} requests failed, first: {failures[0]}")
    return len(requests)


def preload_requests(items, use_batch):
    """preload's requests: [(operation, JSON body)]."""
    pks = max(1, items // ITEMS_PER_PK)
    hash_items = [make_item(i) for i in range(items)]
    range_items = [make_range_item(p, s) for p in range(pks) for s in range(ITEMS_PER_PK)]
    requests = []
    for table, rows in ((HASH_TABLE, hash_items), (RANGE_TABLE, range_items)):
        if use_batch:
            for i in range(0, len(rows), 25):
                body = {"RequestItems": {table: [{"PutRequest": {"Item": it}}
                                                 for it in rows[i:i + 25]]}}
                requests.append(("BatchWriteItem", json.dumps(body).encode()))
        else:
            for it in rows:
                requests.append(("PutItem",
                                 json.dumps({"TableName": table, "Item": it}).encode()))
    return requests


# ---------------------------------------------------------------------------
# Processes and their CPU time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _proc_cpu(pid):
    """(user, system) clock ticks of `pid`, its reaped children included."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # Fields after the ")" closing the command name: state is field 3, utime
    # field 14, stime 15, cutime 16, cstime 17 (1-based, see proc(5)).
    fields = stat[stat.rindex(b")") + 2:].split()
    return int(fields[11]) + int(fields[13]), int(fields[12]) + int(fields[14])


def cpu_times(pid):
    """(user, system) CPU seconds of `pid` and of its live descendants (and
    the reaped children they waited for)."""
    user = system = 0
    todo = [pid]
    children = _children_map()
    while todo:
        p = todo.pop()
        try:
            u, s = _proc_cpu(p)
        except OSError:
            continue
        user += u
        system += s
        todo.extend(children.get(p, ()))
    return user / CLK_TCK, system / CLK_TCK


def cpu_seconds(pid):
    """utime+stime of `pid` and its descendants, in seconds."""
    return sum(cpu_times(pid))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


class Target:
    """A server under test: its process, port and what it supports."""

    def __init__(self, name, cmd, port, cwd=ROOT, env=None, log_path=None):
        self.name = name
        self.cmd = cmd
        self.port = port
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.proc = None
        self.unsupported = {}  # op name -> reason

    def start(self, cpu):
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        cmd = ["taskset", "-c", str(cpu)] + self.cmd if cpu is not None else self.cmd
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        wait_port(self.port, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


# ---------------------------------------------------------------------------
# Tools: find them, or install them (saying so)


def run_visible(cmd, **kw):
    say("  $ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def ensure_wrk():
    if shutil.which("wrk"):
        return shutil.which("wrk")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("wrk not found: installing the Debian package")
        run_visible(["apt-get", "update", "-qq"])
        run_visible(["apt-get", "install", "-y", "-qq", "wrk"])
        return shutil.which("wrk")
    raise SystemExit("wrk not found: install it (Debian/Ubuntu: sudo apt-get install wrk)")


def ensure_taskset():
    if not shutil.which("taskset"):
        raise SystemExit("taskset not found (util-linux): install it")


def _python_has(python, modules):
    code = "import " + ", ".join(modules)
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def ensure_moto():
    """A Python that can run moto's server: this one, or bench/.venv-moto."""
    if _python_has(sys.executable, ["moto.server", "flask", "flask_cors"]):
        return sys.executable
    venv_python = os.path.join(MOTO_VENV, "bin", "python")
    if not os.path.exists(venv_python):
        say(f"moto[server] not found: creating {MOTO_VENV}")
        run_visible([sys.executable, "-m", "venv", MOTO_VENV])
    if not _python_has(venv_python, ["moto.server", "flask", "flask_cors"]):
        run_visible([venv_python, "-m", "pip", "install", "-q", "moto[server]"])
    return venv_python


def ensure_dynalite():
    if not os.path.exists(DYNALITE_CLI):
        if not shutil.which("npm"):
            raise SystemExit("dynalite needs node and npm: install them (apt-get install nodejs npm)")
        say(f"dynalite not found: installing it into {NODE_PREFIX}")
        run_visible(["npm", "install", "--silent", "--prefix", NODE_PREFIX, "dynalite"])
    return DYNALITE_CLI


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return True
    except ImportError:
        pass
    say("matplotlib not found: installing it with pip (for bench/results.png)")
    try:
        run_visible([sys.executable, "-m", "pip", "install", "-q", "matplotlib"])
        import matplotlib  # noqa: F401
        return True
    except Exception as exc:  # the chart is optional
        say(f"  no chart: {exc}")
        return False


# ---------------------------------------------------------------------------
# Targets


def make_target(name, items, logdir):
    port = free_port()
    log_path = os.path.join(logdir, f"{name}.log")
    if name == "kvstore":
        cmd = [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]
        return Target(name, cmd, port, log_path=log_path)
    if name == "moto":
        python = ensure_moto()
        cmd = [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        return Target(name, cmd, port, log_path=log_path)
    if name == "dynalite":
        cli = ensure_dynalite()
        cmd = ["node", cli, "--port", str(port), "--host", "127.0.0.1",
               "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
        return Target(name, cmd, port, log_path=log_path)
    if name in CEILINGS:
        cmd = [sys.executable, os.path.join(HERE, "ceiling.py"), name,
               "--port", str(port), "--items", str(items)]
        return Target(name, cmd, port, log_path=log_path)
    raise SystemExit(f"unknown target {name!r} (known: {', '.join(TARGETS)})")


def setup_tables(target, items):
    """Create and preload the tables of a real target (not the ceilings)."""
    for table, ranged in ((HASH_TABLE, False), (RANGE_TABLE, True)):
        status, answer = call(target.port, "CreateTable", create_table_request(table, ranged))
        if status != 200:
            raise RuntimeError(f"{target.name}: CreateTable {table}: {status} {answer}")
    for table in (HASH_TABLE, RANGE_TABLE):
        for _ in range(100):
            status, answer = call(target.port, "DescribeTable", {"TableName": table})
            if status == 200 and answer["Table"].get("TableStatus") == "ACTIVE":
                break
            time.sleep(0.1)
    status, answer = call(target.port, "BatchWriteItem", sample_request(OPS["batchwrite"], items))
    use_batch = status == 200
    t0 = time.monotonic()
    sent = preload(target.port, items, use_batch)
    say(f"  {target.name}: preloaded {2 * items} items with {sent} "
        f"{'BatchWriteItem' if use_batch else 'PutItem'} requests in {time.monotonic() - t0:.1f}s")


def probe(target, op, items):
    """(None, seconds one request took) if `target` answers an `op` request
    with 200, else (the reason to skip it, None)."""
    if target.name in CEILINGS:
        return None, 0.0
    request = sample_request(op, items)
    status, answer = call(target.port, op.operation, request)
    if status == 200:
        if op.name == "get" and "Item" not in (answer or {}):
            return "GetItem found no item: preload failed?", None
        if op.name == "query" and len((answer or {}).get("Items", ())) != ITEMS_PER_PK:
            return f"Query returned {len((answer or {}).get('Items', ()))} items, not 10", None
        timings = []
        for _ in range(3):
            t0 = time.perf_counter()
            call(target.port, op.operation, request)
            timings.append(time.perf_counter() - t0)
        return None, min(timings)
    kind = error_type(answer)
    if kind == "UnknownOperationException" or (status == 400 and "UnknownOperation" in str(answer)):
        return "not supported yet", None
    message = answer.get("message", "") if isinstance(answer, dict) else ""
    return f"fails: HTTP {status} {kind} {message}".strip(), None


def load_shape(latency, args):
    """(connections, seconds) of the runs of a pair whose single request
    takes `latency` seconds.

    --connections and --duration, unless the server is so slow (moto's
    Query, Scan and transactions take 0.1 to several seconds) that fewer than
    5 requests per connection would complete: then fewer connections (such
    a server answers one at a time anyway) and, up to --max-duration, a
    longer run, so that "requests completed per CPU-second" counts whole
    requests rather than the ones left in flight.
    """
    connections, duration = args.connections, args.duration
    if latency and duration / (latency * connections) < 5:
        connections = max(1, int(duration / (5 * latency)))
    if latency and duration / latency < 10:
        duration = max(duration, min(args.max_duration, int(10 * latency) + 1))
    return connections, duration


def wait_idle(pid, limit=30.0):
    """Wait until `pid` stops using CPU: a slow server is still answering the
    requests wrk abandoned at the end of the previous run, and that work
    must not be billed to the next one."""
    deadline = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = cpu_seconds(pid)
        if now - last < 0.02:
            return
        last = now


# ---------------------------------------------------------------------------
# One wrk run

_WRK_JSON = re.compile(r"^WRK_JSON (\{.*\})$", re.M)


def parse_wrk_output(text):
    """The summary line bench/lua/common.lua's done() prints."""
    found = _WRK_JSON.search(text)
    if found is None:
        raise ValueError("no WRK_JSON line in wrk's output:\n" + text[-2000:])
    return json.loads(found.group(1))


def wrk_command(wrk, op, port, args, duration, connections):
    cmd = [wrk, "-t", str(min(args.threads, connections)), "-c", str(connections),
           "-d", f"{max(1, round(duration))}s", "--timeout", "10s",
           "-s", op.script, f"http://127.0.0.1:{port}/",
           "--", f"items={args.items}", f"pks={max(1, args.items // ITEMS_PER_PK)}",
           f"scan_limit={SCAN_LIMIT}"]
    if args.client_cpu is not None:
        cmd = ["taskset", "-c", str(args.client_cpu)] + cmd
    return cmd


def run_wrk(wrk, target, op, args, duration, connections):
    """One wrk run of `op` against `target`; the figures of the run."""
    cmd = wrk_command(wrk, op, target.port, args, duration, connections)
    wait_idle(target.pid)
    client0 = os.times()
    user0, sys0 = cpu_times(target.pid)
    wall0 = time.monotonic()
    out = subprocess.run(cmd, cwd=LUA_DIR, capture_output=True, text=True, timeout=duration + 60)
    wall = time.monotonic() - wall0
    user1, sys1 = cpu_times(target.pid)
    cpu0, cpu1 = user0 + sys0, user1 + sys1
    client1 = os.times()
    client = (client1.children_user + client1.children_system
              - client0.children_user - client0.children_system)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-1000:]}")
    summary = parse_wrk_output(out.stdout)
    seconds = summary["duration_us"] / 1e6
    requests = summary["requests"]
    cpu = cpu1 - cpu0
    errors = summary["errors"]
    return {
        "target": target.name,
        "op": op.name,
        "connections": connections,
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds if seconds else 0.0,
        "items_per_s": requests * op.items / seconds if seconds else 0.0,
        "cpu_s": cpu,
        # The kernel's part of it (loopback TCP, epoll): a floor no Python
        # optimisation moves.
        "server_sys_share": (sys1 - sys0) / cpu if cpu > 0 else None,
        # Share of the run the server (resp. wrk) spent on a CPU: a server
        # well below 100% was held back by the client or by other load.
        "server_busy": cpu / wall,
        "client_busy": client / wall,
        "req_per_cpu_s": requests / cpu if cpu > 0 else None,
        "items_per_cpu_s": requests * op.items / cpu if cpu > 0 else None,
        "p50_ms": summary["latency_us"]["p50"] / 1000,
        "p99_ms": summary["latency_us"]["p99"] / 1000,
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
    }


# ---------------------------------------------------------------------------
# Aggregation and reports


def summarize(runs):
    """(op, target) -> {metric: (median, min, max)} over the rounds."""
    groups = {}
    for r in runs:
        groups.setdefault((r["op"], r["target"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        agg = {}
        done = [r for r in rs if r["requests"] > 0]
        for metric in ("rps", "items_per_s", "req_per_cpu_s", "items_per_cpu_s",
                       "p50_ms", "p99_ms", "server_busy", "client_busy", "server_sys_share"):
            # A run in which no request completed (moto's transactions take
            # longer than a run) has no latency and no rate: left out, counted.
            values = [r[metric] for r in done if r.get(metric) is not None]
            if values:
                agg[metric] = (statistics.median(values), min(values), max(values))
        agg["rounds"] = len(rs)
        agg["empty_runs"] = len(rs) - len(done)
        agg["seconds"] = max(r["seconds"] for r in rs)
        agg["connections"] = rs[0].get("connections", "")
        agg["non_2xx"] = sum(r["non_2xx"] for r in rs)
        agg["socket_errors"] = sum(r["socket_errors"] for r in rs)
        out[key] = agg
    return out


def _fmt(x):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _mm(agg, metric):
    if metric not in agg:
        return "-"
    med, lo, hi = agg[metric]
    return f"{_fmt(med)} ({_fmt(lo)}-{_fmt(hi)})"


def _pct(agg, metric):
    return f"{agg[metric][0]:.0%}" if metric in agg else "-"


def table_lines(summary, ops, targets, skipped):
    lines = [
        "| op | target | conns | req/s | items/s | **req per server CPU-s** | items per CPU-s "
        "| p50 ms | p99 ms | of stack | of minimal | server busy | kernel share | wrk busy | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for op in ops:
        stack = summary.get((op.name, "stack"), {}).get("req_per_cpu_s")
        minimal = summary.get((op.name, "minimal"), {}).get("req_per_cpu_s")
        for t in targets:
            if (op.name, t) in skipped:
                lines.append(f"| {op.name} | {t} | | {skipped[(op.name, t)]} ||||||||||||")
                continue
            agg = summary.get((op.name, t))
            if agg is None:
                continue
            if agg["empty_runs"] == agg["rounds"]:
                lines.append(f"| {op.name} | {t} | {agg['connections']} | no request completed "
                             f"in {agg['rounds']} runs of {agg['seconds']:.0f}s ||||||||||||")
                continue
            rpc = agg.get("req_per_cpu_s")
            frac_stack = f"{rpc[0] / stack[0]:.0%}" if rpc and stack and t != "stack" else ""
            frac_min = (f"{rpc[0] / minimal[0]:.0%}" if rpc and minimal and t not in CEILINGS
                        and op.name in ("get", "put") else "")
            errors = []
            if agg["non_2xx"]:
                errors.append(f"{agg['non_2xx']} non-2xx")
            if agg["socket_errors"]:
                errors.append(f"{agg['socket_errors']} socket")
            if agg["empty_runs"]:
                errors.append(f"{agg['empty_runs']} run(s) with no request completed, left out")
            items = _mm(agg, "items_per_s") if op.items > 1 else ""
            items_cpu = _mm(agg, "items_per_cpu_s") if op.items > 1 else ""
            lines.append(
                f"| {op.name} | {t} | {agg['connections']} | {_mm(agg, 'rps')} | {items} | **{_mm(agg, 'req_per_cpu_s')}** "
                f"| {items_cpu} | {_mm(agg, 'p50_ms')} | {_mm(agg, 'p99_ms')} "
                f"| {frac_stack} | {frac_min} | {_pct(agg, 'server_busy')} "
                f"| {_pct(agg, 'server_sys_share')} "
                f"| {_pct(agg, 'client_busy')} | {', '.join(errors)} |")
    return lines


def machine_info():
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        if dirty:
            commit += " (with uncommitted changes)"
    except OSError:
        commit = "?"
    try:
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        wrk_version = (wrk_version.stdout + wrk_version.stderr).splitlines()[0]
    except (OSError, IndexError):
        wrk_version = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "wrk": wrk_version,
    }


def chart(summary, ops, targets, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [t for t in targets]
    colors = {"kvstore": "#1f77b4", "moto": "#d62728", "dynalite": "#2ca02c",
              "stack": "#bbbbbb", "minimal": "#888888"}
    ops = [op for op in ops if any((op.name, t) in summary for t in shown)]
    if not ops:
        return False
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(ops) + 2), 4.5))
    width = 0.8 / len(shown)
    for k, t in enumerate(shown):
        xs, ys, lo, hi = [], [], [], []
        for i, op in enumerate(ops):
            agg = summary.get((op.name, t), {}).get("req_per_cpu_s")
            if agg:
                xs.append(i + (k - (len(shown) - 1) / 2) * width)
                ys.append(agg[0])
                lo.append(agg[0] - agg[1])
                hi.append(agg[2] - agg[0])
        if xs:
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=t,
                   color=colors.get(t), edgecolor="black", linewidth=0.3)
    ax.set_xticks(range(len(ops)))
    ax.set_xticklabels([op.operation for op in ops], rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("requests per server CPU-second (log)")
    ax.set_title("kvstore vs moto vs dynalite (one server core; stack/minimal = ceilings)")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def kept_sections(path):
    """The "## ..." sections other tools wrote into `path` (bench_workers.py's
    "Scaling with workers", bench_durability.py's): this file writes none of
    its own, so every one of them is carried over, in order, when it
    rewrites the file."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return ""
    start = old.find("\n## ")
    return old[start + 1:].rstrip("\n") + "\n" if start >= 0 else ""


def write_results_md(path, command, info, args, table, skipped_lines, chart_name):
    kept = kept_sections(path)
    text = [
        "# kvstore benchmark results",
        "",
        "Written by `bench/run.py` (rerun it to refresh this file; see bench/README.md).",
        "",
        f"- command: `{command}`",
        f"- machine: {info['nproc']} CPUs, {info['cpu']}, Linux {info['kernel']}, "
        f"Python {info['python']}, {info['wrk']}",
        f"- commit: {info['commit']}",
        f"- date: {info['date']}",
        f"- setup: server pinned to CPU {args.server_cpu}, wrk pinned to CPU {args.client_cpu}, "
        f"{args.threads} wrk thread(s), {args.connections} connections, "
        f"{args.rounds} rounds of {args.duration}s per (workload, target), interleaved; "
        f"{args.items} items preloaded per table",
        "",
        "Each cell: median (min-max) over the rounds. **req per server CPU-s** is requests "
        "completed divided by the CPU time (user+system, /proc/<pid>/stat) the server process "
        "used during the run: it stays stable on a shared machine, where req/s does not. "
        "`of stack` is that figure over the bare HTTP stack's for the same workload "
        "(bench/ceiling.py `stack`: uvloop + httptools answering `{}`), `of minimal` over the "
        "minimal decode / dict lookup / encode server (`minimal`).",
        "",
    ]
    if chart_name:
        text += [f"![requests per server CPU-second]({chart_name})", ""]
    text += table
    if skipped_lines:
        text += ["", "Skipped:", ""] + [f"- {line}" for line in skipped_lines]
    text.append("")
    if kept:
        text += [kept]
    with open(path, "w") as f:
        f.write("\n".join(text))


# ---------------------------------------------------------------------------
# Main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="kvstore's benchmark kit (see bench/README.md)")
    p.add_argument("--ops", default=",".join(OPS),
                   help=f"comma-separated workloads (default: all: {','.join(OPS)})")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated targets (default: {','.join(TARGETS)})")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    p.add_argument("--warmup", type=int, default=1,
                   help="seconds of unrecorded load before each pair's first run")
    p.add_argument("--max-duration", type=int, default=15,
                   help="longest run for a very slow pair (see load_shape)")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--items", type=int, default=100_000, help="items preloaded per table")
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--from-json", metavar="PATH",
                   help="run nothing: rewrite the table, RESULTS.md and chart from a results.json")
    p.add_argument("--json", default=os.path.join(HERE, "results.json"),
                   help="where every run is written (default bench/results.json)")
    p.add_argument("--markdown", default=os.path.join(HERE, "RESULTS.md"),
                   help="results table with command, machine, commit, date ('' for none)")
    p.add_argument("--chart", default=os.path.join(HERE, "results.png"),
                   help="PNG chart ('' for none)")
    args = p.parse_args(argv)
    args.ops = [OPS[o] if o in OPS else p.error(f"unknown op {o!r}")
                for o in args.ops.split(",") if o]
    args.targets = [t for t in args.targets.split(",") if t]
    for t in args.targets:
        if t not in TARGETS:
            p.error(f"unknown target {t!r} (known: {', '.join(TARGETS)})")
    if args.no_pin:
        args.server_cpu = args.client_cpu = None
    return args


def rerender(args):
    with open(args.from_json) as f:
        saved = json.load(f)
    runs = saved["runs"]
    by_operation = {op.operation: op.name for op in OPS.values()}
    skipped = {}
    for line in saved.get("skipped", ()):
        head, _, why = line.partition(": ")
        target, _, operation = head.partition(" ")
        skipped[(by_operation.get(operation, operation), target)] = why
    names = [t for t in TARGETS if any(r["target"] == t for r in runs)
             or any(k[1] == t for k in skipped)]
    ops = [op for op in OPS.values() if any(r["op"] == op.name for r in runs)]
    summary = summarize(runs)
    table = table_lines(summary, ops, names, skipped)
    print("\n".join(table))
    saved_args = argparse.Namespace(**saved.get("args", vars(args)))
    chart_name = None
    if args.chart and ensure_matplotlib() and chart(summary, ops, names, args.chart):
        chart_name = os.path.relpath(args.chart, os.path.dirname(args.markdown or HERE))
    if args.markdown:
        write_results_md(args.markdown, saved["command"], saved["machine"], saved_args, table,
                         sorted(saved.get("skipped", ())), chart_name)
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        return rerender(args)
    # A SIGTERM stops the servers we started too (via the finally below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    command = "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    wrk = ensure_wrk()
    if not args.no_pin:
        ensure_taskset()
    logdir = os.path.join(HERE, ".logs")
    os.makedirs(logdir, exist_ok=True)

    targets = []
    skipped = {}
    shapes = {}  # (op, target) -> (connections, seconds)
    try:
        for name in args.targets:
            target = make_target(name, args.items, logdir)
            say(f"starting {name} on port {target.port}")
            target.start(args.server_cpu)
            targets.append(target)
            if name not in CEILINGS:
                setup_tables(target, args.items)
            for op in args.ops:
                reason, latency = probe(target, op, args.items)
                if reason is not None:
                    skipped[(op.name, name)] = reason
                    say(f"  {name}: {op.operation}: {reason}; skipped")
                    continue
                shape = load_shape(latency, args)
                shapes[(op.name, name)] = shape
                if shape != (args.connections, args.duration):
                    say(f"  {name}: {op.operation} takes {latency * 1000:.0f} ms alone: "
                        f"{shape[0]} connections, {shape[1]}s runs")

        runs = []
        warmed = set()
        for rnd in range(1, args.rounds + 1):
            for op in args.ops:
                for target in targets:
                    if (op.name, target.name) in skipped:
                        continue
                    connections, duration = shapes[(op.name, target.name)]
                    if args.warmup and (op.name, target.name) not in warmed:
                        run_wrk(wrk, target, op, args, args.warmup, connections)
                        warmed.add((op.name, target.name))
                    r = run_wrk(wrk, target, op, args, duration, connections)
                    r["round"] = rnd
                    runs.append(r)
                    rpc = r["req_per_cpu_s"]
                    say(f"round {rnd} {op.name:13s} {target.name:9s} {r['rps']:>10,.0f} req/s "
                        f"{(rpc or 0):>10,.0f} req/CPU-s  p50 {r['p50_ms']:.2f} ms  "
                        f"p99 {r['p99_ms']:.2f} ms  busy {r['server_busy']:.0%}/{r['client_busy']:.0%} kernel {(r['server_sys_share'] or 0):.0%}"
                        + (f"  {r['non_2xx']} non-2xx" if r["non_2xx"] else ""))
    finally:
        for target in targets:
            target.stop()

    summary = summarize(runs)
    names = [t.name for t in targets]
    table = table_lines(summary, args.ops, names, skipped)
    skipped_lines = [f"{t} {OPS[o].operation}: {why}" for (o, t), why in sorted(skipped.items())]
    print("\n".join(table))
    for line in skipped_lines:
        print("skipped: " + line)

    info = machine_info()
    with open(args.json, "w") as f:
        saved_args = {k: v for k, v in vars(args).items() if k not in ("ops", "targets")}
        json.dump({"command": command, "machine": info, "args": saved_args, "runs": runs,
                   "skipped": skipped_lines}, f, indent=1)
    chart_name = None
    if args.chart and ensure_matplotlib():
        if chart(summary, args.ops, names, args.chart):
            chart_name = os.path.relpath(args.chart, os.path.dirname(args.markdown or HERE))
    if args.markdown:
        write_results_md(args.markdown, command, info, args, table, skipped_lines, chart_name)
        say(f"wrote {args.markdown}" + (f" and {args.chart}" if chart_name else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
