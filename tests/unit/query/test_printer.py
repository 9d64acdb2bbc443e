"""to_text: the printer and the parser agree, on chosen queries and on random ASTs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azul_metastore.errors import InvalidQuery
from azul_metastore.query import MAGIC_KEYS, And, DocAnd, Match, Node, Not, Or, Range, Term, parse, to_text
from azul_metastore.query._lexical import BARE_VALUE, BARE_WORD, KEYWORDS, format_number, number

from .test_parser import VALID

CANONICAL = [
    ("a b c", "a AND b AND c"),
    ("a OR b c", "a OR b AND c"),
    ("(a OR b) c", "(a OR b) AND c"),
    ("a DOCAND b OR c", "a DOCAND b OR c"),
    ("a AND (b AND c)", "a AND (b AND c)"),
    ("a DOCAND (b DOCAND c)", "a DOCAND (b DOCAND c)"),
    ("NOT (a b)", "NOT (a AND b)"),
    ("!!a", "NOT NOT a"),
    ("not a:1", "NOT a:1"),
    ("key:", "key:"),
    ("key: OR b", "key: OR b"),
    ("(key:) b", "key: AND b"),
    ("size:[1kb TO 2mb)", "size:[1000 TO 2000000)"),
    ("size:>=2KiB", "size:>=2048"),
    ("a:00123", "a:123"),
    ("a:12.50", "a:12.5"),
    ("'my key':v", '"my key":v'),
    ("or:1", '"or":1'),
    ("author.name:test*", "author.name:test*"),
    ("x:'it\\'s'", "x:'it\\'s'"),
    ('x:"a\\nb\\t"', 'x:"a\\nb\\t"'),
    ("executable/windows/pe32", "executable/windows/pe32"),
    ('"executable/windows/pe32"', '"executable/windows/pe32"'),
    ("url:http://x/y", "url:http://x/y"),
]


@pytest.mark.parametrize(("text", "printed"), CANONICAL)
def test_printer_writes_canonical_text(text: str, printed: str) -> None:
    node = parse(text)
    assert node is not None
    assert to_text(node) == printed


@pytest.mark.parametrize("text", [text for text, _ in VALID])
def test_every_parser_table_entry_round_trips(text: str) -> None:
    node = parse(text)
    assert node is not None
    assert parse(to_text(node)) == node


@pytest.mark.parametrize(
    ("node", "printed"),
    [
        (Term("and"), "'and'"),
        (Term("a b"), "'a b'"),
        (Match("k", ":", "12"), "k:'12'"),
        (Match("k", ":", "a b"), "k:'a b'"),
        (Match("k", ":", 1e20), "k:100000000000000000000.0"),
        (Match("k", ":>", 1e-7), "k:>0.0000001"),
    ],
)
def test_printer_falls_back_to_equivalent_text(node: Node, printed: str) -> None:
    assert to_text(node) == printed


def test_printer_rejects_infinite_numbers() -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        to_text(Match("k", ":>", float("inf")))


def test_format_number_reads_back_as_the_same_type() -> None:
    # integers the indices can hold (64 bits): a longer one reads back clamped to them
    for value in (0, -3, 1234567890123456789, -(2**63), 0.5, -2.25, 1e300, 5e-324, -0.0):
        assert number(format_number(value)) == value
        assert type(number(format_number(value))) is type(value)


# --- property: random ASTs print and parse back to themselves --------------------------------------

_chars = st.characters(codec="utf-8")
_bare_words = st.from_regex(BARE_WORD, fullmatch=True).filter(lambda word: word.lower() not in KEYWORDS)
_bare_values = st.from_regex(BARE_VALUE, fullmatch=True, alphabet=_chars).filter(lambda v: number(v) is None)
_texts = st.text(alphabet=_chars, max_size=12)
_keys = st.one_of(_bare_words, st.text(alphabet=_chars, min_size=1, max_size=12)).filter(
    lambda key: key not in MAGIC_KEYS
)
_quoted = st.sampled_from(["double", "single"])
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # a query's integers are clamped to them
_numbers = st.one_of(_int64, st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def _prefixable(draw: st.DrawFn, text: str) -> tuple[str, bool]:
    """A value as the parser would leave it: a trailing '*' always means prefix and is removed."""
    if text.endswith("*"):
        return text[:-1], True
    return text, draw(st.booleans())


@st.composite
def _terms(draw: st.DrawFn) -> Term:
    if draw(st.booleans()):
        value, is_prefix = draw(_prefixable(draw(_bare_words)))
        return Term(value, "none", is_prefix)
    value, is_prefix = draw(_prefixable(draw(_texts)))
    return Term(value, draw(_quoted), is_prefix or value == "")


@st.composite
def _matches(draw: st.DrawFn) -> Match:
    key = draw(_keys)
    kind = draw(st.sampled_from(["colon", "exact", "number", "exists", "magic"]))
    quoting = draw(st.sampled_from(["none", "double", "single"]))
    text = draw(_bare_values if quoting == "none" else _texts)
    if kind == "colon":
        value, is_prefix = draw(_prefixable(text))
        if value == "" and not is_prefix and quoting == "none":
            is_prefix = True
        return Match(key, ":", value, quoting, is_prefix)  # type: ignore[arg-type]
    if kind == "exact":
        return Match(key, ":=", text, quoting)  # type: ignore[arg-type]
    if kind == "number":
        return Match(key, draw(st.sampled_from([":", ":=", ":>", ":<", ":>=", ":<="])), draw(_numbers))
    if kind == "exists":
        return Match(key, exists=True)
    magic = draw(st.sampled_from(sorted(MAGIC_KEYS)))
    value = draw(st.one_of(_numbers, _bare_values.filter(lambda v: not v.endswith("*"))))
    return Match(magic, draw(st.sampled_from([":", ":="])), value)


_ranges = st.builds(Range, _keys, _int64, _int64, st.booleans(), st.booleans())
_leaves = st.one_of(_terms(), _matches(), _ranges)


def _compound(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    groups = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(groups.map(And), groups.map(DocAnd), groups.map(Or), children.map(Not))


_nodes = st.recursive(_leaves, _compound, max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_nodes)
def test_random_ast_prints_and_parses_back_to_itself(node: Node) -> None:
    assert parse(to_text(node)) == node


# --- property: any text either parses (and then round-trips) or fails with InvalidQuery ------------

_fragments = st.sampled_from(
    [*"ab:=<>*\"'\\()[]{}!.-/ \t", "AND ", " or ", "NOT ", " TO ", " docand ", "kb", "1", "25", "n", "é"]
)
_query_texts = st.lists(_fragments, max_size=20).map("".join)


@settings(max_examples=1500, deadline=None)
@given(_query_texts)
def test_any_text_parses_and_round_trips_or_is_an_invalid_query(text: str) -> None:
    try:
        node = parse(text)
    except InvalidQuery as error:
        assert error.column is not None and 1 <= error.column <= len(text) + 1
        return
    if node is not None:
        assert parse(to_text(node)) == node
