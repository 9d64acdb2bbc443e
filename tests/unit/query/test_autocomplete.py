"""autocomplete: what the caret is on, in the exact shape azul-client validates (§6.2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from azul_metastore.query import autocomplete

# Field for field the models of azul-bedrock 13 (models_restapi/binaries_auto_complete.py), made
# strict and closed so that an extra or mistyped field fails here before it fails in azul-client.
PrefixType = Literal["empty", "case-sensitive", "case-insensitive", "numeric", "range"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _None(_Strict):
    type: Literal["None"]


class _Initial(_Strict):
    type: Literal["Initial"]


class _Error(_Strict):
    type: Literal["Error"]
    column: int
    message: str


class _FieldName(_Strict):
    type: Literal["FieldName"]
    prefix: str
    prefix_type: PrefixType
    has_value: bool


class _FieldValue(_Strict):
    type: Literal["FieldValue"]
    key: str | None
    prefix: str
    prefix_type: PrefixType


_CONTEXT: TypeAdapter[Any] = TypeAdapter(
    Annotated[_None | _Initial | _Error | _FieldName | _FieldValue, Field(discriminator="type")]
)


def name(prefix: str, has_value: bool) -> dict[str, object]:
    return {"type": "FieldName", "prefix": prefix, "prefix_type": "case-insensitive", "has_value": has_value}


def value(key: str, prefix: str, prefix_type: str) -> dict[str, object]:
    return {"type": "FieldValue", "key": key, "prefix": prefix, "prefix_type": prefix_type}


NONE = {"type": "None"}
INITIAL = {"type": "Initial"}

CASES: list[tuple[str, int, dict[str, object]]] = [
    ("", -1, INITIAL),  # azul-client sends len(term) - 1
    ("", 0, INITIAL),
    ("   ", 2, INITIAL),
    # typing a key or a bare term
    ("auth", 3, name("auth", False)),
    ("auth", 4, name("auth", False)),
    ("auth", 0, name("auth", False)),
    ("a OR auth", 8, name("auth", False)),
    ("'quoted term'", 5, name("quoted term", False)),
    ("author.name:x", 2, name("author.name", True)),
    ("author.name:", 5, name("author.name", False)),
    ('"my key":v', 1, name("my key", True)),
    ("size:[1 TO 2]", 0, name("size", True)),
    # on the operator
    ("author.name:", 11, value("author.name", "equals", "empty")),
    ("author.name:", 12, value("author.name", "equals", "empty")),
    ("(k:) x", 2, value("k", "equals", "empty")),
    ("size:>=5", 5, value("size", "greater than or equal to", "empty")),
    ("k:=v", 2, value("k", "exactly equals", "empty")),
    # on a value
    ("author.name:te", 13, value("author.name", "te", "case-insensitive")),
    ("author.name:te", 14, value("author.name", "te", "case-insensitive")),
    ("author.name:te*", 14, value("author.name", "te*", "case-insensitive")),
    ("k:'Te'", 4, value("k", "Te", "case-insensitive")),
    ('k:"Te"', 4, value("k", "Te", "case-sensitive")),
    ('k:"a\\"b"', 5, value("k", 'a"b', "case-sensitive")),
    ("k:=Te", 4, value("k", "Te", "case-sensitive")),
    ("k:12", 3, value("k", "12", "numeric")),
    ("k:12a", 3, value("k", "12a", "case-insensitive")),
    ("size:>10kb", 8, value("size", "10kb", "numeric")),
    ("binary.tag:ap", 12, value("binary.tag", "ap", "case-insensitive")),
    ("a b:c d", 4, value("b", "c", "case-insensitive")),
    # ranges
    ("size:[1 TO 2)", 10, value("size", "1 (inclusive) to 2 (exclusive)", "range")),
    ("size:(1kb to 2mb]", 4, value("size", "1kb (exclusive) to 2mb (inclusive)", "range")),
    ("size:(1kb to 2mb]", 17, value("size", "1kb (exclusive) to 2mb (inclusive)", "range")),
    # on nothing completable
    ("a OR b", 2, NONE),
    ("a  b", 2, NONE),
    ("(a)", 0, NONE),
    ("NOT a", 1, NONE),
]


@pytest.mark.parametrize(("text", "offset", "expected"), CASES)
def test_autocomplete_context(text: str, offset: int, expected: dict[str, object]) -> None:
    answer = autocomplete(text, offset)
    assert answer == expected
    _CONTEXT.validate_python(answer)


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ('k:"abc', 3, "unterminated string"),
        ("a AND", 6, "end of query"),
        ("k:[1 TO", 8, "end of query"),
        ('k:"\\q"', 4, "invalid escape"),
        ("k: v", 2, "followed directly"),
    ],
)
def test_autocomplete_reports_parse_errors(text: str, column: int, fragment: str) -> None:
    answer = autocomplete(text, len(text))
    _CONTEXT.validate_python(answer)
    assert answer["type"] == "Error"
    assert answer["column"] == column  # type: ignore[typeddict-item]
    assert fragment in answer["message"]  # type: ignore[typeddict-item]


def test_autocomplete_ignores_semantic_rules_so_values_can_be_suggested() -> None:
    # binary.tag: alone does not parse as a query, but the box must still offer tags for it
    assert autocomplete("binary.tag:", 11) == value("binary.tag", "equals", "empty")
    assert autocomplete("size:>ab", 7) == value("size", "ab", "numeric")


def test_autocomplete_clamps_offsets_outside_the_text() -> None:
    assert autocomplete("abc", 99) == name("abc", False)
    assert autocomplete("abc", -5) == name("abc", False)


_fragments = st.sampled_from([*'ab:=<>*"\\()[] .1', " TO ", " OR "])


@settings(max_examples=300, deadline=None)
@given(st.lists(_fragments, max_size=20).map("".join), st.data())
def test_autocomplete_always_answers_a_valid_context(text: str, data: st.DataObject) -> None:
    offset = data.draw(st.integers(min_value=-1, max_value=len(text) + 1))
    _CONTEXT.validate_python(autocomplete(text, offset))
