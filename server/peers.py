"""Links between the worker processes of one server: frames over Unix sockets.

Every worker listens on its own Unix socket (``<dir>/w<id>.sock``) and opens
at most one connection to each other worker, on first use.  A connection
carries *calls* one way and their *replies* back, so a pair of workers uses
two connections, one per direction.

Frames: a 4-byte big-endian length, then one of two kinds.

* General frames follow msgspec's asyncio-kv example: a msgpack-encoded
  tagged-union Struct (:class:`Call` or :class:`Reply`, array-like, so a
  frame is a short array: its first byte is 0x94).  Bodies are any msgpack
  value.
* Forwarded HTTP requests (:meth:`PeerNode.forward`), the bulk of the
  traffic, travel without msgpack or a future: a *forward* frame is
  ``1 (1 byte), id (4), len(op) (1), op (ASCII), raw JSON body`` and its
  *answer* ``2 (1), id (4), status (2), raw answer bytes`` (big-endian), so
  the owner decodes the body once and nobody re-encodes the answer.  (An
  op may also be one of server/cluster.py's own, whose body and statuses
  it defines: its ``kvstore.StoreWrites`` parts.)
  Status 0 means the owner's handler failed (the bytes describe how).  The
  caller passes a plain callable, ``done(status, payload)``, called as soon
  as the answer is read (in that turn), or with ``(0, exception)`` on
  failure.  Both are read and written in C (server/_peer.pyx), and so is
  the rest of a forward's path: ``PeerNode.forward`` and the per-frame part
  of a link (reading, answering, flushing; ``_peer.LinkBase``).

Batching: frames to one peer are appended to that link's buffer and written
by one ``transport.write`` at the end of the event-loop turn
(``loop.call_soon``), so a busy turn costs one syscall per peer, not one per
request.  On the receiving side every complete frame of a read is handled
before the next read, and replies are batched the same way.

Correlation and failure: each call (and forward) has an id (a counter per
node) and a deadline.  A reply resolves its future (an answer calls its
``done``); a sweeper fails calls past their deadline with
:class:`PeerTimeout`.  Forwards all have the node's timeout and carry no
deadline of their own: each sweep marks how many forwards were sent by
then, and a forward sent before the last mark at least the timeout old
has expired (so within one sweep interval of its deadline); each link's
are in send order, and the sweeper stops at the first one still in
time.  A lost connection fails every call and forward waiting on it with
:class:`PeerUnavailable`, and the next call to that peer
reconnects (so a restarted worker is found again).  A call to a worker that
cannot be reached fails at once with :class:`PeerUnavailable`.  Nothing is
retried here: the caller decides (the HTTP front answers a retryable 503).

A call's handler (``handlers[kind](body)``) runs on the receiving worker's
loop.  It returns the reply body, or an awaitable of it; an exception
becomes an error reply, raised at the caller as :class:`PeerError`.  A
forward's handler (``on_forward(op, body)``) returns ``(status, bytes)``,
answered in the same turn, or an awaitable of it.
"""

import asyncio
import collections
import errno
import inspect
import logging
import os
import struct

import msgspec

from . import _peer
from ._peer import MAX_FRAME, MAX_ID, LinkBase

__all__ = [
    "Call", "Reply", "PeerNode", "PeerError", "PeerUnavailable", "PeerTimeout",
    "socket_path", "DEFAULT_TIMEOUT",
]

log = logging.getLogger("server.peers")

DEFAULT_TIMEOUT = 10.0
SWEEP_INTERVAL = 0.1
_HEADER = struct.Struct(">I")


class Call(msgspec.Struct, tag=1, array_like=True):
    id: int
    kind: str
    body: object


class Reply(msgspec.Struct, tag=2, array_like=True):
    id: int
    ok: bool
    body: object


Frame = Call | Reply


class PeerError(Exception):
    """The peer's handler raised; ``args[0]`` is its description."""


class PeerUnavailable(PeerError):
    """The peer cannot be reached, or its connection broke before the reply."""


class PeerTimeout(PeerUnavailable):
    """No reply before the call's deadline."""


def socket_path(directory, worker):
    return os.path.join(directory, f"w{worker}.sock")


# Reply bodies that are surely not awaitable (inspect.isawaitable is slow).
_PLAIN = frozenset((tuple, list, dict, bool, int, str, bytes, type(None)))

_encoder = msgspec.msgpack.Encoder()
_decode = msgspec.msgpack.Decoder(Frame).decode


class _Link(LinkBase, asyncio.Protocol):
    """One Unix-socket connection, either direction: frames in, frames out.

    ``_Link(node, peer=None)``: ``peer`` is the worker we called (outgoing
    links only).  Its state (node, peer, transport, buffer, flush_scheduled,
    pending, forwards, inbox, closed) and its per-frame methods
    (``data_received``, ``send_answer``, ``_schedule_flush``, ``flush``) are
    in C: ``_peer.LinkBase``; the rarer rest is here."""

    # What a status-0 answer reaches its ``done`` as (``data_received``).
    answer_error = PeerError

    # -- out -----------------------------------------------------------------

    def send(self, frame):
        buf = self.buffer
        start = len(buf)
        buf.extend(b"\0\0\0\0")
        try:
            _encoder.encode_into(frame, buf, start + 4)
        except BaseException:
            del buf[start:]  # nothing of a frame that cannot be encoded
            raise
        _HEADER.pack_into(buf, start, len(buf) - start - 4)
        self._schedule_flush()

    # -- in ------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        if self.peer is None:
            self.node._incoming.add(self)
        if self.buffer:
            self._schedule_flush()

    def _malformed(self):
        """``data_received`` met a frame it cannot read: nothing after it can be."""
        log.error("malformed peer frame (or one over %d bytes): closing the link", MAX_FRAME)
        self.transport.abort()

    def on_frame(self, frame):
        """A msgpack frame (a call or a reply to one of ours), from data_received."""
        frame = _decode(frame)
        if type(frame) is Call:
            self.node._on_call(self, frame)
            return
        entry = self.pending.pop(frame.id, None)
        if entry is not None:
            fut = entry[0]
            if not fut.done():
                if frame.ok:
                    fut.set_result(frame.body)
                else:
                    fut.set_exception(PeerError(frame.body))

    def connection_lost(self, exc):
        self.closed = True
        self.node._link_lost(self)
        self.fail(PeerUnavailable(f"worker {self.peer}: connection lost"))

    def fail(self, error):
        """Every call and forward waiting on this link fails with ``error``."""
        for fut, _deadline in self.pending.values():
            if not fut.done():
                fut.set_exception(error)
        self.pending.clear()
        forwards = list(self.forwards.values())
        self.forwards.clear()
        for done in forwards:
            done(0, error)


class PeerNode:
    """This worker's end of the peer links: a listener and outgoing links.

    ``handlers`` maps a call kind to ``handler(body) -> reply body | awaitable``;
    ``on_forward(op, body) -> (status, bytes) | awaitable`` answers forwards.
    """

    def __init__(self, worker, directory, handlers, *, on_forward=None, loop=None, timeout=DEFAULT_TIMEOUT):
        self.worker = worker
        self.directory = directory
        self.handlers = handlers
        self.on_forward = on_forward
        self.loop = loop or asyncio.get_event_loop()
        self.timeout = timeout
        self.path = socket_path(directory, worker)
        self._links = {}          # peer -> _Link (outgoing, connected or connecting)
        self._connecting = {}     # peer -> task
        self._incoming = set()
        self._next_id = 0
        self._forwarded = 0       # forwards sent so far (a forward's id: this, 4 bytes)
        self._marks = collections.deque()  # (time, forwards sent by then), a mark per sweep
        self._server = None
        self._sweeper = None

    # -- lifetime --------------------------------------------------------------

    async def listen(self):
        """Open this worker's socket (replacing a stale one of an earlier run)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self._server = await self.loop.create_unix_server(lambda: _Link(self), self.path)
        self._start_sweeper()

    def _start_sweeper(self):
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    async def close(self):
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._server is not None:
            self._server.close()
            self._server = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        for task in self._connecting.values():
            task.cancel()
        for link in list(self._links.values()) + list(self._incoming):
            link.flush()
            if link.transport is not None:
                link.transport.close()
        await asyncio.sleep(0)

    # -- calls -------------------------------------------------------------------

    def call(self, peer, kind, body, timeout=None):
        """Send a call to ``peer``; a future of its reply body."""
        fut = self.loop.create_future()
        self._next_id += 1
        call_id = self._next_id
        link = self._links.get(peer)
        if link is None or link.closed:
            link = self._connect(peer)
        link.send(Call(call_id, kind, body))
        link.pending[call_id] = (fut, self.loop.time() + (timeout or self.timeout))
        if self._sweeper is None:
            self._start_sweeper()
        return fut

    def forward(self, peer, op, body, done):
        """Send a forwarded request (``op``, raw ``body``) to ``peer``;
        ``done(status, payload)`` gets its answer, or ``(0, exception)``:
        :class:`PeerUnavailable` (:class:`PeerTimeout` past the node's
        timeout) or :class:`PeerError` (the peer's handler failed).
        In C (``_peer.forward``), which the HTTP front calls directly."""
        _peer.forward(self, peer, op, body, done)

    def _connect(self, peer):
        link = _Link(self, peer)
        self._links[peer] = link
        self._connecting[peer] = self.loop.create_task(self._open(peer, link))
        return link

    async def _open(self, peer, link):
        try:
            await self.loop.create_unix_connection(lambda: link, socket_path(self.directory, peer))
        except (OSError, asyncio.CancelledError) as exc:
            link.closed = True
            if self._links.get(peer) is link:
                del self._links[peer]
            reason = errno.errorcode.get(getattr(exc, "errno", None) or 0, type(exc).__name__)
            link.fail(PeerUnavailable(f"worker {peer}: cannot connect ({reason})"))
        finally:
            if self._connecting.get(peer) is asyncio.current_task():
                del self._connecting[peer]

    def _link_lost(self, link):
        if link.peer is None:
            self._incoming.discard(link)
        elif self._links.get(link.peer) is link:
            del self._links[link.peer]

    def waiting(self):
        """How many calls and forwards wait for their reply."""
        return sum(len(link.pending) + len(link.forwards) for link in self._links.values())

    def _sweep(self):
        self._sweeper = None
        now = self.loop.time()
        expired = self._forwards_expired(now)
        waiting = False
        for link in list(self._links.values()):
            pending = link.pending
            if pending:
                late = [call_id for call_id, (_fut, deadline) in pending.items() if deadline <= now]
                for call_id in late:
                    fut = pending.pop(call_id)[0]
                    if not fut.done():
                        fut.set_exception(PeerTimeout(f"worker {link.peer}: no reply in time"))
            if expired:
                self._expire_forwards(link, expired)
            waiting = waiting or bool(pending) or bool(link.forwards)
        if waiting:
            self._start_sweeper()

    def _forwards_expired(self, now):
        """Mark this sweep; how many of the forwards sent so far have
        expired: those sent before the newest mark at least the timeout old."""
        marks = self._marks
        marks.append((now, self._forwarded))
        cutoff = now - self.timeout
        while len(marks) > 1 and marks[1][0] <= cutoff:
            marks.popleft()
        return marks[0][1] if marks[0][0] <= cutoff else 0

    def _expire_forwards(self, link, expired):
        """Fail the link's forwards among the first ``expired`` sent: the
        oldest first, up to the first one sent later."""
        forwards = link.forwards
        sent = self._forwarded
        while forwards:
            forward_id = next(iter(forwards))
            # Its number among all sent (ids are that number's low 4 bytes,
            # and far fewer than 2**32 forwards are ever outstanding).
            if sent - ((sent - forward_id) & MAX_ID) > expired:
                return
            done = forwards.pop(forward_id)
            done(0, PeerTimeout(f"worker {link.peer}: no answer in time"))

    # -- serving calls ---------------------------------------------------------------

    def _on_call(self, link, call):
        handler = self.handlers.get(call.kind)
        try:
            if handler is None:
                raise PeerError(f"unknown call kind {call.kind!r}")
            result = handler(call.body)
        except Exception as exc:
            if not isinstance(exc, PeerError):
                log.exception("peer call %r failed", call.kind)
            link.send(Reply(call.id, False, _describe(exc)))
            return
        if type(result) not in _PLAIN and inspect.isawaitable(result):
            fut = asyncio.ensure_future(result, loop=self.loop)
            fut.add_done_callback(lambda f, link=link, call_id=call.id: self._reply_later(link, call_id, f))
        else:
            _reply(link, call.id, result)

    # A forward frame is answered by data_received (server/_peer.pyx): it
    # calls on_forward and writes a (status, bytes) answer itself; the rest
    # is here.

    def _forward_failed(self, link, forward_id, op, exc):
        """``on_forward`` raised ``exc`` (called inside its except clause)."""
        log.exception("forwarded %s failed", op)
        _answer_error(link, forward_id, exc)

    def _forward_result(self, link, forward_id, result):
        """Any other answer of ``on_forward``: an awaitable, answered when it
        finishes, or a tuple data_received would not write (an error then)."""
        if type(result) is tuple:
            _answer(link, forward_id, result)
        else:
            fut = asyncio.ensure_future(result, loop=self.loop)
            fut.add_done_callback(lambda f, link=link, forward_id=forward_id: _answer_later(link, forward_id, f))

    def _reply_later(self, link, call_id, fut):
        if link.closed:
            return
        if fut.cancelled():
            link.send(Reply(call_id, False, "cancelled"))
            return
        exc = fut.exception()
        if exc is not None:
            if not isinstance(exc, PeerError):
                log.error("peer call failed: %r", exc)
            link.send(Reply(call_id, False, _describe(exc)))
        else:
            _reply(link, call_id, fut.result())


def _reply(link, call_id, result):
    try:
        link.send(Reply(call_id, True, result))
    except (TypeError, ValueError, OverflowError) as exc:
        log.error("peer reply cannot be encoded: %r", exc)
        link.send(Reply(call_id, False, _describe(exc)))


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"


def _answer_error(link, forward_id, exc):
    link.send_answer(forward_id, 0, _describe(exc).encode(errors="replace"))


def _answer(link, forward_id, result):
    status, payload = result
    try:
        link.send_answer(forward_id, status, payload)
    except (TypeError, ValueError, OverflowError) as exc:
        log.error("forwarded answer cannot be sent: %r", exc)
        _answer_error(link, forward_id, exc)


def _answer_later(link, forward_id, fut):
    if link.closed:
        return
    if fut.cancelled():
        link.send_answer(forward_id, 0, b"cancelled")
        return
    exc = fut.exception()
    if exc is not None:
        log.error("forwarded request failed: %r", exc)
        _answer_error(link, forward_id, exc)
    else:
        _answer(link, forward_id, fut.result())
