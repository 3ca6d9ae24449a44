"""Resolution of #names and :values, and the checks that need them.

Messages are DynamoDB's (several from dynalite's tests, which were run
against DynamoDB); ``Resolver`` is used the way an operation uses it: one
per request, ``check_all_used()`` after every expression.
"""

import pytest

from kvstore.errors import ValidationException
from kvstore.expressions import Resolver, check_expression_parameters
from kvstore.expressions.ast import Const, Path

S = {"S": "x"}
N1 = {"N": "1"}


def message(fn, *args, **kwargs):
    with pytest.raises(ValidationException) as info:
        fn(*args, **kwargs)
    return info.value.message


# -- the maps themselves --------------------------------------------------------


def test_resolver_empty_maps_refused():
    """Present but empty ExpressionAttributeNames/Values are refused, names first."""
    assert message(Resolver, {}, {}) == "ExpressionAttributeNames must not be empty"
    assert message(Resolver, None, {}) == "ExpressionAttributeValues must not be empty"


def test_resolver_invalid_keys_refused():
    """Keys must be #name / :name tokens."""
    assert message(Resolver, {"a": "a"}) == 'ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'
    assert message(Resolver, None, {":b": S, "b": S}) == (
        'ExpressionAttributeValues contains invalid key: Syntax error; key: "b"'
    )
    assert message(Resolver, {"#": "a"}) == 'ExpressionAttributeNames contains invalid key: Syntax error; key: "#"'


def test_expression_parameters_names_need_an_expression():
    """Names without any expression are refused."""
    assert message(check_expression_parameters, {"#a": "a"}, None, [("ConditionExpression", None)]) == (
        "ExpressionAttributeNames can only be specified when using expressions"
    )
    check_expression_parameters({"#a": "a"}, None, [("ProjectionExpression", "#a")])


def test_expression_parameters_values_need_a_value_expression():
    """Values need an expression other than a projection; the message names them."""
    assert message(check_expression_parameters, None, {":v": S}, [("ConditionExpression", None)]) == (
        "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"
    )
    assert message(check_expression_parameters, None, {":v": S},
                   [("UpdateExpression", None), ("ConditionExpression", None)]) == (
        "ExpressionAttributeValues can only be specified when using expressions: "
        "UpdateExpression and ConditionExpression are null"
    )
    assert message(check_expression_parameters, None, {":v": S},
                   [("FilterExpression", None), ("KeyConditionExpression", None), ("ProjectionExpression", "a")]) == (
        "ExpressionAttributeValues can only be specified when using expressions: "
        "FilterExpression and KeyConditionExpression are null"
    )
    check_expression_parameters(None, {":v": S}, [("UpdateExpression", None), ("ConditionExpression", "a = :v")])


# -- substitution ---------------------------------------------------------------


def test_resolve_substitutes_names_and_values():
    """#names become attribute names (dots and all), :values their AttributeValues."""
    r = Resolver({"#a": "a.b", "#c": "c"}, {":v": S})
    root = r.condition("#a.#c[1] = :v").root
    assert root.left.elements == ("a.b", "c", 1)
    assert type(root.right) is Const and root.right.value == S
    r.check_all_used()


def test_resolve_undefined_name():
    """An undefined #name is refused, named."""
    r = Resolver({"#a": "a"}, {":v": S})
    assert message(r.condition, "#b = :v") == (
        "Invalid ConditionExpression: An expression attribute name used in the document path is not defined; "
        "attribute name: #b"
    )


def test_resolve_undefined_value():
    """An undefined :value is refused, named."""
    assert message(Resolver().condition, "a = :v", "FilterExpression") == (
        "Invalid FilterExpression: An expression attribute value used in expression is not defined; "
        "attribute value: :v"
    )


def test_resolve_condition_first_undefined_in_text_order():
    """In a condition the first undefined placeholder in the text is reported."""
    assert message(Resolver().condition, "a = :v AND #b = :w").endswith("attribute value: :v")


def test_resolve_update_undefined_names_before_values():
    """In an update undefined names are reported before undefined values."""
    assert message(Resolver().update, "SET a = :v, #b = :w").endswith("attribute name: #b")


def test_resolve_unused_names_then_values():
    """Unused placeholders are reported after all expressions, names first, keys listed."""
    r = Resolver({"#a": "a", "#b": "b", "#c": "c"}, {":a": S, ":b": S, ":c": S})
    r.update("remove a set b = list_append(b, if_not_exists(#a, :a))")
    r.condition("#c = :b")
    assert message(r.check_all_used) == "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    r = Resolver(None, {":a": S, ":b": S, ":c": S})
    r.update("remove a")
    r.condition("a = :b")
    assert message(r.check_all_used) == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:a, :c}"
    )


def test_resolve_projection_names_used():
    """Names used only by a projection count as used."""
    r = Resolver({"#n": "name"})
    assert r.projection("#n, a.b[1]") == (("name",), ("a", "b", 1))
    r.check_all_used()


# -- condition checks ------------------------------------------------------------


def test_condition_wrong_number_of_operands():
    """Functions take a fixed number of operands."""
    r = Resolver(None, {":v": S})
    assert message(r.condition, "begins_with(a)") == (
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
        "operator or function: begins_with, number of operands: 1"
    )
    assert message(r.condition, "attribute_exists(a, b)").endswith(
        "operator or function: attribute_exists, number of operands: 2"
    )
    assert message(r.condition, "size(a, b) = :v").endswith("operator or function: size, number of operands: 2")


def test_condition_operands_must_be_distinct():
    """A path compared with itself is refused."""
    assert message(Resolver().condition, "a.b = a.b") == (
        "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this "
        "operator or function; operator: =, first operand: [a, b]"
    )
    r = Resolver({"#a": "a"})
    assert message(r.condition, "begins_with(#a, a)").endswith("operator: begins_with, first operand: [a]")


def test_condition_existence_functions_need_a_path():
    """attribute_exists(:v) is refused."""
    assert message(Resolver(None, {":v": S}).condition, "attribute_exists(:v)") == (
        "Invalid ConditionExpression: Operator or function requires a document path; "
        "operator or function: attribute_exists"
    )


def test_condition_attribute_type_operand():
    """attribute_type's second operand is a string naming a DynamoDB type."""
    r = Resolver(None, {":n": N1, ":bad": {"S": "STRING"}, ":ok": {"S": "SS"}})
    assert message(r.condition, "attribute_type(a, :n)") == (
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: attribute_type, operand type: N"
    )
    assert message(r.condition, "attribute_type(a, :bad)") == (
        "Invalid ConditionExpression: Invalid attribute type name found; type: STRING, "
        "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
    )
    r.condition("attribute_type(a, :ok)")


def test_condition_begins_with_and_size_operand_types():
    """begins_with takes strings or binaries; size() of a constant number is refused."""
    r = Resolver(None, {":n": N1, ":b": {"BOOL": True}, ":s": S})
    assert message(r.condition, "begins_with(a, :n)") == (
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: begins_with, operand type: N"
    )
    assert message(r.condition, "size(:b) = :n").endswith("operator or function: size, operand type: BOOL")
    assert message(r.condition, "begins_with(size(a), :s)").endswith("begins_with, operand type: N")
    r.condition("size(:s) = :n")


def test_condition_ordering_needs_orderable_constants():
    """< <= > >= BETWEEN refuse a constant that is not N, S or B."""
    r = Resolver(None, {":l": {"L": []}, ":n": N1})
    assert message(r.condition, "a < :l") == (
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: <, operand type: L"
    )
    assert message(r.condition, "a BETWEEN :l AND :n").endswith("operator or function: BETWEEN, operand type: L")
    r.condition("a = :l")


def test_condition_between_bounds_order_and_type():
    """BETWEEN needs bounds of one type, the lower not above the upper."""
    r = Resolver(None, {":five": {"N": "5"}, ":one": N1, ":a": {"S": "a"}, ":b": {"S": "b"}})
    assert message(r.condition, "a BETWEEN :five AND :one") == (
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to "
        "lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}"
    )
    assert message(r.condition, "a between :b and :a").endswith(
        "lower bound operand: AttributeValue: {S:b}, upper bound operand: AttributeValue: {S:a}"
    )
    assert message(r.condition, "a BETWEEN :one AND :a") == (
        "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower and upper bounds; "
        "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}"
    )
    r.condition("a BETWEEN :one AND :five")


def test_condition_undefined_value_before_operand_count():
    """An undefined placeholder is reported before a wrong operand count."""
    assert message(Resolver().condition, "begins_with(:v)").endswith("attribute value: :v")


# -- update checks -----------------------------------------------------------------


def test_update_overlapping_paths():
    """Two targets where one contains the other overlap; earlier path first."""
    r = Resolver({"#c": "c", "#d": "[3]"})
    assert message(r.update, "set d[1] = a, d.b = a, c[1].a = a, #c = if_not_exists(a)") == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of "
        "these paths; path one: [c, [1], a], path two: [c]"
    )
    r = Resolver({"#c": "c", "#d": "[3]"})
    assert message(r.update, "set #c[3].#d = a, #c[3] = a").endswith("path one: [c, [3], [3]], path two: [c, [3]]")
    assert message(Resolver().update, "SET a = b REMOVE a").endswith("path one: [a], path two: [a]")


def test_update_conflicting_paths():
    """A name and an index at the same place conflict."""
    r = Resolver({"#c": "c", "#d": "[3]"})
    assert message(r.update, "set #c[3].#d = a, #c.#d[3] = if_not_exists(a)") == (
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or rewrite one of "
        "these paths; path one: [c, [3], [3]], path two: [c, [3], [3]]"
    )
    r = Resolver({"#c": "c", "#d": "d"})
    assert message(r.update, "remove a.#c set a[1] = #d").endswith("path one: [a, c], path two: [a, [1]]")


def test_update_overlap_reported_before_operand_types():
    """Path checks come before operand type checks."""
    r = Resolver(None, {":s": S})
    assert "overlap" in message(r.update, "ADD a :s SET a = :s")


def test_update_add_delete_operand_types():
    """ADD takes a number or a set, DELETE a set; the type is named in full."""
    cases = [
        ("ADD", S, "STRING"), ("DELETE", S, "STRING"), ("ADD", {"NULL": True}, "NULL"),
        ("ADD", {"BOOL": False}, "BOOLEAN"), ("DELETE", {"B": "YQ=="}, "BINARY"),
        ("ADD", {"M": {}}, "MAP"), ("DELETE", {"L": []}, "LIST"), ("DELETE", N1, "NUMBER"),
    ]
    for clause, value, name in cases:
        assert message(Resolver(None, {":a": value}).update, f"{clause} a.b :a") == (
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            f"operator: {clause}, operand type: {name}"
        )
    Resolver(None, {":a": N1}).update("ADD a :a")
    Resolver(None, {":a": {"NS": ["1"]}}).update("DELETE a :a")


def test_update_function_operand_types():
    """list_append takes lists, + and - take numbers: constants are checked early."""
    values = {":a": S, ":b": N1, ":i": {"M": {}}, ":j": {"L": []}}
    cases = [
        ("set a = list_append(:a, a)", "list_append", "S"),
        ("set a = list_append(a, :b)", "list_append", "N"),
        ("set a = list_append(:i, a)", "list_append", "M"),
        ("set a = a + :a", "+", "S"),
        ("set a = :j - a", "-", "L"),
    ]
    for text, function, kind in cases:
        r = Resolver(None, values)
        assert message(r.update, text) == (
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            f"operator or function: {function}, operand type: {kind}"
        )


def test_update_function_operand_count_and_path():
    """Update functions take two operands; if_not_exists's first is a path."""
    assert message(Resolver().update, "set a = if_not_exists(c)") == (
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
        "operator or function: if_not_exists, number of operands: 1"
    )
    assert message(Resolver(None, {":a": S}).update, "set a = if_not_exists(:a, c)") == (
        "Invalid UpdateExpression: Operator or function requires a document path; operator or function: if_not_exists"
    )


def test_update_resolved_actions():
    """A resolved update keeps the actions in text order with constants in place."""
    r = Resolver({"#n": "name"}, {":v": S})
    update = r.update("REMOVE x SET #n = :v")
    assert [(c, p.elements) for c, p, _ in update.actions] == [("REMOVE", ("x",)), ("SET", ("name",))]
    assert type(update.actions[1][2]) is Const
    assert type(update.actions[0][1]) is Path


# -- projection checks -------------------------------------------------------------


def test_projection_overlap_and_conflict():
    """Projected paths may not repeat, contain one another, or conflict."""
    assert message(Resolver().projection, "a.b, a") == (
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of "
        "these paths; path one: [a, b], path two: [a]"
    )
    assert message(Resolver().projection, "a, a").endswith("path one: [a], path two: [a]")
    assert message(Resolver().projection, "a[1], a.b") == (
        "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of "
        "these paths; path one: [a, [1]], path two: [a, b]"
    )
    assert message(Resolver({"#a": "a"}).projection, "#a, a").endswith("path one: [a], path two: [a]")


def test_projection_undefined_name():
    """A projection's undefined #name is refused with its prefix."""
    assert message(Resolver().projection, "#x") == (
        "Invalid ProjectionExpression: An expression attribute name used in the document path is not defined; "
        "attribute name: #x"
    )
