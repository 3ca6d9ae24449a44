"""The core's stable hash and key codec against the pure-Python oracle
(core_reference.py), and the ORDER properties the codec exists for: the
bytewise order of encoded keys is DynamoDB's order of the key values.

DynamoDB orders S keys by their UTF-8 bytes, B keys as unsigned bytes and N
keys numerically (up to 38 significant digits, magnitudes 1E-130 to
9.9999999999999999999999999999999999999E+125, zero, negatives).
"""

import base64
import os
import sys
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))
import core_reference as ref  # noqa: E402

from kvstore import _core  # noqa: E402

# Per test, not a global profile: other test modules keep their own settings.
many = settings(max_examples=300, deadline=None)

# --------------------------------------------------------------------------
# hash64
# --------------------------------------------------------------------------

# Published xxHash64 (seed 0) answers, then answers computed by the oracle for
# every length class of the algorithm (< 4, < 8, < 32, >= 32 with tails).
HASH_VECTORS = [
    (b"", 0xEF46DB3751D8E999),
    (b"a", 0xD24EC4F1A98C6E5B),
    (b"abc", 0x44BC2CF5AD770999),
    (b"Nobody inspects the spammish repetition", 0xFBCEA83C8A378BF1),
    (b"12345678901", 0x98C5A76B752DC540),
    (b"0123456789abcdef0123456789abcdef", 0x642A94958E71E6C5),
    (b"kvstore" * 10, 0x74EBB4269F060640),
    (bytes(range(100)), 0x6AC1E58032166597),
    (bytes(range(256)) * 3, 0x8E03C838C596036F),
]


@pytest.mark.parametrize("data,expected", HASH_VECTORS)
def test_hash64_known_answers(data, expected):
    # The hash decides placement on disk and across processes: it must never change.
    assert _core.hash64(data) == expected
    assert ref.hash64(data) == expected


@many
@given(st.binary(max_size=300))
def test_hash64_matches_reference(data):
    # The compiled hash is the oracle's xxHash64 for every length.
    assert _core.hash64(data) == ref.hash64(data)


@many
@given(st.binary(max_size=64))
def test_token_of_is_hash64(data):
    # A partition key's token is the hash of its encoded bytes.
    assert _core.token_of(data) == _core.hash64(data)


def test_hash64_rejects_non_bytes():
    # Placement is defined on bytes only; a str has no single byte form.
    with pytest.raises(TypeError):
        _core.hash64("abc")
    with pytest.raises(TypeError):
        _core.hash64(None)


# --------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------


@st.composite
def dynamo_numbers(draw):
    """Any number DynamoDB accepts: 1..38 significant digits, adjusted exponent
    -130..125, either sign, or zero."""
    if draw(st.integers(0, 15)) == 0:
        return Decimal(0)
    nd = draw(st.integers(1, 38))
    digits = [draw(st.integers(1, 9))] + draw(st.lists(st.integers(0, 9), min_size=nd - 1, max_size=nd - 1))
    adjusted = draw(st.one_of(st.integers(-130, 125), st.sampled_from([-130, -129, -1, 0, 1, 124, 125])))
    sign = draw(st.integers(0, 1))
    return Decimal((sign, tuple(digits), adjusted - (nd - 1)))


@st.composite
def number_pairs(draw):
    """Two DynamoDB numbers, often close: same exponent, one digit apart, one a
    digit-prefix of the other, opposite signs, or equal."""
    a = draw(dynamo_numbers())
    kind = draw(st.integers(0, 5))
    if kind == 0 or a.is_zero():
        return a, draw(dynamo_numbers())
    sign, digits, exp = a.as_tuple()
    digits = list(digits)
    if kind == 1 and len(digits) < 38:                 # a digit-extension: 1.5 vs 1.55
        return a, Decimal((sign, tuple(digits + [draw(st.integers(0, 9))]), exp - 1))
    if kind == 2:                                      # one digit changed
        i = draw(st.integers(0, len(digits) - 1))
        digits[i] = draw(st.integers(1 if i == 0 else 0, 9))
        return a, Decimal((sign, tuple(digits), exp))
    if kind == 3:
        return a, -a
    if kind == 4:                                      # same digits, next exponent
        b = Decimal((sign, tuple(digits), exp + draw(st.sampled_from([-1, 1]))))
        if -130 <= b.adjusted() <= 125:
            return a, b
    return a, a


def text_forms(d: Decimal):
    """Several spellings of the same number."""
    forms = {str(d), format(d, "f"), format(d, "E"), format(d, "e")}
    fixed = format(d, "f")
    forms.add(("%s.000" % fixed) if "." not in fixed else fixed + "000")
    forms.add(fixed.replace("-", "-00") if fixed.startswith("-") else "+00" + fixed)
    sign, digits, exp = d.as_tuple()
    body = "".join(map(str, digits)) + "00"
    forms.add(("-" if sign else "") + body + "E" + str(exp - 2))
    return sorted(forms)


# --------------------------------------------------------------------------
# N
# --------------------------------------------------------------------------


@many
@given(dynamo_numbers())
@example(Decimal("1E-130"))
@example(Decimal("-1E-130"))
@example(Decimal("9.9999999999999999999999999999999999999E+125"))
@example(Decimal("-9.9999999999999999999999999999999999999E+125"))
def test_encode_n_matches_reference(d):
    # Every spelling of a number encodes as the oracle encodes the number.
    expected = ref.encode_n(str(d))
    for form in text_forms(d):
        assert _core.encode_n(form) == expected, form
        assert _core.encode_key_value({"N": form}) == expected, form


@many
@given(number_pairs())
def test_encode_n_order_is_numeric_order(pair):
    # DynamoDB sorts N keys numerically; the encoding's byte order must agree.
    a, b = pair
    ea, eb = _core.encode_n(str(a)), _core.encode_n(str(b))
    assert (a < b) == (ea < eb)
    assert (a == b) == (ea == eb)
    assert (a > b) == (ea > eb)


def test_encode_n_sorts_a_fixed_ladder():
    # A hand-written ascending ladder across the whole range sorts the same when encoded.
    ladder = [
        "-9.9999999999999999999999999999999999999E+125", "-1E+125", "-100", "-99.99", "-10",
        "-9", "-1.55", "-1.5", "-1.05", "-1", "-0.1", "-1E-129", "-1E-130", "0",
        "1E-130", "1.5E-130", "1E-129", "0.001", "0.01", "0.1", "0.5", "1", "1.0000000000000000000000000000000000001",
        "1.05", "1.5", "1.55", "9", "9.99", "10", "10.5", "99", "100", "101", "1E+125",
        "9.9999999999999999999999999999999999999E+125",
    ]
    encoded = [_core.encode_n(x) for x in ladder]
    assert encoded == sorted(encoded)
    assert len(set(encoded)) == len(encoded)


@pytest.mark.parametrize("text", ["1.50", "15E-1", "0.15e1", "+1.5", "001.5000", "150E-2", " 1.5 ", "1_5e-1"])
def test_encode_n_equal_numbers_encode_equally(text):
    # DynamoDB treats 1.5 and 1.50 as the same key.
    assert _core.encode_n(text) == _core.encode_n("1.5")


@pytest.mark.parametrize("text", ["0", "-0", "0.000", "0E+200", "-0E-999999", "+0.0e5", "00"])
def test_encode_n_zero_has_one_encoding(text):
    # Every zero is the same key.
    assert _core.encode_n(text) == b"\x02"


@pytest.mark.parametrize("text", ["", "-", ".", "e5", "1e", "1e+", "abc", "1..2", "1.2.3", "--1", "NaN", "sNaN", "Infinity", "-inf", "0x10"])
def test_encode_n_rejects_non_numbers(text):
    # The core refuses what is not a finite decimal number with a plain ValueError.
    with pytest.raises(ValueError):
        _core.encode_n(text)


@pytest.mark.parametrize("text", ["1E+99999", "-1E+99999", "1E-99999", "1e1000000000000"])
def test_encode_n_rejects_exponents_beyond_the_encoding(text):
    # Far outside DynamoDB's range the 2-byte exponent cannot hold the number.
    with pytest.raises(ValueError):
        _core.encode_n(text)


def test_encode_n_long_mantissas_take_the_decimal_path():
    # More digits than the stack buffer holds still encode like the oracle.
    for text in ["1" + "0" * 200, "0." + "0" * 150 + "123", "1" * 120, "-" + "9" * 100 + "e-50", "\u0661\u0662"]:
        assert _core.encode_n(text) == ref.encode_n(text), text


# --------------------------------------------------------------------------
# S and B
# --------------------------------------------------------------------------

key_text = st.text(st.characters(codec="utf-8"), max_size=20) | st.sampled_from(
    ["", "\x00", "a\x00", "\uffff", "\ue000", "\U0001f600", "\U0010ffff", "\x7f", "\x80"]
)


@many
@given(key_text)
def test_encode_s_is_utf8(s):
    # DynamoDB stores and compares strings as UTF-8.
    assert _core.encode_s(s) == ref.encode_s(s) == _core.encode_key_value({"S": s})


@many
@given(key_text, key_text)
@example("\uffff", "\U0001f600")
@example("a", "a\x00")
def test_encode_s_order_is_utf8_byte_order(a, b):
    # UTF-8 byte order is code point order (not UTF-16's: U+FFFF sorts below U+1F600).
    ea, eb = _core.encode_s(a), _core.encode_s(b)
    assert (ea < eb) == (a.encode("utf-8") < b.encode("utf-8")) == (a < b)
    assert (ea == eb) == (a == b)


def test_encode_s_rejects_lone_surrogates():
    # A lone surrogate has no UTF-8 form (UnicodeEncodeError is a ValueError).
    with pytest.raises(ValueError):
        _core.encode_s("\ud800")


@many
@given(st.binary(max_size=40))
def test_encode_b_is_the_raw_bytes(b):
    # B keys compare as unsigned bytes; the wire form is base64.
    assert _core.encode_b(b) == b
    assert _core.encode_b(bytearray(b)) == b
    assert _core.encode_b(base64.b64encode(b).decode()) == b == ref.encode_b(base64.b64encode(b).decode())
    assert _core.encode_key_value({"B": b}) == b
    assert _core.encode_key_value({"B": base64.b64encode(b).decode()}) == b


@many
@given(st.binary(max_size=10), st.binary(max_size=10))
@example(b"\x7f", b"\x80")
@example(b"a", b"a\x00")
def test_encode_b_order_is_unsigned_byte_order(a, b):
    # 0x80 sorts above 0x7f: bytes are unsigned.
    assert (_core.encode_b(a) < _core.encode_b(b)) == (list(a) < list(b))


def test_encode_b_rejects_bad_base64_and_other_types():
    # A malformed base64 string is a ValueError; a number is a TypeError.
    with pytest.raises(ValueError):
        _core.encode_b("abc")
    with pytest.raises(TypeError):
        _core.encode_b(5)


# --------------------------------------------------------------------------
# encode_key_value
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "av,error",
    [
        ({}, ValueError),
        ({"S": "a", "N": "1"}, ValueError),
        ({"SS": ["a"]}, ValueError),
        ({"BOOL": True}, ValueError),
        ({"NULL": True}, ValueError),
        ({"S": 1}, TypeError),
        ({"N": 1}, TypeError),
        ({"N": "x"}, ValueError),
        ({"B": 1.5}, TypeError),
    ],
)
def test_encode_key_value_rejects_non_key_values(av, error):
    # Only S, N and B can be key attributes; the core says so with plain errors.
    with pytest.raises(error):
        _core.encode_key_value(av)


def test_encode_key_value_rejects_non_dicts():
    # The wire form of an AttributeValue is a dict.
    with pytest.raises(TypeError):
        _core.encode_key_value([("S", "a")])
