"""What the multi-worker tests share: which worker owns a key, and the
worker processes of a running ``kvstore serve --workers N``.

Importable as ``worker_procs`` from every test directory: pytest puts
``tests/`` on sys.path when it loads tests/conftest.py (no ``__init__.py``).
"""

import os
import re
import subprocess
import time

from kvstore._core import Ring, encode_key_value, hash64
from kvstore.database import VNODES


def owner(count, key):
    """The worker (of ``count``) that owns the string hash key ``key``."""
    return Ring(range(count), VNODES).owner(hash64(encode_key_value({"S": key})))


def keys_on(count, worker, n, prefix="k"):
    """The first ``n`` keys ``<prefix><i>`` that ``worker`` of ``count`` owns."""
    ring = Ring(range(count), VNODES)
    out, i = [], 0
    while len(out) < n:
        key = f"{prefix}{i}"
        if ring.owner(hash64(encode_key_value({"S": key}))) == worker:
            out.append(key)
        i += 1
    return out


def gsi_table_spec(name):
    """CreateTable's arguments for table ``name``: keyed by ``id``, with a GSI
    ``by_g`` on ``g`` (all attributes)."""
    return dict(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
    )


def worker_pids(supervisor_pid):
    """``{index: pid}`` of the supervisor's live worker processes."""
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(supervisor_pid)],
                         capture_output=True, text=True).stdout
    pids = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s.*server\.worker --index (\d+)", line)
        if m:
            pids[int(m.group(2))] = int(m.group(1))
    return pids


def alive(pid):
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(predicate, timeout):
    """Poll ``predicate`` until it is true or ``timeout`` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
