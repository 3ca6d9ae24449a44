"""JSON written out by hand, for tests that feed the core's raw-JSON readers
(tests/unit/test_wire_owner.py, tests/unit/test_raw_writes.py) bodies no
encoder would write: members repeated, names escaped, any whitespace."""

import json


class Obj(list):
    """A JSON object as a list of (name, value) pairs: names may repeat."""


class Raw(bytes):
    """JSON text written as is (a name or value json.dumps would not write)."""


def escaped_name(name):
    """``name`` with every character as a \\u escape: the same name once decoded."""
    return Raw("".join("\\u%04x" % ord(c) for c in name).join('""').encode())


def render(value, style):
    """``value`` as JSON bytes; ``style`` = (ensure_ascii, item separator,
    name separator)."""
    ensure_ascii, comma, colon = style
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, Obj):
        return b"{" + comma.join(render(n, style) + colon + render(v, style) for n, v in value) + b"}"
    if isinstance(value, list):
        return b"[" + comma.join(render(v, style) for v in value) + b"]"
    # Lone surrogates pass as the (invalid) UTF-8 the bytes would hold.
    return json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
