"""A recursive-descent parser for DynamoDB's PartiQL subset, cached by text.

  statement := (select | insert | update | delete | from_update | exists) [';'] EOF
  select    := SELECT ('*' | expr (',' expr)*) FROM source [WHERE expr]
               [ORDER BY path [ASC|DESC] (',' path [ASC|DESC])*]
  insert    := INSERT INTO source VALUE expr
  update    := UPDATE source (SET assign (',' assign)* | REMOVE path (',' path)*)+
               [WHERE expr] [RETURNING (ALL|MODIFIED) (OLD|NEW) '*']
  from_update := FROM source [WHERE expr] (SET ... | REMOVE ...)+ [RETURNING ...]
  delete    := DELETE FROM source [WHERE expr] [RETURNING ...]
  exists    := EXISTS '(' select ')'
  source    := name ['.' name]                 (a table, or "table"."index")
  expr      := or;  or := and (OR and)*;  and := not (AND not)*;  not := NOT not | predicate
  predicate := additive [comparator additive | [NOT] BETWEEN additive AND additive
                         | [NOT] IN additive | IS [NOT] type]
  additive  := unary (('+'|'-'|'||') unary)*;  unary := '-' unary | primary
  primary   := literal | '?' | path | name '(' args ')' | '(' expr [',' expr ...] ')'
               | '[' items ']' | '<<' items '>>' | '{' key ':' expr, ... '}'
  path      := name ('.' name | '[' (number | string) ']')*

Syntax errors are DynamoDB's "Statement wasn't well formed, can't be
processed: <detail>", with the details its PartiQL parser uses: a token
left after a complete statement is "Unexpected token after expression", a
clause that breaks off is "Unexpected term", a statement that starts with
no statement keyword (or an UPDATE with no SET or REMOVE) is "Expected data
manipulation", a keyword after a '.' in a path is "Invalid path dot
component", a keyword where a term belongs "Unexpected keyword".  A few
well-formed statements are refused here with messages of their own, before
any table is read: an alias ("Aliasing is not supported"), LIMIT, GROUP BY,
HAVING, DISTINCT, three-part FROM names, RETURNING on an INSERT.

``parse(text)`` returns a statement from ``ast`` and the number of ``?``
in it; results are cached by text (errors are not).
"""

from functools import lru_cache

from kvstore.errors import ValidationException
from kvstore.partiql.ast import (
    MISSING, BagExpr, Between, Binary, Call, Delete, Exists, InList, Insert, Is, ListExpr, Lit,
    Param, PathRef, Select, StructExpr, Unary, Update,
)
from kvstore.partiql.lexer import (
    EOF, IDENT, KEYWORD, NUMBER, PUNCT, QIDENT, QMARK, STRING, LexError, tokenize,
)

__all__ = ["parse", "not_well_formed", "PARSE_CACHE_SIZE"]

PARSE_CACHE_SIZE = 2048

_COMPARATORS = frozenset(("=", "<>", "!=", "<", "<=", ">", ">="))
# IS <type>: the names DynamoDB accepts, as its messages print them.
_IS_TYPES = {
    "missing": "MISSING", "null": "NULL", "bool": "BOOLEAN", "boolean": "BOOLEAN", "blob": "BLOB",
    "string": "STRING", "varchar": "STRING", "char": "STRING", "character": "STRING",
    "numeric": "NUMERIC", "decimal": "NUMERIC", "dec": "NUMERIC", "int": "NUMERIC", "integer": "NUMERIC",
    "smallint": "NUMERIC", "float": "NUMERIC", "real": "NUMERIC", "double": "NUMERIC",
    "struct": "STRUCT", "tuple": "TUPLE", "list": "LIST",
}


def not_well_formed(detail=""):
    return ValidationException(f"Statement wasn't well formed, can't be processed: {detail}")


class _Syntax(Exception):
    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


class _Parser:
    def __init__(self, text):
        self.tokens = tokenize(text)
        self.i = 0
        self.params = 0

    # -- tokens ------------------------------------------------------------

    def peek(self, offset=0):
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def next(self):
        tok = self.tokens[self.i]
        if tok[0] != EOF:
            self.i += 1
        return tok

    def at_keyword(self, *words):
        tok = self.tokens[self.i]
        return tok[0] == KEYWORD and tok[1] in words

    def at_punct(self, *marks):
        tok = self.tokens[self.i]
        return tok[0] == PUNCT and tok[1] in marks

    def accept_keyword(self, word):
        if self.at_keyword(word):
            self.i += 1
            return True
        return False

    def accept_punct(self, mark):
        if self.at_punct(mark):
            self.i += 1
            return True
        return False

    def unexpected(self):
        tok = self.tokens[self.i]
        if tok[0] == EOF:
            return _Syntax("Unexpected term")
        if tok[0] == KEYWORD:
            return _Syntax("Unexpected keyword")
        return _Syntax("Unexpected token")

    def expect_keyword(self, word):
        if not self.accept_keyword(word):
            raise self.unexpected()

    def expect_punct(self, mark):
        if not self.accept_punct(mark):
            raise self.unexpected()

    @staticmethod
    def pos(tok):
        return (tok[2], tok[3], tok[4])

    # -- statements --------------------------------------------------------

    def statement(self, allow_exists=True):
        tok = self.peek()
        if tok[0] == KEYWORD and tok[1] == "select":
            stmt = self.select()
        elif tok[0] == KEYWORD and tok[1] == "insert":
            stmt = self.insert()
        elif tok[0] == KEYWORD and tok[1] == "update":
            stmt = self.update()
        elif tok[0] == KEYWORD and tok[1] == "delete":
            stmt = self.delete()
        elif tok[0] == KEYWORD and tok[1] == "from":
            stmt = self.from_update()
        elif tok[0] == KEYWORD and tok[1] == "exists" and allow_exists:
            self.next()
            self.expect_punct("(")
            if not self.at_keyword("select"):
                raise self.unexpected()
            stmt = Exists(self.select())
            self.expect_punct(")")
        elif tok[0] == EOF:
            raise _Syntax("Unexpected term")
        else:
            raise _Syntax("Expected data manipulation")
        self.accept_punct(";")
        if self.peek()[0] != EOF:
            raise _Syntax("Unexpected token after expression")
        return stmt

    def source(self):
        """(table, index or None) of FROM / INTO / UPDATE."""
        names = [self.name_component()]
        while self.accept_punct("."):
            tok = self.peek()
            if tok[0] not in (IDENT, QIDENT):
                if tok[0] == KEYWORD:
                    raise _Syntax("Invalid path dot component")
                raise self.unexpected()
            names.append(self.name_component())
        if len(names) > 2:
            raise ValidationException("A path may contain at most 2 components in the FROM clause")
        return names[0], (names[1] if len(names) == 2 else None)

    def name_component(self):
        tok = self.peek()
        if tok[0] in (IDENT, QIDENT):
            self.next()
            return tok[1]
        raise self.unexpected()

    def no_alias(self):
        if self.at_keyword("as") or self.peek()[0] in (IDENT, QIDENT):
            raise ValidationException("Aliasing is not supported")

    def select(self):
        self.expect_keyword("select")
        if self.at_keyword("distinct"):
            raise ValidationException("Unsupported token in expression: DISTINCT")
        if self.at_keyword("value", "pivot"):
            raise ValidationException("Select projection doesn't support value or pivot keywords")
        self.accept_keyword("all")
        projection = None
        if self.at_punct("*"):
            self.next()
            if self.at_punct(","):
                raise ValidationException("Other attributes should not be present in the projection when '*' is used.")
        else:
            projection = []
            while True:
                if self.at_punct("*"):
                    raise ValidationException(
                        "Other attributes should not be present in the projection when '*' is used."
                    )
                projection.append(self.expr())
                if self.at_keyword("as") or self.peek()[0] in (IDENT, QIDENT):
                    raise ValidationException("Aliasing is not supported")
                if not self.accept_punct(","):
                    break
        self.expect_keyword("from")
        table, index = self.source()
        self.no_alias()
        if self.at_punct(","):
            raise ValidationException("Only select from a single table or index is supported.")
        where = None
        if self.accept_keyword("where"):
            where = self.expr()
        if self.at_keyword("group"):
            raise ValidationException("Unsupported clause: GROUP BY")
        if self.at_keyword("having"):
            raise ValidationException("Unsupported clause: HAVING")
        order_by = None
        if self.accept_keyword("order"):
            self.expect_keyword("by")
            order_by = []
            while True:
                key = self.expr()
                descending = False
                if self.accept_keyword("desc"):
                    descending = True
                else:
                    self.accept_keyword("asc")
                order_by.append((key, descending))
                if not self.accept_punct(","):
                    break
        if self.at_keyword("limit"):
            raise ValidationException("Unsupported clause: LIMIT")
        if self.at_keyword("offset"):
            raise ValidationException("Unsupported clause: OFFSET")
        return Select(projection, table, index, where, order_by)

    def insert(self):
        self.expect_keyword("insert")
        self.expect_keyword("into")
        table, index = self.source()
        if self.at_keyword("as") or self.peek()[0] in (IDENT, QIDENT):
            # DynamoDB reads INSERT INTO t as complete: an alias is left over.
            raise _Syntax("Unexpected token after expression")
        if self.at_keyword("values"):
            raise ValidationException(
                "Unsupported operation: Inserting multiple items in a single statement is not supported, "
                'use "INSERT INTO tableName VALUE item" instead'
            )
        self.expect_keyword("value")
        value = self.expr()
        if self.at_keyword("at"):
            raise ValidationException("AT is not supported in insert statements.")
        if self.at_keyword("on"):
            raise ValidationException("Unsupported clause: ON CONFLICT")
        if self.at_keyword("returning"):
            self.returning()
            raise ValidationException("RETURNING is not supported in INSERT")
        stmt = Insert(table, value)
        stmt_index_check(index)
        return stmt

    def dml_operations(self, actions):
        found = False
        while True:
            if self.accept_keyword("set"):
                while True:
                    target = self.path_target()
                    self.expect_punct("=")
                    actions.append(("SET", target, self.expr()))
                    if not self.accept_punct(","):
                        break
                found = True
            elif self.accept_keyword("remove"):
                while True:
                    actions.append(("REMOVE", self.path_target(), None))
                    if not self.accept_punct(","):
                        break
                found = True
            else:
                return found

    def path_target(self):
        tok = self.peek()
        node = self.primary()
        if type(node) is not PathRef:
            raise ValidationException(f"Unrecognized assignment target: {_source_text(tok)}")
        return node

    def update(self):
        self.expect_keyword("update")
        table, index = self.source()
        self.no_alias()
        actions = []
        if not self.dml_operations(actions):
            raise _Syntax("Expected data manipulation")
        where = self.expr() if self.accept_keyword("where") else None
        returning = self.returning() if self.at_keyword("returning") else None
        stmt_index_check(index)
        return Update(table, actions, where, returning)

    def from_update(self):
        self.expect_keyword("from")
        table, index = self.source()
        self.no_alias()
        where = self.expr() if self.accept_keyword("where") else None
        actions = []
        if not self.dml_operations(actions):
            raise _Syntax("Expected data manipulation")
        returning = self.returning() if self.at_keyword("returning") else None
        stmt_index_check(index)
        return Update(table, actions, where, returning)

    def delete(self):
        self.expect_keyword("delete")
        self.expect_keyword("from")
        table, index = self.source()
        self.no_alias()
        where = self.expr() if self.accept_keyword("where") else None
        returning = self.returning() if self.at_keyword("returning") else None
        stmt_index_check(index)
        return Delete(table, where, returning)

    def returning(self):
        self.expect_keyword("returning")
        if self.accept_keyword("all"):
            first = "ALL"
        elif self.accept_keyword("modified"):
            first = "MODIFIED"
        else:
            raise self.unexpected()
        if self.accept_keyword("old"):
            second = "OLD"
        elif self.accept_keyword("new"):
            second = "NEW"
        else:
            raise self.unexpected()
        if not self.accept_punct("*"):
            if self.peek()[0] == EOF:
                raise self.unexpected()
            raise ValidationException("Expected '*' after ( MODIFIED | ALL ) ( NEW | OLD ) in RETURNING clause")
        if self.at_punct(","):
            raise ValidationException("Invalid syntax with multiple returning elements in RETURNING clause")
        return f"{first} {second}"

    # -- expressions -------------------------------------------------------

    def expr(self):
        left = self.and_expr()
        while self.at_keyword("or"):
            tok = self.next()
            left = Binary("or", left, self.and_expr(), self.pos(tok))
        return left

    def and_expr(self):
        left = self.not_expr()
        while self.at_keyword("and"):
            tok = self.next()
            left = Binary("and", left, self.not_expr(), self.pos(tok))
        return left

    def not_expr(self):
        if self.at_keyword("not"):
            tok = self.next()
            return Unary("not", self.not_expr(), self.pos(tok))
        return self.predicate()

    def predicate(self):
        left = self.additive()
        tok = self.peek()
        if tok[0] == PUNCT and tok[1] in _COMPARATORS:
            self.next()
            op = "<>" if tok[1] == "!=" else tok[1]
            return Binary(op, left, self.additive(), self.pos(tok))
        negated = False
        if self.at_keyword("not") and self.peek(1)[0] == KEYWORD and self.peek(1)[1] in ("between", "in", "like"):
            self.next()
            negated = True
            tok = self.peek()
        if self.accept_keyword("between"):
            low = self.additive()
            self.expect_keyword("and")
            high = self.additive()
            return Between(left, low, high, negated, self.pos(tok))
        if self.accept_keyword("in"):
            return InList(left, self.additive(), negated, self.pos(tok))
        if self.at_keyword("like"):
            raise ValidationException("Unsupported operator in Condition Expression. Operator: LIKE")
        if self.accept_keyword("is"):
            negated = self.accept_keyword("not")
            name = self.peek()
            if name[0] not in (KEYWORD, IDENT):
                raise self.unexpected()
            self.next()
            type_name = _IS_TYPES.get(name[1].lower())
            if type_name is None:
                raise ValidationException(
                    f"Unsupported data type for IS operator: {name[1].upper()}. Supported data types are "
                    "[MISSING, NULL, BOOLEAN, BLOB, STRING, NUMERIC, STRUCT, TUPLE, LIST]"
                )
            return Is(left, type_name, negated, self.pos(tok))
        return left

    def additive(self):
        left = self.unary()
        while self.at_punct("+", "-", "||", "*", "/", "%"):
            tok = self.next()
            left = Binary(tok[1], left, self.unary(), self.pos(tok))
        return left

    def unary(self):
        if self.at_punct("-", "+"):
            tok = self.next()
            operand = self.unary()
            if tok[1] == "+":
                return operand
            if type(operand) is Lit and operand.number is not None:
                text = operand.number[1:] if operand.number.startswith("-") else "-" + operand.number
                return Lit(None, self.pos(tok), number=text)
            return Unary("-", operand, self.pos(tok))
        return self.primary()

    def primary(self):
        tok = self.peek()
        kind, value = tok[0], tok[1]
        pos = self.pos(tok)
        if kind == STRING:
            self.next()
            return Lit({"S": value}, pos)
        if kind == NUMBER:
            self.next()
            return Lit(None, pos, number=value)
        if kind == QMARK:
            self.next()
            self.params += 1
            return Param(self.params - 1, pos)
        if kind == PUNCT:
            if value == "(":
                self.next()
                first = self.expr()
                if self.accept_punct(","):
                    items = [first]
                    while True:
                        items.append(self.expr())
                        if not self.accept_punct(","):
                            break
                    self.expect_punct(")")
                    return ListExpr(items, pos)
                self.expect_punct(")")
                return first
            if value == "[":
                self.next()
                return ListExpr(self.items("]"), pos)
            if value == "<<":
                self.next()
                return BagExpr(self.items(">>"), pos)
            if value == "{":
                self.next()
                fields = []
                if not self.accept_punct("}"):
                    while True:
                        key = self.expr()
                        self.expect_punct(":")
                        fields.append((key, self.expr()))
                        if not self.accept_punct(","):
                            break
                    self.expect_punct("}")
                return StructExpr(fields, pos)
            raise self.unexpected()
        if kind == KEYWORD:
            if value == "true" or value == "false":
                self.next()
                return Lit({"BOOL": value == "true"}, pos)
            if value == "null":
                self.next()
                return Lit({"NULL": True}, pos)
            if value == "missing":
                self.next()
                return Lit(MISSING, pos)
            if self.peek(1)[0] == PUNCT and self.peek(1)[1] == "(":
                return self.call()
            raise self.unexpected()
        if kind == IDENT and self.peek(1)[0] == PUNCT and self.peek(1)[1] == "(":
            return self.call()
        if kind in (IDENT, QIDENT):
            return self.path()
        raise self.unexpected()

    def items(self, closing):
        out = []
        if self.accept_punct(closing):
            return out
        while True:
            out.append(self.expr())
            if not self.accept_punct(","):
                break
        self.expect_punct(closing)
        return out

    def call(self):
        tok = self.next()
        self.next()  # "("
        args = []
        if self.at_punct("*"):
            raise ValidationException(
                f"Unexpected path component at {tok[2]}:{tok[3]}:{tok[4]}"
            )
        if not self.accept_punct(")"):
            while True:
                args.append(self.expr())
                if not self.accept_punct(","):
                    break
            self.expect_punct(")")
        return Call(tok[1].lower(), args, self.pos(tok))

    def path(self):
        tok = self.next()
        pos = self.pos(tok)
        elements = [tok[1]]
        label = tok[1]
        while True:
            if self.at_punct("."):
                self.next()
                part = self.peek()
                if part[0] in (IDENT, QIDENT):
                    self.next()
                    elements.append(part[1])
                    label = part[1]
                elif part[0] == KEYWORD:
                    raise _Syntax("Invalid path dot component")
                elif part[0] == PUNCT and part[1] == "*":
                    raise ValidationException("Unpivot path component like a.*.b are not supported")
                else:
                    raise self.unexpected()
            elif self.at_punct("["):
                self.next()
                part = self.peek()
                if part[0] == NUMBER and part[1].isdigit():
                    self.next()
                    elements.append(int(part[1]))
                    label += f"[{part[1]}]"
                elif part[0] == STRING:
                    self.next()
                    elements.append(part[1])
                    label = part[1]
                elif part[0] == PUNCT and part[1] == "*":
                    raise ValidationException("Wildcard path component like a[*].b are not supported")
                elif part[0] == PUNCT and part[1] == "-" and self.peek(1)[0] == NUMBER:
                    raise ValidationException(f"List index is not within the allowable range; index: [-{self.peek(1)[1]}]")
                else:
                    raise self.unexpected()
                self.expect_punct("]")
            else:
                break
        return PathRef(tuple(elements), label, pos)


def stmt_index_check(index):
    if index is not None:
        raise ValidationException("FROM clause may only contain a single table name in data manipulation statements")


def _source_text(tok):
    return tok[1] if tok[0] != STRING else f"'{tok[1]}'"


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse(text):
    try:
        parser = _Parser(text)
        stmt = parser.statement()
    except LexError:
        raise not_well_formed() from None
    except _Syntax as e:
        raise not_well_formed(e.detail) from None
    return stmt, parser.params


def parse(text):
    """(statement, number of ``?`` parameters) for a statement text; raises
    ValidationException with DynamoDB's message."""
    if not text.strip():
        raise not_well_formed("Unexpected term")
    return _parse(text)
