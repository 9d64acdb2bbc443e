"""A query past what SQLite compiles is a 400 for the caller, not an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from azul_metastore.errors import InvalidQuery
from azul_metastore.index.sqlite.store import SqliteMetadataStore
from azul_metastore.query import parser
from azul_metastore.security import Access


def test_a_query_sqlite_cannot_compile_is_refused_as_too_complex(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser's depth limit keeps queries well inside SQLite's; were it raised (or the compiled
    SQL to grow), SQLite's own refusal says what to change instead of answering 500."""
    monkeypatch.setattr(parser, "MAX_DEPTH", 100)
    store = SqliteMetadataStore(tmp_path / "index.sqlite3", cache_mb=8)
    query = parser.parse("(a AND " * 40 + "b" + ")" * 40)
    system = Access.system_access()
    for read in (lambda: store.find(query, system), lambda: store.count(query, system),
                 lambda: store.list_binaries(query, system, None, 10)):
        with pytest.raises(InvalidQuery, match="too complex for the embedded index"):
            read()
    store.close()
