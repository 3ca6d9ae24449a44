"""Expression parsing: every grammar rule, and the errors found from the text alone.

Messages are DynamoDB's, from observed answers where known (the ``near:``
window of syntax errors, the expression size limit, redundant parentheses).
"""

import pytest

from kvstore.errors import ValidationException
from kvstore.expressions import (
    RESERVED_WORDS, Resolver, cache_clear, is_reserved, parse_condition, parse_projection, parse_update,
)
from kvstore.expressions.ast import And, Arith, Between, Call, Compare, In, Not, Or, Path, Value
from kvstore.expressions.lexer import tokenize


def message(fn, *args):
    with pytest.raises(ValidationException) as info:
        fn(*args)
    return info.value.message


def cond(text):
    return parse_condition(text).root


def upd(text):
    return parse_update(text).actions


# -- lexer --------------------------------------------------------------------


def test_lexer_tokens_names_placeholders_and_punctuation():
    """DynamoDB's tokens: names start with a letter, placeholders take any alphanumerics."""
    kinds = [k for k, _ in tokenize("a_1 #9x :_v 12 <> <= >= ( ) [ ] , . = < > + -") if k != "WS"]
    assert kinds == ["NAME", "HASH", "COLON", "NUMBER", "<>", "<=", ">=", "(", ")", "[", "]", ",", ".",
                     "=", "<", ">", "+", "-", "EOF"]


def test_lexer_unknown_character_is_a_one_character_token():
    """An underscore cannot start a name: it is a token of its own, followed by the rest."""
    assert tokenize("_123") == [("ERROR", "_"), ("NUMBER", "123"), ("EOF", "")]
    assert tokenize("#")[0] == ("ERROR", "#")


# -- condition grammar ---------------------------------------------------------


def test_condition_comparators_parse_all_six():
    """= <> < <= > >= compare two operands."""
    for op in ("=", "<>", "<", "<=", ">", ">="):
        node = cond(f"a {op} :v")
        assert type(node) is Compare and node.op == op
        assert node.left.elements == ("a",) and node.right.name == ":v"


def test_condition_between_and_in_parse():
    """BETWEEN x AND y and IN (list) are conditions on an operand."""
    node = cond("a BETWEEN :lo AND :hi")
    assert type(node) is Between and node.low.name == ":lo" and node.high.name == ":hi"
    node = cond("a IN (:x, :y, b)")
    assert type(node) is In and [type(c) for c in node.choices] == [Value, Value, Path]


def test_condition_precedence_not_over_and_over_or():
    """NOT binds tighter than AND, which binds tighter than OR."""
    node = cond("a = :v OR NOT b = :v AND c = :v")
    assert type(node) is Or
    assert type(node.right) is And and type(node.right.left) is Not


def test_condition_keywords_any_case():
    """AND/OR/NOT/BETWEEN/IN are matched in any case."""
    node = cond("a between :l and :h oR not b in (:x)")
    assert type(node) is Or and type(node.left) is Between and type(node.right) is Not


def test_condition_parentheses_group():
    """Parentheses override precedence, around conditions and around operands."""
    node = cond("(a = :v OR b = :v) AND c = :v")
    assert type(node) is And and type(node.left) is Or
    node = cond("(a) = (:v)")
    assert type(node) is Compare and node.left.elements == ("a",)


def test_condition_nested_paths_and_placeholders():
    """Paths take .names, #names and [indexes], with blanks allowed between."""
    node = cond("#a.b[2] . #c [ 10 ] = :v")
    assert node.left.elements == ("#a", "b", 2, "#c", 10)


def test_condition_functions_parse():
    """Boolean functions are conditions; size() is an operand."""
    node = cond("attribute_exists(a) AND size(b) > :n")
    assert type(node.left) is Call and node.left.name == "attribute_exists"
    assert type(node.right.left) is Call and node.right.left.name == "size"


def test_condition_syntax_error_names_token_and_near_window():
    """A syntax error quotes the token and its neighbours: 'a = = b' is near "= = b"."""
    assert message(parse_condition, "a = = b") == 'Invalid ConditionExpression: Syntax error; token: "=", near: "= = b"'


def test_condition_syntax_error_at_end_names_eof():
    """An expression that stops early fails on <EOF>, near the last token."""
    assert message(parse_condition, "foo") == 'Invalid ConditionExpression: Syntax error; token: "<EOF>", near: "foo"'
    assert message(parse_condition, "a = :v AND", "FilterExpression") == (
        'Invalid FilterExpression: Syntax error; token: "<EOF>", near: "AND"'
    )


def test_condition_syntax_error_on_bad_character():
    """A name cannot start with '_': the '_' is the bad token."""
    assert message(parse_condition, "_hidden = :v") == (
        'Invalid ConditionExpression: Syntax error; token: "_", near: "_hidden"'
    )
    assert message(parse_condition, "a = !!") == 'Invalid ConditionExpression: Syntax error; token: "!", near: "= !!"'


def test_condition_syntax_error_for_numbers_and_keywords_as_operands():
    """Literal numbers are not operands; keywords cannot be names."""
    assert message(parse_condition, "a = 1") == 'Invalid ConditionExpression: Syntax error; token: "1", near: "= 1"'
    assert message(parse_condition, "and = :v") == 'Invalid ConditionExpression: Syntax error; token: "and", near: "and ="'


def test_condition_empty_expression():
    """An empty expression is refused before parsing."""
    assert message(parse_condition, "") == "Invalid ConditionExpression: The expression can not be empty;"
    assert message(parse_condition, "", "KeyConditionExpression") == (
        "Invalid KeyConditionExpression: The expression can not be empty;"
    )


def test_condition_size_limit_4kb():
    """Over 4 KB an expression is refused with its size; 4096 bytes is fine to parse."""
    text = "a = :v" + " AND a = :v" * 373  # 4109 characters
    assert message(parse_condition, text) == (
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: 4109"
    )
    ok = "a" * 4092 + " = :v"
    assert len(ok) == 4097
    assert message(parse_condition, ok).startswith("Invalid ConditionExpression: Expression size has exceeded")
    assert type(parse_condition("a" * 4091 + " = :v").root) is Compare


def test_update_size_limit_has_no_size_in_message():
    """DynamoDB's oversized UpdateExpression message stops at the semicolon."""
    text = "SET " + ", ".join(f"a{i} = :v" for i in range(500))
    assert message(parse_update, text) == (
        "Invalid UpdateExpression: Expression size has exceeded the maximum allowed size;"
    )


def test_condition_redundant_parentheses():
    """Doubled parentheses around a condition or an operand are refused."""
    for text in ("((a = :v))", "((a)) = :v", "a = ((:v))", "(((a = :v)))"):
        assert message(parse_condition, text) == "Invalid ConditionExpression: The expression has redundant parentheses;"
    assert type(cond("((a = :v) AND b = :v)")) is And
    assert type(cond("contains((a), :v)")) is Call


def test_condition_unknown_function():
    """A name followed by '(' is a function; unknown ones and wrong case are refused."""
    assert message(parse_condition, "starts_with(a, :v)") == (
        "Invalid ConditionExpression: Invalid function name; function: starts_with"
    )
    assert message(parse_condition, "ATTRIBUTE_EXISTS(a)") == (
        "Invalid ConditionExpression: Invalid function name; function: ATTRIBUTE_EXISTS"
    )


def test_condition_update_function_refused():
    """if_not_exists and list_append belong to update expressions."""
    assert message(parse_condition, "if_not_exists(a, :v) = :v") == (
        "Invalid ConditionExpression: The function is not allowed in a condition expression; function: if_not_exists"
    )


def test_condition_function_misused():
    """Only size() is a value; size() alone is not a condition."""
    assert message(parse_condition, "begins_with(a, :v) = :t") == (
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; "
        "function: begins_with"
    )
    assert message(parse_condition, "size(a)") == (
        "Invalid ConditionExpression: The function is not allowed to be used this way in an expression; function: size"
    )
    assert message(parse_condition, "contains(attribute_exists(a), :v)").endswith("function: attribute_exists")


def test_condition_reserved_word():
    """A reserved word used bare as a name is refused, quoted as written."""
    assert message(parse_condition, "status = :v") == (
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
    )
    assert message(parse_condition, "a.Name = :v").endswith("reserved keyword: Name")
    assert type(cond("#status = :v")) is Compare


def test_condition_in_more_than_100_operands():
    """IN takes at most 100 operands."""
    text = "a IN (" + ", ".join(f":v{i}" for i in range(101)) + ")"
    assert message(parse_condition, text) == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; number of operands: 101"
    )
    assert len(cond("a IN (" + ", ".join(f":v{i}" for i in range(100)) + ")").choices) == 100


def test_condition_error_order_syntax_first():
    """A syntax error wins over everything found from the text."""
    assert "Syntax error" in message(parse_condition, "status = :v AND ((a = :v)) AND")


def test_condition_error_order_parens_before_function_before_reserved():
    """DynamoDB reports redundant parentheses, then functions, then reserved words."""
    assert message(parse_condition, "status = :v AND foo(a) AND ((b = :v))").endswith("redundant parentheses;")
    assert message(parse_condition, "status = :v AND foo(a)").endswith("function: foo")


def test_condition_index_must_be_a_number():
    """A list index is a literal number, never a placeholder."""
    assert message(parse_condition, "a[:i] = :v") == (
        'Invalid ConditionExpression: Syntax error; token: ":i", near: "[:i]"'
    )


# -- update grammar -----------------------------------------------------------


def test_update_set_values_parse():
    """SET takes a value, a path, a function call or one + / - of two of them."""
    actions = upd("SET a = :v, b = c.d[1], e = if_not_exists(e, :z), f = list_append(f, :l), g = g + :n, h = :x - h")
    assert [a[0] for a in actions] == ["SET"] * 6
    assert type(actions[3][2]) is Call and actions[3][2].name == "list_append"
    assert type(actions[4][2]) is Arith and actions[4][2].op == "+"
    assert type(actions[5][2]) is Arith and actions[5][2].op == "-"


def test_update_all_clauses_any_order_any_case():
    """Clauses may come in any order, keywords in any case, actions comma-separated."""
    actions = upd("add n :n, s :s delete t :t remove a, b.c, d[1] set x = :x")
    assert [a[0] for a in actions] == ["ADD", "ADD", "DELETE", "REMOVE", "REMOVE", "REMOVE", "SET"]
    assert actions[5][1].elements == ("d", 1)


def test_update_parenthesised_values():
    """Parentheses may surround a SET value or its operands."""
    assert type(upd("SET a = (b + :v)")[0][2]) is Arith
    assert type(upd("SET a = (b) + (:v)")[0][2]) is Arith
    assert type(upd("set b.c=((c[1])+(b.a))")[0][2]) is Arith


def test_update_paths_in_text_order():
    """paths lists the targets as written, across clauses."""
    assert [p.elements for p in parse_update("REMOVE x SET a = :v ADD b :w").paths] == [("x",), ("a",), ("b",)]


def test_update_syntax_errors():
    """Malformed updates are syntax errors naming the token."""
    cases = {
        "SET MyStr = myNum + 1": 'token: "1", near: "+ 1"',
        "SET _123 = :val1": 'token: "_", near: "SET _123"',
        "SET a = b + c + d": 'token: "+", near: "c + d"',
        "whatever": 'token: "whatever", near: "whatever"',
        "SET a": 'token: "<EOF>", near: "a"',
        "REMOVE a = b": 'token: "=", near: "a = b"',
        "ADD a b": 'token: "b", near: "a b"',
        "SET :a = b": 'token: ":a", near: "SET :a ="',
        "SET a = delete": 'token: "delete", near: "= delete"',
        "SET a[:x] = :v": 'token: ":x", near: "[:x]"',
    }
    for text, tail in cases.items():
        assert message(parse_update, text) == f"Invalid UpdateExpression: Syntax error; {tail}", text
    for text in ("set a = b / c", "set a = b * c", 'set a[1] = "eight"', "SET if_not_exist(a, b) = a",
                 "set (a = (b + c))", "set a = (b.c).d + e", "SET c = if_not_exists(c, :a+:b)", "   "):
        assert message(parse_update, text).startswith("Invalid UpdateExpression: Syntax error; "), text


def test_update_section_used_twice():
    """Each clause keyword may appear once."""
    for text, name in (("set a = #c set c = :d", "SET"), ("remove #d set a = b remove e", "REMOVE"),
                       ("add #d :e set a = b add e :f", "ADD"), ("delete #d :e set a = b delete #e :f", "DELETE")):
        assert message(parse_update, text) == (
            f'Invalid UpdateExpression: The "{name}" section can only be used once in an update expression;'
        )


def test_update_reserved_word_before_function_and_section():
    """Updates report reserved words first, quoted as written."""
    assert message(parse_update, " set #c = :c set abOrt = :v ") == (
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: abOrt"
    )
    assert message(parse_update, " remove Absolute ").endswith("reserved keyword: Absolute")


def test_update_unknown_and_condition_functions():
    """Only if_not_exists and list_append are update functions."""
    assert message(parse_update, "SET a = f(b, c, d)") == "Invalid UpdateExpression: Invalid function name; function: f"
    assert message(parse_update, "SET a = size(b)") == (
        "Invalid UpdateExpression: The function is not allowed in an update expression; function: size"
    )


def test_update_nested_list_append_refused():
    """list_append cannot take list_append as an operand."""
    assert message(parse_update, "SET a = list_append(list_append(:a, :b), :c)") == (
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; "
        "function: list_append"
    )


def test_update_empty_expression():
    """An empty UpdateExpression is refused."""
    assert message(parse_update, "") == "Invalid UpdateExpression: The expression can not be empty;"


# -- projection grammar -------------------------------------------------------


def test_projection_paths_parse():
    """A projection is a comma-separated list of paths."""
    paths = parse_projection("a, #b.c, d[2].e, f").paths
    assert [p.elements for p in paths] == [("a",), ("#b", "c"), ("d", 2, "e"), ("f",)]


def test_projection_errors():
    """Projections refuse functions, trailing commas and reserved words."""
    assert message(parse_projection, "a, ") == 'Invalid ProjectionExpression: Syntax error; token: "<EOF>", near: ", "'
    assert message(parse_projection, "size(a)").startswith("Invalid ProjectionExpression: Syntax error; token: \"(\"")
    assert message(parse_projection, "a, date") == (
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: date"
    )
    assert message(parse_projection, "") == "Invalid ProjectionExpression: The expression can not be empty;"


# -- cache and reserved words -------------------------------------------------


def test_parse_cache_returns_same_tree_for_same_text():
    """The parsed form is cached by text; resolution is not."""
    cache_clear()
    first = parse_condition("a = :v")
    assert parse_condition("a = :v") is first
    assert parse_condition("a = :v", "FilterExpression") is first
    one = Resolver(values={":v": {"S": "x"}}).condition("a = :v")
    two = Resolver(values={":v": {"S": "y"}}).condition("a = :v")
    assert one.root.right.value == {"S": "x"} and two.root.right.value == {"S": "y"}
    assert first.root.right.name == ":v"  # the cached tree is untouched


def test_reserved_words_full_list():
    """DynamoDB reserves 573 words, case-insensitively."""
    assert len(RESERVED_WORDS) == 573
    assert is_reserved("status") and is_reserved("Size") and is_reserved("ZONE")
    assert not is_reserved("contains") and not is_reserved("id")
