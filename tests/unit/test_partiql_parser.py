"""The PartiQL lexer and parser, without a table."""

import pytest

from kvstore.errors import ValidationException
from kvstore.partiql import parse
from kvstore.partiql.ast import Between, Binary, Call, Delete, Exists, InList, Insert, Is, Lit, Param, Select, Update
from kvstore.partiql.lexer import LexError, tokenize


def error(text):
    with pytest.raises(ValidationException) as info:
        parse(text)
    return info.value.message


def test_partiql_lexer_tokens_and_positions():
    tokens = tokenize("SELECT \"a\"\"b\" FROM t -- c\nWHERE x = 'it''s' AND y <= 1.5e3")
    kinds = [(t[0], t[1]) for t in tokens]
    assert kinds[:3] == [("KEYWORD", "select"), ("QIDENT", 'a"b'), ("KEYWORD", "from")]
    assert ("STRING", "it's") in kinds
    assert ("NUMBER", "1.5e3") in kinds
    where = next(t for t in tokens if t[1] == "where")
    assert where[2:] == (2, 1, 5)


def test_partiql_lexer_refuses_unknown_characters():
    for text in ("a # b", "a ~ b", "'open", "/* open", "1e2147483648"):
        with pytest.raises(LexError):
            tokenize(text)


def test_partiql_parse_select():
    stmt, count = parse("SELECT a, m.k[1] FROM \"t\".\"i\" WHERE pk = ? AND sk BETWEEN 1 AND 2 ORDER BY sk DESC")
    assert type(stmt) is Select and count == 1
    assert stmt.table == "t" and stmt.index == "i"
    assert [p.label for p in stmt.projection] == ["a", "k[1]"]
    assert stmt.projection[1].elements == ("m", "k", 1)
    assert type(stmt.where) is Binary and stmt.where.op == "and"
    assert type(stmt.where.left.right) is Param
    assert type(stmt.where.right) is Between
    assert stmt.order_by[0][1] is True


def test_partiql_parse_predicates():
    stmt, _ = parse("SELECT * FROM t WHERE a IN [1, 2] AND b IS NOT MISSING AND NOT c <> 1 OR begins_with(d, 'x')")
    assert type(stmt.where) is Binary and stmt.where.op == "or"
    assert type(stmt.where.right) is Call and stmt.where.right.name == "begins_with"
    left = stmt.where.left
    assert type(left.left.left) is InList
    assert type(left.left.right) is Is and left.left.right.negated


def test_partiql_parse_writes():
    assert type(parse("INSERT INTO t VALUE {'a': 1}")[0]) is Insert
    stmt = parse("UPDATE t SET a = 1, b = a + 1 REMOVE c WHERE k = 1 RETURNING MODIFIED NEW *")[0]
    assert type(stmt) is Update
    assert [a[0] for a in stmt.actions] == ["SET", "SET", "REMOVE"]
    assert stmt.returning == "MODIFIED NEW"
    assert type(parse("FROM t WHERE k = 1 SET a = 2")[0]) is Update
    assert type(parse("DELETE FROM t WHERE k = 1")[0]) is Delete
    assert type(parse("EXISTS(SELECT * FROM t WHERE k = 1 AND a = 1)")[0]) is Exists


def test_partiql_parse_negative_number_literal():
    stmt, _ = parse("SELECT * FROM t WHERE a = -.5e1")
    assert type(stmt.where.right) is Lit and stmt.where.right.number == "-.5e1"


def test_partiql_parse_errors():
    prefix = "Statement wasn't well formed, can't be processed: "
    assert error("SELECT * FROM t WHERE") == prefix + "Unexpected term"
    assert error("SELECT * FROM t WHERE a = 1 b") == prefix + "Unexpected token after expression"
    assert error("CREATE TABLE t") == prefix + "Expected data manipulation"
    assert error("UPDATE t WHERE a = 1") == prefix + "Expected data manipulation"
    assert error("SELECT * FROM t WHERE pad = 1") == prefix + "Unexpected keyword"
    assert error("SELECT * FROM t WHERE a.value = 1") == prefix + "Invalid path dot component"
    assert error("SELECT * FROM t x") == "Aliasing is not supported"
    assert error("SELECT * FROM a.b.c") == "A path may contain at most 2 components in the FROM clause"
    assert error("SELECT *, a FROM t") == "Other attributes should not be present in the projection when '*' is used."
    assert error("SELECT * FROM t GROUP BY a") == "Unsupported clause: GROUP BY"
    assert error("SELECT * FROM t WHERE a IS DATE") == (
        "Unsupported data type for IS operator: DATE. Supported data types are "
        "[MISSING, NULL, BOOLEAN, BLOB, STRING, NUMERIC, STRUCT, TUPLE, LIST]"
    )
    assert error("") == prefix + "Unexpected term"


def test_partiql_parse_is_cached_by_text():
    assert parse("SELECT * FROM t") is parse("SELECT * FROM t")
