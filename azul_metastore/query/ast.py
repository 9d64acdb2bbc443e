"""The parsed form of a search query: small immutable nodes that index adapters compile.

A compiler is a recursive visitor over seven node types::

    Term      bare (global) term          "pe32", 'x', "executable/windows/pe32", abc*
    Match     one field clause            key:v  key:"V"  key:v*  key:=v  key:>10kb  key:
    Range     numeric range on a field    key:[1 TO 2]  key:(1 TO 2]
    And       cross-document AND          a b, a AND b          (only at the root; see below)
    DocAnd    same-document AND           a DOCAND b
    Or        same-document OR            a OR b
    Not       same-document negation      NOT a, !a

**Cross-document semantics** (inventory §6.1, pitfall 19). A query runs over the documents (plugin
results) of each binary. When the *root* node is an ``And``, each of its children may be satisfied by
a different document of the same binary (feature from plugin A AND feature from plugin B). Every other
root (``DocAnd``, ``Or``, ``Not``, a single clause) and every node *below* the root child level is
evaluated on one document: a parenthesised ``(a AND b)`` inside the root ``And`` is one clause whose
two conditions hold on the same document. ``Not`` means "some document has every key the negated
expression references and does not match it" (use :func:`keys`), not "the binary lacks it".

Value semantics the compilers follow (inventory §6.1, pitfalls 20-21):

* ``Match(op=":")``: ``quoting == "double"`` is case-sensitive; ``"single"``/``"none"`` are
  case-insensitive; ``is_prefix`` (a trailing ``*`` was typed, and removed from ``value``) makes it a
  prefix match with the same case rule; an ``int``/``float`` value is a plain numeric equality.
* ``Match(op=":=")``: exact and case-sensitive; a trailing ``*`` is literal, never a prefix.
* ``Match(op in ":>", ":<", ":>=", ":<=")``: ``value`` is always a number (size suffixes applied).
* ``Match(exists=True)``: ``key:`` alone; the field exists. ``value`` is ``None``.
* ``Range``: integer bounds (size suffixes applied, then truncated toward zero).
* ``Term``: value is always a string (global search is over keyword fields); ``is_prefix`` as above.
* The keys in :data:`MAGIC_KEYS` are not index fields: they name tag look-ups and only ever appear in
  a ``Match`` with ``op`` ``:`` or ``:=``, no prefix, and a string or number.

Nodes validate their invariants on construction (``ValueError``), so a compiler can trust them and
so that :func:`~azul_metastore.query.printer.to_text` can always print something that parses back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Quoting: TypeAlias = Literal["double", "single", "none"]
Op: TypeAlias = Literal[":", ":=", ":>", ":<", ":>=", ":<="]
Value: TypeAlias = str | int | float

QUOTINGS: frozenset[str] = frozenset({"double", "single", "none"})
OPS: frozenset[str] = frozenset({":", ":=", ":>", ":<", ":>=", ":<="})
COMPARISON_OPS: frozenset[str] = frozenset({":>", ":<", ":>=", ":<="})
MAGIC_KEYS: frozenset[str] = frozenset({"binary.tag", "feature.tag"})


@dataclass(frozen=True, slots=True)
class Term:
    """A bare term searched globally (hashes, file format, magic, mime)."""

    value: str
    quoting: Quoting = "none"
    is_prefix: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise ValueError("a global term's value is a string")
        _check_quoting(self.quoting)
        if not self.is_prefix and (self.value == "" or self.value.endswith("*")):
            raise ValueError("a global term is not empty and ends in '*' only as a prefix")


@dataclass(frozen=True, slots=True)
class Match:
    """One field clause: ``key`` ``op`` ``value``, or ``key:`` alone when ``exists``."""

    key: str
    op: Op = ":"
    value: Value | None = None
    quoting: Quoting = "none"
    is_prefix: bool = False
    exists: bool = False

    def __post_init__(self) -> None:
        _check_key(self.key)
        _check_quoting(self.quoting)
        if self.op not in OPS:
            raise ValueError(f"unknown operator {self.op!r}")
        if self.key in MAGIC_KEYS and (self.op not in (":", ":=") or self.is_prefix or self.exists):
            raise ValueError(f"{self.key} takes ':' or ':=' with a tag, without wildcards")
        if self.exists:
            if (self.op, self.value, self.quoting, self.is_prefix) != (":", None, "none", False):
                raise ValueError("an exists clause has op ':' and no value, quoting or prefix")
            return
        if self.value is None or isinstance(self.value, bool):
            raise ValueError("a match needs a str, int or float value (or exists=True)")
        if isinstance(self.value, float) and self.value != self.value:
            raise ValueError("NaN is not a value")
        if self.op in COMPARISON_OPS and (
            not isinstance(self.value, int | float) or self.quoting != "none" or self.is_prefix
        ):
            raise ValueError(f"{self.op!r} takes an unquoted number")
        if not isinstance(self.value, str) and (self.quoting != "none" or self.is_prefix):
            raise ValueError("quoted and prefix values are strings")
        if self.op == ":=" and self.is_prefix:
            raise ValueError("':=' is exact; it has no prefix form")
        if self.op == ":" and isinstance(self.value, str) and not self.is_prefix and self.value.endswith("*"):
            raise ValueError("a ':' value ending in '*' is a prefix (is_prefix=True, '*' removed)")

    @property
    def case_sensitive(self) -> bool:
        """Whether a string comparison must respect case (double quotes, or the exact operator)."""
        return self.quoting == "double" or self.op == ":="


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric range; each bound is inclusive (``[``/``]``) or exclusive (``(``/``)``)."""

    key: str
    low: int
    high: int
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __post_init__(self) -> None:
        _check_key(self.key)
        if self.key in MAGIC_KEYS:
            raise ValueError(f"{self.key} cannot take a range")
        for bound in (self.low, self.high):
            if not isinstance(bound, int) or isinstance(bound, bool):
                raise ValueError("range bounds are integers")


@dataclass(frozen=True, slots=True)
class _Group:
    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.children, tuple) or len(self.children) < 2:
            raise ValueError(f"{type(self).__name__} needs a tuple of at least two children")


@dataclass(frozen=True, slots=True)
class And(_Group):
    """AND; at the root, each child may match a different document of the binary."""


@dataclass(frozen=True, slots=True)
class DocAnd(_Group):
    """AND where every child must match the same document."""


@dataclass(frozen=True, slots=True)
class Or(_Group):
    """OR, evaluated on one document."""


@dataclass(frozen=True, slots=True)
class Not:
    """Negation of the next single expression, evaluated on one document."""

    child: Node


Node: TypeAlias = Term | Match | Range | And | DocAnd | Or | Not


def keys(node: Node) -> set[str]:
    """Every field key the expression references, magic keys included.

    Compilers need it for ``Not`` (the negated expression applies to documents that have these
    fields) and the API needs it to report keys that are not in the index mapping.
    """
    match node:
        case Match(key=key) | Range(key=key):
            return {key}
        case Term():
            return set()
        case Not(child=child):
            return keys(child)
        case _:
            found: set[str] = set()
            for child in node.children:
                found |= keys(child)
            return found


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("a key is a non-empty string")


def _check_quoting(quoting: str) -> None:
    if quoting not in QUOTINGS:
        raise ValueError(f"quoting is one of {sorted(QUOTINGS)}, not {quoting!r}")
