# cython: language_level=3
"""kvstore's compiled core: the stable key hash, the key codec, the token
ring and the storage of one ring partition.

Only the measured hot paths live here; everything that decides DynamoDB
semantics (validation, number normalisation, error messages) stays in plain
Python. The core raises plain ValueError/TypeError/OverflowError/IndexError
when misused and never a DynamoDB error.

* ``hash64`` is xxHash64 (seed 0) written out in C-level Cython, reading
  words as little-endian byte by byte so every platform and process agrees.
  Python's ``hash()`` is salted per process and must never decide placement.
  ``token_of(pk_bytes)`` is the partition key's token on the ring.

* The key codec turns a key AttributeValue into bytes whose bytewise order is
  DynamoDB's order for that type: S is its UTF-8 (DynamoDB compares strings
  by UTF-8 bytes), B its raw bytes, and N a sign/exponent/base-100-digits
  encoding described at ``encode_n``. A table's key attribute has a single
  type, so the encodings carry no type tag.

* ``Ring`` is a consistent-hash ring with virtual nodes: ``vnodes`` tokens per
  node, a partition being the arc that ends at one vnode token.

* Item fast paths (``validate_item_fast``, ``plain_item_fast``,
  ``wire_item_plain``, ``plain_key_fast``, ``item_key_fast``,
  ``wire_key_fast``, ``value_size_fast``): the server's and the embedded
  API's conversions and checks, for items and keys of the common shapes.
  They decide nothing: each answers exactly as kvstore/values.py,
  kvstore/api/items.py or kvstore/embedded.py would, or returns None and
  lets that Python run (and raise).

* ``Partition`` stores the items of one ring partition of one table: a dict
  beside an ordered structure at two levels (the redis t_zset.c idea).
  Item collections are ordered by (token, partition-key bytes), kept as one
  bytes (8 big-endian token bytes + the key) in a ``SortedList``, and found in
  O(1) through a dict keyed by partition-key bytes. Inside a collection,
  items are found by a dict keyed by sort-key bytes and ordered by a
  ``SortedList`` of those bytes; a collection of one item (every hash-only
  table) holds it inline instead, with no dict or SortedList.

* ``read_raw`` / ``read_raws`` and ``Partition.get_raw`` / ``query_raw``:
  the server's reads answered from the items' JSON, encoded once and cached
  beside them (dropped by any put or delete of the item), from the wire key
  to the bytes in one call.

* ``json_encode`` / ``json_decode``: the wire JSON codec (msgspec's) of the
  items the fast writes store as their JSON only (see ``_Collection``); the
  server encodes its answers with ``json_encode``, so those bytes are the
  answer's as they stand.

* ``plain_writes`` / ``locate_writes`` / ``store_writes``,
  ``store_plain_item`` and ``store_item``: the server's plain BatchWriteItem,
  PutItem and UpdateItem into a table with no index, stream or log, from the
  request's items to the partitions in a few calls per table
  (kvstore/api/batch.py, items.py); like the item fast paths, None when not
  certain.  ``route_writes`` / ``store_part``: the same batch spread
  over a multi-worker server's workers, split by owner at the front into
  parts of bytes with each write in stored form, stored at its owner with
  no other check than that its tables are still the front's
  (``routed_writes`` reads a part back).
  They store each item as its JSON alone when decoding that
  gives the item back exactly: one bytes object instead of a tree of ~10
  dicts and strings, which is what made replacing an item costly (freeing
  a cache-cold tree); the readers decode it on demand and the raw readers
  answer with it as is.

* ``wire_owner`` / ``wire_query_owner``: the owner of a single-item
  request's or a Query's hash key, read from its raw JSON body with no
  decoding, for a multi-worker server's front (server/cluster.py); -1 when
  not certain.

Stored items are taken off the cyclic GC's lists (``_untrack``) and so is
``_Collection`` (``no_gc``): they hold no cycles, and walking them all on
every full collection was a large share of a write-heavy server's time.

Names with a leading underscore (``_Collection``, ``_scan``, ``_pairs``) are
private; kvstore/_core.pyi lists the public surface.
"""

import binascii
from decimal import Decimal

import msgspec

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Resize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport (Py_UCS1, PyUnicode_1BYTE_DATA, PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8,
                              PyUnicode_GET_LENGTH)
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy

from sortedcontainers import SortedList

cimport cython

cdef extern from "Python.h":
    ctypedef struct PyObject
    void PyObject_GC_UnTrack(void *op)
    int PyObject_GC_IsTracked(object o)
    Py_ssize_t PyDict_GET_SIZE(object o)
    long long PyLong_AsLongLongAndOverflow(object o, int *overflow) except? -1
    bint PyUnicode_IS_ASCII(object o)
    PyObject *PyDict_GetItemWithError(object d, object key) except? NULL


# ---------------------------------------------------------------------------
# hash64: xxHash64, seed 0
# ---------------------------------------------------------------------------

cdef uint64_t P1 = 0x9E3779B185EBCA87ULL
cdef uint64_t P2 = 0xC2B2AE3D27D4EB4FULL
cdef uint64_t P3 = 0x165667B19E3779F9ULL
cdef uint64_t P4 = 0x85EBCA77C2B2AE63ULL
cdef uint64_t P5 = 0x27D4EB2F165667C5ULL


cdef inline uint64_t _rotl(uint64_t x, int r) noexcept nogil:
    return (x << r) | (x >> (64 - r))


cdef inline uint64_t _read64(const unsigned char *p) noexcept nogil:
    # Little-endian whatever the host; compilers fold this into one load.
    return ((<uint64_t>p[0]) | (<uint64_t>p[1] << 8) | (<uint64_t>p[2] << 16)
            | (<uint64_t>p[3] << 24) | (<uint64_t>p[4] << 32) | (<uint64_t>p[5] << 40)
            | (<uint64_t>p[6] << 48) | (<uint64_t>p[7] << 56))


cdef inline uint64_t _read32(const unsigned char *p) noexcept nogil:
    return ((<uint64_t>p[0]) | (<uint64_t>p[1] << 8) | (<uint64_t>p[2] << 16)
            | (<uint64_t>p[3] << 24))


cdef inline uint64_t _round(uint64_t acc, uint64_t lane) noexcept nogil:
    acc = acc + lane * P2
    acc = _rotl(acc, 31)
    return acc * P1


cdef inline uint64_t _merge(uint64_t acc, uint64_t v) noexcept nogil:
    acc = acc ^ _round(0, v)
    return acc * P1 + P4


cdef uint64_t xxh64(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    cdef const unsigned char *end = p + n
    cdef const unsigned char *limit
    cdef uint64_t v1, v2, v3, v4, h
    if n >= 32:
        v1 = P1 + P2
        v2 = P2
        v3 = 0
        v4 = 0 - P1
        limit = end - 32
        while p <= limit:
            v1 = _round(v1, _read64(p))
            v2 = _round(v2, _read64(p + 8))
            v3 = _round(v3, _read64(p + 16))
            v4 = _round(v4, _read64(p + 24))
            p += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = P5
    h = h + <uint64_t>n
    while p + 8 <= end:
        h = h ^ _round(0, _read64(p))
        h = _rotl(h, 27) * P1 + P4
        p += 8
    if p + 4 <= end:
        h = h ^ (_read32(p) * P1)
        h = _rotl(h, 23) * P2 + P3
        p += 4
    while p < end:
        h = h ^ ((<uint64_t>p[0]) * P5)
        h = _rotl(h, 11) * P1
        p += 1
    h = h ^ (h >> 33)
    h = h * P2
    h = h ^ (h >> 29)
    h = h * P3
    h = h ^ (h >> 32)
    return h


cdef inline uint64_t _hash(bytes data) noexcept:
    return xxh64(<const unsigned char *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


def hash64(bytes data not None):
    """Stable unsigned 64-bit hash of ``data`` (xxHash64, seed 0)."""
    return _hash(data)


def token_of(bytes pk_bytes not None):
    """The ring token of a partition key's encoded bytes: ``hash64(pk_bytes)``."""
    return _hash(pk_bytes)


# ---------------------------------------------------------------------------
# Key codec
# ---------------------------------------------------------------------------

def encode_s(str s not None):
    """A string key's bytes: its UTF-8 (lone surrogates raise UnicodeEncodeError)."""
    return s.encode("utf-8")


def encode_b(b):
    """A binary key's bytes: the raw bytes. A str is the wire form (base64) and
    is decoded; bytearray/memoryview are copied to bytes."""
    if type(b) is bytes:
        return b
    if isinstance(b, str):
        return binascii.a2b_base64(b)          # binascii.Error is a ValueError
    if isinstance(b, (bytearray, memoryview)):
        return bytes(b)
    raise TypeError("B key value must be bytes or a base64 str, not %s" % type(b).__name__)


# N encoding. With the significant digits d1 d2 ... dk (d1 != 0, trailing zeros
# dropped) and the value 0.d1d2...dk x 10**x, the digits are regrouped in
# base 100 so that value = 0.p1p2...pm x 100**E with p1 != 0 (a 0 digit is put
# in front when x is odd, the last pair padded with a 0 digit). Then:
#
#   zero      -> 0x02
#   positive  -> 0x03, (E + 0x8000) as 2 bytes big-endian, p1+1, ..., pm+1, 0x00
#   negative  -> 0x01, then the bitwise complement of everything the positive
#                of the same magnitude has after its 0x03
#
# Positives: a larger E is a larger number (p1 != 0); with equal E, pairs
# compare as digits do, and the 0x00 terminator (below every pair byte 1..100)
# makes a shorter mantissa smaller, as 0.15 < 0.155 (the last pair is never 0,
# so the shorter one really is smaller). The magnitude encodings are prefix-free,
# so complementing them exactly reverses their order: negatives sort below zero
# and in reverse order of magnitude. Equal numbers have the same digits and
# exponent, so "1.50", "15E-1" and "1.5" give the same bytes.

cdef enum:
    _FAST_DIGITS = 96        # digits parsed on the stack; longer mantissas go through Decimal
    _EXP_BIAS = 0x8000


cdef bytes _n_bytes(int negative, const unsigned char *digits, Py_ssize_t nd, int64_t adj):
    """Bytes of +-(d1.d2...dk x 10**adj); digits are 0..9 values, d1 != 0, dk != 0."""
    cdef int64_t x = adj + 1                  # value = 0.d1d2... x 10**x
    cdef int lead = <int>(x & 1)              # odd x: put a 0 digit in front
    cdef int64_t e100 = (x + lead) // 2
    if e100 + _EXP_BIAS < 1 or e100 + _EXP_BIAS > 0xFFFE:
        raise ValueError("number out of range for a key")
    cdef Py_ssize_t total = nd + lead
    cdef Py_ssize_t npairs = (total + 1) // 2
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 4 + npairs)
    cdef unsigned char *o = <unsigned char *>PyBytes_AS_STRING(out)
    cdef unsigned int e = <unsigned int>(e100 + _EXP_BIAS)
    cdef unsigned char mask = 0xFF if negative else 0
    cdef Py_ssize_t i, j
    cdef int hi, lo
    o[0] = 0x01 if negative else 0x03
    o[1] = <unsigned char>((e >> 8) & 0xFF) ^ mask
    o[2] = <unsigned char>(e & 0xFF) ^ mask
    for i in range(npairs):
        j = 2 * i - lead                     # index in digits of the pair's high digit
        hi = digits[j] if j >= 0 else 0
        lo = digits[j + 1] if j + 1 < nd else 0
        o[3 + i] = <unsigned char>(hi * 10 + lo + 1) ^ mask
    o[3 + npairs] = mask
    return out


cdef bytes _ZERO = b"\x02"


cdef bytes _encode_n_slow(str n):
    """Any string Decimal() accepts (whitespace, underscores, non-ASCII digits,
    very long mantissas); NaN and infinities raise ValueError."""
    try:
        d = Decimal(n)
    except ArithmeticError:
        raise ValueError("not a number: %r" % (n,))
    if not d.is_finite():
        raise ValueError("not a finite number: %r" % (n,))
    sign, digs, exp = d.as_tuple()
    cdef Py_ssize_t first = 0, last = len(digs)
    while first < last and digs[first] == 0:
        first += 1
    if first == last:
        return _ZERO
    while digs[last - 1] == 0:
        last -= 1
    cdef bytes buf = bytes(digs[first:last])
    # value = digits(first..len) x 10**exp, so the first kept digit has
    # adjusted exponent exp + (len(digs) - first) - 1.
    return _n_bytes(sign, <const unsigned char *>PyBytes_AS_STRING(buf), last - first,
                    exp + (len(digs) - first) - 1)


def encode_n(str n not None):
    """Order-preserving bytes of a number given as a decimal string."""
    cdef unsigned char digits[_FAST_DIGITS]
    cdef Py_ssize_t nd = 0, i = 0, length = len(n)
    cdef Py_ssize_t int_sig = 0               # significant digits before the point
    cdef Py_ssize_t frac_lead_zeros = 0       # zeros after the point before the first
    cdef int negative = 0, seen_point = 0, seen_digit = 0, exp_negative = 0
    cdef int64_t exp_value = 0, adj
    cdef Py_UCS4 c
    if length == 0:
        raise ValueError("not a number: ''")
    c = n[0]
    if c == u'-' or c == u'+':
        negative = c == u'-'
        i = 1
    while i < length:
        c = n[i]
        if u'0' <= c <= u'9':
            seen_digit = 1
            if nd == 0 and c == u'0':
                if seen_point:
                    frac_lead_zeros += 1
            else:
                if nd == _FAST_DIGITS:
                    return _encode_n_slow(n)
                digits[nd] = <unsigned char>(<int>c - 48)
                nd += 1
                if not seen_point:
                    int_sig += 1
        elif c == u'.' and not seen_point:
            seen_point = 1
        else:
            break
        i += 1
    if i < length:
        c = n[i]
        if not seen_digit or (c != u'e' and c != u'E'):
            return _encode_n_slow(n)
        i += 1
        if i < length and (n[i] == u'-' or n[i] == u'+'):
            exp_negative = n[i] == u'-'
            i += 1
        if i == length:
            return _encode_n_slow(n)
        while i < length:
            c = n[i]
            if not (u'0' <= c <= u'9'):
                return _encode_n_slow(n)
            if exp_value < 1000000000:
                exp_value = exp_value * 10 + (<int>c - 48)
            i += 1
        if exp_negative:
            exp_value = -exp_value
    elif not seen_digit:
        return _encode_n_slow(n)
    if nd == 0:
        return _ZERO
    while digits[nd - 1] == 0:
        nd -= 1
    adj = (int_sig - 1) if int_sig > 0 else (-frac_lead_zeros - 1)
    return _n_bytes(negative, digits, nd, adj + exp_value)


def encode_key_value(dict av not None):
    """Order-preserving bytes of a key AttributeValue: {"S": str}, {"N": str}
    or {"B": bytes | base64 str}. Anything else raises ValueError/TypeError."""
    if len(av) != 1:
        raise ValueError("a key value has exactly one type, got %d" % len(av))
    for tag, value in av.items():
        if tag == "S":
            if type(value) is not str:
                raise TypeError("S key value must be a str, not %s" % type(value).__name__)
            return (<str>value).encode("utf-8")
        if tag == "N":
            if type(value) is not str:
                raise TypeError("N key value must be a str, not %s" % type(value).__name__)
            return encode_n(value)
        if tag == "B":
            return encode_b(value)
        raise ValueError("not a key type: %r" % (tag,))


# ---------------------------------------------------------------------------
# Items: validation of the common shapes, plain values -> AttributeValues
# ---------------------------------------------------------------------------
#
# kvstore/values.py decides what DynamoDB accepts and stores, and words every
# error.  The functions below only answer, faster, for the items where that
# decision is plain: every value S, an already-canonical N, BOOL, NULL (true),
# B as bytes, or an M or L of those, nested at most _FAST_DEPTH levels.  For
# anything else -- an error to report, a number to rewrite, a set, base64
# text -- they return None and the caller runs values.py, which raises the
# exact error or returns the normalised item.  Hence no DynamoDB error here.
# The same holds for the key checks (api/items.py, the embedded API's) and
# the conversions to and from plain values (embedded.py).
# tests/unit/test_values_fast.py holds each to its Python on random items.

cdef enum:
    _FAST_DEPTH = 16           # well inside DynamoDB's 32 levels
    _FAST_NUMBER_CHARS = 40    # longer number texts go to values.py


cdef Py_ssize_t _utf8_size(str s):
    """len(s.encode("utf-8", "surrogatepass")) without encoding."""
    if PyUnicode_IS_ASCII(s):
        return PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t n = 0
    cdef Py_UCS4 c
    for c in s:
        if c < 0x80:
            n += 1
        elif c < 0x800:
            n += 2
        elif c < 0x10000:
            n += 3                 # lone surrogates too (surrogatepass)
        else:
            n += 4
    return n


cdef Py_ssize_t _canonical_number_size(str v):
    """The size values.py gives the number ``v`` if ``v`` is already its
    canonical text (plain notation: "-12.5", "0.05", "100"), else -1."""
    if not PyUnicode_IS_ASCII(v):
        return -1
    return _canonical_number_text_size(PyUnicode_1BYTE_DATA(v), PyUnicode_GET_LENGTH(v))


cdef Py_ssize_t _canonical_number_text_size(const unsigned char *p, Py_ssize_t length) noexcept nogil:
    """_canonical_number_size of the number text at ``p`` (``length`` bytes)."""
    if length == 0 or length > _FAST_NUMBER_CHARS:
        return -1
    cdef Py_ssize_t i = 0, int_start, int_len, frac_len = 0, zeros = 0, n, adjusted
    cdef int negative = 0
    if p[0] == b'-':
        negative = 1
        i = 1
    int_start = i
    while i < length and b'0' <= p[i] <= b'9':
        i += 1
    int_len = i - int_start
    if int_len == 0 or (int_len > 1 and p[int_start] == b'0'):
        return -1                  # ".5", "-", "007": values.py rewrites or refuses
    if i < length:
        if p[i] != b'.':
            return -1              # an exponent, a sign, anything else
        i += 1
        while i < length and b'0' <= p[i] <= b'9':
            i += 1
        frac_len = length - (int_start + int_len + 1)
        if i < length or frac_len == 0 or p[length - 1] == b'0':
            return -1              # "1.", "1.50", "1.5x"
    if int_len == 1 and p[int_start] == b'0':
        if frac_len == 0:
            return -1 if negative else 1          # "-0" is stored as "0"
        # 0.000ddd: significant digits after the zeros
        while p[int_start + 2 + zeros] == b'0':
            zeros += 1
        n = frac_len - zeros
        adjusted = -(zeros + 1)
    else:
        adjusted = int_len - 1
        if frac_len:
            n = int_len + frac_len
        else:
            n = int_len
            while p[int_start + n - 1] == b'0':
                n -= 1
    if n > 38:
        return -1
    return 1 + (n + 1) // 2 + (1 if (n & 1) == 0 and (adjusted & 1) == 0 else 0) + negative


cdef Py_ssize_t _fast_value_size(object av, int depth):
    """The size of an AttributeValue values.py would store unchanged, or -1."""
    if type(av) is not dict or PyDict_GET_SIZE(av) != 1:
        return -1
    cdef Py_ssize_t size, n
    for tag, v in (<dict>av).items():
        if type(tag) is not str:
            return -1
        if tag == "S":
            return _utf8_size(v) if type(v) is str else -1
        if tag == "N":
            return _canonical_number_size(v) if type(v) is str else -1
        if tag == "BOOL":
            return 1 if type(v) is bool else -1
        if tag == "NULL":
            return 1 if v is True else -1
        if tag == "B":
            return PyBytes_GET_SIZE(v) if type(v) is bytes else -1
        if depth >= _FAST_DEPTH:
            return -1
        if tag == "M":
            if type(v) is not dict:
                return -1
            size = 3
            for name, child in (<dict>v).items():
                if type(name) is not str:
                    return -1
                n = _fast_value_size(child, depth + 1)
                if n < 0:
                    return -1
                size += 1 + _utf8_size(name) + n
            return size
        if tag == "L":
            if type(v) is not list:
                return -1
            size = 3
            for child in <list>v:
                n = _fast_value_size(child, depth + 1)
                if n < 0:
                    return -1
                size += 1 + n
            return size
        return -1
    return -1


def validate_item_fast(item):
    """(item, size) exactly as values.validate_item_with_size returns them,
    for an item of the common shapes only (see above); None otherwise."""
    if type(item) is not dict:
        return None
    cdef Py_ssize_t size = 0, n
    for name, av in (<dict>item).items():
        if type(name) is not str:
            return None
        n = _fast_value_size(av, 1)
        if n < 0:
            return None
        size += _utf8_size(name) + n
    return item, size


cdef object _1E38 = 10 ** 38
cdef object _MINUS_1E38 = -10 ** 38


cdef object _plain_av(object v, int depth, Py_ssize_t *size):
    """kvstore.embedded.to_av(v) when what it gives is stored unchanged by
    values.py (its size added to ``size[0]``), else None."""
    cdef type t = type(v)
    cdef Py_ssize_t n
    cdef dict m
    cdef list l
    if t is str:
        size[0] += _utf8_size(v)
        return {"S": v}
    if t is bool:
        size[0] += 1
        return {"BOOL": v}
    if t is int or t is Decimal:
        if t is int and not (_MINUS_1E38 < v < _1E38):
            return None            # str() of a huge int is slow, or refused
        text = str(v)
        n = _canonical_number_size(text)
        if n < 0:
            return None
        size[0] += n
        return {"N": text}
    if v is None:
        size[0] += 1
        return {"NULL": True}
    if t is bytes:
        size[0] += PyBytes_GET_SIZE(v)
        return {"B": v}
    if depth >= _FAST_DEPTH:
        return None
    if t is dict:
        m = {}
        size[0] += 3
        for name, child in (<dict>v).items():
            if type(name) is not str:
                return None
            av = _plain_av(child, depth + 1, size)
            if av is None:
                return None
            size[0] += 1 + _utf8_size(name)
            m[name] = av
        return {"M": m}
    if t is list or t is tuple:
        l = []
        size[0] += 3
        for child in v:
            av = _plain_av(child, depth + 1, size)
            if av is None:
                return None
            size[0] += 1
            l.append(av)
        return {"L": l}
    return None


def plain_item_fast(item):
    """(wire item, size): what kvstore.embedded.to_wire(item) and then
    values.validate_item_with_size give, for a dict of the common plain
    types (str, bool, int, Decimal in plain notation, None, bytes, dict,
    list, tuple); None for anything else, errors included."""
    if type(item) is not dict:
        return None
    cdef Py_ssize_t size = 0
    cdef dict out = {}
    for name, v in (<dict>item).items():
        if type(name) is not str:
            return None
        av = _plain_av(v, 1, &size)
        if av is None:
            return None
        size += _utf8_size(name)
        out[name] = av
    return out, size


cdef object _av_plain(object av, int depth):
    """kvstore.embedded.from_av(av) for a stored value of the common types
    (S, N, BOOL, NULL, bytes B, M and L of those); _NOT_PLAIN otherwise."""
    if type(av) is not dict or PyDict_GET_SIZE(av) != 1:
        return _NOT_PLAIN
    cdef dict m
    cdef list l
    for tag, v in (<dict>av).items():
        if tag == "S":
            return v
        if tag == "N":
            return Decimal(v)
        if tag == "BOOL":
            return v
        if tag == "NULL":
            return None
        if tag == "B":
            return v if type(v) is bytes else _NOT_PLAIN
        if depth >= _FAST_DEPTH:
            return _NOT_PLAIN
        if tag == "M" and type(v) is dict:
            m = {}
            for name, child in (<dict>v).items():
                x = _av_plain(child, depth + 1)
                if x is _NOT_PLAIN:
                    return _NOT_PLAIN
                m[name] = x
            return m
        if tag == "L" and type(v) is list:
            l = []
            for child in <list>v:
                x = _av_plain(child, depth + 1)
                if x is _NOT_PLAIN:
                    return _NOT_PLAIN
                l.append(x)
            return l
        return _NOT_PLAIN
    return _NOT_PLAIN


cdef object _NOT_PLAIN = object()


def wire_item_plain(item):
    """kvstore.embedded.from_wire(item) for a stored item of the common
    types (see _av_plain); None for anything else (sets, base64 text)."""
    if type(item) is not dict:
        return None
    cdef dict out = {}
    for name, av in (<dict>item).items():
        x = _av_plain(av, 1)
        if x is _NOT_PLAIN:
            return None
        out[name] = x
    return out


cdef object _plain_key_av(str type_, object v, Py_ssize_t max_bytes):
    """{type_: v} as AttributeValue when the plain value ``v`` is certainly
    a valid key value of that type (max_bytes its limit), else None."""
    cdef int overflow = 0
    if type_ == "S":
        # A character is at most 4 UTF-8 bytes.
        if type(v) is str and 0 < PyUnicode_GET_LENGTH(v) <= max_bytes // 4:
            return {"S": v}
    elif type_ == "N":
        if type(v) is int:
            # 38 digits at most: a valid number (the cheap test first)
            PyLong_AsLongLongAndOverflow(v, &overflow)
            if not overflow or _MINUS_1E38 < v < _1E38:
                return {"N": str(v)}
    elif type_ == "B":
        if type(v) is bytes and 0 < PyBytes_GET_SIZE(v) <= max_bytes:
            return {"B": v}
    return None


def plain_key_fast(key, str hash_name, str hash_type, range_name, range_type):
    """(hash AttributeValue, range AttributeValue or None) of a plain key
    (kvstore.embedded) that is certainly valid for the table: a dict of
    exactly the key attributes, each a str, int or bytes that DynamoDB
    accepts whatever its content (see _plain_key_av); None otherwise."""
    if type(key) is not dict or PyDict_GET_SIZE(key) != (1 if range_name is None else 2):
        return None
    v = (<dict>key).get(hash_name, _NOT_PLAIN)
    if v is _NOT_PLAIN:
        return None
    hav = _plain_key_av(hash_type, v, 2048)
    if hav is None:
        return None
    if range_name is None:
        return hav, None
    v = (<dict>key).get(range_name, _NOT_PLAIN)
    if v is _NOT_PLAIN:
        return None
    rav = _plain_key_av(range_type, v, 1024)
    if rav is None:
        return None
    return hav, rav


cdef bint _item_key_ok(object av, str type_, Py_ssize_t max_bytes):
    """Whether ``av``, a value of a validated item, is certainly a valid key
    value of type ``type_`` (max_bytes its limit)."""
    if type(av) is not dict or PyDict_GET_SIZE(av) != 1:
        return False
    v = (<dict>av).get(type_)
    if type_ == "S":
        return type(v) is str and 0 < PyUnicode_GET_LENGTH(v) <= max_bytes // 4
    if type_ == "N":
        return type(v) is str   # validated: a number of 38 digits at most
    return type(v) is bytes and 0 < PyBytes_GET_SIZE(v) <= max_bytes


def item_key_fast(item, str hash_name, str hash_type, range_name, range_type):
    """(hash AttributeValue, range AttributeValue or None) of a validated
    item whose key attributes are certainly valid for the table (the right
    types, non-empty, within DynamoDB's limits whatever their characters);
    None otherwise."""
    hav = (<dict?>item).get(hash_name)
    if not _item_key_ok(hav, hash_type, 2048):
        return None
    if range_name is None:
        return hav, None
    rav = (<dict>item).get(range_name)
    if not _item_key_ok(rav, range_type, 1024):
        return None
    return hav, rav


cdef bint _wire_key_ok(object av, str type_, Py_ssize_t max_bytes):
    """Whether ``av``, a key value as it arrives on the wire (not yet
    validated), is certainly a valid key value of type ``type_`` that
    values.validate_value returns unchanged: S of 1..limit UTF-8 bytes (no
    lone surrogate), or N already in canonical text (B is base64 text on
    the wire: never)."""
    if type(av) is not dict or PyDict_GET_SIZE(av) != 1:
        return False
    v = (<dict>av).get(type_)
    if type(v) is not str:
        return False
    if type_ == "S":
        return 0 < PyUnicode_GET_LENGTH(v) and 0 <= _key_utf8_size(v) <= max_bytes
    if type_ == "N":
        return _canonical_number_size(v) >= 0
    return False


cdef Py_ssize_t _key_utf8_size(str s):
    """UTF-8 size of a key string, or -1 if it holds a lone surrogate (which
    UTF-8 cannot encode: the Python path decides what that answers)."""
    if PyUnicode_IS_ASCII(s):
        return PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t n = 0
    cdef Py_UCS4 c
    for c in s:
        if c < 0x80:
            n += 1
        elif c < 0x800:
            n += 2
        elif 0xD800 <= c <= 0xDFFF:
            return -1
        elif c < 0x10000:
            n += 3
        else:
            n += 4
    return n


def wire_key_fast(key, str hash_name, str hash_type, range_name, range_type):
    """(hash AttributeValue, range AttributeValue or None) of a request's
    ``Key`` (wire form, unvalidated) that ``kvstore.api.items.key_from_key``
    certainly accepts unchanged: a dict of exactly the key attributes, each
    {type: value} with the schema's type, S non-empty within its limit, N
    canonical; None otherwise (the Python then runs, and raises)."""
    if type(key) is not dict or PyDict_GET_SIZE(key) != (1 if range_name is None else 2):
        return None
    hav = (<dict>key).get(hash_name)
    if not _wire_key_ok(hav, hash_type, 2048):
        return None
    if range_name is None:
        return hav, None
    rav = (<dict>key).get(range_name)
    if not _wire_key_ok(rav, range_type, 1024):
        return None
    return hav, rav


def value_size_fast(av):
    """The size values.validate_value's walk gives ``av`` when it returns
    ``av`` unchanged and valid (S, canonical N, BOOL, NULL, bytes B, M and L
    of those); -1 for anything else, errors included."""
    return _fast_value_size(av, 1)


# ---------------------------------------------------------------------------
# Ring
# ---------------------------------------------------------------------------

cdef class Ring:
    """Consistent-hash ring with virtual nodes over the 64-bit token space.

    Vnode j of node n sits at token ``hash64(b"kvstore-ring:%d:%d" % (n, j))``.
    The vnodes sorted by (token, node, j) are the partitions 0..len-1; partition
    i owns the tokens t with tokens[i-1] < t <= tokens[i]. Partition 0 is the
    wrapping one: it owns (tokens[-1], 2**64-1] and [0, tokens[0]].

    ``partition_range(i)`` is ``(start_exclusive, end_inclusive)``. For i > 0
    that is the plain half-open interval (start < end, or start == end for the
    empty arc of a vnode whose token collides with its predecessor's). For
    i == 0 it is always ``(tokens[-1], tokens[0])`` read as the wrap described
    above; with a single vnode that is the whole token space.
    """

    cdef uint64_t *_tokens
    cdef int64_t *_owners
    cdef Py_ssize_t _n
    cdef readonly list nodes
    cdef readonly int vnodes

    def __cinit__(self):
        self._tokens = NULL
        self._owners = NULL
        self._n = 0

    def __init__(self, nodes, int vnodes=64):
        cdef list ns = [int(n) for n in nodes]
        cdef Py_ssize_t i
        if not ns:
            raise ValueError("a ring needs at least one node")
        if len(set(ns)) != len(ns):
            raise ValueError("duplicate node in %r" % (ns,))
        if vnodes < 1:
            raise ValueError("vnodes must be >= 1, got %d" % vnodes)
        points = sorted(
            (hash64(b"kvstore-ring:%d:%d" % (n, j)), n, j) for n in ns for j in range(vnodes)
        )
        n_points = len(points)
        tokens = <uint64_t *>malloc(n_points * sizeof(uint64_t))
        owners = <int64_t *>malloc(n_points * sizeof(int64_t))
        if tokens == NULL or owners == NULL:
            free(tokens)
            free(owners)
            raise MemoryError()
        for i in range(n_points):
            tokens[i] = points[i][0]
            owners[i] = points[i][1]
        free(self._tokens)
        free(self._owners)
        self._tokens = tokens
        self._owners = owners
        self._n = n_points
        self.nodes = ns
        self.vnodes = vnodes

    def __dealloc__(self):
        free(self._tokens)
        free(self._owners)

    def __len__(self):
        return self._n

    def __repr__(self):
        return "Ring(%r, vnodes=%d)" % (self.nodes, self.vnodes)

    cdef inline Py_ssize_t _find(self, uint64_t token) noexcept:
        # First vnode token >= token (lower bound), wrapping past the end to 0.
        cdef Py_ssize_t lo = 0, hi = self._n, mid
        while lo < hi:
            mid = (lo + hi) >> 1
            if self._tokens[mid] < token:
                lo = mid + 1
            else:
                hi = mid
        return 0 if lo == self._n else lo

    cdef inline Py_ssize_t _index(self, Py_ssize_t index) except -1:
        if index < 0 or index >= self._n:
            raise IndexError("partition index out of range: %d" % index)
        return index

    def partition_of(self, uint64_t token):
        """Index of the partition owning ``token``."""
        return self._find(token)

    def owner(self, uint64_t token):
        """Node owning ``token``."""
        return self._owner(token)

    cdef inline int64_t _owner(self, uint64_t token) noexcept:
        return self._owners[self._find(token)]

    def partition_owner(self, Py_ssize_t index):
        """Node owning partition ``index``."""
        return self._owners[self._index(index)]

    def partition_range(self, Py_ssize_t index):
        """``(start_exclusive, end_inclusive)`` tokens of partition ``index``;
        partition 0 wraps (see the class docstring)."""
        self._index(index)
        if index == 0:
            return (self._tokens[self._n - 1], self._tokens[0])
        return (self._tokens[index - 1], self._tokens[index])

    def partitions_of(self, node):
        """Indexes (in token order) of the partitions owned by ``node``; [] if
        the node is not on the ring."""
        cdef int64_t n
        cdef Py_ssize_t i
        try:
            n = node
        except OverflowError:
            return []
        return [i for i in range(self._n) if self._owners[i] == n]

    @property
    def tokens(self):
        """The vnode tokens in partition order (ascending)."""
        return [self._tokens[i] for i in range(self._n)]


# ---------------------------------------------------------------------------
# Partition
# ---------------------------------------------------------------------------

cdef inline bytes _order_key(uint64_t token, bytes hk):
    # (token, hk) as one bytes whose bytewise order is the tuple's order:
    # the token as 8 big-endian bytes, then the partition-key bytes.
    cdef Py_ssize_t n = PyBytes_GET_SIZE(hk)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 8 + n)
    cdef unsigned char *o = <unsigned char *>PyBytes_AS_STRING(out)
    cdef int i
    for i in range(8):
        o[i] = <unsigned char>((token >> (56 - 8 * i)) & 0xFF)
    if n:
        memcpy(o + 8, PyBytes_AS_STRING(hk), n)
    return out


@cython.no_gc
cdef class _Collection:
    """The items of one partition key, in one of two shapes:

    * one item (every hash-only table): ``sk1``/``item1`` hold it inline and
      ``items``, ``sizes`` and ``keys`` are None, so no dict or SortedList is
      paid for; ``nbytes`` is its size;
    * two items or more: ``items`` (sk -> item), ``sizes`` (sk -> size, the
      int given at put) and ``keys`` (SortedList of every sk); ``sk1`` and
      ``item1`` are None.

    put promotes the first shape to the second; delete demotes back.

    Not seen by the cyclic GC (``no_gc``): nothing it holds can refer back
    to it.  ``raw1`` / ``raws`` hold the items' JSON as the server's encoder
    writes it (``json_encode``): a cache filled by a reader
    (``Partition.get_raw``) and dropped by every put and delete of the item
    (items are never changed in place, so that is every change), kept
    across promotion and demotion.  An item the fast writes stored as its
    JSON alone (``store_writes``) is ``_JSON`` in ``item1`` / ``items``, its
    JSON the only copy in ``raw1`` / ``raws``: the dict readers decode it
    (``_decoded``), each time -- a decoded copy kept beside it would bring
    back the tree whose freeing the JSON form saves.
    """
    cdef uint64_t tok                 # the token (a C field: put compares it without
                                      # touching another object)
    cdef readonly bytes hk
    cdef readonly bytes okey          # _order_key(token, hk): the scan order
    cdef bytes sk1
    cdef object item1
    cdef dict items
    cdef dict sizes
    cdef object keys
    cdef Py_ssize_t nbytes
    cdef bytes raw1                   # encode(item1), once a reader asked for it
    cdef dict raws                    # sk -> encode(items[sk]), likewise (or None)

    @property
    def token(self):
        return self.tok

    def __init__(self, token, bytes hk, bytes sk, item, Py_ssize_t size):
        self.tok = token
        self.hk = hk
        self.okey = _order_key(token, hk)
        self.sk1 = sk
        self.item1 = item
        self.nbytes = size


def prefix_bounds(bytes prefix not None):
    """``(lo, hi)`` such that the byte strings starting with ``prefix`` are
    exactly those with lo <= s < hi (hi None: no upper bound). For begins_with
    on a sort key: ``query(hk, lo, hi, True, False)``."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(prefix)
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(prefix)
    while n > 0 and p[n - 1] == 0xFF:
        n -= 1
    if n == 0:
        return (prefix, None)
    # A fresh object (NULL source): CPython shares its 1-byte bytes objects,
    # so a copy made from p could be a singleton that must not be written.
    cdef bytes hi = PyBytes_FromStringAndSize(NULL, n)
    cdef unsigned char *h = <unsigned char *>PyBytes_AS_STRING(hi)
    memcpy(h, p, n)
    h[n - 1] += 1
    return (prefix, hi)


cdef enum:
    _UNTRACK_DEPTH = 40        # past DynamoDB's 32 levels


cdef void _untrack(object o, int depth):
    """Take a stored item's containers off the cyclic GC's lists.  Items are
    trees (JSON: no cycles) and never changed in place, so the collector has
    nothing to find in them, and walking every stored item on each full
    collection costs the server dearly.  A container CPython left untracked
    holds no container, so the walk stops there."""
    if depth > _UNTRACK_DEPTH or not PyObject_GC_IsTracked(o):
        return
    if type(o) is dict:
        PyObject_GC_UnTrack(<PyObject *>o)
        for v in (<dict>o).values():
            if type(v) is dict or type(v) is list:
                _untrack(v, depth + 1)
    elif type(o) is list:
        PyObject_GC_UnTrack(<PyObject *>o)
        for v in <list>o:
            if type(v) is dict or type(v) is list:
                _untrack(v, depth + 1)


cdef inline bint _in_bounds(bytes sk, lo, hi, bint lo_inclusive, bint hi_inclusive):
    if lo is not None and (sk < lo or (not lo_inclusive and sk == lo)):
        return False
    if hi is not None and (sk > hi or (not hi_inclusive and sk == hi)):
        return False
    return True


# The items stored as their JSON alone, and the codec of that JSON: the
# server's wire JSON (server/app.py answers with json_encode).

json_encode = msgspec.json.Encoder().encode
json_decode = msgspec.json.Decoder().decode

cdef object _encode = json_encode
cdef object _decode = json_decode
cdef object _JSON = object()      # an item slot whose item is its JSON alone


cdef bint _has_binary(bytes raw):
    """Whether the JSON ``raw`` holds ``"B":"`` or ``"BS":["`` (a memchr
    walk over the B characters: ``in`` costs as much as the encoding)."""
    cdef const char *first = PyBytes_AS_STRING(raw)
    cdef const char *limit = first + PyBytes_GET_SIZE(raw)
    cdef const char *p = first + 1
    while p + 3 < limit:
        p = <const char *>memchr(p, b'B', limit - 3 - p)
        if p == NULL:
            return False
        if (p - 1)[0] == b'"':
            if p[1] == b'"' and p[2] == b':' and p[3] == b'"':
                return True
            if (p + 5 < limit and p[1] == b'S' and p[2] == b'"' and p[3] == b':' and p[4] == b'['
                    and p[5] == b'"'):
                return True
        p += 1
    return False


cdef bytes _json_form(dict item):
    """json_encode(item) when json_decode gives ``item`` back exactly, else
    None.  ``item`` is a validated item (kvstore/values.py's wire form):
    dicts, lists, str, bool, True, and bytes in B and BS values (the
    embedded API's).  JSON round-trips all of them but two: bytes (written
    as base64 text) and a str with a lone surrogate (which UTF-8 cannot
    write: encoding raises).  A B or BS value shows in the JSON as
    ``"B":"`` or ``"BS":["`` -- and only one does: no other key of such an
    item has a string value (or a list of them), and a string's own quotes
    are escaped.  (A B or BS value of base64 text is refused too: rare,
    and merely stored as itself.)"""
    try:
        raw = _encode(item)
    except UnicodeEncodeError:
        return None
    return None if _has_binary(raw) else raw


cdef inline object _decoded(object item, object raw):
    """The item an item slot and its JSON stand for: ``item``, or ``raw``
    decoded when the item is stored as its JSON alone."""
    return _decode(raw) if item is _JSON else item


cdef inline object _item_at(_Collection c, bytes sk):
    """The item under sk in a collection of two items or more (which is there)."""
    item = c.items[sk]
    return _decode(c.raws[sk]) if item is _JSON else item


def _pairs(_Collection c, it):
    for sk in it:
        yield (sk, _item_at(c, sk))


def _scan(Partition part, bytes first_okey, _Collection first, bytes after_sk):
    cdef _Collection c
    cdef dict colls = part._colls
    if first is not None:
        if first.items is None:
            if first.sk1 > after_sk:
                yield (first.token, first.hk, first.sk1, _decoded(first.item1, first.raw1))
        else:
            for sk in first.keys.irange(after_sk, None, (False, True)):
                yield (first.token, first.hk, sk, _item_at(first, sk))
    if first_okey is None:
        it = iter(part._order)
    else:
        it = part._order.irange(first_okey, None, (False, True))
    for okey in it:
        c = colls[okey[8:]]
        if c.items is None:
            yield (c.token, c.hk, c.sk1, _decoded(c.item1, c.raw1))
        else:
            for sk in c.keys:
                yield (c.token, c.hk, sk, _item_at(c, sk))


# The items' JSON, cached beside them for the server's answers (the
# splicing fast paths of kvstore/api): ``encode`` is the server's encoder,
# json_encode (an item stored as its JSON alone is answered as stored).

cdef object _raw_of(_Collection c, bytes sk, encode):
    """encode(item under sk in c), cached; None if there is no such item."""
    cdef object raw
    if c.items is None:
        if c.sk1 != sk:
            return None
        raw = c.raw1
        if raw is None:
            raw = encode(c.item1)
            c.raw1 = raw
        return raw
    if c.raws is None:
        c.raws = {}
    raw = c.raws.get(sk)
    if raw is None:
        item = c.items.get(sk)
        if item is None:
            return None
        raw = encode(item)
        c.raws[sk] = raw
    return raw


cdef Py_ssize_t _size_of(_Collection c, bytes sk):
    """The size stored with the item under sk (which is there)."""
    if c.items is None:
        return c.nbytes
    return c.sizes[sk]


cdef class Partition:
    """Storage of one ring partition of one table (see the module docstring).

    Items are opaque objects (wire-form dicts), stored and returned as-is
    (untracked by the cyclic GC: see _untrack); None is not an item.  The
    fast writes' items, stored as their JSON alone (see _Collection), are
    returned decoded: equal to the item put, a new dict each time.
    ``size`` at put is the caller's measure of the item (DynamoDB's item
    size); the partition only sums it.
    """

    cdef dict _colls                  # hk -> _Collection
    cdef object _order                # SortedList of every collection's okey
    cdef Py_ssize_t _count
    cdef Py_ssize_t _bytes

    prefix_bounds = staticmethod(prefix_bounds)

    def __init__(self):
        self._colls = {}
        self._order = SortedList()
        self._count = 0
        self._bytes = 0

    def __len__(self):
        return self._count

    def item_count(self):
        return self._count

    @property
    def size_bytes(self):
        """Sum of the sizes given at put of the items stored."""
        return self._bytes

    def collection_size(self, bytes hk not None):
        """Sum of the sizes of the items of one partition key; 0 if none."""
        cdef _Collection c = self._colls.get(hk)
        return 0 if c is None else c.nbytes

    def get(self, bytes hk not None, bytes sk not None):
        """The item stored under (hk, sk), or None."""
        cdef _Collection c = self._colls.get(hk)
        if c is None:
            return None
        if c.items is None:
            return _decoded(c.item1, c.raw1) if c.sk1 == sk else None
        if sk not in c.items:
            return None
        return _item_at(c, sk)

    def get_sized(self, bytes hk not None, bytes sk not None):
        """(item, its size as given at put) stored under (hk, sk), or None."""
        cdef _Collection c = self._colls.get(hk)
        if c is None:
            return None
        if c.items is None:
            if c.sk1 == sk:
                return _decoded(c.item1, c.raw1), c.nbytes
            return None
        if sk not in c.items:
            return None
        return _item_at(c, sk), c.sizes[sk]

    def get_raw(self, bytes hk not None, bytes sk not None, encode):
        """``encode(item)`` of the item stored under (hk, sk) -- cached beside
        it until the item is replaced or deleted; an item stored as its JSON
        answers that, so ``encode`` must be json_encode -- or None."""
        cdef _Collection c = self._colls.get(hk)
        if c is None:
            return None
        return _raw_of(c, sk, encode)

    def query_raw(self, bytes hk not None, lo, hi, bint lo_inclusive, bint hi_inclusive, bint reverse, encode):
        """``[encode(item) for _sk, item in query(hk, lo, hi, ...)]`` (no
        start_after), each cached as by get_raw."""
        cdef _Collection c = self._colls.get(hk)
        cdef list out = []
        cdef dict raws
        if c is None:
            return out
        if c.items is None:
            if _in_bounds(c.sk1, lo, hi, lo_inclusive, hi_inclusive):
                out.append(_raw_of(c, c.sk1, encode))
            return out
        if c.raws is None:
            c.raws = {}
        raws = c.raws
        if lo is None and hi is None:
            it = reversed(c.keys) if reverse else c.keys
        else:
            it = c.keys.irange(lo, hi, (lo_inclusive, hi_inclusive), reverse)
        for sk in it:
            raw = raws.get(sk)
            if raw is None:
                raw = encode(c.items[sk])
                raws[sk] = raw
            out.append(raw)
        return out

    def put(self, token, bytes hk not None, bytes sk not None, item, size, bint want_old=True):
        """Store ``item`` under (hk, sk) and return the item it replaces, or
        None; always None when not ``want_old`` (a writer with no use for the
        old item spares decoding one stored as its JSON)."""
        cdef Py_ssize_t n = size
        if item is None:
            raise TypeError("None is not an item")
        if n < 0:
            raise ValueError("item size must be >= 0, got %d" % n)
        return self._put(token, hk, sk, item, None, n, want_old)

    cdef object _put(self, token, bytes hk, bytes sk, item, bytes raw, Py_ssize_t n, bint want_old):
        """put, its arguments checked (item not None, n >= 0).  ``raw`` is
        None, or the item's JSON and ``item`` _JSON: stored as its JSON alone.
        The replaced item is returned (decoded) when ``want_old``, else
        dropped unread (None)."""
        cdef _Collection c
        old = None
        size = n
        if type(item) is dict:
            _untrack(item, 0)
        c = self._colls.get(hk)
        if c is None:
            # _Collection() range-checks the token: [0, 2**64) else OverflowError
            c = _Collection(token, hk, sk, item, n)
            c.raw1 = raw
            self._order.add(c.okey)
            self._colls[hk] = c
            self._count += 1
            self._bytes += n
            return None
        if type(token) is int and 0 <= token <= 0xFFFFFFFFFFFFFFFF:
            if <uint64_t>token != c.tok:
                raise ValueError("token %r differs from the collection's token %r" % (token, c.token))
        elif token != c.token:
            raise ValueError("token %r differs from the collection's token %r" % (token, c.token))
        if c.items is None:
            if c.sk1 == sk:                            # overwrite the only item
                if want_old:
                    old = _decoded(c.item1, c.raw1)
                c.item1 = item
                c.raw1 = raw
                self._bytes += n - c.nbytes
                c.nbytes = n
                return old
            c.items = {c.sk1: c.item1, sk: item}       # a second item: promote
            c.sizes = {c.sk1: c.nbytes, sk: size}
            c.keys = SortedList((c.sk1, sk))
            if c.raw1 is not None or raw is not None:
                c.raws = {}
                if c.raw1 is not None:
                    c.raws[c.sk1] = c.raw1
                if raw is not None:
                    c.raws[sk] = raw
            c.sk1 = None
            c.item1 = None
            c.raw1 = None
            c.nbytes += n
            self._count += 1
            self._bytes += n
            return None
        if sk in c.items:
            if want_old:
                old = _item_at(c, sk)
            n -= <Py_ssize_t>c.sizes[sk]
        else:
            c.keys.add(sk)
            self._count += 1
        c.items[sk] = item
        c.sizes[sk] = size
        if raw is not None:
            if c.raws is None:
                c.raws = {}
            c.raws[sk] = raw
        elif c.raws is not None:
            c.raws.pop(sk, None)
        c.nbytes += n
        self._bytes += n
        return old

    def delete(self, bytes hk not None, bytes sk not None):
        """Remove the item under (hk, sk) and return it, or None if absent."""
        return self._delete(hk, sk, True)

    cdef object _delete(self, bytes hk, bytes sk, bint want_old):
        """delete; the item removed is returned (decoded) when ``want_old``,
        else dropped unread (None)."""
        cdef _Collection c = self._colls.get(hk)
        cdef Py_ssize_t n
        if c is None:
            return None
        if c.items is None:
            if c.sk1 != sk:
                return None
            del self._colls[hk]
            self._order.remove(c.okey)
            self._count -= 1
            self._bytes -= c.nbytes
            return _decoded(c.item1, c.raw1) if want_old else None
        if sk not in c.items:
            return None
        old = _item_at(c, sk) if want_old else None
        del c.items[sk]
        n = c.sizes.pop(sk)
        if c.raws is not None:
            c.raws.pop(sk, None)
        c.keys.remove(sk)
        c.nbytes -= n
        self._count -= 1
        self._bytes -= n
        if len(c.items) == 1:                          # one item left: demote
            (sk1, item1), = c.items.items()
            c.sk1 = sk1
            c.item1 = item1
            c.raw1 = None if c.raws is None else c.raws.get(sk1)
            c.items = None
            c.sizes = None
            c.keys = None
            c.raws = None
        return old

    def query(self, bytes hk not None, lo=None, hi=None, bint lo_inclusive=True,
              bint hi_inclusive=True, bint reverse=False, start_after=None):
        """Iterator over (sk, item) of the collection ``hk`` with lo <= sk <= hi
        (bounds None: unbounded; the flags make them exclusive), ascending or
        descending; ``start_after`` is an exclusive resume point in the
        iteration's direction. O(log n + k)."""
        cdef _Collection c = self._colls.get(hk)
        if c is None:
            return iter(())
        if start_after is not None:
            if reverse:
                if hi is None or start_after <= hi:
                    hi = start_after
                    hi_inclusive = False
            else:
                if lo is None or start_after >= lo:
                    lo = start_after
                    lo_inclusive = False
        if c.items is None:
            if _in_bounds(c.sk1, lo, hi, lo_inclusive, hi_inclusive):
                return iter(((c.sk1, _decoded(c.item1, c.raw1)),))
            return iter(())
        return _pairs(c, c.keys.irange(lo, hi, (lo_inclusive, hi_inclusive), reverse))

    def scan(self, after=None):
        """Iterator over (token, hk, sk, item) in (token, hk, sk) order, strictly
        after the position ``after`` = (token, hk, sk) if given (which need not
        be stored any more)."""
        cdef _Collection first = None
        cdef bytes okey = None, a_hk, a_sk = None
        if after is not None:
            a_token, a_hk, a_sk = after
            okey = _order_key(a_token, a_hk)
            first = self._colls.get(a_hk)
            if first is not None and first.okey != okey:
                first = None
        return _scan(self, okey, first, a_sk)

    def _check(self):
        """Assert every invariant; raise AssertionError on the first broken one."""
        cdef _Collection c
        cdef Py_ssize_t count = 0, total = 0
        self._order._check()
        assert len(self._order) == len(self._colls), "order and dict disagree on collections"
        prev = None
        for okey in self._order:
            c = self._colls.get(okey[8:])
            assert c is not None and c.okey == okey, "order key %r has no collection" % (okey,)
            assert c.okey == _order_key(c.tok, c.hk), "stale order key for %r" % (c.hk,)
            assert prev is None or prev < okey, "collections out of order at %r" % (c.hk,)
            prev = okey
            assert c.nbytes >= 0, "negative size in %r" % (c.hk,)
            if c.items is None:
                assert c.sizes is None and c.keys is None and c.raws is None, \
                    "half-promoted collection %r" % (c.hk,)
                assert c.sk1 is not None and c.item1 is not None, "empty collection %r kept" % (c.hk,)
                assert c.item1 is not _JSON or c.raw1 is not None, "JSON-only item without JSON in %r" % (c.hk,)
                count += 1
            else:
                assert c.sk1 is None and c.item1 is None and c.raw1 is None, "stale inline item in %r" % (c.hk,)
                assert c.raws is None or c.raws.keys() <= c.items.keys(), "cached JSON of a gone item in %r" % (c.hk,)
                assert len(c.items) >= 2, "collection %r of %d items not demoted" % (c.hk, len(c.items))
                assert c.items.keys() == c.sizes.keys(), "items and sizes disagree in %r" % (c.hk,)
                assert None not in c.items.values(), "None stored as an item in %r" % (c.hk,)
                assert all(c.raws is not None and sk in c.raws for sk, item in c.items.items() if item is _JSON), \
                    "JSON-only item without JSON in %r" % (c.hk,)
                assert all(s >= 0 for s in c.sizes.values()), "negative size in %r" % (c.hk,)
                assert c.nbytes == sum(c.sizes.values()), "size of %r is off" % (c.hk,)
                c.keys._check()
                assert list(c.keys) == sorted(c.items), "sort keys of %r disagree" % (c.hk,)
                count += len(c.items)
            total += c.nbytes
        assert count == self._count, "item count %d != %d" % (self._count, count)
        assert total == self._bytes, "size_bytes %d != %d" % (self._bytes, total)


# ---------------------------------------------------------------------------
# The server's reads, spliced from cached JSON
# ---------------------------------------------------------------------------
#
# One call from a request's wire ``Key`` (or a BatchGetItem table's
# ``Keys``) to the stored items' JSON: the checks of wire_key_fast, the key
# codec, the ring, the table's partition and the item, with no Python frame
# between.  ``partitions`` is the table's ring index -> Partition mapping,
# looked up as Python does (a multi-worker table answers another worker's
# partition with an object that is not a Partition: the caller's general
# path then runs, and routes).  Like the other fast functions these decide
# nothing: None means "not certain", and the caller runs its Python.

cdef bytes _wire_key_bytes(dict av, str type_):
    # A value _wire_key_ok accepted: S (no lone surrogate) or canonical N.
    v = av[type_]
    if type_ == "S":
        return (<str>v).encode("utf-8")
    return encode_n(v)


cdef tuple _locate_wire(key, str hash_name, str hash_type, range_name, range_type, Ring ring, partitions):
    """(Partition, hk, sk) of a wire key certainly valid, or None."""
    if type(key) is not dict or PyDict_GET_SIZE(key) != (1 if range_name is None else 2):
        return None
    hav = (<dict>key).get(hash_name)
    if not _wire_key_ok(hav, hash_type, 2048):
        return None
    cdef bytes sk = b""
    if range_name is not None:
        rav = (<dict>key).get(range_name)
        if not _wire_key_ok(rav, range_type, 1024):
            return None
        sk = _wire_key_bytes(rav, range_type)
    cdef bytes hk = _wire_key_bytes(hav, hash_type)
    cdef uint64_t token = _hash(hk)
    part = partitions[ring._find(token)]
    if type(part) is not Partition:
        return None
    return part, hk, sk


def read_raw(key, str hash_name not None, str hash_type not None, range_name, range_type, Ring ring not None,
             partitions, encode):
    """``encode(item)`` of the item a request's wire ``Key`` names (cached as
    by Partition.get_raw), b"" when there is none, or None when the key is
    not one wire_key_fast accepts (or its partition is not here)."""
    cdef tuple found = _locate_wire(key, hash_name, hash_type, range_name, range_type, ring, partitions)
    if found is None:
        return None
    cdef _Collection c = (<Partition>found[0])._colls.get(found[1])
    if c is None:
        return b""
    raw = _raw_of(c, <bytes>found[2], encode)
    return b"" if raw is None else raw


def read_raws(keys, str hash_name not None, str hash_type not None, range_name, range_type, Ring ring not None,
              partitions, encode):
    """For a BatchGetItem table's ``Keys``: (the found items' ``encode(item)``
    in key order, the sum of their stored sizes), or None unless ``keys`` is
    a list of 1..100 keys that wire_key_fast accepts, no key twice."""
    if type(keys) is not list or not 0 < len(<list>keys) <= 100:
        return None
    cdef list out = []
    cdef set seen = set()
    cdef Py_ssize_t total = 0, n = len(<list>keys)
    cdef _Collection c
    cdef tuple found
    cdef bytes sk
    for key in <list>keys:
        found = _locate_wire(key, hash_name, hash_type, range_name, range_type, ring, partitions)
        if found is None:
            return None
        seen.add(found[1:])  # (hk, sk): the item's identity in its table
        c = (<Partition>found[0])._colls.get(found[1])
        if c is None:
            continue
        sk = found[2]
        raw = _raw_of(c, sk, encode)
        if raw is not None:
            out.append(raw)
            total += _size_of(c, sk)
    if len(seen) != n:
        return None
    return out, total


# ---------------------------------------------------------------------------
# The server's plain BatchWriteItem (kvstore/api/batch.py batch_write_fast)
# ---------------------------------------------------------------------------
#
# Three coarse calls per table of a batch, in the general path's order:
# plain_writes checks every WriteRequest (nothing located), locate_writes
# finds each item's Partition (no item read), store_writes applies them.
# Like the other fast functions these decide nothing: None means "not
# certain", and the caller runs its Python, which answers the same.

cdef Py_ssize_t _plain_item_size(item):
    """validate_item_fast's size of ``item``, or -1 where it answers None."""
    if type(item) is not dict:
        return -1
    cdef Py_ssize_t size = 0, n
    for name, av in (<dict>item).items():
        if type(name) is not str:
            return -1
        n = _fast_value_size(av, 1)
        if n < 0:
            return -1
        size += _utf8_size(name) + n
    return size


def plain_writes(requests, str hash_name not None, str hash_type not None, range_name, range_type,
                 Py_ssize_t max_size):
    """[(hash AV, range AV or None, item or None, size), ...] of one table's
    WriteRequests when each is a PutRequest of only an Item that
    validate_item_fast accepts (size <= max_size, key certain as by
    item_key_fast) or a DeleteRequest of only a Key that wire_key_fast
    accepts (item None, size 0); else None."""
    if type(requests) is not list or not requests:
        return None
    cdef list out = []
    cdef Py_ssize_t size
    cdef Py_ssize_t keys = 1 if range_name is None else 2
    for request in <list>requests:
        if type(request) is not dict or PyDict_GET_SIZE(request) != 1:
            return None
        put = (<dict>request).get("PutRequest")
        if put is not None:
            if type(put) is not dict or PyDict_GET_SIZE(put) != 1:
                return None
            item = (<dict>put).get("Item")
            size = _plain_item_size(item)
            if size < 0 or size > max_size:
                return None
            hav = (<dict>item).get(hash_name)
            if not _item_key_ok(hav, hash_type, 2048):
                return None
            if range_name is None:
                rav = None
            else:
                rav = (<dict>item).get(range_name)
                if not _item_key_ok(rav, range_type, 1024):
                    return None
            out.append((hav, rav, item, size))
        else:
            delete = (<dict>request).get("DeleteRequest")
            if type(delete) is not dict or PyDict_GET_SIZE(delete) != 1:
                return None
            key = (<dict>delete).get("Key")
            if type(key) is not dict or PyDict_GET_SIZE(key) != keys:
                return None
            hav = (<dict>key).get(hash_name)
            if not _wire_key_ok(hav, hash_type, 2048):
                return None
            if range_name is None:
                rav = None
            else:
                rav = (<dict>key).get(range_name)
                if not _wire_key_ok(rav, range_type, 1024):
                    return None
            out.append((hav, rav, None, 0))
    return out


def locate_writes(list writes not None, Ring ring not None, partitions):
    """[(Partition, token, hk, sk), ...] of plain_writes' writes, as
    Table.locate finds them; None if one item is named twice or a
    partition is not a Partition here (the caller's Python then decides)."""
    cdef list out = []
    cdef set seen = set()
    cdef bytes hk, sk
    cdef uint64_t token
    cdef tuple key
    for write in writes:
        key = _write_key(<tuple>write, seen)
        if key is None:
            return None
        hk, sk = key
        token = _hash(hk)
        part = partitions[ring._find(token)]
        if type(part) is not Partition:
            return None
        out.append((part, token, hk, sk))
    return out


cdef tuple _write_key(tuple write, set seen):
    """``(hk, sk)`` of a plain write (plain_writes' form), added to ``seen``;
    None when ``seen`` has it already: an item named twice."""
    hk = encode_key_value(write[0])
    rav = write[1]
    cdef tuple key = (hk, b"" if rav is None else encode_key_value(rav))
    if key in seen:
        return None
    seen.add(key)
    return key


cdef void _store_plain(Partition part, token, bytes hk, bytes sk, dict item, Py_ssize_t size):
    """Put a validated item as its JSON alone when that is exact
    (_json_form), else as itself; the item replaced is dropped unread."""
    cdef bytes raw = _json_form(item)
    if raw is None:
        part._put(token, hk, sk, item, None, size, False)
    else:
        part._put(token, hk, sk, _JSON, raw, size, False)


def store_writes(list writes not None, list locs not None):
    """Apply locate_writes' writes in order, as Table.write / Table.remove
    do for a table with no index, no stream and no log: put each item
    (as _store_plain), delete each key (the items replaced are dropped)."""
    cdef Py_ssize_t i
    cdef tuple write, loc
    for i in range(len(writes)):
        write = <tuple>writes[i]
        loc = <tuple>locs[i]
        item = write[2]
        if item is not None:
            _store_plain(<Partition>loc[0], loc[1], <bytes>loc[2], <bytes>loc[3], <dict>item,
                         <Py_ssize_t>write[3])
        else:
            (<Partition>loc[0])._delete(<bytes>loc[2], <bytes>loc[3], False)


# The parts of a plain BatchWriteItem sent to the workers that own them
# (server/cluster.py): the front finds each write's owner and stored form
# once (route_writes), the owner only stores them (store_part).  A part is
# the bytes of a forward frame's body, written and read here only, so it
# is built in place with no intermediate objects and read with one copy a
# key or item:
#
#   part  := table*
#   table := u32 len, table name (UTF-8), u32 len, table id (UTF-8), u32 n, write * n
#   write := u32 len, hk, u32 len, sk, u32 len, JSON, i64 size
#
# (little-endian).  JSON is the put's item as store_writes stores it, or
# the deleted key's; size is the item's, -1 for a delete.  With the JSON
# the front can give the part back in request form (routed_writes).

cdef inline void _write32(unsigned char *p, uint64_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF
    p[2] = (v >> 16) & 0xFF
    p[3] = (v >> 24) & 0xFF


cdef inline unsigned char *_put_field(unsigned char *w, const char *data, Py_ssize_t size) noexcept nogil:
    """Write a length-prefixed field at ``w``; the address past it."""
    _write32(w, <uint64_t>size)
    memcpy(w + 4, data, size)
    return w + 4 + size


cdef inline Py_ssize_t _field_size(Py_ssize_t size) except -1:
    if size > 0xFFFFFFFF:
        raise OverflowError("a part's field is longer than 4 GB")
    return 4 + size


def route_writes(table, list requests not None, list writes not None, dict groups not None, dict forms):
    """Split one table's plain writes by owner: ``writes`` are plain_writes'
    of ``requests``, each owned by the node that ``table.ring`` gives its
    partition (as Table.locate finds it).  Each request is appended to
    ``groups[owner][table.name]``; when ``forms`` is a dict, each write's
    stored form (key bytes, a put's JSON as store_writes stores it, a
    delete's key as JSON, the size) to the part ``forms[owner]`` (a
    bytearray, see above), in a section of ``table.name`` and
    ``table.table_id``.  Returns None if one item is named twice; else
    whether the forms are complete (False: ``forms`` was None, or a put has
    no _json_form; then nothing was added to them)."""
    cdef Ring ring = table.ring
    name = table.name
    cdef set seen = set()
    cdef bytes raw
    cdef uint64_t token
    cdef dict by_table
    cdef list found
    cdef list keys = []     # per write: (hk, sk), then its JSON
    cdef tuple key
    cdef Py_ssize_t i, n = len(writes)
    cdef _Routed routed = _Routed(n)
    for i in range(n):
        write = <tuple>writes[i]
        key = _write_key(write, seen)
        if key is None:
            return None
        token = _hash(<bytes>key[0])
        owner = routed.owners[i] = ring._owner(token)
        by_table = groups.get(owner)
        if by_table is None:
            by_table = groups[owner] = {}
        found = by_table.get(name)
        if found is None:
            found = by_table[name] = []
        found.append(requests[i])
        if forms is None:
            continue
        item = write[2]
        if item is None:
            raw = _encode((<dict>(<dict>requests[i])["DeleteRequest"])["Key"])
            routed.sizes[i] = -1
        else:
            raw = _json_form(<dict>item)
            if raw is None:
                forms = None
                continue
            routed.sizes[i] = write[3]
        keys += (key, raw)
    if forms is None:
        return False
    routed.fill(forms, name, table.table_id, keys)
    return True


cdef class _Routed:
    """route_writes' writes of one table in C arrays (each one's owner and
    size), and how they are added to the owners' parts: each part grown
    once, to its exact size (appended field by field, a part was
    reallocated at nearly every field)."""

    cdef Py_ssize_t n
    cdef int64_t *owners
    cdef int64_t *sizes
    cdef Py_ssize_t *at     # per write: its owner's place in ``distinct``

    def __cinit__(self, Py_ssize_t n):
        self.n = n
        self.owners = <int64_t *>malloc((n + 1) * sizeof(int64_t))
        self.sizes = <int64_t *>malloc((n + 1) * sizeof(int64_t))
        self.at = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
        if self.owners == NULL or self.sizes == NULL or self.at == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.owners)
        free(self.sizes)
        free(self.at)

    cdef int fill(self, dict forms, str name, str table_id, list keys) except -1:
        """Append the writes (``keys``: per write its (hk, sk) and JSON) to
        their owners' parts in ``forms``: per owner a section of ``name``,
        ``table_id``, the count, the writes."""
        cdef Py_ssize_t name_size, id_size, i, j, owners = 0
        cdef const char *name_data = PyUnicode_AsUTF8AndSize(name, &name_size)
        cdef const char *id_data = PyUnicode_AsUTF8AndSize(table_id, &id_size)
        cdef Py_ssize_t head = _field_size(name_size) + _field_size(id_size) + 4
        # Per owner (the first n entries of the arrays below, reused):
        # its node, the bytes of its writes, their count, then where the next goes.
        cdef int64_t *node = <int64_t *>malloc((self.n + 1) * sizeof(int64_t))
        cdef Py_ssize_t *size = <Py_ssize_t *>malloc((self.n + 1) * sizeof(Py_ssize_t))
        cdef Py_ssize_t *count = <Py_ssize_t *>malloc((self.n + 1) * sizeof(Py_ssize_t))
        cdef unsigned char **w = <unsigned char **>malloc((self.n + 1) * sizeof(unsigned char *))
        cdef bytearray part
        cdef Py_ssize_t start
        cdef tuple key
        cdef bytes hk, sk, raw
        try:
            if node == NULL or size == NULL or count == NULL or w == NULL:
                raise MemoryError()
            for i in range(self.n):
                for j in range(owners):
                    if node[j] == self.owners[i]:
                        break
                else:
                    j = owners
                    owners += 1
                    node[j] = self.owners[i]
                    size[j] = head
                    count[j] = 0
                self.at[i] = j
                key = <tuple>keys[2 * i]
                size[j] += (_field_size(PyBytes_GET_SIZE(<bytes>key[0])) + _field_size(PyBytes_GET_SIZE(<bytes>key[1]))
                            + _field_size(PyBytes_GET_SIZE(<bytes>keys[2 * i + 1])) + 8)
                count[j] += 1
            for j in range(owners):
                part = forms.get(node[j])
                if part is None:
                    part = forms[node[j]] = bytearray()
                start = PyByteArray_GET_SIZE(part)
                PyByteArray_Resize(part, start + size[j])
                w[j] = <unsigned char *>PyByteArray_AS_STRING(part) + start
                w[j] = _put_field(w[j], name_data, name_size)
                w[j] = _put_field(w[j], id_data, id_size)
                _write32(w[j], <uint64_t>count[j])
                w[j] += 4
            for i in range(self.n):
                j = self.at[i]
                key = <tuple>keys[2 * i]
                hk, sk, raw = key[0], key[1], keys[2 * i + 1]
                w[j] = _put_field(w[j], PyBytes_AS_STRING(hk), PyBytes_GET_SIZE(hk))
                w[j] = _put_field(w[j], PyBytes_AS_STRING(sk), PyBytes_GET_SIZE(sk))
                w[j] = _put_field(w[j], PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))
                _write32(w[j], <uint64_t>self.sizes[i])
                _write32(w[j] + 4, <uint64_t>self.sizes[i] >> 32)
                w[j] += 8
        finally:
            free(node)
            free(size)
            free(count)
            free(w)
        return 0


cdef class _PartReader:
    """Reads a part (bytes or bytearray, not resized meanwhile) from its
    start; ValueError at a field that overruns it."""

    cdef object data            # held: ``p`` points into it
    cdef const unsigned char *p
    cdef Py_ssize_t at, end

    def __cinit__(self, data):
        if type(data) is bytes:
            self.p = <const unsigned char *>PyBytes_AS_STRING(data)
        elif type(data) is bytearray:
            self.p = <const unsigned char *>PyByteArray_AS_STRING(data)
        else:
            raise TypeError(f"a part is bytes or a bytearray, not {type(data).__name__}")
        self.data = data
        self.at = 0
        self.end = len(data)

    cdef inline const unsigned char *_take(self, Py_ssize_t size) except NULL:
        """The address of the next ``size`` bytes, then past them."""
        if size > self.end - self.at:
            raise ValueError("a truncated part")
        self.at += size
        return self.p + self.at - size

    cdef inline Py_ssize_t _u32(self) except -1:
        return <Py_ssize_t>_read32(self._take(4))

    cdef bytes field(self):
        cdef Py_ssize_t size = self._u32()
        return PyBytes_FromStringAndSize(<const char *>self._take(size), size)

    cdef inline uint64_t field_hash(self) except? 0:
        """The hash of the next field (a key's bytes), past it."""
        cdef Py_ssize_t size = self._u32()
        return xxh64(self._take(size), size)

    cdef inline int skip(self) except -1:
        self._take(self._u32())
        return 0

    cdef str text(self):
        cdef Py_ssize_t size = self._u32()
        return PyUnicode_DecodeUTF8(<const char *>self._take(size), size, NULL)

    cdef int64_t size(self) except? -2:
        return <int64_t>_read64(self._take(8))


cdef object _partition_here(partitions, Py_ssize_t index):
    """``partitions[index]``, or None where a dict (server/cluster.py's
    RemoteTablePartitions) holds none: its ``__missing__`` stand-in for
    another worker's partition is no Partition either, and the plain
    lookup costs a fifth of the subscript."""
    cdef PyObject *found
    if isinstance(partitions, dict):
        found = PyDict_GetItemWithError(partitions, index)
        return None if found == NULL else <object>found
    return partitions[index]


def store_part(part, dict tables not None):
    """Store a part that route_writes made, at its owner (``part`` bytes or
    a bytearray; ``tables`` the engine's tables by name).  First every
    table is checked (it exists, has the id the front saw -- not deleted
    and created again -- and writes alone: no index, stream or log) and
    every write's partition found; if one check fails or a partition is
    not a Partition here, nothing is written and None is returned.  Else
    the writes are applied in order, as store_writes does (a put stored
    as its JSON alone, the items replaced dropped unread): True.
    ValueError for a part that is not route_writes'.

    The first pass reads the keys in place; only the second makes the
    bytes objects that are stored."""
    cdef _PartReader reader = _PartReader(part)
    cdef list located = []      # per write, its Partition
    cdef Ring ring
    cdef Py_ssize_t n, i, j = 0
    cdef bytes hk, sk
    cdef int64_t size
    while reader.at < reader.end:
        table = tables.get(reader.text())
        if table is None or table.table_id != reader.text() or not table.writes_alone:
            return None
        ring = table.ring
        partitions = table.partitions
        n = reader._u32()
        for i in range(n):
            found = _partition_here(partitions, ring._find(reader.field_hash()))
            if type(found) is not Partition:
                return None
            located.append(found)
            reader.skip()
            reader.skip()
            reader.size()
    reader.at = 0
    while reader.at < reader.end:
        reader.skip()
        reader.skip()
        n = reader._u32()
        for i in range(n):
            hk = reader.field()
            sk = reader.field()
            raw = reader.field()
            size = reader.size()
            if size < 0:
                (<Partition>located[j])._delete(hk, sk, False)
            else:
                (<Partition>located[j])._put(_hash(hk), hk, sk, _JSON, raw, <Py_ssize_t>size, False)
            j += 1
    return True


def routed_writes(part):
    """A part that route_writes made, as data: ``[(table name, table id,
    [(hk, sk, JSON, size), ...]), ...]`` (ValueError if it is not one)."""
    cdef _PartReader reader = _PartReader(part)
    cdef list out = []
    cdef list writes
    cdef Py_ssize_t n, i
    while reader.at < reader.end:
        name = reader.text()
        table_id = reader.text()
        writes = []
        n = reader._u32()
        for i in range(n):
            writes.append((reader.field(), reader.field(), reader.field(), reader.size()))
        out.append((name, table_id, writes))
    return out


def store_item(Partition part not None, token, bytes hk not None, bytes sk not None, dict item not None,
               Py_ssize_t size):
    """Put a validated item (``size`` >= 0 its size) into a table with no
    index, stream or log (kvstore/api/items.py update_fast), stored as by
    store_writes; the replaced item is dropped."""
    if size < 0:
        raise ValueError("item size must be >= 0, got %d" % size)
    _store_plain(part, token, hk, sk, item, size)


def store_plain_item(item, str hash_name not None, str hash_type not None, range_name, range_type, Ring ring not None,
              partitions, Py_ssize_t max_size):
    """PutItem's store of ``item`` into a table with no index, stream or log
    (kvstore/api/items.py put_fast): True once stored, when validate_item_fast
    accepts it (size <= max_size), its key is certain as by item_key_fast
    and its partition is a Partition here; else None, nothing done.  Stored
    as by store_writes; the replaced item is dropped."""
    cdef Py_ssize_t size = _plain_item_size(item)
    if size < 0 or size > max_size:
        return None
    hav = (<dict>item).get(hash_name)
    if not _item_key_ok(hav, hash_type, 2048):
        return None
    cdef bytes sk = b""
    if range_name is not None:
        rav = (<dict>item).get(range_name)
        if not _item_key_ok(rav, range_type, 1024):
            return None
    cdef bytes hk = encode_key_value(hav)
    if range_name is not None:
        sk = encode_key_value(rav)
    cdef uint64_t token = _hash(hk)
    part = partitions[ring._find(token)]
    if type(part) is not Partition:
        return None
    _store_plain(<Partition>part, token, hk, sk, <dict>item, size)
    return True


# ---------------------------------------------------------------------------
# The front's routing: a single-item request's or a Query's owner from its raw JSON
# ---------------------------------------------------------------------------
#
# A multi-worker server's front (server/cluster.py Cluster.route) needs only
# the owner of a GetItem/PutItem/UpdateItem/DeleteItem's or a Query's hash
# key to forward the raw body, and decoding the whole body for it cost more
# than the rest of the forward.  wire_owner and wire_query_owner read that
# owner from the JSON bytes with no Python object built but the table (and
# index) name.  They check the whole body as msgspec's decoder would
# (RFC 8259 JSON: strings with their escapes and UTF-8, numbers, literals,
# nesting), in one pass that also finds the top-level members they read,
# so a body they answer for is one the owner decodes to the same request.
# Like the other fast functions they decide nothing: -1 means "not
# certain", and the caller decodes and routes in Python.

cdef enum:
    _WIRE_DEPTH = 80            # past DynamoDB's 32 levels (two JSON levels each),
                                # far inside msgspec's recursion limit (~1000)
    _WIRE_NUMBER_CHARS = 40     # with an exponent of 2 digits at most: numbers msgspec
                                # decodes (it refuses 1E400 or 5000 digits)


cdef struct _Member:
    const unsigned char *name         # the name's characters, between its quotes
    Py_ssize_t name_len
    bint escaped                      # the name holds a backslash escape
    const unsigned char *value        # the value's first byte
    const unsigned char *value_end    # past its last byte
    bint last                         # the object's '}' follows it
    const unsigned char *next         # past the ',' or '}' after it, and whitespace


cdef inline const unsigned char *_ws(const unsigned char *p, const unsigned char *end) noexcept nogil:
    # Past JSON whitespace.
    while p < end and (p[0] == b' ' or p[0] == b'\n' or p[0] == b'\r' or p[0] == b'\t'):
        p += 1
    return p


cdef int _hex4(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """The value of the 4 hex digits at ``p``, or -1."""
    cdef int u = 0, i
    cdef unsigned char c
    if end - p < 4:
        return -1
    for i in range(4):
        c = p[i]
        if b'0' <= c <= b'9':
            u = u * 16 + (c - 48)
        elif b'a' <= c <= b'f':
            u = u * 16 + (c - 87)     # 'a' is 97
        elif b'A' <= c <= b'F':
            u = u * 16 + (c - 55)     # 'A' is 65
        else:
            return -1
    return u


cdef const unsigned char *_json_escape(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """Past the escape at ``p`` (its backslash), or NULL unless msgspec reads
    it: one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, a surrogate only as a
    high-low pair."""
    cdef int u
    if end - p < 2:
        return NULL
    cdef unsigned char c = p[1]
    if (c == b'"' or c == b'\\' or c == b'/' or c == b'b' or c == b'f' or c == b'n' or c == b'r'
            or c == b't'):
        return p + 2
    if c != b'u':
        return NULL
    u = _hex4(p + 2, end)
    if u < 0 or 0xDC00 <= u <= 0xDFFF:
        return NULL
    if u < 0xD800 or u > 0xDBFF:
        return p + 6
    if end - p < 12 or p[6] != b'\\' or p[7] != b'u':
        return NULL
    u = _hex4(p + 8, end)
    if not 0xDC00 <= u <= 0xDFFF:
        return NULL
    return p + 12


cdef const unsigned char *_utf8_char(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """Past the multi-byte UTF-8 character at ``p``, or NULL unless it is one
    Python's strict decoder takes (no overlong form, surrogate or code point
    past U+10FFFF)."""
    cdef unsigned char c = p[0], lo = 0x80, hi = 0xBF
    cdef Py_ssize_t n, i
    if 0xC2 <= c <= 0xDF:
        n = 1
    elif 0xE0 <= c <= 0xEF:
        n = 2
        if c == 0xE0:
            lo = 0xA0
        elif c == 0xED:
            hi = 0x9F
    elif 0xF0 <= c <= 0xF4:
        n = 3
        if c == 0xF0:
            lo = 0x90
        elif c == 0xF4:
            hi = 0x8F
    else:
        return NULL
    if end - p <= n or not lo <= p[1] <= hi:
        return NULL
    for i in range(2, n + 1):
        if p[i] & 0xC0 != 0x80:
            return NULL
    return p + n + 1


# The bytes a JSON string holds as they are: ASCII but the control
# characters, '"' and '\\'.
cdef bint _STRING_PLAIN[256]
for _c in range(256):
    _STRING_PLAIN[_c] = 0x20 <= _c < 0x80 and _c != 0x22 and _c != 0x5C
del _c


cdef inline bint _plain8(uint64_t v) noexcept nogil:
    # Whether the 8 bytes in v are all _STRING_PLAIN: none >= 0x80, < 0x20,
    # '"' or '\\' (each test sets a byte's top bit where it finds one).
    cdef uint64_t ones = 0x0101010101010101ULL, tops = 0x8080808080808080ULL
    cdef uint64_t quote = v ^ 0x2222222222222222ULL, backslash = v ^ 0x5C5C5C5C5C5C5C5CULL
    return ((v | ((v - 0x2020202020202020ULL) & ~v) | ((quote - ones) & ~quote)
             | ((backslash - ones) & ~backslash)) & tops) == 0


cdef const unsigned char *_json_string(const unsigned char *p, const unsigned char *end, bint *escaped) noexcept nogil:
    """Past the JSON string at ``p`` (its opening quote), or NULL unless
    msgspec decodes it: no raw control character, valid escapes, valid
    UTF-8.  Sets ``escaped[0]`` when it holds an escape."""
    cdef unsigned char c
    p += 1
    while p < end:
        while end - p >= 8 and _plain8(_read64(p)):
            p += 8
        while _STRING_PLAIN[p[0]]:
            p += 1
            if p == end:
                return NULL
        c = p[0]
        if c == b'"':
            return p + 1
        if c == b'\\':
            escaped[0] = True
            p = _json_escape(p, end)
        elif c < 0x20:
            return NULL
        else:
            p = _utf8_char(p, end)
        if p == NULL:
            return NULL
    return NULL


cdef inline const unsigned char *_digits(const unsigned char *p, const unsigned char *end) noexcept nogil:
    # Past the decimal digits at p.
    while p < end and b'0' <= p[0] <= b'9':
        p += 1
    return p


cdef const unsigned char *_json_number(const unsigned char *p, const unsigned char *end) noexcept nogil:
    """Past the JSON number at ``p``, or NULL unless it is one (no leading
    zero, digits after '.' and 'e') msgspec certainly decodes: at most
    _WIRE_NUMBER_CHARS characters, an exponent of at most 2 digits."""
    cdef const unsigned char *start = p
    cdef const unsigned char *q
    if p < end and p[0] == b'-':
        p += 1
    if p < end and p[0] == b'0':
        p += 1
    else:
        q = p
        p = _digits(p, end)
        if p == q:
            return NULL
    if p < end and p[0] == b'.':
        q = p + 1
        p = _digits(q, end)
        if p == q:
            return NULL
    if p < end and (p[0] == b'e' or p[0] == b'E'):
        p += 1
        if p < end and (p[0] == b'+' or p[0] == b'-'):
            p += 1
        q = p
        p = _digits(p, end)
        if p == q or p - q > 2:
            return NULL
    if p - start > _WIRE_NUMBER_CHARS:
        return NULL
    return p


cdef inline const unsigned char *_json_word(const unsigned char *p, const unsigned char *end, const char *word,
                                            Py_ssize_t n) noexcept nogil:
    # Past the literal ``word`` (true, false, null) at p, or NULL.
    if end - p < n or memcmp(p, word, n) != 0:
        return NULL
    return p + n


cdef const unsigned char *_json_value(const unsigned char *p, const unsigned char *end, int depth) noexcept nogil:
    """Past the JSON value at ``p``, inside ``depth`` levels of nesting, or
    NULL unless it is well-formed and nests at most _WIRE_DEPTH levels."""
    cdef bint escaped = False
    if p >= end:
        return NULL
    cdef unsigned char c = p[0]
    if c == b'"':
        return _json_string(p, end, &escaped)
    if c == b'{':
        return _json_object(p, end, depth + 1)
    if c == b'[':
        return _json_array(p, end, depth + 1)
    if c == b't':
        return _json_word(p, end, "true", 4)
    if c == b'f':
        return _json_word(p, end, "false", 5)
    if c == b'n':
        return _json_word(p, end, "null", 4)
    return _json_number(p, end)


cdef bint _json_member(const unsigned char *p, const unsigned char *end, int depth, _Member *m) noexcept nogil:
    """Read the member at ``p`` (its name's opening quote) of an object
    ``depth`` levels deep into ``m``: False unless it is well-formed and
    followed by ',' or '}'."""
    if p >= end or p[0] != b'"':
        return False
    m.escaped = False
    m.name = p + 1
    p = _json_string(p, end, &m.escaped)
    if p == NULL:
        return False
    m.name_len = p - 1 - m.name
    p = _ws(p, end)
    if p >= end or p[0] != b':':
        return False
    m.value = _ws(p + 1, end)
    m.value_end = _json_value(m.value, end, depth)
    if m.value_end == NULL:
        return False
    p = _ws(m.value_end, end)
    if p >= end or (p[0] != b',' and p[0] != b'}'):
        return False
    m.last = p[0] == b'}'
    m.next = _ws(p + 1, end)
    return True


cdef const unsigned char *_json_object(const unsigned char *p, const unsigned char *end, int depth) noexcept nogil:
    """Past the JSON object at ``p`` (its '{'), ``depth`` levels deep, or NULL."""
    cdef _Member m
    if depth > _WIRE_DEPTH:
        return NULL
    p = _ws(p + 1, end)
    if p < end and p[0] == b'}':
        return p + 1
    while True:
        if not _json_member(p, end, depth, &m):
            return NULL
        if m.last:
            return m.next
        p = m.next


cdef const unsigned char *_json_array(const unsigned char *p, const unsigned char *end, int depth) noexcept nogil:
    """Past the JSON array at ``p`` (its '['), ``depth`` levels deep, or NULL."""
    if depth > _WIRE_DEPTH:
        return NULL
    p = _ws(p + 1, end)
    if p < end and p[0] == b']':
        return p + 1
    while True:
        p = _json_value(p, end, depth)
        if p == NULL:
            return NULL
        p = _ws(p, end)
        if p >= end:
            return NULL
        if p[0] == b']':
            return p + 1
        if p[0] != b',':
            return NULL
        p = _ws(p + 1, end)


cdef inline bint _named(_Member *m, const char *name, Py_ssize_t n) noexcept nogil:
    # Whether m's (unescaped) name is the n bytes at name.
    return m.name_len == n and memcmp(m.name, name, n) == 0


cdef inline bint _plain_string(_Member *m) noexcept nogil:
    # Whether m's value is a string with no escape: its characters, between
    # the quotes, are then its UTF-8 as they stand.
    return m.value[0] == b'"' and memchr(m.value, b'\\', m.value_end - m.value) == NULL


cdef struct _Wanted:
    const char *name                  # a top-level member's name
    Py_ssize_t name_len
    int count                         # how many times the body holds it
    _Member member                    # the last of them


cdef inline void _want(_Wanted *w, const char *name, Py_ssize_t n) noexcept nogil:
    # Look for the top-level member ``name`` (n bytes), none seen yet.
    w.name = name
    w.name_len = n
    w.count = 0


cdef inline str _string(_Member *m):
    # m's value, a string with no escape (_plain_string), as a str.
    return PyUnicode_DecodeUTF8(<const char *>m.value + 1, m.value_end - m.value - 2, NULL)


cdef bint _wire_request(const unsigned char *p, const unsigned char *end, _Wanted *wanted, int n) noexcept nogil:
    """Whether [p, end) is one well-formed JSON object (whitespace around it)
    whose member names have no escape; the members ``wanted`` (n of them)
    counted and the last of each kept, in the same pass."""
    cdef _Member m
    cdef int i
    p = _ws(p, end)
    if p >= end or p[0] != b'{':
        return False
    p = _ws(p + 1, end)
    while True:
        if not _json_member(p, end, 1, &m) or m.escaped:
            return False
        for i in range(n):
            if _named(&m, wanted[i].name, wanted[i].name_len):
                wanted[i].count += 1
                wanted[i].member = m
                break
        if m.last:
            return m.next == end
        p = m.next


cdef int _find_member(const unsigned char *p, const unsigned char *end, const char *name, Py_ssize_t n,
                      _Member *found) noexcept nogil:
    """Look for the member ``name`` (n bytes) of the object at ``p`` (its
    '{'), the value of a top-level member of a body _wire_request checked:
    1 when it is there once (into ``found``), 0 when it is not there, -1
    when not certain (there twice, or a member name of the object has an
    escape, which could spell it)."""
    cdef _Member m
    cdef int count = 0
    p = _ws(p + 1, end)
    if p >= end or p[0] == b'}':
        return 0
    while True:
        if not _json_member(p, end, 2, &m) or m.escaped:
            return -1
        if _named(&m, name, n):
            if count:
                return -1
            count = 1
            found[0] = m
        if m.last:
            return count
        p = m.next


cdef bint _s_value(const unsigned char *p, const unsigned char *end, _Member *m) noexcept nogil:
    """Whether the value at ``p`` (checked by _wire_request) is an object of
    the one member "S", a string with no escape; that member into ``m``."""
    if p[0] != b'{':
        return False
    p = _ws(p + 1, end)
    if p >= end or p[0] == b'}' or not _json_member(p, end, 3, m):
        return False
    return m.last and not m.escaped and _named(m, "S", 1) and _plain_string(m)


def wire_owner(bytes body not None, bytes member not None, dict tables not None, Ring ring not None):
    """The ring node owning the hash key of a single-item request given as
    its raw JSON ``body``: ``member`` is b"Key" (GetItem, DeleteItem,
    UpdateItem) or b"Item" (PutItem), ``tables`` the database's tables by
    name.  That is ``ring.owner(hash64(encode_key_value(req[member][hash_key])))``
    of the decoded request ``req``, answered when certain: ``body`` is one
    well-formed JSON object with no escaped member name at its top or in
    ``member``, TableName (a string with no escape) and ``member`` (an
    object) once each, the table's hash key of type S, and its value in
    ``member`` once, {"S": a string with no escape}.  -1 otherwise."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(body)
    cdef const unsigned char *end = p + PyBytes_GET_SIZE(body)
    cdef _Wanted want[2]           # TableName, member
    cdef _Member key, s
    cdef const char *name
    cdef Py_ssize_t n
    _want(&want[0], "TableName", 9)
    _want(&want[1], PyBytes_AS_STRING(member), PyBytes_GET_SIZE(member))
    if (not _wire_request(p, end, want, 2) or want[0].count != 1 or not _plain_string(&want[0].member)
            or want[1].count != 1 or want[1].member.value[0] != b'{'):
        return -1
    table = tables.get(_string(&want[0].member))
    if table is None or table.hash_type != "S":
        return -1
    try:
        name = PyUnicode_AsUTF8AndSize(table.hash_key, &n)
    except UnicodeEncodeError:
        return -1    # a lone surrogate, which no JSON request's name holds
    if _find_member(want[1].member.value, end, name, n, &key) != 1 or not _s_value(key.value, end, &s):
        return -1
    return ring._owner(xxh64(s.value + 1, s.value_end - s.value - 2))


# A Query's owner is its key condition's hash key value's, found the way
# Cluster._query_hash_value's fast shape finds it: the words of
# KeyConditionExpression split at whitespace, the first "<name> = :<v>"
# whose name is the hash key (through ExpressionAttributeNames) giving
# ExpressionAttributeValues[":<v>"].

cdef enum:
    # The members of a Query wire_query_owner reads: their places in its _Wanted.
    _Q_TABLE_NAME, _Q_INDEX_NAME, _Q_CONDITIONS, _Q_EXPRESSION, _Q_NAMES, _Q_VALUES, _Q_MEMBERS


cdef int _is_hash_key(const unsigned char *word, Py_ssize_t n, const unsigned char *names, const unsigned char *end,
                      const char *hash_key, Py_ssize_t hash_len) noexcept nogil:
    """Whether the expression's ``word`` (n ASCII bytes) names the hash key:
    ``names.get(word, word) == hash_key`` with ``names`` the
    ExpressionAttributeNames object at ``names`` (NULL: none).  -1 when not
    certain: ``word`` is there twice, or maybe as an escaped name, or with
    a value not a string with no escape; or a "#name" is not there (an
    invalid request)."""
    cdef _Member m
    cdef int found = 0
    if names != NULL:
        found = _find_member(names, end, <const char *>word, n, &m)
        if found < 0 or (found and not _plain_string(&m)):
            return -1
    if found:
        word = m.value + 1
        n = m.value_end - m.value - 2
    elif word[0] == b'#':
        return -1
    return n == hash_len and memcmp(word, hash_key, n) == 0


cdef const unsigned char *_hash_placeholder(const unsigned char *p, const unsigned char *text_end,
                                            const unsigned char *names, const unsigned char *end,
                                            const char *hash_key, Py_ssize_t hash_len,
                                            Py_ssize_t *length) noexcept nogil:
    """The placeholder of the first "<hash key> = :<v>" words of the
    expression [p, text_end) (a JSON string's characters, no escape): its
    first character, its length into ``length[0]``.  NULL when there is
    none (the Python's parser would decide) or when not certain: a
    non-ASCII character (str.split() splits at some), or see _is_hash_key.
    A JSON string holds no raw control character, so with ASCII alone the
    only whitespace str.split() sees is the space."""
    cdef const unsigned char *before = NULL    # the two words before ``word``
    cdef const unsigned char *last = NULL
    cdef const unsigned char *word
    cdef Py_ssize_t before_len = 0, last_len = 0
    cdef int named
    while True:
        while p < text_end and p[0] == b' ':
            p += 1
        if p == text_end:
            return NULL
        word = p
        while p < text_end and p[0] != b' ':
            if p[0] >= 0x80:
                return NULL
            p += 1
        if before != NULL and last_len == 1 and last[0] == b'=' and word[0] == b':':
            named = _is_hash_key(before, before_len, names, end, hash_key, hash_len)
            if named < 0:
                return NULL
            if named:
                length[0] = p - word
                return word
        before, before_len = last, last_len
        last, last_len = word, p - word


def wire_query_owner(bytes body not None, dict tables not None, Ring ring not None):
    """The ring node owning a Query's hash key, given its raw JSON ``body``
    and the database's ``tables`` by name: the owner
    ``ring.owner(hash64(encode_key_value(value)))`` of the value that
    server/cluster.py's ``_query_hash_value`` reads from the decoded
    request, answered when certain: ``body`` is a JSON object as
    wire_owner takes it, with TableName (naming a table) and IndexName
    (absent, or naming one of its indexes) strings with no escape, no
    KeyConditions, a KeyConditionExpression of ASCII with no escape in
    the usual shape "<hash key> = :<v> ...", ExpressionAttributeNames
    absent or an object, ExpressionAttributeValues an object holding
    ":<v>" once, {"S": a string with no escape}, and the hash key (the
    table's, or the index's) of type S.  -1 otherwise."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(body)
    cdef const unsigned char *end = p + PyBytes_GET_SIZE(body)
    cdef const unsigned char *names = NULL
    cdef _Wanted want[_Q_MEMBERS]
    cdef const unsigned char *placeholder
    cdef _Member value, s
    cdef const char *name
    cdef Py_ssize_t n, placeholder_len
    _want(&want[_Q_TABLE_NAME], "TableName", 9)
    _want(&want[_Q_INDEX_NAME], "IndexName", 9)
    _want(&want[_Q_CONDITIONS], "KeyConditions", 13)
    _want(&want[_Q_EXPRESSION], "KeyConditionExpression", 22)
    _want(&want[_Q_NAMES], "ExpressionAttributeNames", 24)
    _want(&want[_Q_VALUES], "ExpressionAttributeValues", 25)
    if (not _wire_request(p, end, want, _Q_MEMBERS) or want[_Q_CONDITIONS].count
            or want[_Q_TABLE_NAME].count != 1 or not _plain_string(&want[_Q_TABLE_NAME].member)
            or want[_Q_INDEX_NAME].count > 1 or want[_Q_NAMES].count > 1
            or want[_Q_EXPRESSION].count != 1 or not _plain_string(&want[_Q_EXPRESSION].member)
            or want[_Q_VALUES].count != 1 or want[_Q_VALUES].member.value[0] != b'{'):
        return -1
    schema = tables.get(_string(&want[_Q_TABLE_NAME].member))
    if schema is not None and want[_Q_INDEX_NAME].count:
        if not _plain_string(&want[_Q_INDEX_NAME].member):
            return -1
        schema = schema.find_index(_string(&want[_Q_INDEX_NAME].member))
    if schema is None or schema.hash_type != "S":
        return -1
    if want[_Q_NAMES].count:
        names = want[_Q_NAMES].member.value
        if names[0] != b'{':
            return -1
    try:
        name = PyUnicode_AsUTF8AndSize(schema.hash_key, &n)
    except UnicodeEncodeError:
        return -1    # a lone surrogate, which no JSON request's name holds
    placeholder = _hash_placeholder(want[_Q_EXPRESSION].member.value + 1, want[_Q_EXPRESSION].member.value_end - 1,
                                    names, end, name, n, &placeholder_len)
    if (placeholder == NULL
            or _find_member(want[_Q_VALUES].member.value, end, <const char *>placeholder, placeholder_len, &value) != 1
            or not _s_value(value.value, end, &s)):
        return -1
    return ring._owner(xxh64(s.value + 1, s.value_end - s.value - 2))


# ---------------------------------------------------------------------------
# BatchWriteItem from its raw JSON
# ---------------------------------------------------------------------------
#
# route_raw_writes makes a plain BatchWriteItem's parts (route_writes' stored
# form) straight from the request's bytes, for the requests whose decoded
# tree plain_writes would take and whose every item (or delete key) has no
# escape in a string and no member name twice.  Such an item's JSON is then
# its bytes as they stand, less any whitespace (msgspec writes none; boto3
# writes ", " and ": "), and nothing is decoded.  Anything else: None, and
# the caller decodes the request.

cdef enum:
    _RAW_NAMES = 64             # members of one object checked for a repeat; more: not taken


cdef struct _RawKey:
    const char *name                  # a key attribute's name (UTF-8)
    Py_ssize_t name_len
    const unsigned char *tag          # its value's type letter, or NULL while not seen
    const unsigned char *text         # the value's text, between its quotes
    Py_ssize_t text_len


cdef inline const unsigned char *_raw_text(const unsigned char *p, const unsigned char *end,
                                           Py_ssize_t *size) noexcept nogil:
    """Past the JSON string at ``p`` when it has no escape (its bytes are then
    its UTF-8), ``size`` the bytes between its quotes; else NULL."""
    cdef bint escaped = False
    if p >= end or p[0] != b'"':
        return NULL
    cdef const unsigned char *q = _json_string(p, end, &escaped)
    if q == NULL or escaped:
        return NULL
    size[0] = q - p - 2
    return q


cdef inline bint _repeated(const unsigned char **names, Py_ssize_t *lens, Py_ssize_t count,
                           const unsigned char *name, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(count):
        if lens[i] == n and memcmp(names[i], name, n) == 0:
            return True
    return False


cdef bint _raw_spaced = False    # whether _ws_noted passed whitespace since it was last cleared


cdef inline const unsigned char *_ws_noted(const unsigned char *p, const unsigned char *end) noexcept nogil:
    # _ws, noting in _raw_spaced whether it passed any whitespace.
    global _raw_spaced
    cdef const unsigned char *q = _ws(p, end)
    if q != p:
        _raw_spaced = True
    return q


cdef const unsigned char *_raw_value(const unsigned char *p, const unsigned char *end, int depth,
                                     Py_ssize_t *size, _RawKey *key) noexcept nogil:
    """Past the AttributeValue at ``p`` that _fast_value_size takes decoded,
    at ``depth`` (its size into ``size``), with no escape and no member name
    twice; else NULL.  ``key``, when not NULL, gets an S or N value's type
    and text."""
    cdef const unsigned char *tag
    cdef Py_ssize_t tag_len, n, members
    if p >= end or p[0] != b'{':
        return NULL
    p = _ws_noted(p + 1, end)
    tag = p + 1
    p = _raw_text(p, end, &tag_len)
    if p == NULL:
        return NULL
    p = _ws_noted(p, end)
    if p >= end or p[0] != b':':
        return NULL
    p = _ws_noted(p + 1, end)
    if tag_len == 1 and (tag[0] == b'S' or tag[0] == b'N'):
        if key != NULL:
            key.tag = tag
            key.text = p + 1
        p = _raw_text(p, end, &n)
        if p == NULL:
            return NULL
        if key != NULL:
            key.text_len = n
        if tag[0] == b'N':
            n = _canonical_number_text_size(p - n - 1, n)
            if n < 0:
                return NULL
        size[0] = n
    elif tag_len == 4 and memcmp(tag, b"BOOL", 4) == 0:
        if end - p >= 4 and memcmp(p, b"true", 4) == 0:
            p += 4
        elif end - p >= 5 and memcmp(p, b"false", 5) == 0:
            p += 5
        else:
            return NULL
        size[0] = 1
    elif tag_len == 4 and memcmp(tag, b"NULL", 4) == 0:
        if end - p < 4 or memcmp(p, b"true", 4) != 0:
            return NULL
        p += 4
        size[0] = 1
    elif depth >= _FAST_DEPTH:
        return NULL
    elif tag_len == 1 and tag[0] == b'M':
        p = _raw_members(p, end, depth + 1, &n, &members, NULL, 0)
        if p == NULL:
            return NULL
        size[0] = 3 + members + n
    elif tag_len == 1 and tag[0] == b'L':
        if p >= end or p[0] != b'[':
            return NULL
        p = _ws_noted(p + 1, end)
        n = 3
        if p < end and p[0] == b']':
            p += 1
        else:
            while True:
                p = _raw_value(p, end, depth + 1, size, NULL)
                if p == NULL:
                    return NULL
                p = _ws_noted(p, end)
                if p >= end:
                    return NULL
                n += 1 + size[0]
                if p[0] == b']':
                    p += 1
                    break
                if p[0] != b',':
                    return NULL
                p = _ws_noted(p + 1, end)
        size[0] = n
    else:
        return NULL
    p = _ws_noted(p, end)
    if p >= end or p[0] != b'}':
        return NULL
    return p + 1


cdef const unsigned char *_raw_members(const unsigned char *p, const unsigned char *end, int depth,
                                       Py_ssize_t *size, Py_ssize_t *members, _RawKey *keys,
                                       int nkeys) noexcept nogil:
    """Past the object at ``p`` (an item, a key or an M's map): member names
    with no escape and none twice (at most _RAW_NAMES), each value one
    _raw_value takes at ``depth``; ``size`` the sum of the names' bytes and
    the values' sizes, ``members`` their count.  The values of ``keys``
    (nkeys) are noted where their names are met.  Else NULL."""
    cdef const unsigned char *names[_RAW_NAMES]
    cdef Py_ssize_t lens[_RAW_NAMES]
    cdef Py_ssize_t count = 0, n, value_size
    cdef const unsigned char *name
    cdef int k
    cdef _RawKey *found
    size[0] = 0
    if p >= end or p[0] != b'{':
        return NULL
    p = _ws_noted(p + 1, end)
    if p < end and p[0] == b'}':
        members[0] = 0
        return p + 1
    while True:
        if count == _RAW_NAMES:
            return NULL
        name = p + 1
        p = _raw_text(p, end, &n)
        if p == NULL or _repeated(names, lens, count, name, n):
            return NULL
        p = _ws_noted(p, end)
        if p >= end or p[0] != b':':
            return NULL
        names[count] = name
        lens[count] = n
        count += 1
        found = NULL
        for k in range(nkeys):
            if keys[k].name_len == n and memcmp(keys[k].name, name, n) == 0:
                found = &keys[k]
        p = _raw_value(_ws_noted(p + 1, end), end, depth, &value_size, found)
        if p == NULL:
            return NULL
        p = _ws_noted(p, end)
        if p >= end:
            return NULL
        size[0] += n + value_size
        if p[0] == b'}':
            members[0] = count
            return p + 1
        if p[0] != b',':
            return NULL
        p = _ws_noted(p + 1, end)


cdef inline bint _json_space(unsigned char c) noexcept nogil:
    return c == b' ' or c == b'\n' or c == b'\r' or c == b'\t'


cdef bytes _compact(const unsigned char *p, const unsigned char *end):
    """The JSON at [p, end), checked by _raw_members (so no escape in its
    strings: each '"' opens or closes one), without its whitespace:
    msgspec's text of it."""
    cdef Py_ssize_t i, n = end - p, spaces = 0
    cdef bint text = False
    for i in range(n):
        if p[i] == b'"':
            text = not text
        elif not text and _json_space(p[i]):
            spaces += 1
    cdef bytes out = PyBytes_FromStringAndSize(<const char *>p, n - spaces)
    if not spaces:
        return out
    cdef char *w = PyBytes_AS_STRING(out)
    text = False
    for i in range(n):
        if p[i] == b'"':
            text = not text
        elif not text and _json_space(p[i]):
            continue
        w[0] = <char>p[i]
        w += 1
    return out


cdef const unsigned char *_raw_request_name(const unsigned char *p, const unsigned char *end,
                                            const unsigned char **name, Py_ssize_t *n) noexcept nogil:
    """Past ``"name" :`` and whitespace at ``p`` (a name with no escape,
    into ``name`` and ``n``); else NULL."""
    name[0] = p + 1
    p = _raw_text(p, end, n)
    if p == NULL:
        return NULL
    p = _ws(p, end)
    if p >= end or p[0] != b':':
        return NULL
    return _ws(p + 1, end)


cdef inline const unsigned char *_raw_close(const unsigned char *p, const unsigned char *end) noexcept nogil:
    # Past whitespace, '}' and whitespace at p; else NULL.
    p = _ws(p, end)
    if p >= end or p[0] != b'}':
        return NULL
    return _ws(p + 1, end)


cdef bytes _raw_key_bytes(_RawKey *key, str type_, Py_ssize_t max_bytes, bint item):
    """encode_key_value's bytes of a key value noted by _raw_members when it
    is certainly a valid key of type ``type_`` (as _item_key_ok takes an
    item's, ``item``, or _wire_key_ok a Key's); else None."""
    if key.tag == NULL:
        return None
    if type_ == "S":
        if key.tag[0] != b'S' or key.text_len == 0 or key.text_len > (max_bytes // 4 if item else max_bytes):
            return None
        return PyBytes_FromStringAndSize(<const char *>key.text, key.text_len)
    if type_ == "N" and key.tag[0] == b'N':
        return encode_n(PyUnicode_DecodeUTF8(<const char *>key.text, key.text_len, NULL))
    return None


def route_raw_writes(bytes body not None, dict tables not None, Py_ssize_t max_size):
    """The parts of a BatchWriteItem given as its raw JSON ``body``, split by
    owner: ``{owner: part}`` exactly as route_writes makes them from the
    decoded request (when plain_write_plans takes it and every table writes
    alone), for a body of only RequestItems, each table named once, in
    ``tables`` and writing alone, 1..25 requests in all, each
    ``{"PutRequest":{"Item":...}}`` or ``{"DeleteRequest":{"Key":...}}``,
    whose item or key has no escape and no member name twice,
    and is one plain_writes takes (items of at most ``max_size``), no item
    twice.  None otherwise: the caller decodes the request."""
    cdef const unsigned char *p = <const unsigned char *>PyBytes_AS_STRING(body)
    cdef const unsigned char *end = p + PyBytes_GET_SIZE(body)
    cdef const unsigned char *name
    cdef const unsigned char *start
    cdef Py_ssize_t n, size, members, total = 0, i
    cdef _RawKey keys[2]
    cdef int nkeys
    cdef bint put
    cdef Ring ring
    cdef list seen_tables = []
    cdef list writes
    cdef set seen
    cdef dict forms = {}
    cdef _Routed routed
    cdef tuple key
    cdef bytes hk, sk, raw
    global _raw_spaced
    p = _ws(p, end)
    if p >= end or p[0] != b'{':
        return None
    p = _raw_request_name(_ws(p + 1, end), end, &name, &n)
    if p == NULL or n != 12 or memcmp(name, b"RequestItems", 12) != 0 or p >= end or p[0] != b'{':
        return None
    p = _ws(p + 1, end)
    while True:
        # a table: "name": [requests]
        p = _raw_request_name(p, end, &name, &n)
        if p == NULL or p >= end or p[0] != b'[':
            return None
        table_name = PyUnicode_DecodeUTF8(<const char *>name, n, NULL)
        if table_name in seen_tables:
            return None
        seen_tables.append(table_name)
        table = tables.get(table_name)
        if table is None or not table.writes_alone:
            return None
        try:
            keys[0].name = PyUnicode_AsUTF8AndSize(table.hash_key, &keys[0].name_len)
            nkeys = 1
            if table.range_key is not None:
                keys[1].name = PyUnicode_AsUTF8AndSize(table.range_key, &keys[1].name_len)
                nkeys = 2
        except UnicodeEncodeError:
            return None
        writes = []
        p = _ws(p + 1, end)
        while True:
            # a request: {"PutRequest": {"Item": {...}}} or {"DeleteRequest": {"Key": {...}}}
            if p >= end or p[0] != b'{':
                return None
            p = _raw_request_name(_ws(p + 1, end), end, &name, &n)
            if p == NULL or p >= end or p[0] != b'{':
                return None
            if n == 10 and memcmp(name, b"PutRequest", 10) == 0:
                put = True
            elif n == 13 and memcmp(name, b"DeleteRequest", 13) == 0:
                put = False
            else:
                return None
            p = _raw_request_name(_ws(p + 1, end), end, &name, &n)
            if p == NULL or not (n == 4 and memcmp(name, b"Item", 4) == 0 if put
                                 else n == 3 and memcmp(name, b"Key", 3) == 0):
                return None
            keys[0].tag = NULL
            keys[1].tag = NULL
            start = p
            _raw_spaced = False
            p = _raw_members(p, end, 1, &size, &members, keys, nkeys)
            if p == NULL:
                return None
            if put:
                if size > max_size:
                    return None
                hk = _raw_key_bytes(&keys[0], table.hash_type, 2048, True)
                sk = b"" if nkeys == 1 else _raw_key_bytes(&keys[1], table.range_type, 1024, True)
            else:
                if members != nkeys:
                    return None
                size = -1
                hk = _raw_key_bytes(&keys[0], table.hash_type, 2048, False)
                sk = b"" if nkeys == 1 else _raw_key_bytes(&keys[1], table.range_type, 1024, False)
            if hk is None or sk is None:
                return None
            if _raw_spaced:
                raw = _compact(start, p)
            else:
                raw = PyBytes_FromStringAndSize(<const char *>start, p - start)
            writes.append(((hk, sk), raw, size))
            if total + len(writes) > 25:
                return None
            p = _raw_close(p, end)
            if p == NULL:
                return None
            p = _raw_close(p, end)
            if p == NULL or p >= end:
                return None
            if p[0] == b']':
                p = _ws(p + 1, end)
                break
            if p[0] != b',':
                return None
            p = _ws(p + 1, end)
        total += len(writes)
        # As route_writes: no item twice, each write to its owner's part.
        ring = table.ring
        seen = set()
        routed = _Routed(len(writes))
        flat = []
        for i in range(len(writes)):
            key = <tuple>(<tuple>writes[i])[0]
            if key in seen:
                return None
            seen.add(key)
            routed.owners[i] = ring._owner(_hash(<bytes>key[0]))
            routed.sizes[i] = <Py_ssize_t>(<tuple>writes[i])[2]
            flat += (key, (<tuple>writes[i])[1])
        routed.fill(forms, table_name, table.table_id, flat)
        if p >= end:
            return None
        if p[0] == b'}':
            break
        if p[0] != b',':
            return None
        p = _ws(p + 1, end)
    p = _ws(p + 1, end)
    if p >= end or p[0] != b'}' or _ws(p + 1, end) != end:
        return None
    return forms
