"""The metadata index port: the operations the API, ingestors and lifecycle jobs need, no more.

It is a query service, not a key-value store. Every read takes the caller's
:class:`~azul_metastore.security.Access` and returns only documents the caller may see; the only
unfiltered reader is ``Access.system_access()``, used by lifecycle jobs. Documents are the shapes of
inventory §4 produced by the shared encoder (``index/encoder.py``); the REST layer assembles its
answers (summaries, find items, lineage pages) from these primitives in ``azul_metastore/search/``,
so a backend implements storage and filtering once and every endpoint follows.

Conformance: ``tests/backends/test_metadata_store.py`` runs against every adapter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from azul_metastore.index.documents import Document
from azul_metastore.query.ast import Node
from azul_metastore.security import Access

SortKey = Literal["_score", "source.timestamp", "timestamp"]


@dataclass(slots=True)
class Page:
    """One page of a paginated listing; ``after`` is opaque text for the next page (None at the end)."""

    items: list[Any]
    after: str | None = None
    total: int | None = None


@dataclass(slots=True)
class FeatureValueRow:
    value: str
    newest: str | None
    entities: int = 0


@dataclass(slots=True)
class Selector:
    """Which binary metadata documents a purge or age-off deletes (all given conditions must hold)."""

    track_source_references: str | None = None
    source_timestamp: str | None = None
    track_link: str | None = None
    track_author: str | None = None
    source_name: str | None = None
    source_timestamp_before: str | None = None
    sha256: str | None = None
    doc_ids: Sequence[str] = field(default_factory=tuple)


class MetadataStore(Protocol):
    # --- writes (ingestors, tags, lifecycle) ---------------------------------------------------

    def write(self, documents: Sequence[Document]) -> None:
        """Upsert documents by id in one unit of work; durable and searchable when it returns."""
        ...

    def delete(self, selector: Selector) -> list[dict[str, Any]]:
        """Delete matching binary metadata documents; return what was deleted (id, sha256, source
        name, datastreams), so the caller can clean up bytes and descendants."""
        ...

    def delete_orphans(self) -> list[str]:
        """Remove binaries left without any sourced/extracted/mapped document, with their other
        documents; return their sha256s."""
        ...

    def delete_statuses_before(self, timestamp: str) -> int: ...

    # --- binaries ------------------------------------------------------------------------------

    def find(
        self,
        query: Node | None,
        access: Access,
        *,
        sort: SortKey = "_score",
        ascending: bool = False,
        limit: int = 100,
        require_submission: bool = True,
    ) -> list[str]:
        """sha256s of binaries matching ``query`` (None = all) with a visible document."""
        ...

    def count(self, query: Node | None, access: Access, *, require_submission: bool = True) -> int: ...

    def list_binaries(self, query: Node | None, access: Access, after: str | None, limit: int) -> Page:
        """All matching sha256s in sha256 order, ``limit`` at a time."""
        ...

    def lookup_hashes(self, hashes: Sequence[str], access: Access) -> dict[str, list[str]]:
        """For each given md5/sha1/sha256/sha512/ssdeep: the visible binaries that have it."""
        ...

    def documents(
        self,
        sha256s: Sequence[str],
        access: Access,
        *,
        actions: Sequence[str] = (),
        author_name: str | None = None,
        newer_than: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Visible metadata documents of these binaries, newest first."""
        ...

    def linked(self, sha256: str, access: Access, direction: Literal["children", "parents"],
               after: str | None, limit: int) -> Page:
        """Link documents to (``children``) or from (``parents``) a binary, grouped by the other
        binary, in its sha256 order: one newest link document per related binary."""
        ...

    def stream_sources(self, stream_sha256: str, access: Access, limit: int = 10) -> list[tuple[str, str]]:
        """(source name, label) pairs of visible documents holding a datastream with this sha256."""
        ...

    def identities(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Identification of binaries (hashes, size, file format, magic, mime, tlsh, ssdeep)."""
        ...

    # --- features ------------------------------------------------------------------------------

    def feature_values(
        self,
        name: str,
        access: Access,
        *,
        term: str | None = None,
        case_insensitive: bool = False,
        ascending: bool = True,
        after: str | None = None,
        limit: int = 500,
        author: str | None = None,
        author_version: str | None = None,
    ) -> Page:
        """Distinct values of a feature (``FeatureValueRow``), sorted, with the newest timestamp."""
        ...

    def count_feature_values(self, name: str, access: Access, *, author: str | None = None,
                             author_version: str | None = None) -> int: ...

    def count_feature_entities(self, name: str, access: Access, *, value: str | None = None,
                               author: str | None = None, author_version: str | None = None) -> int: ...

    # --- similarity ----------------------------------------------------------------------------

    def fuzzy_hashes(self, kind: Literal["tlsh", "ssdeep"], access: Access) -> Iterator[tuple[str, str]]:
        """Every visible (sha256, hash) for brute-force or vectorised comparison."""
        ...

    # --- statuses, plugins, annotations --------------------------------------------------------

    def statuses(self, access: Access, *, sha256: str | None = None, author: str | None = None,
                 since: str | None = None, statuses: Sequence[str] = (), limit: int = 10_000) -> list[dict[str, Any]]:
        """Status documents, newest first."""
        ...

    def plugins(self, access: Access) -> list[dict[str, Any]]: ...

    def annotations(self, access: Access, *, kind: str | None = None, sha256: str | None = None,
                    tag: str | None = None, feature: str | None = None, value: str | None = None,
                    include_disabled: bool = False) -> list[dict[str, Any]]: ...

    def disable_annotations(self, *, kind: str, tag: str, sha256: str | None = None, feature: str | None = None,
                            value: str | None = None) -> int: ...

    def refresh(self) -> None:
        """Return once every completed write is searchable."""
        ...

    def close(self) -> None: ...
