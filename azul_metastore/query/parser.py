"""Parse a search query into the AST of :mod:`azul_metastore.query.ast`.

The language is the reference metastore's (inventory §6.1), with its defects fixed:

* **Bare terms**: ``foo``, ``'foo'``, ``"foo"``. Unquoted words start with ``[A-Za-z0-9_*?@#$]`` and
  continue with those, ``.``, ``-`` and ``/`` (so ``executable/windows/pe32`` needs no quotes).
  Words that merely *begin* with a keyword (``orange``, ``Android``, ``order:1``, ``notepad``) are
  ordinary words; the reference rejected them.
* **Field clauses**: ``key:v``, ``key:=v``, ``key:>n``, ``key:<n``, ``key:>=n``, ``key:<=n``,
  ``key:[a TO b]``, ``key:(a TO b)``, mixed ``key:(a TO b]`` (``TO``/``to``), and ``key:`` alone (the
  field exists). Keys may be quoted. After ``:`` the value must follow directly; ``key:`` followed by
  spaces is an *exists* test only before the end, ``)`` or AND/OR/DOCAND, so ``key: foo`` is rejected
  instead of silently meaning "key exists AND foo". The comparison operators allow spaces before the
  number. An unquoted value may contain ``:`` and ``/`` (``url:http://x/y``) because nothing else can
  appear there.
* **Values**: an unquoted value that is an integer or decimal (``-12``, ``00123``, ``12.5``; no
  exponents) becomes an ``int``/``float``; anything else (``1234abcd``, ``1e5``) stays a string. A
  trailing ``*`` on a ``:`` value or bare term makes a prefix match (quoted or not); other wildcards
  are literal. Comparison operators and range bounds take numbers with an optional size suffix
  (``b kb kib mb mib gb gib tb tib``, any case; ``kb`` = 1000, ``kib`` = 1024); range bounds are then
  truncated to integers. Quoted strings know the escapes ``\\n \\r \\t \\\\ \\" \\'`` and no others.
* **Magic keys** ``binary.tag`` and ``feature.tag`` take only ``:`` or ``:=`` with a tag (string or
  number), no wildcard.
* **Rejected**: an empty quoted term (``""``; a lone ``*`` is an empty *prefix* and allowed), an
  empty quoted key, ``-foo`` (use ``NOT``/``!``), ``{a TO b}``, ``key:>"100 kb"``, ranges without a key.

**Precedence**, tightest first (Lucene's convention of AND binding tighter than OR)::

    NOT x, !x       applies to the next single expression: NOT a b  ==  (NOT a) AND b
    DOCAND          a DOCAND b c   ==  (a DOCAND b) AND c
    AND, implicit   a b AND c      ==  one And of three children
    OR              a OR b c       ==  a OR (b AND c)

DOCAND binds tighter than AND because it exists to tie conditions to one document inside a
cross-document AND: ``a DOCAND b c`` asks for a document with both a and b, and c anywhere.
Keywords are case-insensitive (``AND``, ``and``, ``And``, ``DocAnd``...). A chain of one operator is
flattened into one node; parentheses are kept as structure, so ``a AND (b AND c)`` is an ``And``
whose second child is an ``And`` (evaluated on one document, see the cross-document rules in
:mod:`~azul_metastore.query.ast`).

An empty or all-whitespace query parses to ``None``: there is nothing to search, and the caller
decides whether that means "everything" (listing) or "nothing to do".
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import cast

import lark
from lark import Token, Tree

from azul_metastore.errors import InvalidQuery
from azul_metastore.query import _lexical
from azul_metastore.query.ast import (
    COMPARISON_OPS,
    MAGIC_KEYS,
    And,
    DocAnd,
    Match,
    Node,
    Not,
    Op,
    Or,
    Quoting,
    Range,
    Term,
)

__all__ = ["parse"]

_OPERATORS = "an operator (: := :> :< :>= :<=)"
# What each terminal means to a person reading an error; the order is the order messages list them in.
_EXPECTED = {
    "WORD": "a search term or field name",
    "VALUE": "a value",
    "DQ_STRING": "a quoted string",
    "SQ_STRING": "a quoted string",
    "LBRACK": "'['",
    "LPAR": "'('",
    "_NOT": "NOT",
    "EXISTS": _OPERATORS,
    "COLON": _OPERATORS,
    "CMP": _OPERATORS,
    "_TO": "TO",
    "RBRACK": "']'",
    "RPAR": "')'",
    "_AND": "AND",
    "_OR": "OR",
    "_DOCAND": "DOCAND",
    "$END": "the end of the query",
}
_SIZE_HINT = "optionally with a size suffix (b, kb, kib, mb, mib, gb, gib, tb, tib)"
#: terms one query may hold: a longer chain is more than either index compiles (SQLite's expression
#: depth, OpenSearch's clause count), and no analyst types it
MAX_TERMS = 500
#: groups and NOTs one query may nest: each level is a level of the compiled query (SQLite's parser
#: stack, OpenSearch's nested bool depth), and no analyst types more
MAX_DEPTH = 12


def parse(text: str) -> Node | None:
    """Parse a search query; ``None`` when it is empty or only whitespace.

    Raises:
        InvalidQuery: the query does not parse or breaks a rule above; ``column`` (1-based) points
            at the offending character and the message says what would have been accepted.
    """
    tree = parse_tree(text)
    if tree is None:
        return None
    try:
        node = _build(tree)
    except RecursionError:
        raise InvalidQuery("the query nests too deeply; remove some parentheses or NOTs", column=1) from None
    if (depth := _depth(node)) > MAX_DEPTH:
        raise InvalidQuery(f"the query nests {depth} levels of groups and NOTs; at most {MAX_DEPTH} are accepted",
                           column=1)
    if (count := _terms(node)) > MAX_TERMS:
        raise InvalidQuery(f"the query has {count} terms; at most {MAX_TERMS} are accepted (to find many"
                           " binaries by hash, give the hashes as hashes, not as a term)", column=1)
    return node


def _depth(node: Node) -> int:
    """How many levels of AND, OR, DOCAND and NOT a query nests."""
    if isinstance(node, (Term, Match, Range)):
        return 0
    if isinstance(node, Not):
        return 1 + _depth(node.child)
    return 1 + max(_depth(child) for child in node.children)


def _terms(node: Node) -> int:
    """How many terms (leaves) a query holds."""
    if isinstance(node, (Term, Match, Range)):
        return 1
    if isinstance(node, Not):
        return _terms(node.child)
    return sum(_terms(child) for child in node.children)


def parse_tree(text: str) -> Tree | Token | None:
    """The syntax tree (tokens carry positions) without semantic checks; autocomplete uses it."""
    if not text.strip():
        return None
    try:
        return _lark().parse(text)
    except lark.exceptions.UnexpectedCharacters as error:
        raise _character_error(text, error) from None
    except lark.exceptions.UnexpectedToken as error:
        raise _token_error(text, error) from None
    except lark.exceptions.UnexpectedEOF as error:
        column = len(text) + 1
        raise InvalidQuery(
            f"unexpected end of query at column {column}; expected {_describe(error.expected)}", column=column
        ) from None


@functools.cache
def _lark() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=False)


def _describe(names: set[str] | frozenset[str]) -> str:
    wanted = list(dict.fromkeys(_EXPECTED[name] for name in _EXPECTED if name in names))
    wanted += sorted({name for name in names if name not in _EXPECTED})
    if len(wanted) <= 1:
        return wanted[0] if wanted else "nothing more"
    return ", ".join(wanted[:-1]) + " or " + wanted[-1]


def _character_error(text: str, error: lark.exceptions.UnexpectedCharacters) -> InvalidQuery:
    pos = error.pos_in_stream
    column = pos + 1
    char = text[pos]
    if char in "\"'":
        return InvalidQuery(f"unterminated string starting at column {column}; close it with {char}", column=column)
    if char == ":":
        return InvalidQuery(
            f"':' at column {column} must be followed directly by a value (key:value); to test that a "
            "field exists, end the clause after ':' (key: or (key:))",
            column=column,
        )
    if char == "-":
        hint = "; use NOT or ! to negate"
    elif char == "{" and text[:pos].endswith(":"):
        hint = "; ranges are written [a TO b] or (a TO b)"
    else:
        hint = "; quote values that contain spaces or symbols"
    expected = _describe(error.allowed) if error.allowed else "a search term"
    return InvalidQuery(f"unexpected character {char!r} at column {column}; expected {expected}{hint}", column=column)


def _token_error(text: str, error: lark.exceptions.UnexpectedToken) -> InvalidQuery:
    expected = _describe(error.expected)
    if error.token.type == "$END":
        column = len(text) + 1
        return InvalidQuery(f"unexpected end of query at column {column}; expected {expected}", column=column)
    column = error.token.start_pos + 1
    found = str(error.token)
    if error.token.type == "RPAR" and "RPAR" not in error.expected and "$END" in error.expected:
        return InvalidQuery(f"unexpected ')' at column {column}; there is no '(' for it to close", column=column)
    hint = "; use NOT or ! to negate" if found.startswith("-") and "_NOT" in error.expected else ""
    return InvalidQuery(f"unexpected {found!r} at column {column}; expected {expected}{hint}", column=column)


def _build(tree: Tree | Token) -> Node:
    assert isinstance(tree, Tree), tree  # the grammar puts every token inside a rule
    children = tree.children
    match tree.data:
        case "or_expr":
            return Or(tuple(_build(child) for child in children))
        case "and_expr":
            return And(tuple(_build(child) for child in children))
        case "docand_expr":
            return DocAnd(tuple(_build(child) for child in children))
        case "not_expr":
            return Not(_build(children[0]))
        case "group":
            return _build(children[1])
        case "term":
            return _term(_token(children[0]))
        case "match":
            return _match(_key(children[0]), _token(children[1]), _token(_subtree(children[2]).children[0]))
        case "exists":
            return _exists(_key(children[0]))
        case "range":
            return _range(_key(children[0]), *(_token(child) for child in children[2:]))
    raise AssertionError(f"unknown rule {tree.data}")


def _subtree(node: Tree | Token) -> Tree:
    assert isinstance(node, Tree), node
    return node


def _token(node: Tree | Token) -> Token:
    assert isinstance(node, Token), node
    return node


def decode(token: Token) -> tuple[str, Quoting]:
    """A word, value or quoted token as (text, quoting); quoted text has its escapes decoded."""
    if token.type == "DQ_STRING":
        return _lexical.unquote(str(token), token.start_pos), "double"
    if token.type == "SQ_STRING":
        return _lexical.unquote(str(token), token.start_pos), "single"
    return str(token), "none"


def _key(node: Tree | Token) -> tuple[str, int]:
    token = _token(_subtree(node).children[0])
    key, _ = decode(token)
    column = token.start_pos + 1
    if not key:
        raise InvalidQuery(
            f"empty field name at column {column}; put the field's name inside the quotes", column=column
        )
    return key, column


def _term(token: Token) -> Term:
    text, quoting = decode(token)
    column = token.start_pos + 1
    if not text:
        raise InvalidQuery(
            f"empty search term at column {column}; put text inside the quotes or remove them", column=column
        )
    if text.endswith("*"):
        return Term(text[:-1], quoting, is_prefix=True)
    return Term(text, quoting)


def _match(key_at: tuple[str, int], op_token: Token, value_token: Token) -> Match:
    key, key_column = key_at
    op = str(op_token)
    text, quoting = decode(value_token)
    column = value_token.start_pos + 1
    if op in COMPARISON_OPS:
        number = _lexical.size(text) if quoting == "none" else None
        if number is None:
            found = "a quoted string" if quoting != "none" else repr(text)
            raise InvalidQuery(f"'{op}' needs a number at column {column}, {_SIZE_HINT}; found {found}", column=column)
        value: str | int | float = number
        is_prefix = False
    elif op == ":" and text.endswith("*"):
        value, is_prefix = text[:-1], True
    else:
        numeric = _lexical.number(text, exact=True) if quoting == "none" else None
        value, is_prefix = (text if numeric is None else numeric), False
    if key in MAGIC_KEYS and (op not in (":", ":=") or is_prefix):
        raise _magic_error(key, key_column)
    return Match(key, cast(Op, op), value, quoting, is_prefix)


def _exists(key_at: tuple[str, int]) -> Match:
    key, key_column = key_at
    if key in MAGIC_KEYS:
        raise _magic_error(key, key_column)
    return Match(key, exists=True)


def _range(key_at: tuple[str, int], opening: Token, low: Token, high: Token, closing: Token) -> Range:
    key, key_column = key_at
    if key in MAGIC_KEYS:
        raise _magic_error(key, key_column)
    bounds: list[int] = []
    for token in (low, high):
        number = _lexical.size(str(token))
        if number is None:
            column = token.start_pos + 1
            raise InvalidQuery(
                f"range bound {str(token)!r} at column {column} is not a number; bounds are numbers {_SIZE_HINT}",
                column=column,
            )
        bounds.append(_lexical.clamp(int(number)))
    return Range(key, bounds[0], bounds[1], opening == "[", closing == "]")


def _magic_error(key: str, column: int) -> InvalidQuery:
    return InvalidQuery(
        f"{key} at column {column} is a tag look-up: write {key}:<tag> or {key}:=<tag> with a tag name "
        "or number (no wildcard, range, comparison or empty value)",
        column=column,
    )
