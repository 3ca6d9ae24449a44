# cython: language_level=3
"""The compiled half of server/peers.py: the frames of forwarded requests
and the per-frame work of a link.

Nearly every frame between workers is a forwarded HTTP request or its
answer (see server/peers.py's module doc for the layout).  Reading and
writing them in Python cost a few struct calls, slices and branches per
frame on both ends; here they are a length check and two copies each.
And as a busy turn usually carries about one frame per link, each Python
function a frame passes through costs about as much as its bytes: so the
path of a forwarded request is C from end to end.

``LinkBase``, the base of peers.py's ``_Link``, holds a link's state and
does its per-frame work: ``data_received`` (keeping a partial frame in the
inbox), ``send_answer``, scheduling a flush at the end of the turn, and
``flush``.  ``forward`` is ``PeerNode.forward``: it appends a forward frame
to the peer's link, waiting for its answer.

``read_frames`` walks the whole frames at the start of a read and hands
each one over as Python objects: an answer to its ``done`` (looked up in
the link's ``forwards``), a forward to ``node.on_forward`` (whose
``(status, bytes)`` answer frame is appended here; anything else it
returns or raises goes to ``node._forward_result`` / ``_forward_failed``),
and any other frame (msgpack) to ``link.on_frame``.  ``append_forward`` and
``append_answer`` add one frame to a link's output buffer.  At the front,
a forwarded request's ``done`` is a ``server._http.Forwarded``.
"""


from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsUnsignedLongMask
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.string cimport memcpy

cdef extern from "Python.h":
    ctypedef struct PyByteArrayObject:
        Py_ssize_t ob_alloc     # bytes allocated (the size in use + 1 at least)

__all__ = [
    "LinkBase", "forward", "read_frames", "append_forward", "append_answer",
    "FORWARD", "ANSWER", "MAX_FRAME", "MAX_ID",
]

cdef enum:
    # The first byte after the length (a msgpack frame's is 0x94).
    C_FORWARD = 1
    C_ANSWER = 2
    FORWARD_HEAD = 10   # length (4), FORWARD, id (4), len(op)
    ANSWER_HEAD = 11    # length (4), ANSWER, id (4), status (2)
    C_MAX_FRAME = 256 * 1024 * 1024

cdef unsigned long C_MAX_ID = 0xFFFFFFFF  # forward ids are 4 bytes

FORWARD = C_FORWARD
ANSWER = C_ANSWER
MAX_FRAME = C_MAX_FRAME
MAX_ID = C_MAX_ID


cdef inline unsigned long _u32(const unsigned char *p) noexcept nogil:
    return (<unsigned long>p[0] << 24) | (<unsigned long>p[1] << 16) | (<unsigned long>p[2] << 8) | p[3]


cdef inline void _put_u32(unsigned char *p, unsigned long v) noexcept nogil:
    p[0] = (v >> 24) & 0xFF
    p[1] = (v >> 16) & 0xFF
    p[2] = (v >> 8) & 0xFF
    p[3] = v & 0xFF


cdef inline const unsigned char *_start(object data) except NULL:
    if type(data) is bytes:
        return <const unsigned char *>PyBytes_AS_STRING(data)
    if type(data) is bytearray:
        return <const unsigned char *>PyByteArray_AS_STRING(data)
    raise TypeError(f"frames are read from bytes or a bytearray, not {type(data).__name__}")


cdef class LinkBase:
    """The hot half of peers.py's ``_Link`` (its Python subclass): the
    attributes every frame touches, and reading, answering and flushing.

    Each forwarded request passes here about four times (sent, flushed,
    its answer read at the front; read, answered and flushed at the owner),
    usually one frame per turn, so these are C calls, not Python frames."""

    cdef public object node
    cdef public object peer          # the worker we called (outgoing links only)
    cdef public object transport
    cdef public bytearray buffer     # frames waiting for the end of the turn
    cdef public bint flush_scheduled
    cdef public dict pending         # call id -> (future, deadline) (outgoing links)
    cdef public dict forwards        # forward id -> done, in send order (outgoing)
    cdef public bytearray inbox      # the partial frame at the end of the last read
    cdef public bint closed
    # Looked up once: what schedules a flush, and the flush it schedules.
    cdef object _call_soon, _flush

    def __init__(self, node, peer=None):
        self.node = node
        self.peer = peer
        self.transport = None
        self.buffer = bytearray()
        self.flush_scheduled = False
        self.pending = {}
        self.forwards = {}
        self.inbox = bytearray()
        self.closed = False
        self._call_soon = node.loop.call_soon
        self._flush = self.flush

    # -- out -----------------------------------------------------------------

    def send_answer(self, unsigned long forward_id, int status, payload):
        """An answer frame: the status and the raw answer bytes."""
        _check_answer(self.buffer, forward_id, status, payload)
        self.schedule()

    def _schedule_flush(self):
        self.schedule()

    cdef int schedule(self) except -1:
        """Flush at the end of this loop turn (once however many frames)."""
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self._call_soon(self._flush)
        return 0

    def flush(self):
        self.flush_scheduled = False
        if self.buffer and self.transport is not None and not self.closed:
            # Handed over whole (the transport may keep it): a new buffer
            # for the next turn rather than a copy of this one.
            self.transport.write(self.buffer)
            self.buffer = bytearray()

    # -- in ------------------------------------------------------------------

    def data_received(self, data):
        cdef bytearray inbox = self.inbox
        cdef Py_ssize_t offset
        if inbox:
            inbox.extend(data)
            data = inbox
        # else the usual case: whole frames in one read, read from ``data``
        # itself; only a partial frame is kept.
        offset = _read_frames(self, data, None)
        if offset < 0:
            self._malformed()   # logs and aborts (peers.py)
            return
        if data is inbox:
            if offset:
                del inbox[:offset]
        elif offset < len(data):
            inbox.extend(data[offset:])


def read_frames(LinkBase link, data, error):
    """Handle the whole frames at the start of ``data`` (bytes or bytearray,
    not resized meanwhile); return the bytes they took, or -1 at a malformed
    frame (longer than MAX_FRAME, or a forward whose operation overruns
    it): nothing after it is read.

    An answer whose status is 0 reaches its ``done`` as ``error(text)``."""
    return _read_frames(link, data, error)


cdef Py_ssize_t _read_frames(LinkBase link, data, error) except -2:
    """read_frames; ``error`` None: the link's ``answer_error`` (looked up
    only when needed: status 0 is rare)."""
    cdef const unsigned char *p = _start(data)
    cdef Py_ssize_t n = len(data), offset = 0, start, end, size, op_len
    cdef unsigned long frame_id
    cdef int status
    cdef dict forwards = link.forwards
    cdef object node = link.node
    while n - offset >= 4:
        p = _start(data)  # again after each frame: a handler ran meanwhile
        size = _u32(p + offset)
        if size > C_MAX_FRAME:
            return -1
        if n - offset - 4 < size:
            break
        start = offset + 4
        end = start + size
        offset = end
        if size >= ANSWER_HEAD - 4 and p[start] == C_ANSWER:
            frame_id = _u32(p + start + 1)
            entry = forwards.pop(frame_id, None)
            if entry is not None:
                status = (p[start + 5] << 8) | p[start + 6]
                payload = PyBytes_FromStringAndSize(<const char *>p + start + 7, size - 7)
                if status:
                    entry(status, payload)
                else:
                    if error is None:
                        error = link.answer_error
                    entry(0, error(payload.decode(errors="replace")))
        elif size >= FORWARD_HEAD - 4 and p[start] == C_FORWARD:
            op_len = p[start + 5]
            if op_len > size - 6:
                return -1
            frame_id = _u32(p + start + 1)
            op = PyUnicode_DecodeASCII(<const char *>p + start + 6, op_len, NULL)
            body = PyBytes_FromStringAndSize(<const char *>p + start + 6 + op_len, size - 6 - op_len)
            _forward(link, node, frame_id, op, body)
        else:
            link.on_frame(PyBytes_FromStringAndSize(<const char *>p + start, size))
    return offset


cdef int _forward(LinkBase link, node, unsigned long frame_id, str op, bytes body) except -1:
    """Answer a forward frame: ``node.on_forward(op, body)``; its answer, when
    a ``(status 1..65535, bytes)`` tuple, joins the link's frames of this
    turn right here."""
    try:
        result = node.on_forward(op, body)
    except Exception as exc:
        node._forward_failed(link, frame_id, op, exc)
        return 0
    if type(result) is tuple and len(<tuple>result) == 2:
        status, payload = <tuple>result
        if type(status) is int and 0 < status <= 0xFFFF and type(payload) is bytes:
            _append_answer(link.buffer, frame_id, status, <bytes>payload)
            link.schedule()
            return 0
    node._forward_result(link, frame_id, result)
    return 0


# Operation names as sent (ASCII bytes), by name: a server has a few dozen.
cdef dict _op_names = {}
cdef enum:
    OP_NAMES_KEPT = 1024


def forward(node, peer, op, body, done):
    """``PeerNode.forward(peer, op, body, done)`` (see it): called directly
    by the HTTP front (server/cluster.py) too, a Python frame fewer."""
    cdef object count = node._forwarded + 1
    node._forwarded = count
    # The id: the count's low 4 bytes (a Python int: dict key and frame).
    cdef unsigned long frame_id = PyLong_AsUnsignedLongMask(count) & C_MAX_ID
    cdef object forward_id = frame_id
    cdef dict links = node._links
    cdef LinkBase link = links.get(peer)
    if link is None or link.closed:
        link = node._connect(peer)
    # Waiting before its frame exists: whatever happens to the frame,
    # the link's failure or the sweeper answers ``done``.
    cdef dict forwards = link.forwards
    forwards[forward_id] = done
    try:
        _append_forward(link.buffer, frame_id, _op_name(op), body)
    except BaseException:
        del forwards[forward_id]    # nothing sent: the caller has the error
        raise
    link.schedule()
    if node._sweeper is None:
        node._start_sweeper()


cdef bytes _op_name(op):
    """``op.encode()``, kept for the next time when ``op`` is a str."""
    if type(op) is not str:
        return op.encode()
    name = _op_names.get(op)
    if name is None:
        name = op.encode()
        if len(_op_names) < OP_NAMES_KEPT:
            _op_names[op] = name
    return <bytes>name


cdef unsigned char *_grow(bytearray buf, Py_ssize_t extra) except NULL:
    """Room for ``extra`` more bytes at the end of ``buf``: their address.

    A link's buffer starts empty each turn and takes its frames one by one;
    grown to the exact size each time (what a bytearray does for a jump of
    more than an eighth), every frame cost a realloc and often a copy of
    the frames before it.  So past its allocation the buffer is first
    sized to twice what it needs, then cut back to it (a cut to half or
    more keeps the allocation): a few reallocs a turn."""
    cdef Py_ssize_t at = PyByteArray_GET_SIZE(buf)
    cdef Py_ssize_t need = at + extra
    if need >= (<PyByteArrayObject *>buf).ob_alloc:
        PyByteArray_Resize(buf, 2 * need)
    PyByteArray_Resize(buf, need)
    return <unsigned char *>PyByteArray_AS_STRING(buf) + at


cdef inline bytes _as_bytes(data):
    return <bytes>data if type(data) is bytes else bytes(data)


def append_forward(bytearray buf, unsigned long frame_id, bytes op, body):
    """Add a forward frame (``op`` ASCII, at most 255 bytes; ``body``
    bytes-like) to ``buf``."""
    _append_forward(buf, frame_id, op, body)


cdef int _append_forward(bytearray buf, unsigned long frame_id, bytes op, body) except -1:
    # A bytes or bytearray body is copied once, straight from its buffer.
    if type(body) is not bytes and type(body) is not bytearray:
        body = bytes(body)
    cdef Py_ssize_t op_len = PyBytes_GET_SIZE(op), body_len = len(body)
    if op_len > 255:
        raise ValueError("operation name too long")
    cdef unsigned char *w = _grow(buf, FORWARD_HEAD + op_len + body_len)
    _put_u32(w, 6 + op_len + body_len)
    w[4] = C_FORWARD
    _put_u32(w + 5, frame_id)
    w[9] = <unsigned char>op_len
    memcpy(w + FORWARD_HEAD, PyBytes_AS_STRING(op), op_len)
    memcpy(w + FORWARD_HEAD + op_len, _start(body), body_len)
    return 0


def append_answer(bytearray buf, unsigned long frame_id, int status, payload):
    """Add an answer frame (``status`` 0..65535, ``payload`` bytes-like) to
    ``buf``; nothing is added if either is not."""
    _check_answer(buf, frame_id, status, payload)


cdef int _check_answer(bytearray buf, unsigned long frame_id, int status, payload) except -1:
    if status < 0 or status > 0xFFFF:
        raise ValueError(f"status {status} out of range")
    return _append_answer(buf, frame_id, status, _as_bytes(payload))


cdef int _append_answer(bytearray buf, unsigned long frame_id, int status, bytes raw) except -1:
    cdef Py_ssize_t size = PyBytes_GET_SIZE(raw)
    cdef unsigned char *w = _grow(buf, ANSWER_HEAD + size)
    _put_u32(w, 7 + size)
    w[4] = C_ANSWER
    _put_u32(w + 5, frame_id)
    w[9] = (status >> 8) & 0xFF
    w[10] = status & 0xFF
    memcpy(w + ANSWER_HEAD, PyBytes_AS_STRING(raw), size)
    return 0
