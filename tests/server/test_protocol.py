"""The HTTP protocol without sockets: byte-literal requests into a mock transport.

Each test feeds raw bytes to one ``HttpProtocol`` through ``data_received``
and parses what it wrote back with httptools' response parser.  The handler
is ``make_handler`` over a fake dispatch, so routing, JSON and error bodies
are exercised too, without the engine.  Time is a fake loop's clock that
the tests move by hand, so nothing here sleeps.  The last section runs a
few of the same requests over a real loopback socket.
"""

import asyncio
import gzip
import json
import re
import zlib

import httptools
import pytest

from kvstore.errors import UnknownOperationException, ValidationException
from server.app import make_handler, start_server
from server.http import HEALTH_BODY, HttpProtocol

SERIALIZATION = {"__type": "com.amazon.coral.service#SerializationException"}
UNKNOWN_OPERATION = {"__type": "com.amazon.coral.service#UnknownOperationException"}
INTERNAL = {
    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
    "message": "Internal server error",
}


# -- fakes ------------------------------------------------------------------


class MockTransport:
    def __init__(self):
        self.buffer = b""
        self.closed = False
        self.reading_paused = False

    def write(self, data):
        assert not self.closed, "write after close"
        self.buffer += data

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        self.reading_paused = True

    def resume_reading(self):
        self.reading_paused = False


class MockTimer:
    def __init__(self, when, callback):
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class MockLoop:
    """Only what the protocol uses: a clock the test moves, and timers."""

    def __init__(self):
        self.now = 1000.0
        self.timers = []

    def time(self):
        return self.now

    def call_later(self, delay, callback):
        timer = MockTimer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds):
        self.now += seconds
        while True:
            due = [t for t in self.timers if not t.cancelled and t.when <= self.now]
            if not due:
                return
            for timer in due:
                self.timers.remove(timer)
                timer.callback()


def fake_dispatch(db, operation, request):
    if operation == "ListTables":
        return {"TableNames": []}
    if operation == "Echo":
        return request
    if operation == "Invalid":
        raise ValidationException("1 validation error detected: nope")
    if operation == "Crash":
        raise RuntimeError("engine bug")
    raise UnknownOperationException()


def new_protocol(handler=None, **kwargs):
    if handler is None:
        handler = make_handler(object(), dispatch=fake_dispatch,
                               operations={"ListTables", "Echo", "Invalid", "Crash"})
    loop = MockLoop()
    protocol = HttpProtocol(handler, loop=loop, **kwargs)
    transport = MockTransport()
    protocol.connection_made(transport)
    return protocol, transport, loop


def request(operation="ListTables", body=b"{}", *, target=None, headers=(),
            content_type=b"application/x-amz-json-1.0", version=b"1.1"):
    if target is None:
        target = b"DynamoDB_20120810." + operation.encode()
    lines = [b"POST / HTTP/" + version, b"Host: localhost:8000"]
    if target is not False:
        lines.append(b"X-Amz-Target: " + target)
    if content_type is not None:
        lines.append(b"Content-Type: " + content_type)
    lines.extend(headers)
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Response:
    def __init__(self):
        self.headers = {}
        self.parts = []
        self.status = None
        self.done = False

    @property
    def body(self):
        return b"".join(self.parts)

    def json(self):
        return json.loads(self.body)


def parse_responses(data):
    """Split what the server wrote into Response objects."""
    responses = []

    class Callbacks:
        def on_message_begin(self):
            responses.append(Response())

        def on_header(self, name, value):
            responses[-1].headers[name.decode().lower()] = value.decode()

        def on_headers_complete(self):
            responses[-1].status = parser.get_status_code()

        def on_body(self, body):
            responses[-1].parts.append(body)

        def on_message_complete(self):
            responses[-1].done = True

    parser = httptools.HttpResponseParser(Callbacks())
    parser.feed_data(data)
    assert all(r.done for r in responses), "incomplete response"
    return responses


def only_response(transport):
    responses = parse_responses(transport.buffer)
    assert len(responses) == 1
    return responses[0]


# -- framing ----------------------------------------------------------------


def test_request_in_one_piece_is_answered():
    """A whole request in one read gets the operation's JSON answer."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request())
    response = only_response(transport)
    assert response.status == 200
    assert response.json() == {"TableNames": []}
    assert response.headers["content-type"] == "application/x-amz-json-1.0"
    assert response.headers["content-length"] == str(len(response.body))
    assert not transport.closed


def test_request_split_byte_by_byte_is_answered_once():
    """TCP may cut a request anywhere; it is answered once, when complete."""
    protocol, transport, _ = new_protocol()
    data = request("Echo", b'{"TableName": "t", "Item": {"id": {"S": "x"}}}')
    for i in range(len(data)):
        assert transport.buffer == b""
        protocol.data_received(data[i:i + 1])
    response = only_response(transport)
    assert response.json() == {"TableName": "t", "Item": {"id": {"S": "x"}}}


@pytest.mark.parametrize("count", [2, 3])
def test_pipelined_requests_answered_in_order(count):
    """Pipelined requests in one read are answered in the order they came."""
    protocol, transport, _ = new_protocol()
    data = b"".join(request("Echo", b'{"n": %d}' % i) for i in range(count))
    protocol.data_received(data)
    responses = parse_responses(transport.buffer)
    assert [r.json() for r in responses] == [{"n": i} for i in range(count)]
    assert not transport.closed


def test_pipelined_requests_split_across_reads_answered_in_order():
    """Request boundaries need not match read boundaries."""
    protocol, transport, _ = new_protocol()
    data = b"".join(request("Echo", b'{"n": %d}' % i) for i in range(3))
    for start in range(0, len(data), 7):
        protocol.data_received(data[start:start + 7])
    assert [r.json() for r in parse_responses(transport.buffer)] == [{"n": i} for i in range(3)]


def test_keep_alive_connection_serves_several_requests():
    """HTTP/1.1 connections stay open between requests, with no Connection header."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request())
    protocol.data_received(request("Echo", b'{"a": 1}'))
    responses = parse_responses(transport.buffer)
    assert [r.status for r in responses] == [200, 200]
    assert "connection" not in responses[0].headers
    assert not transport.closed


def test_connection_close_closes_after_the_answer():
    """`Connection: close` gets its answer, then the connection closes."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(headers=[b"Connection: close"]) + request())
    response = only_response(transport)
    assert response.status == 200
    assert response.headers["connection"] == "close"
    assert transport.closed


def test_http10_request_closes_after_the_answer():
    """An HTTP/1.0 request without keep-alive is answered, then closed."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(version=b"1.0"))
    response = only_response(transport)
    assert response.json() == {"TableNames": []}
    assert transport.closed


def test_http10_keep_alive_stays_open():
    """HTTP/1.0 with `Connection: keep-alive` keeps the connection and says so."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(version=b"1.0", headers=[b"Connection: keep-alive"]))
    response = only_response(transport)
    assert response.headers["connection"] == "keep-alive"
    assert not transport.closed


def test_chunked_request_body_is_assembled():
    """A chunked body is answered like one with Content-Length."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(
        b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.Echo\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"4\r\n{\"a\"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n"
    )
    assert only_response(transport).json() == {"a": 1}


def test_expect_100_continue_gets_interim_answer():
    """`Expect: 100-continue` (curl, large bodies) gets `100 Continue`, then the answer."""
    protocol, transport, _ = new_protocol()
    data = request("Echo", b'{"e": 5}', headers=[b"Expect: 100-continue"])
    head, body = data.split(b"\r\n\r\n", 1)
    protocol.data_received(head + b"\r\n\r\n")
    assert transport.buffer == b"HTTP/1.1 100 Continue\r\n\r\n"
    protocol.data_received(body)
    interim = len(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert parse_responses(transport.buffer[interim:])[0].json() == {"e": 5}


def test_bad_http_answers_400_and_closes():
    """Bytes that are not HTTP get a 400 and the connection is closed."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(b"this is not http\r\n\r\n")
    assert only_response(transport).status == 400
    assert transport.closed


def test_upgrade_request_is_answered_as_http11():
    """We never switch protocols: an h2c upgrade request is answered over HTTP/1.1."""
    protocol, transport, _ = new_protocol()
    upgrade = request(headers=[b"Connection: Upgrade, HTTP2-Settings", b"Upgrade: h2c",
                               b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"])
    protocol.data_received(upgrade + request("Echo", b'{"b": 2}'))
    responses = parse_responses(transport.buffer)
    assert [r.status for r in responses] == [200, 200]
    assert responses[1].json() == {"b": 2}


def test_upgrade_request_split_byte_by_byte_is_answered():
    """An Upgrade request whose body trickles in is still answered once, in full."""
    protocol, transport, _ = new_protocol()
    data = request("Echo", b'{"c": 3}', headers=[b"Connection: Upgrade", b"Upgrade: h2c"])
    data += request("Echo", b'{"d": 4}')
    for i in range(len(data)):
        protocol.data_received(data[i:i + 1])
    assert [r.json() for r in parse_responses(transport.buffer)] == [{"c": 3}, {"d": 4}]


# -- headers ----------------------------------------------------------------


def test_crc32_header_is_crc32_of_body():
    """x-amz-crc32 is the CRC32 of the exact body bytes, in decimal (botocore checks it)."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request("Echo", '{"S": "\u00e9t\u00e9"}'.encode()) + request("Nope"))
    for response in parse_responses(transport.buffer):
        assert response.headers["x-amz-crc32"] == str(zlib.crc32(response.body))


def test_request_id_is_52_uppercase_alphanumerics_and_unique():
    """x-amzn-RequestId is 52 characters of [0-9A-Z], fresh for each request."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request() + request())
    ids = [r.headers["x-amzn-requestid"] for r in parse_responses(transport.buffer)]
    assert all(re.fullmatch(r"[0-9A-Z]{52}", i) for i in ids)
    assert ids[0] != ids[1]


def test_date_header_is_http_date():
    """Every answer carries an RFC 7231 Date header in GMT."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request())
    assert only_response(transport).headers["date"].endswith(" GMT")


def test_content_type_json_11_is_echoed():
    """A request in application/x-amz-json-1.1 is answered in the same type."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(content_type=b"application/x-amz-json-1.1; charset=utf-8"))
    response = only_response(transport)
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.json() == {"TableNames": []}


def test_missing_content_type_is_answered_as_json_10():
    """A request without Content-Type is accepted and answered in x-amz-json-1.0."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(content_type=None))
    response = only_response(transport)
    assert response.status == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.0"


def test_unknown_content_type_with_body_answers_404():
    """DynamoDB answers a body of an unknown content type with a 404 <UnknownOperationException/>."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(content_type=b"text/plain"))
    response = only_response(transport)
    assert response.status == 404
    assert response.body == b"<UnknownOperationException/>\n"
    assert response.headers["x-amz-crc32"] == "3552371480"


# -- compressed bodies ------------------------------------------------------


def test_gzip_body_is_decompressed():
    """Content-Encoding: gzip request bodies are inflated before decoding."""
    protocol, transport, _ = new_protocol()
    body = gzip.compress(b'{"TableName": "gz"}')
    protocol.data_received(request("Echo", body, headers=[b"Content-Encoding: gzip"]))
    assert only_response(transport).json() == {"TableName": "gz"}


@pytest.mark.parametrize("wbits", [15, -15], ids=["zlib", "raw"])
def test_deflate_body_is_decompressed(wbits):
    """Content-Encoding: deflate bodies are inflated, zlib-wrapped or raw."""
    protocol, transport, _ = new_protocol()
    compressor = zlib.compressobj(wbits=wbits)
    body = compressor.compress(b'{"TableName": "df"}') + compressor.flush()
    protocol.data_received(request("Echo", body, headers=[b"Content-Encoding: deflate"]))
    assert only_response(transport).json() == {"TableName": "df"}


@pytest.mark.parametrize("body", [b"not gzip at all", gzip.compress(b'{"a": 1}')[:-6]],
                         ids=["garbage", "truncated"])
def test_corrupt_gzip_body_is_serialization_exception(body):
    """A gzip body that does not inflate is a SerializationException, like bad JSON."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request("Echo", body, headers=[b"Content-Encoding: gzip"]))
    response = only_response(transport)
    assert response.status == 400
    assert response.json() == SERIALIZATION
    assert not transport.closed


def test_gzip_bomb_hits_the_size_limit():
    """A small gzip body that inflates past the limit is refused with 413, not inflated."""
    protocol, transport, _ = new_protocol(max_body=1000)
    body = gzip.compress(b"{" + b" " * 100_000 + b"}")
    assert len(body) < 1000
    protocol.data_received(request("Echo", body, headers=[b"Content-Encoding: gzip"]))
    assert only_response(transport).status == 413
    assert transport.closed


# -- JSON and routing -------------------------------------------------------


def test_malformed_json_is_serialization_exception():
    """A body that is not JSON: 400 SerializationException with no message."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(body=b'{"TableName": '))
    response = only_response(transport)
    assert response.status == 400
    assert response.json() == SERIALIZATION
    assert response.headers["x-amz-crc32"] == "3948637019"


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_json_non_object_body_is_serialization_exception(body):
    """A JSON body that is not an object is a SerializationException."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(body=body))
    assert only_response(transport).json() == SERIALIZATION


def test_malformed_json_is_reported_before_the_target():
    """DynamoDB parses the body before it looks at X-Amz-Target."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(body=b"hi", target=b"whatever"))
    assert only_response(transport).json() == SERIALIZATION


def test_missing_target_is_unknown_operation():
    """No X-Amz-Target: 400 UnknownOperationException with no message."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(target=False))
    response = only_response(transport)
    assert response.status == 400
    assert response.json() == UNKNOWN_OPERATION
    assert response.headers["x-amz-crc32"] == "1368724161"


@pytest.mark.parametrize("target", [b"whatever", b"DynamoDB_20111205.ListTables",
                                    b"DynamoDB_20120810", b"DynamoDB_20120810.",
                                    b"DynamoDB_20120810.ListTables.x"])
def test_unknown_target_prefix_is_unknown_operation(target):
    """A target outside DynamoDB_20120810.<Operation> is an UnknownOperationException."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(target=target))
    assert only_response(transport).json() == UNKNOWN_OPERATION


def test_unknown_operation_is_unknown_operation():
    """An operation the engine does not know is an UnknownOperationException."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request("ListTable"))
    assert only_response(transport).json() == UNKNOWN_OPERATION


def test_streams_target_is_unknown_operation_until_streams_exist():
    """DynamoDBStreams_20120810 targets are routed apart; with no streams, all are unknown."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(target=b"DynamoDBStreams_20120810.ListStreams"))
    assert only_response(transport).json() == UNKNOWN_OPERATION


def test_streams_target_goes_to_streams_dispatch():
    """A streams target reaches the streams handler with its operation name."""
    calls = []

    def streams(db, operation, req):
        calls.append((operation, req))
        return {"Streams": []}

    handler = make_handler(object(), dispatch=fake_dispatch, streams_dispatch=streams)
    protocol, transport, _ = new_protocol(handler)
    protocol.data_received(request(target=b"DynamoDBStreams_20120810.ListStreams"))
    assert only_response(transport).json() == {"Streams": []}
    assert calls == [("ListStreams", {})]


def test_empty_body_on_known_operation_is_serialization_exception():
    """DynamoDB answers a known operation with no body at all with SerializationException."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request(body=b""))
    assert only_response(transport).json() == SERIALIZATION


def test_empty_body_on_unknown_operation_is_unknown_operation():
    """An empty body on an unknown operation is still an UnknownOperationException."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request("NoSuchThing", body=b""))
    assert only_response(transport).json() == UNKNOWN_OPERATION


def test_engine_error_is_rendered_with_its_status_and_body():
    """A DynamoDB error from the engine is answered with its status, __type and message."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request("Invalid"))
    response = only_response(transport)
    assert response.status == 400
    assert response.json() == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": "1 validation error detected: nope",
    }


def test_engine_crash_is_500_and_connection_survives(caplog):
    """A non-DynamoDB exception in the engine is a logged 500; the next request works."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request("Crash") + request())
    responses = parse_responses(transport.buffer)
    assert [r.status for r in responses] == [500, 200]
    assert responses[0].json() == INTERNAL
    assert "engine bug" in caplog.text
    assert not transport.closed


def test_handler_crash_is_500_and_connection_survives(caplog):
    """Even a handler that raises outright yields a 500, and the connection keeps serving."""
    def handler(target, body):
        if target.endswith(b"Boom"):
            raise ValueError("handler bug")
        return 200, b"{}"

    protocol, transport, _ = new_protocol(handler)
    protocol.data_received(request("Boom"))
    protocol.data_received(request("Fine"))
    responses = parse_responses(transport.buffer)
    assert [r.status for r in responses] == [500, 200]
    assert responses[0].json() == INTERNAL
    assert "handler bug" in caplog.text


# -- size limit -------------------------------------------------------------


def test_oversized_content_length_is_413_before_the_body():
    """A Content-Length above 16 MiB is refused with 413 before any body is read."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(
        b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
        b"Content-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: %d\r\n\r\n{" % (16 * 1024 * 1024 + 1)
    )
    response = only_response(transport)
    assert response.status == 413
    assert response.headers["connection"] == "close"
    assert response.json()["__type"].endswith("Exception")


def test_oversized_body_is_read_and_dropped_then_closed():
    """After a 413 the rest of the body is drained (so the client reads the 413), then closed."""
    calls = []
    protocol, transport, _ = new_protocol(lambda t, b: calls.append(b) or (200, b"{}"),
                                          max_body=100)
    protocol.data_received(request("Echo", b"{" + b" " * 148 + b"}")[:-100])
    assert only_response(transport).status == 413
    assert not transport.closed
    protocol.data_received(b" " * 99 + b"}" + request())
    assert transport.closed
    assert calls == []
    assert len(parse_responses(transport.buffer)) == 1


def test_oversized_body_far_past_the_limit_is_cut_off():
    """A refused body is drained only up to a bound; beyond it the connection is dropped."""
    protocol, transport, _ = new_protocol(max_body=100)
    protocol.data_received(request("Echo", b" " * 10_000)[:-9000])
    assert only_response(transport).status == 413
    assert transport.closed


def test_body_at_the_limit_is_accepted():
    """A body of exactly the limit is not refused."""
    protocol, transport, _ = new_protocol(max_body=20)
    body = b'{"a": "' + b"x" * 11 + b'"}'
    assert len(body) == 20
    protocol.data_received(request("Echo", body))
    assert only_response(transport).status == 200


def test_oversized_chunked_body_is_413_then_closed():
    """A chunked body growing past the limit gets 413 as it streams; closed when it ends."""
    protocol, transport, _ = new_protocol(max_body=100)
    protocol.data_received(
        b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.Echo\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    for _ in range(5):
        protocol.data_received(b"20\r\n" + b" " * 32 + b"\r\n")
    response = only_response(transport)
    assert response.status == 413
    assert not transport.closed
    protocol.data_received(b"0\r\n\r\n")
    assert transport.closed


# -- health check and other methods ----------------------------------------


def test_get_is_the_health_check():
    """GET / answers 200 `healthy: dynamodb.us-east-1.amazonaws.com ` like DynamoDB's endpoint."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    response = only_response(transport)
    assert response.status == 200
    assert response.body == HEALTH_BODY == b"healthy: dynamodb.us-east-1.amazonaws.com "
    assert response.headers["content-length"] == "42"
    assert response.headers["x-amz-crc32"] == "3128867991"
    assert re.fullmatch(r"[0-9A-Z]{52}", response.headers["x-amzn-requestid"])


def test_head_is_the_health_check_without_body():
    """HEAD / gets the health check's headers and no body."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n" + request())
    head, rest = transport.buffer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nContent-Length: 42\r\n" in head
    # What follows the headers is the next answer, not a body.
    assert parse_responses(rest)[0].json() == {"TableNames": []}


@pytest.mark.parametrize("method", [b"PUT", b"DELETE", b"OPTIONS", b"PATCH"])
def test_other_methods_answer_404(method):
    """DynamoDB answers methods other than POST and GET with 404 <UnknownOperationException/>."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(method + b" / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
    response = only_response(transport)
    assert response.status == 404
    assert response.body == b"<UnknownOperationException/>\n"
    assert not transport.closed


# -- lifetime and flow control ---------------------------------------------


def test_idle_connection_times_out():
    """A keep-alive connection silent for the idle timeout is closed."""
    protocol, transport, loop = new_protocol(idle_timeout=60)
    protocol.data_received(request())
    loop.advance(59)
    assert not transport.closed
    protocol.data_received(request())
    loop.advance(59)
    assert not transport.closed
    loop.advance(2)
    assert transport.closed


def test_half_received_request_times_out():
    """A request that stops arriving half-way is dropped after the idle timeout."""
    protocol, transport, loop = new_protocol(idle_timeout=5)
    protocol.data_received(request()[:20])
    loop.advance(6)
    assert transport.closed
    assert transport.buffer == b""


def test_write_buffer_full_pauses_reading():
    """Above the write high-water mark the protocol stops reading; below, it reads again."""
    protocol, transport, _ = new_protocol()
    protocol.pause_writing()
    assert transport.reading_paused
    protocol.resume_writing()
    assert not transport.reading_paused


def test_shutdown_closes_idle_connection_at_once():
    """On server shutdown an idle keep-alive connection is closed right away."""
    protocol, transport, _ = new_protocol()
    protocol.data_received(request())
    protocol.shutdown()
    assert transport.closed


def test_shutdown_lets_request_in_flight_finish():
    """On shutdown a half-received request is still answered, then the connection closes."""
    protocol, transport, _ = new_protocol()
    data = request()
    protocol.data_received(data[:30])
    protocol.shutdown()
    assert not transport.closed
    protocol.data_received(data[30:])
    response = only_response(transport)
    assert response.json() == {"TableNames": []}
    assert response.headers["connection"] == "close"
    assert transport.closed


# -- the C reader and httptools on one connection ---------------------------
#
# server/_http.pyx's FastPath answers the common POSTs; the first request it
# does not take (a GET, chunked, gzip, ...) and all after it go to httptools.
# tests/unit/test_http_fast.py holds the two to the same bytes.


def test_fast_requests_then_fallback_are_answered_in_order():
    """POSTs read in C, then a health check and a chunked POST for httptools, then POSTs again."""
    protocol, transport, _ = new_protocol()
    chunked = (b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.Echo\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"c\":\r\n2\r\n3}\r\n0\r\n\r\n")
    data = (request("Echo", b'{"a": 1}') + b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" + chunked
            + request("Echo", b'{"b": 2}'))
    protocol.data_received(data[:40])
    assert protocol.fast is not None and protocol.in_request
    protocol.data_received(data[40:])
    assert protocol.fast is None  # httptools has the connection now
    responses = parse_responses(transport.buffer)
    assert [r.status for r in responses] == [200, 200, 200, 200]
    assert responses[0].json() == {"a": 1}
    assert responses[1].body == HEALTH_BODY
    assert responses[2].json() == {"c": 3}
    assert responses[3].json() == {"b": 2}
    assert not transport.closed and not protocol.in_request


def test_fallback_inside_a_split_request_hands_over_its_first_byte():
    """A request found not to be fast half-way (after earlier reads) is read whole by httptools."""
    protocol, transport, _ = new_protocol()
    body = gzip.compress(b'{"z": 26}')
    data = request("Echo", body, headers=[b"Content-Encoding: gzip"])
    cut = data.index(b"Content-Encoding") + 10
    protocol.data_received(data[:cut])
    assert transport.buffer == b"" and protocol.fast is not None
    protocol.data_received(data[cut:])
    assert protocol.fast is None
    assert only_response(transport).json() == {"z": 26}


def test_fast_request_with_write_to_hold_goes_through_send():
    """An answer that must wait (group commit) still goes through _send and the commit."""
    class Wal:
        seq = 0

    class Commit:
        def __init__(self):
            self.wal = Wal()
            self.held = []

        def hold(self, conn, data, wait, close):
            self.held.append((data, wait, close))

    commit = Commit()

    def handler(target, body):
        commit.wal.seq += 1  # "logged a write"
        return 200, b'{"w": 1}'

    protocol, transport, _ = new_protocol(handler, commit=commit)
    protocol.data_received(request("PutItem") + request("PutItem", headers=[b"Connection: close"]))
    assert transport.buffer == b""
    held = commit.held
    assert [(wait, close) for _, wait, close in held] == [(True, False), (True, True)]
    assert [r.body for r in parse_responses(b"".join(d for d, _, _ in held))] == [b'{"w": 1}'] * 2
    assert protocol.closing


def test_answers_over_a_real_socket():
    """On the server's own loop (uvloop when installed): pipelined and split requests, fast or not."""
    try:
        import uvloop
        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop
    handler = make_handler(object(), dispatch=fake_dispatch, operations={"ListTables", "Echo"})

    async def run():
        server = await start_server(host="127.0.0.1", port=0, handler=handler)
        host, port = server.address
        reader, writer = await asyncio.open_connection(host, port)
        data = (request("Echo", b'{"n": 1}') + request("Echo", b'{"n": 2}')
                + b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n" + request("Echo", b'{"n": 3}')
                + request("Echo", b'{"n": 4}', headers=[b"Connection: close"]))
        for at in range(0, len(data), 97):
            writer.write(data[at:at + 97])
            await writer.drain()
            await asyncio.sleep(0.001)
        answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes
        writer.close()
        await server.shutdown(0.1)
        return answer

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        answer = runner.run(run())
    # Five answers; the HEAD one (the third) is headers only, so cut there.
    parts = answer.split(b"HTTP/1.1 200 OK\r\n")
    assert parts[0] == b"" and len(parts) == 6
    assert parts[3].endswith(b"\r\n\r\n") and b"\r\nContent-Length: 42\r\n" in parts[3]
    answers = [parse_responses(b"HTTP/1.1 200 OK\r\n" + parts[i])[0] for i in (1, 2, 4, 5)]
    assert [r.json() for r in answers] == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    assert answers[-1].headers["connection"] == "close"


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "httptools"])
def test_bug_while_answering_is_logged_500_and_close(fast, caplog):
    """A handler answer that cannot be written (a str body) is our bug: logged, 500, closed."""
    protocol, transport, _ = new_protocol(lambda target, body: (200, "not bytes"))
    if not fast:
        protocol.fast = None
    protocol.data_received(request() + request())
    response = only_response(transport)
    assert response.status == 500 and response.json() == INTERNAL
    assert transport.closed
    assert "internal error while" in caplog.text


# -- ordered answers (server/cluster.py's AsyncHttpProtocol) -----------------
#
# With --workers a handler may answer (0, future): a request forwarded to
# another worker.  The C reader writes an answer itself only when it is ready
# at once and nothing is queued before it; the rest go through _send, queued
# in request order, and leave as their futures finish.


def new_ordered_protocol(answers):
    """An AsyncHttpProtocol on a real (not running) loop whose handler answers
    from ``answers`` (target -> (status, payload), payload maybe a future),
    and the list of statuses that went through _send."""
    from server.cluster import AsyncHttpProtocol

    class Recording(AsyncHttpProtocol):
        __slots__ = ("sent",)

        def _send(self, status, *args, **kwargs):
            self.sent.append(status)
            super()._send(status, *args, **kwargs)

    loop = asyncio.new_event_loop()
    protocol = Recording(lambda target, body: answers[target.decode().rsplit(".", 1)[1]],
                         loop=loop, idle_timeout=None)
    protocol.sent = []
    transport = MockTransport()
    protocol.connection_made(transport)
    return protocol, transport, loop


def run_callbacks(loop):
    loop.run_until_complete(asyncio.sleep(0))


def test_ordered_ready_answers_are_written_in_c():
    """Answers ready at once, nothing queued: written by the C reader, not _send."""
    protocol, transport, loop = new_ordered_protocol({"A": (200, b'{"a":1}'), "B": (400, b'{"b":2}')})
    try:
        protocol.data_received(request("A") + request("B") + request("A", headers=[b"Connection: close"]))
        responses = parse_responses(transport.buffer)
        assert [(r.status, r.body) for r in responses] == [
            (200, b'{"a":1}'), (400, b'{"b":2}'), (200, b'{"a":1}')]
        assert responses[2].headers["connection"] == "close" and transport.closed
        assert protocol.sent == []
    finally:
        loop.close()


def test_ordered_deferred_answers_leave_in_request_order():
    """Ready, deferred, then requests behind it: each answer leaves in order."""
    from server.cluster import DEFERRED

    protocol, transport, loop = new_ordered_protocol({})
    try:
        first, second = loop.create_future(), loop.create_future()
        answers = {"A": (200, b'{"n":1}'), "F": (DEFERRED, first), "G": (DEFERRED, second),
                   "B": (200, b'{"n":4}')}
        protocol.run = lambda target, body: answers[target.decode().rsplit(".", 1)[1]]
        protocol.data_received(request("A") + request("F") + request("G") + request("B"))
        assert [r.body for r in parse_responses(transport.buffer)] == [b'{"n":1}']
        second.set_result((200, b'{"n":3}'))   # G runs after F: still waits
        run_callbacks(loop)
        assert [r.body for r in parse_responses(transport.buffer)] == [b'{"n":1}']
        first.set_result([201, b'{"n":2}'])   # a forwarded answer is a list
        for _ in range(4):
            run_callbacks(loop)
        responses = parse_responses(transport.buffer)
        assert [(r.status, r.body) for r in responses] == [
            (200, b'{"n":1}'), (201, b'{"n":2}'), (200, b'{"n":3}'), (200, b'{"n":4}')]
        assert protocol.sent == [DEFERRED] * 3 and protocol.waiting == []
        # Ready again with nothing queued: the C reader writes it.
        protocol.data_received(request("A"))
        assert parse_responses(transport.buffer)[-1].body == b'{"n":1}'
        assert protocol.sent == [DEFERRED] * 3
        assert not transport.closed
    finally:
        loop.close()


def test_ordered_ready_answer_waits_behind_one_not_yet_written():
    """A deferred answer whose future is done but not yet written (its
    callback pending) still goes first: a ready answer after it is queued."""
    from server.cluster import DEFERRED

    protocol, transport, loop = new_ordered_protocol({})
    try:
        fut = loop.create_future()
        answers = {"F": (DEFERRED, fut), "A": (200, b'{"n":2}')}
        protocol.run = lambda target, body: answers[target.decode().rsplit(".", 1)[1]]
        protocol.data_received(request("F"))
        fut.set_result((200, b'{"n":1}'))     # _on_ready is scheduled, not run
        protocol.data_received(request("A", headers=[b"Connection: close"]))
        assert transport.buffer == b"" and protocol.sent == [DEFERRED, 200]
        run_callbacks(loop)
        responses = parse_responses(transport.buffer)
        assert [r.body for r in responses] == [b'{"n":1}', b'{"n":2}']
        assert responses[1].headers["connection"] == "close" and transport.closed
    finally:
        loop.close()


def test_ordered_failed_deferred_answers_are_503_and_500(caplog):
    """An unreachable worker (or a cancelled call) is a retryable 503; any other failure a 500."""
    from server.cluster import DEFERRED
    from server.peers import PeerUnavailable

    protocol, transport, loop = new_ordered_protocol({})
    try:
        futs = [loop.create_future() for _ in range(3)]
        answers = {f"F{i}": (DEFERRED, fut) for i, fut in enumerate(futs)}
        protocol.run = lambda target, body: answers[target.decode().rsplit(".", 1)[1]]
        protocol.data_received(request("F0"))
        futs[0].set_exception(PeerUnavailable("gone"))
        run_callbacks(loop)
        protocol.data_received(request("F1"))
        futs[1].cancel()
        run_callbacks(loop)
        protocol.data_received(request("F2"))
        futs[2].set_exception(RuntimeError("bug"))
        run_callbacks(loop)
        responses = parse_responses(transport.buffer)
        assert [r.status for r in responses] == [503, 503, 500]
        assert responses[2].json() == INTERNAL
        assert "internal error in a deferred answer" in caplog.text
    finally:
        loop.close()


# -- forwarded answers: queued and written by the C reader -------------------
#
# A Forwarded (server/_http.pyx) answer never goes through _send: the C
# reader queues it and writes it, with the ready answers behind it, in the
# turn its answer arrives; anything it does not write itself (a failure,
# another kind of future) is handed to _on_ready at that point of the queue.


def test_forwarded_answer_is_queued_and_written_by_the_c_reader():
    from server._http import Forwarded
    from server.cluster import DEFERRED

    protocol, transport, loop = new_ordered_protocol({})
    try:
        answers = {"F": (DEFERRED, Forwarded()), "A": (200, b'{"n":2}')}
        protocol.run = lambda target, body: answers[target.decode().rsplit(".", 1)[1]]
        protocol.data_received(request("F"))
        assert protocol.sent == [] and len(protocol.waiting) == 1 and transport.buffer == b""
        answers["F"][1](201, b'{"n":1}')     # its answer frame: written in that call
        assert [(r.status, r.body) for r in parse_responses(transport.buffer)] == [(201, b'{"n":1}')]
        assert protocol.waiting == [] and not transport.reading_paused
        answers["F"] = (DEFERRED, Forwarded())
        protocol.data_received(request("A") + request("F", headers=[b"Connection: close"]))
        answers["F"][1](200, b'{"n":3}')
        responses = parse_responses(transport.buffer)
        assert [r.body for r in responses] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
        assert responses[2].headers["connection"] == "close" and transport.closed
        assert protocol.sent == []
    finally:
        loop.close()


def test_requests_behind_a_forwarded_one_answer_in_order():
    """Pipelined behind a forwarded request, the next ones run once it is
    answered (through _send's queue); every answer leaves in order."""
    from server._http import Forwarded
    from server.cluster import DEFERRED

    protocol, transport, loop = new_ordered_protocol({})
    try:
        first, second = Forwarded(), Forwarded()
        answers = {"F": (DEFERRED, first), "G": (DEFERRED, second), "A": (200, b'{"n":3}')}
        protocol.run = lambda target, body: answers[target.decode().rsplit(".", 1)[1]]
        protocol.data_received(request("F") + request("G") + request("A"))
        assert protocol.sent == [DEFERRED, DEFERRED] and len(protocol.waiting) == 3
        first(201, b'{"n":1}')      # F at once; G starts now
        assert [r.body for r in parse_responses(transport.buffer)] == [b'{"n":1}']
        second(200, b'{"n":2}')
        for _ in range(4):
            run_callbacks(loop)
        responses = parse_responses(transport.buffer)
        assert [(r.status, r.body) for r in responses] == [(201, b'{"n":1}'), (200, b'{"n":2}'), (200, b'{"n":3}')]
        assert protocol.waiting == [] and not transport.closed
    finally:
        loop.close()


def test_forwarded_failure_is_handed_to_on_ready():
    """A forwarded request whose worker cannot be reached is a retryable 503."""
    from server._http import Forwarded
    from server.cluster import DEFERRED
    from server.peers import PeerUnavailable

    protocol, transport, loop = new_ordered_protocol({})
    try:
        lost = Forwarded()
        protocol.run = lambda target, body: (DEFERRED, lost)
        protocol.data_received(request("F", headers=[b"Connection: close"]))
        lost(0, PeerUnavailable("worker 3: gone"))
        response = only_response(transport)
        assert response.status == 503 and response.headers["connection"] == "close" and transport.closed
        assert protocol.waiting == [] and protocol.sent == []
    finally:
        loop.close()
