"""DynamoDB Streams, embedded and over HTTP: ListStreams, DescribeStream,
GetShardIterator, GetRecords, and the stream side of CreateTable/UpdateTable.

``streams`` pairs with ``ddb`` (conftest): embedded, a boto3
``dynamodbstreams`` client answered in-process by the same Database; over
HTTP, one against the same server.  Tables a test made on the shared server
are dropped after it (``drop_tables``).  Tests that move time (iterator expiry, 24-hour trimming) run
embedded only, with ``db.wall_clock`` replaced.
"""

import pytest

import kvstore
from kvstore import errors
from kvstore.errors import DynamoDBError


def boto_client(service, endpoint=None, db=None):
    """A boto3 client with client-side validation off: against ``endpoint``,
    or answered in-process by ``db``."""
    from botocore.config import Config

    config = Config(parameter_validation=False, retries={"max_attempts": 1})
    if db is not None:
        return db.client(service_name=service, config=config)
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=config)


class BotoCaller:
    """``call(operation, **request)`` through a boto3 client, raising the
    kvstore.errors class of a DynamoDB error (as conftest's ``ddb`` does)."""

    def __init__(self, client):
        self.client = client

    def call(self, operation, **request):
        from botocore.exceptions import ClientError

        try:
            out = self.client._make_api_call(operation, request)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            cls = getattr(errors, code, None)
            if not (isinstance(cls, type) and issubclass(cls, errors.DynamoDBError)):
                raise
            raise cls(e.response["Error"].get("Message")) from None
        out.pop("ResponseMetadata", None)
        return out


class StreamsClient(BotoCaller):
    """The streams service of ``ddb``: embedded, an in-process boto3
    ``dynamodbstreams`` client of the same Database; over HTTP, one against
    the same server."""

    def __init__(self, ddb, endpoint=None):
        if ddb.mode == "http":
            super().__init__(boto_client("dynamodbstreams", endpoint))
        else:
            super().__init__(boto_client("dynamodbstreams", db=ddb.db))

    # -- helpers for tests -------------------------------------------------

    def shards(self, arn):
        shards, req = [], {"StreamArn": arn}
        while True:
            out = self.call("DescribeStream", **req)["StreamDescription"]
            shards.extend(out["Shards"])
            if "LastEvaluatedShardId" not in out:
                return shards
            req["ExclusiveStartShardId"] = out["LastEvaluatedShardId"]

    def iterators(self, arn, kind="TRIM_HORIZON"):
        return [self.call("GetShardIterator", StreamArn=arn, ShardId=s["ShardId"],
                          ShardIteratorType=kind)["ShardIterator"] for s in self.shards(arn)]

    def read_all(self, arn, kind="TRIM_HORIZON"):
        """Every record of every shard, each shard read to its current end, by sequence number."""
        records = []
        for iterator in self.iterators(arn, kind):
            while iterator:
                out = self.call("GetRecords", ShardIterator=iterator)
                records.extend(out["Records"])
                if not out["Records"]:
                    break
                iterator = out.get("NextShardIterator")
        return sorted(records, key=lambda r: int(r["dynamodb"]["SequenceNumber"]))


@pytest.fixture
def streams(ddb, request):
    endpoint = request.getfixturevalue("server").endpoint if ddb.mode == "http" else None
    return StreamsClient(ddb, endpoint)


@pytest.fixture(autouse=True)
def drop_tables(request):
    """Over HTTP the server is shared by the session: drop this test's tables
    afterwards (other tests list every table)."""
    if "ddb" not in request.fixturenames or "table_name" not in request.fixturenames:
        yield
        return
    ddb = request.getfixturevalue("ddb")
    prefix = request.getfixturevalue("table_name")
    yield
    if ddb.mode != "http":
        return
    names, req = [], {}
    while True:
        out = ddb.call("ListTables", **req)
        names.extend(out["TableNames"])
        if "LastEvaluatedTableName" not in out:
            break
        req = {"ExclusiveStartTableName": out["LastEvaluatedTableName"]}
    for name in names:
        if name == prefix or name.startswith(prefix + "_"):
            try:
                ddb.call("UpdateTable", TableName=name, DeletionProtectionEnabled=False)
            except DynamoDBError:
                pass
            ddb.call("DeleteTable", TableName=name)


def raises(client, code, message, operation, **request):
    with pytest.raises(DynamoDBError) as info:
        client.call(operation, **request)
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message
    return info.value


def _stream_table(make_table, view_type="NEW_AND_OLD_IMAGES", **extra):
    return make_table(StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type}, **extra)


def _arn(ddb, name):
    return ddb.call("DescribeTable", TableName=name)["Table"]["LatestStreamArn"]


# -- ListStreams / DescribeStream -------------------------------------------------


def test_list_streams_by_table(ddb, streams, make_table):
    # ListStreams names the table's stream (ARN, table, label); a table without one has none.
    name = _stream_table(make_table)
    table = ddb.call("DescribeTable", TableName=name)["Table"]
    out = streams.call("ListStreams", TableName=name)
    assert out["Streams"] == [{"StreamArn": table["LatestStreamArn"], "TableName": name,
                               "StreamLabel": table["LatestStreamLabel"]}]
    plain = make_table(name=name + "_plain")
    assert streams.call("ListStreams", TableName=plain)["Streams"] == []


def test_list_streams_pages_with_limit(ddb, streams, make_table, table_name):
    # Limit and ExclusiveStartStreamArn page through every stream, each once.
    names = [_stream_table(make_table, name=f"{table_name}_{i}") for i in range(3)]
    seen, req = [], {"Limit": 1}
    while True:
        out = streams.call("ListStreams", **req)
        assert len(out["Streams"]) <= 1
        seen.extend(s["TableName"] for s in out["Streams"])
        if "LastEvaluatedStreamArn" not in out:
            break
        req["ExclusiveStartStreamArn"] = out["LastEvaluatedStreamArn"]
    for n in names:
        assert seen.count(n) == 1


def test_describe_stream_shards(ddb, streams, make_table):
    # A shard per partition: decimal sequence numbers, no parent, ENABLED, the table's key schema.
    name = _stream_table(make_table, "KEYS_ONLY", range_key=("r", "N"))
    arn = _arn(ddb, name)
    desc = streams.call("DescribeStream", StreamArn=arn)["StreamDescription"]
    assert desc["StreamArn"] == arn and desc["TableName"] == name
    assert desc["StreamStatus"] == "ENABLED" and desc["StreamViewType"] == "KEYS_ONLY"
    assert desc["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"},
                                 {"AttributeName": "r", "KeyType": "RANGE"}]
    assert "CreationRequestDateTime" in desc
    shards = desc["Shards"]
    assert len(shards) >= 1 and "LastEvaluatedShardId" not in desc
    ids = [s["ShardId"] for s in shards]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for shard in shards:
        assert 28 <= len(shard["ShardId"]) <= 65
        assert shard["SequenceNumberRange"]["StartingSequenceNumber"].isdecimal()
        assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]
        assert "ParentShardId" not in shard


def test_describe_stream_pages_shards(ddb, streams, make_table):
    # Limit and ExclusiveStartShardId page the shards; past the last one there are none.
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    every = streams.call("DescribeStream", StreamArn=arn)["StreamDescription"]["Shards"]
    paged, req = [], {"StreamArn": arn, "Limit": 3}
    while True:
        out = streams.call("DescribeStream", **req)["StreamDescription"]
        assert len(out["Shards"]) <= 3
        paged.extend(out["Shards"])
        if "LastEvaluatedShardId" not in out:
            break
        assert out["LastEvaluatedShardId"] == out["Shards"][-1]["ShardId"]
        req["ExclusiveStartShardId"] = out["LastEvaluatedShardId"]
    assert paged == every
    last = every[-1]["ShardId"]
    assert streams.call("DescribeStream", StreamArn=arn, ExclusiveStartShardId=last)["StreamDescription"]["Shards"] == []


def test_describe_stream_errors(ddb, streams, make_table):
    # A malformed ARN is a ValidationException; a well-formed unknown one is not found.
    raises(streams, "ValidationException", "Invalid StreamArn", "DescribeStream", StreamArn="fake-stream")
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    unknown = arn.rsplit("/", 1)[0] + "/2001-01-01T00:00:00.000"
    raises(streams, "ResourceNotFoundException", f"Requested resource not found: Stream: {unknown} not found",
           "DescribeStream", StreamArn=unknown)
    raises(streams, "ValidationException",
           "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
           "Member must have value greater than or equal to 1", "DescribeStream", StreamArn=arn, Limit=0)
    raises(streams, "ValidationException",
           "1 validation error detected: Value '101' at 'limit' failed to satisfy constraint: "
           "Member must have value less than or equal to 100", "ListStreams", Limit=101)


# -- GetShardIterator / GetRecords -----------------------------------------------


def test_get_records_insert_modify_remove(ddb, streams, make_table):
    # Each write is one record: INSERT, MODIFY, REMOVE, with both images under NEW_AND_OLD_IMAGES.
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "a"}, "v": {"N": "1"}})
    ddb.call("UpdateItem", TableName=name, Key={"id": {"S": "a"}}, UpdateExpression="SET v = :v",
             ExpressionAttributeValues={":v": {"N": "2"}})
    ddb.call("DeleteItem", TableName=name, Key={"id": {"S": "a"}})
    records = streams.read_all(arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    one, two = {"id": {"S": "a"}, "v": {"N": "1"}}, {"id": {"S": "a"}, "v": {"N": "2"}}
    assert [r["dynamodb"].get("OldImage") for r in records] == [None, one, two]
    assert [r["dynamodb"].get("NewImage") for r in records] == [one, two, None]
    for r in records:
        assert r["eventSource"] == "aws:dynamodb" and r["eventVersion"] == "1.1"
        assert r["awsRegion"] == "us-east-1" and len(r["eventID"]) == 32
        assert r["dynamodb"]["Keys"] == {"id": {"S": "a"}}
        assert r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert r["dynamodb"]["SequenceNumber"].isdecimal() and r["dynamodb"]["SizeBytes"] > 0
        assert "ApproximateCreationDateTime" in r["dynamodb"] and "userIdentity" not in r
    assert len({r["eventID"] for r in records}) == 3


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"])
def test_get_records_view_types(ddb, streams, make_table, view_type):
    # The view type decides which images a record carries.
    name = _stream_table(make_table, view_type)
    arn = _arn(ddb, name)
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "k"}, "a": {"S": "x"}})
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "k"}, "a": {"S": "y"}})
    insert, modify = streams.read_all(arn)
    for r in (insert, modify):
        assert r["dynamodb"]["StreamViewType"] == view_type
    assert ("NewImage" in modify["dynamodb"]) == (view_type == "NEW_IMAGE")
    assert ("OldImage" in modify["dynamodb"]) == (view_type == "OLD_IMAGE")
    assert "OldImage" not in insert["dynamodb"]
    if view_type == "OLD_IMAGE":
        assert modify["dynamodb"]["OldImage"] == {"id": {"S": "k"}, "a": {"S": "x"}}


def test_write_that_changes_nothing_emits_no_record(ddb, streams, make_table):
    # An identical PutItem, a no-op UpdateItem and a delete of an absent item emit nothing.
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    item = {"id": {"S": "same"}, "v": {"N": "1"}}
    ddb.call("PutItem", TableName=name, Item=item)
    ddb.call("PutItem", TableName=name, Item=item)
    ddb.call("UpdateItem", TableName=name, Key={"id": {"S": "same"}}, UpdateExpression="SET v = :v",
             ExpressionAttributeValues={":v": {"N": "1.0"}})
    ddb.call("DeleteItem", TableName=name, Key={"id": {"S": "absent"}})
    assert [r["eventName"] for r in streams.read_all(arn)] == ["INSERT"]


def test_latest_and_sequence_number_iterators(ddb, streams, make_table):
    # LATEST sees only later writes; AT/AFTER_SEQUENCE_NUMBER start at/after a record.
    name = _stream_table(make_table, "KEYS_ONLY")
    arn = _arn(ddb, name)
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "p"}, "n": {"N": "1"}})
    first = streams.read_all(arn)[0]
    seq = first["dynamodb"]["SequenceNumber"]
    for shard in streams.shards(arn):
        it = streams.call("GetShardIterator", StreamArn=arn, ShardId=shard["ShardId"],
                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        if streams.call("GetRecords", ShardIterator=it)["Records"]:
            break
    shard_id = shard["ShardId"]
    latest = streams.call("GetShardIterator", StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")["ShardIterator"]
    out = streams.call("GetRecords", ShardIterator=latest)
    assert out["Records"] == [] and out["NextShardIterator"]
    for n in range(2, 5):
        ddb.call("PutItem", TableName=name, Item={"id": {"S": "p"}, "n": {"N": str(n)}})
    out = streams.call("GetRecords", ShardIterator=out["NextShardIterator"], Limit=2)
    assert [r["eventName"] for r in out["Records"]] == ["MODIFY", "MODIFY"]
    out = streams.call("GetRecords", ShardIterator=out["NextShardIterator"])
    assert len(out["Records"]) == 1
    at = streams.call("GetShardIterator", StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER",
                      SequenceNumber=seq)["ShardIterator"]
    assert [r["dynamodb"]["SequenceNumber"] for r in streams.call("GetRecords", ShardIterator=at, Limit=1)["Records"]] == [seq]
    after = streams.call("GetShardIterator", StreamArn=arn, ShardId=shard_id,
                         ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=seq)["ShardIterator"]
    got = streams.call("GetRecords", ShardIterator=after)["Records"]
    assert len(got) == 3 and all(int(r["dynamodb"]["SequenceNumber"]) > int(seq) for r in got)


def test_get_shard_iterator_errors(ddb, streams, make_table):
    # Sequence numbers only with AT/AFTER; unknown shards are not found; bad ARNs and types are invalid.
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    shard = streams.shards(arn)[0]
    start = shard["SequenceNumberRange"]["StartingSequenceNumber"]
    for kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        raises(streams, "ValidationException", None, "GetShardIterator",
               StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind)
    for kind in ("TRIM_HORIZON", "LATEST"):
        raises(streams, "ValidationException", None, "GetShardIterator",
               StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType=kind, SequenceNumber=start)
    raises(streams, "ResourceNotFoundException", None, "GetShardIterator",
           StreamArn=arn, ShardId="shardId-00000000000000000000-00000000", ShardIteratorType="LATEST")
    raises(streams, "ValidationException", "Invalid StreamArn", "GetShardIterator",
           StreamArn="not-a-stream-arn-at-all-but-long-enough-to-pass", ShardId=shard["ShardId"],
           ShardIteratorType="LATEST")
    raises(streams, "ValidationException",
           "1 validation error detected: Value 'bulle' at 'shardIteratorType' failed to satisfy constraint: "
           "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER]",
           "GetShardIterator", StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="bulle")
    raises(streams, "ValidationException", None, "GetShardIterator", StreamArn=arn, ShardId=shard["ShardId"],
           ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber="not-a-number-at-all-here")
    raises(streams, "ValidationException", "Invalid ShardIterator", "GetRecords",
           ShardIterator="sdfsdfsgagaddafgagasgasgasdfasdfasdfasdfasdgasdasdgasdg")


def test_disabling_closes_shards_and_enabling_makes_a_new_stream(ddb, streams, make_table):
    # Disable: shards closed (EndingSequenceNumber), stream DISABLED but readable; enable: a new label.
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "a"}})
    out = ddb.call("UpdateTable", TableName=name, StreamSpecification={"StreamEnabled": False})
    assert out["TableDescription"]["StreamSpecification"] == {"StreamEnabled": False}
    assert out["TableDescription"]["LatestStreamArn"] == arn
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "b"}})  # no stream: no record
    desc = streams.call("DescribeStream", StreamArn=arn)["StreamDescription"]
    assert desc["StreamStatus"] == "DISABLED"
    for shard in desc["Shards"]:
        numbers = shard["SequenceNumberRange"]
        assert int(numbers["EndingSequenceNumber"]) >= int(numbers["StartingSequenceNumber"])
    assert [r["dynamodb"]["Keys"] for r in streams.read_all(arn)] == [{"id": {"S": "a"}}]
    # A closed shard read to its end has no NextShardIterator.
    for it in streams.iterators(arn):
        out = streams.call("GetRecords", ShardIterator=it)
        if not out["Records"]:
            assert "NextShardIterator" not in out
    raises(ddb, "ValidationException", f"Table has no stream to disable: TableName: {name}", "UpdateTable",
           TableName=name, StreamSpecification={"StreamEnabled": False})
    out = ddb.call("UpdateTable", TableName=name,
                   StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    new_arn = out["TableDescription"]["LatestStreamArn"]
    assert new_arn != arn
    assert out["TableDescription"]["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    listed = {s["StreamArn"] for s in streams.call("ListStreams", TableName=name)["Streams"]}
    assert listed == {arn, new_arn}
    ddb.call("DeleteItem", TableName=name, Key={"id": {"S": "a"}})
    assert [r["eventName"] for r in streams.read_all(new_arn)] == ["REMOVE"]
    raises(ddb, "ValidationException", f"Table already has an enabled stream: TableName: {name}", "UpdateTable",
           TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})


def test_deleted_table_stream_stays_readable(ddb, streams, make_table):
    # DeleteTable disables the stream; its records remain readable.
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    ddb.call("PutItem", TableName=name, Item={"id": {"S": "a"}})
    ddb.call("DeleteTable", TableName=name)
    assert streams.call("DescribeStream", StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    assert len(streams.read_all(arn)) == 1


def test_records_of_batches_and_transactions(ddb, streams, make_table):
    # BatchWriteItem and TransactWriteItems emit one record per item written.
    name = _stream_table(make_table)
    arn = _arn(ddb, name)
    ddb.call("BatchWriteItem", RequestItems={name: [
        {"PutRequest": {"Item": {"id": {"S": f"b{i}"}}}} for i in range(3)]})
    ddb.call("TransactWriteItems", TransactItems=[
        {"Put": {"TableName": name, "Item": {"id": {"S": "t"}}}},
        {"Delete": {"TableName": name, "Key": {"id": {"S": "b0"}}}},
        {"Update": {"TableName": name, "Key": {"id": {"S": "b1"}}, "UpdateExpression": "SET x = :x",
                    "ExpressionAttributeValues": {":x": {"N": "1"}}}},
    ])
    names = sorted((r["dynamodb"]["Keys"]["id"]["S"], r["eventName"]) for r in streams.read_all(arn))
    assert names == [("b0", "INSERT"), ("b0", "REMOVE"), ("b1", "INSERT"), ("b1", "MODIFY"),
                     ("b2", "INSERT"), ("t", "INSERT")]


# -- time: iterator expiry and 24-hour trimming (embedded, with a fake clock) --------


class FakeClock:
    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def _embedded_stream_table(view_type="NEW_AND_OLD_IMAGES"):
    db = kvstore.Database()
    clock = FakeClock()
    db.wall_clock = clock
    db.create_table("clocked", "id", StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})
    arn = db.request("DescribeTable", {"TableName": "clocked"})["Table"]["LatestStreamArn"]
    return db, clock, arn


def _shard_of(db, arn, key):
    for shard in db.streams_request("DescribeStream", {"StreamArn": arn})["StreamDescription"]["Shards"]:
        it = db.streams_request("GetShardIterator", {"StreamArn": arn, "ShardId": shard["ShardId"],
                                                     "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
        records = db.streams_request("GetRecords", {"ShardIterator": it})["Records"]
        if any(r["dynamodb"]["Keys"]["id"]["S"] == key for r in records):
            return shard["ShardId"]
    raise AssertionError("no shard holds " + key)


def test_shard_iterator_expires_after_15_minutes():
    # An iterator unused for more than 15 minutes is an ExpiredIteratorException.
    db, clock, arn = _embedded_stream_table()
    shard = db.streams_request("DescribeStream", {"StreamArn": arn})["StreamDescription"]["Shards"][0]
    it = db.streams_request("GetShardIterator", {"StreamArn": arn, "ShardId": shard["ShardId"],
                                                 "ShardIteratorType": "LATEST"})["ShardIterator"]
    clock.now += 14 * 60
    it = db.streams_request("GetRecords", {"ShardIterator": it})["NextShardIterator"]
    clock.now += 15 * 60 + 1
    with pytest.raises(errors.ExpiredIteratorException):
        db.streams_request("GetRecords", {"ShardIterator": it})


def test_records_older_than_24_hours_are_trimmed():
    # Past 24 hours a record is gone: TRIM_HORIZON starts after it, asking for it is TrimmedDataAccess.
    db, clock, arn = _embedded_stream_table()
    table = db.table("clocked")
    table.put({"id": "old"})
    shard_id = _shard_of(db, arn, "old")
    it = db.streams_request("GetShardIterator", {"StreamArn": arn, "ShardId": shard_id,
                                                 "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
    first = db.streams_request("GetRecords", {"ShardIterator": it})["Records"][0]
    seq = first["dynamodb"]["SequenceNumber"]
    clock.now += 23 * 3600
    table.put({"id": "old", "v": 1})
    clock.now += 3600 + 1
    with pytest.raises(errors.TrimmedDataAccessException):
        db.streams_request("GetShardIterator", {"StreamArn": arn, "ShardId": shard_id,
                                                "ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": seq})
    it = db.streams_request("GetShardIterator", {"StreamArn": arn, "ShardId": shard_id,
                                                 "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"]
    assert [r["eventName"] for r in db.streams_request("GetRecords", {"ShardIterator": it})["Records"]] == ["MODIFY"]


def test_disabled_stream_is_forgotten_after_24_hours():
    # A stream disabled more than 24 hours ago is no longer listed.
    db, clock, arn = _embedded_stream_table()
    db.request("UpdateTable", {"TableName": "clocked", "StreamSpecification": {"StreamEnabled": False}})
    assert db.streams_request("ListStreams")["Streams"]
    clock.now += 24 * 3600 + 1
    assert db.streams_request("ListStreams")["Streams"] == []
    with pytest.raises(errors.ResourceNotFoundException):
        db.streams_request("DescribeStream", {"StreamArn": arn})


def test_in_process_boto3_streams_client():
    # db.client(service_name="dynamodbstreams") is answered by the same streams.
    db, clock, arn = _embedded_stream_table()
    client = db.client(service_name="dynamodbstreams")
    assert client.list_streams()["Streams"][0]["StreamArn"] == arn
