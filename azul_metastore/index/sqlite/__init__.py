"""The embedded metadata index: one SQLite file (see ``schema.py`` for why it is shaped so)."""

from azul_metastore.index.sqlite.store import SqliteMetadataStore

__all__ = ["SqliteMetadataStore"]
