"""How the cost of a request grows with workers (``kvstore serve --workers N``).

    python bench/bench_workers.py [--workers 1,2,4,8] [--ops get,put,query,batchwrite]
                                  [--rounds 3] [--duration 4] [--items 100000]
                                  [--connections 64 | --per-worker 64]

A machine with fewer cores than workers cannot show N-core throughput, but it
can show what predicts it: **requests per server CPU-second, summed over
every worker process** (their CPU time, forwarding between workers included,
plus the supervisor's).  Workers share nothing but sockets, so N cores serve
about N times that figure.  Each configuration runs pinned to one core (all
its workers on it, ``taskset``), wrk on another, with bench/run.py's Lua
workloads, preload and CPU accounting; one worker is the plain server
(``--workers 1``: every partition local, no forwarding).

Every configuration is started first; then each round runs every workload
against every configuration in turn, so that the ratio to one worker
compares runs made minutes apart at most (the machine may be shared).

``--same-connections`` adds, for GetItem and PutItem, one worker run with
each N workers' connection count (with ``--per-worker``, N times as many):
what the connection count costs by itself (more sockets, fewer requests
per socket read), apart from forwarding.

``--minimal`` adds, for GetItem and PutItem, bench/ceiling.py's minimal
server run as N processes on the same core (``--processes N``: each with
its own items, no forwarding at all): what N processes on one core cost
by themselves (context switches, caches shared), the part of the workers'
decline that forwarding does not explain.

``--independent`` adds, for every workload, kvstore's own one-worker
server run as N processes on the same core (bench/ceiling.py's ``engine``
mode: each process has every item, so nothing is forwarded): the share of
one process that N kvstore processes keep on one core without any
forwarding, the ceiling of ``--workers N``'s share on this machine.

``--compare TREE`` runs another kvstore tree's server (a clone of another
commit, built) beside this one at each worker count, interleaved in every
round, and adds its rows, each cell relative to this tree's at the same
worker count: a before/after measured minutes apart at most.

Load shape: ``--connections C`` gives every configuration C connections
(with 8 workers each worker sees C/8: fewer requests per event-loop turn,
so per-turn costs weigh more); ``--per-worker K`` gives N workers K*N
connections, so each worker sees the load of the one-worker run.  Report
both: the first is the harder figure, the second what a machine with N
cores under N times the load would see.

The table goes to stdout and, with ``--markdown``, is appended to that file
(bench/RESULTS.md for the record) as a section with the command, the
machine and the date.
"""

import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as kit  # noqa: E402  (bench/run.py: the benchmark kit)

DEFAULT_OPS = "get,put,query,batchwrite"


def make_target(workers, logdir, root=kit.ROOT):
    port = kit.free_port()
    cmd = [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--workers", str(workers)]
    return kit.Target(f"w{workers}", cmd, port, cwd=root, log_path=os.path.join(logdir, f"workers-{workers}.log"))


def make_ceiling(mode, processes, items, logdir):
    """bench/ceiling.py's ``mode`` server as ``processes`` processes on one port."""
    port = kit.free_port()
    cmd = [sys.executable, os.path.join(HERE, "ceiling.py"), mode, "--port", str(port),
           "--items", str(items), "--processes", str(processes)]
    return kit.Target(mode, cmd, port, log_path=os.path.join(logdir, f"{mode}-{processes}.log"))


MINIMAL_OPS = ("get", "put")  # what the minimal server does (it answers {} to the rest)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", default="1,2,4,8")
    p.add_argument("--ops", default=DEFAULT_OPS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=4)
    p.add_argument("--connections", type=int, default=64,
                   help="connections for every configuration (default 64)")
    p.add_argument("--per-worker", type=int, default=0,
                   help="connections per worker instead: N workers get N times this many")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--server-cpu", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=1)
    p.add_argument("--no-pin", action="store_true",
                   help="let the workers run on any core (wrk still on --client-cpu)")
    p.add_argument("--json", default=os.path.join(HERE, ".logs", "workers-results.json"),
                   help="every run so far, rewritten after each run")
    p.add_argument("--root", default=kit.ROOT,
                   help="the kvstore tree whose server runs (default: this one; e.g. a clone of the "
                        "previous commit, for a before/after)")
    p.add_argument("--minimal", action="store_true",
                   help="also run the minimal server as N processes (GetItem, PutItem)")
    p.add_argument("--independent", action="store_true",
                   help="also run kvstore's one-worker server as N independent processes, "
                        "every item in each (no forwarding)")
    p.add_argument("--same-connections", action="store_true",
                   help="also run one worker with each N workers' connection count (GetItem, PutItem)")
    p.add_argument("--compare", default="",
                   help="another kvstore tree run beside --root at each worker count; "
                        "its rows are relative to --root's")
    p.add_argument("--markdown", default="", help="append the table to this file (e.g. bench/RESULTS.md)")
    args = p.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w]
    args.ops = [kit.OPS[o] for o in args.ops.split(",") if o]
    return args


def connections(args, workers):
    return args.per_worker * workers if args.per_worker else args.connections


def main(argv=None):
    args = parse_args(argv)
    command = "python bench/bench_workers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    wrk = kit.ensure_wrk()
    kit.ensure_taskset()
    logdir = os.path.join(HERE, ".logs")
    os.makedirs(os.path.join(logdir, "compare"), exist_ok=True)
    results = {}  # (op, workers) -> [run, ...]
    targets = {}
    skipped = set()
    try:
        for workers in args.workers:
            target = targets[workers] = make_target(workers, logdir, args.root)
            kit.say(f"starting {workers} worker(s) on port {target.port}")
            target.start(None if args.no_pin else args.server_cpu)
            kit.setup_tables(target, args.items)
            for op in args.ops:
                reason, _latency = kit.probe(target, op, args.items)
                if reason is not None:
                    kit.say(f"  {op.operation}: {reason}; skipped")
                    skipped.add((op.name, workers))
            if args.compare:
                target = targets[("compare", workers)] = make_target(
                    workers, os.path.join(logdir, "compare"), args.compare)
                kit.say(f"starting {workers} worker(s) of {args.compare} on port {target.port}")
                target.start(None if args.no_pin else args.server_cpu)
                kit.setup_tables(target, args.items)
                skipped.update((op, ("compare", workers)) for op, w in list(skipped) if w == workers)
            if args.minimal:
                target = targets[("minimal", workers)] = make_ceiling("minimal", workers, args.items, logdir)
                kit.say(f"starting the minimal server as {workers} process(es) on port {target.port}")
                target.start(None if args.no_pin else args.server_cpu)
                skipped.update((op.name, ("minimal", workers)) for op in args.ops
                               if op.name not in MINIMAL_OPS)
            if args.independent:
                target = targets[("engine", workers)] = make_ceiling("engine", workers, args.items, logdir)
                kit.say(f"starting kvstore as {workers} independent process(es) on port {target.port}")
                target.start(None if args.no_pin else args.server_cpu)
        configs = [(workers, target, connections(args, workers if type(workers) is int else workers[1]))
                   for workers, target in targets.items()]
        if args.same_connections and 1 in targets:
            configs += [(("one", w), targets[1], connections(args, w)) for w in args.workers if w > 1]
            skipped.update((op.name, ("one", w)) for op in args.ops for w in args.workers
                           if op.name not in MINIMAL_OPS)
        for round_ in range(args.rounds):
            for op in args.ops:
                for workers, target, conns in configs:
                    if (op.name, workers) in skipped:
                        continue
                    if round_ == 0:
                        kit.run_wrk(wrk, target, op, args, 1, conns)  # warm-up
                    r = kit.run_wrk(wrk, target, op, args, args.duration, conns)
                    r["workers"] = workers if type(workers) is int else f"{workers[0]} {workers[1]}"
                    results.setdefault((op.name, workers), []).append(r)
                    if args.json:
                        with open(args.json, "w") as f:
                            json.dump([run for runs in results.values() for run in runs], f, indent=1)
                    kit.say(f"  {op.operation:15} {r['workers']} workers, {conns} conns: {r['req_per_cpu_s']:9.0f} "
                            f"req/CPU-s {r['items_per_cpu_s']:9.0f} items/CPU-s  ({r['rps']:.0f} req/s, "
                            f"busy {r['server_busy']:.2f}, kernel {r['server_sys_share'] or 0:.0%}, "
                            f"non-2xx {r['non_2xx']})")
    finally:
        for target in targets.values():
            target.stop()
    lines = table(results, args)
    info = kit.machine_info()
    load = (f"{args.per_worker} connections per worker "
            f"({', '.join(str(connections(args, w)) for w in args.workers)})"
            if args.per_worker else f"{args.connections} connections")
    text = "\n".join([
        f"## Scaling with workers ({info['date']})", "",
        f"Command: `{command}`", "",
        f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}, Python {info['python']}, "
        f"commit {info['commit']}; "
        f"{'workers on any core' if args.no_pin else f'every worker process pinned to core {args.server_cpu}'}, wrk "
        f"({info['wrk']}) on core {args.client_cpu}, {load}, "
        f"{args.rounds} rounds of {args.duration}s (configurations interleaved), medians.", "",
        "Requests (items) per server CPU-second, summed over all worker processes and the "
        "supervisor; in parentheses: relative to one worker."
        + (" Minimal rows: bench/ceiling.py's minimal server as N processes on the same core "
           "(no forwarding), relative to one process." if args.minimal else "")
        + (" Independent rows: kvstore's one-worker server as N processes on the same core, "
           "each with every item (no forwarding), relative to one process." if args.independent else "")
        + (" \"1 worker at N workers' connections\" rows: the one-worker server with that many "
           "connections, relative to it with its own." if args.same_connections else "")
        + (f" Rows of {args.compare}: that tree's server, relative to this one's at the same "
           "worker count." if args.compare else ""), "",
        *lines, "",
    ])
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write("\n" + text)
    return 0


def table(results, args):
    head = "| workload | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in args.workers) + " |"
    lines = [head, "|---" * (len(args.workers) + 1) + "|"]
    rows = [(op, "", args.workers) for op in args.ops]
    if args.minimal:
        rows += [(op, ", minimal server", [("minimal", w) for w in args.workers])
                 for op in args.ops if op.name in MINIMAL_OPS]
    if args.independent:
        rows += [(op, ", independent processes", [("engine", w) for w in args.workers]) for op in args.ops]
    if args.same_connections:
        rows += [(op, ", 1 worker at N workers' connections", [1 if w == 1 else ("one", w) for w in args.workers])
                 for op in args.ops if op.name in MINIMAL_OPS]
    if args.compare:
        rows += [(op, f", {args.compare}", [("compare", w) for w in args.workers]) for op in args.ops]

    def median(op, config):
        runs = results.get((op.name, config))
        return statistics.median(r["items_per_cpu_s" if op.items > 1 else "req_per_cpu_s"] for r in runs)

    for op, label, configs in rows:
        base = None
        cells = []
        for workers in configs:
            runs = results.get((op.name, workers))
            if not runs:
                cells.append("-")
                continue
            per_cpu = median(op, workers)
            non_2xx = sum(r["non_2xx"] for r in runs)
            if type(workers) is tuple and workers[0] == "compare":
                # against this tree at the same worker count
                base = median(op, workers[1]) if results.get((op.name, workers[1])) else None
                if base is None:
                    cells.append(f"{per_cpu:,.0f}")
                    continue
            elif base is None:
                base = per_cpu
            cell = f"{per_cpu:,.0f} ({per_cpu / base:.0%})"
            if non_2xx:
                cell += f" [{non_2xx} non-2xx]"
            cells.append(cell)
        unit = "items" if op.items > 1 else "req"
        lines.append(f"| {op.operation}{label} ({unit}/CPU-s) | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
