"""Group commit: one write + one fsync per event-loop turn covers every write of it.

The engine appends a write's log record to the log's in-memory buffer as it
applies the write (``kvstore/wal.py``).  The answer to that request must
not leave before the record is durable, so ``HttpProtocol`` asks, after
each request, whether the log grew (``wal.seq`` moved); if it did, the
encoded answer is handed to :meth:`GroupCommit.hold` instead of the socket.
Once per turn -- the first hold schedules :meth:`_turn_end` with
``call_soon``, which runs after every ``data_received`` of this turn --
the buffer is written with one ``os.write`` and:

* ``--fsync always``: one ``fsync`` in a worker thread; the loop goes on
  parsing and applying the next requests meanwhile (their answers wait for
  the next fsync, which starts as soon as this one ends: at most one in
  flight, each covering everything written before it started); when it
  completes, the answers it covers are released;
* ``--fsync batch`` / ``never``: the answers are released at once (a
  process crash loses nothing acknowledged: the record is in the OS); with
  ``batch`` a timer fsyncs at least every 100 ms.

Answers stay in order per connection: once a connection has a held answer,
every later answer on it (a read too) queues behind it, tagged with the
generation (fsync round) it needs.  Reads on other connections never wait.

With ``--workers`` (``server/cluster.py``) an answer may come from another
worker, or a write may happen after the request's handler returned (a
forwarded call, a transaction's commit): there the answer is a future, and
:meth:`GroupCommit.barrier` gives a future that resolves once every record
appended so far is durable under the policy -- the same rounds: one write
and (``always``) one fsync per turn cover every barrier of that turn.

A failed fsync leaves the file's state unknown (the kernel may have dropped
the dirty pages): the server logs it and exits rather than acknowledge
writes it cannot vouch for.
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from kvstore.wal import BATCH_INTERVAL

__all__ = ["GroupCommit"]

log = logging.getLogger("server")


class GroupCommit:
    """Holds answers until the log records they depend on are durable."""

    def __init__(self, durable, loop):
        self.durable = durable
        self.wal = durable.wal
        self.loop = loop
        self.always = self.wal.fsync == "always"
        self.gen = 1            # the generation collecting writes now
        self.waiting = []       # connections with answers that need self.gen
        self.scheduled = False
        self.inflight = False   # an fsync is running in the thread
        self.barriers = []      # (seq, future): resolved once the log is durable up to seq
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="kvstore-fsync")
        self.timer = loop.call_later(BATCH_INTERVAL, self._tick)
        self.closed = False

    # -- called by HttpProtocol

    def hold(self, conn, data, wait, close):
        """Queue ``data`` (an encoded answer) on ``conn``; ``wait``: it
        answers a write of this turn; ``close``: close after writing it."""
        held = conn.held
        if wait:
            gen = self.gen
            if not held or held[-1][0] != gen:
                self.waiting.append(conn)
            if not self.scheduled and not self.inflight:
                self.scheduled = True
                self.loop.call_soon(self._turn_end)
        else:
            gen = held[-1][0]
        if held is None:
            conn.held = held = []
        held.append((gen, data, close))

    def barrier(self):
        """A future resolved (None) once every record appended so far is
        durable as the policy says."""
        wal = self.wal
        fut = self.loop.create_future()
        seq = wal.seq
        if wal.synced >= seq:
            fut.set_result(None)
            return fut
        self.barriers.append((seq, fut))
        if not self.scheduled and not self.inflight:
            self.scheduled = True
            self.loop.call_soon(self._turn_end)
        return fut

    def _release_barriers(self, covered):
        barriers = self.barriers
        if not barriers:
            return
        kept = []
        for seq, fut in barriers:
            if seq <= covered:
                if not fut.done():
                    fut.set_result(None)
            else:
                kept.append((seq, fut))
        self.barriers = kept

    # -- the turn's end

    def _turn_end(self):
        self.scheduled = False
        if self.closed:
            return
        wal = self.wal
        try:
            wal.flush()
        except OSError as exc:
            self._fatal("write", exc)
            return
        gen, batch = self.gen, self.waiting
        self.gen += 1
        self.waiting = []
        if self.always and wal.synced != wal.flushed:
            self.inflight = True
            future = self.loop.run_in_executor(self.executor, wal.sync)
            future.add_done_callback(lambda f: self._synced(f, gen, batch))
        else:
            if not self.always and wal.fsync == "never":
                wal.synced = wal.flushed
            self._release(gen, batch)
            self._release_barriers(wal.flushed if not self.always else wal.synced)
        self._maybe_snapshot()

    def _synced(self, future, gen, batch):
        self.inflight = False
        exc = future.exception()
        if exc is not None:
            self._fatal("fsync", exc)
            return
        self._release(gen, batch)
        self._release_barriers(future.result())
        if (self.waiting or self.barriers) and not self.scheduled:
            # Writes came in while the fsync ran: their round starts now.
            self.scheduled = True
            self.loop.call_soon(self._turn_end)

    def _release(self, gen, batch):
        for conn in batch:
            held = conn.held
            if not held:
                continue
            n = 0
            for entry_gen, data, close in held:
                if entry_gen > gen:
                    break
                n += 1
                if not conn.transport.is_closing():
                    conn.transport.write(data)
                    if close:
                        conn.transport.close()
            del held[:n]
            if not held:
                conn.held = None
                if conn.draining and not conn.in_request and not conn.closing:
                    conn.closing = True  # the server is stopping: this one is idle now
                    conn.transport.close()

    def _maybe_snapshot(self):
        try:
            self.durable.maybe_snapshot()
        except OSError as exc:
            log.error("kvstore: cannot start a snapshot: %s", exc)

    # -- the timer: writes made outside requests (TTL), and --fsync batch

    def _tick(self):
        if self.closed:
            return
        self.timer = self.loop.call_later(BATCH_INTERVAL, self._tick)
        wal = self.wal
        if wal.seq != wal.flushed and not self.scheduled and not self.inflight:
            self.scheduled = True
            self.loop.call_soon(self._turn_end)
        elif wal.fsync == "batch" and wal.synced != wal.flushed and not self.inflight:
            self.inflight = True
            future = self.loop.run_in_executor(self.executor, wal.sync)
            future.add_done_callback(lambda f: self._synced(f, 0, ()))

    def _fatal(self, what, exc):
        log.critical("kvstore: %s of the write-ahead log %s failed: %s; stopping, since writes can no "
                     "longer be acknowledged safely", what, self.wal.path, exc)
        logging.shutdown()
        os._exit(70)

    def close(self):
        """Stop the timer and the thread (the caller closes the log)."""
        self.closed = True
        self.timer.cancel()
        self.executor.shutdown(wait=True)
