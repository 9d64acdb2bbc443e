"""Print an AST back as query text.

The API echoes normalised queries with it and tests use it to state that the parser and the
printer agree: ``parse(to_text(node)) == node`` for every node :func:`~azul_metastore.query.parse`
can return. The printer writes explicit ``AND``/``OR``/``DOCAND``/``NOT``, quotes keys only when they
are not bare words, and adds parentheses only where precedence or structure needs them.
"""

from __future__ import annotations

from azul_metastore.query import _lexical
from azul_metastore.query.ast import And, DocAnd, Match, Node, Not, Or, Range, Term

__all__ = ["to_text"]

_LEVEL: dict[type, int] = {Or: 1, And: 2, DocAnd: 3}
_JOIN: dict[type, str] = {Or: " OR ", And: " AND ", DocAnd: " DOCAND "}


def to_text(node: Node) -> str:
    """Query text that parses back to ``node``.

    A node the parser cannot produce is printed as closely as the language allows: an unquoted string
    that would not read back as itself (``"a b"``, ``"and"``, ``"123"`` as a string) is written in
    single quotes, which have the same (case-insensitive) meaning.

    Raises:
        ValueError: a float that is infinite or NaN.
    """
    match node:
        case Or() | And() | DocAnd():
            level = _LEVEL[type(node)]
            return _JOIN[type(node)].join(_child(child, level) for child in node.children)
        case Not(child=child):
            return "NOT " + _child(child, max(_LEVEL.values()))
        case Term(value=value, quoting=quoting, is_prefix=is_prefix):
            text = value + "*" if is_prefix else value
            if quoting == "none" and _is_bare_word(text):
                return text
            return _lexical.quote(text, '"' if quoting == "double" else "'")
        case Match():
            return _match(node)
        case Range(key=key, low=low, high=high, low_inclusive=low_inclusive, high_inclusive=high_inclusive):
            opening, closing = "[" if low_inclusive else "(", "]" if high_inclusive else ")"
            return f"{_key(key)}:{opening}{low} TO {high}{closing}"
    raise TypeError(f"not a query node: {node!r}")


def _child(child: Node, level: int) -> str:
    text = to_text(child)
    child_level = _LEVEL.get(type(child))
    # Same level needs parentheses too: the parser flattens a chain, so only brackets keep a nested
    # node of the same operator apart (and that nesting changes cross-document meaning).
    return f"({text})" if child_level is not None and child_level <= level else text


def _match(node: Match) -> str:
    key = _key(node.key)
    if node.exists:
        return f"{key}:"
    value = node.value
    assert value is not None  # Match guarantees a value unless exists
    if not isinstance(value, str):
        return f"{key}{node.op}{_lexical.format_number(value)}"
    text = value + "*" if node.is_prefix else value
    if node.quoting == "none" and _lexical.BARE_VALUE.fullmatch(text) and _lexical.number(text, exact=True) is None:
        return f"{key}{node.op}{text}"
    quoted = _lexical.quote(text, '"' if node.quoting == "double" else "'")
    return f"{key}{node.op}{quoted}"


def _key(key: str) -> str:
    return key if _is_bare_word(key) else _lexical.quote(key, '"')


def _is_bare_word(text: str) -> bool:
    return bool(_lexical.BARE_WORD.fullmatch(text)) and text.lower() not in _lexical.KEYWORDS
