"""BatchExecuteStatement and ExecuteTransaction (PartiQL), embedded and over HTTP."""

import pytest

from kvstore.errors import DynamoDBError

from api_helpers import raises


@pytest.fixture(autouse=True)
def _drop_table(ddb, table_name):
    # The HTTP server is shared by the session: leave no table behind, so
    # that ListTables' first page stays meaningful for the tests after these.
    yield
    try:
        ddb.call("DeleteTable", TableName=table_name)
    except DynamoDBError:
        pass


def get(ddb, name, key):
    return ddb.call("GetItem", TableName=name, Key=key, ConsistentRead=True).get("Item")


def key(pk):
    return {"id": {"S": pk}}


@pytest.fixture
def table(ddb, make_table):
    name = make_table()
    for pk in ("a", "b"):
        ddb.call("PutItem", TableName=name, Item={"id": {"S": pk}, "v": {"N": "1"}})
    return name


def batch(ddb, *statements, **request):
    return ddb.call("BatchExecuteStatement", Statements=[
        s if isinstance(s, dict) else {"Statement": s} for s in statements], **request)


def transact(ddb, *statements, **request):
    return ddb.call("ExecuteTransaction", TransactStatements=[
        s if isinstance(s, dict) else {"Statement": s} for s in statements], **request)


# -- BatchExecuteStatement ----------------------------------------------------------


def test_batch_execute_statement_reads_by_key(ddb, table):
    # Each SELECT names one item; a missing item is a slot with no Item.
    out = batch(ddb, f"SELECT * FROM \"{table}\" WHERE id = 'a'",
                {"Statement": f"SELECT v FROM \"{table}\" WHERE id = ?", "Parameters": [{"S": "b"}]},
                f"SELECT * FROM \"{table}\" WHERE id = 'zz'")
    assert out["Responses"] == [
        {"TableName": table, "Item": {"id": {"S": "a"}, "v": {"N": "1"}}},
        {"TableName": table, "Item": {"v": {"N": "1"}}},
        {"TableName": table},
    ]


def test_batch_execute_statement_errors_per_statement(ddb, table):
    # A failing statement fills its own slot with an Error; the others run.
    out = batch(ddb,
                f"INSERT INTO \"{table}\" VALUE {{'id': 'c'}}",
                f"INSERT INTO \"{table}\" VALUE {{'id': 'a'}}",
                f"UPDATE \"{table}\" SET v = 2 WHERE id = 'zz'",
                "UPSERT nothing",
                f"SELECT * FROM \"{table}\" WHERE v = 1")
    responses = out["Responses"]
    assert responses[0] == {"TableName": table}
    assert responses[1]["Error"] == {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"}
    assert responses[2]["Error"] == {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
    assert responses[3]["Error"] == {
        "Code": "ValidationError",
        "Message": "Statement wasn't well formed, can't be processed: Expected data manipulation",
    }
    assert responses[4]["Error"]["Code"] == "ValidationError"
    assert get(ddb, table, key("c")) == key("c")


def test_batch_execute_statement_select_must_name_the_key(ddb, table):
    out = batch(ddb, f"SELECT * FROM \"{table}\" WHERE id = 'a' AND v = 1")
    assert out["Responses"] == [{"Error": {
        "Code": "ValidationError",
        "Message": "Select statements within BatchExecuteStatement must specify the primary key in the where clause.",
    }}]


def test_batch_execute_statement_limits(ddb, table):
    statements = [{"Statement": f"SELECT * FROM \"{table}\" WHERE id = 'a'"}] * 26
    error = raises(ddb, "ValidationException", None, "BatchExecuteStatement", Statements=statements)
    assert "Member must have length less than or equal to 25" in error.message


# -- ExecuteTransaction ---------------------------------------------------------------------


def test_execute_transaction_writes_all(ddb, table):
    # A transaction of writes answers Responses: [] and applies every statement.
    out = transact(ddb, f"INSERT INTO \"{table}\" VALUE {{'id': 'c'}}",
                   f"UPDATE \"{table}\" SET v = v + 1 WHERE id = 'a'",
                   f"DELETE FROM \"{table}\" WHERE id = 'b'")
    assert out == {"Responses": []}
    assert get(ddb, table, key("c")) == key("c")
    assert get(ddb, table, key("a"))["v"] == {"N": "2"}
    assert get(ddb, table, key("b")) is None


def test_execute_transaction_cancellation_changes_nothing(ddb, table):
    # One failing statement cancels all: TransactionCanceledException, nothing written.
    error = raises(
        ddb, "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, ConditionalCheckFailed, DuplicateItem]",
        "ExecuteTransaction",
        TransactStatements=[
            {"Statement": f"INSERT INTO \"{table}\" VALUE {{'id': 'new'}}"},
            {"Statement": f"UPDATE \"{table}\" SET v = 5 WHERE id = 'missing'"},
            {"Statement": f"INSERT INTO \"{table}\" VALUE {{'id': 'a'}}"},
        ],
    )
    if ddb.mode == "embedded":
        assert error.extra["CancellationReasons"] == [
            {"Code": "None"},
            {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
            {"Code": "DuplicateItem", "Message": "Duplicate primary key exists in table"},
        ]
    assert get(ddb, table, key("new")) is None


def test_execute_transaction_exists_condition(ddb, table):
    # EXISTS(SELECT ...) is a condition check on one item.
    transact(ddb, f"EXISTS(SELECT * FROM \"{table}\" WHERE id = 'a' AND v = 1)",
             f"UPDATE \"{table}\" SET w = 1 WHERE id = 'b'")
    assert get(ddb, table, key("b"))["w"] == {"N": "1"}
    raises(ddb, "TransactionCanceledException", None, "ExecuteTransaction", TransactStatements=[
        {"Statement": f"EXISTS(SELECT * FROM \"{table}\" WHERE id = 'a' AND v = 2)"},
        {"Statement": f"UPDATE \"{table}\" SET w = 2 WHERE id = 'b'"},
    ])
    assert get(ddb, table, key("b"))["w"] == {"N": "1"}
    raises(ddb, "ValidationException",
           "Validation failed in TransactStatements[0]: EXISTS() must contain a single item read with additional "
           "condition", "ExecuteTransaction",
           TransactStatements=[{"Statement": f"EXISTS(SELECT * FROM \"{table}\" WHERE id = 'a')"}])


def test_execute_transaction_reads(ddb, table):
    # A transaction of reads answers one entry per statement, {} for no item.
    out = transact(ddb, f"SELECT * FROM \"{table}\" WHERE id = 'a'", f"SELECT * FROM \"{table}\" WHERE id = 'zz'")
    assert out == {"Responses": [{"Item": {"id": {"S": "a"}, "v": {"N": "1"}}}, {}]}


def test_execute_transaction_validation(ddb, table):
    raises(ddb, "ValidationException",
           "ExecuteTransaction API does not support both read and write operations in the same request.",
           "ExecuteTransaction", TransactStatements=[
               {"Statement": f"SELECT * FROM \"{table}\" WHERE id = 'a'"},
               {"Statement": f"DELETE FROM \"{table}\" WHERE id = 'b'"}])
    raises(ddb, "ValidationException",
           "Validation failed in TransactStatements[0]: Select statements within ExecuteTransaction must specify "
           "the primary key in the where clause.", "ExecuteTransaction",
           TransactStatements=[{"Statement": f"SELECT * FROM \"{table}\" WHERE id = 'a' AND attribute_exists(v)"}])
    raises(ddb, "ValidationException", "Transaction request cannot include multiple operations on one item",
           "ExecuteTransaction", TransactStatements=[
               {"Statement": f"UPDATE \"{table}\" SET v = 2 WHERE id = 'a'"},
               {"Statement": f"DELETE FROM \"{table}\" WHERE id = 'a'"}])
    raises(ddb, "ValidationException", "The parameter cannot be converted to a numeric value: 1e99999999999",
           "ExecuteTransaction", TransactStatements=[
               {"Statement": f"UPDATE \"{table}\" SET v = ? WHERE id = 'a'", "Parameters": [{"N": "1e99999999999"}]}])
    assert get(ddb, table, key("a"))["v"] == {"N": "1"}


def test_execute_transaction_client_request_token(ddb, table):
    # The same token and statements answer again without writing; other statements are refused.
    statements = [{"Statement": f"UPDATE \"{table}\" SET v = v + 1 WHERE id = 'a'"}]
    token = f"tok-{table}"
    transact(ddb, *statements, ClientRequestToken=token)
    transact(ddb, *statements, ClientRequestToken=token)
    assert get(ddb, table, key("a"))["v"] == {"N": "2"}
    raises(ddb, "IdempotentParameterMismatchException", None, "ExecuteTransaction",
           TransactStatements=[{"Statement": f"DELETE FROM \"{table}\" WHERE id = 'a'"}], ClientRequestToken=token)


def test_execute_transaction_consumed_capacity(ddb, table):
    out = transact(ddb, f"UPDATE \"{table}\" SET v = 2 WHERE id = 'a'", ReturnConsumedCapacity="TOTAL")
    assert out["Responses"] == []
    assert out["ConsumedCapacity"] == [
        {"TableName": table, "CapacityUnits": 2.0, "WriteCapacityUnits": 2.0}]
