"""The peer protocol between workers (server/peers.py), over real Unix sockets.

Each test runs its own event loop with two or three PeerNodes in one process
and is bounded by a timeout of a few seconds.
"""

import asyncio
import struct

import msgspec
import pytest

from server import _peer
from server.peers import (
    Call, PeerError, PeerNode, PeerTimeout, PeerUnavailable, Reply, socket_path,
)


def run(coro, timeout=10.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def echo_handlers():
    async def slow(body):
        await asyncio.sleep(body)
        return body

    def fail(body):
        raise ValueError(f"bad {body}")

    return {
        "echo": lambda body: body,
        "slow": slow,
        "fail": fail,
        "never": lambda body: asyncio.get_running_loop().create_future(),
    }


async def nodes(tmp_path, count=2):
    out = []
    for i in range(count):
        node = PeerNode(i, str(tmp_path), echo_handlers())
        await node.listen()
        out.append(node)
    return out


async def close_all(*nodes):
    for node in nodes:
        await node.close()


def test_frame_is_length_prefixed_msgpack_array():
    # One frame: 4-byte big-endian length, then a msgpack array [tag, id, ...].
    body = msgspec.msgpack.encode(Call(7, "echo", [1, b"x"]))
    assert msgspec.msgpack.decode(body) == [1, 7, "echo", [1, b"x"]]
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(Reply(7, True, None))) == [2, 7, True, None]
    assert struct.pack(">I", len(body))[:1] == b"\0"


def test_call_and_reply_carry_bytes_and_structures(tmp_path):
    async def main():
        a, b = await nodes(tmp_path)
        try:
            assert await a.call(1, "echo", ["GetItem", b'{"TableName":"t"}']) == ["GetItem", b'{"TableName":"t"}']
            assert await b.call(0, "echo", {"n": 1, "big": 2**64 - 1}) == {"n": 1, "big": 2**64 - 1}
        finally:
            await close_all(a, b)

    run(main())


def test_replies_match_their_calls_out_of_order(tmp_path):
    # Slow calls finish after fast ones; each future still gets its own reply.
    async def main():
        a, b = await nodes(tmp_path)
        try:
            delays = [0.05, 0.0, 0.03, 0.01, 0.0, 0.02] * 20
            results = await asyncio.gather(*(a.call(1, "slow", d) for d in delays))
            assert results == delays
        finally:
            await close_all(a, b)

    run(main())


def test_frames_to_one_peer_are_batched_per_loop_turn(tmp_path):
    async def main():
        a, b = await nodes(tmp_path)
        try:
            await a.call(1, "echo", 0)  # connected
            link = a._links[1]
            writes = []
            real_write = link.transport.write
            link.transport.write = lambda data: (writes.append(len(data)), real_write(data))
            results = await asyncio.gather(*(a.call(1, "echo", i) for i in range(500)))
            assert results == list(range(500))
            assert len(writes) == 1  # 500 calls made in one turn: one write
        finally:
            await close_all(a, b)

    run(main())


def test_handler_error_is_raised_at_the_caller(tmp_path):
    async def main():
        a, b = await nodes(tmp_path)
        try:
            with pytest.raises(PeerError, match="ValueError: bad 3"):
                await a.call(1, "fail", 3)
            with pytest.raises(PeerError, match="unknown call kind"):
                await a.call(1, "nope", None)
            assert await a.call(1, "echo", "still fine") == "still fine"
        finally:
            await close_all(a, b)

    run(main())


def test_call_times_out(tmp_path):
    async def main():
        a, b = await nodes(tmp_path)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(PeerTimeout):
                await a.call(1, "never", None, timeout=0.2)
            assert 0.15 <= loop.time() - started < 2.0
            assert a.waiting() == 0
        finally:
            await close_all(a, b)

    run(main())


def test_unreachable_peer_fails_at_once(tmp_path):
    async def main():
        (a,) = await nodes(tmp_path, 1)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(PeerUnavailable):
                await a.call(5, "echo", 1)
            assert loop.time() - started < 1.0
        finally:
            await close_all(a)

    run(main())


def test_calls_in_flight_fail_when_the_peer_dies_and_reconnect_after_restart(tmp_path):
    async def main():
        a, b = await nodes(tmp_path)
        try:
            assert await a.call(1, "echo", 1) == 1
            waiting = a.call(1, "never", None)
            await asyncio.sleep(0.05)
            # The peer goes away: its socket and every connection to it.
            await b.close()
            with pytest.raises(PeerUnavailable):
                await waiting
            with pytest.raises(PeerUnavailable):
                await a.call(1, "echo", 2)
            # A new process takes the same socket path: found again.
            b2 = PeerNode(1, str(tmp_path), echo_handlers())
            await b2.listen()
            assert await a.call(1, "echo", 3) == 3
            await b2.close()
        finally:
            await close_all(a)

    run(main())


def test_stale_socket_file_is_replaced(tmp_path):
    async def main():
        path = socket_path(str(tmp_path), 0)
        with open(path, "w"):
            pass
        a, b = await nodes(tmp_path)
        try:
            assert await b.call(0, "echo", "ok") == "ok"
        finally:
            await close_all(a, b)

    run(main())


def test_large_frames_and_many_peers(tmp_path):
    async def main():
        ns = await nodes(tmp_path, 3)
        try:
            blob = b"x" * (3 * 1024 * 1024)
            results = await asyncio.gather(
                ns[0].call(1, "echo", blob), ns[0].call(2, "echo", blob[:10]),
                ns[2].call(0, "echo", blob), ns[1].call(2, "slow", 0.01),
            )
            assert results == [blob, blob[:10], blob, 0.01]
        finally:
            await close_all(*ns)

    run(main())


# -- forwarded requests: FORWARD / ANSWER frames, no msgpack, no future ---------


def forward_handler(op, body):
    """Answers ``op`` with the body back, after ``delay`` seconds for "Slow",
    never for "Never", by raising for "Fail"."""
    if op == "Fail":
        raise ValueError("bad request")
    if op == "Never":
        return asyncio.get_running_loop().create_future()
    if op == "Slow":
        async def later():
            await asyncio.sleep(float(body))
            return 200, body
        return later()
    if op == "Text":
        return 200, body.decode()      # not bytes: no answer frame can carry it
    if op == "Status":
        return int(body), b""
    return 201, op.encode() + b":" + body


async def forward_nodes(tmp_path, count=2, timeout=None):
    out = []
    for i in range(count):
        kwargs = {"timeout": timeout} if timeout else {}
        node = PeerNode(i, str(tmp_path), echo_handlers(), on_forward=forward_handler, **kwargs)
        await node.listen()
        out.append(node)
    return out


def forwarded(node, peer, op, body):
    """``node.forward`` as a future of ``(status, payload)``."""
    fut = asyncio.get_running_loop().create_future()
    node.forward(peer, op, body, lambda status, payload: fut.done() or fut.set_result((status, payload)))
    return fut


def test_forward_frame_is_a_fixed_header_then_raw_bytes(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path)
        try:
            a.forward(1, "GetItem", b'{"TableName":"t"}', lambda status, payload: None)
            body = b'{"TableName":"t"}'
            assert bytes(a._links[1].buffer) == (
                struct.pack(">IBIB", 1 + 4 + 1 + 7 + len(body), 1, 1, 7) + b"GetItem" + body)
        finally:
            await close_all(a, b)

    run(main())


def test_forward_frames_take_any_bytes_like_body_and_a_turn_of_them_stays_whole():
    # A bytes or bytearray body is copied straight in (a plain batch's
    # parts are bytearrays), anything else as bytes(body); a buffer that
    # takes many frames (allocated ahead of them) keeps every one intact.
    body = b'{"TableName":"t"}' * 40
    frames = []
    for kind in (bytes, bytearray, memoryview):
        buf = bytearray()
        _peer.append_forward(buf, 7, b"GetItem", kind(body))
        frames.append(bytes(buf))
    assert frames[0] == frames[1] == frames[2] == (
        struct.pack(">IBIB", 1 + 4 + 1 + 7 + len(body), 1, 7, 7) + b"GetItem" + body)
    buf = bytearray()
    for i in range(60):
        _peer.append_forward(buf, i, b"Op", body[: i * 13])
    offset = 0
    for i in range(60):
        size, kind, frame_id, op_len = struct.unpack_from(">IBIB", buf, offset)
        assert (kind, frame_id, op_len) == (1, i, 2)
        assert bytes(buf[offset + 10:offset + 4 + size]) == b"Op" + body[: i * 13]
        offset += 4 + size
    assert offset == len(buf)


def test_forwards_are_answered_with_raw_bytes_out_of_order(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path)
        try:
            assert await forwarded(a, 1, "GetItem", b'{"k":1}') == (201, b'GetItem:{"k":1}')
            delays = [b"0.05", b"0", b"0.03", b"0.01", b"0", b"0.02"] * 10
            answers = await asyncio.gather(*(forwarded(a, 1, "Slow", d) for d in delays))
            assert answers == [(200, d) for d in delays]
            assert a.waiting() == 0
        finally:
            await close_all(a, b)

    run(main())


def test_forward_handler_error_is_a_peer_error(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path)
        try:
            status, error = await forwarded(a, 1, "Fail", b"")
            assert status == 0 and type(error) is PeerError and "ValueError: bad request" in str(error)
            assert await forwarded(a, 1, "Ok", b"x") == (201, b"Ok:x")
        finally:
            await close_all(a, b)

    run(main())


def test_forward_that_cannot_be_framed_raises_and_leaves_nothing_waiting(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path)
        try:
            answers = []
            with pytest.raises(ValueError):
                a.forward(1, "X" * 256, b"", lambda status, payload: answers.append(status))
            with pytest.raises(TypeError):
                a.forward(1, "Ok", "not bytes", lambda status, payload: answers.append(status))
            assert a.waiting() == 0 and answers == []
            assert await forwarded(a, 1, "Ok", b"x") == (201, b"Ok:x")
        finally:
            await close_all(a, b)

    run(main())


def test_forward_answer_that_cannot_be_framed_is_a_peer_error(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path)
        try:
            for op, body in (("Text", b"x"), ("Status", b"70000"), ("Status", b"0")):
                status, error = await forwarded(a, 1, op, body)
                assert status == 0 and type(error) is PeerError, (op, body)
            assert await forwarded(a, 1, "Status", b"65535") == (65535, b"")
            assert await forwarded(a, 1, "Ok", b"x") == (201, b"Ok:x")
        finally:
            await close_all(a, b)

    run(main())


def test_forward_times_out(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path, timeout=0.2)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            never = [forwarded(a, 1, "Never", b"") for _ in range(3)]
            answered = forwarded(a, 1, "Ok", b"")
            assert await answered == (201, b"Ok:")
            for fut in never:
                status, error = await fut
                assert status == 0 and type(error) is PeerTimeout
            assert 0.15 <= loop.time() - started < 2.0
            assert a.waiting() == 0
        finally:
            await close_all(a, b)

    run(main())


def test_forward_ids_wrap_at_four_bytes_and_still_expire_in_order(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path, timeout=0.2)
        try:
            from server.peers import MAX_ID

            a._forwarded = MAX_ID - 2   # the ids go ..., 0xFFFFFFFF, 0, 1, ...
            never = [forwarded(a, 1, "Never", b"") for _ in range(5)]
            assert await forwarded(a, 1, "Ok", b"x") == (201, b"Ok:x")
            assert sorted(a._links[1].forwards) == [0, 1, 2, MAX_ID - 1, MAX_ID]
            await asyncio.sleep(0.1)
            later = forwarded(a, 1, "Never", b"")
            for fut in never:
                status, error = await fut
                assert status == 0 and type(error) is PeerTimeout
            status, error = await later
            assert status == 0 and type(error) is PeerTimeout
            assert a.waiting() == 0
        finally:
            await close_all(a, b)

    run(main())


def test_calls_and_forwards_waiting_on_one_link_both_time_out(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path, timeout=0.2)
        try:
            call = a.call(1, "never", None)
            forward = forwarded(a, 1, "Never", b"")
            with pytest.raises(PeerTimeout):
                await call
            status, error = await forward
            assert status == 0 and type(error) is PeerTimeout
            assert a.waiting() == 0
        finally:
            await close_all(a, b)

    run(main())


def test_lost_connection_fails_every_forward_and_unreachable_peer_fails(tmp_path):
    async def main():
        a, b = await forward_nodes(tmp_path)
        try:
            assert await forwarded(a, 1, "Ok", b"") == (201, b"Ok:")
            waiting = [forwarded(a, 1, "Never", b"") for _ in range(5)]
            await asyncio.sleep(0.05)
            await b.close()
            for fut in waiting:
                status, error = await fut
                assert status == 0 and isinstance(error, PeerUnavailable)
            status, error = await forwarded(a, 5, "Ok", b"")
            assert status == 0 and isinstance(error, PeerUnavailable)
            assert a.waiting() == 0
        finally:
            await close_all(a)

    run(main())


def test_frames_split_across_reads_are_read_whole(tmp_path):
    # Forward, answer and msgpack frames in one stream, handed over a byte
    # at a time (and then all at once): each is read once, whole.
    async def main():
        (a,) = await forward_nodes(tmp_path, 1)
        try:
            from server.peers import _Link

            class Transport:
                def __init__(self):
                    self.written = bytearray()

                def write(self, data):
                    self.written += data

            link = _Link(a, peer=1)
            link.transport = Transport()
            answers = []
            link.forwards[9] = lambda status, payload: answers.append((status, payload))
            stream = (struct.pack(">IBIB", 1 + 4 + 1 + 7 + 3, 1, 4, 7) + b"GetItem" + b"abc"
                      + struct.pack(">IBIH", 1 + 4 + 2 + 5, 2, 9, 200) + b"hello"
                      + struct.pack(">I", len(msgspec.msgpack.encode(Call(3, "echo", 5))))
                      + msgspec.msgpack.encode(Call(3, "echo", 5)))
            for i in range(len(stream)):
                link.data_received(stream[i:i + 1])
            assert answers == [(200, b"hello")] and not link.inbox
            link.flush()
            replies = bytes(link.transport.written)
            # Our answer to forward 4, then the reply to call 3.
            assert replies[:11] == struct.pack(">IBIH", 1 + 4 + 2 + 11, 2, 4, 201)
            assert replies[11:22] == b"GetItem:abc"
            assert msgspec.msgpack.decode(replies[26:]) == [2, 3, True, 5]
        finally:
            await close_all(a)

    run(main())
