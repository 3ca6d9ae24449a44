"""Pure-Python reference of the core's hash and key codec: the oracle that
tests/unit/test_core_*.py compare kvstore._core against.

Written for obviousness, not speed: xxHash64 straight from its specification
on Python ints masked to 64 bits, and the number encoding built from
decimal.Decimal's as_tuple(). The byte layout of a number is documented at
``encode_n`` here and in kvstore/_core.pyx; the two must agree bit for bit.
"""

import base64
from decimal import Decimal

MASK = (1 << 64) - 1
P1 = 0x9E3779B185EBCA87
P2 = 0xC2B2AE3D27D4EB4F
P3 = 0x165667B19E3779F9
P4 = 0x85EBCA77C2B2AE63
P5 = 0x27D4EB2F165667C5


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc, lane):
    acc = (acc + lane * P2) & MASK
    return (_rotl(acc, 31) * P1) & MASK


def _merge(acc, v):
    acc ^= _round(0, v)
    return (acc * P1 + P4) & MASK


def hash64(data: bytes) -> int:
    """xxHash64 with seed 0."""
    n = len(data)
    pos = 0
    if n >= 32:
        v = [(P1 + P2) & MASK, P2, 0, (-P1) & MASK]
        while pos + 32 <= n:
            for lane in range(4):
                word = int.from_bytes(data[pos + 8 * lane : pos + 8 * lane + 8], "little")
                v[lane] = _round(v[lane], word)
            pos += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & MASK
        for lane in range(4):
            h = _merge(h, v[lane])
    else:
        h = P5
    h = (h + n) & MASK
    while pos + 8 <= n:
        h ^= _round(0, int.from_bytes(data[pos : pos + 8], "little"))
        h = (_rotl(h, 27) * P1 + P4) & MASK
        pos += 8
    if pos + 4 <= n:
        h ^= (int.from_bytes(data[pos : pos + 4], "little") * P1) & MASK
        h = (_rotl(h, 23) * P2 + P3) & MASK
        pos += 4
    while pos < n:
        h ^= (data[pos] * P5) & MASK
        h = (_rotl(h, 11) * P1) & MASK
        pos += 1
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    h ^= h >> 32
    return h


def encode_s(s: str) -> bytes:
    return s.encode("utf-8")


def encode_b(b) -> bytes:
    if isinstance(b, str):
        return base64.b64decode(b)
    return bytes(b)


def encode_n(s: str) -> bytes:
    """Zero is 0x02. Otherwise write |value| = 0.p1 p2 ... pm x 100**E with
    base-100 digits p (p1 != 0, pm != 0); the magnitude bytes are
    (E + 0x8000) as 2 bytes big-endian, then p+1 for each pair, then 0x00.
    Positive: 0x03 + magnitude. Negative: 0x01 + each magnitude byte
    complemented (255 - byte)."""
    d = Decimal(s)
    if not d.is_finite():
        raise ValueError("not a finite number: %r" % (s,))
    if d.is_zero():
        return b"\x02"
    sign, digits, exp = d.as_tuple()
    digits = list(digits)
    while digits[0] == 0:
        digits.pop(0)
    while digits[-1] == 0:
        digits.pop()
        exp += 1
    # |value| = 0.digits x 10**x
    x = exp + len(digits)
    if x % 2:
        digits.insert(0, 0)
        x += 1
    if len(digits) % 2:
        digits.append(0)
    e100 = x // 2 + 0x8000
    if not 1 <= e100 <= 0xFFFE:
        raise ValueError("number out of range for a key")
    pairs = [10 * digits[i] + digits[i + 1] for i in range(0, len(digits), 2)]
    magnitude = e100.to_bytes(2, "big") + bytes(p + 1 for p in pairs) + b"\x00"
    if sign:
        return b"\x01" + bytes(255 - byte for byte in magnitude)
    return b"\x03" + magnitude


def encode_key_value(av: dict) -> bytes:
    (tag, value), = av.items()
    return {"S": encode_s, "N": encode_n, "B": encode_b}[tag](value)
