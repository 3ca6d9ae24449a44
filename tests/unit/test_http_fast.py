"""The C request reader (``server/_http.pyx``) held to httptools.

``FastPath`` may answer a request only if httptools would have read the
very same request (same target, Content-Type, body, keep-alive) from the
same bytes; anything else it must hand back, from the request's first
byte, no later than the byte at which httptools would have failed.  Three
oracles check that:

* ``parse`` against an httptools parser on the same bytes: every request
  the fast reader takes, httptools reads identically and ends at the same
  offset; a ``need`` tail is a prefix httptools accepts without error and
  without finishing a message;
* ``FastPath.feed`` on random splits of a stream gives the same handler
  calls and the same hand-back as ``parse`` on the whole stream;
* ``HttpProtocol`` with the fast path and with it switched off write the
  same bytes (request ids and Date aside) and close alike, on random
  streams cut at random points.

Streams are built from valid requests (random header casing and order,
extra headers, odd but legal values) and mutated at random (bytes
inserted, replaced, removed); a list of edge cases (``+5``, `` 5``,
duplicate Content-Length, a header without colon, a NUL, a huge length,
bare LF, ...) is checked by name.  Seeds are fixed; a failure names its
seed.
"""

import random
import re

import httptools
import pytest

from server import _http
from server.http import HttpProtocol

MAX_BODY = 1000
CONTENT_TYPES = {b"application/x-amz-json-1.0", b"application/x-amz-json-1.1", b"application/json"}


# -- the httptools oracle ---------------------------------------------------


class Message:
    def __init__(self):
        self.headers = []
        self.body = b""
        self.done = False
        self.keep_alive = None
        self.version = None
        self.method = None


def httptools_read(data):
    """Messages httptools reads from `data` (fed whole), and its error if any."""
    messages = []

    class Callbacks:
        def on_message_begin(self):
            messages.append(Message())

        def on_header(self, name, value):
            messages[-1].headers.append((name.lower(), value))

        def on_body(self, body):
            messages[-1].body += body

        def on_message_complete(self):
            m = messages[-1]
            m.done = True
            m.keep_alive = parser.should_keep_alive()
            m.version = parser.get_http_version()
            m.method = parser.get_method()

    parser = httptools.HttpRequestParser(Callbacks())
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        return messages, "upgrade"
    except httptools.HttpParserError as exc:
        return messages, exc
    return messages, None


def python_content_type(raw):
    """server/http.py's rule for the Content-Type of a POST (None: unknown)."""
    if raw is None:
        return b"application/x-amz-json-1.0"
    if raw in CONTENT_TYPES:
        return raw
    norm = raw.split(b";", 1)[0].strip().lower()
    return norm if norm in CONTENT_TYPES else None


def check_against_httptools(data, label):
    requests, consumed, state = _http.parse(data, MAX_BODY)
    assert 0 <= consumed <= len(data), label
    assert state == "close" or (state == "done") == (consumed == len(data)), label
    assert (state == "close") == any(r[3] for r in requests), label
    if requests:
        messages, error = httptools_read(data[:consumed])
        assert error is None, (label, error)
        assert len(messages) == len(requests) and all(m.done for m in messages), label
        for (target, content_type, body, close), m in zip(requests, messages):
            names = [n for n, _ in m.headers]
            for refused in (b"transfer-encoding", b"upgrade", b"expect", b"content-encoding",
                            b"proxy-connection"):
                assert refused not in names, label
            for once in (b"content-length", b"x-amz-target", b"content-type", b"connection"):
                assert names.count(once) <= 1, label
            headers = dict(m.headers)
            assert m.method == b"POST" and m.version == "1.1", label
            assert headers.get(b"x-amz-target") == target, label
            assert python_content_type(headers.get(b"content-type")) == content_type, label
            assert int(headers[b"content-length"]) == len(body) <= MAX_BODY, label
            assert m.body == body, label
            assert m.keep_alive == (not close), label
    if state == "need":
        # The tail is the valid start of a request: httptools, from that
        # boundary, neither fails nor finishes a message on it.
        messages, error = httptools_read(data[consumed:])
        assert error is None, (label, error)
        assert len(messages) <= 1 and not any(m.done for m in messages), label
    return requests, consumed, state


# -- streams ----------------------------------------------------------------

TARGETS = [b"DynamoDB_20120810.GetItem", b"DynamoDB_20120810.PutItem", b"X", b"",
           b"DynamoDB_20120810.Query ", b"a\tb"]
TYPES = [b"application/x-amz-json-1.0", b"application/x-amz-json-1.1", b"application/json",
         b"Application/X-Amz-Json-1.1; charset=utf-8", b" application/json ;x=y"]
BAD_TYPES = [b"text/plain", b"application/jsonx", b""]
EXTRA = [b"Host: localhost:8000", b"X-Amz-Date: 20240101T000000Z", b"User-Agent: Boto3/1.34 md/x",
         b"Authorization: AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/dynamodb/aws4_request, "
         b"SignedHeaders=host;x-amz-date, Signature=0123456789abcdef",
         b"Accept-Encoding: identity", b"X-Empty:", b"X-Spaces:   ", b"X~Odd!#$%&'*+-.^_`|: v"]
BAD_EXTRA = [b"Content-Encoding: gzip", b"Transfer-Encoding: chunked", b"Expect: 100-continue",
             b"Upgrade: h2c", b"Proxy-Connection: close", b"Connection: Upgrade", b"Connection: close, foo"]
PATHS = [b"/", b"/a/b", b"/?x=1&y=%20", b"/~user/.-_", b"/a:b@c!$&'()*+,;="]


def case(rng, name):
    return bytes(c ^ 32 if 97 <= c <= 122 and rng.random() < 0.5 else c for c in name)


def make_request(rng):
    body = bytes(rng.choice(b'{}":abc \r\n\x00\xff') for _ in range(rng.choice([0, 1, 2, 20, 200])))
    if rng.random() < 0.05:
        body = b"x" * (MAX_BODY + rng.choice([0, 1]))
    headers = []
    if rng.random() < 0.9:
        headers.append(case(rng, b"X-Amz-Target") + b":" + rng.choice([b" ", b"", b"  ", b"\t"])
                       + rng.choice(TARGETS))
    if rng.random() < 0.8:
        kinds = TYPES if rng.random() < 0.9 else BAD_TYPES
        headers.append(case(rng, b"Content-Type") + b": " + rng.choice(kinds))
    if rng.random() < 0.2:
        headers.append(case(rng, b"Connection") + b": " + case(rng, rng.choice([b"keep-alive", b"close"])))
    length = rng.choice([b"%d", b"%d", b"%d", b"0%d", b"  %d"]) % len(body)
    if rng.random() < 0.95:
        headers.append(case(rng, b"Content-Length") + b":" + rng.choice([b" ", b""]) + length)
    for _ in range(rng.choice([0, 1, 2, 4])):
        extra = rng.choice(EXTRA if rng.random() < 0.95 else BAD_EXTRA)
        name, value = extra.split(b":", 1)
        headers.append(case(rng, name) + b":" + value)
    rng.shuffle(headers)
    method = b"POST" if rng.random() < 0.9 else rng.choice([b"GET", b"post", b"PUT", b"HEAD"])
    version = b"HTTP/1.1" if rng.random() < 0.95 else rng.choice([b"HTTP/1.0", b"HTTP/2.0"])
    line = method + b" " + rng.choice(PATHS) + b" " + version
    return b"\r\n".join([line] + headers) + b"\r\n\r\n" + body


def mutate(rng, data):
    for _ in range(rng.choice([1, 1, 2, 3])):
        if not data:
            break
        at = rng.randrange(len(data) + 1)
        piece = bytes([rng.choice([0, 9, 10, 13, 32, 43, 44, 58, 127, 128, 255, rng.randrange(256)])])
        kind = rng.randrange(3)
        if kind == 0:
            data = data[:at] + piece + data[at:]
        elif kind == 1 and at < len(data):
            data = data[:at] + piece + data[at + 1:]
        else:
            data = data[:at] + data[at + 1:]
    return data


def make_stream(rng):
    parts = [make_request(rng) for _ in range(rng.choice([1, 2, 3, 5]))]
    if rng.random() < 0.4:
        i = rng.randrange(len(parts))
        parts[i] = mutate(rng, parts[i])
    data = b"".join(parts)
    if rng.random() < 0.3:
        data = data[:rng.randrange(len(data) + 1)]
    return data


def valid(target=b"DynamoDB_20120810.GetItem", body=b"{}", headers=()):
    lines = [b"POST / HTTP/1.1", b"Host: h", b"X-Amz-Target: " + target,
             b"Content-Type: application/x-amz-json-1.0", *headers, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# -- parse against httptools -------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_random_streams_read_as_httptools_reads_them(seed):
    rng = random.Random(seed)
    taken = 0
    for i in range(300):
        data = make_stream(rng)
        requests, _, _ = check_against_httptools(data, "seed %d stream %d: %r" % (seed, i, data))
        taken += len(requests)
    assert taken > 100  # the generator does exercise the fast path


@pytest.mark.parametrize("seed", range(10))
def test_every_prefix_is_need_or_matches_httptools(seed):
    """Cut anywhere: a prefix is read up to its last whole request, the rest is `need` or fallback."""
    rng = random.Random(1000 + seed)
    for i in range(20):
        data = make_stream(rng)
        for cut in range(len(data) + 1):
            check_against_httptools(data[:cut], "seed %d stream %d cut %d: %r" % (seed, i, cut, data))


def test_common_request_is_taken():
    data = valid() + valid(b"DynamoDB_20120810.PutItem", b'{"a": 1}', [b"Connection: close"])
    requests, consumed, state = check_against_httptools(data, "common")
    assert state == "close" and consumed == len(data)
    assert requests == [
        (b"DynamoDB_20120810.GetItem", b"application/x-amz-json-1.0", b"{}", False),
        (b"DynamoDB_20120810.PutItem", b"application/x-amz-json-1.0", b'{"a": 1}', True),
    ]


def test_header_values_as_httptools_gives_them():
    """Leading blanks dropped, trailing ones kept, an all-blank value empty."""
    data = (b"POST / HTTP/1.1\r\nx-amz-target:\t T \r\nX-Empty:   \r\nContent-Length:2\r\n\r\n{}")
    requests, _, state = check_against_httptools(data, "values")
    assert state == "done"
    assert requests == [(b"T ", b"application/x-amz-json-1.0", b"{}", False)]


@pytest.mark.parametrize("name", ["X-Amz-Target", "x-amz-target", "X-AMZ-TARGET", "x-AmZ-tArGeT"])
def test_each_header_casing_is_taken(name):
    data = (b"POST / HTTP/1.1\r\n" + name.encode() + b": T\r\nCONTENT-type: APPLICATION/JSON\r\n"
            b"content-LENGTH: 2\r\nCONNECTION: Keep-Alive\r\n\r\n{}")
    requests, _, state = check_against_httptools(data, name)
    assert state == "done"
    assert requests == [(b"T", b"application/json", b"{}", False)]


EDGE_CASES = {
    "plus sign length": b"POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}",
    "minus sign length": b"POST / HTTP/1.1\r\nContent-Length: -2\r\n\r\n{}",
    "length with trailing space": b"POST / HTTP/1.1\r\nContent-Length: 2 \r\n\r\n{}",
    "empty length": b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
    "duplicate length": b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    "conflicting lengths": b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
    "huge length": b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
    "length over the limit": b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n{}",
    "hex length": b"POST / HTTP/1.1\r\nContent-Length: 0x2\r\n\r\n{}",
    "no length": b"POST / HTTP/1.1\r\nX-Amz-Target: T\r\n\r\n",
    "header without colon": b"POST / HTTP/1.1\r\nX-Amz-Target T\r\nContent-Length: 2\r\n\r\n{}",
    "space before colon": b"POST / HTTP/1.1\r\nX-Amz-Target : T\r\nContent-Length: 2\r\n\r\n{}",
    "empty header name": b"POST / HTTP/1.1\r\n: T\r\nContent-Length: 2\r\n\r\n{}",
    "NUL in a value": b"POST / HTTP/1.1\r\nX-Amz-Target: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    "DEL in a value": b"POST / HTTP/1.1\r\nX-Amz-Target: a\x7fb\r\nContent-Length: 2\r\n\r\n{}",
    "UTF-8 in a value": b"POST / HTTP/1.1\r\nX-Amz-Target: \xc3\xa9\r\nContent-Length: 2\r\n\r\n{}",
    "bare LF line ends": b"POST / HTTP/1.1\nContent-Length: 2\n\n{}",
    "bare LF after a header": b"POST / HTTP/1.1\r\nContent-Length: 2\n\r\n{}",
    "bare CR in a value": b"POST / HTTP/1.1\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\n{}",
    "obs-fold": b"POST / HTTP/1.1\r\nX-Amz-Target: a\r\n b\r\nContent-Length: 2\r\n\r\n{}",
    "chunked": b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "chunked and length": b"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    "upgrade": b"POST / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\n{}",
    "expect": b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
    "gzip": b"POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
    "proxy-connection": b"POST / HTTP/1.1\r\nProxy-Connection: close\r\nContent-Length: 2\r\n\r\n{}",
    "connection list": b"POST / HTTP/1.1\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n{}",
    "two connection headers": b"POST / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n"
                              b"Content-Length: 2\r\n\r\n{}",
    "two targets": b"POST / HTTP/1.1\r\nX-Amz-Target: a\r\nX-Amz-Target: b\r\nContent-Length: 2\r\n\r\n{}",
    "unknown content type": b"POST / HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
    "HTTP/1.0": b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}",
    "lower-case method": b"post / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "GET health check": b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "two spaces in the request line": b"POST  / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "absolute URL": b"POST http://h/ HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "path with a space": b"POST /a b HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "leading CRLF": b"\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    "head too long": b"POST / HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\nContent-Length: 2\r\n\r\n{}",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_falls_back_at_the_request_boundary(name):
    data = EDGE_CASES[name]
    first = valid()
    requests, consumed, state = check_against_httptools(first + data + first, name)
    # The valid request before it is taken; this one, and all after it, is httptools'.
    assert len(requests) == 1 and consumed == len(first) and state == "fallback", name


@pytest.mark.parametrize("length", [b"0", b"00002", b"1000", b"000000001", b" 5", b"\t5"])
def test_odd_but_legal_lengths_are_taken(length):
    n = int(length)
    data = b"POST / HTTP/1.1\r\nContent-Length: " + length + b"\r\n\r\n" + b"x" * n
    requests, consumed, state = check_against_httptools(data, length)
    assert state == "done" and requests == [(None, b"application/x-amz-json-1.0", b"x" * n, False)]


def test_incomplete_request_is_need():
    data = valid(body=b'{"a": 1}')
    for cut in range(1, len(data)):
        requests, consumed, state = check_against_httptools(data[:cut], cut)
        assert (requests, consumed, state) == ([], 0, "need"), cut


def test_partial_edge_case_falls_back_no_later_than_httptools_fails():
    """A client that stops right after a bad byte sees httptools' 400, not silence."""
    for data in [b"POST / HTTP/1.1\r\nContent-Length: +", b"POST / HTTP/1.1\r\nContent-Length: 1x",
                 b"POST / HTTP/1.1\r\nX-A\x00", b"POST / HTTP/1.1\r\nX-A: \x01",
                 b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1", b"POST / HTTP/1.2",
                 b"POSX", b"POST / HTTP/1.1\n"]:
        _, error = httptools_read(data)
        assert error is not None, data
        assert _http.parse(data, MAX_BODY) == ([], 0, "fallback"), data


# -- FastPath.feed on random splits -----------------------------------------


class Recorder:
    """The protocol side FastPath talks to, recording what it is asked."""

    def __init__(self):
        self.calls = []
        self.commit = None
        self.max_body = MAX_BODY
        self.draining = False
        self.held = None
        self.in_request = False
        self.closing = False
        self.written = []
        self.handler = self._handle

    def _handle(self, target, body):
        self.calls.append((target, body))
        return 200, b"{}"

    # the transport
    def write(self, data):
        self.written.append(data)

    def close(self):
        self.closed = True


def feed_in_pieces(data, cuts):
    rec = Recorder()
    fast = _http.FastPath(rec, rec, True, b"error")
    handed_back = None
    start = 0
    for end in sorted(cuts) + [len(data)]:
        piece = data[start:end]
        start = end
        if not piece:
            continue
        if handed_back is not None:
            handed_back += piece
            continue
        rest = fast.feed(piece)
        if rest is not None:
            handed_back = rest
        if rec.closing:
            break
    return rec, handed_back


@pytest.mark.parametrize("seed", range(20))
def test_feed_on_random_splits_matches_parse_of_the_whole(seed):
    rng = random.Random(2000 + seed)
    for i in range(200):
        data = make_stream(rng)
        label = "seed %d stream %d: %r" % (seed, 2000 + i, data)
        requests, consumed, state = _http.parse(data, MAX_BODY)
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.choice([0, 1, 3, 10]))]
        if rng.random() < 0.1:
            cuts = list(range(len(data)))
        rec, handed_back = feed_in_pieces(data, cuts)
        if state == "close":
            # Connection: close: answered, then everything after is dropped.
            assert rec.closing and handed_back is None, label
        else:
            assert not rec.closing, label
            if state == "fallback":
                # (in_request is httptools' business from here on)
                assert handed_back == data[consumed:], label
            else:
                assert handed_back is None, label
                assert rec.in_request == (state == "need"), label
        assert rec.calls == [(t, b) for t, _, b, _ in requests], label
        assert len(rec.written) == len(requests), label


def test_feed_reuses_the_target_of_the_previous_request():
    rec = Recorder()
    fast = _http.FastPath(rec, rec, True, b"error")
    assert fast.feed(valid() + valid()) is None
    assert rec.calls[0][0] == b"DynamoDB_20120810.GetItem"
    assert rec.calls[0][0] is rec.calls[1][0]


def test_feed_answers_a_draining_connection_with_close():
    rec = Recorder()
    fast = _http.FastPath(rec, rec, True, b"error")
    rec.draining = True
    assert fast.feed(valid() + valid()) is None
    assert len(rec.calls) == 1 and rec.closing and rec.closed
    assert b"\r\nConnection: close\r\n" in rec.written[0]


# -- HttpProtocol with and without the fast path -----------------------------


class Transport:
    def __init__(self):
        self.buffer = b""
        self.closed = False

    def write(self, data):
        assert not self.closed
        self.buffer += data

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


class Loop:
    def time(self):
        return 0.0

    def call_later(self, delay, callback):
        return None


def echo(target, body):
    if target == b"X":
        raise ValueError("boom")
    return (200 if target else 400), b"[" + (target or b"-") + b"|" + body + b"]"


def run_protocol(data, cuts, fast):
    protocol = HttpProtocol(echo, loop=Loop(), idle_timeout=0, max_body=MAX_BODY)
    transport = Transport()
    protocol.connection_made(transport)
    if not fast:
        protocol.fast = None
    start = 0
    for end in sorted(cuts) + [len(data)]:
        if end > start:
            protocol.data_received(data[start:end])
        start = end
    out = re.sub(rb"x-amzn-RequestId: [0-9A-Z]{52}", b"x-amzn-RequestId: ID", transport.buffer)
    out = re.sub(rb"Date: [^\r]*", b"Date: D", out)
    return out, transport.closed, protocol.in_request


@pytest.mark.parametrize("seed", range(20))
def test_protocol_writes_the_same_bytes_with_and_without_the_fast_path(seed, caplog):
    rng = random.Random(3000 + seed)
    for i in range(150):
        data = make_stream(rng)
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.choice([0, 1, 4]))]
        label = "seed %d stream %d cuts %r: %r" % (seed, 3000 + i, cuts, data)
        assert run_protocol(data, cuts, True) == run_protocol(data, cuts, False), label
