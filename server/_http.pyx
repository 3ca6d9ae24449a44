# cython: language_level=3
# distutils: libraries = z
"""The compiled half of server/http.py: the common request read in C, and
every answer's head written in C.

Nearly every request a DynamoDB client sends has one shape::

    POST / HTTP/1.1\\r\\n
    Host: ...\\r\\n
    X-Amz-Target: DynamoDB_20120810.GetItem\\r\\n
    Content-Type: application/x-amz-json-1.0\\r\\n
    Content-Length: 93\\r\\n
    ...more headers we never look at...\\r\\n
    \\r\\n
    <body>

``FastPath`` reads requests of that shape straight from the bytes of
``data_received``: it picks out the four headers the server uses
(X-Amz-Target, Content-Type, Content-Length, Connection), makes no Python
object for any other, calls the handler and writes the answer, with no
Python frame per header or per request.  Answers go out exactly as
``HttpProtocol._send`` writes them (it calls ``encode_response`` too).
With ``--workers`` (server/cluster.py's ``AsyncHttpProtocol``) an answer
is written here when it is ready at once with nothing queued before it.
A forwarded one (a :class:`Forwarded`, answered when the owner's answer
frame is read) is queued here in the protocol's list and written here too,
as soon as it and every answer before it are in; any other deferred answer
goes through the protocol's ``_send`` and ``_on_ready``.

Its grammar is a strict subset of what httptools (llhttp) accepts, checked
byte by byte: the exact request line ``POST <path> HTTP/1.1`` (one space
each side, a path of the characters in ``_PATH``), CRLF line ends, header names of
token characters right before the colon, values of visible ASCII, space
and tab, a Content-Length of digits within the size limit, at most one of
each header it reads, a Connection of ``close`` or ``keep-alive``, a known
Content-Type, and no Transfer-Encoding, Upgrade, Expect, Content-Encoding
or Proxy-Connection header.  The first byte outside that grammar makes
``feed`` hand everything from the start of that request back to the caller,
which gives it to httptools and stays there for the rest of the connection.
So httptools sees each request whole, from a message boundary, exactly as
if it had parsed every byte: a request is either answered here, or
answered (or refused) there as before.  Because the check is per byte, the
hand-back happens no later than the byte at which llhttp would have
answered an error, so even a client that stops half-way sees the same.
``parse`` exposes the reader alone for tests (tests/unit/test_http_fast.py
holds it to httptools).

The request id (40 random characters per process + a 12-digit counter)
and the cached Date live here too, so that ``encode_response`` needs no
Python call; server/http.py sets the prefix at import and after fork.
"""

import asyncio
import logging
from http import HTTPStatus

from cpython.bytearray cimport PyByteArray_GET_SIZE
from cpython.list cimport PyList_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.string cimport memchr, memcmp, memcpy
from libc.time cimport time_t, tm
from libc.time cimport time as c_time

cdef extern from "<time.h>" nogil:
    tm *gmtime_r(const time_t *timep, tm *result)

cdef extern from "zlib.h" nogil:
    unsigned long zlib_crc32 "crc32" (unsigned long crc, const unsigned char *buf, unsigned int length)

__all__ = ["FastPath", "Forwarded", "parse", "encode_response", "new_request_id", "set_id_prefix", "http_date",
           "STATUS_LINES", "JSON_1_0", "JSON_1_1", "JSON"]

log = logging.getLogger("server")

cdef bytes _JSON_1_0 = b"application/x-amz-json-1.0"
cdef bytes _JSON_1_1 = b"application/x-amz-json-1.1"
cdef bytes _JSON = b"application/json"
cdef bytes _CLOSE = b"Connection: close\r\n"
JSON_1_0 = _JSON_1_0
JSON_1_1 = _JSON_1_1
JSON = _JSON

STATUS_LINES = {s.value: b"HTTP/1.1 %d %s\r\n" % (s.value, s.phrase.encode()) for s in HTTPStatus}
cdef bytes _STATUS_200 = STATUS_LINES[200]
cdef dict _STATUS_LINES = STATUS_LINES

# A head (request line to blank line) longer than this goes to httptools: a
# request trickling in byte by byte is rescanned from its start on each
# read, so the bound keeps that quadratic cost small.  Real heads (SigV4
# included) are < 2 KiB.
cdef enum:
    HEAD_LIMIT = 8192
    # At most this many Content-Length digits (16 MiB needs 8).
    LENGTH_DIGITS = 9
    # Bodies longer than this are written apart from their head (no copy),
    # as server/http.py's _SMALL_BODY.
    SMALL_BODY = 65536
    # What _read returns besides a request's length.
    NEED = 0
    FALLBACK = -1
    # server/cluster.py's AsyncHttpProtocol: the status of a deferred answer
    # (DEFERRED), and the queued answers at which a connection stops reading
    # (MAX_WAITING).
    DEFERRED = 0
    MAX_WAITING = 256

# Characters of a header name (RFC 9110 token characters, as llhttp's).
cdef unsigned char _TOKEN[256]
# Characters of a path we accept: unreserved, sub-delims, ":@/?%".
cdef unsigned char _PATH[256]
# Characters of a header value we accept: visible ASCII, space, tab.
cdef unsigned char _VALUE[256]
# ASCII lower case.
cdef unsigned char _LOWER[256]


cdef void _init_tables():
    cdef int c
    cdef bytes token = b"!#$%&'*+-.^_`|~"
    cdef bytes path = b"-._~!$&'()*+,;=:@/?%"
    for c in range(256):
        _LOWER[c] = c + 32 if 65 <= c <= 90 else c
        alnum = 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122
        _TOKEN[c] = alnum or c in token
        _PATH[c] = alnum or c in path
        _VALUE[c] = 32 <= c <= 126 or c == 9


_init_tables()


# ---------------------------------------------------------------------------
# The request reader

cdef struct Request:
    Py_ssize_t total        # bytes of head + body (known once the head is read)
    Py_ssize_t body_at
    Py_ssize_t body_len
    Py_ssize_t target_at    # -1: no X-Amz-Target
    Py_ssize_t target_len
    int content_type        # 0 none, 1 x-amz-json-1.0, 2 x-amz-json-1.1, 3 json
    bint close


cdef inline bint _name_is(const unsigned char *p, Py_ssize_t n, const char *lower, Py_ssize_t m) noexcept nogil:
    """Whether p[:n], in ASCII lower case, is the lower-case name `lower` of length m."""
    cdef Py_ssize_t i
    if n != m:
        return False
    for i in range(n):
        if _LOWER[p[i]] != <unsigned char>lower[i]:
            return False
    return True


cdef int _content_type(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """server/http.py's Content-Type rule: up to ';', stripped, lower case."""
    cdef Py_ssize_t i = 0, end = 0
    while end < n and p[end] != b';':
        end += 1
    while i < end and (p[i] == b' ' or p[i] == b'\t'):
        i += 1
    while end > i and (p[end - 1] == b' ' or p[end - 1] == b'\t'):
        end -= 1
    if _name_is(p + i, end - i, b"application/x-amz-json-1.0", 26):
        return 1
    if _name_is(p + i, end - i, b"application/x-amz-json-1.1", 26):
        return 2
    if _name_is(p + i, end - i, b"application/json", 16):
        return 3
    return 0


# What a header name is to the reader.
cdef enum:
    H_OTHER = 0
    H_LENGTH = 1
    H_TARGET = 2
    H_TYPE = 3
    H_CONNECTION = 4
    H_REFUSE = 5


cdef int _header_kind(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    if n == 14 and _name_is(p, n, b"content-length", 14):
        return H_LENGTH
    if n == 12:
        if _name_is(p, n, b"x-amz-target", 12):
            return H_TARGET
        if _name_is(p, n, b"content-type", 12):
            return H_TYPE
        return H_OTHER
    if n == 10 and _name_is(p, n, b"connection", 10):
        return H_CONNECTION
    if ((n == 17 and _name_is(p, n, b"transfer-encoding", 17))
            or (n == 7 and _name_is(p, n, b"upgrade", 7))
            or (n == 6 and _name_is(p, n, b"expect", 6))
            or (n == 16 and (_name_is(p, n, b"content-encoding", 16)
                             or _name_is(p, n, b"proxy-connection", 16)))):
        return H_REFUSE
    return H_OTHER


cdef inline Py_ssize_t _literal(const unsigned char *p, Py_ssize_t n, Py_ssize_t at,
                                const char *text, Py_ssize_t m) noexcept nogil:
    """Match `text` at p[at:]: its end, NEED if p ends inside it, or FALLBACK."""
    cdef Py_ssize_t i
    for i in range(m):
        if at + i >= n:
            return NEED
        if p[at + i] != <unsigned char>text[i]:
            return FALLBACK
    return at + m


cdef Py_ssize_t _read(const unsigned char *p, Py_ssize_t n, Py_ssize_t max_body, Request *r) noexcept nogil:
    """Read one request at p[:n].

    Returns its length when it is whole and of the fast shape, NEED (0) when
    every byte so far fits that shape but more must come (``r.total`` is
    then the whole length if the head is complete, else 0), or FALLBACK.
    A head (request line to blank line) longer than HEAD_LIMIT is FALLBACK
    however the bytes were split.
    """
    cdef Py_ssize_t at, name_at, name_len, value_at, length = -1, digits, i
    cdef Py_ssize_t hn = n if n < HEAD_LIMIT else HEAD_LIMIT    # the head is read in p[:hn]
    cdef Py_ssize_t out = NEED if n < HEAD_LIMIT else FALLBACK  # what running out of p[:hn] means
    cdef int kind, seen = 0
    cdef unsigned char c
    cdef const unsigned char *end
    r.total = 0
    r.target_at = -1
    r.target_len = 0
    r.content_type = 0
    r.close = False
    at = _literal(p, hn, 0, b"POST /", 6)
    if at <= 0:
        return at if at == FALLBACK else out
    while True:
        if at >= hn:
            return out
        c = p[at]
        if c == c' ':
            break
        if not _PATH[c]:
            return FALLBACK
        at += 1
    at = _literal(p, hn, at, b" HTTP/1.1\r\n", 11)
    if at <= 0:
        return at if at == FALLBACK else out
    while True:
        # A line: the head's end, or `name: value`.
        if at >= hn:
            return out
        if p[at] == c'\r':
            if at + 1 >= hn:
                return out
            if p[at + 1] != c'\n':
                return FALLBACK
            at += 2
            break
        name_at = at
        while True:
            if at >= hn:
                return out
            c = p[at]
            if c == c':':
                break
            if not _TOKEN[c]:
                return FALLBACK
            at += 1
        name_len = at - name_at
        if name_len == 0:
            return FALLBACK
        kind = _header_kind(p + name_at, name_len)
        if kind == H_REFUSE or (kind != H_OTHER and seen & (1 << kind)):
            return FALLBACK
        seen |= 1 << kind
        at += 1
        while at < hn and (p[at] == c' ' or p[at] == c'\t'):
            at += 1
        value_at = at
        end = <const unsigned char *>memchr(p + at, c'\r', hn - at)
        at = end - p if end != NULL else hn
        for i in range(value_at, at):
            if not _VALUE[p[i]]:
                return FALLBACK
        digits = at - value_at
        if kind == H_LENGTH:
            # llhttp refuses a non-digit at once: so must we.
            if digits > LENGTH_DIGITS:
                return FALLBACK
            for i in range(value_at, at):
                if p[i] < c'0' or p[i] > c'9':
                    return FALLBACK
        if end == NULL or at + 1 >= hn:
            return out
        if p[at + 1] != c'\n':
            return FALLBACK
        if kind == H_LENGTH:
            if digits == 0:
                return FALLBACK
            length = 0
            for i in range(value_at, at):
                length = length * 10 + (p[i] - c'0')
            if length > max_body:
                return FALLBACK
        elif kind == H_TARGET:
            r.target_at = value_at
            r.target_len = at - value_at
        elif kind == H_TYPE:
            r.content_type = _content_type(p + value_at, at - value_at)
            if r.content_type == 0:
                return FALLBACK
        elif kind == H_CONNECTION:
            if _name_is(p + value_at, at - value_at, b"close", 5):
                r.close = True
            elif not _name_is(p + value_at, at - value_at, b"keep-alive", 10):
                return FALLBACK
        at += 2
    if length < 0:
        return FALLBACK
    r.body_at = at
    r.body_len = length
    r.total = at + length
    if r.total > n:
        return NEED
    return r.total


cdef inline bytes _content_type_bytes(int code):
    if code == 2:
        return _JSON_1_1
    if code == 3:
        return _JSON
    return _JSON_1_0


def parse(data, Py_ssize_t max_body):
    """Read the fast-shape requests at the start of `data` (bytes).

    Returns ``(requests, consumed, state)``: each request a tuple
    ``(target or None, content_type, body, close)``, ``consumed`` the bytes
    they took, and ``state`` ``"done"`` (nothing left), ``"close"`` (the
    last request says ``Connection: close``: what follows is not read),
    ``"need"`` (the rest is the valid start of a request) or
    ``"fallback"`` (the rest is for httptools).  For tests;
    ``FastPath.feed`` uses the same reader.
    """
    cdef bytes buf = bytes(data)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(buf)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(buf), at = 0, got
    cdef Request r
    requests = []
    while at < n:
        got = _read(p + at, n - at, max_body, &r)
        if got == NEED:
            return requests, at, "need"
        if got == FALLBACK:
            return requests, at, "fallback"
        target = None
        if r.target_at >= 0:
            target = buf[at + r.target_at:at + r.target_at + r.target_len]
        requests.append((target, _content_type_bytes(r.content_type),
                         buf[at + r.body_at:at + r.body_at + r.body_len], bool(r.close)))
        at += got
        if r.close:
            return requests, at, "close"
    return requests, at, "done"


# ---------------------------------------------------------------------------
# Request ids, the Date header, answers

cdef char _id_prefix[40]
cdef unsigned long long _id_counter = 0


def set_id_prefix(bytes prefix):
    """Set the 40-character request-id prefix and restart the counter."""
    global _id_counter
    if PyBytes_GET_SIZE(prefix) != 40:
        raise ValueError("the request-id prefix is 40 bytes")
    memcpy(_id_prefix, PyBytes_AS_STRING(prefix), 40)
    _id_counter = 0


cdef inline void _put_id(char *out) noexcept:
    global _id_counter
    cdef unsigned long long n = _id_counter % 1000000000000ULL
    cdef int i
    _id_counter += 1
    memcpy(out, _id_prefix, 40)
    for i in range(51, 39, -1):
        out[i] = <char>(c'0' + n % 10)
        n //= 10


def new_request_id():
    """A fresh 52-character request id, as bytes."""
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 52)
    _put_id(PyBytes_AS_STRING(out))
    return out


cdef time_t _date_second = -1
cdef char _date[29]
cdef const char *_DAYS = b"SunMonTueWedThuFriSat"
cdef const char *_MONTHS = b"JanFebMarAprMayJunJulAugSepOctNovDec"


cdef inline void _two(char *out, int v) noexcept:
    out[0] = <char>(c'0' + v // 10 % 10)
    out[1] = <char>(c'0' + v % 10)


cdef const char *_http_date() noexcept:
    """email.utils.formatdate(now, usegmt=True), recomputed once a second."""
    global _date_second
    cdef time_t now = c_time(NULL)
    cdef tm t
    cdef int year
    if now != _date_second:
        gmtime_r(&now, &t)
        memcpy(_date, _DAYS + 3 * t.tm_wday, 3)
        _date[3] = b','
        _date[4] = b' '
        _two(_date + 5, t.tm_mday)
        _date[7] = b' '
        memcpy(_date + 8, _MONTHS + 3 * t.tm_mon, 3)
        _date[11] = b' '
        year = t.tm_year + 1900
        _two(_date + 12, year // 100)
        _two(_date + 14, year)
        _date[16] = b' '
        _two(_date + 17, t.tm_hour)
        _date[19] = b':'
        _two(_date + 20, t.tm_min)
        _date[22] = b':'
        _two(_date + 23, t.tm_sec)
        memcpy(_date + 25, b" GMT", 4)
        _date_second = now
    return _date


def http_date():
    """The Date header's value for now (cached per second), as bytes."""
    return PyBytes_FromStringAndSize(_http_date(), 29)


cdef inline int _decimal(char *out, unsigned long long v) noexcept:
    """Write v in decimal at out; return the digits written."""
    cdef char tmp[20]
    cdef int n = 0, i
    while True:
        tmp[n] = <char>(c'0' + v % 10)
        n += 1
        v //= 10
        if v == 0:
            break
    for i in range(n):
        out[i] = tmp[n - 1 - i]
    return n


cdef unsigned long _crc32(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    cdef unsigned long crc = 0
    cdef unsigned int step
    while n > 0:
        step = <unsigned int>(n if n < 0x40000000 else 0x40000000)
        crc = zlib_crc32(crc, p, step)
        p += step
        n -= step
    return crc


cdef bytes _encode(int status, const char *body, Py_ssize_t body_len, bytes content_type,
                   const char *connection, Py_ssize_t connection_len, bint with_body):
    """One answer: status line, the five headers, `connection`, and the body if `with_body`."""
    cdef bytes status_line
    if status == 200:
        status_line = _STATUS_200
    else:
        status_line = _STATUS_LINES.get(status)
        if status_line is None:
            status_line = b"HTTP/1.1 %d Unknown\r\n" % status
    cdef char crc_text[20]
    cdef char length_text[20]
    cdef int crc_len = _decimal(crc_text, _crc32(<const unsigned char *>body, body_len))
    cdef int length_len = _decimal(length_text, <unsigned long long>body_len)
    cdef Py_ssize_t line_len = PyBytes_GET_SIZE(status_line)
    cdef Py_ssize_t type_len = PyBytes_GET_SIZE(content_type)
    cdef Py_ssize_t size = (
        line_len + 18 + 52 + 15 + crc_len + 16 + type_len + 18 + length_len
        + 8 + 29 + 2 + connection_len + 2 + (body_len if with_body else 0)
    )
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    cdef char *w = PyBytes_AS_STRING(out)
    memcpy(w, PyBytes_AS_STRING(status_line), line_len)
    w += line_len
    memcpy(w, b"x-amzn-RequestId: ", 18)
    _put_id(w + 18)
    w += 18 + 52
    memcpy(w, b"\r\nx-amz-crc32: ", 15)
    memcpy(w + 15, crc_text, crc_len)
    w += 15 + crc_len
    memcpy(w, b"\r\nContent-Type: ", 16)
    memcpy(w + 16, PyBytes_AS_STRING(content_type), type_len)
    w += 16 + type_len
    memcpy(w, b"\r\nContent-Length: ", 18)
    memcpy(w + 18, length_text, length_len)
    w += 18 + length_len
    memcpy(w, b"\r\nDate: ", 8)
    memcpy(w + 8, _http_date(), 29)
    w += 8 + 29
    memcpy(w, b"\r\n", 2)
    w += 2
    if connection_len:
        memcpy(w, connection, connection_len)
        w += connection_len
    memcpy(w, b"\r\n", 2)
    w += 2
    if with_body and body_len:
        memcpy(w, body, body_len)
    return out


def encode_response(int status, body, bytes content_type, bytes connection, bint with_body):
    """The bytes of one answer (see server/http.py's module doc for the headers):
    ``connection`` is b"" or a whole ``Connection: ...\\r\\n`` line; the body
    (bytes-like) is included when ``with_body``."""
    cdef bytes data
    if type(body) is bytes:
        data = <bytes>body
    else:
        data = bytes(body)
    return _encode(status, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), content_type,
                   PyBytes_AS_STRING(connection), PyBytes_GET_SIZE(connection), with_body)


# ---------------------------------------------------------------------------
# The per-connection reader

cdef class Forwarded

cdef class FastPath:
    """Reads and answers a connection's fast-shape requests (see the module doc).

    ``feed(data)`` returns None when it took every byte (answered, or kept
    as the start of a request), else the bytes from the start of the first
    request it cannot take: the caller hands those to httptools and stops
    using this object.  ``direct``: answers are written here; otherwise
    (a subclass overrides ``_send``) they go through ``protocol._send``, as
    do answers that wait for the group commit (server/commit.py).

    ``waiting``, when not None, is the protocol's list of answers queued in
    request order (server/cluster.py's ``AsyncHttpProtocol``, whose handler
    may answer ``(0, future)``: a deferred answer).  Such a protocol is
    direct only for an answer that is ready (its status a nonzero int) while
    that list is empty: nothing before it is still to be written.  Any
    other answer goes through ``protocol._send``, which queues it.

    A direct answer leaves ``protocol.last_activity`` as ``data_received``
    set it, in the same loop turn.

    With such a queue, a forwarded answer (a :class:`Forwarded`) is queued
    here as ``_send`` would queue it, with this object as its callback:
    ``_ready`` then writes the answers at the head of the queue that are
    in, as ``AsyncHttpProtocol._on_ready`` does, and hands the queue to
    that method at the first answer it does not write itself (a deferred
    one queued by ``_send``, a failure, HEAD, a large body).
    """

    cdef object protocol
    cdef object handler
    cdef object transport
    cdef object write
    cdef object commit
    cdef object internal_error
    cdef Py_ssize_t max_body
    cdef bint direct
    cdef list waiting           # AsyncHttpProtocol's queue of answers, or None
    cdef bint in_request
    cdef bytearray pending      # the start of a request, across reads
    cdef Py_ssize_t need        # its whole length, once its head is in
    cdef bytes last_target      # the last X-Amz-Target, reused while unchanged
    cdef object clock           # the loop's time(), with a queue

    def __init__(self, protocol, transport, bint direct, internal_error, list waiting=None):
        self.protocol = protocol
        self.handler = protocol.handler
        self.transport = transport
        self.write = transport.write
        self.commit = protocol.commit
        self.max_body = protocol.max_body
        self.direct = direct or waiting is not None
        self.waiting = waiting
        self.internal_error = internal_error
        self.in_request = False
        self.pending = None
        self.need = 0
        self.last_target = None
        self.clock = protocol.loop.time if waiting is not None else None

    def feed(self, data):
        cdef bytes buf
        cdef Py_ssize_t n, at = 0, got
        cdef const unsigned char *p
        cdef Request r
        if self.pending is not None:
            self.pending += data
            if self.need and PyByteArray_GET_SIZE(self.pending) < self.need:
                return None
            buf = bytes(self.pending)
            self.pending = None
            self.need = 0
        elif type(data) is bytes:
            buf = <bytes>data
        else:
            buf = bytes(data)
        p = <const unsigned char *>PyBytes_AS_STRING(buf)
        n = PyBytes_GET_SIZE(buf)
        while at < n:
            got = _read(p + at, n - at, self.max_body, &r)
            if got == FALLBACK:
                if self.in_request:
                    # httptools starts this request over (on_message_begin).
                    self.in_request = False
                return buf[at:] if at else buf
            if got == NEED:
                self.pending = bytearray(buf[at:] if at else buf)
                self.need = r.total
                if not self.in_request:
                    self.in_request = True
                    self.protocol.in_request = True
                return None
            if self.in_request:
                self.in_request = False
                self.protocol.in_request = False
            if not self._answer(buf, at, &r):
                return None     # closing: what follows is dropped, as before
            at += got
        return None

    cdef bint _answer(self, bytes buf, Py_ssize_t at, Request *r) except -1:
        """Answer one request; False once the connection is closing."""
        cdef const char *p = PyBytes_AS_STRING(buf) + at
        cdef bytes target = None, body, payload_bytes
        cdef object protocol = self.protocol
        cdef object commit = self.commit
        cdef object seq = None
        cdef bint keep_alive, direct, wait = False
        if r.target_at >= 0:
            target = self.last_target
            if (target is None or PyBytes_GET_SIZE(target) != r.target_len
                    or memcmp(PyBytes_AS_STRING(target), p + r.target_at, r.target_len) != 0):
                target = PyBytes_FromStringAndSize(p + r.target_at, r.target_len)
                self.last_target = target
        body = PyBytes_FromStringAndSize(p + r.body_at, r.body_len)
        keep_alive = not r.close and not protocol.draining
        content_type = _content_type_bytes(r.content_type)
        if commit is not None:
            seq = commit.wal.seq
        try:
            if self.waiting is not None:
                status, payload = self._in_order(target, body)
            else:
                status, payload = self.handler(target, body)
        except Exception:
            log.exception("unhandled error answering %r", target)
            status, payload = 500, self.internal_error
        if commit is not None:
            wait = commit.wal.seq != seq
        if (type(payload) is Forwarded and self.waiting is not None and not wait
                and type(status) is int and status == DEFERRED
                and (commit is None or protocol.held is None)):
            return self._queue(<Forwarded>payload, content_type, keep_alive)
        if wait or (commit is not None and protocol.held is not None):
            direct = False
        else:
            direct = self.direct and type(payload) is bytes
            if direct and self.waiting is not None:
                # ordered answers: ready, and nothing queued before it
                direct = type(status) is int and status != 0 and PyList_GET_SIZE(self.waiting) == 0
        if not direct:
            # group commit, a subclass's _send (server/cluster.py), deferred
            # or queued answers, odd payloads
            if wait:
                protocol._send(status, payload, content_type, keep_alive, wait=True)
            else:
                protocol._send(status, payload, content_type, keep_alive)
            return not protocol.closing
        payload_bytes = <bytes>payload
        cdef Py_ssize_t size = PyBytes_GET_SIZE(payload_bytes)
        cdef bytes connection = b"" if keep_alive else _CLOSE
        # A small body goes in the head's bytes; a large one is written after.
        self.write(_encode(status, PyBytes_AS_STRING(payload_bytes), size, content_type,
                           PyBytes_AS_STRING(connection), PyBytes_GET_SIZE(connection), size <= SMALL_BODY))
        if size > SMALL_BODY:
            self.write(payload_bytes)
        if not keep_alive:
            protocol.closing = True
            self.transport.close()
            return False
        return True

    cdef tuple _in_order(self, bytes target, bytes body):
        """AsyncHttpProtocol._in_order's common case: no request of this
        connection in flight (its ``tail`` done or None), so ``run`` answers
        now; behind one, the protocol's method chains it."""
        protocol = self.protocol
        tail = protocol.tail
        if tail is not None:
            if type(tail) is Forwarded:
                if not (<Forwarded>tail).status and (<Forwarded>tail).error is None:
                    return self.handler(target, body)
            elif not tail.done():
                return self.handler(target, body)
            protocol.tail = None
        result = <tuple?>protocol.run(target, body)
        if result[0] == DEFERRED:
            protocol.tail = result[1]
        return result

    cdef bint _queue(self, Forwarded answer, bytes content_type, bint keep_alive) except -1:
        """Queue a forwarded answer where AsyncHttpProtocol._send would: the
        Forwarded itself is the entry, holding what the answer's head needs
        (this reader takes HTTP/1.1 only: no Connection header unless
        closing); False once the connection is closing."""
        cdef list waiting = self.waiting
        protocol = self.protocol
        answer.content_type = content_type
        answer.keep_alive = keep_alive
        waiting.append(answer)
        answer._written_by(self)
        if PyList_GET_SIZE(waiting) >= MAX_WAITING and not protocol.closing:
            self.transport.pause_reading()
        return not protocol.closing

    def __call__(self, _answer):
        """A queued Forwarded is answered (its done callback)."""
        self._ready()

    cdef int _ready(self) except -1:
        """Write the queued answers that are in, in order, from the head of
        the queue (AsyncHttpProtocol._on_ready's common case)."""
        cdef list waiting = self.waiting
        cdef list listed
        cdef Forwarded forwarded
        cdef bytes body, content_type, connection
        cdef bint close
        protocol = self.protocol
        while PyList_GET_SIZE(waiting):
            entry = waiting[0]
            if type(entry) is Forwarded:
                # queued by _queue
                forwarded = <Forwarded>entry
                if not forwarded.status:
                    return self._hand_over() if forwarded.error is not None else 0
                status = forwarded.status
                payload = forwarded.payload
                content_type = forwarded.content_type
                close = not forwarded.keep_alive
                connection = _CLOSE if close else b""
            else:
                # queued by _send: [status, payload, content_type, connection,
                # keep_alive, head_only, close, extra]
                listed = <list>entry
                status = listed[0]
                payload = listed[1]
                if type(status) is int and status == DEFERRED:
                    # its own callback is _on_ready's: that writes it
                    return self._hand_over() if payload.done() else 0
                if listed[7] or listed[5]:
                    return self._hand_over()
                content_type = <bytes?>listed[2]
                connection = <bytes?>listed[3]
                close = not listed[4] and listed[6]
            if (type(status) is not int or type(payload) is not bytes or PyBytes_GET_SIZE(payload) > SMALL_BODY
                    or protocol.held is not None):
                return self._hand_over()
            del waiting[0]
            if protocol.closing:
                continue
            body = <bytes>payload
            self.write(_encode(status, PyBytes_AS_STRING(body), PyBytes_GET_SIZE(body), content_type,
                               PyBytes_AS_STRING(connection), PyBytes_GET_SIZE(connection), True))
            protocol.last_activity = self.clock()
            if close:
                protocol.closing = True
                self.transport.close()
        if not protocol.closing:
            if PyList_GET_SIZE(waiting) < MAX_WAITING and not protocol.writing_paused:
                self.transport.resume_reading()
            if not PyList_GET_SIZE(waiting) and protocol.draining and not protocol.in_request:
                protocol.closing = True
                self.transport.close()
        return 0

    cdef int _hand_over(self) except -1:
        """The queue from its head on, to the protocol's general writer."""
        self.protocol._on_ready(None)
        return 0


cdef class Forwarded:
    """The answer to come of a forwarded request (server/cluster.py's
    ``Cluster.forward``), given to ``PeerNode.forward`` as its ``done``.

    For the HTTP front (and ``asyncio.wait``) it stands for an asyncio
    future of ``(status, payload)`` (``done``, ``result``, the done
    callbacks, ``await``) without the loop: called with the answer as soon
    as the answer frame is read, it runs its callbacks right there, in that
    turn, so the answer is written with no further loop callback.
    ``(0, exception)`` is a failure (``PeerUnavailable``: a 503).

    Queued by a connection's FastPath, it is also that queue's entry (the
    answer's head with it): a forwarded request leaves this one object
    behind at the front until its answer is written."""

    cdef readonly int status        # the answer's, once answered (0 until then)
    cdef readonly object payload
    cdef readonly object error      # or the exception
    cdef FastPath reader            # the connection that writes it (its first callback)
    cdef list callbacks             # any others, in the order added
    # Queued by FastPath._queue: the answer's head.
    cdef bytes content_type
    cdef bint keep_alive

    def __call__(self, int status, payload):
        if self.status or self.error is not None:
            return
        if status:
            self.status = status
            self.payload = payload
        else:
            self.error = payload
        reader, self.reader = self.reader, None
        callbacks, self.callbacks = self.callbacks, None
        if reader is not None:
            try:
                reader._ready()
            except Exception:
                log.exception("internal error answering a forwarded request")
        if callbacks is None:
            return
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("internal error answering a forwarded request")

    def queued(self):
        """This answer as AsyncHttpProtocol._send queues one (FastPath._queue
        queued it itself): for ``_on_ready``."""
        return [DEFERRED, self, self.content_type, b"" if self.keep_alive else _CLOSE, self.keep_alive,
                False, True, {}]

    def done(self):
        return self.status != 0 or self.error is not None

    def result(self):
        if self.error is not None:
            raise self.error
        if not self.status:
            raise asyncio.InvalidStateError("not answered yet")
        return self.status, self.payload

    cdef int _written_by(self, FastPath reader) except -1:
        """``reader`` queued this answer (FastPath._queue): its ``_ready``
        runs when the answer comes, as a first done callback would, with no
        list and no Python call."""
        if self.status or self.error is not None:
            reader._ready()
        elif self.reader is None and self.callbacks is None:
            self.reader = reader
        else:
            self.add_done_callback(reader)
        return 0

    def add_done_callback(self, callback):
        if self.status or self.error is not None:
            callback(self)
        elif self.callbacks is None:
            self.callbacks = [callback]
        else:
            self.callbacks.append(callback)

    def remove_done_callback(self, callback):
        kept = [c for c in self.callbacks or () if c != callback]
        removed = len(self.callbacks or ()) - len(kept)
        self.callbacks = kept or None
        return removed

    def __await__(self):
        return _answer_of(self).__await__()


async def _answer_of(Forwarded forwarded):
    if not forwarded.done():
        waiter = asyncio.get_running_loop().create_future()
        forwarded.add_done_callback(lambda _f: waiter.done() or waiter.set_result(None))
        await waiter
    return forwarded.result()
