"""The data directory: its layout and its lock.

::

    DATA_DIR/
      LOCK                 held (flock) by the one server using the directory
      shard-<k>/           one per shard: shard 0 for a single process, shard
                           k for worker k of ``--workers N`` (k = 0..N-1)
        wal-<n>.log        log segments, replayed in order of n
        snapshot-<n>.kvs   a snapshot covering every segment below n
      damaged/             torn tails and corrupt remainders, kept aside by
                           recovery (never silently dropped), with the time
      reshard.tmp/         a re-sharding being written (dropped at start)
      reshard.new/         a re-sharding committed, not yet switched in
                           (finished at start)

The layout is the set of ``shard-*`` directories: shards 0..N-1 for a
server of N shards.  Each shard directory holds the log and snapshots of
the items its shard owns on the ring ``Ring(range(N))``, and the *whole*
table metadata (every shard logs every table change).  Restarting with
another N re-shards the directory before any shard starts
(:func:`kvstore.recovery.reshard`, crash-safe: see there).

The lock is an advisory ``flock`` on ``LOCK``: the kernel releases it when
the last descriptor of it is closed, even by SIGKILL, so a crash never
leaves a stale lock; a second server on the same directory is refused with
a message naming the process that holds it.  With ``--workers`` the
supervisor takes it for the whole run and its workers inherit the
descriptor (``DataDir(path, lock=False)`` in the worker): the lock is
held until the supervisor *and* every worker are gone, so a killed
supervisor's workers, still draining, never share the directory with a new
server; they stop by themselves within a second (``server/worker.py``).
"""

import datetime
import fcntl
import os
import re

__all__ = ["DataDir", "DurabilityError", "DataDirLocked", "CorruptData", "shard_dirs",
           "RESHARD_TMP", "RESHARD_NEW", "fsync_dir"]

_SEGMENT = re.compile(r"^wal-(\d{20})\.log$")
_SNAPSHOT = re.compile(r"^snapshot-(\d{20})\.kvs$")
_SHARD = re.compile(r"^shard-(\d+)$")

RESHARD_TMP = "reshard.tmp"
RESHARD_NEW = "reshard.new"


class DurabilityError(Exception):
    """The data directory cannot be used; the message says why and what to do."""


class DataDirLocked(DurabilityError):
    pass


class CorruptData(DurabilityError):
    pass


def shard_dirs(path):
    """{shard number: directory} of the shards present under ``path``."""
    found = {}
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return found
    for name in names:
        m = _SHARD.match(name)
        if m and os.path.isdir(os.path.join(path, name)):
            found[int(m.group(1))] = os.path.join(path, name)
    return found


def fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DataDir:
    """An open, locked data directory.  ``lock=False``: the caller's parent
    holds the lock (a worker of ``--workers N``, see above)."""

    def __init__(self, path, lock=True):
        self.path = os.path.abspath(path)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise DurabilityError(f"cannot create the data directory {self.path}: {exc.strerror}") from None
        if not os.path.isdir(self.path):
            raise DurabilityError(f"the data directory {self.path} is not a directory")
        self._lock_fd = None
        if lock:
            self._lock()

    @property
    def lock_fd(self):
        """The descriptor holding the lock (for a child process to inherit)."""
        return self._lock_fd

    def _lock(self):
        lock_path = os.path.join(self.path, "LOCK")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DurabilityError(f"cannot open {lock_path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise DataDirLocked(
                f"the data directory {self.path} is in use by another kvstore process (pid {holder}); "
                "stop that process or choose another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def close(self):
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # releases the flock

    # -- layout

    def shard_dir(self, shard):
        path = os.path.join(self.path, f"shard-{shard}")
        os.makedirs(path, exist_ok=True)
        return path

    def shard_dirs(self):
        return shard_dirs(self.path)

    @property
    def damaged_dir(self):
        path = os.path.join(self.path, "damaged")
        os.makedirs(path, exist_ok=True)
        return path

    def keep_aside(self, source, offset, kind):
        """Copy ``source``'s bytes from ``offset`` into ``damaged/``; the path."""
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        shard = os.path.basename(os.path.dirname(source))
        target = os.path.join(self.damaged_dir, f"{shard}.{os.path.basename(source)}.{offset}.{stamp}.{kind}")
        with open(source, "rb") as src, open(target, "wb") as dst:
            src.seek(offset)
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        return target


def segments(directory):
    """[(number, path)] of the log segments in ``directory``, in order."""
    return _numbered(directory, _SEGMENT)


def snapshots(directory):
    """[(number, path)] of the complete snapshots in ``directory``, in order."""
    return _numbered(directory, _SNAPSHOT)


def _numbered(directory, pattern):
    found = []
    for name in os.listdir(directory):
        m = pattern.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(directory, name)))
    found.sort()
    return found
