"""The peer protocol between workers (server/peers.py), over real Unix sockets.

Each test runs its own event loop with two or three PeerNodes in one process
and is bounded by a timeout of a few seconds.
"""

import asyncio
import struct

import msgspec
import pytest

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
