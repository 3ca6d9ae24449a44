"""ExecuteStatement, BatchExecuteStatement and ExecuteTransaction (PartiQL).

The statements themselves are ``kvstore.partiql``'s: these handlers shape
the three answers.

- **ExecuteStatement** runs one statement: a SELECT answers ``Items`` (and
  ``NextToken`` + ``LastEvaluatedKey`` when the page stops early, by Limit
  or at 1 MB); a write answers ``Items: []``, or the item its RETURNING
  clause asks for.
- **BatchExecuteStatement** runs up to 25 statements independently: each
  gets ``{"TableName": ..., "Item": ...}`` or ``{"Error": {"Code",
  "Message"}}`` in its slot, and the request succeeds.  A SELECT must name
  one item by its full key; reads and writes cannot be mixed.
- **ExecuteTransaction** runs up to 100 statements all or nothing: reads
  only (one ``{"Item": ...}`` or ``{}`` per statement) or writes only
  (INSERT, UPDATE, DELETE and ``EXISTS(SELECT ...)`` conditions, answering
  ``Responses: []``).  A failure is TransactionCanceledException with one
  reason per statement.  A ClientRequestToken makes a write transaction
  idempotent for ten minutes.  A statement refused while it is checked is
  reported as "Validation failed in TransactStatements[<i>]: <message>",
  except the errors of its parameter values, which DynamoDB reports bare.
"""

import time

import msgspec

from ..capacity import Consumed, render_list
from ..errors import (
    DynamoDBError, IdempotentParameterMismatchException, SerializationException, ValidationException,
)
from ..partiql.executor import (
    plan, read_item, run_select, run_transaction, run_write, select_by_key,
)

__all__ = ["execute_statement", "batch_execute_statement", "execute_transaction"]

_BATCH_SELECT = "Select statements within BatchExecuteStatement must specify the primary key in the where clause."
_TRANSACTION_SELECT = (
    "Select statements within ExecuteTransaction must specify the primary key in the where clause."
)
_TRANSACTION_INDEX = "Reads on indices are not supported within transactions."
_TRANSACTION_MIXED = "ExecuteTransaction API does not support both read and write operations in the same request."
_BATCH_MIXED = "Batch must contain either all read statements or all write statements"
_TOKEN_WINDOW_SECONDS = 600


def execute_statement(db, req):
    p = plan(db, req["Statement"], req.get("Parameters"), req.get("ReturnValuesOnConditionCheckFailure"))
    mode = req.get("ReturnConsumedCapacity")
    if p.kind == "select":
        limit = req.get("Limit")
        return run_select(p, int(limit) if limit is not None else None, bool(req.get("ConsistentRead")), mode,
                          req.get("NextToken"))
    consumed = Consumed(p.write.table) if mode in ("TOTAL", "INDEXES") else None
    out = {"Items": run_write(p, consumed)}
    if consumed is not None:
        out["ConsumedCapacity"] = consumed.render(mode)
    return out


# -- BatchExecuteStatement ----------------------------------------------------------

# An error's slot Code: DynamoDB's BatchStatementErrorCodeEnum.
_BATCH_CODES = {
    "ValidationException": "ValidationError",
    "SerializationException": "ValidationError",
    "ConditionalCheckFailedException": "ConditionalCheckFailed",
    "DuplicateItemException": "DuplicateItem",
    "ResourceNotFoundException": "ResourceNotFound",
    "ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
    "TransactionConflictException": "TransactionConflict",
    "ThrottlingException": "ThrottlingError",
    "RequestLimitExceeded": "RequestLimitExceeded",
    "ItemCollectionSizeLimitExceededException": "ItemCollectionSizeLimitExceeded",
    "AccessDeniedException": "AccessDenied",
    "InternalServerError": "InternalServerError",
}


def _slot_error(error, table=None):
    body = {"Code": _BATCH_CODES.get(error.code, "ValidationError"), "Message": error.message or ""}
    item = error.extra.get("Item")
    if item is not None:
        body["Item"] = item
    slot = {"Error": body}
    if table is not None:
        slot["TableName"] = table.name
    return slot


def batch_execute_statement(db, req):
    mode = req.get("ReturnConsumedCapacity")
    statements = req["Statements"]
    plans = []
    for entry in statements:
        try:
            p = plan(db, entry["Statement"], entry.get("Parameters"),
                     entry.get("ReturnValuesOnConditionCheckFailure"))
            if p.kind == "select":
                select_by_key(p, _BATCH_SELECT)
        except DynamoDBError as e:
            p = e
        plans.append(p)
    kinds = {p.kind for p in plans if not isinstance(p, DynamoDBError)}
    if "select" in kinds and "write" in kinds:
        raise ValidationException(_BATCH_MIXED)
    consumed = {}
    responses = []
    for entry, p in zip(statements, plans):
        if isinstance(p, DynamoDBError):
            responses.append(_slot_error(p))
            continue
        table = p.table if p.kind == "select" else p.write.table
        c = consumed.get(table.name)
        if c is None:
            c = consumed[table.name] = Consumed(table)
        try:
            if p.kind == "select":
                item = read_item(p, bool(entry.get("ConsistentRead")), c)
                slot = {"TableName": table.name}
                if item is not None:
                    slot["Item"] = item
            else:
                run_write(p, c)
                slot = {"TableName": table.name}
        except DynamoDBError as e:
            slot = _slot_error(e, table)
        responses.append(slot)
    out = {"Responses": responses}
    rendered = render_list(list(consumed.values()), mode)
    if rendered is not None:
        out["ConsumedCapacity"] = rendered
    return out


# -- ExecuteTransaction ---------------------------------------------------------------


class _Tokens:
    """ClientRequestToken -> (request fingerprint, time, answer), per database."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.seen = {}

    def find(self, token, fingerprint):
        entry = self.seen.get(token)
        if entry is None:
            return None
        if self.clock() - entry[1] > _TOKEN_WINDOW_SECONDS:
            del self.seen[token]
            return None
        if entry[0] != fingerprint:
            raise IdempotentParameterMismatchException(
                "Request token has already been used with different parameters"
            )
        return entry[2]

    def remember(self, token, fingerprint, answer):
        now = self.clock()
        if len(self.seen) > 10000:
            for old in [t for t, e in self.seen.items() if now - e[1] > _TOKEN_WINDOW_SECONDS]:
                del self.seen[old]
        self.seen[token] = (fingerprint, now, answer)


_encode = msgspec.json.Encoder(order="sorted").encode


def _tokens(db):
    tokens = getattr(db, "partiql_tokens", None)
    if tokens is None:
        tokens = db.partiql_tokens = _Tokens()
    return tokens


def _plan_transaction_statement(db, i, entry):
    try:
        p = plan(db, entry["Statement"], entry.get("Parameters"), entry.get("ReturnValuesOnConditionCheckFailure"),
                 allow_exists=True)
        if p.kind == "select":
            if p.index is not None:
                raise ValidationException(_TRANSACTION_INDEX)
            select_by_key(p, _TRANSACTION_SELECT)
        elif p.kind == "write" and p.returning is not None:
            raise ValidationException("RETURNING is not supported in transactions")
        return p
    except ValidationException as e:
        if getattr(e, "value_error", False) or isinstance(e, SerializationException):
            raise
        raise ValidationException(f"Validation failed in TransactStatements[{i}]: {e.message}") from None


def execute_transaction(db, req):
    mode = req.get("ReturnConsumedCapacity")
    token = req.get("ClientRequestToken")
    fingerprint = None
    if token is not None:
        fingerprint = _encode({"TransactStatements": req["TransactStatements"]})
        answer = _tokens(db).find(token, fingerprint)
        if answer is not None:
            return dict(answer)
    plans = [_plan_transaction_statement(db, i, entry) for i, entry in enumerate(req["TransactStatements"])]
    kinds = {p.kind for p in plans}
    if "select" in kinds and len(kinds) > 1:
        raise ValidationException(_TRANSACTION_MIXED)
    if "select" in kinds:
        consumed = {}
        responses = []
        for p in plans:
            c = consumed.get(p.table.name)
            if c is None:
                c = consumed[p.table.name] = Consumed(p.table)
            item = read_item(p, True, c)
            responses.append({"Item": item} if item is not None else {})
        for c in consumed.values():
            for index, units in list(c.reads.items()):
                c.reads[index] = units * 2
        out = {"Responses": responses}
        rendered = render_list(list(consumed.values()), mode, split=True)
        if rendered is not None:
            out["ConsumedCapacity"] = rendered
        return out
    consumed = run_transaction(plans)
    out = {"Responses": []}
    rendered = render_list(consumed, mode, split=True)
    if rendered is not None:
        out["ConsumedCapacity"] = rendered
    if token is not None:
        _tokens(db).remember(token, fingerprint, {"Responses": []})
    return out
