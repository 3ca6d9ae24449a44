"""DynamoDB's expression language: lex, parse (cached), resolve, evaluate, apply.

Modules: ``lexer`` (tokens and the ``near:`` text of syntax errors),
``ast`` (the node classes), ``parser`` (the three grammars, the function
table, the LRU cache of parsed trees by text), ``resolve`` (#names and
:values per request, the checks that need them, unused-placeholder
errors), ``evaluate`` (conditions on wire-form items), ``update``
(applying an UpdateExpression as a pure step, projections), ``reserved``
(DynamoDB's reserved words).  Every error is a
``kvstore.errors.ValidationException`` with DynamoDB's message, prefixed
"Invalid <Parameter>: " where DynamoDB prefixes it.

How an operation uses it::

    check_expression_parameters(names, values, [("UpdateExpression", ue),
                                                ("ConditionExpression", ce)])
    r = Resolver(names, values)          # one per request
    update = r.update(ue)                # parse (cached) + resolve
    cond = r.condition(ce)               # or r.filter(fe), r.key_condition(kce)
    paths = r.projection(pe)             # ProjectionExpression -> paths
    r.check_all_used()                   # after every expression of the request

    check_key_update(update, key_names)  # validation, before reading the item
    if not evaluate(cond, old_item): ... # ConditionalCheckFailed
    new_item, updated = apply_update(update, old_item, key_names, key=req_key)
    project(new_item, updated)           # UPDATED_NEW (UPDATED_OLD: old_item)
    project(item, paths)                 # a ProjectionExpression's result

API:

- ``check_expression_parameters(names, values, expressions)``: the
  "ExpressionAttributeNames/Values can only be specified when using
  expressions" checks; ``expressions`` is ``[(parameter, text or None)]``.
- ``Resolver(names=None, values=None)``: checks the maps ("must not be
  empty", "contains invalid key"); methods ``condition(text,
  param="ConditionExpression")``, ``filter(text)``, ``key_condition(text)``
  -> ``ConditionExpr``; ``update(text)`` -> ``UpdateExpr``;
  ``projection(text)`` -> tuple of paths; ``check_all_used()``; and the
  lower-level ``resolve_condition/resolve_update/resolve_projection``
  taking parsed trees.
- ``parse_condition(text, param)``, ``parse_update(text, param)``,
  ``parse_projection(text, param)``: parsed trees, cached by text (empty
  and over-4 KB expressions are refused before the cache).
- ``evaluate(condition, item) -> bool`` (item None: no item).
- ``apply_update(update, item, key_names=(), key=None) -> (new_item, paths)``:
  pure; ``check_key_update(update, key_names)`` alone for early validation.
- ``project(item, paths) -> dict``.
- ``get_path(item, elements)``, ``values_equal(a, b)``,
  ``compare_values(a, b)``: value helpers a KeyConditionExpression check or
  a Query can reuse.
- A resolved path is a tuple of ``str`` (attribute name / map key) and
  ``int`` (list index); ``ConditionExpr.root`` and ``UpdateExpr.actions``
  expose the trees (``ast`` classes) for callers that inspect them, such as
  the key-condition checks of Query.
"""

from kvstore.expressions.ast import ConditionExpr, ProjectionExpr, UpdateExpr, path_str
from kvstore.expressions.evaluate import compare_values, evaluate, get_path, values_equal
from kvstore.expressions.parser import (
    FUNCTIONS, MAX_EXPRESSION_SIZE, cache_clear, parse_condition, parse_projection, parse_update,
)
from kvstore.expressions.reserved import RESERVED_WORDS, is_reserved
from kvstore.expressions.resolve import Resolver, check_expression_parameters
from kvstore.expressions.update import apply_update, check_key_update, project

__all__ = [
    "ConditionExpr", "ProjectionExpr", "UpdateExpr", "path_str",
    "compare_values", "evaluate", "get_path", "values_equal",
    "FUNCTIONS", "MAX_EXPRESSION_SIZE", "cache_clear",
    "parse_condition", "parse_projection", "parse_update",
    "RESERVED_WORDS", "is_reserved",
    "Resolver", "check_expression_parameters",
    "apply_update", "check_key_update", "project",
]
