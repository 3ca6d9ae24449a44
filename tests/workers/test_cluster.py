"""A real 3-worker server, black box: what crosses workers behaves as one server.

One server for the module (``kvstore serve --workers 3 --port 0``).  Keys are spread over the workers by the
ring, so every test below touches all three; connections land on any worker
(SO_REUSEPORT), so most requests are forwarded.  The fault tests at the end
SIGKILL a worker.
"""

import concurrent.futures
import os
import random
import signal
import threading
import time

import pytest
from botocore.exceptions import ClientError

from test_supervisor import Cluster, client, wait_for
from worker_procs import gsi_table_spec

from kvstore._core import Ring, encode_key_value, hash64
from kvstore.database import VNODES

WORKERS = 3
RING = Ring(range(WORKERS), VNODES)


def owner(key):
    return RING.owner(hash64(encode_key_value({"S": key})))


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(WORKERS)
    yield c
    assert c.stop() == 0


@pytest.fixture
def ddb(cluster):
    return client(cluster.endpoint)


_names = iter(range(10**6))


@pytest.fixture
def table(ddb):
    name = f"w{os.getpid()}_{next(_names)}"
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    return name


def gsi_table(ddb):
    """A new table keyed by ``id`` with a GSI ``by_g`` on ``g`` (all attributes)."""
    name = f"g{os.getpid()}_{next(_names)}"
    ddb.create_table(**gsi_table_spec(name))
    return name


def put_many(ddb, table, n, prefix="k"):
    for i in range(0, n, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"id": {"S": f"{prefix}{j}"}, "n": {"N": str(j)}}}}
            for j in range(i, min(n, i + 25))]})


def test_keys_live_on_every_worker():
    assert {owner(f"k{i}") for i in range(50)} == set(range(WORKERS))


def test_metadata_is_the_same_on_every_worker(cluster, table):
    # Fresh connections land on any worker: every one describes the table alike.
    seen = set()
    for _ in range(12):
        d = client(cluster.endpoint).describe_table(TableName=table)["Table"]
        seen.add((d["TableId"], d["CreationDateTime"], d["TableArn"]))
    assert len(seen) == 1


def test_items_round_trip_across_workers(ddb, table):
    for i in range(60):
        ddb.put_item(TableName=table, Item={"id": {"S": f"k{i}"}, "n": {"N": str(i)}})
    for i in range(60):
        assert ddb.get_item(TableName=table, Key={"id": {"S": f"k{i}"}})["Item"]["n"] == {"N": str(i)}
    ddb.delete_item(TableName=table, Key={"id": {"S": "k3"}})
    assert "Item" not in ddb.get_item(TableName=table, Key={"id": {"S": "k3"}})
    out = ddb.update_item(TableName=table, Key={"id": {"S": "k4"}}, UpdateExpression="SET n = n + :one",
                          ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    assert out["Attributes"] == {"n": {"N": "5"}}
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        ddb.put_item(TableName=table, Item={"id": {"S": "k5"}}, ConditionExpression="attribute_not_exists(id)")


def test_describe_table_sums_every_worker(ddb, table):
    put_many(ddb, table, 90)
    d = ddb.describe_table(TableName=table)["Table"]
    assert d["ItemCount"] == 90
    assert d["TableSizeBytes"] > 0


def test_scan_pages_walk_every_worker_in_token_order(ddb, table):
    put_many(ddb, table, 120)
    everything = ddb.scan(TableName=table)["Items"]
    assert len(everything) == 120
    tokens = [hash64(encode_key_value(item["id"])) for item in everything]
    assert tokens == sorted(tokens)  # one token order across the workers
    for limit in (1, 7, 50):
        seen, start = [], None
        while True:
            kw = {"ExclusiveStartKey": start} if start else {}
            page = ddb.scan(TableName=table, Limit=limit, **kw)
            assert page["Count"] <= limit
            seen.extend(page["Items"])
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        assert seen == everything  # exact resumption: nothing lost, nothing twice


def test_parallel_scan_segments_partition_the_table(ddb, table):
    put_many(ddb, table, 100)
    union = []
    for segment in range(4):
        start = None
        while True:
            kw = {"ExclusiveStartKey": start} if start else {}
            page = ddb.scan(TableName=table, Segment=segment, TotalSegments=4, Limit=9, **kw)
            union.extend(item["id"]["S"] for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
    assert sorted(union) == sorted(f"k{i}" for i in range(100))


def test_scan_filter_count_and_scanned_count(ddb, table):
    put_many(ddb, table, 40)
    page = ddb.scan(TableName=table, FilterExpression="n < :ten", ExpressionAttributeValues={":ten": {"N": "10"}},
                    Select="COUNT")
    assert (page["Count"], page["ScannedCount"]) == (10, 40)


def test_query_runs_on_the_hash_keys_worker(ddb):
    name = f"q{os.getpid()}_{next(_names)}"
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"}],
    )
    for p in range(6):
        for s in range(5):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"p{p}"}, "sk": {"N": str(s)}})
    for p in range(6):
        out = ddb.query(TableName=name, KeyConditionExpression="pk = :p AND sk >= :s",
                        ExpressionAttributeValues={":p": {"S": f"p{p}"}, ":s": {"N": "2"}}, ScanIndexForward=False)
        assert [i["sk"]["N"] for i in out["Items"]] == ["4", "3", "2"]
    ddb.delete_table(TableName=name)


def test_batch_write_and_get_split_by_owner(ddb, table):
    out = ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"id": {"S": f"k{i}"}, "n": {"N": str(i)}}}} for i in range(25)]},
        ReturnConsumedCapacity="TOTAL")
    assert out["UnprocessedItems"] == {}
    assert out["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 25.0}]
    got = ddb.batch_get_item(RequestItems={table: {"Keys": [{"id": {"S": f"k{i}"}} for i in range(40)]}})
    assert sorted(int(i["n"]["N"]) for i in got["Responses"][table]) == list(range(25))
    assert got["UnprocessedKeys"] == {}


def test_plain_batch_items_read_back_exactly(ddb, table):
    # A batch spread over the workers (its parts sent in stored form) reads
    # back value for value: nested maps and lists, numbers, unicode; then a
    # batch of deletes and puts.
    items = [{
        "id": {"S": f"x{i}"}, "n": {"N": f"-{i}.125"}, "big": {"N": "98765432109876543210.5"},
        "text": {"S": f"\u00e9t\u00e9 \u2603 \U0001f600 \"{i}\" \\ \t"}, "flag": {"BOOL": i % 2 == 1},
        "nothing": {"NULL": True},
        "m": {"M": {"l": {"L": [{"S": "a"}, {"N": "7"}, {"M": {"deep": {"S": "\u00fc"}}}]}, "e": {"M": {}}}},
        "l": {"L": [{"L": []}, {"N": "0.001"}]},
    } for i in range(25)]
    out = ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}} for item in items]})
    assert out["UnprocessedItems"] == {}
    assert {owner(item["id"]["S"]) for item in items} == set(range(WORKERS))
    for item in items:
        assert ddb.get_item(TableName=table, Key={"id": item["id"]})["Item"] == item
    requests = [{"DeleteRequest": {"Key": {"id": {"S": f"x{i}"}}}} for i in range(0, 25, 2)]
    requests += [{"PutRequest": {"Item": {"id": {"S": f"x{i}"}, "v": {"S": "new"}}}} for i in range(1, 25, 2)]
    assert ddb.batch_write_item(RequestItems={table: requests})["UnprocessedItems"] == {}
    for i in range(25):
        got = ddb.get_item(TableName=table, Key={"id": {"S": f"x{i}"}}).get("Item")
        assert got == (None if i % 2 == 0 else {"id": {"S": f"x{i}"}, "v": {"S": "new"}})


def test_plain_batch_with_binary_values_or_an_index(ddb, table):
    # Not in stored form (B values; a table with a GSI): the JSON parts.
    items = [{"id": {"S": f"b{i}"}, "b": {"B": bytes([i, 0, 255])}, "bs": {"BS": [b"\x01", b"\x02"]},
              "g": {"S": "G"}} for i in range(25)]
    name = gsi_table(ddb)
    for target in (table, name):
        out = ddb.batch_write_item(RequestItems={target: [{"PutRequest": {"Item": item}} for item in items]})
        assert out["UnprocessedItems"] == {}
        for item in items:
            assert ddb.get_item(TableName=target, Key={"id": item["id"]})["Item"] == item
    found = ddb.query(TableName=name, IndexName="by_g", KeyConditionExpression="g = :g",
                      ExpressionAttributeValues={":g": {"S": "G"}})["Items"]
    assert sorted(i["id"]["S"] for i in found) == sorted(item["id"]["S"] for item in items)
    ddb.delete_table(TableName=name)


def test_batch_errors_are_whole_request_errors(ddb, table):
    # The duplicate is found before anything is written on any worker.
    requests = [{"PutRequest": {"Item": {"id": {"S": f"k{i}"}}}} for i in range(10)]
    requests.append({"PutRequest": {"Item": {"id": {"S": "k0"}}}})
    with pytest.raises(ClientError, match="duplicates"):
        ddb.batch_write_item(RequestItems={table: requests})
    assert ddb.scan(TableName=table)["Count"] == 0


def test_transaction_across_workers_is_all_or_nothing(ddb, table):
    put_many(ddb, table, 6)
    keys = [f"k{i}" for i in range(6)]
    assert len({owner(k) for k in keys}) > 1

    def tx(condition_on):
        return [{"Update": {
            "TableName": table, "Key": {"id": {"S": k}}, "UpdateExpression": "SET n = n + :one",
            "ConditionExpression": "n < :limit",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": "0" if k == condition_on else "100"}},
        }} for k in keys]

    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(TransactItems=tx("k4"))
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "None", "ConditionalCheckFailed", "None"]
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"id": {"S": k}}}} for k in keys])
    assert [r["Item"]["n"]["N"] for r in got["Responses"]] == [str(i) for i in range(6)]  # nothing written
    ddb.transact_write_items(TransactItems=tx(None))
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"id": {"S": k}}}} for k in keys])
    assert [r["Item"]["n"]["N"] for r in got["Responses"]] == [str(i + 1) for i in range(6)]



def test_partiql_transaction_across_workers_is_all_or_nothing(ddb, table):
    # ExecuteTransaction whose statements name items of several workers:
    # two-phase commit, like TransactWriteItems (with and without a token).
    put_many(ddb, table, 6)
    keys = [f"k{i}" for i in range(6)]
    assert len({owner(k) for k in keys}) == WORKERS

    def statements(limit_of):
        return [{"Statement": f'UPDATE "{table}" SET n = n + ? WHERE id = ? AND n < ?',
                 "Parameters": [{"N": "1"}, {"S": k}, {"N": limit_of(k)}]} for k in keys]

    def values():
        got = ddb.batch_get_item(RequestItems={table: {"Keys": [{"id": {"S": k}} for k in keys],
                                                       "ConsistentRead": True}})
        return sorted((i["id"]["S"], int(i["n"]["N"])) for i in got["Responses"][table])

    with pytest.raises(ClientError) as caught:
        ddb.execute_transaction(TransactStatements=statements(lambda k: "0" if k == "k3" else "100"))
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed", "None", "None"]
    assert values() == [(k, i) for i, k in enumerate(keys)]  # nothing written anywhere

    ddb.execute_transaction(TransactStatements=statements(lambda k: "100"))
    assert values() == [(k, i + 1) for i, k in enumerate(keys)]
    # With a ClientRequestToken (coordinated by the token's worker), and its replay.
    ddb.execute_transaction(TransactStatements=statements(lambda k: "100"), ClientRequestToken="tok-1")
    ddb.execute_transaction(TransactStatements=statements(lambda k: "100"), ClientRequestToken="tok-1")
    assert values() == [(k, i + 2) for i, k in enumerate(keys)]
    with pytest.raises(ClientError) as caught:
        ddb.execute_transaction(TransactStatements=statements(lambda k: "0" if k == "k5" else "100"),
                                ClientRequestToken="tok-2")
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert values() == [(k, i + 2) for i, k in enumerate(keys)]

def test_transfers_preserve_the_total(cluster, table):
    """Stress: concurrent cross-worker transfers; conflicts cancel, never half-apply."""
    accounts = [f"a{i}" for i in range(12)]
    ddb = client(cluster.endpoint)
    for a in accounts:
        ddb.put_item(TableName=table, Item={"id": {"S": a}, "balance": {"N": "100"}})
    seed = random.randrange(1 << 30)
    done = {"ok": 0, "cancelled": 0}
    lock = threading.Lock()

    def worker(n):
        rng = random.Random(seed + n)
        c = client(cluster.endpoint)
        for _ in range(40):
            src, dst = rng.sample(accounts, 2)
            amount = str(rng.randint(1, 30))
            try:
                c.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": {"id": {"S": src}},
                                "UpdateExpression": "SET balance = balance - :a",
                                "ConditionExpression": "balance >= :a",
                                "ExpressionAttributeValues": {":a": {"N": amount}}}},
                    {"Update": {"TableName": table, "Key": {"id": {"S": dst}},
                                "UpdateExpression": "SET balance = balance + :a",
                                "ExpressionAttributeValues": {":a": {"N": amount}}}},
                ])
                key = "ok"
            except ClientError as e:
                assert e.response["Error"]["Code"] in ("TransactionCanceledException",
                                                       "TransactionConflictException"), e
                key = "cancelled"
            with lock:
                done[key] += 1

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(worker, range(6)))
    balances = [int(ddb.get_item(TableName=table, Key={"id": {"S": a}}, ConsistentRead=True)["Item"]["balance"]["N"])
                for a in accounts]
    assert sum(balances) == 100 * len(accounts), f"seed {seed}"
    assert min(balances) >= 0, f"seed {seed}"
    assert done["ok"] > 0, done


def test_transact_get_snapshots_never_see_half_a_transfer(cluster, table):
    """TransactGetItems over every worker, during cross-worker transfers:
    each snapshot it answers is one instant's, so the balances sum to the
    total (reading one worker before a transfer and another after it would
    not)."""
    accounts = [f"s{i}" for i in range(6)]
    assert len({owner(a) for a in accounts}) == WORKERS
    ddb = client(cluster.endpoint)
    for a in accounts:
        ddb.put_item(TableName=table, Item={"id": {"S": a}, "balance": {"N": "100"}})
    seed = random.randrange(1 << 30)
    stop = threading.Event()
    snapshots, conflicts = [], [0]

    def transfers(n):
        rng = random.Random(seed + n)
        c = client(cluster.endpoint)
        while not stop.is_set():
            src, dst = rng.sample(accounts, 2)
            a = {":a": {"N": str(rng.randint(1, 20))}}
            try:
                c.transact_write_items(TransactItems=[
                    {"Update": {"TableName": table, "Key": {"id": {"S": src}},
                                "UpdateExpression": "SET balance = balance - :a",
                                "ConditionExpression": "balance >= :a", "ExpressionAttributeValues": a}},
                    {"Update": {"TableName": table, "Key": {"id": {"S": dst}},
                                "UpdateExpression": "SET balance = balance + :a", "ExpressionAttributeValues": a}},
                ])
            except ClientError as e:
                assert e.response["Error"]["Code"] in ("TransactionCanceledException",
                                                       "TransactionConflictException"), e

    def reader():
        c = client(cluster.endpoint)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            try:
                got = c.transact_get_items(TransactItems=[
                    {"Get": {"TableName": table, "Key": {"id": {"S": a}}}} for a in accounts])
            except ClientError as e:
                assert e.response["Error"]["Code"] == "TransactionCanceledException", e
                reasons = {r["Code"] for r in e.response["CancellationReasons"]}
                assert reasons <= {"None", "TransactionConflict"}, reasons
                conflicts[0] += 1
                continue
            snapshots.append(sum(int(r["Item"]["balance"]["N"]) for r in got["Responses"]))

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        movers = [pool.submit(transfers, n) for n in range(4)]
        readers = [pool.submit(reader) for _ in range(2)]
        for f in readers:
            f.result()
        stop.set()
        for f in movers:
            f.result()
    assert snapshots, conflicts
    wrong = [s for s in snapshots if s != 100 * len(accounts)]
    assert not wrong, f"seed {seed}: {len(wrong)} of {len(snapshots)} snapshots off: {wrong[:5]}"


# -- fault isolation -----------------------------------------------------------------------


def test_a_killed_worker_is_isolated_and_comes_back(cluster, table):
    """SIGKILL one worker under load: the others keep answering for their
    partitions, the dead one's partitions get a retryable 503, then it returns."""
    victim = 2
    mine = [f"k{i}" for i in range(200) if owner(f"k{i}") == victim][:10]
    others = [f"k{i}" for i in range(200) if owner(f"k{i}") != victim][:20]
    ddb = client(cluster.endpoint)
    for k in mine + others:
        ddb.put_item(TableName=table, Item={"id": {"S": k}})
    stop = threading.Event()
    stats = {"ok": 0, "failed": 0, "unavailable": 0}
    lock = threading.Lock()

    def load():
        c = client(cluster.endpoint)
        rng = random.Random()
        while not stop.is_set():
            k = rng.choice(others)
            try:
                c.get_item(TableName=table, Key={"id": {"S": k}})
                outcome = "ok"
            except Exception:
                outcome = "failed"
            with lock:
                stats[outcome] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        pid = cluster.worker_pids()[victim]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        # While it is down, its keys answer 503 ServiceUnavailable (retryable).
        codes = set()
        while time.monotonic() - killed < 0.3:
            try:
                client(cluster.endpoint).get_item(TableName=table, Key={"id": {"S": mine[0]}})
            except ClientError as e:
                codes.add((e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]))
            except Exception:
                pass  # a connection the dead worker had accepted
        assert wait_for(lambda: cluster.worker_pids().get(victim) not in (None, pid), 5)

        def back():
            try:
                client(cluster.endpoint).put_item(TableName=table, Item={"id": {"S": mine[0]}})
                return True
            except ClientError:
                return False

        assert wait_for(back, 10)
        before = stats["ok"]
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert stats["ok"] > before
    # Requests for the other workers' partitions: a few may meet a connection
    # the dead worker held, never a wrong answer.
    assert stats["ok"] > 20 * max(1, stats["failed"]), stats
    assert codes <= {(503, "ServiceUnavailable")}, codes
    # The restarted worker knows every table (the catalog came from a live one).
    d = ddb.describe_table(TableName=table)["Table"]
    assert d["TableName"] == table


# -- indexes and streams across workers --------------------------------------------------


def test_gsi_entries_live_on_the_gsi_keys_worker(ddb):
    # A base write's owner sends the index change to the GSI key's owner before
    # answering, so a Query on the index right after the write sees it.
    name = gsi_table(ddb)
    for i in range(60):
        ddb.put_item(TableName=name, Item={"id": {"S": f"k{i}"}, "g": {"S": f"G{i % 6}"}, "v": {"N": str(i)}})

    def counts():
        return [ddb.query(TableName=name, IndexName="by_g", KeyConditionExpression="g = :g",
                          ExpressionAttributeValues={":g": {"S": f"G{j}"}})["Count"] for j in range(6)]

    assert counts() == [10] * 6
    # Moving an item to another index key moves its entry (maybe to another worker).
    ddb.update_item(TableName=name, Key={"id": {"S": "k0"}}, UpdateExpression="SET g = :g",
                    ExpressionAttributeValues={":g": {"S": "G1"}})
    ddb.delete_item(TableName=name, Key={"id": {"S": "k2"}})
    assert counts() == [9, 11, 9, 10, 10, 10]
    d = ddb.describe_table(TableName=name)["Table"]
    assert d["GlobalSecondaryIndexes"][0]["ItemCount"] == 59 and d["ItemCount"] == 59
    scanned = ddb.scan(TableName=name, IndexName="by_g")["Items"]
    assert len(scanned) == 59
    # A GSI created later is backfilled from every worker's items.
    ddb.update_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "v", "AttributeType": "N"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by_v", "KeySchema": [
            {"AttributeName": "v", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    for i in (1, 30, 59):
        out = ddb.query(TableName=name, IndexName="by_v", KeyConditionExpression="v = :v",
                        ExpressionAttributeValues={":v": {"N": str(i)}})
        assert out["Items"] == [{"id": {"S": f"k{i}"}, "v": {"N": str(i)}}]
    ddb.delete_table(TableName=name)



def test_batch_parts_wait_for_their_gsi_changes(ddb):
    # A BatchWriteItem split over the workers: each part's owner answers once
    # the GSI entries it changed on other workers are acknowledged, so the
    # index shows every item of the batch right after it.  Odd rounds ask
    # for capacity (the general split), even ones do not (a plain batch:
    # forward frames of JSON to the owners).
    name = gsi_table(ddb)
    for round_ in range(4):
        extra = {"ReturnConsumedCapacity": "INDEXES"} if round_ % 2 else {}
        out = ddb.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {"id": {"S": f"k{round_}_{i}"}, "g": {"S": f"G{i % 3}"}}}}
            for i in range(25)]}, **extra)
        assert out["UnprocessedItems"] == {}
        if extra:
            assert out["ConsumedCapacity"][0]["CapacityUnits"] == 50.0  # the table's 25 + the index's 25
        counts = [ddb.query(TableName=name, IndexName="by_g", KeyConditionExpression="g = :g",
                            ExpressionAttributeValues={":g": {"S": f"G{j}"}}, Select="COUNT")["Count"]
                  for j in range(3)]
        assert counts == [(round_ + 1) * n for n in (9, 8, 8)]
    got = ddb.batch_get_item(RequestItems={name: {"Keys": [{"id": {"S": f"k0_{i}"}} for i in range(25)],
                                                  "ProjectionExpression": "g"}})
    assert sorted(i["g"]["S"] for i in got["Responses"][name]) == sorted(f"G{i % 3}" for i in range(25))
    ddb.delete_table(TableName=name)

def test_stream_shards_come_from_every_worker(cluster, ddb):
    name = f"s{os.getpid()}_{next(_names)}"
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    for i in range(30):
        ddb.put_item(TableName=name, Item={"id": {"S": f"k{i}"}})
    import boto3
    from botocore.config import Config

    streams = boto3.client("dynamodbstreams", endpoint_url=cluster.endpoint, region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x",
                           config=Config(retries={"max_attempts": 1}))
    shards, start = [], None
    while True:
        kw = {"ExclusiveStartShardId": start} if start else {}
        d = streams.describe_stream(StreamArn=arn, Limit=10, **kw)["StreamDescription"]
        shards.extend(d["Shards"])
        start = d.get("LastEvaluatedShardId")
        if start is None:
            break
    assert len(shards) == len(RING)  # one per ring partition, over every worker
    assert len({s["ShardId"] for s in shards}) == len(shards)
    keys = []
    for shard in shards:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        keys.extend(r["dynamodb"]["Keys"]["id"]["S"] for r in streams.get_records(ShardIterator=it)["Records"])
    assert sorted(keys) == sorted(f"k{i}" for i in range(30))
    ddb.delete_table(TableName=name)


def test_pipelined_requests_run_in_order(cluster, table):
    # A PutItem forwarded to its owner, then a GetItem of the same key in the
    # same write: the GetItem runs after the PutItem is done, on any worker.
    import json
    import socket

    def request(operation, body):
        data = json.dumps(body).encode()
        return (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
                f"X-Amz-Target: DynamoDB_20120810.{operation}\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data

    for i in range(20):
        key = {"id": {"S": f"p{i}"}}
        wire = (request("PutItem", {"TableName": table, "Item": {**key, "n": {"N": str(i)}}})
                + request("GetItem", {"TableName": table, "Key": key}))
        with socket.create_connection(("127.0.0.1", cluster.port), timeout=5) as sock:
            sock.sendall(wire)
            data = b""
            while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
                chunk = sock.recv(65536)
                assert chunk, data
                data += chunk
        answers = data.split(b"HTTP/1.1 ")[1:]
        assert b'"n":{"N":"%d"}' % i in answers[1], answers
