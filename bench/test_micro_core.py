"""The Cython core: stable hash, key codec, ring, partition get/put/range."""

import random

import pytest

from kvstore._core import Partition, Ring, encode_key_value, encode_n, encode_s, hash64

N_ITEMS = 100_000


def _key(i):
    return encode_s("k%07d" % i)


@pytest.fixture(scope="module")
def filled():
    """A Partition holding 100k single-key items and 10k collections of 10."""
    part = Partition()
    keys = []
    for i in range(N_ITEMS):
        hk = _key(i)
        part.put(hash64(hk), hk, b"", {"pk": {"S": "k%07d" % i}}, 200)
        keys.append(hk)
    for p in range(N_ITEMS // 10):
        hk = encode_s("p%06d" % p)
        token = hash64(hk)
        for s in range(10):
            part.put(token, hk, encode_s("s%02d" % s), {"sk": s}, 200)
    return part, keys


def test_hash64_short_key(benchmark):
    data = b"k0001234"
    assert benchmark(hash64, data) == hash64(data)


def test_hash64_1k(benchmark):
    data = bytes(range(256)) * 4
    benchmark(hash64, data)


def test_codec_encode_s(benchmark):
    av = {"S": "k0001234"}
    assert benchmark(encode_key_value, av) == b"k0001234"


def test_codec_encode_n(benchmark):
    av = {"N": "-1234.5678"}
    out = benchmark(encode_key_value, av)
    assert out == encode_n("-1234.5678")


def test_codec_encode_b(benchmark):
    av = {"B": "AAECAwQFBgcICQ=="}
    assert benchmark(encode_key_value, av) == bytes(range(10))


def test_ring_partition_of(benchmark):
    ring = Ring([0, 1, 2, 3], 64)
    token = hash64(b"k0001234")
    index = benchmark(ring.partition_of, token)
    assert 0 <= index < len(ring)


def test_partition_get(benchmark, filled):
    part, keys = filled
    rnd = random.Random(1)
    probe = [keys[rnd.randrange(N_ITEMS)] for _ in range(1024)]
    state = [0]

    def get():
        state[0] = (state[0] + 1) & 1023
        return part.get(probe[state[0]], b"")

    assert benchmark(get) is not None


def test_partition_put_replace(benchmark, filled):
    part, keys = filled
    rnd = random.Random(2)
    probe = [(hash64(k), k) for k in (keys[rnd.randrange(N_ITEMS)] for _ in range(1024))]
    item = {"pk": {"S": "x"}}
    state = [0]

    def put():
        state[0] = (state[0] + 1) & 1023
        token, hk = probe[state[0]]
        return part.put(token, hk, b"", item, 200)

    assert benchmark(put) is not None


def test_partition_put_new_and_delete(benchmark):
    part = Partition()
    hk = encode_s("fresh")
    token = hash64(hk)
    item = {"pk": {"S": "fresh"}}

    def put_delete():
        part.put(token, hk, b"", item, 10)
        return part.delete(hk, b"")

    assert benchmark(put_delete) is item


def test_partition_query_10(benchmark, filled):
    part, _ = filled
    hk = encode_s("p001234")
    rows = benchmark(lambda: list(part.query(hk)))
    assert len(rows) == 10


def test_partition_query_range(benchmark, filled):
    part, _ = filled
    hk = encode_s("p001234")
    lo, hi = encode_s("s03"), encode_s("s06")
    rows = benchmark(lambda: list(part.query(hk, lo, hi)))
    assert len(rows) == 4


def test_partition_scan_page_100(benchmark, filled):
    part, _ = filled

    def page():
        out = []
        for row in part.scan():
            out.append(row)
            if len(out) == 100:
                break
        return out

    assert len(benchmark(page)) == 100
