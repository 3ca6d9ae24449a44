"""server/cluster.py in one process: several Cluster objects, one event loop.

Each Cluster is a worker's engine and routing, linked to the others by real
Unix sockets; requests enter through ``Cluster.handle`` as the HTTP front
would call it.  This is where failures are staged precisely: a participant
that never hears the decision, a participant that vanishes mid-transaction.
"""

import asyncio

import msgspec
import pytest

import server.cluster as cluster_module
from server.cluster import DEFERRED, Cluster, build_database, outcome

from worker_procs import keys_on, owner

encode = msgspec.json.encode
decode = msgspec.json.decode


def run(coro, timeout=20.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def start(tmp_path, count=3):
    loop = asyncio.get_running_loop()
    nodes = [Cluster(build_database(i, count), i, count, str(tmp_path), loop=loop) for i in range(count)]
    for node in nodes:
        await node.start()
    return nodes


async def call(node, operation, request):
    status, payload = node.handle(b"DynamoDB_20120810." + operation.encode(), encode(request))
    if status == DEFERRED:
        await asyncio.wait([payload])
        status, payload = outcome(payload)
    return status, decode(payload)


async def make_table(nodes, name="tab"):
    status, _ = await call(nodes[1], "CreateTable", {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    })
    assert status == 200
    assert all(name in node.db.tables for node in nodes)  # answered once applied everywhere


def transfer(table, src, dst, amount="1"):
    return {"TransactItems": [
        {"Update": {"TableName": table, "Key": {"id": {"S": src}}, "UpdateExpression": "SET n = n - :a",
                    "ExpressionAttributeValues": {":a": {"N": amount}}}},
        {"Update": {"TableName": table, "Key": {"id": {"S": dst}}, "UpdateExpression": "SET n = n + :a",
                    "ExpressionAttributeValues": {":a": {"N": amount}}}},
    ]}


def test_ddl_is_ordered_by_worker_zero_and_applied_everywhere(tmp_path):
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            ids = {node.db.tables["tab"].table_id for node in nodes}
            assert len(ids) == 1
            status, body = await call(nodes[2], "CreateTable", {
                "TableName": "tab", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            })
            assert status == 400 and body["__type"].endswith("ResourceInUseException")
            assert (await call(nodes[1], "DeleteTable", {"TableName": "tab"}))[0] == 200
            assert all("tab" not in node.db.tables for node in nodes)
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_prepared_participant_without_a_decision_releases_its_locks(tmp_path, monkeypatch):
    # The coordinator dies after prepare: the participant aborts by itself.
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            key = keys_on(3, 2, 1)[0]
            await call(nodes[2], "PutItem", {"TableName": "tab", "Item": {"id": {"S": key}, "n": {"N": "5"}}})
            answer = await nodes[0].peers.call(2, "tx_prepare", ["0.99", [
                {"Put": {"TableName": "tab", "Item": {"id": {"S": key}, "n": {"N": "6"}}}}], 0.3])
            assert answer == ["ok"]
            assert len(nodes[2].db.locks) == 1
            # Meanwhile a single write to the item meets the prepared lock.
            status, body = await call(nodes[2], "PutItem", {"TableName": "tab", "Item": {"id": {"S": key}}})
            assert status == 400 and body["__type"].endswith("TransactionConflictException")
            await asyncio.sleep(0.5)
            assert len(nodes[2].db.locks) == 0  # no lock left behind
            assert nodes[2].transactions == {}
            status, body = await call(nodes[2], "GetItem", {"TableName": "tab", "Key": {"id": {"S": key}}})
            assert body["Item"]["n"] == {"N": "5"}  # not committed
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_participant_lost_before_prepare_aborts_the_others(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_module, "TX_CALL_SECONDS", 0.5)

    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            a = keys_on(3, 1, 1)[0]
            b = keys_on(3, 2, 1)[0]
            for k in (a, b):
                await call(nodes[0], "PutItem", {"TableName": "tab", "Item": {"id": {"S": k}, "n": {"N": "10"}}})
            await nodes[2].close()  # worker 2 is gone
            status, body = await call(nodes[0], "TransactWriteItems", transfer("tab", a, b))
            assert status == 503 and body["__type"].endswith("ServiceUnavailable")
            await asyncio.sleep(0.05)
            assert len(nodes[1].db.locks) == 0 and nodes[1].transactions == {}
            status, body = await call(nodes[1], "GetItem", {"TableName": "tab", "Key": {"id": {"S": a}}})
            assert body["Item"]["n"] == {"N": "10"}
        finally:
            for node in nodes[:2]:
                await node.close()

    run(main())


def test_participant_that_does_not_answer_times_out_and_releases(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_module, "TX_CALL_SECONDS", 0.3)

    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            a = keys_on(3, 1, 1)[0]
            b = keys_on(3, 2, 1)[0]
            for k in (a, b):
                await call(nodes[0], "PutItem", {"TableName": "tab", "Item": {"id": {"S": k}, "n": {"N": "10"}}})
            # Worker 2 hangs on prepare (alive, silent).
            nodes[2].peers.handlers["tx_prepare"] = lambda body: asyncio.get_running_loop().create_future()
            status, _ = await call(nodes[0], "TransactWriteItems", transfer("tab", a, b))
            assert status == 503
            await asyncio.sleep(0.05)
            assert len(nodes[1].db.locks) == 0
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_conflicting_transactions_cancel_and_never_half_apply(tmp_path):
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            a = keys_on(3, 1, 1)[0]
            b = keys_on(3, 2, 1)[0]
            for k in (a, b):
                await call(nodes[0], "PutItem", {"TableName": "tab", "Item": {"id": {"S": k}, "n": {"N": "10"}}})
            results = await asyncio.gather(
                call(nodes[0], "TransactWriteItems", transfer("tab", a, b)),
                call(nodes[1], "TransactWriteItems", transfer("tab", b, a, "3")),
            )
            # Each locks its first owner's item, then may meet the other's lock:
            # a conflict cancels (one or both), never a half-applied transfer.
            for status, body in results:
                if status != 200:
                    assert body["__type"].endswith("TransactionCanceledException")
                    assert "TransactionConflict" in [r["Code"] for r in body["CancellationReasons"]]
            total = 0
            for k in (a, b):
                _, body = await call(nodes[0], "GetItem", {"TableName": "tab", "Key": {"id": {"S": k}}})
                total += int(body["Item"]["n"]["N"])
            assert total == 20
            assert all(len(node.db.locks) == 0 for node in nodes)
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_request_for_a_dead_workers_partition_is_503(tmp_path):
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            k = keys_on(3, 2, 1)[0]
            await nodes[2].close()
            status, body = await call(nodes[0], "GetItem", {"TableName": "tab", "Key": {"id": {"S": k}}})
            assert status == 503 and body["__type"] == "com.amazon.coral.service#ServiceUnavailable"
            mine = keys_on(3, 1, 1)[0]
            status, _ = await call(nodes[0], "GetItem", {"TableName": "tab", "Key": {"id": {"S": mine}}})
            assert status == 200
        finally:
            for node in nodes[:2]:
                await node.close()

    run(main())


def test_plain_batch_write_is_spread_to_the_owners(tmp_path):
    # A batch of only RequestItems, checked whole by the front, one part per
    # owner; a duplicate fails it whole; a dead owner's part comes back
    # unprocessed while the others are written.
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)

            def batch(keys):
                return {"RequestItems": {"tab": [{"PutRequest": {"Item": {"id": {"S": k}, "n": {"N": "1"}}}}
                                                 for k in keys]}}

            keys = [f"b{i}" for i in range(25)]
            assert await call(nodes[0], "BatchWriteItem", batch(keys)) == (200, {"UnprocessedItems": {}})
            for i, node in enumerate(nodes):
                stored = {e[3]["id"]["S"] for p in node.db.tables["tab"].partitions.values() for e in p.scan()}
                assert stored == {k for k in keys if owner(3, k) == i}
            status, body = await call(nodes[1], "BatchWriteItem", batch(["d1", "d2", "d1"]))
            assert status == 400 and "duplicates" in body["message"]
            assert sum(node.db.tables["tab"].item_count for node in nodes) == 25
            before = sum(node.db.tables["tab"].item_count for node in nodes[:2])
            await nodes[2].close()
            keys = keys_on(3, 0, 3) + keys_on(3, 1, 3) + keys_on(3, 2, 3)
            status, body = await call(nodes[0], "BatchWriteItem", batch(keys))
            assert status == 200
            unprocessed = [r["PutRequest"]["Item"]["id"]["S"] for r in body["UnprocessedItems"]["tab"]]
            assert sorted(unprocessed) == sorted(keys[6:])
            assert sum(node.db.tables["tab"].item_count for node in nodes[:2]) == before + 6
        finally:
            for node in nodes[:2]:
                await node.close()

    run(main())


@pytest.mark.parametrize("count", [2, 3])
def test_every_item_is_stored_once_on_its_owner(tmp_path, count):
    async def main():
        nodes = await start(tmp_path, count)
        try:
            await make_table(nodes)
            for i in range(60):
                await call(nodes[i % count], "PutItem", {"TableName": "tab", "Item": {"id": {"S": f"k{i}"}}})
            per_worker = [node.db.tables["tab"].item_count for node in nodes]
            assert sum(per_worker) == 60 and all(per_worker)
            for i, node in enumerate(nodes):
                for item in (e[3] for p in node.db.tables["tab"].partitions.values() for e in p.scan()):
                    assert owner(count, item["id"]["S"]) == i
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_a_restarted_worker_takes_the_catalog_and_catches_up(tmp_path):
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes, "one")
            await nodes[2].close()
            await make_table(nodes[:2], "two")  # worker 2 is down: applied by the others
            assert (await call(nodes[0], "UpdateTable", {
                "TableName": "one", "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}))[0] == 200
            loop = asyncio.get_running_loop()
            fresh = Cluster(build_database(2, 3), 2, 3, str(tmp_path), loop=loop)
            await fresh.start()
            nodes[2] = fresh
            for name in ("one", "two"):
                tables = [node.db.tables[name] for node in nodes]
                assert len({(t.table_id, t.creation_date_time, t.billing_mode) for t in tables}) == 1
            # A change it missed while starting (staged: it forgets one), then the catch-up.
            fresh.apply_ddl("DeleteTable", encode({"TableName": "two"}), None)
            await make_table(nodes, "three")
            fresh.catch_up(nodes[0].on_catalog(None))
            assert set(fresh.db.tables) == {"one", "two", "three"} == set(nodes[0].db.tables)
            assert fresh.db.tables["two"].table_id == nodes[0].db.tables["two"].table_id
        finally:
            for node in nodes:
                await node.close()

    run(main())
