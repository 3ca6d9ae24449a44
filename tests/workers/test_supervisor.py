"""The supervisor (server/supervisor.py): start, restart within a second, stop.

The first tests supervise tiny stand-in workers (``python -c``) so that they
test the supervision alone; the last ones run the real multi-worker server.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from server.supervisor import Supervisor, reserve_port
from worker_procs import alive, wait_for, worker_pids

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FAKE_WORKER = r"""
import os, signal, sys, time
out = sys.argv[1]
def term(signum, frame):
    with open(out, "a") as f:
        f.write(f"{sys.argv[2]} {signal.Signals(signum).name}\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
signal.signal(signal.SIGINT, term)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""


@pytest.fixture
def fake(tmp_path):
    log = tmp_path / "signals.log"
    supervisor = Supervisor(3, lambda i: [sys.executable, "-c", FAKE_WORKER, str(log), str(i)], grace=5)
    assert supervisor.start(timeout=20)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    yield supervisor, log, thread
    if thread.is_alive():
        supervisor.request_stop(signal.SIGTERM)
        thread.join(10)


def test_supervisor_restarts_a_killed_worker_within_a_second(fake):
    supervisor, _log, _thread = fake
    before = supervisor.pids()
    os.kill(before[1], signal.SIGKILL)
    killed = time.monotonic()
    assert wait_for(lambda: supervisor.workers[1].ready and supervisor.pids()[1] != before[1], 5)
    assert time.monotonic() - killed < 1.0
    after = supervisor.pids()
    assert after[0] == before[0] and after[2] == before[2]  # the others were left alone
    assert supervisor.restarts == 1


def test_supervisor_forwards_the_signal_and_stops_cleanly(fake):
    supervisor, log, thread = fake
    pids = supervisor.pids()
    supervisor.request_stop(signal.SIGINT)
    thread.join(10)
    assert not thread.is_alive()
    assert all(not alive(pid) for pid in pids)
    assert sorted(log.read_text().split("\n")[:-1]) == ["0 SIGINT", "1 SIGINT", "2 SIGINT"]


def test_worker_dying_at_start_is_retried_with_a_short_pause(tmp_path):
    marker = tmp_path / "starts"
    script = (
        "import sys, time\n"
        f"f = open({str(marker)!r}, 'a'); f.write('x'); f.close()\n"
        f"n = len(open({str(marker)!r}).read())\n"
        "if n < 3: sys.exit(3)\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    supervisor = Supervisor(1, lambda i: [sys.executable, "-c", script], grace=2)
    started = time.monotonic()
    assert supervisor.start(timeout=20)
    assert time.monotonic() - started < 10
    assert marker.read_text() == "xxx"
    supervisor.stop()


def test_reserved_port_is_shared_with_listeners():
    import socket

    reserved, port = reserve_port("127.0.0.1", 0)
    try:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port), timeout=2)
        conn, _ = listener.accept()  # the reserved socket never takes a connection
        conn.close()
        client.close()
        listener.close()
    finally:
        reserved.close()


# -- the real server -------------------------------------------------------------------


class Cluster:
    def __init__(self, workers=3):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--workers", str(workers), "--port", "0"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.lines = []
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        assert ready.wait(30), "".join(self.lines)
        self.port = int(re.search(r"listening on http://[\d.]+:(\d+)", "".join(self.lines)).group(1))
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def worker_pids(self):
        return worker_pids(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def client(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )


def test_real_workers_restart_and_stop_cleanly():
    cluster = Cluster(3)
    try:
        pids = cluster.worker_pids()
        assert sorted(pids) == [0, 1, 2]
        ddb = client(cluster.endpoint)
        assert ddb.list_tables()["TableNames"] == []
        os.kill(pids[2], signal.SIGKILL)
        assert wait_for(lambda: cluster.worker_pids().get(2) not in (None, pids[2]), 2)
        ddb.list_tables()
    finally:
        code = cluster.stop()
    assert code == 0
    assert "kvstore stopped (SIGTERM)" in "".join(cluster.lines)
    assert all(not alive(pid) for pid in pids.values())


def test_workers_stop_when_the_supervisor_is_killed():
    cluster = Cluster(2)
    pids = cluster.worker_pids()
    assert len(pids) == 2
    cluster.proc.kill()
    cluster.proc.wait()
    assert wait_for(lambda: all(not alive(pid) for pid in pids.values()), 5)
