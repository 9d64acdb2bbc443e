"""Which feature values compare as numbers, on every index backend (index/numbers.py)."""

from __future__ import annotations

import pytest

from azul_metastore.index.numbers import as_number, numeric_view


@pytest.mark.parametrize(("text", "value"), [
    ("5", 5.0), ("-5", -5.0), ("+2.5", 2.5), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("1.5E-2", 0.015),
    (" 3e0 ", 3.0), ("007", 7.0),
])
def test_numbers(text: str, value: float) -> None:
    assert as_number(text) == value


@pytest.mark.parametrize("text", ["", " ", "12abc", "0x1f", "NaN", "inf", "Infinity", "1,000", "1_000", "--1",
                                  "1e", "e5", ".", "1e999", "١٢", None, 5])
def test_not_numbers(text: object) -> None:
    assert as_number(text) is None


def test_numeric_view_keeps_only_features_with_numbers() -> None:
    assert numeric_view({"count": ["5", "many", "7.5"], "tag": ["malware"]}) == {"count": [5.0, 7.5]}
