"""The HTTP/1.1 front: one asyncio Protocol per connection, parsed by httptools.

DynamoDB speaks JSON over plain HTTP/1.1 POSTs, so this is a small server on
purpose: it parses requests with httptools, hands ``(X-Amz-Target, body)`` to
a synchronous *handler* and writes what it returns.  The handler (see
``server/app.py``) owns JSON and the engine; this file owns bytes on the wire.

Two readers share the work.  ``server/_http.pyx``'s ``FastPath`` reads the
common request in C (``POST``, HTTP/1.1, Content-Length, the usual
headers: see its module doc) and answers it with no Python frame per
header; the first request it cannot take, and everything after it on that
connection, goes to httptools, from that request's first byte, so what
httptools sees and answers is exactly what it would have seen alone.

The httptools side follows uvicorn's protocol, minus its per-request task:
the engine call is synchronous, so each request is answered right inside
``on_message_complete``.  That gives, for free:

* pipelining in order -- several requests in one ``data_received`` are
  answered one after another while the parser walks the buffer;
* split requests -- httptools keeps its state between ``feed_data`` calls, so
  a request may arrive one byte at a time;
* keep-alive unless the client says ``Connection: close`` or speaks HTTP/1.0
  without ``keep-alive``.

What else happens here, and why:

* ``Content-Encoding: gzip``/``deflate`` bodies are inflated with a bound, so
  a decompression bomb meets the same 16 MiB limit as a plain body.
* The size limit is checked on ``Content-Length`` before any body arrives,
  and again while a chunked body streams in; either way the 413 goes out at
  once, the rest of the body is read and dropped (up to a bound, so that the
  client, still sending, is not reset before it reads the 413), then the
  connection closes.
* ``GET``/``HEAD`` on any path is DynamoDB's health check.  Other methods get
  the 404 ``<UnknownOperationException/>`` DynamoDB's front end answers.
* Every answer carries ``x-amzn-RequestId`` (52 characters of ``[0-9A-Z]``),
  ``x-amz-crc32`` (botocore checks it against the body), ``Content-Type``,
  ``Content-Length`` and ``Date``, written by ``_http.encode_response``.
* Flow control: when the transport's write buffer passes its high-water
  mark, reading pauses until it drains.
* ``Expect: 100-continue`` gets its interim answer; ``Upgrade`` requests
  (h2c, websocket) are answered as plain HTTP/1.1 -- we never switch.
* An idle timer closes connections that stay silent for ``idle_timeout``
  seconds, idle or stuck half-way through a request.  It costs one clock
  read and one float store per ``data_received``: the timer re-arms itself
  for the remainder.

No logging on the hot path; only a handler crash is logged (with traceback).
"""

import asyncio
import logging
import os
import zlib

import httptools

from ._http import JSON, JSON_1_0, JSON_1_1, FastPath, encode_response, set_id_prefix
from ._http import new_request_id as new_request_id

__all__ = [
    "HttpProtocol",
    "MAX_BODY",
    "HEALTH_BODY",
    "INTERNAL_ERROR_BODY",
    "new_request_id",
]

log = logging.getLogger("server")

# DynamoDB refuses request bodies above 16 MiB.
MAX_BODY = 16 * 1024 * 1024

# What DynamoDB's endpoint answers to `GET /` (the trailing space is theirs).
HEALTH_BODY = b"healthy: dynamodb.us-east-1.amazonaws.com "

# DynamoDB's front end answers other methods, and a body of an unknown
# content type, with this XML snippet and a 404.
NOT_FOUND_BODY = b"<UnknownOperationException/>\n"

# The body of any 500: an exception of ours that is not a DynamoDB error.
INTERNAL_ERROR_BODY = (
    b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError",'
    b'"message":"Internal server error"}'
)

# A corrupt gzip/deflate body: the same answer as malformed JSON.
SERIALIZATION_BODY = b'{"__type":"com.amazon.coral.service#SerializationException"}'

# A body above MAX_BODY.  DynamoDB's own 413 text is not documented.
TOO_LARGE_BODY = (
    b'{"__type":"com.amazon.coral.service#RequestEntityTooLargeException",'
    b'"message":"Request Entity Too Large"}'
)

BAD_REQUEST_BODY = b"Bad Request"

_JSON_1_0 = JSON_1_0
_JSON_1_1 = JSON_1_1
_JSON = JSON
_TEXT = b"text/plain"
_XML = b"application/xml"

# Request Content-Type (lower-cased, parameters dropped) -> the one we echo.
_CONTENT_TYPES = {_JSON_1_0: _JSON_1_0, _JSON_1_1: _JSON_1_1, _JSON: _JSON}

_CLOSE = b"Connection: close\r\n"
_KEEP_ALIVE = b"Connection: keep-alive\r\n"

# After a 413, read and drop at most this many times the limit, then reset.
_DISCARD_LIMIT = 4

# Bodies at most this long are written in one piece with their headers
# (server/_http.pyx's SMALL_BODY is the same).
_SMALL_BODY = 64 * 1024


# ---------------------------------------------------------------------------
# Request ids and the Date header

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _new_id_prefix():
    # 40 random characters per process, then a 12-digit counter (both kept
    # in server/_http.pyx, which writes the ids): unique, DynamoDB-shaped
    # (52 of [0-9A-Z]) and no randomness per request.  ``new_request_id()``
    # gives a fresh one.
    set_id_prefix("".join(_ID_ALPHABET[b % 36] for b in os.urandom(40)).encode())


_new_id_prefix()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_prefix)


# ---------------------------------------------------------------------------
# Bodies


class _TooLarge(Exception):
    pass


class _Corrupt(Exception):
    pass


def _inflate(body, encoding, limit):
    """Decode a gzip/deflate body, never producing more than `limit` bytes."""
    if encoding in (b"gzip", b"x-gzip"):
        attempts = (31,)
    elif encoding == b"deflate":
        # RFC 9110 deflate is zlib-wrapped; some clients send it raw.
        attempts = (15, -15)
    else:
        return body
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise _TooLarge()
        if not inflater.eof or inflater.unused_data:
            raise _Corrupt()
        return out
    raise _Corrupt()


# ---------------------------------------------------------------------------
# The protocol


class HttpProtocol(asyncio.Protocol):
    """One client connection.

    ``handler(target, body) -> (status, payload)`` is called once per POST,
    in request order: ``target`` is the raw ``X-Amz-Target`` header value
    (bytes, or None when absent) and ``body`` the decoded request bytes.
    ``connections``, when given, is a set the protocol joins while connected
    (the server uses it to drain on shutdown).
    """

    __slots__ = (
        "handler", "loop", "idle_timeout", "max_body", "connections",
        "transport", "parser", "closing", "draining", "in_request",
        "writing_paused", "last_activity", "timer",
        "refusing", "target", "content_type", "encoding", "length", "upgrade", "expect",
        "parts", "size", "deferred", "raw_needed", "commit", "held", "fast",
    )

    def __init__(self, handler, *, loop=None, idle_timeout=60.0, max_body=MAX_BODY,
                 connections=None, commit=None):
        self.handler = handler
        # server/commit.py: group commit of the write-ahead log (None: memory only).
        # ``held``: this connection's answers waiting for it, in order.
        self.commit = commit
        self.held = None
        self.loop = loop if loop is not None else asyncio.get_event_loop()
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.connections = connections
        self.transport = None
        self.parser = httptools.HttpRequestParser(self)
        self.closing = False        # decided to close: ignore anything further
        self.draining = False       # server shutting down: close when idle
        self.refusing = False       # sent 413: drop the body, then close
        self.in_request = False     # between on_message_begin and _complete
        self.writing_paused = False
        self.last_activity = 0.0
        self.timer = None
        self.deferred = None        # (method, keep_alive) of an Upgrade request
        self.raw_needed = 0         # body bytes of that request still to come
        self.parts = []             # body pieces of the current request
        self.fast = None            # the C reader (connection_made), until httptools takes over
        self._reset()

    def _reset(self):
        self.target = None
        self.content_type = None
        self.encoding = None
        self.length = 0
        self.upgrade = False
        self.expect = False
        self.size = 0
        if self.parts:
            self.parts.clear()

    # -- asyncio callbacks --------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        self.fast = self._fast_path(transport)
        if self.connections is not None:
            self.connections.add(self)
        self.last_activity = self.loop.time()
        if self.idle_timeout:
            self.timer = self.loop.call_later(self.idle_timeout, self._on_timer)

    def _fast_path(self, transport):
        """The C reader of this connection: it writes answers itself unless a
        subclass wraps _send (server/cluster.py passes its answer queue too)."""
        direct = type(self)._send is HttpProtocol._send
        return FastPath(self, transport, direct, INTERNAL_ERROR_BODY)

    def connection_lost(self, exc):
        self.closing = True
        self.fast = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.connections is not None:
            self.connections.discard(self)

    def eof_received(self):
        # The client finished sending; let the transport close once our
        # answers are written.
        return None

    def data_received(self, data):
        if self.closing:
            return
        self.last_activity = self.loop.time()
        fast = self.fast
        if fast is not None:
            try:
                data = fast.feed(data)
            except Exception:
                # A bug of ours (the handler's own errors are 500s already).
                log.exception("internal error while answering a request")
                if not self.closing:
                    self._send(500, INTERNAL_ERROR_BODY, _JSON_1_0, False)
                return
            if data is None:
                return
            # Not a request FastPath takes: httptools reads the rest of
            # the connection, from that request's first byte.
            self.fast = None
            if self.closing:
                return
        if self.deferred is not None:
            data = self._take_raw_body(data)
            if not data:
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # We never switch protocols (h2c, websocket): the parser stopped
            # after the Upgrade request's headers, and what follows is its
            # body (see on_message_complete) and then more HTTP/1.1.
            offset = exc.args[0] if exc.args else len(data)
            if offset < len(data) and not self.closing:
                self.data_received(data[offset:])
            elif self.deferred is not None and not self.raw_needed:
                self._take_raw_body(b"")
        except httptools.HttpParserCallbackError:
            # One of our callbacks raised: a bug of ours, not of the client.
            log.exception("internal error while parsing a request")
            if not self.closing:
                self._send(500, INTERNAL_ERROR_BODY, _JSON_1_0, False)
        except httptools.HttpParserError:
            if not self.closing:
                self._send(400, BAD_REQUEST_BODY, _TEXT, False)

    def pause_writing(self):
        self.writing_paused = True
        if not self.closing:
            self.transport.pause_reading()

    def resume_writing(self):
        self.writing_paused = False
        if not self.closing:
            self.transport.resume_reading()

    # -- httptools callbacks ------------------------------------------------

    def on_message_begin(self):
        self.in_request = True
        self._reset()

    def on_header(self, name, value):
        name = name.lower()
        if name == b"x-amz-target":
            self.target = value
        elif name == b"content-type":
            self.content_type = value
        elif name == b"content-encoding":
            self.encoding = value
        elif name == b"content-length":
            try:
                self.length = int(value)
            except ValueError:
                pass
        elif name == b"upgrade":
            self.upgrade = True
        elif name == b"expect":
            self.expect = value.lower() == b"100-continue"

    def on_headers_complete(self):
        if self.closing:
            return
        if self.length > self.max_body:
            self._refuse()
        elif self.expect:
            # curl asks before sending a large body; say go ahead.
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body):
        if self.closing:
            return
        self.size += len(body)
        if self.size > self.max_body or self.refusing:
            if not self.refusing:
                self.parts.clear()
                self._refuse()
            elif self.size > _DISCARD_LIMIT * self.max_body:
                self.closing = True
                self.transport.close()
            return
        self.parts.append(body)

    def on_message_complete(self):
        self.in_request = False
        if self.closing:
            return
        if self.refusing:
            self.closing = True
            self.transport.close()
            return
        keep_alive = self.parser.should_keep_alive() and not self.draining
        method = self.parser.get_method()
        if self.upgrade and self.parser.should_upgrade():
            # httptools ends an Upgrade request at its headers and hands
            # back the rest raw: read its Content-Length body ourselves.
            self.deferred = (method, keep_alive)
            self.raw_needed = self.length
            return
        self._answer(method, keep_alive)

    def _take_raw_body(self, data):
        """Collect the body of a deferred Upgrade request; return what follows."""
        take = data[:self.raw_needed]
        if take:
            self.parts.append(take)
            self.raw_needed -= len(take)
        if self.raw_needed:
            return b""
        method, keep_alive = self.deferred
        self.deferred = None
        self._answer(method, keep_alive)
        return b"" if self.closing else data[len(take):]

    def _answer(self, method, keep_alive):
        if method == b"POST":
            self._post(keep_alive)
        elif method == b"GET" or method == b"HEAD":
            self._send(200, HEALTH_BODY, _TEXT, keep_alive, method == b"HEAD")
        else:
            self._send(404, NOT_FOUND_BODY, _XML, keep_alive)

    # -- requests -----------------------------------------------------------

    def _post(self, keep_alive):
        parts = self.parts
        if parts:
            body = b"".join(parts)
            parts.clear()
        else:
            body = b""
        raw_type = self.content_type
        if raw_type is None:
            content_type = _JSON_1_0
        else:
            content_type = _CONTENT_TYPES.get(raw_type)
            if content_type is None:
                content_type = _CONTENT_TYPES.get(raw_type.split(b";", 1)[0].strip().lower())
                if content_type is None and body:
                    self._send(404, NOT_FOUND_BODY, _XML, keep_alive)
                    return
                if content_type is None:
                    content_type = _JSON_1_0
        if self.encoding is not None and body:
            try:
                body = _inflate(body, self.encoding.strip().lower(), self.max_body)
            except _TooLarge:
                self._send(413, TOO_LARGE_BODY, content_type, False)
                return
            except _Corrupt:
                self._send(400, SERIALIZATION_BODY, content_type, keep_alive)
                return
        commit = self.commit
        seq = commit.wal.seq if commit is not None else 0
        try:
            status, payload = self.handler(self.target, body)
        except Exception:
            log.exception("unhandled error answering %r", self.target)
            status, payload = 500, INTERNAL_ERROR_BODY
        if commit is not None and commit.wal.seq != seq:
            # It logged something: answered once the log is durable (server/commit.py).
            self._send(status, payload, content_type, keep_alive, wait=True)
        else:
            self._send(status, payload, content_type, keep_alive)

    def _refuse(self):
        """Answer 413 at once, but close only when the body has been read.

        Closing a socket with unread data makes the kernel reset it, and the
        client (still sending) would never read the 413.  So the rest of the
        body is read and dropped -- up to a bound, and the idle timer still
        applies -- and the connection closes when the request ends.
        """
        self.refusing = True
        self._send(413, TOO_LARGE_BODY, _JSON_1_0, False, close=False)

    def _send(self, status, body, content_type, keep_alive, head_only=False, close=True, wait=False):
        """Write one response; close afterwards unless `keep_alive` (or not `close`).
        ``wait``: it answers a write, held until the log is durable (and so
        is every later answer of this connection, to keep their order)."""
        transport = self.transport
        if keep_alive:
            connection = b"" if self.parser.get_http_version() != "1.0" else _KEEP_ALIVE
        else:
            connection = _CLOSE
        if wait or self.held is not None:
            data = encode_response(status, body, content_type, connection, not head_only)
            self.commit.hold(self, data, wait, not keep_alive and close)
            self.last_activity = self.loop.time()
            if not keep_alive and close:
                self.closing = True
            return
        if head_only or len(body) > _SMALL_BODY:
            transport.write(encode_response(status, body, content_type, connection, False))
            if not head_only:
                transport.write(body)
        else:
            transport.write(encode_response(status, body, content_type, connection, True))
        self.last_activity = self.loop.time()
        if not keep_alive and close:
            self.closing = True
            transport.close()

    # -- lifetime -----------------------------------------------------------

    def _on_timer(self):
        self.timer = None
        if self.closing:
            return
        idle = self.loop.time() - self.last_activity
        if idle >= self.idle_timeout:
            self.closing = True
            self.transport.close()
        else:
            self.timer = self.loop.call_later(self.idle_timeout - idle, self._on_timer)

    def shutdown(self):
        """Server is stopping: close now if idle, else after this request."""
        self.draining = True
        if not self.in_request and not self.closing and self.held is None:
            self.closing = True
            self.transport.close()

    def abort(self):
        """Drop the connection without waiting (shutdown grace is over)."""
        self.closing = True
        if self.transport is not None:
            self.transport.abort()
