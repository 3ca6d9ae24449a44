"""server/cluster.py in one process: several Cluster objects, one event loop.

Each Cluster is a worker's engine and routing, linked to the others by real
Unix sockets; requests enter through ``Cluster.handle`` as the HTTP front
would call it.  This is where failures are staged precisely: a participant
that never hears the decision, a participant that vanishes mid-transaction,
and (with a data directory) one that crashes between its vote and its commit.
"""

import asyncio
import json
import os

import msgspec
import pytest

import server.cluster as cluster_module
from kvstore._core import routed_writes
from kvstore.schema import Index
from server.cluster import DEFERRED, Cluster, build_database, outcome
from server.commit import GroupCommit

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
    return await call_raw(node, operation, encode(request))


async def call_raw(node, operation, body):
    """``call`` with the request's JSON body as given."""
    status, payload = node.handle(b"DynamoDB_20120810." + operation.encode(), body)
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


async def values(nodes, keys):
    out = []
    for k in keys:
        _, body = await call(nodes[0], "GetItem", {"TableName": "tab", "Key": {"id": {"S": k}}})
        out.append(body["Item"]["n"]["N"])
    return out


async def transfer_setup(tmp_path):
    """Three workers, a table, an item on worker 1 and one on worker 2 (n=10)."""
    nodes = await start(tmp_path)
    await make_table(nodes)
    a = keys_on(3, 1, 1)[0]
    b = keys_on(3, 2, 1)[0]
    for k in (a, b):
        await call(nodes[0], "PutItem", {"TableName": "tab", "Item": {"id": {"S": k}, "n": {"N": "10"}}})
    return nodes, a, b


def delay(node, kind, seconds, check=None):
    """Worker ``node`` answers ``kind`` calls ``seconds`` late (``check()`` first)."""
    handler = node.peers.handlers[kind]

    async def late(body):
        await asyncio.sleep(seconds)
        if check is not None:
            check()
        return handler(body)

    node.peers.handlers[kind] = late


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
        nodes, a, b = await transfer_setup(tmp_path)
        try:
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
        nodes, a, b = await transfer_setup(tmp_path)
        try:
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


def test_coordinator_lost_between_commits_leaves_no_half_transaction(tmp_path, monkeypatch):
    # The coordinator's commit reaches one participant, then the coordinator
    # is gone: the other, past its hold, finds the commit at its fellow
    # participant and commits too.
    monkeypatch.setattr(cluster_module, "TX_HOLD_SECONDS", 0.3)

    async def main():
        nodes, a, b = await transfer_setup(tmp_path)
        coordinator = nodes[0]
        try:
            send = coordinator._tx_send

            async def commit_one_then_die(owners, kind, body):
                if kind != "tx_commit":
                    return await send(owners, kind, body)
                await send(owners[:1], kind, body)
                await coordinator.peers.close()
                await asyncio.get_running_loop().create_future()  # never answers

            coordinator._tx_send = commit_one_then_die
            task = asyncio.ensure_future(call(coordinator, "TransactWriteItems", transfer("tab", a, b)))
            await asyncio.sleep(1.0)
            assert not task.done()  # never acknowledged
            task.cancel()
            assert await values(nodes[1:], (a, b)) == ["9", "11"]
            assert all(len(node.db.locks) == 0 and node.transactions == {} for node in nodes[1:])
        finally:
            for node in nodes[1:]:
                await node.close()

    run(main())


def test_participant_past_its_hold_aborts_an_undecided_transaction_everywhere(tmp_path, monkeypatch):
    # Worker 2's vote comes after worker 1's hold: worker 1 asks the
    # coordinator, which has not decided, so decides abort; the late vote
    # then meets that decision.
    monkeypatch.setattr(cluster_module, "TX_HOLD_SECONDS", 0.3)

    async def main():
        nodes, a, b = await transfer_setup(tmp_path)
        try:
            delay(nodes[2], "tx_prepare", 0.6)
            status, body = await call(nodes[0], "TransactWriteItems", transfer("tab", a, b))
            assert status == 503 and body["__type"].endswith("ServiceUnavailable")
            await asyncio.sleep(0.05)
            assert await values(nodes, (a, b)) == ["10", "10"]
            assert all(len(node.db.locks) == 0 and node.transactions == {} for node in nodes)
            assert list(nodes[0].tx_outcomes.values()) == ["abort"]
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_participant_past_its_hold_commits_when_the_coordinator_decided_so(tmp_path, monkeypatch):
    # The commit call to worker 2 is late: past its hold, worker 2 asks the
    # coordinator (decided: commit) and commits; the late call then finds it
    # committed, and the client gets its 200, with the capacity of both
    # participants as when nothing is late.
    monkeypatch.setattr(cluster_module, "TX_HOLD_SECONDS", 0.3)

    async def main():
        nodes, a, b = await transfer_setup(tmp_path)
        try:
            request = {**transfer("tab", a, b), "ReturnConsumedCapacity": "INDEXES"}
            status, on_time = await call(nodes[0], "TransactWriteItems", request)
            assert status == 200 and on_time["ConsumedCapacity"][0]["CapacityUnits"] == 4.0

            def committed_meanwhile():  # by asking
                assert nodes[2].transactions == {}

            delay(nodes[2], "tx_commit", 0.6, committed_meanwhile)
            status, late = await call(nodes[0], "TransactWriteItems", request)
            assert status == 200 and late == on_time
            assert await values(nodes, (a, b)) == ["8", "12"]
            assert all(len(node.db.locks) == 0 and node.transactions == {} and node.tx_late == {} for node in nodes)
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_transact_get_is_not_fooled_by_items_that_change_back_between_its_reads(tmp_path):
    # Worker 2 reads b only after a transfer a->b committed (worker 1 read a
    # before it): the first round is torn (10 + 15).  Transfers then put
    # each item back as it was at its next read, so the second round reads
    # the same torn values; the counts of committed transaction parts
    # moved, so the read starts over and answers one instant's state.
    async def main():
        nodes, a, b = await transfer_setup(tmp_path)
        try:
            read = nodes[2].peers.handlers["tx_get"]
            rounds = []

            async def moving(sub):
                rounds.append(sub)
                if len(rounds) == 1:
                    assert (await call(nodes[0], "TransactWriteItems", transfer("tab", a, b, "5")))[0] == 200
                    answer = read(sub)
                    assert (await call(nodes[0], "TransactWriteItems", transfer("tab", b, a, "5")))[0] == 200
                    return answer
                if len(rounds) == 2:
                    assert (await call(nodes[0], "TransactWriteItems", transfer("tab", a, b, "5")))[0] == 200
                return read(sub)

            nodes[2].peers.handlers["tx_get"] = moving
            status, body = await call(nodes[0], "TransactGetItems", {"TransactItems": [
                {"Get": {"TableName": "tab", "Key": {"id": {"S": k}}}} for k in (a, b)]})
            assert status == 200
            assert len(rounds) == 4  # two torn rounds, then two that agree
            assert [r["Item"]["n"]["N"] for r in body["Responses"]] == ["5", "15"]
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_conflicting_transactions_cancel_and_never_half_apply(tmp_path):
    async def main():
        nodes, a, b = await transfer_setup(tmp_path)
        try:
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


# -- transactions across workers with a data directory --------------------------------


def durable_node(tmp_path, worker, count=3):
    """Worker ``worker`` recovered from its shard of ``tmp_path/data``,
    logging there with group commit (``--fsync always``), not started."""
    loop = asyncio.get_running_loop()
    db = build_database(worker, count)
    db._open(str(tmp_path / "data"), "always", False, 0, lock=False)
    node = Cluster(db, worker, count, str(tmp_path), loop=loop)
    node.commit = GroupCommit(db.durable, loop)
    return node


async def durable_start(tmp_path, count=3):
    nodes = [durable_node(tmp_path, i, count) for i in range(count)]
    for node in nodes:
        await node.start()
    return nodes


async def crash(node):
    """``node`` gone as by SIGKILL: links cut, timers stopped, its log's
    unwritten records lost (what the log had made durable stays)."""
    for _tx, timer in node.transactions.values():
        timer.cancel()
    await node.peers.close()
    node.commit.close()
    wal = node.db.wal
    wal.buffer.clear()
    os.close(wal.fd)
    node.commit = node.db.durable = None  # nothing left to close


async def stop(nodes):
    for node in nodes:
        await node.close()
        if node.commit is not None:
            node.commit.close()
            node.db.close()


@pytest.mark.parametrize("checkpoint,operation", [
    (False, "TransactWriteItems"), (True, "TransactWriteItems"), (False, "ExecuteTransaction")])
def test_participant_killed_between_its_vote_and_its_commit_recovers_its_part(tmp_path, checkpoint, operation):
    # DynamoDB: a transaction is all or nothing.  Worker 2 votes (its
    # prepare on disk), its commit call is late, worker 1 commits, worker 2
    # dies (after a snapshot: the prepare survives it too); restarted from
    # its log, it prepares again, asks the coordinator and commits its part.
    async def main():
        nodes = await durable_start(tmp_path)
        try:
            await make_table(nodes)
            a, b = keys_on(3, 1, 1)[0], keys_on(3, 2, 1)[0]
            for k in (a, b):
                await call(nodes[0], "PutItem", {"TableName": "tab", "Item": {"id": {"S": k}, "n": {"N": "10"}}})
            request = (transfer if operation == "TransactWriteItems" else statements)("tab", a, b)
            task, txid = await committed_on_1_not_on_2(nodes, request, operation)
            if checkpoint:
                nodes[2].db.durable.snapshot()
            await crash(nodes[2])
            status, _ = await task
            assert status == 503  # never acknowledged
            nodes[2] = durable_node(tmp_path, 2)
            assert list(nodes[2].db.durable.report.prepared) == [txid]
            await nodes[2].start()
            while nodes[2].transactions:
                await asyncio.sleep(0.01)
            assert await values(nodes, (a, b)) == ["9", "11"]
            assert all(len(node.db.locks) == 0 for node in nodes)
            # Its commit and its resolution are logged: nothing to resolve at the next start.
            await stop(nodes[2:])
            nodes[2] = durable_node(tmp_path, 2)
            assert nodes[2].db.durable.report.prepared == {}
            assert txid in nodes[2].db.durable.report.committed
            await nodes[2].start()
            assert await values(nodes, (a, b)) == ["9", "11"]
        finally:
            await stop(nodes)

    run(main())


def statements(table, src, dst):
    """``transfer`` as an ExecuteTransaction request."""
    return {"TransactStatements": [
        {"Statement": f'UPDATE "{table}" SET n = n - ? WHERE id = ?', "Parameters": [{"N": "1"}, {"S": src}]},
        {"Statement": f'UPDATE "{table}" SET n = n + ? WHERE id = ?', "Parameters": [{"N": "1"}, {"S": dst}]},
    ]}


async def committed_on_1_not_on_2(nodes, request, operation="TransactWriteItems"):
    """Run ``request`` (a transaction on workers 1 and 2, coordinated by
    worker 0) until worker 1's commit is on disk and worker 2, prepared,
    still waits for its commit call; the request's task and the txid."""
    delay(nodes[2], "tx_commit", 60)
    task = asyncio.ensure_future(call(nodes[0], operation, request))
    wal = nodes[1].commit.wal
    while nodes[1].transactions or not nodes[2].transactions or wal.synced != wal.seq:
        await asyncio.sleep(0.01)
    (txid,) = nodes[2].transactions
    return task, txid


def test_participant_back_after_the_outcomes_are_forgotten_still_commits(tmp_path, monkeypatch):
    # Worker 2 is back only after the others forgot the outcome: the
    # coordinator, whose commit call to it failed, still tells it.
    monkeypatch.setattr(cluster_module, "TX_OUTCOME_SECONDS", 0.1)
    monkeypatch.setattr(cluster_module, "TX_ASK_SECONDS", 0.1)

    async def main():
        nodes = await durable_start(tmp_path)
        try:
            await make_table(nodes)
            a, b = keys_on(3, 1, 1)[0], keys_on(3, 2, 1)[0]
            for k in (a, b):
                await call(nodes[0], "PutItem", {"TableName": "tab", "Item": {"id": {"S": k}, "n": {"N": "10"}}})
            task, txid = await committed_on_1_not_on_2(nodes, transfer("tab", a, b))
            await crash(nodes[2])
            assert (await task)[0] == 503
            await asyncio.sleep(0.3)
            nodes[0]._tx_outcome("other", "abort")  # forgets what is older than 0.1 s
            nodes[1]._tx_outcome("other", "abort")
            assert txid not in nodes[0].tx_outcomes and txid not in nodes[1].tx_outcomes
            nodes[2] = durable_node(tmp_path, 2)
            await nodes[2].start()
            while nodes[2].transactions or nodes[0].tx_delivering:
                await asyncio.sleep(0.01)
            assert await values(nodes, (a, b)) == ["9", "11"]
            assert all(len(node.db.locks) == 0 for node in nodes)
        finally:
            await stop(nodes)

    run(main())


def test_restarted_participant_waits_for_a_restarting_fellow_that_holds_the_commit(tmp_path, monkeypatch):
    # Every worker dies (a power cut) after worker 1 committed, before worker
    # 2 did: no memory holds the decision, worker 1's log holds its commit.
    # Worker 2, back first, asks worker 1 again until it is back, and commits.
    monkeypatch.setattr(cluster_module, "TX_ASK_SECONDS", 0.1)

    async def main():
        nodes = await durable_start(tmp_path)
        try:
            await make_table(nodes)
            a, b = keys_on(3, 1, 1)[0], keys_on(3, 2, 1)[0]
            for k in (a, b):
                await call(nodes[0], "PutItem", {"TableName": "tab", "Item": {"id": {"S": k}, "n": {"N": "10"}}})
            task, _txid = await committed_on_1_not_on_2(nodes, transfer("tab", a, b))
            for node in nodes:
                await crash(node)
            task.cancel()
            for i in (0, 2):
                nodes[i] = durable_node(tmp_path, i)
                await nodes[i].start()
            await asyncio.sleep(0.5)
            assert len(nodes[2].transactions) == 1  # still asking (worker 1 is down)
            nodes[1] = durable_node(tmp_path, 1)
            await nodes[1].start()
            while nodes[2].transactions:
                await asyncio.sleep(0.01)
            assert await values(nodes, (a, b)) == ["9", "11"]
            assert all(len(node.db.locks) == 0 for node in nodes)
        finally:
            await stop(nodes)

    run(main())


def test_participant_killed_while_undecided_aborts_after_restart(tmp_path):
    # Worker 2 prepared a transaction nobody decided and died: restarted, it
    # holds the item locked until the coordinator (which knows nothing of
    # it) and the other participant (nor does it) have answered, then
    # aborts, releases the lock, and logs the abort.
    async def main():
        nodes = await durable_start(tmp_path)
        try:
            await make_table(nodes)
            key = keys_on(3, 2, 1)[0]
            await call(nodes[2], "PutItem", {"TableName": "tab", "Item": {"id": {"S": key}, "n": {"N": "5"}}})
            put = {"Put": {"TableName": "tab", "Item": {"id": {"S": key}, "n": {"N": "6"}}}}
            answer = await nodes[0].peers.call(2, "tx_prepare", ["0.99", [put], 30, False, [1, 2]])
            assert answer == ["ok"]
            await crash(nodes[2])
            delay(nodes[0], "tx_status", 0.3)
            nodes[2] = durable_node(tmp_path, 2)
            await nodes[2].start()
            assert len(nodes[2].db.locks) == 1  # prepared again before it listens
            status, body = await call(nodes[2], "PutItem", {"TableName": "tab", "Item": {"id": {"S": key}}})
            assert status == 400 and body["__type"].endswith("TransactionConflictException")
            while nodes[2].transactions:
                await asyncio.sleep(0.01)
            assert len(nodes[2].db.locks) == 0
            assert await values(nodes, (key,)) == ["5"]
            await stop(nodes[2:])
            nodes[2] = durable_node(tmp_path, 2)
            assert nodes[2].db.durable.report.prepared == {}
        finally:
            await stop(nodes)

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


def _stored_calls(monkeypatch):
    """The tables of each part stored in stored form (every worker's, this
    process's), read back with ``routed_writes`` by wrapping ``store_part``."""
    calls = []
    real = cluster_module.store_part

    def spy(part, tables):
        calls.append(routed_writes(part))
        return real(part, tables)

    monkeypatch.setattr(cluster_module, "store_part", spy)
    return calls


def _puts(table, items):
    return {"RequestItems": {table: [{"PutRequest": {"Item": item}} for item in items]}}


def _written_id(request):
    """The ``id`` of the item a WriteRequest writes."""
    if "PutRequest" in request:
        return request["PutRequest"]["Item"]["id"]["S"]
    return request["DeleteRequest"]["Key"]["id"]["S"]


async def _get(node, table, key):
    status, body = await call(node, "GetItem", {"TableName": table, "Key": key})
    assert status == 200
    return body.get("Item")


def test_plain_batch_parts_travel_in_stored_form_and_read_back_exactly(tmp_path, monkeypatch):
    # Every owner's part is stored from its stored form (none decoded or
    # checked again), and each item reads back equal to what was sent:
    # nested maps and lists, numbers, unicode, BOOL and NULL.
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            calls = _stored_calls(monkeypatch)
            keys = keys_on(3, 0, 3, "s") + keys_on(3, 1, 3, "s") + keys_on(3, 2, 3, "s")
            items = [{
                "id": {"S": k}, "n": {"N": f"-{i}.25"}, "big": {"N": "12345678901234567890.125"},
                "text": {"S": "h\u00e9llo \u2603 \U0001f600 \"q\" \\ \n"}, "ok": {"BOOL": i % 2 == 0},
                "none": {"NULL": True},
                "m": {"M": {"inner": {"L": [{"S": "a"}, {"N": "1"}, {"M": {"deep": {"S": "\u00fc"}}}]},
                            "empty": {"M": {}}}},
                "l": {"L": [{"L": []}, {"BOOL": False}, {"N": "0.001"}]},
            } for i, k in enumerate(keys)]
            assert await call(nodes[1], "BatchWriteItem", _puts("tab", items)) == (200, {"UnprocessedItems": {}})
            assert len(calls) == 3  # two remote owners and the front's own part
            for i, item in enumerate(items):
                assert await _get(nodes[(i + 2) % 3], "tab", {"id": item["id"]}) == item
            for node in nodes:
                status, raw = node.handle(b"DynamoDB_20120810.GetItem", encode(
                    {"TableName": "tab", "Key": {"id": items[0]["id"]}}))
                if status == 200:  # the owner's own answer: the stored JSON spliced in
                    assert decode(raw)["Item"] == items[0]

            # A batch of one owner's items: its part alone, the front's or another's.
            for keys in (keys_on(3, 0, 4, "one"), keys_on(3, 2, 4, "two")):
                del calls[:]
                alone = [{"id": {"S": k}, "v": {"L": [{"S": k}]}} for k in keys]
                assert await call(nodes[0], "BatchWriteItem", _puts("tab", alone)) == (
                    200, {"UnprocessedItems": {}})
                assert len(calls) == 1
                for item in alone:
                    assert await _get(nodes[1], "tab", {"id": item["id"]}) == item

            # Two tables in one batch: each owner's part holds both.
            await make_table(nodes, "tab2")
            del calls[:]
            keys = keys_on(3, 0, 2, "t") + keys_on(3, 1, 2, "t") + keys_on(3, 2, 2, "t")
            both = {"RequestItems": {
                name: [{"PutRequest": {"Item": {"id": {"S": k}, "t": {"S": name}}}} for k in keys]
                for name in ("tab", "tab2")}}
            assert await call(nodes[2], "BatchWriteItem", both) == (200, {"UnprocessedItems": {}})
            assert sorted(len(tables) for tables in calls) == [2, 2, 2]
            for name in ("tab", "tab2"):
                for k in keys:
                    assert await _get(nodes[0], name, {"id": {"S": k}}) == {"id": {"S": k}, "t": {"S": name}}
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_plain_batch_is_split_from_its_bytes_undecoded(tmp_path, monkeypatch):
    # A plain batch as boto3 writes it (", ", ": ") or compact is split by
    # owner from its bytes (_core.route_raw_writes): no JSON decoded at the
    # front or the owners, and the items read back as sent.  One not certain
    # from its bytes (an escape) takes the decoding path, with the same result.
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            calls = _stored_calls(monkeypatch)
            decoded = []
            real_decode = cluster_module._decode

            def counting(raw):
                decoded.append(raw)
                return real_decode(raw)

            monkeypatch.setattr(cluster_module, "_decode", counting)
            keys = keys_on(3, 0, 2, "u") + keys_on(3, 1, 2, "u") + keys_on(3, 2, 2, "u")
            items = [{"id": {"S": k}, "n": {"N": "-1.5"}, "m": {"M": {"a b": {"L": [{"S": " x "}, {"NULL": True}]}}}}
                     for k in keys]
            for body in (json.dumps(_puts("tab", items)).encode(), encode(_puts("tab", items[:3]))):
                assert await call_raw(nodes[0], "BatchWriteItem", body) == (200, {"UnprocessedItems": {}})
            assert decoded == [] and len(calls) == 3 + 2  # items[:3]: two on worker 0, one on 1
            for item in items:
                assert await _get(nodes[1], "tab", {"id": item["id"]}) == item
            # The front's own part alone, and another owner's alone.
            for keys in (keys_on(3, 2, 3, "own"), keys_on(3, 0, 3, "far")):
                del calls[:], decoded[:]
                alone = [{"id": {"S": k}} for k in keys]
                assert await call_raw(nodes[2], "BatchWriteItem", json.dumps(_puts("tab", alone)).encode()) == (
                    200, {"UnprocessedItems": {}})
                assert len(calls) == 1 and decoded == []
                assert [await _get(nodes[0], "tab", {"id": item["id"]}) for item in alone] == alone
            del decoded[:]
            escaped = [{"id": {"S": k}, "t": {"S": "\u00e9\n"}} for k in keys_on(3, 1, 2, "esc")]
            assert await call(nodes[0], "BatchWriteItem", _puts("tab", escaped)) == (200, {"UnprocessedItems": {}})
            assert len(decoded) == 1  # at the front only: the parts still go in stored form
            assert [await _get(nodes[2], "tab", {"id": item["id"]}) for item in escaped] == escaped
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_plain_batch_deletes_and_puts_in_stored_form(tmp_path, monkeypatch):
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            keys = keys_on(3, 0, 2, "d") + keys_on(3, 1, 2, "d") + keys_on(3, 2, 2, "d")
            items = [{"id": {"S": k}, "v": {"N": "1"}} for k in keys]
            assert (await call(nodes[0], "BatchWriteItem", _puts("tab", items)))[0] == 200
            calls = _stored_calls(monkeypatch)
            gone, kept = keys[::2], keys[1::2]
            requests = [{"DeleteRequest": {"Key": {"id": {"S": k}}}} for k in gone]
            requests += [{"PutRequest": {"Item": {"id": {"S": k}, "v": {"N": "2"}}}} for k in kept]
            requests.append({"DeleteRequest": {"Key": {"id": {"S": "never-stored"}}}})
            status, body = await call(nodes[2], "BatchWriteItem", {"RequestItems": {"tab": requests}})
            assert (status, body) == (200, {"UnprocessedItems": {}})
            assert calls
            for k in gone:
                assert await _get(nodes[0], "tab", {"id": {"S": k}}) is None
            for k in kept:
                assert await _get(nodes[1], "tab", {"id": {"S": k}}) == {"id": {"S": k}, "v": {"N": "2"}}
            assert sum(node.db.tables["tab"].item_count for node in nodes) == len(kept)

            # A dead owner's deletes and puts come back unprocessed, as sent.
            await nodes[2].close()
            requests = [{"DeleteRequest": {"Key": {"id": {"S": k}}}} for k in kept]
            requests += [{"PutRequest": {"Item": {"id": {"S": k}, "v": {"N": "3"}, "m": {"M": {"\u00e9": {"L": []}}}}}}
                         for k in gone]
            status, body = await call(nodes[0], "BatchWriteItem", {"RequestItems": {"tab": requests}})
            assert status == 200
            mine = [r for r in requests if owner(3, _written_id(r)) == 2]
            assert mine and body["UnprocessedItems"] == {"tab": mine}
        finally:
            for node in nodes[:2]:
                await node.close()

    run(main())


def test_plain_batch_with_binary_values_goes_as_json(tmp_path, monkeypatch):
    # An item with a B value (no exact JSON form) keeps the JSON path: the
    # batch is still spread, stored and readable.  (A table with a GSI,
    # not writing alone, is tests/workers/test_cluster.py's: the index
    # hook is one per process.)
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            calls = _stored_calls(monkeypatch)
            keys = keys_on(3, 0, 2, "b") + keys_on(3, 1, 2, "b") + keys_on(3, 2, 2, "b")
            items = [{"id": {"S": k}, "b": {"B": "AAEC/w=="}, "bs": {"BS": ["AQ==", "Ag=="]}} for k in keys]
            assert await call(nodes[1], "BatchWriteItem", _puts("tab", items)) == (200, {"UnprocessedItems": {}})
            for item in items:
                assert await _get(nodes[2], "tab", {"id": item["id"]}) == item
            assert calls == []
            # Bytes (the embedded API's B) have no exact JSON form either.
            raw_bytes = _puts("tab", [{"id": {"S": k}, "b": {"B": b"\x00\xff"}} for k in keys])
            groups, forms = nodes[0]._plain_write_groups(raw_bytes)
            assert forms is None and sum(len(g["tab"]) for g in groups.values()) == len(keys)
        finally:
            for node in nodes:
                await node.close()

    run(main())


def test_owner_refuses_a_stored_part_it_cannot_take_and_the_front_resends_json(tmp_path):
    # The owner stores a part in stored form only when the front's checks
    # still hold there: the same table (not deleted and created again), no
    # transaction lock held.  Otherwise it writes nothing and answers
    # RESEND; the part then goes as JSON and the general path decides.
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            keys = keys_on(3, 0, 2, "r") + keys_on(3, 1, 2, "r") + keys_on(3, 2, 2, "r")
            req = _puts("tab", [{"id": {"S": k}, "v": {"N": "1"}} for k in keys])
            groups, forms = nodes[0]._plain_write_groups(req)
            assert set(forms) == {0, 1, 2}

            # A transaction's lock on worker 2 (per worker: the front cannot see it).
            locked = nodes[2].db.tables["tab"]
            held_key = ("tab", keys[4].encode(), b"")
            assert nodes[2].db.locks.acquire("tx", [held_key]) == []
            assert nodes[2].store_forms(forms[2]) is False
            assert locked.item_count == 0
            status, body = await call(nodes[0], "BatchWriteItem", req)
            assert status == 200
            assert body["UnprocessedItems"] == {"tab": [req["RequestItems"]["tab"][4]]}
            assert sum(node.db.tables["tab"].item_count for node in nodes) == len(keys) - 1
            nodes[2].db.locks.release("tx", [held_key])

            # The table deleted and created again, keyed otherwise, between
            # the front's plan and the parts' arrival.
            groups, forms = nodes[0]._plain_write_groups(req)
            assert (await call(nodes[1], "DeleteTable", {"TableName": "tab"}))[0] == 200
            status, _ = await call(nodes[1], "CreateTable", {
                "TableName": "tab", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            })
            assert status == 200
            assert not any(node.store_forms(forms[i]) for i, node in enumerate(nodes))
            answer = nodes[0]._spread_writes(groups, forms)
            await asyncio.wait([answer])
            status, payload = outcome(answer)
            assert status == 400 and "key" in decode(payload)["message"].lower()
            assert sum(node.db.tables["tab"].item_count for node in nodes) == 0
        finally:
            for node in nodes:
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


def test_item_requests_are_forwarded_from_their_raw_bytes(tmp_path):
    # A plain S key is routed by wire_owner (no decoding, no route_item at
    # the front); escaped keys and odd bodies by route_item, as before; a
    # body the front forwards undecoded that the owner cannot read is
    # answered as the front's plain handler would, never a 500.
    async def main():
        nodes = await start(tmp_path)
        try:
            await make_table(nodes)
            front = nodes[0]
            routed = []
            for op in ("GetItem", "PutItem", "DeleteItem", "UpdateItem"):
                front.routers[op] = lambda op, body, req, route=front.routers[op]: routed.append(op) or route(op, body, req)
            keys = keys_on(3, 1, 2) + keys_on(3, 2, 2) + keys_on(3, 0, 1) + ["cléé", 'a"b\\c']
            for i, key in enumerate(keys):
                item = {"id": {"S": key}, "n": {"N": str(i)}, "m": {"M": {"l": {"L": [{"S": "x"}, {"NULL": True}]}}}}
                put = b' {"Item" : %s,\n "TableName": "tab"} ' % encode(item)
                assert await call_raw(front, "PutItem", put) == (200, {})
                assert await call(front, "GetItem", {"TableName": "tab", "Key": {"id": {"S": key}}}) == (200, {"Item": item})
                assert await call(front, "UpdateItem", {"TableName": "tab", "Key": {"id": {"S": key}},
                                                        "UpdateExpression": "SET n = n + :one",
                                                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                                                        "ReturnValues": "UPDATED_NEW"}) == (200, {"Attributes": {"n": {"N": str(i + 1)}}})
                plain = '"' not in key and "\\" not in key
                assert routed == ([] if plain and owner(3, key) != 0 else ["PutItem", "GetItem", "UpdateItem"])
                routed.clear()
            escaped = b'{"TableName":"tab","Key":{"id":{"S":"cl\\u00e9\\u00e9"}}}'
            status, body = await call_raw(front, "GetItem", escaped)
            assert status == 200 and body["Item"]["id"] == {"S": "cléé"} and routed == ["GetItem"]
            for key in keys:
                assert await call(front, "DeleteItem", {"TableName": "tab", "Key": {"id": {"S": key}}}) == (200, {})
            assert sum(node.db.tables["tab"].item_count for node in nodes) == 0

            other = keys_on(3, 2, 1)[0]
            # Invalid requests for another worker's key: DynamoDB's errors, from the owner or the front.
            status, body = await call_raw(front, "GetItem", b'{"TableName":"tab","Key":{"id":{"S":"%s"},"x":{"S":"y"}}}' % other.encode())
            assert status == 400 and body["__type"].endswith("ValidationException")
            for bad in (b'{"TableName":"tab","Key":{"id":{"S":"%s"}}' % other.encode(),
                        b'{"TableName":"tab","Key":{"id":{"S":"%s"}}} x' % other.encode(),
                        b'{"TableName":"tab","Key":{"id":{"S":"%s\xff"}}}' % other.encode()):
                status, body = await call_raw(front, "GetItem", bad)
                assert status == 400 and body["__type"].endswith("SerializationException")
            # The owner of a forward it cannot decode answers as the front would have.
            for bad in (b'{"TableName":"tab","Key":', b"[1]", b'"x"'):
                answer = front.forward(2, "GetItem", bad)
                await asyncio.wait([answer])
                assert outcome(answer) == front.local(b"DynamoDB_20120810.GetItem", bad)
                assert outcome(answer)[0] == 400
        finally:
            for node in nodes:
                await node.close()

    run(main())


def install_index_hooks(monkeypatch, nodes):
    """server/worker.py's install_index_hook for in-process workers: a GSI's
    entries on other workers go through the Cluster whose partitions
    ``partitions`` are (the hook is one per process, Index's)."""

    def remote_partitions(index, partitions):
        worker = nodes[0].ring.partition_owner(next(iter(partitions)))
        return nodes[worker].index_partitions(index, partitions)

    monkeypatch.setattr(Index, "remote_partitions", remote_partitions)


def test_queries_are_forwarded_from_their_raw_bytes(tmp_path, monkeypatch):
    # A Query of the usual shape ("<hash key> = :v ...", a plain S value) is
    # routed by wire_query_owner (no decoding, no route_query at the front),
    # on the table or on a GSI, whose entries live by the index's key;
    # other shapes by route_query, as before.  Every one answers the same.
    async def main():
        nodes = await start(tmp_path)
        install_index_hooks(monkeypatch, nodes)
        try:
            status, _ = await call(nodes[1], "CreateTable", {
                "TableName": "tab", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("id", "sk", "g")],
                "GlobalSecondaryIndexes": [{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}],
            })
            assert status == 200
            front = nodes[0]
            routed = []
            route = front.routers["Query"]
            front.routers["Query"] = lambda op, body, req: routed.append(op) or route(op, body, req)
            keys = [key for worker in range(3) for key in keys_on(3, worker, 2)]
            groups = [g for worker in range(3) for g in keys_on(3, worker, 1, prefix="G")]
            items = {}
            for i, key in enumerate(keys):
                items[key] = [{"id": {"S": key}, "sk": {"S": sk}, "g": {"S": groups[i % 3]}} for sk in ("a", "b")]
                for item in items[key]:
                    assert await call(front, "PutItem", {"TableName": "tab", "Item": item}) == (200, {})

            async def query(text, values, wire, **extra):
                status, body = await call(front, "Query", {"TableName": "tab", "KeyConditionExpression": text,
                                                           "ExpressionAttributeValues": values, **extra})
                assert routed == ([] if wire else ["Query"]), (text, values, extra)
                routed.clear()
                assert status == 200, body
                return body["Items"]

            for key in keys:
                remote = owner(3, key) != 0
                v = {":v": {"S": key}, ":s": {"S": "a"}}
                assert await query("id = :v", {":v": {"S": key}}, remote) == items[key]
                assert await query("sk > :s AND id = :v", v, remote) == items[key][1:]
                assert await query("#i  =  :v and #s = :s", v, remote,
                                   ExpressionAttributeNames={"#i": "id", "#s": "sk"}) == items[key][:1]
                assert await query("id =\n:v", {":v": {"S": key}}, False) == items[key]  # an escape: decoded
            for i, g in enumerate(groups):
                want = sorted((item for key in keys[i::3] for item in items[key]), key=lambda it: it["id"]["S"])
                got = await query("g = :g", {":g": {"S": g}}, owner(3, g) != 0, IndexName="by_g")
                assert sorted(got, key=lambda it: it["id"]["S"]) == want
            assert await query("id = :v", {":v": {"S": "none"}}, owner(3, "none") != 0) == []

            # An invalid Query for another worker's key: the owner's DynamoDB error.
            other = keys_on(3, 2, 1)[0]
            values = {":v": {"S": other}, ":x": {"S": "y"}}
            status, body = await call(front, "Query", {"TableName": "tab", "KeyConditionExpression": "id = :v",
                                                       "ExpressionAttributeValues": values})
            assert status == 400 and body["__type"].endswith("ValidationException") and routed == []
        finally:
            for node in nodes:
                await node.close()

    run(main())
