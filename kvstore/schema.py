"""Tables: their definition (as validated wire dicts) and their storage.

A :class:`Table` keeps what CreateTable was given, exactly, so that
DescribeTable can answer with it, plus what the engine derives from it: the
key attribute names and types, and the table's storage.  Storage follows
DESIGN.md's token order: the partition key's order-preserving bytes hash to a
64-bit token, the ring maps the token to one of its partitions, and each
:class:`kvstore._core.Partition` keeps its item collections in token order and
the items of a collection by sort key.

The ring is the database's (one per shard); a table has a Partition for every
ring partition this shard owns.  With one shard that is all of them.
"""

import time
import uuid

from ._core import Partition, encode_key_value, hash64

__all__ = ["Table"]


class Table:
    def __init__(
        self,
        name,
        key_schema,
        attribute_definitions,
        *,
        billing_mode="PROVISIONED",
        provisioned_throughput=None,
        local_secondary_indexes=None,
        global_secondary_indexes=None,
        stream_specification=None,
        table_class=None,
        deletion_protection=False,
        tags=None,
        sse_specification=None,
        region="us-east-1",
        account_id="000000000000",
    ):
        self.name = name
        self.key_schema = key_schema
        self.attribute_definitions = attribute_definitions
        self.billing_mode = billing_mode
        self.provisioned_throughput = provisioned_throughput
        self.local_secondary_indexes = local_secondary_indexes
        self.global_secondary_indexes = global_secondary_indexes
        self.stream_specification = stream_specification
        self.table_class = table_class
        self.deletion_protection = deletion_protection
        self.tags = tags
        self.sse_specification = sse_specification
        self.region = region
        self.account_id = account_id
        self.creation_date_time = time.time()
        self.table_id = str(uuid.uuid4())
        self.arn = f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"
        self.status = "ACTIVE"

        types = {d["AttributeName"]: d["AttributeType"] for d in attribute_definitions}
        self.hash_key = self.range_key = None
        for element in key_schema:
            if element["KeyType"] == "HASH":
                self.hash_key = element["AttributeName"]
            else:
                self.range_key = element["AttributeName"]
        self.hash_type = types[self.hash_key]
        self.range_type = types[self.range_key] if self.range_key is not None else None
        self.key_names = (
            (self.hash_key,) if self.range_key is None else (self.hash_key, self.range_key)
        )
        self.ring = None
        self.partitions = None

    # -- storage ---------------------------------------------------------

    def attach(self, ring, owned):
        """Create the storage for the ring partitions this shard owns."""
        self.ring = ring
        self.partitions = {index: Partition() for index in owned}

    @property
    def item_count(self):
        return sum(len(p) for p in self.partitions.values())

    @property
    def size_bytes(self):
        return sum(p.size_bytes for p in self.partitions.values())

    def locate(self, hash_value, range_value):
        """The location of a key given as validated AttributeValues.

        A location is ``(partition, token, hk, sk)``: what every read and
        write of that item needs, computed once per request.
        """
        hk = encode_key_value(hash_value)
        token = hash64(hk)
        sk = encode_key_value(range_value) if range_value is not None else b""
        return self.partitions[self.ring.partition_of(token)], token, hk, sk

    # Every write of every operation goes through these two, so that what
    # must follow a write (index maintenance, streams) has one place to live.

    def write(self, loc, item, size):
        """Store ``item`` (validated, ``size`` bytes) at ``loc``; return the old item or None."""
        partition, token, hk, sk = loc
        return partition.put(token, hk, sk, item, size)

    def remove(self, loc):
        """Delete the item at ``loc``; return it, or None if there was none."""
        partition, _token, hk, sk = loc
        return partition.delete(hk, sk)

    def read(self, loc):
        """The item stored at ``loc``, or None."""
        partition, _token, hk, sk = loc
        return partition.get(hk, sk)
