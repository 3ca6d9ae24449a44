"""The log's framing, writer and reader: torn tails are told from corruption.

A crash during an append leaves the file ending inside the last record; the
reader must recover every record before it and call the rest a torn tail.
Damage with valid data after it is corruption, never silently skipped.
"""

import os
import random

from kvstore.wal import (
    HEADER_SIZE, MAGIC, Atomic, Delete, Log, Put, atomic, read_segment, segment_name,
)


def write_log(tmp_path, records):
    log = Log(str(tmp_path), 1, "always")
    for record in records:
        log.append(record)
    log.commit()
    log.close()
    return os.path.join(str(tmp_path), segment_name(1))


def puts(n):
    return [Put("t", {"id": {"S": f"k{i}"}, "v": {"N": str(i)}, "b": {"B": b"\x00\xff"}}, 20) for i in range(n)]


def test_log_round_trip(tmp_path):
    """Records come back exactly, bytes (B values) included."""
    records = puts(10) + [Delete("t", {"id": {"S": "k1"}})]
    path = write_log(tmp_path, records)
    segment = read_segment(path, 1)
    assert segment.damage is None
    assert segment.records == records
    assert segment.end == os.path.getsize(path)


def test_every_truncation_of_the_last_record_is_a_torn_tail(tmp_path):
    """Cut anywhere inside the last record: the others recover, the rest is a torn tail."""
    path = write_log(tmp_path, puts(5))
    data = open(path, "rb").read()
    full = read_segment(path).end
    last_start = len(MAGIC)
    seg = read_segment(path)
    for r in seg.records[:-1]:
        import msgspec
        last_start += HEADER_SIZE + len(msgspec.msgpack.encode(r))
    for cut in range(last_start + 1, full):
        with open(path, "wb") as f:
            f.write(data[:cut])
        segment = read_segment(path)
        assert len(segment.records) == 4, cut
        assert segment.damage is not None and segment.damage.torn, cut
        assert segment.damage.offset == last_start
    with open(path, "wb") as f:
        f.write(data[:last_start])
    assert read_segment(path).damage is None


def test_zero_filled_tail_is_torn(tmp_path):
    """A crash can leave zeros where the last append was (delayed allocation)."""
    path = write_log(tmp_path, puts(3))
    with open(path, "ab") as f:
        f.write(b"\x00" * 100)
    segment = read_segment(path)
    assert len(segment.records) == 3
    assert segment.damage.torn


def test_a_flipped_byte_in_the_middle_is_corruption(tmp_path):
    """Damage followed by valid records is corruption, whichever byte it hits."""
    path = write_log(tmp_path, puts(6))
    data = bytearray(open(path, "rb").read())
    rng = random.Random(7)
    end_of_first = read_segment(path).end  # whole file
    for _ in range(40):
        pos = rng.randrange(len(MAGIC), len(data) // 2)
        damaged = bytearray(data)
        damaged[pos] ^= 0x5A
        with open(path, "wb") as f:
            f.write(damaged)
        segment = read_segment(path)
        assert segment.damage is not None, pos
        assert not segment.damage.torn, (pos, segment.damage)
        assert len(segment.records) < 6
    assert end_of_first == len(data)


def test_not_a_log(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(b"hello world, not a log")
    segment = read_segment(str(path))
    assert segment.damage is not None and not segment.damage.torn


def test_atomic_makes_one_record(tmp_path):
    """Writes inside atomic() are one Atomic record; one write stays itself."""
    log = Log(str(tmp_path), 1, "never")

    class DB:
        wal = log

    with atomic(DB):
        log.append(puts(1)[0])
        with log.atomic():  # nested blocks join the outer one
            log.append(Delete("t", {"id": {"S": "x"}}))
    with atomic(DB):
        log.append(puts(1)[0])
    with atomic(object()):  # no log: nothing to do
        pass
    assert log.seq == 2
    log.close()
    records = read_segment(os.path.join(str(tmp_path), segment_name(1))).records
    assert type(records[0]) is Atomic and len(records[0].records) == 2
    assert type(records[1]) is Put


def test_commit_policies(tmp_path):
    """always: synced at commit; never: written, not fsynced; close syncs."""
    for policy in ("always", "batch", "never"):
        d = tmp_path / policy
        d.mkdir()
        log = Log(str(d), 1, policy)
        log.append(puts(1)[0])
        assert log.pending and log.buffer
        log.commit()
        assert not log.buffer and log.flushed == 1
        if policy == "always":
            assert log.synced == 1
        log.close()
        assert log.synced == 1


def test_rotate_starts_a_new_segment(tmp_path):
    log = Log(str(tmp_path), 1, "always")
    log.append(puts(1)[0])
    assert log.rotate() == 2
    log.append(puts(2)[1])
    log.close()
    assert len(read_segment(str(tmp_path / segment_name(1))).records) == 1
    assert len(read_segment(str(tmp_path / segment_name(2))).records) == 1
