"""The PartiQL lexer: statement text to tokens, each with its position.

DynamoDB's PartiQL is the SQL-92-derived PartiQL grammar:

  IDENT    [A-Za-z_$][A-Za-z0-9_$]*   bare name; a keyword when in KEYWORDS
  QIDENT   "..."                      quoted name ("" is a quote), never a keyword
  STRING   '...'                      string literal ('' is a quote)
  NUMBER   12  1.5  .5  1.  1e5  1.5E-3
  QMARK    ?                          a positional parameter
  punctuation  ( ) [ ] { } , . : ; * + - / % = <> != < <= > >= << >> ||
  comments     -- to end of line, /* ... */ (both are blanks)

A character the grammar has no token for (``#``, ``~``, an unterminated
string or comment), and a number whose exponent or scale does not fit a
32-bit integer (Java's BigDecimal would refuse it), are refused by DynamoDB
with the "wasn't well formed" envelope and nothing after its colon: the
lexer raises :class:`LexError` and the parser turns it into that message.

Each token is ``(kind, value, line, column, length)``; ``value`` is the
lower-cased word for a keyword, the unquoted text for names and strings,
the source text otherwise.  Line and column count characters from 1, as
DynamoDB's ``at <line>:<column>:<length>`` suffixes do.
"""

import re

__all__ = ["tokenize", "LexError", "KEYWORDS", "IDENT", "QIDENT", "KEYWORD", "STRING", "NUMBER", "QMARK",
           "PUNCT", "EOF"]

IDENT = "IDENT"
QIDENT = "QIDENT"
KEYWORD = "KEYWORD"
STRING = "STRING"
NUMBER = "NUMBER"
QMARK = "QMARK"
PUNCT = "PUNCT"
EOF = "EOF"

_INT32_MAX = 2 ** 31 - 1

# PartiQL's reserved words (SQL-92's and PartiQL's own).  A bare name that is
# one of these is a keyword, so an attribute with such a name must be quoted
# ("WHERE pad = 1" is a syntax error on DynamoDB, "WHERE \"pad\" = 1" runs).
# The date-part words (year, month, ...) are not reserved.
KEYWORDS = frozenset("""
absolute action add all allocate alter and any are as asc assertion at authorization avg
bag begin between bit bit_length blob bool boolean both by
can_cast can_lossless_cast cascade cascaded case cast catalog char char_length character
character_length check clob close coalesce collate collation column commit connect connection
conflict constraint constraints continue convert corresponding count create cross current
current_date current_time current_timestamp current_user cursor
date date_add date_diff deallocate dec decimal declare default deferrable deferred delete desc
describe descriptor diagnostics disconnect distinct do domain double drop
else end end-exec escape except exception exec execute exists external extract
false fetch first float for foreign found from full
get global go goto grant group having
identity immediate in index indicator initially inner input insensitive insert int integer
intersect interval into is isolation join key
language last leading left let level like limit list local lower
match max min missing modified module
names national natural nchar new next no not nothing null nullif numeric
octet_length of offset old on only open option or order outer output overlaps
pad partial pivot position precision prepare preserve primary prior privileges procedure public
read real references relative remove restrict returning revoke right rollback rows
schema scroll section select session session_user set sexp size smallint some space sql
sqlcode sqlerror sqlstate string struct substring sum symbol system_user
table temporary then time timestamp to trailing transaction translate translation trim true
tuple union unique unknown unpivot update upper usage user using
value values varchar varying view when whenever where with work write zone
""".split())

_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?")
_PUNCT = ("<<", ">>", "<=", ">=", "<>", "!=", "||",
          "(", ")", "[", "]", "{", "}", ",", ".", ":", ";", "*", "+", "-", "/", "%", "=", "<", ">")


class LexError(Exception):
    """A statement the lexer cannot read: DynamoDB reports no detail."""


def _number_fits(text, exponent):
    """Whether Java's BigDecimal would read this literal (exponent and scale in 32 bits)."""
    if exponent is None:
        return True
    if len(exponent.lstrip("+-")) > 12:
        return False
    exp = int(exponent)
    if not -_INT32_MAX - 1 <= exp <= _INT32_MAX:
        return False
    mantissa = text[: len(text) - len(exponent) - 1]
    fraction = mantissa.split(".", 1)[1] if "." in mantissa else ""
    return -_INT32_MAX - 1 <= len(fraction) - exp <= _INT32_MAX


def tokenize(text):
    """The tokens of ``text``, ending with an EOF token; raises LexError."""
    tokens = []
    pos = 0
    end = len(text)
    line, line_start = 1, 0

    def advance_lines(start, stop):
        nonlocal line, line_start
        i = text.find("\n", start, stop)
        while i != -1:
            line += 1
            line_start = i + 1
            i = text.find("\n", i + 1, stop)

    while pos < end:
        c = text[pos]
        m = _SPACE.match(text, pos)
        if m is not None:
            advance_lines(pos, m.end())
            pos = m.end()
            continue
        if text.startswith("--", pos):
            stop = text.find("\n", pos)
            pos = end if stop == -1 else stop
            continue
        if text.startswith("/*", pos):
            stop = text.find("*/", pos + 2)
            if stop == -1:
                raise LexError()
            advance_lines(pos, stop)
            pos = stop + 2
            continue
        column = pos - line_start + 1
        if c == "'" or c == '"':
            out = []
            i = pos + 1
            while True:
                j = text.find(c, i)
                if j == -1:
                    raise LexError()
                out.append(text[i:j])
                if text.startswith(c, j + 1):  # a doubled quote is one quote
                    out.append(c)
                    i = j + 2
                    continue
                break
            value = "".join(out)
            tokens.append((STRING if c == "'" else QIDENT, value, line, column, j + 1 - pos))
            advance_lines(pos, j + 1)
            pos = j + 1
            continue
        if c.isdigit() or (c == "." and pos + 1 < end and text[pos + 1].isdigit()):
            m = _NUMBER.match(text, pos)
            if not _number_fits(m.group(), m.group(1)):
                raise LexError()
            tokens.append((NUMBER, m.group(), line, column, m.end() - pos))
            pos = m.end()
            continue
        m = _NAME.match(text, pos)
        if m is not None:
            word = m.group()
            lower = word.lower()
            if lower in KEYWORDS:
                tokens.append((KEYWORD, lower, line, column, len(word)))
            else:
                tokens.append((IDENT, word, line, column, len(word)))
            pos = m.end()
            continue
        if c == "?":
            tokens.append((QMARK, "?", line, column, 1))
            pos += 1
            continue
        for p in _PUNCT:
            if text.startswith(p, pos):
                tokens.append((PUNCT, p, line, column, len(p)))
                pos += len(p)
                break
        else:
            raise LexError()
    tokens.append((EOF, "", line, end - line_start + 1, 0))
    return tokens
