"""The one request validator: an operation's spec, compiled, checks a request.

``validate_request(operation, req)`` answers the way DynamoDB's front end
(Coral) does, in its order:

1. **JSON types.**  A member of the wrong JSON type fails deserialisation:
   ``SerializationException`` with Coral's text for that pair of types (e.g.
   "NUMBER_VALUE cannot be converted to String").  Coral reads the body in
   order and stops at the first such member, so top-level members are walked
   in the request's own order.  Unknown members are ignored.
2. **The TableName of a table-level operation** (CreateTable, DescribeTable,
   DeleteTable), which DynamoDB checks on its own, before the rest, with
   messages of its own.
3. **Model constraints.**  Every violation becomes "Value '<v>' at '<path>'
   failed to satisfy constraint: Member must ..." (paths in lowerCamelCase,
   list members as ``keySchema.1.member``, map values as ``a.key.member``),
   listed in the spec's member order, at most ten, joined as
   "N validation errors detected: X; Y".  Past ten DynamoDB both lists and
   counts ten.

Specs (``specs.py``) are compiled once, at import, into closures: one per
shape, with the constraint phrases and regexes prebuilt.  A valid request
costs a dict walk and a type test per member; strings for paths and messages
are built only for nested structures or on the way to an error.
AttributeValues are only checked for shape here (an object; an Item or a Key
a map of objects); ``kvstore.values`` checks their contents.
"""

import re

from ..errors import SerializationException, ValidationException
from ..values import validate_item
from . import specs

__all__ = ["validate_request", "compile_operation", "join_errors", "MAX_LISTED_ERRORS"]

MAX_LISTED_ERRORS = 10

_DDB = "com.amazonaws.dynamodb.v20120810."
_CAST = (
    "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to "
    "class java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and "
    "java.lang.Class are in module java.base of loader 'bootstrap')"
)


# -- Coral's SerializationException texts --------------------------------------
# Each returns the text for a value that is not of its type; the caller raises.


def _not_string(v):
    t = type(v)
    if t is bool:
        return "TRUE_VALUE cannot be converted to String" if v else "FALSE_VALUE cannot be converted to String"
    if t is int:
        return "NUMBER_VALUE cannot be converted to String"
    if t is float:
        return "DECIMAL_VALUE cannot be converted to String"
    if t is list:
        return "Unrecognized collection type class java.lang.String"
    return "Start of structure or map found where not expected"


def _not_boolean(v):
    t = type(v)
    if t is str:
        return "Unexpected token received from parser"
    if t is int:
        return "NUMBER_VALUE cannot be converted to Boolean"
    if t is float:
        return "DECIMAL_VALUE cannot be converted to Boolean"
    if t is list:
        return "Unrecognized collection type class java.lang.Boolean"
    return "Start of structure or map found where not expected"


def _not_number(v, java):  # java: "Integer" or "Long"
    t = type(v)
    if t is str:
        return f"STRING_VALUE cannot be converted to {java}"
    if t is bool:
        return f"TRUE_VALUE cannot be converted to {java}" if v else f"FALSE_VALUE cannot be converted to {java}"
    if t is list:
        return f"Unrecognized collection type class java.lang.{java}"
    return "Start of structure or map found where not expected"


def _not_blob(v):
    t = type(v)
    if t is list:
        return "Unrecognized collection type class java.nio.ByteBuffer"
    if t is dict:
        return "Start of structure or map found where not expected"
    return "only base-64-encoded strings are convertible to bytes"


def _not_list(v):
    if type(v) is dict:
        return "Start of structure or map found where not expected"
    return "Unexpected field type"


def _not_parameterized_list(v):
    if type(v) is dict:
        return "Start of structure or map found where not expected"
    return _CAST


def _not_map(v, java_value):
    if type(v) is list:
        return f"Unrecognized collection type java.util.Map<java.lang.String, {java_value}>"
    return "Unexpected field type"


def _not_item(v):
    if type(v) is list:
        return f"Unrecognized collection type java.util.Map<java.lang.String, {_DDB}AttributeValue>"
    return _CAST


def _not_value_struct(v, name):
    if type(v) is list:
        return f"Unrecognized collection type class {_DDB}{name}"
    return "Unexpected value type in payload"


def _not_field_struct(v, name):
    if type(v) is list:
        return f"Unrecognized collection type class {_DDB}{name}"
    return "Unexpected field type"


# -- constraint messages ---------------------------------------------------------


def _render(v):
    """A value as Coral prints it inside Value '...' (Java's toString)."""
    t = type(v)
    if t is str:
        return v
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is list:
        return "[" + ", ".join(_render(e) for e in v) + "]"
    if t is dict:
        return "{" + ",".join(f"{k}: {_render(e)}" for k, e in v.items()) + "}"
    return str(v)


def _violation(value, path, phrase):
    return f"Value '{_render(value)}' at '{path}' failed to satisfy constraint: {phrase}"


def _null(path):
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def join_errors(messages):
    """DynamoDB's one-line form of a list of constraint violations."""
    if len(messages) > MAX_LISTED_ERRORS:
        messages = messages[:MAX_LISTED_ERRORS]
    if len(messages) == 1:
        return "1 validation error detected: " + messages[0]
    return f"{len(messages)} validation errors detected: " + "; ".join(messages)


def _length(s):
    """Length as Java counts it: UTF-16 code units."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le")) // 2


# -- compiling shapes --------------------------------------------------------------
# A scalar compiles to (coerce, rules): coerce(v) returns the value as the
# model's type sees it or raises SerializationException; rules is a tuple of
# (failed(v) -> bool, phrase).  Everything compiles to check(v, path, out),
# which raises on a type error and appends constraint messages to out.

_SCALARS = (specs.String, specs.Integer, specs.Long, specs.Boolean, specs.Blob)


def _as_string(v):
    if type(v) is not str:
        raise SerializationException(_not_string(v))
    return v


def _as_boolean(v):
    if type(v) is not bool:
        raise SerializationException(_not_boolean(v))
    return v


def _as_integer(java):
    def coerce(v):
        t = type(v)
        if t is int:
            return v
        if t is float:
            return int(v)  # Coral truncates a decimal given for an integer
        raise SerializationException(_not_number(v, java))

    return coerce


def _as_blob(v):
    if type(v) is not str:
        raise SerializationException(_not_blob(v))
    if len(v) % 4:
        raise SerializationException(
            f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(v)}"
        )
    return v


def _length_rules(shape):
    rules = []
    if shape.min_len:
        n = shape.min_len
        rules.append((lambda v: _length(v) < n if type(v) is str else len(v) < n,
                      f"Member must have length greater than or equal to {n}"))
    if shape.max_len is not None:
        m = shape.max_len
        rules.append((lambda v: _length(v) > m if type(v) is str else len(v) > m,
                      f"Member must have length less than or equal to {m}"))
    return rules


def _scalar(shape):
    t = type(shape)
    rules = []
    if t is specs.String:
        if shape.pattern is not None:
            match = re.compile(shape.pattern).fullmatch
            rules.append((lambda v: match(v) is None,
                          f"Member must satisfy regular expression pattern: {shape.pattern}"))
        rules.extend(_length_rules(shape))
        if shape.enum is not None:
            allowed = frozenset(shape.enum)
            rules.append((lambda v: v not in allowed,
                          f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"))
        return _as_string, tuple(rules)
    if t is specs.Integer or t is specs.Long:
        if shape.min is not None:
            lo = shape.min
            rules.append((lambda v: v < lo, f"Member must have value greater than or equal to {lo}"))
        if shape.max is not None:
            hi = shape.max
            rules.append((lambda v: v > hi, f"Member must have value less than or equal to {hi}"))
        return _as_integer("Integer" if t is specs.Integer else "Long"), tuple(rules)
    if t is specs.Boolean:
        return _as_boolean, ()
    if t is specs.Blob:
        return _as_blob, ()
    raise TypeError(f"not a scalar shape: {shape!r}")


def _compile_scalar(shape):
    coerce, rules = _scalar(shape)
    if not rules:
        def check(v, path, out):
            coerce(v)
        return check

    def check(v, path, out):
        v = coerce(v)
        for failed, phrase in rules:
            if failed(v):
                out.append(_violation(v, path, phrase))

    return check


def _compile_list(shape):
    bad = _not_parameterized_list if shape.parameterized else _not_list
    own = tuple(_length_rules(shape))
    member = shape.member

    if isinstance(member, _SCALARS):
        # Constraints on the members of a list of scalars are reported once,
        # at the list: "Member must satisfy constraint: [<phrases>]".
        coerce, rules = _scalar(member)

        def check(v, path, out):
            if type(v) is not list:
                raise SerializationException(bad(v))
            for failed, phrase in own:
                if failed(v):
                    out.append(_violation(v, path, phrase))
            phrases = None
            for e in v:
                if e is None:
                    found = ("Member must not be null",)
                else:
                    e = coerce(e)
                    if not rules:
                        continue
                    found = [phrase for failed, phrase in rules if failed(e)]
                for phrase in found:
                    if phrases is None:
                        phrases = []
                    if phrase not in phrases:
                        phrases.append(phrase)
            if phrases:
                out.append(_violation(
                    v, path, "Member must satisfy constraint: [" + ", ".join(phrases) + "]"))

        return check

    check_member = _compile(member)

    def check(v, path, out):
        if type(v) is not list:
            raise SerializationException(bad(v))
        for failed, phrase in own:
            if failed(v):
                out.append(_violation(v, path, phrase))
        for i, e in enumerate(v, 1):
            if e is None:
                out.append(_null(f"{path}.{i}.member"))
            else:
                check_member(e, f"{path}.{i}.member", out)

    return check


def _map_phrases(shape):
    """The "Map keys" / "Map value" constraint checks of a map, each
    (failed(map) -> bool, phrase) listing every constraint of its kind."""
    checks = []
    key = shape.key
    if key is not None:
        phrases, rules = [], []
        if key.max_len is not None:
            m = key.max_len
            phrases.append(f"Member must have length less than or equal to {m}")
            rules.append(lambda k: _length(k) > m)
        if key.min_len:
            n = key.min_len
            phrases.append(f"Member must have length greater than or equal to {n}")
            rules.append(lambda k: _length(k) < n)
        if key.pattern is not None:
            match = re.compile(key.pattern).fullmatch
            phrases.append(f"Member must satisfy regular expression pattern: {key.pattern}")
            rules.append(lambda k: match(k) is None)

        def keys_fail(v, rules=tuple(rules)):
            return any(rule(k) for k in v for rule in rules)

        checks.append((keys_fail, "Map keys must satisfy constraint: [" + ", ".join(phrases) + "]"))
    if shape.value_min_len is not None or shape.value_max_len is not None:
        lo, hi = shape.value_min_len, shape.value_max_len
        phrases = []
        if hi is not None:
            phrases.append(f"Member must have length less than or equal to {hi}")
        if lo is not None:
            phrases.append(f"Member must have length greater than or equal to {lo}")

        def values_fail(v):
            return any(
                type(e) is list and ((hi is not None and len(e) > hi) or (lo is not None and len(e) < lo))
                for e in v.values()
            )

        checks.append((values_fail, "Map value must satisfy constraint: [" + ", ".join(phrases) + "]"))
    return tuple(checks)


def _compile_map(shape):
    own = tuple(_length_rules(shape)) + _map_phrases(shape)
    java_value = shape.java_value
    value = shape.value

    if isinstance(value, _SCALARS) and not _scalar(value)[1]:
        coerce = _scalar(value)[0]

        def check_values(v, path, out):
            for e in v.values():
                if e is not None:
                    coerce(e)
    else:
        check_value = _compile(value)

        def check_values(v, path, out):
            for k, e in v.items():
                if e is not None:
                    check_value(e, f"{path}.{k}.member", out)

    def check(v, path, out):
        if type(v) is not dict:
            raise SerializationException(_not_map(v, java_value))
        for failed, phrase in own:
            if failed(v):
                out.append(_violation(v, path, phrase))
        check_values(v, path, out)

    return check


def _camel(name):
    return name[0].lower() + name[1:]


def _compile_struct(shape):
    members = tuple(
        (name, _camel(name), sub.required, _compile(sub)) for name, sub in shape.members.items()
    )
    name = shape.name
    bad = _not_field_struct if shape.field_struct else _not_value_struct

    def check(v, path, out):
        if type(v) is not dict:
            raise SerializationException(bad(v, name))
        for member, camel, required, check_member in members:
            e = v.get(member)
            if e is None:
                if required:
                    out.append(_null(f"{path}.{camel}"))
            else:
                check_member(e, f"{path}.{camel}", out)

    return check


def _check_attribute_value(v, path, out):
    if type(v) is not dict:
        raise SerializationException(_not_value_struct(v, "AttributeValue"))


def _check_attribute_map(v, path, out):
    if type(v) is not dict:
        raise SerializationException(_not_item(v))
    for e in v.values():
        if type(e) is not dict and e is not None:
            raise SerializationException(_not_value_struct(e, "AttributeValue"))


def _check_attribute_values(v, path, out):
    if type(v) is not dict:
        raise SerializationException(_not_map(v, _DDB + "AttributeValue"))
    for e in v.values():
        if type(e) is not dict and e is not None:
            raise SerializationException(_not_value_struct(e, "AttributeValue"))


def _compile(shape):
    if isinstance(shape, _SCALARS):
        return _compile_scalar(shape)
    t = type(shape)
    if t is specs.List:
        return _compile_list(shape)
    if t is specs.Map:
        return _compile_map(shape)
    if t is specs.Struct:
        return _compile_struct(shape)
    if t is specs.AttributeValue:
        return _check_attribute_value
    if t is specs.AttributeMap:
        return _check_attribute_map
    if t is specs.AttributeValues:
        return _check_attribute_values
    raise TypeError(f"unknown shape: {shape!r}")


# -- operations ----------------------------------------------------------------------


def _check_table_name(name, value):
    if value is None:
        raise ValidationException(f"The parameter '{name}' is required but was not present in the request")
    if not 3 <= _length(value) <= 255:
        raise ValidationException(f"{name} must be at least 3 characters long and at most 255 characters long")


def _deserialise(attribute_values):
    """Raise the SerializationException hidden in a map of AttributeValues, if any."""
    if type(attribute_values) is dict:
        try:
            validate_item(attribute_values)
        except ValidationException:
            pass


def compile_operation(members):
    """A validator ``check(req) -> None`` for one operation's member table."""
    by_name = {}
    required = []
    table_name = None
    for index, (name, shape) in enumerate(members.items()):
        path = _camel(name)
        by_name[name] = (index, path, _compile(shape))
        if getattr(shape, "table_name", False):
            table_name = name  # its absence has a message of its own
        elif shape.required:
            required.append((index, name, path))
    required = tuple(required)
    # Members holding AttributeValues, whose contents kvstore.values checks.
    values = tuple(
        name for name, shape in members.items()
        if isinstance(shape, (specs.AttributeMap, specs.AttributeValues))
    )

    def check(req):
        out = []
        spans = None
        for name, value in req.items():
            member = by_name.get(name)
            if member is None or value is None:
                continue
            index, path, check_member = member
            start = len(out)
            check_member(value, path, out)
            if len(out) != start:
                if spans is None:
                    spans = []
                spans.append((index, start, len(out)))
        for index, name, path in required:
            if req.get(name) is None:
                if spans is None:
                    spans = []
                out.append(_null(path))
                spans.append((index, len(out) - 1, len(out)))
        if table_name is not None:
            _check_table_name(table_name, req.get(table_name))
        if spans is not None:
            # Coral deserialises the whole body before any constraint is
            # checked, so a badly typed AttributeValue wins over these.
            for name in values:
                _deserialise(req.get(name))
            spans.sort(key=lambda span: span[0])  # stable: a member's own order stays
            raise ValidationException(join_errors([m for _, a, b in spans for m in out[a:b]]))

    return check


_VALIDATORS = {operation: compile_operation(members) for operation, members in specs.SPECS.items()}


def validate_request(operation, req):
    """Raise DynamoDB's SerializationException or ValidationException for a
    request whose members do not fit the operation's spec; else return None.
    Operations without a spec pass unchecked."""
    check = _VALIDATORS.get(operation)
    if check is not None:
        check(req)
