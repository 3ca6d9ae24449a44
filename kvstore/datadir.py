"""The data directory: its layout and its lock.

::

    DATA_DIR/
      LOCK                 held (flock) by the one process using the directory
      shard-<k>/           one per shard (one today; one per worker with --workers)
        wal-<n>.log        log segments, replayed in order of n
        snapshot-<n>.kvs   a snapshot covering every segment below n
      damaged/             torn tails and corrupt remainders, kept aside by
                           recovery (never silently dropped), with the time

Why per-shard directories whose contents route by key: a log record names
its table and carries the item's key, and a snapshot stores items, not
partitions, so recovery can place every item by its token on whatever ring
the restarted server has.  Restarting with another number of shards reads
every ``shard-*`` directory and routes each item to its new owner; the
first snapshot after that rewrites the layout for the new count (see
``kvstore/recovery.py``).

The lock is an advisory ``flock`` on ``LOCK``: the kernel releases it when
the process dies, even by SIGKILL, so a crash never leaves a stale lock;
a second server on the same directory is refused with a message naming
the process that holds it.
"""

import datetime
import fcntl
import os
import re

__all__ = ["DataDir", "DurabilityError", "DataDirLocked", "CorruptData", "shard_dirs"]

_SEGMENT = re.compile(r"^wal-(\d{20})\.log$")
_SNAPSHOT = re.compile(r"^snapshot-(\d{20})\.kvs$")
_SHARD = re.compile(r"^shard-(\d+)$")


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


class DataDir:
    """An open, locked data directory."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise DurabilityError(f"cannot create the data directory {self.path}: {exc.strerror}") from None
        if not os.path.isdir(self.path):
            raise DurabilityError(f"the data directory {self.path} is not a directory")
        self._lock_fd = None
        self._lock()

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
