"""AttributeValues: shape checks, validation, number normalisation, item size.

Items stay in DynamoDB's wire form (``{"id": {"S": "x"}, "n": {"N": "1.5"}}``),
so this module is the one place that decides whether such a value is one
DynamoDB would accept, and what it would store.  It runs on every write, so
the common case (one type key, nothing to rewrite) takes one dict lookup per
value and allocates nothing: a value is returned as the same object unless
something in it had to change (a number made canonical, an unknown member
dropped).

DynamoDB checks a request in two stages, and so do we, in one walk:

1. *Deserialization* (Coral): a member of the wrong JSON type is a
   ``SerializationException`` and wins over anything else in the request, so
   it is raised at once, wherever the walk finds it.
2. *Validation*: the first ``ValidationException`` in document order is
   remembered and raised after the walk (which keeps going only to find a
   later serialization error).  Inside one AttributeValue the members are
   checked in a fixed order (S, SS, N, NS, B, BS, M, L, BOOL, NULL), and
   "more than one datatypes" comes after the members' own checks, as
   DynamoDB reports ``{"S": "a", "N": "b"}`` as a bad number.

Numbers are stored canonically in plain notation ("01.50" -> "1.5",
"1E2" -> "100", "-0" -> "0"); their size counts base-100 digit pairs the way
DynamoDB bills them.  Key attributes (empty key strings, key length, key
types) are not checked here: that depends on the table and is the engine's.

Messages are DynamoDB's, quirks included ("An string set  may not be empty"
with its double space, "]of type BS", "dectected").
"""

import binascii
import decimal
import re

from kvstore._core import validate_item_fast
from kvstore.errors import SerializationException, ValidationException

__all__ = [
    "MAX_ITEM_SIZE",
    "MAX_NESTING_DEPTH",
    "NUMBER_CONTEXT",
    "normalize_number",
    "format_number",
    "number_key",
    "validate_value",
    "validate_item",
    "validate_item_with_size",
    "walk_item",
    "value_size",
    "item_size",
    "check_item_size",
    "decode_binary",
]

# 400 KB, names included.
MAX_ITEM_SIZE = 409600

# Documents nest at most 32 levels, counting the attribute's own value as
# level 1: a map or list *at* level 32 is refused (31 nested maps around a
# scalar are accepted, 32 are not).
MAX_NESTING_DEPTH = 32

# Past this depth the walk stops looking for serialization errors: the
# nesting error is already recorded and the recursion must stay bounded.
_WALK_LIMIT = 100

# Exact decimal arithmetic for expressions (SET a = a + :n, ADD): wide enough
# that the sum of any two storable numbers is exact (1E125 + 1E-130 needs 256
# digits); the result then goes through format_number, which applies
# DynamoDB's limits.  A local context: the global one is never touched.
NUMBER_CONTEXT = decimal.Context(
    prec=300,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999999,
    Emin=-999999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

_Decimal = decimal.Decimal

# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------

# What DynamoDB reads as a number (Java's BigDecimal syntax): optional sign,
# digits with an optional point (".5" and "5." both), optional exponent.
# No spaces, no NaN/Infinity, no hex, ASCII digits only.
_NUMBER = re.compile(r"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")


def _parse_number(text):
    """(canonical text, size in bytes) of a number; raises ValidationException."""
    # Fast path: a plain non-negative integer without leading zeros.
    if text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):
        n = len(text)
        if n <= 38:
            if text == "0":
                return text, 1
            d = len(text.rstrip("0"))
            # adjusted exponent is n - 1
            return text, 1 + (d + 1) // 2 + (1 if d % 2 == 0 and (n - 1) % 2 == 0 else 0)
    m = _NUMBER.fullmatch(text)
    if m is None:
        if text == "":
            raise ValidationException("The parameter cannot be converted to a numeric value")
        raise ValidationException(f"The parameter cannot be converted to a numeric value: {text}")
    sign, whole, frac, frac_only, exp = m.groups()
    if frac_only is not None:
        whole, frac = "", frac_only
    elif frac is None:
        frac = ""
    digits = (whole + frac).lstrip("0")
    if not digits:
        return "0", 1
    stripped = digits.rstrip("0")
    if exp is None:
        exponent = 0
    elif len(exp) > 12:
        # Far beyond either limit; int() of a huge string is also slow.
        exponent = -(10 ** 12) if exp[0] == "-" else 10 ** 12
    else:
        exponent = int(exp)
    # value = stripped * 10**exponent
    exponent += len(digits) - len(stripped) - len(frac)
    n = len(stripped)
    adjusted = exponent + n - 1  # exponent of the leading digit
    if adjusted > 125:
        raise ValidationException(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        )
    if adjusted < -130:
        raise ValidationException(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )
    if n > 38:
        raise ValidationException("Attempting to store more than 38 significant digits in a Number")
    if exponent >= 0:
        canonical = stripped + "0" * exponent
    elif -exponent < n:
        canonical = stripped[: n + exponent] + "." + stripped[n + exponent :]
    else:
        canonical = "0." + "0" * (-exponent - n) + stripped
    negative = sign == "-"
    if negative:
        canonical = "-" + canonical
    # DynamoDB's number format: base-100 digit pairs aligned on even powers
    # of ten, one exponent byte, one more byte for a negative number.  The
    # Developer Guide's "1 byte per two significant digits + 1 byte" is this,
    # rounded; the alignment adds a byte when an even count of digits starts
    # on an even power.
    size = 1 + (n + 1) // 2 + (1 if n % 2 == 0 and adjusted % 2 == 0 else 0) + negative
    return canonical, size


def normalize_number(text):
    """The canonical text of a DynamoDB number; raises ValidationException."""
    return _parse_number(text)[0]


def format_number(value):
    """A Decimal result of arithmetic, as DynamoDB would store it (or refuse it)."""
    if not value.is_finite():
        raise ValidationException(f"The parameter cannot be converted to a numeric value: {value}")
    return _parse_number(str(value))[0]


def number_key(text):
    """The value of a number for comparisons; exact, whatever its notation."""
    return _Decimal(text)


def _number_size(text):
    return _parse_number(text)[1]


# ---------------------------------------------------------------------------
# Binary
# ---------------------------------------------------------------------------

_B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUE = {c: i for i, c in enumerate(_B64_CHARS)}
_B64_BODY = re.compile(r"[A-Za-z0-9+/]*")
_BYTES_TYPES = (bytes, bytearray, memoryview)


def _base64_length(text):
    """Decoded length of a base64 member; raises SerializationException as Coral does."""
    n = len(text)
    if n % 4:
        raise SerializationException(f"Base64 encoded length is expected a multiple of 4 bytes but found: {n}")
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    body_end = n - pad
    m = _B64_BODY.match(text, 0, body_end)
    if m.end() != body_end:
        bad = text[m.end()]
        if bad == "=":
            raise SerializationException("Invalid last non-pad Base64 character dectected")
        raise SerializationException(f"Invalid Base64 character: '{bad}'")
    # The unused low bits of the last character must be zero (canonical form).
    if pad == 1 and _B64_VALUE[text[-2]] & 0x3:
        raise SerializationException("Invalid last non-pad Base64 character dectected")
    if pad == 2 and _B64_VALUE[text[-3]] & 0xF:
        raise SerializationException("Invalid last non-pad Base64 character dectected")
    return n // 4 * 3 - pad


def decode_binary(v):
    """The raw bytes of a B value: base64 text from the wire, or bytes as-is."""
    if type(v) is bytes:
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return binascii.a2b_base64(v)


def _binary_text(v):
    """How DynamoDB echoes a binary value in a message: its base64."""
    if isinstance(v, str):
        return v
    return binascii.b2a_base64(bytes(v), newline=False).decode("ascii")


# ---------------------------------------------------------------------------
# Deserialization errors (Coral's texts for a member of the wrong JSON type)
# ---------------------------------------------------------------------------


def _scalar_kind(v):
    if v is True:
        return "TRUE_VALUE"
    if v is False:
        return "FALSE_VALUE"
    if type(v) is int:
        return "NUMBER_VALUE"
    if type(v) is float:
        return "DECIMAL_VALUE"
    return None


def _not_string(v):
    """S, N, and SS/NS elements are Strings."""
    kind = _scalar_kind(v)
    if kind is not None:
        raise SerializationException(f"{kind} cannot be converted to String")
    if type(v) is list:
        raise SerializationException("Unrecognized collection type class java.lang.String")
    if type(v) is dict:
        raise SerializationException("Start of structure or map found where not expected")
    raise SerializationException("Unexpected field type")


def _not_blob(v):
    """B and BS elements are Blobs (base64 text)."""
    if type(v) is list:
        raise SerializationException("Unrecognized collection type class java.nio.ByteBuffer")
    if type(v) is dict:
        raise SerializationException("Start of structure or map found where not expected")
    raise SerializationException("only base-64-encoded strings are convertible to bytes")


def _not_boolean(v):
    """BOOL and NULL are Booleans."""
    if type(v) is str:
        raise SerializationException("Unexpected token received from parser")
    if type(v) is int:
        raise SerializationException("NUMBER_VALUE cannot be converted to Boolean")
    if type(v) is float:
        raise SerializationException("DECIMAL_VALUE cannot be converted to Boolean")
    if type(v) is list:
        raise SerializationException("Unrecognized collection type class java.lang.Boolean")
    if type(v) is dict:
        raise SerializationException("Start of structure or map found where not expected")
    raise SerializationException("Unexpected field type")


def _not_list(v):
    """SS, NS, BS and L are Lists."""
    if type(v) is dict:
        raise SerializationException("Start of structure or map found where not expected")
    raise SerializationException("Unexpected field type")


def _not_map(v):
    """M and an item are Map<String, AttributeValue>."""
    if type(v) is list:
        raise SerializationException(
            "Unrecognized collection type java.util.Map<java.lang.String, "
            "com.amazonaws.dynamodb.v20120810.AttributeValue>"
        )
    raise SerializationException("Unexpected field type")


def _not_value(v):
    """An AttributeValue (item attribute, M value, L element) is a structure."""
    if type(v) is list:
        raise SerializationException(
            "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"
        )
    raise SerializationException("Unexpected value type in payload")


# ---------------------------------------------------------------------------
# The walk.  Each checker takes (member, the value dict or None, depth, errs)
# and returns (stored value, size).  `av` is passed so an unchanged value is
# returned as the same object; None means "build a new dict".  `errs` holds
# the first ValidationException found.
# ---------------------------------------------------------------------------


def _utf8_len(s):
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _empty_value():
    return ValidationException("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")


def _nesting_error():
    return ValidationException(
        "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
    )


def _check_s(v, av, depth, errs):
    if type(v) is not str:
        _not_string(v)
    return (av if av is not None else {"S": v}), _utf8_len(v)


def _check_n(v, av, depth, errs):
    if type(v) is not str:
        _not_string(v)
    try:
        canonical, size = _parse_number(v)
    except ValidationException as e:
        if not errs:
            errs.append(e)
        return av, 0
    if canonical == v and av is not None:
        return av, size
    return {"N": canonical}, size


def _check_b(v, av, depth, errs):
    if type(v) is str:
        size = _base64_length(v)
    elif isinstance(v, _BYTES_TYPES):
        size = len(v)
    else:
        _not_blob(v)
    return (av if av is not None else {"B": v}), size


def _check_bool(v, av, depth, errs):
    if type(v) is not bool:
        _not_boolean(v)
    return (av if av is not None else {"BOOL": v}), 1


def _check_null(v, av, depth, errs):
    if type(v) is not bool:
        _not_boolean(v)
    if not v and not errs:
        errs.append(
            ValidationException(
                "One or more parameter values were invalid: Null attribute value types must have the value of true"
            )
        )
    return (av if av is not None else {"NULL": v}), 1


def _check_ss(v, av, depth, errs):
    if type(v) is not list:
        _not_list(v)
    size = 0
    for s in v:
        if type(s) is not str:
            _not_string(s)
        size += _utf8_len(s)
    if not errs:
        if not v:
            errs.append(ValidationException("One or more parameter values were invalid: An string set  may not be empty"))
        elif len(set(v)) != len(v):
            errs.append(
                ValidationException(
                    "One or more parameter values were invalid: Input collection [%s] contains duplicates."
                    % ", ".join(v)
                )
            )
    return (av if av is not None else {"SS": v}), size


def _check_ns(v, av, depth, errs):
    if type(v) is not list:
        _not_list(v)
    for s in v:
        if type(s) is not str:
            _not_string(s)
    if errs:
        return av, 0
    if not v:
        errs.append(ValidationException("One or more parameter values were invalid: An number set  may not be empty"))
        return av, 0
    size = 0
    out = None
    for i, s in enumerate(v):
        try:
            canonical, n = _parse_number(s)
        except ValidationException as e:
            errs.append(e)
            return av, 0
        size += n
        if canonical != s:
            if out is None:
                out = list(v)
            out[i] = canonical
    canon = out if out is not None else v
    # Members are the same number when numerically equal ("1" and "1.0"),
    # and the canonical text says exactly that.
    if len(set(canon)) != len(canon):
        errs.append(ValidationException("Input collection contains duplicates"))
        return av, 0
    if out is None and av is not None:
        return av, size
    return {"NS": canon}, size


def _check_bs(v, av, depth, errs):
    if type(v) is not list:
        _not_list(v)
    size = 0
    for b in v:
        if type(b) is str:
            size += _base64_length(b)
        elif isinstance(b, _BYTES_TYPES):
            size += len(b)
        else:
            _not_blob(b)
    if not errs:
        if not v:
            errs.append(ValidationException("One or more parameter values were invalid: Binary sets should not be empty"))
        elif len({decode_binary(b) for b in v}) != len(v):
            errs.append(
                ValidationException(
                    "One or more parameter values were invalid: Input collection [%s]of type BS contains duplicates."
                    % ", ".join(_binary_text(b) for b in v)
                )
            )
    return (av if av is not None else {"BS": v}), size


def _check_m(v, av, depth, errs):
    if type(v) is not dict:
        _not_map(v)
    if depth >= MAX_NESTING_DEPTH:
        if not errs:
            errs.append(_nesting_error())
        if depth >= _WALK_LIMIT:
            return av, 0
    size = 3
    out = None
    child_depth = depth + 1
    for name, child in v.items():
        new, n = _value(child, child_depth, errs)
        size += 1 + _utf8_len(name) + n
        if new is not child:
            if out is None:
                out = dict(v)
            out[name] = new
    if out is None:
        return (av if av is not None else {"M": v}), size
    return {"M": out}, size


def _check_l(v, av, depth, errs):
    if type(v) is not list:
        _not_list(v)
    if depth >= MAX_NESTING_DEPTH:
        if not errs:
            errs.append(_nesting_error())
        if depth >= _WALK_LIMIT:
            return av, 0
    size = 3
    out = None
    child_depth = depth + 1
    for i, child in enumerate(v):
        new, n = _value(child, child_depth, errs)
        size += 1 + n
        if new is not child:
            if out is None:
                out = list(v)
            out[i] = new
    if out is None:
        return (av if av is not None else {"L": v}), size
    return {"L": out}, size


# Dispatch by type tag; the order is the order DynamoDB checks the members of
# one AttributeValue in.
_CHECKS = {
    "S": _check_s,
    "SS": _check_ss,
    "N": _check_n,
    "NS": _check_ns,
    "B": _check_b,
    "BS": _check_bs,
    "M": _check_m,
    "L": _check_l,
    "BOOL": _check_bool,
    "NULL": _check_null,
}


def _value(av, depth, errs):
    """Check one AttributeValue at `depth` (an item's attribute is at 1)."""
    if type(av) is not dict:
        if av is None:
            # A JSON null where a value belongs: no datatype at all.
            if not errs:
                errs.append(_empty_value())
            return av, 0
        _not_value(av)
    if len(av) == 1:
        for tag, v in av.items():
            check = _CHECKS.get(tag)
            if check is not None and v is not None:
                return check(v, av, depth, errs)
    # Several members, unknown members (ignored, as DynamoDB ignores unknown
    # members), or nulls (a null member is an absent member).
    result = None
    size = 0
    present = 0
    for tag, check in _CHECKS.items():
        v = av.get(tag)
        if v is not None:
            present += 1
            result, size = check(v, None, depth, errs)
    if present == 1:
        return result, size
    if not errs:
        if present == 0:
            errs.append(_empty_value())
        else:
            errs.append(
                ValidationException(
                    "Supplied AttributeValue has more than one datatypes set, "
                    "must contain exactly one of the supported datatypes"
                )
            )
    return av, 0


def validate_value(av):
    """One AttributeValue as DynamoDB stores it (numbers canonical); raises."""
    errs = []
    new, _ = _value(av, 1, errs)
    if errs:
        raise errs[0]
    return new


def validate_item_with_size(item):
    """(the item as DynamoDB stores it, its size in bytes); raises.

    The size is the one check_item_size compares with MAX_ITEM_SIZE, computed
    in the same walk so a write needs only one pass over its item.  Items of
    the common shapes (S, canonical N, BOOL, NULL, bytes B, small M and L)
    are answered by the compiled core's ``validate_item_fast``; it returns
    None for anything else, errors included, and this module's walk runs.
    """
    found = validate_item_fast(item)
    if found is not None:
        return found
    return walk_item(item)


def walk_item(item):
    """validate_item_with_size without the compiled fast path: the reference
    that tests/unit/test_values_fast.py holds ``validate_item_fast`` to."""
    if type(item) is not dict:
        _not_map(item)
    errs = []
    size = 0
    out = None
    for name, av in item.items():
        new, n = _value(av, 1, errs)
        size += _utf8_len(name) + n
        if new is not av:
            if out is None:
                out = dict(item)
            out[name] = new
    if errs:
        raise errs[0]
    return (out if out is not None else item), size


def validate_item(item):
    """Every attribute of an item (PutItem's Item); the item as stored; raises."""
    return validate_item_with_size(item)[0]


# ---------------------------------------------------------------------------
# Sizes of stored (already valid) values
# ---------------------------------------------------------------------------


def _binary_size(v):
    if isinstance(v, str):
        n = len(v)
        return n // 4 * 3 - (2 if v.endswith("==") else 1 if v.endswith("=") else 0)
    return len(v)


def _map_size(m):
    size = 3
    for name, child in m.items():
        size += 1 + _utf8_len(name) + value_size(child)
    return size


def _list_size(items):
    size = 3
    for child in items:
        size += 1 + value_size(child)
    return size


_SIZERS = {
    "S": _utf8_len,
    "N": _number_size,
    "B": _binary_size,
    "BOOL": lambda v: 1,
    "NULL": lambda v: 1,
    "SS": lambda v: sum(map(_utf8_len, v)),
    "NS": lambda v: sum(map(_number_size, v)),
    "BS": lambda v: sum(map(_binary_size, v)),
    "M": _map_size,
    "L": _list_size,
}


def value_size(av):
    """Bytes DynamoDB counts for one stored value (no name).

    S: UTF-8 bytes; B: raw bytes; N: see _parse_number; BOOL, NULL: 1;
    sets: the sum of their members; L and M: 3 bytes plus, per element,
    1 byte + its size (+ its name's UTF-8 bytes in a map).
    """
    for tag, v in av.items():
        return _SIZERS[tag](v)
    return 0


def item_size(item):
    """Bytes DynamoDB counts for an item: each name's UTF-8 bytes + its value."""
    size = 0
    for name, av in item.items():
        size += _utf8_len(name) + value_size(av)
    return size


def check_item_size(item):
    """The item's size; ValidationException past 400 KB."""
    size = item_size(item)
    if size > MAX_ITEM_SIZE:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    return size
