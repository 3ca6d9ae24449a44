"""Recursive-descent parsers for DynamoDB's expression grammars, cached by text.

Three grammars share the lexer (``lexer.py``) and the node classes
(``ast.py``):

  condition   ConditionExpression, FilterExpression, KeyConditionExpression
      or      := and (OR and)*
      and     := not (AND not)*
      not     := NOT not | primary
      primary := '(' or ')'
               | operand (comparator operand
                          | BETWEEN operand AND operand
                          | IN '(' operand (',' operand)* ')')
               | function-call                      (a boolean function)
      operand := '(' operand ')' | function-call | :value | path
  projection  path (',' path)*
  update      clause+, each of SET/REMOVE/ADD/DELETE at most once, any order
      SET     path '=' value (',' ...)*   value := operand [('+'|'-') operand]
      REMOVE  path (',' path)*
      ADD / DELETE  path :value (',' ...)*
  path := name ('.' name | '[' digits ']')*, name := NAME | #placeholder

Keywords (AND OR NOT BETWEEN IN; SET REMOVE ADD DELETE in updates) match
in any case; function names are case-sensitive.  A '(' that could open
either a parenthesised condition or a parenthesised operand is tried both
ways; when every alternative fails, the error that got furthest wins.

Errors are checked in DynamoDB's order.  A syntax error always wins; then
the checks that need only the text, gathered while parsing and reported
first-found within the highest category (conditions: redundant
parentheses, unknown function, function used the wrong way, reserved word,
IN with too many operands; updates: redundant parentheses, reserved word,
unknown function, repeated section, function used the wrong way).  Checks that need the
ExpressionAttributeNames/Values (undefined placeholders, operand types,
overlapping paths) belong to ``resolve.py``.

Parsing is the cacheable half: ``_parse`` is an LRU cache keyed by
(grammar, text), so a hot expression is parsed once per process.  The
cache holds only successful parses, which never embed a request's names or
values; errors are raised as ``ExpressionError`` without the
"Invalid <Parameter>: " prefix and the public functions add the prefix of
the parameter being parsed.
"""

from functools import lru_cache

from kvstore.errors import ValidationException
from kvstore.expressions.ast import (
    And, Arith, Between, Call, Compare, ConditionExpr, In, Not, Or, Path,
    ProjectionExpr, UpdateExpr, Value,
)
from kvstore.expressions.lexer import (
    COLON, EOF, HASH, NAME, NUMBER, WS, near, token_text, tokenize,
)
from kvstore.expressions.reserved import is_reserved

__all__ = [
    "ExpressionError", "FUNCTIONS", "MAX_EXPRESSION_SIZE", "MAX_IN_OPERANDS",
    "parse_condition", "parse_projection", "parse_update", "cache_clear",
]

MAX_EXPRESSION_SIZE = 4096  # bytes, for every expression parameter
MAX_IN_OPERANDS = 100
PARSE_CACHE_SIZE = 4096

# The one table of functions: name -> (number of operands, contexts).
#   "condition": a boolean function, usable as a whole condition
#   "operand":   usable as a value inside a condition (only size)
#   "update":    usable as a value in an UpdateExpression SET action
FUNCTIONS = {
    "attribute_exists": (1, "condition"),
    "attribute_not_exists": (1, "condition"),
    "attribute_type": (2, "condition"),
    "begins_with": (2, "condition"),
    "contains": (2, "condition"),
    "size": (1, "operand"),
    "if_not_exists": (2, "update"),
    "list_append": (2, "update"),
}

_COMPARATORS = frozenset(("=", "<>", "<", "<=", ">", ">="))
_CONDITION_KEYWORDS = frozenset(("AND", "OR", "NOT", "BETWEEN", "IN"))
_UPDATE_KEYWORDS = frozenset(("SET", "REMOVE", "ADD", "DELETE"))

_CONDITION_ORDER = ("parens", "unknown_function", "misused_function", "reserved", "in_count")
_UPDATE_ORDER = ("parens", "reserved", "unknown_function", "section", "misused_function")


class ExpressionError(Exception):
    """An expression error, message without the "Invalid <Parameter>: " prefix."""

    def __init__(self, message, position=-1):
        super().__init__(message)
        self.message = message
        self.position = position  # index in the significant tokens, for syntax errors


class _Parser:
    def __init__(self, text, keywords):
        self.tokens = tokenize(text)
        self.sig = [i for i, (kind, _) in enumerate(self.tokens) if kind != WS]
        self.pos = 0
        self.keywords = keywords
        self.notes = {}
        self.closing = {}  # token index of '(' -> token index of its ')'

    # -- tokens ------------------------------------------------------------

    def kind(self, ahead=0):
        return self.tokens[self.sig[min(self.pos + ahead, len(self.sig) - 1)]][0]

    def text(self):
        return self.tokens[self.sig[self.pos]][1]

    def keyword(self):
        """The current token's keyword (upper case), or None."""
        kind, value = self.tokens[self.sig[self.pos]]
        if kind == NAME:
            upper = value.upper()
            if upper in self.keywords:
                return upper
        return None

    def advance(self):
        value = self.tokens[self.sig[self.pos]][1]
        self.pos += 1
        return value

    def expect(self, kind):
        if self.kind() != kind:
            self.fail()
        return self.advance()

    def fail(self):
        i = self.sig[self.pos]
        raise ExpressionError(
            f'Syntax error; token: "{token_text(self.tokens, i)}", near: "{near(self.tokens, i)}"',
            self.pos,
        )

    def note(self, category, message):
        self.notes.setdefault(category, message)

    def attempt(self, *alternatives):
        """Run the first alternative that parses; else raise the furthest error."""
        start, notes, closing = self.pos, dict(self.notes), dict(self.closing)
        best = None
        for alternative in alternatives:
            try:
                return alternative()
            except ExpressionError as error:
                if best is None or error.position > best.position:
                    best = error
                self.pos, self.notes, self.closing = start, dict(notes), dict(closing)
        raise best

    def open_paren(self):
        opening = self.sig[self.pos]
        self.expect("(")
        return opening

    def close_paren(self, opening, grouping=True):
        closing = self.sig[self.pos]
        self.expect(")")
        self.closing[opening] = closing
        if not grouping:  # the parentheses of a call or of an IN list
            return
        # "((x))": the inner pair spans exactly the inside of the outer pair.
        inner = self.sig[self.sig.index(opening) + 1]
        if self.tokens[inner][0] == "(" and self.closing.get(inner) == self.sig[self.pos - 2]:
            self.note("parens", "The expression has redundant parentheses;")

    def finish(self, order):
        if self.kind() != EOF:
            self.fail()
        for category in order:
            message = self.notes.get(category)
            if message is not None:
                raise ExpressionError(message)

    # -- shared pieces -----------------------------------------------------

    def path(self):
        elements = [self.path_name()]
        while True:
            kind = self.kind()
            if kind == ".":
                self.advance()
                elements.append(self.path_name())
            elif kind == "[":
                self.advance()
                index = self.expect(NUMBER)
                self.expect("]")
                elements.append(int(index))
            else:
                return Path(tuple(elements))

    def path_name(self):
        kind = self.kind()
        if kind == HASH:
            return self.advance()
        if kind == NAME and self.keyword() is None:
            name = self.advance()
            if is_reserved(name):
                self.note("reserved", f"Attribute name is a reserved keyword; reserved keyword: {name}")
            return name
        self.fail()

    def call(self, operand):
        """``name(arg, ...)`` with the current token on the name."""
        name = self.advance()
        opening = self.open_paren()
        args = [operand()]
        while self.kind() == ",":
            self.advance()
            args.append(operand())
        self.close_paren(opening, grouping=False)
        return Call(name, tuple(args))

    def is_call(self):
        return self.kind() == NAME and self.keyword() is None and self.kind(1) == "("

    # -- condition grammar -------------------------------------------------

    def condition(self):
        node = self.and_condition()
        while self.keyword() == "OR":
            self.advance()
            node = Or(node, self.and_condition())
        return node

    def and_condition(self):
        node = self.not_condition()
        while self.keyword() == "AND":
            self.advance()
            node = And(node, self.not_condition())
        return node

    def not_condition(self):
        if self.keyword() == "NOT":
            self.advance()
            return Not(self.not_condition())
        if self.kind() == "(":
            return self.attempt(self.parenthesised_condition, self.comparison)
        return self.comparison()

    def parenthesised_condition(self):
        opening = self.open_paren()
        node = self.condition()
        self.close_paren(opening)
        return node

    def comparison(self):
        left = self.operand()
        kind = self.kind()
        if kind in _COMPARATORS:
            self.advance()
            right = self.operand()
            self.misused(left, right)
            return Compare(kind, left, right)
        keyword = self.keyword()
        if keyword == "BETWEEN":
            self.advance()
            low = self.operand()
            if self.keyword() != "AND":
                self.fail()
            self.advance()
            high = self.operand()
            self.misused(left, low, high)
            return Between(left, low, high)
        if keyword == "IN":
            self.advance()
            opening = self.open_paren()
            choices = [self.operand()]
            while self.kind() == ",":
                self.advance()
                choices.append(self.operand())
            self.close_paren(opening, grouping=False)
            self.misused(left, *choices)
            if len(choices) > MAX_IN_OPERANDS:
                self.note(
                    "in_count",
                    f"The IN operator is provided with too many operands; number of operands: {len(choices)}",
                )
            return In(left, tuple(choices))
        if isinstance(left, Call):
            if FUNCTIONS.get(left.name, (0, None))[1] == "operand":
                self.note(
                    "misused_function",
                    f"The function is not allowed to be used this way in an expression; function: {left.name}",
                )
            return left
        self.fail()

    def operand(self):
        kind = self.kind()
        if kind == "(":
            opening = self.open_paren()
            node = self.operand()
            self.close_paren(opening)
            return node
        if kind == COLON:
            return Value(self.advance())
        if self.is_call():
            node = self.call(self.operand)
            self.check_condition_function(node)
            self.misused(*node.args)
            return node
        return self.path()

    def check_condition_function(self, node):
        entry = FUNCTIONS.get(node.name)
        if entry is None:
            self.note("unknown_function", f"Invalid function name; function: {node.name}")
        elif entry[1] == "update":
            self.note(
                "unknown_function",
                f"The function is not allowed in a condition expression; function: {node.name}",
            )

    def misused(self, *operands):
        """Only size() may stand where a value is expected."""
        for operand in operands:
            if isinstance(operand, Call) and FUNCTIONS.get(operand.name, (0, None))[1] == "condition":
                self.note(
                    "misused_function",
                    f"The function is not allowed to be used this way in an expression; function: {operand.name}",
                )

    # -- update grammar ----------------------------------------------------

    def update(self):
        seen = set()
        actions = []
        while True:
            keyword = self.keyword()
            if keyword is None:
                self.fail()
            self.advance()
            if keyword in seen:
                self.note("section", f'The "{keyword}" section can only be used once in an update expression;')
            seen.add(keyword)
            actions.append(self.update_action(keyword))
            while self.kind() == ",":
                self.advance()
                actions.append(self.update_action(keyword))
            if self.kind() == EOF:
                return UpdateExpr(tuple(actions))

    def update_action(self, keyword):
        path = self.path()
        if keyword == "SET":
            self.expect("=")
            return (keyword, path, self.set_value())
        if keyword == "REMOVE":
            return (keyword, path, None)
        return (keyword, path, Value(self.expect(COLON)))

    def set_value(self):
        if self.kind() == "(":
            return self.attempt(self.arithmetic, self.parenthesised_set_value)
        return self.arithmetic()

    def parenthesised_set_value(self):
        opening = self.open_paren()
        node = self.arithmetic()
        self.close_paren(opening)
        return node

    def arithmetic(self):
        left = self.update_operand()
        kind = self.kind()
        if kind == "+" or kind == "-":
            self.advance()
            return Arith(kind, left, self.update_operand())
        return left

    def update_operand(self):
        kind = self.kind()
        if kind == "(":
            opening = self.open_paren()
            node = self.update_operand()
            self.close_paren(opening)
            return node
        if kind == COLON:
            return Value(self.advance())
        if self.is_call():
            node = self.call(self.update_operand)
            entry = FUNCTIONS.get(node.name)
            if entry is None:
                self.note("unknown_function", f"Invalid function name; function: {node.name}")
            elif entry[1] != "update":
                self.note(
                    "unknown_function",
                    f"The function is not allowed in an update expression; function: {node.name}",
                )
            elif node.name == "list_append":
                for arg in node.args:
                    if isinstance(arg, Call) and arg.name == "list_append":
                        self.note(
                            "misused_function",
                            "The function is not allowed to be used this way in an expression; "
                            "function: list_append",
                        )
            return node
        return self.path()

    # -- projection grammar ------------------------------------------------

    def projection(self):
        paths = [self.path()]
        while self.kind() == ",":
            self.advance()
            paths.append(self.path())
        return ProjectionExpr(tuple(paths))


def _parse_condition_text(text):
    parser = _Parser(text, _CONDITION_KEYWORDS)
    root = parser.condition()
    parser.finish(_CONDITION_ORDER)
    return ConditionExpr(root)


def _parse_update_text(text):
    parser = _Parser(text, _UPDATE_KEYWORDS)
    expr = parser.update()
    parser.finish(_UPDATE_ORDER)
    return expr


def _parse_projection_text(text):
    parser = _Parser(text, frozenset())
    expr = parser.projection()
    parser.finish(("parens", "reserved"))
    return expr


_GRAMMARS = {
    "condition": _parse_condition_text,
    "update": _parse_update_text,
    "projection": _parse_projection_text,
}


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse(grammar, text):
    return _GRAMMARS[grammar](text)


def cache_clear():
    """Empty the parse cache (tests)."""
    _parse.cache_clear()


def _checked_parse(grammar, text, param):
    if text == "":
        raise ValidationException(f"Invalid {param}: The expression can not be empty;")
    size = len(text.encode("utf-8"))
    if size > MAX_EXPRESSION_SIZE:
        if grammar == "condition":
            raise ValidationException(
                f"Invalid {param}: Expression size has exceeded the maximum allowed size; expression size: {size}"
            )
        raise ValidationException(f"Invalid {param}: Expression size has exceeded the maximum allowed size;")
    try:
        return _parse(grammar, text)
    except ExpressionError as error:
        raise ValidationException(f"Invalid {param}: {error.message}") from None


def parse_condition(text, param="ConditionExpression"):
    """Parse a condition, filter or key condition; ``param`` names it in errors."""
    return _checked_parse("condition", text, param)


def parse_update(text, param="UpdateExpression"):
    """Parse an UpdateExpression."""
    return _checked_parse("update", text, param)


def parse_projection(text, param="ProjectionExpression"):
    """Parse a ProjectionExpression."""
    return _checked_parse("projection", text, param)
