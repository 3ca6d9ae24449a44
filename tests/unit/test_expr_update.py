"""Applying UpdateExpressions (every clause, every error) and projecting items.

Expected results follow DynamoDB's observed behaviour as recorded by
dynalite's and scylladb's test suites (which run against DynamoDB): SET
values read the old item, list indexes refer to the old list, SET past the
end appends in index order, REMOVE on a missing item does nothing.
"""

import copy

import pytest

from kvstore.errors import ValidationException
from kvstore.expressions import Resolver, apply_update, check_key_update, project

KEY = {"id": {"S": "k"}}


def N(x):
    return {"N": str(x)}


def S(x):
    return {"S": x}


def L(*xs):
    return {"L": list(xs)}


def M(**kw):
    return {"M": kw}


def run(text, item, values=None, names=None, key_names=("id",), key=KEY):
    """Apply ``text`` to ``item``; also check that ``item`` was left untouched."""
    before = copy.deepcopy(item)
    update = Resolver(names, values).update(text)
    new, paths = apply_update(update, item, key_names, key=key)
    assert item == before
    return new, paths


def message(*args, **kwargs):
    with pytest.raises(ValidationException) as info:
        run(*args, **kwargs)
    return info.value.message


def test_update_set_top_level_and_nested():
    """SET replaces or creates attributes, map members and list elements."""
    item = {**KEY, "a": S("old"), "m": M(x=N(1)), "l": L(S("one"), S("two"), S("three"))}
    new, paths = run("SET a = :v, m.y = :w, l[1] = :v, z = :w", item, {":v": S("new"), ":w": N(2)})
    assert new == {**KEY, "a": S("new"), "m": M(x=N(1), y=N(2)), "l": L(S("one"), S("new"), S("three")), "z": N(2)}
    assert paths == (("a",), ("m", "y"), ("l", 1), ("z",))


def test_update_set_missing_item_starts_from_key():
    """On a missing item the result holds the key, and SET values may read it."""
    new, _ = run("set b = if_not_exists(b, id)", None)
    assert new == {**KEY, "b": KEY["id"]}


def test_update_set_reads_old_values():
    """SET values are read before any change: swaps work, fresh attributes are not visible."""
    item = {**KEY, "a": N(1), "b": N(2)}
    new, _ = run("SET a = b, b = a", item)
    assert new == {**KEY, "a": N(2), "b": N(1)}
    new, _ = run("REMOVE a SET c = a", item)
    assert new == {**KEY, "b": N(2), "c": N(1)}
    assert message("SET x = :v, y = x", item, {":v": N(4)}) == (
        "The provided expression refers to an attribute that does not exist in the item"
    )


def test_update_set_missing_source_attribute():
    """A SET value naming a missing attribute is refused."""
    for text in ("set c = b", "set e = list_append(b, c)", "set e = b + :one"):
        assert message(text, {**KEY}, {":one": N(1)} if ":one" in text else None) == (
            "The provided expression refers to an attribute that does not exist in the item"
        )


def test_update_plus_minus_numbers():
    """+ and - work on numbers exactly and store canonical text."""
    item = {**KEY, "n": N("1.25"), "m": N(10)}
    new, _ = run("SET n = n + :d, m = :z - m, k = :a + :b", item,
                 {":d": N("0.25"), ":z": N(0), ":a": N("0.1"), ":b": N("0.2")})
    assert new["n"] == N("1.5") and new["m"] == N(-10) and new["k"] == N("0.3")


def test_update_arithmetic_limits():
    """Results past DynamoDB's range or precision are errors, never rounded."""
    big = "9.9999999999999999999999999999999999999E+125"
    assert message("SET n = n + :one", {**KEY, "n": N(big)}, {":one": N(big)}) == (
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )
    assert message("SET n = n + :tiny", {**KEY, "n": N(1)}, {":tiny": N("1E-100")}) == (
        "Attempting to store more than 38 significant digits in a Number"
    )
    assert message("SET n = n - :a", {**KEY, "n": N("1E-130")}, {":a": N("0.9E-130")}) == (
        "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    )


def test_update_arithmetic_on_wrong_type():
    """+ or - with a non-number from the item is an operand type error."""
    assert message("SET e = a + :n", {**KEY, "a": S("x")}, {":n": N(1)}) == (
        "An operand in the update expression has an incorrect data type"
    )
    assert message("SET e = b - :n", {**KEY, "b": M()}, {":n": N(1)}) == (
        "An operand in the update expression has an incorrect data type"
    )


def test_update_list_append():
    """list_append concatenates two lists, either order."""
    item = {**KEY, "l": L(N(1))}
    new, _ = run("SET l = list_append(l, :v), f = list_append(:v, l)", item, {":v": L(N(2))})
    assert new["l"] == L(N(1), N(2)) and new["f"] == L(N(2), N(1))
    new, _ = run("SET l = list_append(if_not_exists(l, :e), :v)", {**KEY}, {":e": L(), ":v": L(N(2))})
    assert new["l"] == L(N(2))
    assert message("set e = list_append(d, if_not_exists(f, :a))", {**KEY, "d": {"NS": ["1"]}}, {":a": L()}) == (
        "An operand in the update expression has an incorrect data type"
    )


def test_update_if_not_exists():
    """if_not_exists(path, v) is the path's value when present, else v."""
    item = {**KEY, "a": N(2)}
    new, _ = run("SET a = if_not_exists(a, :v), b = if_not_exists(c, :v)", item, {":v": N(3)})
    assert new["a"] == N(2) and new["b"] == N(3)


def test_update_set_list_index_past_end_appends_in_index_order():
    """SET past the end appends; several such elements go in index order."""
    item = {**KEY, "a": L(S("one"), S("two"), S("three"))}
    new, _ = run("SET a[7] = :v", item, {":v": S("hello")})
    assert new["a"] == L(S("one"), S("two"), S("three"), S("hello"))
    new, _ = run("SET a[84] = :a1, a[37] = :a2, a[17] = :a3, a[50] = :a4", new,
                 {":a1": S("a1"), ":a2": S("a2"), ":a3": S("a3"), ":a4": S("a4")})
    assert new["a"]["L"][4:] == [S("a3"), S("a2"), S("a4"), S("a1")]


def test_update_remove_attributes_members_elements():
    """REMOVE drops attributes, map members and list elements; missing ones are ignored."""
    item = {**KEY, "a": N(1), "m": M(b=N(1), c=N(2)), "l": L(N(4), N(5), N(6))}
    new, _ = run("REMOVE a, m.b, l[0], gone, m.gone, l[17]", item)
    assert new == {**KEY, "m": M(c=N(2)), "l": L(N(5), N(6))}
    new, _ = run("REMOVE m.b, m.c", {**KEY, "m": M(b=N(1), c=N(2))})
    assert new["m"] == M()  # an empty map stays


def test_update_remove_several_indexes_uses_old_positions():
    """REMOVE a[1], a[2] removes two old elements; other actions also use old indexes."""
    item = {**KEY, "a": L(N(2), N(3), N(4), N(5), N(6), N(7))}
    new, _ = run("REMOVE a[1], a[2]", item)
    assert new["a"] == L(N(2), N(5), N(6), N(7))
    for text in ("REMOVE a[1] SET a[3] = :v", "SET a[3] = :v REMOVE a[1]"):
        new, _ = run(text, item, {":v": N(17)})
        assert new["a"] == L(N(2), N(4), N(17), N(6), N(7))


def test_update_nested_deep_paths():
    """Deep paths through maps and lists are updated and removed in place."""
    item = {**KEY, "a": M(b=N(3), c=L(S("hi"), M(x=M(y=L(N(3), N(5), N(7))), q=N(2))))}
    new, _ = run("SET a.c[1].#n.y[1] = :v", item, {":v": N(9)}, {"#n": "x"})
    assert new["a"] == M(b=N(3), c=L(S("hi"), M(x=M(y=L(N(3), N(9), N(7))), q=N(2))))
    new, _ = run("REMOVE a.c[1].x.y[1], a.c[1].q", item)
    assert new["a"] == M(b=N(3), c=L(S("hi"), M(x=M(y=L(N(3), N(7))))))


def test_update_dynalite_combined_example():
    """A combined update: old-index list semantics, appends in order, UPDATED_NEW paths."""
    item = {**KEY, "b": M(a=N(1), b=N(2), c=N(3)), "c": L(N(1), N(3))}
    new, paths = run(
        "set b.c=((c[1])+(b.a)),b.a = id,c[1] = id, c[4] = b.a - b.b, c[2] = b.c add c[8] :b, c[6] :a",
        item, {":a": N(2), ":b": {"SS": ["a"]}},
    )
    assert new == {**KEY, "b": M(a=KEY["id"], b=N(2), c=N(4)),
                   "c": L(N(1), KEY["id"], N(3), N(-1), N(2), {"SS": ["a"]})}
    assert project(new, paths) == {"b": M(c=N(4), a=KEY["id"]), "c": L(KEY["id"], N(3), N(2))}
    assert project(item, paths) == {"b": M(c=N(3), a=N(1)), "c": L(N(3))}


def test_update_add_numbers_and_sets():
    """ADD adds to a number, unites sets (numbers by value), and creates missing attributes."""
    item = {**KEY, "n": N(3), "s": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}}
    new, _ = run("ADD n :four, s :s, ns :ns, fresh :four, fs :s", item,
                 {":four": N(4), ":s": {"SS": ["b", "c"]}, ":ns": {"NS": ["2.0", "3"]}})
    assert new["n"] == N(7)
    assert new["s"] == {"SS": ["a", "b", "c"]}
    assert new["ns"] == {"NS": ["1", "2", "3"]}
    assert new["fresh"] == N(4) and new["fs"] == {"SS": ["b", "c"]}
    new, _ = run("ADD b :v", None, {":v": N(8)})
    assert new == {**KEY, "b": N(8)}


def test_update_add_wrong_item_type():
    """ADD to an attribute of another type is an operand type error."""
    for item, value in (({"b": S("hi")}, N(1)), ({"b": L(N(1))}, {"NS": ["3"]}), ({"b": {"SS": ["1"]}}, {"NS": ["1"]}),
                        ({"b": {"NS": ["1"]}}, N(1))):
        assert message("ADD b :v", {**KEY, **item}, {":v": value}) == (
            "An operand in the update expression has an incorrect data type"
        )


def test_update_delete_from_sets():
    """DELETE removes members; missing members and attributes are ignored; empty sets vanish."""
    item = {**KEY, "a": {"SS": ["dog", "cat", "mouse"]}, "b": S("hi"), "n": {"NS": ["1", "2", "3"]}}
    new, _ = run("DELETE a :v, n :n, gone :v", item, {":v": {"SS": ["cat", "mouse", "pig"]}, ":n": {"NS": ["1.0", "4"]}})
    assert new["a"] == {"SS": ["dog"]} and new["n"] == {"NS": ["2", "3"]} and "gone" not in new
    new, _ = run("DELETE a :v", new, {":v": {"SS": ["dog"]}})
    assert "a" not in new


def test_update_delete_wrong_item_type():
    """DELETE from a value that is not a set of the same type is an operand type error."""
    for item, value in (({"d": {"NS": ["1"]}}, {"SS": ["1"]}), ({"c": N(1)}, {"NS": ["1"]})):
        name = next(iter(item))
        assert message(f"delete {name} :a", {**KEY, **item}, {":a": value}) == (
            "An operand in the update expression has an incorrect data type"
        )


def test_update_invalid_document_paths():
    """A step through a missing attribute or the wrong container is refused, for every clause."""
    item = {**KEY, "b": S("hi"), "c": M(**{"1": S("a")}), "d": L(S("a"), S("b"))}
    for text in ("set b.a = :a", "set b[1] = :a", "set y.a = :a", "set y[1] = :a", "set c[1] = :a",
                 "set d.#1 = :a", "remove b.a", "remove b[1]", "remove y.a", "remove y[1]", "remove c[1]",
                 "remove d.#1", "delete b.a :a", "delete y.a :a", "delete c[1] :a", "delete d.#1 :a",
                 "add b.a :a", "add y[1] :a", "add c[1] :a", "add d.#1 :a", "set d[5].x = :a"):
        names = {"#1": "1"} if "#1" in text else None
        assert message(text, item, {":a": {"SS": ["a"]}}, names) == (
            "The document path provided in the update expression is invalid for update"
        ), text


def test_update_invalid_path_on_missing_item():
    """On a missing item a nested SET is refused, but a nested REMOVE does nothing."""
    assert message("set b.a = :a", None, {":a": N(1)}) == (
        "The document path provided in the update expression is invalid for update"
    )
    new, _ = run("REMOVE x.y, z[0]", None)
    assert new == KEY


def test_update_key_attribute_refused():
    """No action may target a key attribute, nested or not."""
    for text, values in (("add id.b :a", {":a": N(1)}), ("remove d set b = :a, id = :a", {":a": N(1)}),
                         ("delete b :a remove id", {":a": {"NS": ["1"]}}), ("set id = b.c + b[1]", None)):
        assert message(text, {**KEY}, values) == (
            "One or more parameter values were invalid: Cannot update attribute id. This attribute is part of the key"
        )
    update = Resolver(None, {":a": N(1)}).update("SET x = :a, sk = :a")
    with pytest.raises(ValidationException) as info:
        check_key_update(update, ("id", "sk"))
    assert info.value.message.endswith("Cannot update attribute sk. This attribute is part of the key")


def test_update_copy_on_write_shares_untouched_values():
    """The new item shares untouched values with the old one and copies changed containers."""
    item = {**KEY, "keep": M(x=N(1)), "m": M(a=N(1), b=M(c=N(2)))}
    new, _ = run("SET m.a = :v", item, {":v": N(5)})
    assert new["keep"] is item["keep"]
    assert new["m"] is not item["m"] and new["m"]["M"]["b"] is item["m"]["M"]["b"]


# -- projection -------------------------------------------------------------------


def test_project_paths():
    """Projection keeps requested attributes, map members, and list elements compacted in order."""
    item = {"pk": S("p"), "a": M(b=N(1), c=N(2)), "letters": L(S("x"), S("y"), S("z")), "alt": S("o")}
    paths = Resolver({"#o": "alt"}).projection("a.c, letters[2], letters[0], #o")
    assert project(item, paths) == {"a": M(c=N(2)), "letters": L(S("x"), S("z")), "alt": S("o")}


def test_project_missing_paths_omitted():
    """Paths with no value leave nothing behind, not even their parents."""
    item = {"a": M(b=N(1)), "l": L(N(1)), "s": S("x"), "t": S("y")}
    paths = Resolver().projection("a.zz, l[5], s.x, t[0], nope, l[0].q")
    assert project(item, paths) == {}
    assert project(None, paths) == {}


def test_project_nested_lists_and_maps():
    """Nested projections rebuild the shape of the selected parts only."""
    item = {"a": L(M(x=N(1), y=N(2)), M(x=N(3)), M(y=N(4)))}
    paths = Resolver().projection("a[0].y, a[2].x, a[1].x")
    assert project(item, paths) == {"a": L(M(y=N(2)), M(x=N(3)))}
