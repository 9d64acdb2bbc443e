"""The search query language: grammar, parser, AST, printer and autocomplete; no I/O.

``parse(text)`` turns a query into a tree of :mod:`~azul_metastore.query.ast` nodes (or ``None`` for
an empty query), which each index adapter compiles with a recursive visitor, following the
cross-document rules in the ``ast`` module docstring. ``parser`` documents the syntax and operator
precedence, ``autocomplete`` the answers the search box gets.
"""

from azul_metastore.query.ast import MAGIC_KEYS, And, DocAnd, Match, Node, Not, Or, Range, Term, keys
from azul_metastore.query.autocomplete import AutocompleteContext, autocomplete
from azul_metastore.query.parser import parse
from azul_metastore.query.printer import to_text

__all__ = [
    "MAGIC_KEYS",
    "And",
    "AutocompleteContext",
    "DocAnd",
    "Match",
    "Node",
    "Not",
    "Or",
    "Range",
    "Term",
    "autocomplete",
    "keys",
    "parse",
    "to_text",
]
