"""Tell a search box what the caret is on, so it can suggest field names or values (inventory §6.2).

The answer is a plain dict shaped like azul-bedrock's ``AutocompleteContext``, a union discriminated
on ``type`` that azul-client validates strictly, so the field names below are exact::

    {"type": "Initial"}                                        empty query
    {"type": "None"}                                           caret on nothing completable
    {"type": "FieldName", "prefix", "prefix_type", "has_value"}  caret on a key or a bare term
    {"type": "FieldValue", "key", "prefix", "prefix_type"}       caret on an operator or a value
    {"type": "Error", "column", "message"}                     the query does not parse

``prefix_type`` is ``"case-sensitive"`` (double quotes, or ``:=``), ``"case-insensitive"``,
``"numeric"`` (comparison operators and unquoted numbers), ``"range"`` (prefix written
``"a (inclusive) to b (exclusive)"``) or ``"empty"`` (caret on the operator; the prefix then explains
the operator). A prefix is the whole token under the caret, unquoted, so the answer does not depend
on where inside the token the caret is.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, TypeAlias, TypedDict

from lark import Token, Tree

from azul_metastore.errors import InvalidQuery
from azul_metastore.query import _lexical
from azul_metastore.query.ast import COMPARISON_OPS
from azul_metastore.query.parser import decode, parse_tree

__all__ = ["AutocompleteContext", "autocomplete"]

PrefixType: TypeAlias = Literal["empty", "case-sensitive", "case-insensitive", "numeric", "range"]


class AutocompleteInitial(TypedDict):
    type: Literal["Initial"]


class AutocompleteNone(TypedDict):
    type: Literal["None"]


class AutocompleteFieldName(TypedDict):
    type: Literal["FieldName"]
    prefix: str
    prefix_type: PrefixType
    has_value: bool


class AutocompleteFieldValue(TypedDict):
    type: Literal["FieldValue"]
    key: str | None
    prefix: str
    prefix_type: PrefixType


class AutocompleteError(TypedDict):
    type: Literal["Error"]
    column: int
    message: str


AutocompleteContext: TypeAlias = (
    AutocompleteInitial | AutocompleteNone | AutocompleteFieldName | AutocompleteFieldValue | AutocompleteError
)

_EXPLAIN = {
    ":": "equals",
    ":=": "exactly equals",
    ":>": "greater than",
    ":<": "less than",
    ":>=": "greater than or equal to",
    ":<=": "less than or equal to",
}


class _Spot(NamedTuple):
    start: int
    end: int
    context: AutocompleteContext


def autocomplete(text: str, offset: int) -> AutocompleteContext:
    """What the caret at ``offset`` in ``text`` is on.

    ``offset`` is a caret index (0 = before the first character). A caret touching either end of a
    token counts as on it, so azul-client's convention (``len(term) - 1``, the index of the last
    character typed; ``-1`` for an empty term) lands on the same token as the caret after it.
    Offsets outside the text are clamped to it.
    """
    if not text.strip():
        return {"type": "Initial"}
    try:
        tree = parse_tree(text)
        spots = _spots(tree) if isinstance(tree, Tree) else []
    except InvalidQuery as error:
        return {"type": "Error", "column": error.column or 1, "message": error.message}
    caret = max(0, min(offset, len(text)))
    for spot in spots:
        if spot.start <= caret < spot.end:
            return spot.context
    for spot in spots:
        if spot.end == caret:
            return spot.context
    return {"type": "None"}


def _spots(tree: Tree) -> list[_Spot]:
    spots: list[_Spot] = []
    for node in tree.iter_subtrees():
        children = node.children
        if node.data == "term":
            spots.append(_field_name(_tok(children[0]), has_value=False))
            continue
        if node.data not in ("match", "exists", "range"):
            continue
        key_token = _tok(_tree(children[0]).children[0])
        key, _ = decode(key_token)
        spots.append(_field_name(key_token, has_value=node.data != "exists"))
        op = _tok(children[1])
        if node.data == "range":
            low, high, closing = (_tok(child) for child in children[3:6])
            low_kind = "inclusive" if children[2] == "[" else "exclusive"
            high_kind = "inclusive" if closing == "]" else "exclusive"
            prefix = f"{low} ({low_kind}) to {high} ({high_kind})"
            spots.append(_Spot(_start(op), _end(closing), _value(key, prefix, "range")))
            continue
        spots.append(_Spot(_start(op), _end(op), _value(key, _EXPLAIN[":" if node.data == "exists" else op], "empty")))
        if node.data == "match":
            value_token = _tok(_tree(children[2]).children[0])
            spots.append(_Spot(_start(value_token), _end(value_token), _field_value(key, str(op), value_token)))
    return spots


def _field_name(token: Token, has_value: bool) -> _Spot:
    prefix, _ = decode(token)
    context: AutocompleteFieldName = {
        "type": "FieldName",
        "prefix": prefix,
        "prefix_type": "case-insensitive",
        "has_value": has_value,
    }
    return _Spot(_start(token), _end(token), context)


def _field_value(key: str, op: str, token: Token) -> AutocompleteFieldValue:
    prefix, quoting = decode(token)
    prefix_type: PrefixType
    if op in COMPARISON_OPS or (quoting == "none" and _lexical.number(prefix) is not None):
        prefix_type = "numeric"
    elif quoting == "double" or op == ":=":
        prefix_type = "case-sensitive"
    else:
        prefix_type = "case-insensitive"
    return _value(key, prefix, prefix_type)


def _value(key: str, prefix: str, prefix_type: PrefixType) -> AutocompleteFieldValue:
    return {"type": "FieldValue", "key": key, "prefix": prefix, "prefix_type": prefix_type}


def _start(token: Token) -> int:
    assert token.start_pos is not None
    return token.start_pos


def _end(token: Token) -> int:
    assert token.end_pos is not None
    return token.end_pos


def _tok(node: Tree | Token) -> Token:
    assert isinstance(node, Token), node
    return node


def _tree(node: Tree | Token) -> Tree:
    assert isinstance(node, Tree), node
    return node
