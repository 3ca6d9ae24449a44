"""The expression lexer, and the ``near:`` window of DynamoDB's syntax errors.

Every expression grammar (condition, filter, key condition, projection,
update) shares one token set, as DynamoDB's parser does:

  NAME    [A-Za-z][A-Za-z0-9_]*   attribute names, keywords, function names
  HASH    #[A-Za-z0-9_]+          ExpressionAttributeNames placeholder
  COLON   :[A-Za-z0-9_]+          ExpressionAttributeValues placeholder
  NUMBER  [0-9]+                  only meaningful as a list index
  punctuation  ( ) [ ] , . = <> < <= > >= + -
  WS      runs of blanks, kept so that error messages can quote them
  ERROR   any other single character (``_``, ``!``, a lone ``#``...)

The lexer never fails: a character it does not know becomes an ERROR token
and the parser reports it as DynamoDB does, ``Syntax error; token: "_",
near: "SET _123"``.  The ``near`` text is the offending token with its
neighbours: the previous significant token (and the blanks between), the
token itself, and the next significant token (and the blanks between);
``<EOF>`` is named as the token but contributes nothing to ``near``.
Observed DynamoDB answers this reproduces: ``a = = b`` -> token "=", near
"= = b"; ``SET a = b + 1`` -> token "1", near "+ 1"; ``foo`` as a whole
condition -> token "<EOF>", near "foo".
"""

import re

__all__ = ["tokenize", "near", "EOF", "WS", "NAME", "HASH", "COLON", "NUMBER", "ERROR"]

NAME = "NAME"
HASH = "HASH"
COLON = "COLON"
NUMBER = "NUMBER"
WS = "WS"
ERROR = "ERROR"
EOF = "EOF"

_TOKEN = re.compile(
    r"(?P<WS>[ \t\r\n]+)"
    r"|(?P<NAME>[A-Za-z][A-Za-z0-9_]*)"
    r"|(?P<HASH>#[A-Za-z0-9_]+)"
    r"|(?P<COLON>:[A-Za-z0-9_]+)"
    r"|(?P<NUMBER>[0-9]+)"
    r"|(?P<PUNCT><>|<=|>=|[()\[\],.=<>+\-])"
)


def tokenize(text):
    """Split ``text`` into a list of ``(kind, text)`` pairs ending with EOF.

    Punctuation tokens use their own text as kind (``"("``, ``"<="``...).
    """
    tokens = []
    pos = 0
    end = len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            tokens.append((ERROR, text[pos]))
            pos += 1
            continue
        kind = m.lastgroup
        value = m.group()
        tokens.append((value if kind == "PUNCT" else kind, value))
        pos = m.end()
    tokens.append((EOF, ""))
    return tokens


def near(tokens, i):
    """The ``near:`` text DynamoDB quotes for a syntax error at token ``i``."""
    parts = []
    if i >= 1:
        if tokens[i - 1][0] == WS:
            if i >= 2:
                parts.append(tokens[i - 2][1])
            parts.append(tokens[i - 1][1])
        else:
            parts.append(tokens[i - 1][1])
    parts.append(tokens[i][1])
    last = len(tokens) - 1  # the EOF sentinel
    if i + 1 < last:
        parts.append(tokens[i + 1][1])
        if tokens[i + 1][0] == WS and i + 2 < last:
            parts.append(tokens[i + 2][1])
    return "".join(parts)


def token_text(tokens, i):
    """The ``token:`` text of a syntax error at token ``i``."""
    kind, value = tokens[i]
    return "<EOF>" if kind == EOF else value
