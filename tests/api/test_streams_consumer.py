"""A stream consumer rebuilds a table exactly from its NEW_AND_OLD_IMAGES stream.

A seeded mixed workload -- PutItem, UpdateItem, DeleteItem (some conditional
and failing), BatchWriteItem, TransactWriteItems, and TTL expiry -- runs
against a table with a stream; a consumer then reads every shard from
TRIM_HORIZON, applies each record (INSERT/MODIFY: NewImage, REMOVE: gone)
and must end with exactly what a Scan of the table returns.  It also checks
what each record claims: its OldImage is the consumer's current state of
that key, INSERT only for absent keys, and TTL deletions are REMOVE records
made by the service.

Embedded, the TTL sweep is driven with ``db.sweep_ttl(now=...)``; over HTTP
the test runs its own server with a short ``--ttl-interval`` and waits (at
most 20 s) for the sweeper.
"""

import random
import time

import pytest

import kvstore
from kvstore.errors import ConditionalCheckFailedException, TransactionCanceledException

from test_streams import BotoCaller, StreamsClient, boto_client

SERVICE = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}


class Client(BotoCaller):
    """The DynamoDB API through boto3: in-process on ``db``, or against ``endpoint``."""

    def __init__(self, db=None, endpoint=None):
        self.db = db
        self.mode = "embedded" if db is not None else "http"
        super().__init__(boto_client("dynamodb", endpoint, db))


@pytest.fixture(params=["embedded", "http"])
def setup(request):
    if request.param == "embedded":
        ddb = Client(db=kvstore.Database())
        yield ddb, StreamsClient(ddb), None
        return
    # A server of its own, sweeping TTL every 0.2 s.
    srv = type(request.getfixturevalue("server"))("--ttl-interval", "0.2")
    try:
        ddb = Client(endpoint=srv.endpoint)
        yield ddb, StreamsClient(ddb, srv.endpoint), srv
    finally:
        srv.stop()


def _key(i):
    return {"pk": {"S": f"k{i % 7}"}, "sk": {"N": str(i % 5)}}


def _workload(ddb, name, rng):
    past = int(time.time()) - 3600
    future = int(time.time()) + 10 * 24 * 3600
    for step in range(300):
        i = rng.randrange(35)
        key = _key(i)
        choice = rng.random()
        try:
            if choice < 0.25:
                item = dict(key, v={"N": str(rng.randrange(4))}, s={"S": rng.choice(["a", "b"])})
                if rng.random() < 0.2:
                    item["exp"] = {"N": str(future)}
                ddb.call("PutItem", TableName=name, Item=item)
            elif choice < 0.45:
                ddb.call("UpdateItem", TableName=name, Key=key,
                         UpdateExpression="SET v = :v ADD c :one",
                         ExpressionAttributeValues={":v": {"N": str(rng.randrange(3))}, ":one": {"N": "1"}})
            elif choice < 0.55:
                ddb.call("UpdateItem", TableName=name, Key=key, UpdateExpression="SET v = :v",
                         ConditionExpression="attribute_exists(pk)",
                         ExpressionAttributeValues={":v": {"N": "9"}})
            elif choice < 0.68:
                ddb.call("DeleteItem", TableName=name, Key=key)
            elif choice < 0.8:
                requests = []
                seen = set()
                for _ in range(rng.randrange(1, 6)):
                    j = rng.randrange(35)
                    if (j % 7, j % 5) in seen:
                        continue  # one request per key in a batch
                    seen.add((j % 7, j % 5))
                    if rng.random() < 0.7:
                        requests.append({"PutRequest": {"Item": dict(_key(j), b={"N": str(step)})}})
                    else:
                        requests.append({"DeleteRequest": {"Key": _key(j)}})
                ddb.call("BatchWriteItem", RequestItems={name: requests})
            elif choice < 0.92:
                a, b = rng.sample(range(35), 2)
                if (a % 7, a % 5) == (b % 7, b % 5):
                    continue
                ddb.call("TransactWriteItems", TransactItems=[
                    {"Put": {"TableName": name, "Item": dict(_key(a), t={"S": f"tx{step}"})}},
                    {"Update": {"TableName": name, "Key": _key(b), "UpdateExpression": "SET t = :t",
                                "ConditionExpression": "attribute_not_exists(nope)",
                                "ExpressionAttributeValues": {":t": {"S": f"tx{step}"}}}},
                ])
            else:
                # Expired an hour ago: the sweeper deletes it, unless a later write replaces it.
                ddb.call("PutItem", TableName=name, Item=dict(key, exp={"N": str(past)}, v={"N": "0"}))
        except (ConditionalCheckFailedException, TransactionCanceledException):
            pass


def _scan(ddb, name):
    items, req = [], {"TableName": name}
    while True:
        out = ddb.call("Scan", **req)
        items.extend(out["Items"])
        if "LastEvaluatedKey" not in out:
            return items
        req["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def _freeze(key):
    return tuple(sorted((k, tuple(v.items())) for k, v in key.items()))


def _replay(records):
    state = {}
    for r in records:
        data = r["dynamodb"]
        k = _freeze(data["Keys"])
        if r["eventName"] == "INSERT":
            assert k not in state and "OldImage" not in data
            state[k] = data["NewImage"]
        elif r["eventName"] == "MODIFY":
            assert state[k] == data["OldImage"] and data["OldImage"] != data["NewImage"]
            state[k] = data["NewImage"]
        else:
            assert r["eventName"] == "REMOVE" and state.pop(k) == data["OldImage"]
    return state


def test_consumer_rebuilds_table_from_stream(setup, table_name):
    ddb, streams, srv = setup
    name = table_name + "_consumer"
    ddb.call("CreateTable", TableName=name, BillingMode="PAY_PER_REQUEST",
             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                   {"AttributeName": "sk", "AttributeType": "N"}],
             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    ddb.call("UpdateTimeToLive", TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    arn = ddb.call("DescribeTable", TableName=name)["Table"]["LatestStreamArn"]
    seed = random.randrange(1 << 30)
    print("seed", seed)
    _workload(ddb, name, random.Random(seed))
    for pk in ("ttl-a", "ttl-b"):
        ddb.call("PutItem", TableName=name, Item={"pk": {"S": pk}, "sk": {"N": "0"},
                                                  "exp": {"N": str(int(time.time()) - 60)}})
    now = time.time()
    expired = {(i["pk"]["S"], i["sk"]["N"]) for i in _scan(ddb, name)
               if "exp" in i and float(i["exp"]["N"]) < now}

    if srv is None:
        deleted, done = ddb.db.sweep_ttl()
        assert done and deleted == len(expired)
    else:
        deadline = time.time() + 20
        while time.time() < deadline:
            remaining = [k for k in expired if "Item" in ddb.call(
                "GetItem", TableName=name, Key={"pk": {"S": k[0]}, "sk": {"N": k[1]}})]
            if not remaining:
                break
            time.sleep(0.2)
        assert not remaining

    records = streams.read_all(arn)
    state = _replay(records)
    table = {_freeze({"pk": i["pk"], "sk": i["sk"]}): i for i in _scan(ddb, name)}
    assert state == table
    # TTL deletions are REMOVE records made by the service, of expired items
    # (over HTTP the sweeper may also have run during the workload).
    ttl_removes = [r for r in records if "userIdentity" in r]
    removed = {(r["dynamodb"]["Keys"]["pk"]["S"], r["dynamodb"]["Keys"]["sk"]["N"]) for r in ttl_removes}
    assert expired <= removed
    for r in ttl_removes:
        assert r["eventName"] == "REMOVE" and r["userIdentity"] == SERVICE
        assert float(r["dynamodb"]["OldImage"]["exp"]["N"]) < time.time()
    if srv is None:
        assert len(ttl_removes) == len(expired)
