"""Microbenchmarks of kvstore's core, run with pytest-benchmark:

    pip install -e '.[bench]'            # pytest-benchmark
    python -m pytest bench               # all of them
    python -m pytest bench -k codec --benchmark-columns=min,median,ops

They live here, not under tests/: the root ``pytest`` (testpaths = tests, as
CI runs it) never collects them, so no timing ever decides a CI result.
Each is also a correctness check of what it times (the asserts are cheap and
outside the timed call).
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

collect_ignore = ["run.py", "ceiling.py", "hotpath.py"]
