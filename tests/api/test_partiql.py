"""ExecuteStatement (PartiQL), embedded and over HTTP (see conftest)."""

import pytest

from kvstore.errors import DynamoDBError

NOT_WELL_FORMED = "Statement wasn't well formed, can't be processed: "


@pytest.fixture(autouse=True)
def _drop_table(ddb, table_name):
    # The HTTP server is shared by the session: leave no table behind, so
    # that ListTables' first page stays meaningful for the tests after these.
    yield
    try:
        ddb.call("DeleteTable", TableName=table_name)
    except DynamoDBError:
        pass


def raises(ddb, code, message, operation="ExecuteStatement", **request):
    with pytest.raises(DynamoDBError) as info:
        ddb.call(operation, **request)
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message
    return info.value


def run(ddb, statement, **request):
    return ddb.call("ExecuteStatement", Statement=statement, **request)


def get(ddb, name, key):
    return ddb.call("GetItem", TableName=name, Key=key, ConsistentRead=True).get("Item")


@pytest.fixture
def composite(make_table):
    return make_table(("pk", "S"), ("sk", "N"))


def fill(ddb, name, pk="a", count=3):
    for i in range(1, count + 1):
        ddb.call("PutItem", TableName=name, Item={"pk": {"S": pk}, "sk": {"N": str(i)}, "v": {"N": str(i * 10)}})


# -- INSERT --------------------------------------------------------------------------


def test_partiql_insert_writes_the_item(ddb, composite):
    # INSERT INTO ... VALUE {...} stores the tuple as an item; literals keep their types.
    out = run(ddb, f"""INSERT INTO "{composite}" VALUE {{'pk': 'a', 'sk': 1, 's': 'x', 'n': 1.50, 'b': true,
                       'z': null, 'l': [1, 'two'], 'm': {{'k': 'v'}}, 'ss': <<'p', 'q'>>, 'ns': <<3, 4>>}}""")
    assert out == {"Items": []}
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}}) == {
        "pk": {"S": "a"}, "sk": {"N": "1"}, "s": {"S": "x"}, "n": {"N": "1.5"}, "b": {"BOOL": True},
        "z": {"NULL": True}, "l": {"L": [{"N": "1"}, {"S": "two"}]}, "m": {"M": {"k": {"S": "v"}}},
        "ss": {"SS": ["p", "q"]}, "ns": {"NS": ["3", "4"]},
    }


def test_partiql_insert_existing_key_is_duplicate_item(ddb, composite):
    # INSERT refuses a key that exists: DuplicateItemException, the item unchanged.
    run(ddb, f"INSERT INTO \"{composite}\" VALUE {{'pk': 'a', 'sk': 1, 'v': 1}}")
    raises(ddb, "DuplicateItemException", "Duplicate primary key exists in table",
           Statement=f"INSERT INTO \"{composite}\" VALUE {{'pk': 'a', 'sk': 1, 'v': 2}}")
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}})["v"] == {"N": "1"}


def test_partiql_insert_with_parameters(ddb, composite):
    # ? takes the request's Parameters in order, of any type.
    run(ddb, f"INSERT INTO \"{composite}\" VALUE {{'pk': ?, 'sk': ?, 'm': ?}}",
        Parameters=[{"S": "a"}, {"N": "7"}, {"M": {"x": {"SS": ["y"]}}}])
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "7"}})["m"] == {"M": {"x": {"SS": ["y"]}}}


def test_partiql_insert_key_checks(ddb, composite):
    # The key attributes must be in the item, with the schema's types.
    raises(ddb, "ValidationException", "Key attribute should be present in the item: Key sk",
           Statement=f"INSERT INTO \"{composite}\" VALUE {{'pk': 'a'}}")
    raises(ddb, "ValidationException",
           "Key attribute's data type should match its data type in table's schema: Key sk",
           Statement=f"INSERT INTO \"{composite}\" VALUE {{'pk': 'a', 'sk': 'one'}}")


def test_partiql_insert_number_errors_name_the_path(ddb, composite):
    # A literal outside DynamoDB's number range names where it is, under root.
    raises(ddb, "ValidationException",
           "Number overflow. Attempting to store a number with magnitude larger than supported range under root.x",
           Statement=f"INSERT INTO \"{composite}\" VALUE {{'pk': 'a', 'sk': 1, 'm': {{'x': 1e126}}}}")
    raises(ddb, "ValidationException",
           "Number overflow. Attempting to store a number with magnitude larger than supported range under root[1]",
           Statement=f"INSERT INTO \"{composite}\" VALUE {{'pk': 'a', 'sk': 1, 'l': [1, 1e126]}}")


def test_partiql_insert_returning_is_refused(ddb, composite):
    raises(ddb, "ValidationException", "RETURNING is not supported in INSERT",
           Statement=f"INSERT INTO \"{composite}\" VALUE {{'pk': 'a', 'sk': 1}} RETURNING ALL OLD *")


# -- SELECT -------------------------------------------------------------------------------


def test_partiql_select_query_on_partition_key(ddb, composite):
    # A fixed partition key reads one collection, in sort-key order.
    fill(ddb, composite)
    fill(ddb, composite, pk="b", count=1)
    out = run(ddb, f"SELECT * FROM \"{composite}\" WHERE pk = 'a'")
    assert [i["sk"]["N"] for i in out["Items"]] == ["1", "2", "3"]
    assert "NextToken" not in out


def test_partiql_select_sort_key_conditions(ddb, composite):
    # Sort-key conditions narrow the Query; the rest of the WHERE filters.
    fill(ddb, composite, count=5)
    cases = {
        "sk > 2": ["3", "4", "5"],
        "sk BETWEEN 2 AND 4": ["2", "3", "4"],
        "sk <= 2 AND v = 20": ["2"],
        "sk IN [1, 5]": ["1", "5"],
        "NOT sk = 1 AND sk < 4": ["2", "3"],
        "v > 30 OR sk = 1": ["1", "4", "5"],
    }
    for condition, expected in cases.items():
        out = run(ddb, f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND {condition}")
        assert sorted(i["sk"]["N"] for i in out["Items"]) == expected, condition


def test_partiql_select_scan_without_partition_key(ddb, composite):
    # No equality on the partition key: the whole table is scanned and filtered.
    fill(ddb, composite, count=2)
    fill(ddb, composite, pk="b", count=2)
    out = run(ddb, f"SELECT pk, sk FROM \"{composite}\" WHERE sk = 2")
    assert sorted(i["pk"]["S"] for i in out["Items"]) == ["a", "b"]
    assert len(run(ddb, f"SELECT * FROM \"{composite}\"")["Items"]) == 4


def test_partiql_select_projection_and_nested_paths(ddb, make_table):
    # A nested path answers under its last component; missing paths are left out.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={
        "id": {"S": "k"}, "m": {"M": {"k": {"L": [{"S": "a"}, {"S": "b"}]}, "z": {"N": "1"}}},
        "l": {"L": [{"N": "5"}]},
    })
    out = run(ddb, f"SELECT id, m.k[1], l[0], m.z, nope FROM \"{name}\" WHERE id = 'k'")
    assert out["Items"] == [{"id": {"S": "k"}, "k[1]": {"S": "b"}, "l[0]": {"N": "5"}, "z": {"N": "1"}}]
    raises(ddb, "ValidationException", "Duplicate identifiers in select clause: z",
           Statement=f"SELECT m.z, z FROM \"{name}\"")


def test_partiql_select_functions_and_is(ddb, make_table):
    # begins_with, contains, attribute_type, size, IS [NOT] MISSING / NULL / a type.
    name = make_table()
    ddb.call("PutItem", TableName=name, Item={
        "id": {"S": "k"}, "s": {"S": "hello"}, "ss": {"SS": ["a", "b"]}, "nul": {"NULL": True},
        "flag": {"BOOL": True},
    })
    holds = [
        "begins_with(s, 'he')", "contains(ss, 'a')", "contains(s, 'll')", "attribute_type(ss, 'SS')",
        "size(s) = 5", "nope IS MISSING", "s IS NOT MISSING", "nul IS NULL", "s IS NOT NULL",
        "flag IS BOOLEAN", "s IS STRING", "attribute_exists(s) = true", "ATTRIBUTE_EXISTS(s)",
        "NOT attribute_exists(nope)", "s <> 'x'", "s IN ['x', 'hello']",
    ]
    for condition in holds:
        out = run(ddb, f"SELECT id FROM \"{name}\" WHERE id = 'k' AND {condition}")
        assert out["Items"] == [{"id": {"S": "k"}}], condition
    for condition in ("begins_with(s, 'x')", "s IS MISSING", "size(s) > 5", "attribute_type(s, 'N')"):
        assert run(ddb, f"SELECT id FROM \"{name}\" WHERE id = 'k' AND {condition}")["Items"] == [], condition


def test_partiql_select_order_by_sort_key(ddb, composite):
    # ORDER BY the sort key, ASC or DESC.
    fill(ddb, composite)
    desc = run(ddb, f"SELECT sk FROM \"{composite}\" WHERE pk = 'a' ORDER BY sk DESC")
    assert [i["sk"]["N"] for i in desc["Items"]] == ["3", "2", "1"]
    asc = run(ddb, f"SELECT sk FROM \"{composite}\" WHERE pk = 'a' ORDER BY sk ASC")
    assert [i["sk"]["N"] for i in asc["Items"]] == ["1", "2", "3"]


def test_partiql_select_order_by_errors(ddb, composite):
    raises(ddb, "ValidationException", "Must have WHERE clause in the statement when using ORDER BY clause.",
           Statement=f"SELECT * FROM \"{composite}\" ORDER BY sk")
    raises(ddb, "ValidationException",
           "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause.",
           Statement=f"SELECT * FROM \"{composite}\" WHERE v = 1 ORDER BY sk")
    raises(ddb, "ValidationException", "Variable reference v in ORDER BY clause must be part of the primary key",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 'a' ORDER BY v")


def test_partiql_select_paging_with_limit_and_next_token(ddb, composite):
    # Limit counts items read; NextToken resumes where the page stopped.
    fill(ddb, composite, count=5)
    statement = f"SELECT sk FROM \"{composite}\" WHERE pk = 'a'"
    seen = []
    token = None
    pages = 0
    while True:
        request = {"Limit": 2}
        if token is not None:
            request["NextToken"] = token
        out = run(ddb, statement, **request)
        pages += 1
        seen.extend(i["sk"]["N"] for i in out["Items"])
        token = out.get("NextToken")
        if token is None:
            break
    assert seen == ["1", "2", "3", "4", "5"]
    assert pages == 3


def test_partiql_select_limit_counts_items_read_not_matched(ddb, composite):
    # A filter that matches nothing still pages: empty Items with a NextToken.
    fill(ddb, composite, count=3)
    out = run(ddb, f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND v = 999", Limit=2)
    assert out["Items"] == []
    assert "NextToken" in out


def test_partiql_select_next_token_of_another_statement(ddb, composite):
    fill(ddb, composite, count=3)
    token = run(ddb, f"SELECT * FROM \"{composite}\" WHERE pk = 'a'", Limit=1)["NextToken"]
    raises(ddb, "ValidationException", "NextToken does not match request",
           Statement=f"SELECT sk FROM \"{composite}\" WHERE pk = 'a'", NextToken=token)
    raises(ddb, "ValidationException", "Invalid NextToken",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 'a'", NextToken="garbage!")


def test_partiql_select_consumed_capacity(ddb, composite):
    fill(ddb, composite)
    out = run(ddb, f"SELECT * FROM \"{composite}\" WHERE pk = 'a'", ReturnConsumedCapacity="TOTAL",
              ConsistentRead=True)
    assert out["ConsumedCapacity"] == {"TableName": composite, "CapacityUnits": 1.0}


def test_partiql_select_through_indexes(ddb, make_table):
    # "table"."index" reads a GSI (Query on its key, else Scan) or an LSI.
    name = make_table(
        ("pk", "S"), ("sk", "S"),
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "l")],
        GlobalSecondaryIndexes=[{
            "IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "lsi",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    )
    ddb.call("PutItem", TableName=name, Item={
        "pk": {"S": "p"}, "sk": {"S": "1"}, "g": {"S": "G"}, "l": {"S": "L"}, "data": {"S": "d"}})
    out = run(ddb, f"SELECT * FROM \"{name}\".\"gsi\" WHERE g = 'G'")
    assert out["Items"] == [{"pk": {"S": "p"}, "sk": {"S": "1"}, "g": {"S": "G"}}]
    assert len(run(ddb, f"SELECT * FROM \"{name}\".\"gsi\" WHERE pk = 'p'")["Items"]) == 1
    out = run(ddb, f"SELECT data FROM \"{name}\".\"lsi\" WHERE pk = 'p' AND l = 'L'", ConsistentRead=True)
    assert out["Items"] == [{"data": {"S": "d"}}]
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Global secondary index gsi does not project [data, l]",
           Statement=f"SELECT data, l FROM \"{name}\".\"gsi\" WHERE g = 'G'")


def test_partiql_select_key_type_mismatch(ddb, composite):
    raises(ddb, "ValidationException",
           "Key attribute's data type should match its data type in table's schema: Key pk",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 1")


def test_partiql_select_unknown_table(ddb):
    raises(ddb, "ResourceNotFoundException", "Requested resource not found",
           Statement='SELECT * FROM "no_such_table"')


# -- UPDATE ----------------------------------------------------------------------------------


def test_partiql_update_set_and_remove(ddb, composite):
    # SET and REMOVE, with map and list paths, arithmetic and list_append.
    ddb.call("PutItem", TableName=composite, Item={
        "pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "5"}, "l": {"L": [{"N": "1"}, {"N": "2"}]},
        "m": {"M": {"x": {"S": "old"}}}, "gone": {"S": "x"},
    })
    out = run(ddb, f"""UPDATE "{composite}" SET n = n + 2, m.x = 'new' SET l[1] = 20
                      REMOVE gone WHERE pk = 'a' AND sk = 1""")
    assert out == {"Items": []}
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}}) == {
        "pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "7"}, "l": {"L": [{"N": "1"}, {"N": "20"}]},
        "m": {"M": {"x": {"S": "new"}}},
    }


def test_partiql_update_values(ddb, composite):
    ddb.call("PutItem", TableName=composite, Item={
        "pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "5"}, "l": {"L": [{"N": "1"}]},
        "m": {"M": {"x": {"S": "old"}}}, "gone": {"S": "x"},
    })
    run(ddb, f"UPDATE \"{composite}\" SET n = n - 2 SET m.x = ? SET l = list_append(l, [2]) REMOVE gone "
             "WHERE pk = 'a' AND sk = 1", Parameters=[{"S": "new"}])
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}}) == {
        "pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"N": "3"}, "l": {"L": [{"N": "1"}, {"N": "2"}]},
        "m": {"M": {"x": {"S": "new"}}},
    }


def test_partiql_update_set_add_and_set_delete(ddb, composite):
    ddb.call("PutItem", TableName=composite, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "ss": {"SS": ["a", "b"]}})
    run(ddb, f"UPDATE \"{composite}\" SET ss = set_add(ss, <<'c'>>) SET ns = set_add(ns, <<1, 2>>) "
             "WHERE pk = 'a' AND sk = 1")
    item = get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}})
    assert sorted(item["ss"]["SS"]) == ["a", "b", "c"]
    assert sorted(item["ns"]["NS"]) == ["1", "2"]
    run(ddb, f"UPDATE \"{composite}\" SET ss = set_delete(ss, <<'a', 'b', 'c'>>) WHERE pk = 'a' AND sk = 1")
    assert "ss" not in get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}})


def test_partiql_update_missing_item_fails_its_condition(ddb, composite):
    # UPDATE never creates an item: a key with no item is ConditionalCheckFailed.
    raises(ddb, "ConditionalCheckFailedException", "The conditional request failed",
           Statement=f"UPDATE \"{composite}\" SET a = 1 WHERE pk = 'none' AND sk = 1")
    assert get(ddb, composite, {"pk": {"S": "none"}, "sk": {"N": "1"}}) is None


def test_partiql_update_where_condition_and_return_values_on_failure(ddb, composite):
    # Non-key terms of the WHERE are the write's condition; ALL_OLD returns the item on failure.
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "1"}}
    ddb.call("PutItem", TableName=composite, Item=item)
    error = raises(ddb, "ConditionalCheckFailedException", "The conditional request failed",
                   Statement=f"UPDATE \"{composite}\" SET v = 2 WHERE pk = 'a' AND sk = 1 AND v = 5",
                   ReturnValuesOnConditionCheckFailure="ALL_OLD")
    if ddb.mode == "embedded":
        assert error.extra["Item"] == item
    run(ddb, f"UPDATE \"{composite}\" SET v = 2 WHERE pk = 'a' AND sk = 1 AND v = 1")
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}})["v"] == {"N": "2"}


def test_partiql_update_returning(ddb, composite):
    ddb.call("PutItem", TableName=composite, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "1"}})
    base = f"UPDATE \"{composite}\" SET v = v + 1 WHERE pk = 'a' AND sk = 1 RETURNING "
    assert run(ddb, base + "ALL OLD *")["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "1"}}]
    assert run(ddb, base + "MODIFIED OLD *")["Items"] == [{"v": {"N": "2"}}]
    assert run(ddb, base + "ALL NEW *")["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "4"}}]
    assert run(ddb, base + "MODIFIED NEW *")["Items"] == [{"v": {"N": "5"}}]


def test_partiql_update_from_first_form(ddb, composite):
    ddb.call("PutItem", TableName=composite, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    run(ddb, f"FROM \"{composite}\" WHERE pk = 'a' AND sk = 1 SET c = 1")
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}})["c"] == {"N": "1"}


def test_partiql_update_key_errors(ddb, composite):
    raises(ddb, "ValidationException", "Where clause does not contain a mandatory equality on all key attributes",
           Statement=f"UPDATE \"{composite}\" SET a = 1 WHERE pk = 'a'")
    raises(ddb, "ValidationException", "Where clause does not contain a mandatory equality on all key attributes",
           Statement=f"UPDATE \"{composite}\" SET a = 1 WHERE pk = 'a' AND sk > 1")
    raises(ddb, "ValidationException",
           "Multiple conditions on same key sk. Only single item Update/Insert/Delete are supported",
           Statement=f"UPDATE \"{composite}\" SET a = 1 WHERE pk = 'a' AND sk = 1 AND sk = 2")
    raises(ddb, "ValidationException",
           "One or more parameter values were invalid: Cannot update attribute sk. This attribute is part of the key",
           Statement=f"UPDATE \"{composite}\" SET sk = 3 WHERE pk = 'a' AND sk = 1")


def test_partiql_update_set_function_errors(ddb, composite):
    statement = f"UPDATE \"{composite}\" SET t = set_add(ss, <<'x'>>) WHERE pk = 'a' AND sk = 1"
    column = statement.index("set_add") + 1
    raises(ddb, "ValidationException",
           f"The first argument to SET_ADD must equal the assignment value at 1:{column}:7", Statement=statement)
    raises(ddb, "ValidationException", "Empty bags are not supported",
           Statement=f"UPDATE \"{composite}\" SET ss = set_add(ss, <<>>) WHERE pk = 'a' AND sk = 1")


# -- DELETE -----------------------------------------------------------------------------------


def test_partiql_delete(ddb, composite):
    # DELETE by full key; a missing item is no error.
    fill(ddb, composite, count=2)
    assert run(ddb, f"DELETE FROM \"{composite}\" WHERE pk = 'a' AND sk = 1") == {"Items": []}
    assert get(ddb, composite, {"pk": {"S": "a"}, "sk": {"N": "1"}}) is None
    assert run(ddb, f"DELETE FROM \"{composite}\" WHERE pk = 'a' AND sk = 9") == {"Items": []}


def test_partiql_delete_with_condition_and_returning(ddb, composite):
    fill(ddb, composite, count=1)
    raises(ddb, "ConditionalCheckFailedException", "The conditional request failed",
           Statement=f"DELETE FROM \"{composite}\" WHERE pk = 'a' AND sk = 1 AND v = 0")
    out = run(ddb, f"DELETE FROM \"{composite}\" WHERE pk = 'a' AND sk = 1 AND v = 10 RETURNING ALL OLD *")
    assert out["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "10"}}]
    raises(ddb, "ValidationException",
           "Invalid returning clause: RETURNING ALL NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements.",
           Statement=f"DELETE FROM \"{composite}\" WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *")


# -- errors -----------------------------------------------------------------------------------


def test_partiql_syntax_errors(ddb, composite):
    # DynamoDB's envelope and details for statements the parser refuses.
    t = f'"{composite}"'
    cases = {
        f"SELECT * FROM {t} WHERE pk = 'a' foo": NOT_WELL_FORMED + "Unexpected token after expression",
        f"SELECT * FROM {t} WHERE pk = 'a')": NOT_WELL_FORMED + "Unexpected token after expression",
        f"SELECT * FROM {t} ORDER BY pk WHERE pk = 'a'": NOT_WELL_FORMED + "Unexpected token after expression",
        f"DELETE FROM {t} WHERE pk = 'a' AND sk = 1 ORDER BY pk": NOT_WELL_FORMED + "Unexpected token after expression",
        f"SELECT * FROM {t} WHERE": NOT_WELL_FORMED + "Unexpected term",
        f"SELECT * FROM {t} WHERE pk = 'a' # note": NOT_WELL_FORMED,
        f"SELECT * FROM {t} WHERE pk = 'a' /* note": NOT_WELL_FORMED,
        f"SELECT * FROM {t} WHERE pk = 1e99999999999": NOT_WELL_FORMED,
        f"SELECT * FROM {t} WHERE m.inner = 1": NOT_WELL_FORMED + "Invalid path dot component",
        "UPSERT INTO t VALUE {'a': 1}": NOT_WELL_FORMED + "Expected data manipulation",
        f"SELECT * FROM {t} x WHERE pk = 'a'": "Aliasing is not supported",
        f"SELECT * FROM {t} AS x": "Aliasing is not supported",
        f"DELETE FROM {t} x WHERE pk = 'a'": "Aliasing is not supported",
        f"INSERT INTO {t} x VALUE {{'pk': 'a'}}": NOT_WELL_FORMED + "Unexpected token after expression",
        f"SELECT * FROM {t} LIMIT 1": "Unsupported clause: LIMIT",
    }
    for statement, message in cases.items():
        raises(ddb, "ValidationException", message, Statement=statement)


def test_partiql_comments_and_case(ddb, composite):
    # Comments are blanks; keywords and function names are case-insensitive; a trailing ; is allowed.
    fill(ddb, composite, count=1)
    out = run(ddb, f"-- note\nselect * /* c */ from \"{composite}\" -- note\nwhere pk = 'a' and BEGINS_WITH(pk, 'a');")
    assert len(out["Items"]) == 1


def test_partiql_parameter_errors(ddb, composite):
    raises(ddb, "ValidationException", "Number of parameters in request and statement don't match.",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = ? AND sk = ?", Parameters=[{"S": "a"}])
    raises(ddb, "ValidationException", "The parameter cannot be converted to a numeric value: 1e99999999999",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND n = ?", Parameters=[{"N": "1e99999999999"}])
    raises(ddb, "ValidationException",
           "Number underflow. Attempting to store a number with magnitude smaller than supported range",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND n = ?", Parameters=[{"N": "1e2147483647"}])


def test_partiql_condition_type_errors(ddb, composite):
    # The checks of condition expressions, without their "Invalid ..." prefix.
    raises(ddb, "ValidationException",
           "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND v < ?", Parameters=[{"BOOL": True}])
    raises(ddb, "ValidationException",
           "Operator or function requires a document path; operator or function: attribute_exists",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND attribute_exists('v')")
    raises(ddb, "ValidationException",
           "Incorrect number of operands for operator or function; operator or function: attribute_exists, "
           "number of operands: 0",
           Statement=f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND attribute_exists()")
    statement = f"SELECT * FROM \"{composite}\" WHERE pk = 'a' AND EXISTS(v)"
    raises(ddb, "ValidationException", f"Unrecognized function: exists at 1:{statement.index('EXISTS') + 1}:6",
           Statement=statement)


def test_partiql_request_validation(ddb):
    raises(ddb, "ValidationException",
           "1 validation error detected: Value '' at 'statement' failed to satisfy constraint: "
           "Member must have length greater than or equal to 1", Statement="")
    raises(ddb, "ValidationException",
           "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
           "Member must have value greater than or equal to 1", Statement="SELECT * FROM t", Limit=0)
