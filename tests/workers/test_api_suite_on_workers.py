"""The black-box suites again, against ``kvstore serve --workers 3``.

A multi-worker server must behave as one endpoint: every API and client test
that talks to a server over HTTP runs once more, in a child pytest with
``KVSTORE_TEST_WORKERS=3`` (tests/conftest.py then starts every server with
``--workers 3``), so plain ``pytest`` -- the README's test command, and CI's --
covers both shapes of the server.

Left out: the embedded half of each test (no server involved) and
tests/api/test_throttling.py, because ``--enforce-throughput`` keeps one token
bucket per worker (a table gets its rate on each worker; see README).
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_api_and_client_suites_pass_against_three_workers():
    if os.environ.get("KVSTORE_TEST_WORKERS"):
        pytest.skip("this run is already against --workers (no recursion)")
    env = dict(os.environ, KVSTORE_TEST_WORKERS="3")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/api", "tests/compat", "-q", "-o", "addopts=-p no:cacheprovider",
         "-k", "not embedded", "--ignore=tests/api/test_throttling.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
    assert proc.returncode == 0, f"the suite failed against --workers 3:\n{tail}"
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) > 300, tail  # the suites ran, not an empty selection
