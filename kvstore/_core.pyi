"""Typed stubs of kvstore's compiled core (kvstore/_core.pyx).

The core holds the stable key hash, the key codec, the token ring and the
storage of one ring partition. It raises plain ValueError/TypeError/
OverflowError/IndexError when misused, never a DynamoDB error.
"""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

def hash64(data: bytes) -> int:
    """xxHash64 (seed 0) of ``data``: identical on every platform and process."""

def token_of(pk_bytes: bytes) -> int:
    """The ring token of an encoded partition key: ``hash64(pk_bytes)``."""

def encode_key_value(av: dict[str, Any]) -> bytes:
    """Order-preserving bytes of {"S": str} | {"N": str} | {"B": bytes | base64 str}."""

def encode_s(s: str) -> bytes:
    """UTF-8 bytes (DynamoDB orders strings by UTF-8 bytes)."""

def encode_n(n: str) -> bytes:
    """Bytes whose bytewise order is numeric order; equal numbers give equal bytes.
    Accepts any finite number Decimal() accepts whose exponent fits in the key
    encoding (far beyond DynamoDB's 1E-130 .. 9.9..9E+125); else ValueError."""

def encode_b(b: bytes | bytearray | memoryview | str) -> bytes:
    """The raw bytes; a str is the wire form (base64) and is decoded."""

def prefix_bounds(prefix: bytes) -> tuple[bytes, bytes | None]:
    """(lo, hi): the byte strings starting with ``prefix`` are exactly
    lo <= s < hi (hi None: unbounded). For begins_with:
    ``partition.query(hk, lo, hi, lo_inclusive=True, hi_inclusive=False)``."""

def validate_item_fast(item: Any) -> tuple[dict[str, Any], int] | None:
    """``kvstore.values.walk_item(item)`` -- (the item as stored, its size) --
    for items whose values are S, canonical N, BOOL, NULL, bytes B, and M/L
    of those (16 levels at most); None for anything else, errors included."""

def plain_item_fast(item: Any) -> tuple[dict[str, Any], int] | None:
    """``kvstore.embedded.to_wire(item)`` then ``walk_item``, in one step, for
    dicts of str, bool, int and Decimal (plain notation, 38 digits), None,
    bytes, dict, list, tuple; None for anything else."""

def wire_item_plain(item: Any) -> dict[str, Any] | None:
    """``kvstore.embedded.from_wire(item)`` for stored items of S, N, BOOL,
    NULL, bytes B, M, L; None for anything else (sets, base64 text)."""

def plain_key_fast(
    key: Any, hash_name: str, hash_type: str, range_name: str | None, range_type: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """(hash AttributeValue, range AttributeValue or None) of a plain key that
    ``key_from_key`` certainly accepts (exactly the key attributes; a str of
    1..limit/4 characters, an int of at most 38 digits, 1..limit bytes);
    None otherwise."""

def item_key_fast(
    item: dict[str, Any], hash_name: str, hash_type: str, range_name: str | None, range_type: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """(hash AttributeValue, range AttributeValue or None) of a validated item
    whose key attributes ``kvstore.api.items.check_item_key`` certainly
    accepts (right type, non-empty S of at most limit/4 characters, any N,
    1..limit bytes); None otherwise."""

def wire_key_fast(
    key: Any, hash_name: str, hash_type: str, range_name: str | None, range_type: str | None
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """(hash AttributeValue, range AttributeValue or None) of a request's
    wire ``Key`` that ``key_from_key`` certainly accepts unchanged (exactly
    the key attributes; S of 1..limit UTF-8 bytes, canonical N; never B);
    None otherwise."""

def value_size_fast(av: Any) -> int:
    """The size ``validate_value``'s walk gives ``av`` when it is valid and
    stored unchanged (S, canonical N, BOOL, NULL, bytes B, M/L of those);
    -1 otherwise."""

class Ring:
    """Consistent-hash ring with ``vnodes`` virtual nodes per node.

    Vnode j of node n sits at ``hash64(b"kvstore-ring:%d:%d" % (n, j))``;
    partitions are the vnodes in (token, node, j) order. Partition i owns
    (tokens[i-1], tokens[i]]; partition 0 wraps and owns
    (tokens[-1], 2**64-1] and [0, tokens[0]].
    """

    nodes: list[int]
    vnodes: int
    def __init__(self, nodes: Iterable[int], vnodes: int = 64) -> None: ...
    def __len__(self) -> int: ...
    @property
    def tokens(self) -> list[int]:
        """Vnode tokens in partition order (ascending)."""
    def partition_of(self, token: int) -> int:
        """Index of the first vnode whose token is >= ``token``, wrapping to 0."""
    def owner(self, token: int) -> int: ...
    def partition_owner(self, index: int) -> int: ...
    def partition_range(self, index: int) -> tuple[int, int]:
        """(start_exclusive, end_inclusive); for index 0 always the wrap
        (tokens[-1], tokens[0]), the whole space when there is one vnode."""
    def partitions_of(self, node: int) -> list[int]: ...

json_encode: Callable[[Any], bytes]
"""The wire JSON encoder (msgspec's) of the items stored as their JSON; the
server encodes its answers with it."""

json_decode: Callable[[bytes], Any]
"""json_encode's inverse: how an item stored as its JSON is read back."""

class Partition:
    """Items of one ring partition of one table, ordered by (token, hk, sk);
    O(1) get. Items are opaque (None is not an item), returned as put --
    but for those the fast writes (store_writes, store_plain_item) stored
    as their JSON alone, returned decoded: equal, a new dict each time."""

    prefix_bounds = prefix_bounds
    def __init__(self) -> None: ...
    def __len__(self) -> int: ...
    @property
    def size_bytes(self) -> int:
        """Sum of the ``size`` given at put over the items stored."""
    def item_count(self) -> int: ...
    def collection_size(self, hk: bytes) -> int: ...
    def get(self, hk: bytes, sk: bytes) -> Any | None: ...
    def get_sized(self, hk: bytes, sk: bytes) -> tuple[Any, int] | None:
        """(item, its size as given at put), or None."""
    def get_raw(self, hk: bytes, sk: bytes, encode: Callable[[Any], bytes]) -> bytes | None:
        """``encode(item)`` of the item under (hk, sk), cached beside it until
        the item is replaced or deleted (the stored JSON itself, for an item
        stored as its JSON: ``encode`` must be json_encode or write the
        same); None if there is none."""
    def query_raw(
        self, hk: bytes, lo: bytes | None, hi: bytes | None, lo_inclusive: bool, hi_inclusive: bool,
        reverse: bool, encode: Callable[[Any], bytes],
    ) -> list[bytes]:
        """``[encode(item) for _sk, item in query(...)]``, each cached as by get_raw."""
    def put(self, token: int, hk: bytes, sk: bytes, item: Any, size: int, want_old: bool = True) -> Any | None:
        """Store and return the replaced item (or None; always None when not
        ``want_old``). ``token`` must be the same for every put of one ``hk``
        (ValueError otherwise)."""
    def delete(self, hk: bytes, sk: bytes) -> Any | None: ...
    def query(
        self,
        hk: bytes,
        lo: bytes | None = None,
        hi: bytes | None = None,
        lo_inclusive: bool = True,
        hi_inclusive: bool = True,
        reverse: bool = False,
        start_after: bytes | None = None,
    ) -> Iterator[tuple[bytes, Any]]: ...
    def scan(self, after: tuple[int, bytes, bytes] | None = None) -> Iterator[tuple[int, bytes, bytes, Any]]: ...
    def _check(self) -> None: ...

def read_raw(
    key: Any, hash_name: str, hash_type: str, range_name: str | None, range_type: str | None, ring: Ring,
    partitions: Any, encode: Callable[[Any], bytes],
) -> bytes | None:
    """``encode(item)`` (cached) of the item a wire ``Key`` that wire_key_fast
    accepts names, b"" if there is none; None for any other key, or when its
    partition (``partitions[ring index]``) is not a Partition."""

def read_raws(
    keys: Any, hash_name: str, hash_type: str, range_name: str | None, range_type: str | None, ring: Ring,
    partitions: Any, encode: Callable[[Any], bytes],
) -> tuple[list[bytes], int] | None:
    """(the found items' cached JSON in key order, their stored sizes summed)
    for a list of 1..100 distinct wire keys that wire_key_fast accepts; None
    otherwise."""

def plain_writes(
    requests: Any, hash_name: str, hash_type: str, range_name: str | None, range_type: str | None,
    max_size: int,
) -> list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None, int]] | None:
    """(hash AV, range AV or None, item or None for a delete, size) of one
    table's BatchWriteItem WriteRequests when each is a plain PutRequest
    (validate_item_fast, size <= max_size, key as item_key_fast) or
    DeleteRequest (wire_key_fast); None otherwise."""

def locate_writes(
    writes: list[tuple[Any, Any, Any, int]], ring: Ring, partitions: Any,
) -> list[tuple[Partition, int, bytes, bytes]] | None:
    """Table.locate of each of plain_writes' writes; None if an item is named
    twice or a partition is not a Partition."""

def store_writes(writes: list[tuple[Any, Any, Any, int]], locs: list[tuple[Partition, int, bytes, bytes]]) -> None:
    """Put / delete each write at its location (a table with no index,
    stream or log: what Table.write / Table.remove do there), each item as
    its JSON alone (json_encode) when json_decode gives it back exactly."""

def route_writes(
    table: Any, requests: list[Any], writes: list[tuple[Any, Any, Any, int]],
    groups: dict[int, dict[str, list[Any]]], forms: dict[int, bytearray] | None,
) -> bool | None:
    """Split one table's plain writes (plain_writes' of ``requests``) by the
    owner ``table.ring`` gives them: each request into
    ``groups[owner][table.name]``, and when ``forms`` is a dict each
    write's stored form (hk, sk, JSON, size; a section per table with its
    name and id) into the part ``forms[owner]``.  None if an item is named
    twice; else whether the forms are complete (False when a put has no
    exact JSON)."""

def route_raw_writes(body: bytes, tables: dict[str, Any], max_size: int) -> dict[int, bytearray] | None:
    """The parts route_writes makes of a plain BatchWriteItem (every table
    writing alone), made from its raw JSON ``body`` with nothing decoded:
    ``{owner: part}``, or None unless certain from the bytes (only
    RequestItems, tables named once, 1..25 PutRequest Item / DeleteRequest
    Key, items and keys with no escape and no member name twice, each one
    plain_writes takes, no item twice)."""

def store_part(part: bytes | bytearray, tables: dict[str, Any]) -> bool | None:
    """Store a part that route_writes made: None, nothing written, when a
    table is missing, not the one the front saw (its id) or does not write
    alone, or a partition is not a Partition here; else True, applied in
    order as store_writes.  ValueError for a malformed part."""

def routed_writes(part: bytes | bytearray) -> list[tuple[str, str, list[tuple[bytes, bytes, bytes, int]]]]:
    """A part that route_writes made, as ``[(table name, table id, [(hk,
    sk, JSON, size), ...]), ...]`` (size -1: a delete)."""

def store_item(part: Partition, token: int, hk: bytes, sk: bytes, item: dict[str, Any], size: int) -> None:
    """Put a validated item (a table with no index, stream or log), stored
    as store_writes stores; the replaced item is dropped unread."""

def store_plain_item(
    item: Any, hash_name: str, hash_type: str, range_name: str | None, range_type: str | None, ring: Ring,
    partitions: Any, max_size: int,
) -> bool | None:
    """Store a PutItem's item (a table with no index, stream or log) as
    store_writes does: True when validate_item_fast accepts it within
    max_size, its key is certain (item_key_fast) and its partition is a
    Partition; else None, nothing stored."""

def wire_owner(body: bytes, member: bytes, tables: dict[str, Any], ring: Ring) -> int:
    """The ring node owning the hash key of a GetItem/DeleteItem/UpdateItem
    (``member`` b"Key") or PutItem (b"Item") given as its raw JSON ``body``:
    what ``ring.owner(hash64(encode_key_value(req[member][hash_key])))``
    gives for the decoded request, answered with no decoding when the body
    is well-formed JSON, TableName and ``member`` are there once with no
    escaped name, the table's hash key is of type S and its value is
    {"S": a string with no escape}; -1 otherwise."""

def wire_query_owner(body: bytes, tables: dict[str, Any], ring: Ring) -> int:
    """The ring node owning the hash key of a Query given as its raw JSON
    ``body``: the owner of the value server/cluster.py's
    ``_query_hash_value`` reads from the decoded request, answered with no
    decoding when the body is well-formed JSON (as for wire_owner), the
    table and IndexName (if any) are named by strings with no escape, there
    is no KeyConditions, the KeyConditionExpression is ASCII with no escape
    and of the shape "<hash key> = :v ..." (names through
    ExpressionAttributeNames), the hash key is of type S and ":v" is
    {"S": a string with no escape} in ExpressionAttributeValues; -1
    otherwise."""
