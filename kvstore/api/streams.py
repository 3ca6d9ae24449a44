"""The DynamoDB Streams API: ListStreams, DescribeStream, GetShardIterator, GetRecords.

``STREAMS_OPERATIONS`` maps each operation (``X-Amz-Target:
DynamoDBStreams_20120810.<Operation>``) to its handler ``(db, req) -> dict``
and :func:`streams_dispatch` is the one entry point the HTTP server, the
in-process boto3 handler (``kvstore/boto.py``) and ``db.streams_request``
call: validate against the operation's spec (``specs.py``), then run.

The storage is ``kvstore/streams.py`` (``db.streams``): one stream per
enabling of a table's stream, a shard per ring partition.  Housekeeping
(trimming records past 24 hours, forgetting streams disabled 24 hours ago)
runs lazily on every call here and on every TTL sweep.
"""

from bisect import bisect_right

from ..errors import (
    ExpiredIteratorException, ResourceNotFoundException, TrimmedDataAccessException,
    UnknownOperationException, ValidationException,
)
from ..streams import ITERATOR_LIFETIME_SECONDS, parse_iterator
from .validation import validate_request

__all__ = [
    "STREAMS_OPERATIONS", "streams_dispatch",
    "list_streams", "describe_stream", "get_shard_iterator", "get_records",
]

LIST_STREAMS_LIMIT = 100
DESCRIBE_STREAM_LIMIT = 100
GET_RECORDS_LIMIT = 1000


def _looks_like_stream_arn(arn):
    # arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "dynamodb":
        return False
    resource = parts[5].split("/")
    return len(resource) == 4 and resource[0] == "table" and resource[2] == "stream" and all(resource)


def _stream(db, arn):
    if not _looks_like_stream_arn(arn):
        raise ValidationException("Invalid StreamArn")
    stream = db.streams.find(arn)
    if stream is None:
        raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")
    return stream


def list_streams(db, req):
    db.streams.expire()
    table_name = req.get("TableName")
    start = req.get("ExclusiveStartStreamArn")
    limit = req.get("Limit")
    limit = LIST_STREAMS_LIMIT if limit is None else int(limit)
    if start is not None and not _looks_like_stream_arn(start):
        raise ValidationException("Invalid StreamArn")
    streams = sorted(
        (s for s in db.streams.streams.values() if table_name is None or s.table_name == table_name),
        key=lambda s: s.arn,
    )
    arns = [s.arn for s in streams]
    first = 0 if start is None else bisect_right(arns, start)
    page = streams[first:first + limit]
    answer = {"Streams": [s.summary() for s in page]}
    if first + limit < len(streams):
        answer["LastEvaluatedStreamArn"] = page[-1].arn
    return answer


def describe_stream(db, req):
    db.streams.expire()
    stream = _stream(db, req["StreamArn"])
    limit = req.get("Limit")
    limit = DESCRIBE_STREAM_LIMIT if limit is None else int(limit)
    return {"StreamDescription": stream.describe(req.get("ExclusiveStartShardId"), limit)}


def _sequence_number(text):
    if not text.isdecimal() or not text.isascii():
        raise ValidationException(f"Invalid SequenceNumber: {text}")
    return int(text)


def get_shard_iterator(db, req):
    db.streams.expire()
    stream = _stream(db, req["StreamArn"])
    shard_id = req["ShardId"]
    kind = req["ShardIteratorType"]
    sequence = req.get("SequenceNumber")
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
        if sequence is None:
            raise ValidationException(
                f"Must specify a sequence number for {kind} shard iterator type"
            )
        number = _sequence_number(sequence)
    elif sequence is not None:
        raise ValidationException(f"Sequence number must not be specified for {kind} shard iterator type")
    shard = stream.by_id.get(shard_id)
    if shard is None:
        raise ResourceNotFoundException(
            f"Requested resource not found: Shard does not exist: {shard_id}"
        )
    if kind == "TRIM_HORIZON":
        position = shard.trimmed
    elif kind == "LATEST":
        position = shard.last
    else:
        position = number - 1 if kind == "AT_SEQUENCE_NUMBER" else number
        if position < shard.trimmed:
            raise TrimmedDataAccessException(
                "The operation attempted to read past the oldest stream record in a shard."
            )
        if shard.end is not None and number > shard.end:
            raise ValidationException(
                f"Invalid SequenceNumber {sequence} for shard {shard_id}: it is past the end of the shard"
            )
    return {"ShardIterator": stream.iterator(shard, position)}


def get_records(db, req):
    db.streams.expire()
    text = req["ShardIterator"]
    parsed = parse_iterator(text)
    if parsed is None:
        raise ValidationException("Invalid ShardIterator")
    arn, shard_id, position, issued = parsed
    now = db.streams.clock()
    if now - issued > ITERATOR_LIFETIME_SECONDS:
        raise ExpiredIteratorException("Iterator expired. The iterator was created more than 15 minutes ago.")
    stream = db.streams.find(arn)
    if stream is None:
        raise ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")
    shard = stream.by_id.get(shard_id)
    if shard is None:
        raise ValidationException("Invalid ShardIterator")
    if position < shard.trimmed:
        raise TrimmedDataAccessException(
            "The operation attempted to read past the oldest stream record in a shard."
        )
    limit = req.get("Limit")
    limit = GET_RECORDS_LIMIT if limit is None else int(limit)
    records, position = shard.read(position, limit)
    answer = {"Records": records}
    # A closed shard read to its end has no next iterator.
    if shard.end is None or bisect_right(shard.seqs, position) < len(shard.seqs):
        answer["NextShardIterator"] = stream.iterator(shard, position)
    return answer


STREAMS_OPERATIONS = {
    "ListStreams": list_streams,
    "DescribeStream": describe_stream,
    "GetShardIterator": get_shard_iterator,
    "GetRecords": get_records,
}


def streams_dispatch(db, operation, req):
    handler = STREAMS_OPERATIONS.get(operation)
    if handler is None:
        raise UnknownOperationException()
    validate_request("Streams." + operation, req)
    return handler(db, req)
