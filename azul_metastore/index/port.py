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

from collections.abc import Callable, Iterator, Sequence
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


@dataclass(slots=True)
class ReferenceGroup:
    """Submissions of one source grouped by a key (``track_source_references``, its grouped form,
    or one submission's (references, timestamp)): the newest source timestamp, the distinct binaries,
    and the references of the newest submission."""

    key: str
    timestamp: str | None
    num_entities: int
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StatusCount:
    """How many status documents one plugin (name, category, version) has with one status."""

    name: str
    category: str | None
    version: str | None
    status: str
    count: int
    newest: str | None


@dataclass(slots=True)
class PivotResult:
    """Feature values found on the documents of binaries that share given feature values.

    ``counts`` maps a feature name to (value, document count) pairs, largest first; ``incomplete`` is
    true when more binaries matched than were looked at; ``binaries`` is how many were looked at.
    """

    counts: dict[str, list[tuple[str, int]]]
    incomplete: bool = False
    binaries: int = 0


@dataclass(slots=True)
class SubmissionRow:
    """One visible metadata document of a binary that has a submission part: which source, when,
    at what depth, with which references; whether it carries a ``content`` stream; its filenames."""

    sha256: str
    source: str
    timestamp: str | None
    depth: int
    references: dict[str, Any] = field(default_factory=dict)
    has_content: bool = False
    filenames: list[str] = field(default_factory=list)


class MetadataStore(Protocol):
    #: whether a read is a round trip to a server (OpenSearch) rather than a call in this process
    #: (SQLite). Where it is, a caller that can guess what it will read later reads it ahead, with
    #: what it reads now: a round trip saved is worth more than the read. Where it is not, reading
    #: ahead only adds work.
    round_trips: bool

    # --- writes (ingestors, tags, lifecycle) ---------------------------------------------------

    def write(self, documents: Sequence[Document]) -> None:
        """Upsert documents by id in one unit of work; durable when it returns, searchable from the
        next refresh: the index's own (OpenSearch ``refresh_interval``) or :meth:`refresh`.

        Why not searchable at once: making every write visible costs OpenSearch a refresh per bulk,
        which caps ingest far below its rate (issue #10), and Azul's ingestors never asked for it.
        A caller that reads its own write (API ``refresh=true``, tags) calls :meth:`refresh` after.
        Reads by id (``buried``) see a write at once. An adapter whose commits are searchable
        already (SQLite) may do more than this promises.
        """
        ...

    def delete(self, selector: Selector) -> list[dict[str, Any]]:
        """Delete matching binary metadata documents; return what was deleted (id, sha256, source
        name, datastreams), so the caller can clean up bytes and descendants.

        Deletes (this, ``delete_orphans``, ``delete_statuses_*``, ``disable_annotations``) find their
        documents by search, so they only see writes made searchable (call :meth:`refresh` first to
        include the latest); unlike writes, their effect is searchable when they return: they are
        rare, and the lifecycle step after one reads what is left (purge selects again until
        nothing matches, orphans are binaries whose last submission was just deleted)."""
        ...

    def delete_orphans(self) -> list[str]:
        """Remove binaries left without any sourced/extracted/mapped document, with their other
        documents; return their sha256s."""
        ...

    def delete_statuses_before(self, timestamp: str) -> int: ...

    # --- lifecycle (age-off, purge: lifecycle/) -------------------------------------------------

    def select(self, selector: Selector, limit: int | None = None) -> list[dict[str, Any]]:
        """What ``delete(selector)`` would delete (same shape, plus the ``parent`` sha256 of link
        documents), oldest first, at most ``limit``; purge journals it before deleting."""
        ...

    def count_selected(self, selector: Selector) -> tuple[int, int]:
        """(documents, distinct binaries) matching ``selector``, for dry runs."""
        ...

    def child_links(self, parent_sha256s: Sequence[str]) -> list[dict[str, Any]]:
        """Link documents (``select`` shape) whose parent is one of these binaries: what a purge
        cascade removes below a binary that lost every submission."""
        ...

    def count_statuses_before(self, timestamp: str) -> int: ...

    def delete_statuses_of(self, sha256s: Sequence[str], buried_at: str | None = None) -> list[str]:
        """Delete the status documents about these binaries; return their ids. With ``buried_at``
        each is buried at that time (``bury``) before it is deleted, so a purge interrupted
        between the two cannot leave deleted statuses unburied (a replay would restore them)."""
        ...

    def bury(self, ids: Sequence[str], timestamp: str) -> None:
        """Record purged document ids: a later write of one of them whose event is not newer than
        ``timestamp`` is dropped by the indexer (a replay must not bring purged data back).
        ``buried`` reads them by id, so they count as soon as this returns, without a refresh."""
        ...

    def buried(self, ids: Sequence[str]) -> dict[str, str]:
        """Which of ``ids`` are buried, with the time they were purged."""
        ...

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
        """For each given md5/sha1/sha256/sha512/ssdeep: the visible binaries that have it. A hash
        identifies bytes: it is the binary's, whichever of its documents carries it, and the binary
        is found when the caller can see any of its documents (as its identification is shown)."""
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
        fields: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Visible metadata documents of these binaries, newest first; with ``fields``, each holding
        only those of its top-level fields (a document's features are most of its size, which
        OpenSearch would otherwise send and the caller parse)."""
        ...

    def linked(self, sha256: str, access: Access, direction: Literal["children", "parents"],
               after: str | None, limit: int) -> Page:
        """Link documents to (``children``) or from (``parents``) a binary, grouped by the other
        binary, in its sha256 order: one newest link document per related binary."""
        ...

    def linked_many(self, sha256s: Sequence[str], access: Access, direction: Literal["children", "parents"],
                    per_binary: int, fields: Sequence[str] = ()) -> dict[str, list[dict[str, Any]]]:
        """The first page of :meth:`linked` (``per_binary`` related binaries) for each of several
        binaries in one look-up, as a lineage walk needs them; binaries without links are left out.
        ``fields`` as for :meth:`documents`."""
        ...

    def lineage_below(self, parents: Sequence[str], through: Sequence[str], access: Access, limit: int,
                      fields: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Visible link documents naming one of ``parents`` as their parent, or whose recorded path
        (``ancestors``) passed through one of ``through``; by parent, child and newest first, the
        order :meth:`linked_many` reads a binary's children in; at most ``limit``. ``fields`` as for
        :meth:`documents`. Documents written before paths were kept (template 20261129 on
        OpenSearch) have no ancestors and are found by their parent only.

        Why: a lineage walk learns a level of links per read, and on a server each read is a round
        trip. In the read of the children of the binaries it expands, the paths events recorded
        through them name the binaries it is likely to reach several levels down, which it then
        reads (exactly) in one round instead of one round per level. A recorded path is a guess,
        not the walk: a binary extracted from two parents has its children's paths through one of
        them only."""
        ...

    def stream_sources(self, stream_sha256: str, access: Access, limit: int | None = 10) -> list[tuple[str, str]]:
        """(source name, label) pairs of visible documents holding a datastream with this sha256,
        from the ``limit`` newest such documents (a download needs one place holding the bytes), or
        from every one with ``None``: what age-off and purge must keep, which a few newest
        documents of another source would hide."""
        ...

    def identities(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Identification of binaries (hashes, size, file format, magic, mime, tlsh, ssdeep)."""
        ...

    # --- binaries: what the read API assembles its answers from (search/) ----------------------

    def document_stats(self, sha256: str, access: Access, *, author_name: str | None = None,
                       newer_than: str | None = None) -> tuple[int, str | None]:
        """(count, newest ``timestamp``) of a binary's visible metadata documents, optionally only
        one plugin's or only those newer than a time; (0, None) when there are none."""
        ...

    def visible_binaries(self, sha256s: Sequence[str], access: Access) -> set[str]:
        """Which of these binaries have at least one document the caller may see."""
        ...

    def binary_submissions(self, sha256s: Sequence[str], access: Access) -> list[SubmissionRow]:
        """One row per visible document with a submission part, for these binaries (find items)."""
        ...

    def feature_names(self, access: Access) -> list[str]:
        """Every feature name found on a visible document, sorted."""
        ...

    def similar_tlsh(self, tlsh: str, access: Access, limit: int) -> list[tuple[str, int]]:
        """The ``limit`` visible binaries nearest to a TLSH hash by real TLSH distance
        (``index/tlsh.py``), nearest first, as (sha256, distance); binaries with exactly this hash
        are left out. InvalidInput for a hash that does not parse."""
        ...

    def ssdeep_candidates(self, ssdeep: str, access: Access, limit: int) -> list[tuple[str, str]]:
        """Visible binaries whose ssdeep could score against this one: block size b, 2b or b/2 and
        a shared 7-gram of chunk or double chunk; (sha256, ssdeep), identical hashes left out."""
        ...

    def similar_entropy(self, vector: Sequence[int], access: Access, limit: int,
                        exclude: str | None = None) -> list[tuple[str, int]]:
        """Visible binaries nearest to an entropy vector (``index/vectors.py``) by Hamming
        distance, as (sha256, differing bits), nearest first, without ``exclude``."""
        ...

    def feature_overlaps(self, pairs: Sequence[tuple[str, str]], access: Access, *, author_name: str | None = None,
                         exclude: str | None = None, min_count: int = 1, limit: int = 1000) -> dict[str, int]:
        """Visible binaries sharing (feature name, value) pairs with ``pairs`` on documents of one
        plugin (any when None): sha256 → how many distinct pairs they share, the ``limit`` largest
        with at least ``min_count``. Values found on very many documents may be skipped as
        uninformative (as more_like_this does)."""
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

    def count_feature_part_entities(self, part: str, value: str, access: Access, *, author: str | None = None,
                                    author_version: str | None = None) -> int:
        """Distinct visible binaries with a feature whose enriched ``part`` (``hostname``, ``port``,
        ``filepath``...) equals ``value``. ``filepath_unix`` matches the path or any path below it
        (``a/b`` matches ``a/b/c``), ``filepath_unixr`` the path or any path ending in it."""
        ...

    def pivot(self, pairs: Sequence[tuple[str, str]], access: Access, *, names: Sequence[str] | None = None,
              max_binaries: int = 10_000, size: int = 10, min_count: int = 2) -> PivotResult:
        """Binaries having every (feature name, value) of ``pairs`` (each on any of their documents);
        then, over those binaries' documents, the ``size`` most common values of each feature in
        ``names`` (None = every feature) found on at least ``min_count`` documents."""
        ...

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

    def status_counts(self, access: Access, *, since: str | None = None,
                      statuses: Sequence[str] = ()) -> list[StatusCount]:
        """Status documents counted per plugin (name, category, version) and status, with the newest
        timestamp of each group; only documents at or after ``since`` when given."""
        ...

    def count_authored(self, name: str, version: str | None, access: Access) -> int:
        """Distinct visible binaries with a metadata document by this plugin (and version, if given)."""
        ...

    def annotations(self, access: Access, *, kind: str | None = None, sha256: str | None = None,
                    tag: str | None = None, feature: str | None = None, value: str | None = None,
                    include_disabled: bool = False, sha256s: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Visible tags, newest first, matching every condition given; ``sha256s`` keeps those
        about any of these binaries (a page of find results reads its tags in one call; an empty
        list matches none)."""
        ...

    def disable_annotations(self, *, kind: str, tag: str, sha256: str | None = None, feature: str | None = None,
                            value: str | None = None) -> int: ...

    # --- sources -------------------------------------------------------------------------------

    def source_summary(self, source: str, access: Access) -> tuple[str | None, int]:
        """(newest ``source.timestamp``, distinct binaries) of the visible direct (depth 0)
        submissions to a source; (None, 0) when there are none."""
        ...

    def source_references(self, source: str, access: Access, *, grouped: bool = False, term: str | None = None,
                          limit: int = 100) -> list[ReferenceGroup]:
        """Direct submissions of a source grouped by ``track_source_references`` (or
        ``track_source_references_grouped``), newest group first; ``term`` keeps submissions with a
        reference value containing it (case-insensitive)."""
        ...

    def source_submissions(self, source: str, access: Access, *, track_source_references: str | None = None,
                           timestamp: str | None = None, limit: int = 100) -> list[ReferenceGroup]:
        """Direct submissions of a source grouped by (``track_source_references``, source
        timestamp), newest first, optionally only one references set and/or one timestamp."""
        ...

    def gather(self, *reads: Callable[[], Any]) -> list[Any]:
        """The answers of independent reads (callables making reads of this store), in order; when
        reads fail, the error of the first failing one in that order is raised.

        Why: a page of found binaries needs its submissions, identities and tags, three reads that
        do not depend on each other. On a server (OpenSearch) each is a round trip of a few
        milliseconds, and overlapping them takes the longest one instead of the sum; an embedded
        adapter, whose reads are calls in this process, may just run them in turn."""
        ...

    def refresh(self) -> None:
        """Make every write that has returned searchable, then return. Callers that read their own
        writes call it (API ``refresh=true`` paths, tags, lifecycle jobs before they select);
        ingestors never do: they rely on the index's periodic refresh."""
        ...

    def close(self) -> None: ...
