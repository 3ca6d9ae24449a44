"""The token ring: partition_of/owner against a brute-force search, ranges
that tile the 64-bit token space exactly once, stability across instances,
and consistent hashing's promise that a new node takes about 1/N of the
tokens, all from the old nodes and none moved between old nodes.
"""

import random

import pytest

from kvstore._core import Ring, hash64

TOP = 2**64 - 1


def brute_partition_of(tokens, token):
    for i, t in enumerate(tokens):
        if t >= token:
            return i
    return 0


def in_range(ring, index, token):
    start, end = ring.partition_range(index)
    if index == 0:
        return token > start or token <= end
    return start < token <= end


def sample_tokens(ring, n=2000, seed=7):
    rnd = random.Random(seed)
    edges = {0, 1, TOP, TOP - 1}
    for t in ring.tokens:
        edges.update({t, max(t - 1, 0), min(t + 1, TOP)})
    return sorted(edges) + [rnd.randrange(2**64) for _ in range(n)]


@pytest.mark.parametrize("nodes,vnodes", [([0], 1), ([0], 8), ([0, 1, 2], 4), ([3, 7, 11, 20], 64)])
def test_ring_partition_of_matches_brute_force(nodes, vnodes):
    # The owner of a token is the first vnode clockwise from it (token >= t), wrapping.
    ring = Ring(nodes, vnodes)
    tokens = ring.tokens
    assert len(ring) == len(tokens) == len(nodes) * vnodes
    assert tokens == sorted(tokens)
    for t in sample_tokens(ring, 500):
        i = brute_partition_of(tokens, t)
        assert ring.partition_of(t) == i, t
        assert ring.owner(t) == ring.partition_owner(i)


def test_ring_places_vnodes_by_the_documented_hash():
    # Vnode j of node n sits at hash64(b"kvstore-ring:%d:%d" % (n, j)).
    ring = Ring([0, 5, 9], 16)
    points = sorted((hash64(b"kvstore-ring:%d:%d" % (n, j)), n) for n in (0, 5, 9) for j in range(16))
    assert ring.tokens == [t for t, _ in points]
    assert [ring.partition_owner(i) for i in range(len(ring))] == [n for _, n in points]


@pytest.mark.parametrize("nodes,vnodes", [([0], 1), ([0, 1], 3), ([0, 1, 2, 3], 64)])
def test_ring_every_token_in_exactly_one_partition(nodes, vnodes):
    # Partitions do not overlap and leave no gap: each token has exactly one home.
    ring = Ring(nodes, vnodes)
    for t in sample_tokens(ring, 300):
        homes = [i for i in range(len(ring)) if in_range(ring, i, t)]
        assert homes == [ring.partition_of(t)], t


@pytest.mark.parametrize("nodes,vnodes", [([0], 1), ([0, 1], 3), ([0, 1, 2, 3], 64)])
def test_ring_ranges_tile_the_token_space(nodes, vnodes):
    # Consecutive ranges meet end to start, and together cover 2**64 tokens.
    ring = Ring(nodes, vnodes)
    n = len(ring)
    total = 0
    for i in range(n):
        start, end = ring.partition_range(i)
        assert end == ring.tokens[i]
        assert start == ring.tokens[i - 1]               # i == 0: the last token (wrap)
        length = (end - start) % 2**64                    # partition 0 wraps past 2**64-1
        if len(ring) == 1:
            length = 2**64                                 # one vnode wraps all the way round
        total += length
    assert total == 2**64


def test_ring_single_vnode_owns_everything():
    # One vnode: partition 0 wraps all the way round.
    ring = Ring([4], 1)
    assert ring.partition_range(0) == (ring.tokens[0], ring.tokens[0])
    for t in (0, ring.tokens[0], ring.tokens[0] + 1, TOP):
        assert ring.partition_of(t) == 0 and ring.owner(t) == 4


def test_ring_is_stable_across_instances():
    # Placement depends only on (nodes, vnodes), never on the process or node order.
    a, b = Ring([0, 1, 2], 32), Ring([2, 0, 1], 32)
    assert a.tokens == b.tokens
    assert [a.partition_owner(i) for i in range(len(a))] == [b.partition_owner(i) for i in range(len(b))]
    assert a.partitions_of(1) == b.partitions_of(1)


def test_ring_adding_a_node_moves_about_one_nth():
    # A fifth node takes ~1/5 of the tokens, only from the others; nothing moves between old nodes.
    old, new = Ring([0, 1, 2, 3], 64), Ring([0, 1, 2, 3, 4], 64)
    rnd = random.Random(11)
    tokens = [rnd.randrange(2**64) for _ in range(20000)]
    moved = 0
    for t in tokens:
        before, after = old.owner(t), new.owner(t)
        if before != after:
            assert after == 4
            moved += 1
    assert 0.12 < moved / len(tokens) < 0.28


def test_ring_partitions_of_lists_each_partition_once():
    # Every partition belongs to exactly one node; a node not on the ring owns none.
    ring = Ring([0, 1, 2], 8)
    owned = sorted(i for n in ring.nodes for i in ring.partitions_of(n))
    assert owned == list(range(len(ring)))
    assert all(ring.partition_owner(i) == 1 for i in ring.partitions_of(1))
    assert len(ring.partitions_of(1)) == 8
    assert ring.partitions_of(99) == []
    assert ring.nodes == [0, 1, 2] and ring.vnodes == 8


def test_ring_rejects_bad_arguments():
    # Misuse is a plain Python error.
    with pytest.raises(ValueError):
        Ring([])
    with pytest.raises(ValueError):
        Ring([1, 1])
    with pytest.raises(ValueError):
        Ring([1], 0)
    ring = Ring([0, 1], 2)
    for bad in (-1, len(ring)):
        with pytest.raises(IndexError):
            ring.partition_owner(bad)
        with pytest.raises(IndexError):
            ring.partition_range(bad)
    for bad in (-1, 2**64):
        with pytest.raises(OverflowError):
            ring.partition_of(bad)
