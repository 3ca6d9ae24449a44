"""DynamoDB's PartiQL: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction.

Modules, in the order a statement passes through them:

- ``lexer``: statement text -> tokens with positions (``-- ``/``/* */``
  comments, ``"names"``, ``'strings'``, numbers, ``?``, ``<<``/``>>``);
- ``parser``: tokens -> a statement tree (``ast``), cached by text, with
  DynamoDB's "Statement wasn't well formed, can't be processed: ..." errors;
- ``planner``: WHERE and SET/REMOVE rewritten onto ``kvstore.expressions``
  (so conditions evaluate exactly as ConditionExpression/FilterExpression
  do), parameters bound, keys extracted;
- ``executor``: the statement against its table: a SELECT through the
  Query/Scan read loop of ``kvstore.api.read``, a write through the
  ``ItemWrite`` objects of ``kvstore.api.items``, a transaction all or
  nothing.

The API handlers are in ``kvstore.api.partiql``.  Only the parser is
imported here: ``executor`` builds on ``kvstore.api``, which imports it.
"""

from kvstore.partiql.parser import parse

__all__ = ["parse"]
