"""The ``kvstore`` command, run for real: ``python -m server serve --port 0``.

A subprocess serves on a free port; the test reads the port from its one
ready line on stderr, talks to it over a socket with http.client, then stops
it with SIGTERM or SIGINT and checks the exit code and the shutdown line.
Every wait has a bound, and a server left running is killed at teardown.
"""

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest

import kvstore
from server.cli import main

ROOT = Path(__file__).resolve().parents[2]
READY = re.compile(r"kvstore (\S+) listening on http://127\.0\.0\.1:(\d+)")
WAIT = 20  # seconds: generous for a loaded machine, finite so nothing hangs


class ServerProcess:
    def __init__(self, *args):
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", "0", *args],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_lines_until(self, pattern):
        """Lines up to and including the first matching `pattern` (or EOF)."""
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern.pattern!r} in {WAIT}s: {seen}")
            if line is None:
                pytest.fail(f"server exited before {pattern.pattern!r}: {seen}")
            seen.append(line)
            if pattern.search(line):
                return seen

    def rest_of_stderr(self):
        lines = []
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                return lines
            if line is None:
                return lines
            lines.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        self.proc.stderr.close()


@pytest.fixture
def server():
    started = ServerProcess()
    try:
        yield started
    finally:
        started.stop()


def post(conn, target, body=b"{}"):
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    if target is not None:
        headers["X-Amz-Target"] = target
    conn.request("POST", "/", body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    assert response.getheader("x-amz-crc32") == str(zlib.crc32(data))
    assert re.fullmatch(r"[0-9A-Z]{52}", response.getheader("x-amzn-RequestId"))
    return response.status, json.loads(data)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_answers_then_stops_cleanly_on_signal(server, signum):
    """`kvstore serve` logs one ready line, serves DynamoDB requests, and exits 0 on a signal."""
    lines = server.read_lines_until(READY)
    assert len(lines) == 1, lines
    version, port = READY.search(lines[0]).groups()
    assert version == kvstore.__version__

    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=WAIT)
    try:
        conn.request("GET", "/")
        health = conn.getresponse()
        assert (health.status, health.read()) == (200, b"healthy: dynamodb.us-east-1.amazonaws.com ")

        assert post(conn, "DynamoDB_20120810.ListTables") == (200, {"TableNames": []})
        assert post(conn, "DynamoDB_20120810.NoSuchOperation") == (
            400, {"__type": "com.amazon.coral.service#UnknownOperationException"})
        assert post(conn, None) == (
            400, {"__type": "com.amazon.coral.service#UnknownOperationException"})

        # The keep-alive connection is still open and idle: shutdown must not wait on it.
        server.proc.send_signal(signum)
        assert server.proc.wait(timeout=WAIT) == 0
    finally:
        conn.close()
    rest = server.rest_of_stderr()
    assert rest == [f"kvstore stopped ({signal.Signals(signum).name})"]


def test_version_prints_the_version(capsys):
    """`kvstore --version` prints the package version and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"kvstore {kvstore.__version__}"


def test_python_m_server_is_the_kvstore_command():
    """`python -m server` runs the same command as the `kvstore` script."""
    result = subprocess.run([sys.executable, "-m", "server", "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=WAIT)
    assert result.returncode == 0
    assert result.stdout.strip() == f"kvstore {kvstore.__version__}"


@pytest.mark.parametrize("argv", [["serve", "--port", "70000"], ["serve", "--port", "x"],
                                  ["serve", "--idle-timeout", "-1"], ["bogus"]])
def test_bad_arguments_exit_2(argv, capsys):
    """Invalid command lines are refused with usage and exit code 2."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "usage: kvstore" in capsys.readouterr().err


def test_no_command_prints_help_and_returns_2(capsys):
    """`kvstore` alone shows the help on stderr and exits 2."""
    assert main([]) == 2
    assert "serve" in capsys.readouterr().err
