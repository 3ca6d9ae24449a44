"""``kvstore serve --data-dir PATH --workers N``: real servers, boto3 clients.

Each worker logs its own partitions in ``shard-<index>`` and every table
change; the supervisor holds the lock and re-shards the directory when N
changed (kvstore/recovery.py).  What is checked here:

* a clean stop and a restart with the same and with other worker counts
  (1 -> 3 -> 2 -> 1) keeps every item, table, index, TTL setting and tag;
* a worker SIGKILLed under a load of acknowledged writes (``--fsync
  always``) comes back with every write it acknowledged, while the other
  workers keep answering and its own partitions answer 503 meanwhile;
* the whole server SIGKILLed under load, restarted with another count,
  keeps every acknowledged write, in the table and in its GSI;
* an acknowledged transaction across workers survives a participant's
  SIGKILL, and one whose participant is SIGKILLed between its vote and
  its commit, after the other committed, is whole once it is back;
* a second server on the directory is refused, and a SIGKILLed
  supervisor's workers release the lock by themselves;
* a re-sharding cut by a crash at any of its steps loses and duplicates
  nothing (in-process, with the file operations made to fail).

Explicit ``--workers`` everywhere: KVSTORE_TEST_WORKERS does not change these.
"""

import os
import shutil
import signal
import threading
import time

import pytest
from botocore.exceptions import ClientError

import kvstore
from kvstore._core import hash64
from kvstore.datadir import DataDir
from worker_procs import alive, gsi_table_spec, keys_on, owner, wait_for, worker_pids

TABLE = "things"


def boto3_client(port, attempts=1):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=5,
                      read_timeout=20),
    )


def kill_everything(server):
    """SIGKILL the supervisor and every worker at once (a power cut, as far
    as the processes can tell)."""
    pids = worker_pids(server.proc.pid)
    os.kill(server.proc.pid, signal.SIGKILL)
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    server.wait_exit()
    assert wait_for(lambda: not any(alive(p) for p in pids.values()), 10)


def create_table(client):
    client.create_table(**gsi_table_spec(TABLE))


def scan(client, table=TABLE):
    items, req = {}, {"TableName": table}
    while True:
        out = client.scan(**req)
        for item in out["Items"]:
            items[item["id"]["S"]] = item
        if "LastEvaluatedKey" not in out:
            return items
        req["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def query_index(client, groups, table=TABLE):
    found = {}
    for g in groups:
        req = {"TableName": table, "IndexName": "by_g", "KeyConditionExpression": "g = :g",
               "ExpressionAttributeValues": {":g": {"S": g}}}
        while True:
            out = client.query(**req)
            for item in out["Items"]:
                found[item["id"]["S"]] = item
            if "LastEvaluatedKey" not in out:
                break
            req["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    return found


# -- clean restarts with other worker counts -------------------------------------------


def test_restart_with_the_same_and_other_worker_counts_keeps_everything(tmp_path, servers):
    """1 -> 3 -> 2 -> 1 workers (and 3 -> 3): items, tables, GSI, TTL, tags survive."""
    expected = {}
    described = None
    for step, count in enumerate((1, 3, 3, 2, 1)):
        server = servers(tmp_path, "--workers", str(count))
        client = boto3_client(server.port)
        if step == 0:
            create_table(client)
            arn = client.describe_table(TableName=TABLE)["Table"]["TableArn"]
            client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": "expires"})
            client.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "kv"}])
            client.create_table(
                TableName="other", BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
            client.put_item(TableName="other", Item={"id": {"S": "x"}})
            client.delete_table(TableName="other")
        else:
            # Everything from before is here, on every worker.
            assert scan(client) == expected
            assert query_index(client, [f"g{i}" for i in range(4)]) == expected
            table = client.describe_table(TableName=TABLE)["Table"]
            assert (table["TableId"], table["CreationDateTime"], table["ItemCount"]) == described
            assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by_g"]
            assert client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"] == {
                "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
            assert client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == [
                {"Key": "team", "Value": "kv"}]
            assert client.list_tables()["TableNames"] == [TABLE]
        # This step's writes: new items, changed ones, a deleted one.
        for i in range(step * 30, step * 30 + 30):
            item = {"id": {"S": f"k{i}"}, "g": {"S": f"g{i % 4}"}, "step": {"N": str(step)}}
            client.put_item(TableName=TABLE, Item=item)
            expected[f"k{i}"] = item
        if step:
            client.update_item(TableName=TABLE, Key={"id": {"S": "k0"}}, UpdateExpression="SET g = :g",
                               ExpressionAttributeValues={":g": {"S": f"g{step % 4}"}})
            expected["k0"] = {**expected["k0"], "g": {"S": f"g{step % 4}"}}
            client.delete_item(TableName=TABLE, Key={"id": {"S": f"k{step}"}})
            expected.pop(f"k{step}")
        table = client.describe_table(TableName=TABLE)["Table"]
        described = (table["TableId"], table["CreationDateTime"], len(expected))
        assert table["ItemCount"] == len(expected)
        assert server.stop() == 0
        assert sorted(n for n in os.listdir(tmp_path) if n.startswith("shard-")) == [
            f"shard-{k}" for k in range(count)]
        assert not [n for n in os.listdir(tmp_path) if n.startswith("reshard")]


# -- one worker killed under load -------------------------------------------------------


class Load:
    """Writer threads putting unique keys; remembers what was acknowledged."""

    def __init__(self, port, writers=3, prefix="w"):
        self.port = port
        self.acked = {}
        self.failures = []   # (time, key, error code or exception name)
        self.successes = []  # (time, key)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(f"{prefix}{n}-",), daemon=True)
                        for n in range(writers)]

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def run(self, prefix):
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3_client(self.port)
        i = 0
        while not self.stop.is_set():
            key = f"{prefix}{i}"
            i += 1
            item = {"id": {"S": key}, "g": {"S": f"g{i % 4}"}, "n": {"N": str(i)}}
            try:
                client.put_item(TableName=TABLE, Item=item)
            except ClientError as exc:
                with self.lock:
                    self.failures.append((time.monotonic(), key, exc.response["Error"]["Code"],
                                          exc.response["ResponseMetadata"]["HTTPStatusCode"]))
                continue
            except BotoCoreError as exc:  # the connection's worker was the one killed
                with self.lock:
                    self.failures.append((time.monotonic(), key, type(exc).__name__, None))
                client = boto3_client(self.port)
                continue
            with self.lock:
                self.acked[key] = item
                self.successes.append((time.monotonic(), key))


def test_a_killed_worker_recovers_every_acknowledged_write_while_others_serve(tmp_path, servers):
    count, victim = 3, 1
    server = servers(tmp_path, "--workers", str(count), "--fsync", "always")
    client = boto3_client(server.port)
    create_table(client)
    pids = worker_pids(server.proc.pid)
    with Load(server.port) as load:
        time.sleep(0.7)
        # The supervisor paused: the victim stays down long enough to look at.
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            killed_at = time.monotonic()
            os.kill(pids[victim], signal.SIGKILL)
            assert wait_for(lambda: not alive(pids[victim]), 5)
            # Its partitions answer a retryable 503 until it is back.
            for key in keys_on(count, victim, 3, "x"):
                with pytest.raises(ClientError) as refused:
                    client.put_item(TableName=TABLE, Item={"id": {"S": key}})
                assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
                assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
            time.sleep(0.3)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        assert wait_for(lambda: worker_pids(server.proc.pid).get(victim) not in (None, pids[victim]), 10)
        # Back once it answers for its own partitions again.
        probe = keys_on(count, victim, 1, prefix="probe")[0]

        def back():
            try:
                client.get_item(TableName=TABLE, Key={"id": {"S": probe}})
                return True
            except Exception:
                return False

        assert wait_for(back, 20)
        back_at = time.monotonic()
        time.sleep(0.5)
    assert len(load.acked) > 50
    # Every acknowledged write is there, after the kill and the recovery.
    items = scan(client)
    missing = [k for k in load.acked if k not in items]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    assert all(items[k] == v for k, v in load.acked.items())
    # While the victim was down, the other workers' partitions kept being written.
    during = [k for t, k in load.successes if killed_at < t < back_at]
    assert any(owner(count, k) != victim for k in during)
    # A write that failed was the victim's partition (503, retryable) or a
    # connection the victim was serving; never another worker's partition refused.
    for _t, key, code, status in load.failures:
        if status is not None:
            assert (status, code) == (503, "ServiceUnavailable"), (key, code, status)
            assert owner(count, key) == victim
    # The restarted worker has the GSI entries other workers' items put there.
    assert query_index(client, [f"g{i}" for i in range(4)]) == items
    assert server.stop() == 0


# -- the whole server killed under load ---------------------------------------------------


def test_whole_server_killed_under_load_restarts_with_another_count(tmp_path, servers):
    server = servers(tmp_path, "--workers", "3", "--fsync", "always")
    client = boto3_client(server.port)
    create_table(client)
    with Load(server.port) as load:
        time.sleep(1.0)
        kill_everything(server)
    assert len(load.acked) > 50
    second = servers(tmp_path, "--workers", "2")
    assert "re-sharded 3 shard directories into 2" in second.output
    client = boto3_client(second.port)
    items = scan(client)
    missing = [k for k in load.acked if k not in items]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    assert query_index(client, [f"g{i}" for i in range(4)]) == items
    # Killed again (idle), restarted as one process: nothing moves.
    kill_everything(second)
    third = servers(tmp_path, "--workers", "1")
    assert scan(boto3_client(third.port)) == items
    assert third.stop() == 0


# -- transactions across workers ---------------------------------------------------------


def test_an_acknowledged_transaction_across_workers_survives_a_participant_kill(tmp_path, servers):
    """Each participant's part is durable before it answers the commit, and
    the coordinator answers after every participant: all of it is on disk."""
    count = 3
    server = servers(tmp_path, "--workers", str(count), "--fsync", "always")
    client = boto3_client(server.port, attempts=5)
    create_table(client)
    a, b = keys_on(count, 1, 1)[0], keys_on(count, 2, 1)[0]
    for key in (a, b):
        client.put_item(TableName=TABLE, Item={"id": {"S": key}, "n": {"N": "100"}})
    for _ in range(3):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": {"id": {"S": a}}, "UpdateExpression": "SET n = n - :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Update": {"TableName": TABLE, "Key": {"id": {"S": b}}, "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    pids = worker_pids(server.proc.pid)
    os.kill(pids[2], signal.SIGKILL)
    assert wait_for(lambda: worker_pids(server.proc.pid).get(2) not in (None, pids[2]), 10)

    def values():
        return [client.get_item(TableName=TABLE, Key={"id": {"S": k}}, ConsistentRead=True)["Item"]["n"]["N"]
                for k in (a, b)]

    assert wait_for(lambda: _quietly(values) == ["97", "103"], 20), _quietly(values)
    kill_everything(server)
    again = servers(tmp_path, "--workers", "2")
    client = boto3_client(again.port)
    assert values() == ["97", "103"]


def test_a_participant_killed_between_its_vote_and_its_commit_recovers_its_part(tmp_path, servers, monkeypatch):
    """Worker 2's commit call comes late (a test-only delay); worker 1
    commits; worker 2 is SIGKILLed, prepared.  Restarted, it finds its
    prepare in its log, asks the coordinator (worker 0, by the token) and
    commits: the transaction is whole, and stays so after a restart."""
    monkeypatch.setenv("KVSTORE_TEST_TX_COMMIT_DELAY", "2:30")
    count = 3
    server = servers(tmp_path, "--workers", str(count), "--fsync", "always")
    client = boto3_client(server.port)
    create_table(client)
    a, b = keys_on(count, 1, 1)[0], keys_on(count, 2, 1)[0]
    for key in (a, b):
        client.put_item(TableName=TABLE, Item={"id": {"S": key}, "n": {"N": "100"}})
    token = next(t for t in (f"token-{i}" for i in range(100)) if hash64(t.encode()) % count == 0)
    answer = []

    def transfer():
        try:
            boto3_client(server.port, attempts=0).transact_write_items(ClientRequestToken=token, TransactItems=[
                {"Update": {"TableName": TABLE, "Key": {"id": {"S": a}}, "UpdateExpression": "SET n = n - :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Update": {"TableName": TABLE, "Key": {"id": {"S": b}}, "UpdateExpression": "SET n = n + :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ])
            answer.append("ok")
        except Exception as exc:  # 503, or the connection's worker was the one killed
            answer.append(exc)

    def values():
        return [client.get_item(TableName=TABLE, Key={"id": {"S": k}}, ConsistentRead=True)["Item"]["n"]["N"]
                for k in (a, b)]

    pids = worker_pids(server.proc.pid)
    thread = threading.Thread(target=transfer)
    thread.start()
    assert wait_for(lambda: values() == ["99", "100"], 10)  # worker 1 committed; worker 2 waits
    os.kill(pids[2], signal.SIGKILL)
    thread.join(30)
    assert len(answer) == 1 and answer != ["ok"]  # never acknowledged
    assert wait_for(lambda: worker_pids(server.proc.pid).get(2) not in (None, pids[2]), 10)
    assert wait_for(lambda: _quietly(values) == ["99", "101"], 20), (_quietly(values), server.output)
    # Killed again at once (worker 2's commit maybe not on disk yet: then
    # its prepare is, and it finds the commit in worker 1's log).
    kill_everything(server)
    again = servers(tmp_path, "--workers", str(count))
    client = boto3_client(again.port)
    assert wait_for(lambda: _quietly(values) == ["99", "101"], 20), (_quietly(values), again.output)


def _quietly(fn):
    try:
        return fn()
    except Exception as exc:
        return exc


# -- the lock ---------------------------------------------------------------------------


def test_a_second_server_is_refused_and_a_killed_supervisor_releases_the_lock(tmp_path, servers):
    first = servers(tmp_path, "--workers", "2")
    for args in (("--workers", "2"), ("--workers", "1")):
        refused = servers(tmp_path, *args, expect_ready=False)
        assert refused.wait_exit() == 1
        assert "is in use by another kvstore process" in refused.output
        assert f"pid {first.proc.pid}" in refused.output
        assert "listening" not in refused.output
    # The supervisor SIGKILLed: its workers stop by themselves and the lock goes with them.
    pids = worker_pids(first)
    os.kill(first.proc.pid, signal.SIGKILL)
    first.wait_exit()
    assert wait_for(lambda: not any(alive(p) for p in pids.values()), 10)
    second = servers(tmp_path, "--workers", "2")
    assert second.stop() == 0


# -- re-sharding cut by a crash at any step ---------------------------------------------------


class Crash(Exception):
    pass


def _fill(path, count):
    """A data directory of ``count`` shards holding 200 items and two tables."""
    with kvstore.Database(path=path) as db:
        db.create_table(TABLE, "id")
        db.create_table("empty", "id")
        table = db.table(TABLE)
        for i in range(200):
            table.put({"id": f"k{i}", "n": i})
    if count != 1:
        datadir = DataDir(path)
        try:
            from kvstore.recovery import reshard

            reshard(datadir, count)
        finally:
            datadir.close()


def _shard_items(path, count):
    """{shard: {key: n}} as each shard directory of ``path`` recovers it alone."""
    from kvstore.recovery import recover

    datadir = DataDir(path)
    try:
        out = {}
        for k in sorted(datadir.shard_dirs()):
            db = kvstore.Database()
            recover(db, datadir, k)
            assert set(db.tables) == {TABLE, "empty"}
            out[k] = {e[3]["id"]["S"]: e[3]["n"]["N"] for p in db.tables[TABLE].partitions.values()
                      for e in p.scan()}
        return out
    finally:
        datadir.close()


@pytest.mark.parametrize("old,new", [(3, 2), (1, 3)])
def test_a_reshard_cut_by_a_crash_at_any_step_loses_and_duplicates_nothing(tmp_path, monkeypatch, old, new):
    from kvstore import recovery

    template = tmp_path / "template"
    _fill(str(template), old)
    expected = {f"k{i}": str(i) for i in range(200)}
    real = {"rename": os.rename, "rmtree": shutil.rmtree, "mkdir": os.mkdir,
            "write_snapshot": recovery.write_snapshot}
    step = 0
    while True:
        work = tmp_path / f"crash-{step}"
        shutil.copytree(template, work)
        calls = [0]
        datadir = DataDir(str(work))

        def failing(name):
            def run(*args, **kwargs):
                calls[0] += 1
                if calls[0] > step:
                    raise Crash(name)
                return real[name](*args, **kwargs)
            return run

        monkeypatch.setattr(os, "rename", failing("rename"))
        monkeypatch.setattr(shutil, "rmtree", failing("rmtree"))
        monkeypatch.setattr(os, "mkdir", failing("mkdir"))
        monkeypatch.setattr(recovery, "write_snapshot", failing("write_snapshot"))
        crashed = False
        try:
            recovery.reshard(datadir, new)
        except Crash:
            crashed = True
        finally:
            datadir.close()
            monkeypatch.undo()
        # The next start (no crash this time) finds one layout or the other, whole.
        datadir = DataDir(str(work))
        try:
            recovery.reshard(datadir, new)
        finally:
            datadir.close()
        shards = _shard_items(str(work), new)
        assert sorted(shards) == list(range(new)), (step, sorted(shards))
        merged = {}
        for k, found in shards.items():
            assert all(owner(new, key) == k for key in found), step
            assert not set(found) & set(merged), step  # no item in two shards
            merged.update(found)
        assert merged == expected, step
        assert not [n for n in os.listdir(work) if n.startswith("reshard")]
        shutil.rmtree(work)
        if not crashed:
            break
        step += 1
    assert step > 5  # every step of the re-shard was cut once
