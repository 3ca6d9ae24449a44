"""The supervisor of ``kvstore serve --workers N``: N worker processes, kept alive.

The supervisor holds no data and answers no request.  It

* reserves the port: it binds (host, port) with SO_REUSEPORT but never
  listens, so ``--port 0`` gets one real port that every worker then binds
  and listens on (SO_REUSEPORT: the kernel spreads connections over the
  listening workers), and the port stays ours while a worker restarts;
* starts each worker as ``python -m server.worker ...`` (a fresh
  interpreter: no event loop or engine state is inherited through fork) with
  its stdout on a pipe: the worker writes one ``ready`` line when it is
  serving, and the pipe's end of file is how its death is noticed at once;
* restarts a worker that died, at once (a worker that keeps dying right
  after its start is restarted after a short, growing pause, at most one
  second);
* forwards SIGINT/SIGTERM to every worker and waits for them to drain; a
  second signal, or a worker still alive after the grace, gets SIGKILL.
  Workers run in process groups of their own (a terminal's Ctrl-C reaches
  them once, through the supervisor) and stop by themselves if the
  supervisor dies (``server/worker.py`` watches its parent).

With ``--data-dir`` it also owns the data directory for the whole run: it
takes the directory's lock before anything else (a second server on the
directory is refused with the message naming the holder) and re-shards the
directory offline when it was written by another number of shards
(``kvstore.recovery.reshard``, crash-safe), then starts the workers, each
recovering its own ``shard-<index>``.  The workers inherit the lock's
descriptor (``pass_fds``): the lock stays held while any of them lives, so
the workers of a SIGKILLed supervisor -- which stop by themselves at once
(SIGTERM on their parent's death) -- never share the directory with a new
server.  A worker that cannot use the data directory at start (exit code
``EXIT_DATA_DIR``, its reason on stderr) stops the whole server, exit code 1.

It logs ``kvstore <version> listening on http://host:port`` once every
worker is ready, and ``kvstore stopped (SIGTERM)`` at the end: the same lines
as the single-process server, so scripts and tests read them the same way.
"""

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

__all__ = ["Supervisor", "reserve_port", "serve_workers", "worker_argv"]

log = logging.getLogger("server")

STOP_GRACE = 5.0
READY_TIMEOUT = 60.0
MAX_BACKOFF = 1.0
QUICK_DEATH = 2.0  # a worker dying sooner than this after its start backs off
EXIT_DATA_DIR = 78  # server/worker.py: the data directory cannot be used


def reserve_port(host, port):
    """A bound, non-listening SO_REUSEPORT socket on (host, port); its real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock, sock.getsockname()[1]


class _Worker:
    __slots__ = ("index", "proc", "started", "ready", "line", "deaths", "restart_at")

    def __init__(self, index):
        self.index = index
        self.proc = None
        self.started = 0.0
        self.ready = False
        self.line = b""
        self.deaths = 0
        self.restart_at = None


class Supervisor:
    """Run ``count`` workers, each started as ``command(index)`` (an argv list)."""

    def __init__(self, count, command, *, env=None, grace=STOP_GRACE, pass_fds=()):
        self.count = count
        self.pass_fds = tuple(pass_fds)   # descriptors every worker inherits (the data dir's lock)
        self.failed = False               # a worker could not start at all: stopping
        self.command = command
        self.env = env
        self.grace = grace
        self.workers = [_Worker(i) for i in range(count)]
        self.selector = selectors.DefaultSelector()
        self.stopping = None        # the signal that asked us to stop
        self.restarts = 0
        self._stopped = False
        self._all_started = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)

    # -- processes -------------------------------------------------------------

    def _spawn(self, worker):
        # Its own process group: a Ctrl-C in the terminal reaches the
        # supervisor only, which forwards it once (a worker's second signal
        # would mean "stop without draining").
        worker.proc = subprocess.Popen(
            self.command(worker.index), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=self.env, close_fds=True, process_group=0, pass_fds=self.pass_fds,
        )
        worker.started = time.monotonic()
        worker.ready = False
        worker.line = b""
        worker.restart_at = None
        fd = worker.proc.stdout.fileno()
        os.set_blocking(fd, False)
        self.selector.register(fd, selectors.EVENT_READ, worker)

    def _on_output(self, worker):
        fd = worker.proc.stdout.fileno()
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if data:
            worker.line += data
            if not worker.ready and b"ready" in worker.line:
                worker.ready = True
            worker.line = worker.line[-64:]
            return
        # End of file: the worker is gone (or going).
        self.selector.unregister(fd)
        worker.proc.stdout.close()
        try:
            code = worker.proc.wait(1.0)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            code = worker.proc.wait()
        worker.ready = False
        if self.stopping is None and code == EXIT_DATA_DIR and not self._all_started:
            log.error("worker %d cannot use the data directory; stopping", worker.index)
            self.failed = True
            self.request_stop(signal.SIGTERM)
            return
        if self.stopping is None:
            quick = time.monotonic() - worker.started < QUICK_DEATH
            worker.deaths = worker.deaths + 1 if quick else 0
            delay = min(MAX_BACKOFF, 0.1 * (2 ** (worker.deaths - 1))) if worker.deaths else 0.0
            log.warning("worker %d (pid %d) exited with %s; restarting%s", worker.index,
                        worker.proc.pid, code, f" in {delay:.1f}s" if delay else "")
            worker.restart_at = time.monotonic() + delay

    def _step(self, timeout):
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None and worker.restart_at <= now and self.stopping is None:
                self.restarts += 1
                self._spawn(worker)
        waits = [w.restart_at - now for w in self.workers if w.restart_at is not None]
        if waits:
            timeout = max(0.0, min([timeout] + waits))
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                try:
                    while os.read(self._wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            else:
                self._on_output(key.data)

    # -- public ------------------------------------------------------------------

    def start(self, timeout=READY_TIMEOUT):
        """Start every worker; True once all are ready (False: one never was)."""
        for worker in self.workers:
            self._spawn(worker)
        deadline = time.monotonic() + timeout
        while not all(w.ready for w in self.workers):
            if self.stopping is not None or time.monotonic() > deadline:
                return False
            self._step(0.05)
        self._all_started = True
        return True

    def wake(self):
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def request_stop(self, signum=signal.SIGTERM):
        """Ask for a stop (from a signal handler: only sets state and wakes the loop)."""
        if self.stopping is None:
            self.stopping = signum
            self._signal_all(signum)
        else:
            self._signal_all(signal.SIGKILL)
        self.wake()

    def _signal_all(self, signum):
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is None:
                try:
                    worker.proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def run(self):
        """Keep the workers alive until :meth:`request_stop`; then stop them."""
        while self.stopping is None:
            self._step(0.5)
        self.stop()

    def stop(self):
        """Forward the stop to every worker, wait ``grace``, then kill (once)."""
        if self._stopped:
            return
        self._stopped = True
        if self.stopping is None:
            self.stopping = signal.SIGTERM
            self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for worker in self.workers:
            if worker.proc is None:
                continue
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
            if worker.proc.stdout is not None and not worker.proc.stdout.closed:
                try:
                    self.selector.unregister(worker.proc.stdout.fileno())
                except (KeyError, ValueError):
                    pass
                worker.proc.stdout.close()
        self.selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def pids(self):
        return [w.proc.pid if w.proc is not None else None for w in self.workers]


def worker_argv(argv):
    """The ``kvstore serve`` options a worker gets: ``argv`` (the command's
    own, after ``serve``) without ``--workers`` and ``--port``, which the
    supervisor decides."""
    out = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--workers", "--port"):
            skip = True
            continue
        if arg.startswith(("--workers=", "--port=")) or arg == "serve":
            continue
        out.append(arg)
    return out


def open_data_dir(path, workers, recover_corrupt=False):
    """Lock ``path`` and make it a layout of ``workers`` shards: the open
    ``DataDir`` (its ``lock_fd`` for the workers to inherit).  Raises
    ``kvstore.datadir.DurabilityError`` with the user's message."""
    from kvstore.datadir import DataDir
    from kvstore.recovery import reshard

    datadir = DataDir(path)
    try:
        done = reshard(datadir, workers, recover_corrupt)
    except BaseException:
        datadir.close()
        raise
    if done:
        log.info("kvstore: %s", done)
    return datadir


def serve_workers(host, port, workers, serve_argv=(), *, ready_callback=None, stopped_callback=None):
    """``kvstore serve --workers N``: run N workers until SIGINT/SIGTERM.

    ``serve_argv`` are the ``kvstore serve`` options each worker parses
    (``server.cli``'s parser) for everything but the port; with
    ``--data-dir`` the supervisor locks and prepares the directory first
    (:func:`open_data_dir`).  ``ready_callback(port)`` once every worker
    serves; ``stopped_callback(signal name)`` at the end.  Returns the exit
    code (0; 1 if the workers never became ready or the data directory
    cannot be used)."""
    from kvstore.datadir import DurabilityError

    from .cli import build_parser

    serve = build_parser().parse_args(["serve", *serve_argv])
    datadir = None
    if serve.data_dir is not None:
        try:
            datadir = open_data_dir(serve.data_dir, workers, serve.recover_corrupt)
        except DurabilityError as exc:
            log.error("kvstore: %s", exc)
            return 1
    try:
        return _serve_workers(host, port, workers, serve_argv, datadir, ready_callback, stopped_callback)
    finally:
        if datadir is not None:
            datadir.close()


def _serve_workers(host, port, workers, serve_argv, datadir, ready_callback, stopped_callback):
    import shutil
    import tempfile

    reserved, port = reserve_port(host, port)
    directory = tempfile.mkdtemp(prefix="kvstore-")

    def command(index):
        return [
            sys.executable, "-m", "server.worker", "--index", str(index), "--count", str(workers),
            "--port", str(port), "--sockets", directory, "--", "serve", *serve_argv,
        ]

    supervisor = Supervisor(workers, command, pass_fds=(datadir.lock_fd,) if datadir is not None else ())
    previous = {}

    def on_signal(signum, _frame):
        supervisor.request_stop(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, on_signal)
    code = 0
    try:
        if supervisor.start():
            if ready_callback is not None:
                ready_callback(port)
            supervisor.run()
        elif supervisor.stopping is None or supervisor.failed:
            log.error("kvstore: the workers did not start")
            code = 1
        supervisor.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reserved.close()
        shutil.rmtree(directory, ignore_errors=True)
    if stopped_callback is not None and code == 0:
        stopped_callback(signal.Signals(supervisor.stopping).name)
    return code


def main(argv=None):
    """``python -m server.supervisor --workers N [--host H] [--port P]`` (what
    ``kvstore serve --workers N`` runs)."""
    import argparse

    import kvstore

    parser = argparse.ArgumentParser(prog="kvstore-supervisor")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args, rest = parser.parse_known_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), format="%(message)s")
    host = f"[{args.host}]" if ":" in args.host else args.host

    def ready(port):
        log.info("kvstore %s listening on http://%s:%d", kvstore.__version__, host, port)
        sys.stderr.flush()

    def stopped(name):
        log.info("kvstore stopped (%s)", name)
        sys.stderr.flush()

    serve_argv = ["--host", args.host, "--log-level", args.log_level, *rest]
    return serve_workers(args.host, args.port, args.workers, serve_argv,
                         ready_callback=ready, stopped_callback=stopped)


if __name__ == "__main__":
    sys.exit(main())
