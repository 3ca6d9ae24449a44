"""Tests of kvstore.values: AttributeValue checks, numbers, sizes.

Each test states what DynamoDB does; messages are asserted exactly, since
clients match on them.  Sources for the texts: DynamoDB's documentation,
and the messages other implementations recorded against DynamoDB itself.
"""

import base64
from decimal import Decimal

import pytest

from kvstore.errors import SerializationException, ValidationException
from kvstore.values import (
    MAX_ITEM_SIZE,
    NUMBER_CONTEXT,
    check_item_size,
    decode_binary,
    format_number,
    item_size,
    normalize_number,
    number_key,
    validate_item,
    validate_item_with_size,
    validate_value,
    value_size,
)

NOT_NUMERIC = "The parameter cannot be converted to a numeric value"
OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
UNDERFLOW = "Number underflow. Attempting to store a number with magnitude smaller than supported range"
TOO_PRECISE = "Attempting to store more than 38 significant digits in a Number"
EMPTY_AV = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
MULTI_AV = "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
NESTING = (
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
)
TOO_BIG = "Item size has exceeded the maximum allowed size"
MAP_OF_VALUES = (
    "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>"
)


def validation_message(fn, *args):
    with pytest.raises(ValidationException) as info:
        fn(*args)
    assert type(info.value) is ValidationException
    return info.value.message


def serialization_message(fn, *args):
    with pytest.raises(SerializationException) as info:
        fn(*args)
    return info.value.message


def deep_map(levels, leaf=None):
    v = leaf or {"S": "leaf"}
    for _ in range(levels):
        v = {"M": {"n": v}}
    return v


def deep_list(levels, leaf=None):
    v = leaf or {"S": "leaf"}
    for _ in range(levels):
        v = {"L": [v]}
    return v


# --- numbers: normalisation ------------------------------------------------

CANONICAL = [
    ("0", "0"),
    ("123", "123"),
    ("100", "100"),
    ("01.50", "1.5"),
    ("1E2", "100"),
    ("1e+2", "100"),
    ("1e-2", "0.01"),
    ("-0", "0"),
    ("+0", "0"),
    ("-0.000", "0"),
    ("0e1000", "0"),
    ("0.0010", "0.001"),
    ("+3", "3"),
    (".5", "0.5"),
    ("-.5", "-0.5"),
    ("5.", "5"),
    ("0001.23", "1.23"),
    ("-7.1234", "-7.1234"),
    ("-17e5", "-1700000"),
    ("-17.4E37", "-174" + "0" * 36),
    ("1E+40", "1" + "0" * 40),
    ("12.3400e-3", "0.01234"),
    ("1e-130", "0." + "0" * 129 + "1"),
    ("-1e-130", "-0." + "0" * 129 + "1"),
    ("9.9999999999999999999999999999999999999E+125", "9" * 38 + "0" * 88),
    ("-9.9999999999999999999999999999999999999E+125", "-" + "9" * 38 + "0" * 88),
    ("3.1415926535897932384626433832795028841", "3.1415926535897932384626433832795028841"),
    ("31415926535897932384626433832795028841e30", "31415926535897932384626433832795028841" + "0" * 30),
    # Leading and trailing zeros are not significant digits.
    ("000" + "1" * 38 + "000", "1" * 38 + "000"),
    ("0.000" + "1" * 38 + "000", "0.000" + "1" * 38),
    ("1" * 38 + "0" * 50, "1" * 38 + "0" * 50),
]


@pytest.mark.parametrize("text,canonical", CANONICAL)
def test_normalize_number_canonical_plain_notation(text, canonical):
    # DynamoDB stores a number in canonical plain notation: no exponent, no
    # sign on zero, no leading or trailing zeros.
    assert normalize_number(text) == canonical


@pytest.mark.parametrize(
    "text",
    ["abc", "dog", "-dog", " 1", "1 ", "NaN", "-NaN", "Infinity", "-Infinity", "0x10",
     "1e", "e5", "1e+", ".", "-", "+", "1..2", "1.2.3", "--1", "1,5", "\uff11", "1_000"],
)
def test_normalize_number_not_numeric_echoes_text(text):
    # DynamoDB refuses text that is not a number, quoting it.
    assert validation_message(normalize_number, text) == f"{NOT_NUMERIC}: {text}"


def test_normalize_number_empty_has_no_echo():
    # An empty number gets the message with nothing after it.
    assert validation_message(normalize_number, "") == NOT_NUMERIC


@pytest.mark.parametrize("text", ["1e126", "-1e126", "11e125", "1E+126", "1e99999999999999999"])
def test_normalize_number_overflow(text):
    # Magnitudes of 1E126 and above are refused.
    assert validation_message(normalize_number, text) == OVERFLOW


@pytest.mark.parametrize("text", ["1e-131", "-1e-131", "0.9e-130", "1e-99999999999999999"])
def test_normalize_number_underflow(text):
    # Non-zero magnitudes below 1E-130 are refused.
    assert validation_message(normalize_number, text) == UNDERFLOW


@pytest.mark.parametrize(
    "text",
    ["123456789012345678901234567890123456789", "-1.23456789012345678901234567890123456789",
     "3.14159265358979323846264338327950288419", "314159265358979323846264338327950288419e30"],
)
def test_normalize_number_39_significant_digits_refused(text):
    # At most 38 significant digits.
    assert validation_message(normalize_number, text) == TOO_PRECISE


def test_normalize_number_38_significant_digits_accepted():
    # 38 significant digits fit, wherever the point is.
    assert normalize_number("1" * 38) == "1" * 38
    assert normalize_number("0.00" + "9" * 38) == "0.00" + "9" * 38


def test_normalize_number_magnitude_checked_before_precision():
    # A number both too large and too precise is reported as an overflow.
    assert validation_message(normalize_number, "1" * 39 + "e100") == OVERFLOW


def test_number_key_compares_numerically():
    # Numbers compare by value, whatever their notation.
    assert number_key("1.0") == number_key("1") == Decimal(1)
    assert number_key("-1e-130") < number_key("0") < number_key("1e-130")


def test_format_number_applies_limits():
    # Arithmetic results are stored by the same rules as written numbers.
    assert format_number(NUMBER_CONTEXT.add(Decimal("1"), Decimal("1e21"))) == "1" + "0" * 20 + "1"
    assert validation_message(format_number, NUMBER_CONTEXT.add(Decimal("9e125"), Decimal("9e125"))) == OVERFLOW
    assert validation_message(format_number, NUMBER_CONTEXT.add(Decimal("1e50"), Decimal("1"))) == TOO_PRECISE


# --- AttributeValue shapes: SerializationException ------------------------

SHAPES = [
    ({"S": 5}, "NUMBER_VALUE cannot be converted to String"),
    ({"S": 2.5}, "DECIMAL_VALUE cannot be converted to String"),
    ({"S": True}, "TRUE_VALUE cannot be converted to String"),
    ({"S": False}, "FALSE_VALUE cannot be converted to String"),
    ({"S": []}, "Unrecognized collection type class java.lang.String"),
    ({"S": {}}, "Start of structure or map found where not expected"),
    ({"N": 123}, "NUMBER_VALUE cannot be converted to String"),
    ({"N": {}}, "Start of structure or map found where not expected"),
    ({"B": 5}, "only base-64-encoded strings are convertible to bytes"),
    ({"B": True}, "only base-64-encoded strings are convertible to bytes"),
    ({"B": []}, "Unrecognized collection type class java.nio.ByteBuffer"),
    ({"B": {}}, "Start of structure or map found where not expected"),
    ({"B": "23456"}, "Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
    ({"B": "=+/="}, "Invalid last non-pad Base64 character dectected"),
    ({"B": "+/+="}, "Invalid last non-pad Base64 character dectected"),
    ({"B": "YQR="}, "Invalid last non-pad Base64 character dectected"),
    ({"B": "YQ#="}, "Invalid Base64 character: '#'"),
    ({"BOOL": "23"}, "Unexpected token received from parser"),
    ({"BOOL": 23}, "NUMBER_VALUE cannot be converted to Boolean"),
    ({"BOOL": 34.56}, "DECIMAL_VALUE cannot be converted to Boolean"),
    ({"BOOL": []}, "Unrecognized collection type class java.lang.Boolean"),
    ({"NULL": {}}, "Start of structure or map found where not expected"),
    ({"SS": "a"}, "Unexpected field type"),
    ({"SS": True}, "Unexpected field type"),
    ({"SS": {}}, "Start of structure or map found where not expected"),
    ({"SS": [1]}, "NUMBER_VALUE cannot be converted to String"),
    ({"NS": ["1", 2]}, "NUMBER_VALUE cannot be converted to String"),
    ({"BS": ["YQ==", 1]}, "only base-64-encoded strings are convertible to bytes"),
    ({"BS": ["abc"]}, "Base64 encoded length is expected a multiple of 4 bytes but found: 3"),
    ({"L": {}}, "Start of structure or map found where not expected"),
    ({"L": "x"}, "Unexpected field type"),
    ({"L": ["x"]}, "Unexpected value type in payload"),
    ({"L": [[]]}, "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"),
    ({"M": []}, MAP_OF_VALUES),
    ({"M": 1}, "Unexpected field type"),
    ({"M": {"a": 1}}, "Unexpected value type in payload"),
    ({"M": {"a": {"S": 1}}}, "NUMBER_VALUE cannot be converted to String"),
]


@pytest.mark.parametrize("av,message", SHAPES)
def test_validate_value_wrong_json_type_is_serialization_error(av, message):
    # A member of the wrong JSON type fails deserialization with Coral's text.
    assert serialization_message(validate_value, av) == message


@pytest.mark.parametrize("av", ["x", 1, True, 2.5])
def test_validate_value_not_an_object(av):
    # An AttributeValue that is not a JSON object is refused by the parser.
    assert serialization_message(validate_value, av) == "Unexpected value type in payload"


def test_validate_value_list_instead_of_object():
    # A JSON list where an AttributeValue belongs.
    assert serialization_message(validate_value, []) == (
        "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.AttributeValue"
    )


def test_validate_item_not_a_map():
    # An Item that is not a JSON object fails deserialization.
    assert serialization_message(validate_item, "x") == "Unexpected field type"
    assert serialization_message(validate_item, 3) == "Unexpected field type"
    assert serialization_message(validate_item, []) == MAP_OF_VALUES


def test_validate_item_serialization_wins_over_earlier_validation():
    # The whole request is deserialized before it is validated, so a
    # serialization error anywhere beats a validation error before it.
    item = {"a": {"N": "abc"}, "b": {"S": 5}}
    assert serialization_message(validate_item, item) == "NUMBER_VALUE cannot be converted to String"


# --- AttributeValue members: ValidationException ---------------------------

@pytest.mark.parametrize("av", [{}, {"a": ""}, {"S": None}, {"M": {"a": {}}}, {"L": [{}]}, {"L": [{"a": {}}]}])
def test_validate_value_no_datatype(av):
    # No known member set (unknown members are ignored, nulls are absent).
    assert validation_message(validate_value, av) == EMPTY_AV


def test_validate_value_more_than_one_datatype():
    # Exactly one member may be set.
    assert validation_message(validate_value, {"S": "a", "BOOL": True}) == MULTI_AV


def test_validate_value_member_errors_before_multiple_datatypes():
    # The members are checked before their number is: {"S", "N"} reports the number.
    assert validation_message(validate_value, {"S": "a", "N": "b"}) == f"{NOT_NUMERIC}: b"
    assert validation_message(validate_value, {"S": "", "N": ""}) == NOT_NUMERIC


def test_validate_value_unknown_members_ignored():
    # DynamoDB ignores members it does not know; they are not stored.
    assert validate_value({"S": "x", "Z": 1}) == {"S": "x"}
    assert validate_value({"N": "1.0", "S": None}) == {"N": "1"}


def test_validate_value_null_must_be_true():
    # NULL: false is refused.
    assert validation_message(validate_value, {"NULL": False}) == (
        "One or more parameter values were invalid: Null attribute value types must have the value of true"
    )


@pytest.mark.parametrize(
    "av,message",
    [
        ({"SS": []}, "An string set  may not be empty"),
        ({"NS": []}, "An number set  may not be empty"),
        ({"BS": []}, "Binary sets should not be empty"),
    ],
)
def test_validate_value_empty_set(av, message):
    # Sets may not be empty (DynamoDB's double space included).
    assert validation_message(validate_value, av) == "One or more parameter values were invalid: " + message


def test_validate_value_string_set_duplicates():
    # The whole input collection is quoted.
    assert validation_message(validate_value, {"SS": ["0", "1", "0"]}) == (
        "One or more parameter values were invalid: Input collection [0, 1, 0] contains duplicates."
    )


@pytest.mark.parametrize("ns", [["1", "1"], ["1", "1.0"], ["1e2", "100"], ["-0", "0"], ["3", "1", "1", "3"]])
def test_validate_value_number_set_duplicates_numerically_equal(ns):
    # Number set members are duplicates when numerically equal.
    assert validation_message(validate_value, {"NS": ns}) == "Input collection contains duplicates"


def test_validate_value_binary_set_duplicates():
    # Binary duplicates compare decoded bytes; the message has no space before "of".
    assert validation_message(validate_value, {"BS": ["Yg==", "Yg=="]}) == (
        "One or more parameter values were invalid: Input collection [Yg==, Yg==]of type BS contains duplicates."
    )
    assert validation_message(validate_value, {"BS": [b"b", "Yg=="]}) == (
        "One or more parameter values were invalid: Input collection [Yg==, Yg==]of type BS contains duplicates."
    )


def test_validate_value_number_set_bad_member():
    # Each member must be a number; an empty one is quoted as nothing.
    assert validation_message(validate_value, {"NS": ["1", "b"]}) == f"{NOT_NUMERIC}: b"
    assert validation_message(validate_value, {"NS": ["1", ""]}) == NOT_NUMERIC
    assert validation_message(validate_value, {"NS": ["1", "1e126"]}) == OVERFLOW


def test_validate_value_number_set_normalised():
    # Number set members are stored canonically, in their order.
    assert validate_value({"NS": ["2.50", "1e1", "-0.0"]}) == {"NS": ["2.5", "10", "0"]}


def test_validate_value_empty_strings_allowed_outside_keys():
    # Empty S and B (and empty members of SS and BS) are allowed in non-key attributes.
    for av in ({"S": ""}, {"B": ""}, {"B": b""}, {"SS": ["", "a"]}, {"BS": ["", "YQ=="]}, {"L": []}, {"M": {}}):
        assert validate_value(av) == av


def test_validate_value_unchanged_value_is_same_object():
    # Nothing to rewrite: the value itself is returned (no allocation on the hot path).
    av = {"M": {"a": {"L": [{"N": "1"}, {"S": "x"}, {"B": "YQ=="}]}, "b": {"SS": ["a"]}}}
    assert validate_value(av) is av


def test_validate_value_nested_numbers_normalised():
    # Numbers are normalised at any depth; the input is not modified.
    av = {"M": {"a": {"L": [{"N": "01"}, {"S": "x"}]}, "b": {"N": "2"}}}
    out = validate_value(av)
    assert out == {"M": {"a": {"L": [{"N": "1"}, {"S": "x"}]}, "b": {"N": "2"}}}
    assert av["M"]["a"]["L"][0] == {"N": "01"}
    assert out["M"]["b"] is av["M"]["b"]


def test_validate_value_first_error_in_document_order():
    # Of two invalid values, DynamoDB reports the first it reaches.
    assert validation_message(validate_value, {"L": [{"N": "x"}, {"SS": []}]}) == f"{NOT_NUMERIC}: x"
    assert validation_message(validate_value, {"L": [{"SS": []}, {"N": "x"}]}) == (
        "One or more parameter values were invalid: An string set  may not be empty"
    )


# --- nesting ---------------------------------------------------------------

@pytest.mark.parametrize("deep", [deep_map, deep_list])
def test_validate_value_nesting_at_limit_accepted(deep):
    # 31 nested maps or lists around a scalar (the leaf at level 32) are accepted.
    av = deep(31)
    assert validate_value(av) is av


@pytest.mark.parametrize("deep", [deep_map, deep_list])
def test_validate_value_nesting_beyond_limit_refused(deep):
    # 32 levels of maps or lists are one too many.
    assert validation_message(validate_value, deep(32)) == NESTING
    assert validation_message(validate_value, deep(32, {"M": {}})) == NESTING


def test_validate_value_nesting_reported_before_deeper_errors():
    # A bad number below the limit is never reached: the depth is reported.
    assert validation_message(validate_value, deep_map(40, {"N": "abc"})) == NESTING


def test_validate_item_nesting_and_number_in_document_order():
    # Whichever problem comes first in the item is the one reported.
    assert validation_message(validate_item, {"d": deep_map(40), "n": {"N": "abc"}}) == NESTING
    assert validation_message(validate_item, {"n": {"N": "abc"}, "d": deep_map(40)}) == f"{NOT_NUMERIC}: abc"


def test_validate_value_very_deep_value_refused_cleanly():
    # Far past the limit the value is still refused with the nesting message.
    assert validation_message(validate_value, deep_list(500)) == NESTING


# --- items -----------------------------------------------------------------

def test_validate_item_normalises_and_keeps_order():
    # The stored item has canonical numbers and the same attributes.
    item = {"id": {"S": "x"}, "n": {"N": "1.50"}, "z": {"NULL": True}}
    out = validate_item(item)
    assert out == {"id": {"S": "x"}, "n": {"N": "1.5"}, "z": {"NULL": True}}
    assert list(out) == ["id", "n", "z"]
    assert item["n"] == {"N": "1.50"}


def test_validate_item_unchanged_is_same_object():
    # An item needing no rewrite is returned as is.
    item = {"id": {"S": "x"}, "n": {"N": "1.5"}}
    assert validate_item(item) is item


def test_validate_item_null_attribute_value():
    # A null where an attribute's value belongs carries no datatype.
    assert validation_message(validate_item, {"a": None}) == EMPTY_AV


def test_validate_item_with_size_matches_item_size():
    # The size computed while validating is the stored item's size.
    item = {"id": {"S": "héllo"}, "n": {"N": "-01.50"}, "m": {"M": {"k": {"L": [{"BS": ["YWI="]}]}}}}
    out, size = validate_item_with_size(item)
    assert size == item_size(out)


# --- binary ------------------------------------------------------------------

def test_decode_binary():
    # B values travel as base64; bytes from the embedded API are taken as they are.
    assert decode_binary("aGVsbG8=") == b"hello"
    assert decode_binary(b"raw") == b"raw"
    assert decode_binary(bytearray(b"ab")) == b"ab"
    assert decode_binary("") == b""


# --- sizes -----------------------------------------------------------------

@pytest.mark.parametrize(
    "av,size",
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),
        ({"S": "😀"}, 4),
        ({"S": ""}, 0),
        ({"B": "aGVsbG8="}, 5),
        ({"B": "aGVsbA=="}, 4),
        ({"B": b"\x00\x01\x02"}, 3),
        ({"BOOL": False}, 1),
        ({"NULL": True}, 1),
        ({"N": "0"}, 1),
        ({"N": "1"}, 2),
        ({"N": "12"}, 2),
        ({"N": "1.2"}, 3),
        ({"N": "123"}, 3),
        ({"N": "12345"}, 4),
        ({"N": "-1"}, 3),
        ({"N": "100000"}, 2),
        ({"N": "0.001"}, 2),
        ({"N": "1" * 38}, 20),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "12"]}, 4),
        ({"BS": ["YQ==", "YWI="]}, 3),
        ({"L": []}, 3),
        ({"M": {}}, 3),
        ({"L": [{"S": "xy"}]}, 6),
        ({"M": {"ab": {"S": "xy"}}}, 8),
        ({"L": [{"M": {"a": {"NULL": True}}}]}, 3 + 1 + (3 + 1 + 1 + 1)),
    ],
)
def test_value_size(av, size):
    # Developer Guide, "Item sizes": S in UTF-8 bytes, B raw bytes, BOOL/NULL 1,
    # N ~1 byte per two significant digits + 1, L/M 3 bytes + 1 per element.
    assert value_size(av) == size


def test_item_size_counts_names():
    # An item's size is its names' UTF-8 bytes plus its values' sizes.
    item = {"id": {"S": "abc"}, "n": {"N": "12345"}, "flag": {"BOOL": True}, "l": {"L": [{"S": "xy"}]}}
    assert item_size(item) == 5 + 5 + 5 + 7
    assert item_size({"é": {"S": ""}}) == 2


def test_check_item_size_at_limit_accepted():
    # An item of exactly 400 KB (409600 bytes) is accepted.
    item = {"a": {"S": "k"}, "b": {"S": "x" * (MAX_ITEM_SIZE - 3)}}
    assert check_item_size(item) == MAX_ITEM_SIZE


def test_check_item_size_one_byte_over_refused():
    # One byte more is refused.
    item = {"a": {"S": "k"}, "b": {"S": "x" * (MAX_ITEM_SIZE - 2)}}
    assert validation_message(check_item_size, item) == TOO_BIG


def test_check_item_size_binary_counts_raw_bytes():
    # Binary counts its decoded bytes, not its base64 text.
    raw = b"\xff" * (MAX_ITEM_SIZE - 1)
    item = {"b": {"B": base64.b64encode(raw).decode()}}
    assert check_item_size(item) == MAX_ITEM_SIZE
