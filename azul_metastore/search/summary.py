"""A binary's summary (``GET /v0/binaries/{sha256}``, inventory §6.10), its newer-document check
(``/new``) and its raw documents (``/events``).

Azul builds the summary from one search with an aggregation per section, each ``bucket_size`` wide
and each bucket answered by its newest document. Here the caller's visible documents of the binary
are read newest first and folded in Python the same way: the first document of a bucket is its
newest, a section keeps at most ``bucket_size`` buckets, and a section that reaches the limit gets
a ``many_buckets_<section>`` diagnostic. Children are documents of *other* binaries, so they come
from one page of the index's link listing, which also counts them all without reading them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from azul_metastore.errors import NotFound
from azul_metastore.index.port import MetadataStore
from azul_metastore.search.find import tags_of
from azul_metastore.search.models import (
    BinaryDiagnostic,
    BinaryDocuments,
    BinaryInfo,
    BinaryMetadata,
    BinarySource,
    DatastreamInstances,
    EntityInstance,
    EntityInstanceAuthor,
    EventSource,
    OpensearchDocuments,
    PathNode,
)
from azul_metastore.search.summary_features import feature_values, plugin_size_limits
from azul_metastore.security import Access

__all__ = ["DETAILS", "documents", "has_newer", "node", "summary"]

DETAILS = frozenset({"total_hits", "documents", "security", "sources", "features", "info", "datastreams",
                     "instances", "parents", "children", "tags", "feature_tags"})
#: documents of one binary read for a summary; past this the summary says it is partial
MAX_DOCUMENTS = 20_000
_STREAM_KEYS = ("sha256", "sha512", "sha1", "md5", "ssdeep", "tlsh", "size", "file_format", "file_extension",
                "mime", "magic", "identify_version", "language")


def _author(author: dict[str, Any]) -> dict[str, Any]:
    return {k: author.get(k) for k in ("category", "name", "version", "security") if author.get(k) is not None}


def node(doc: dict[str, Any], *, of_parent: bool = False) -> PathNode:
    """The path node of a link document: the binary itself, or with ``of_parent`` its parent's
    identity together with how this binary was made from it (Azul's summary ``parents``)."""
    who = doc.get("parent") or {} if of_parent else doc
    filenames = doc.get("filename") or []
    return PathNode(
        sha256=who.get("sha256") or doc["sha256"], action=doc.get("action") or "", timestamp=doc.get("timestamp") or "",
        author=_author(doc.get("author") or {"name": ""}), relationship=doc.get("parent_relationship"),
        file_format=who.get("file_format"), size=who.get("size"),
        filename=who.get("filename") if of_parent else (filenames[0] if filenames else None),
        language=who.get("language") if of_parent else None, track_link=doc.get("track_link"))


def event_source(doc: dict[str, Any]) -> EventSource:
    source = doc.get("source") or {}
    settings = {k: str(v) for k, v in (source.get("settings") or {}).items()}
    return EventSource(security=source.get("security"), name=source.get("name") or "",
                       timestamp=source.get("timestamp"), references=source.get("references") or {},
                       settings=settings, track_source_references=doc.get("track_source_references"))


def _buckets(docs: Iterable[dict[str, Any]], key: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The newest document of each distinct ``key`` value, at most ``limit``; and whether more existed."""
    seen: dict[str, dict[str, Any]] = {}
    for doc in docs:
        value = doc.get(key)
        if value is None or value in seen:
            continue
        if len(seen) >= limit:
            return list(seen.values()), True
        seen[value] = doc
    return list(seen.values()), False


def _sources(docs: list[dict[str, Any]], limit: int) -> tuple[list[BinarySource], bool]:
    per_source: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for doc in docs:
        name = (doc.get("source") or {}).get("name")
        if name and doc.get("track_source_references"):
            per_source[name][doc["track_source_references"]].append(doc)
    full = len(per_source) > limit
    out = []
    for name in sorted(per_source)[:limit]:
        groups = per_source[name]
        full = full or len(groups) > limit
        direct, indirect = [], []
        newest_first = sorted(groups.values(), key=lambda g: g[0].get("timestamp") or "", reverse=True)[:limit]
        for group in newest_first:
            shallowest = min(group, key=lambda d: d.get("depth") or 0)
            (direct if (shallowest.get("depth") or 0) == 0 else indirect).append(event_source(group[0]))
        direct.sort(key=lambda s: s.timestamp or "", reverse=True)
        indirect.sort(key=lambda s: s.timestamp or "", reverse=True)
        out.append(BinarySource(source=name, direct=direct, indirect=indirect))
    return out, full


def _streams(docs: list[dict[str, Any]], limit: int) -> tuple[list[DatastreamInstances], bool]:
    buckets, full = _buckets(docs, "uniq_data", limit)
    merged: dict[str, dict[str, Any]] = {}
    for doc in buckets:
        for stream in doc.get("datastreams") or ():
            sha = stream.get("sha256")
            if not sha:
                continue
            slot = merged.setdefault(sha, {"label": [], "instances": []} | {k: stream.get(k) for k in _STREAM_KEYS})
            label = stream.get("label")
            if label and label not in slot["label"]:
                slot["label"].append(label)
            saa = doc.get("sha256_author_action")
            if saa and saa not in slot["instances"]:
                slot["instances"].append(saa)
    out = [DatastreamInstances(**{k: v for k, v in s.items() if v is not None} | {"identify_version":
                                                                                    s.get("identify_version") or 0})
           for s in merged.values()]
    return sorted(out, key=lambda s: ("content" not in s.label, s.sha256 or "")), full


def _instances(docs: list[dict[str, Any]], limit: int) -> tuple[list[EntityInstance], bool]:
    buckets, full = _buckets(docs, "sha256_author_action", limit)
    out = []
    for doc in buckets:
        author = doc.get("author") or {}
        out.append(EntityInstance(
            key=doc["sha256_author_action"],
            author=EntityInstanceAuthor(security=author.get("security"), category=author.get("category") or "",
                                        name=author.get("name") or "", version=author.get("version")),
            action=doc.get("action") or "", num_feature_values=doc.get("num_feature_values") or 0))
    return sorted(out, key=lambda i: i.key), full


def _parents(docs: list[dict[str, Any]], limit: int) -> tuple[list[PathNode], bool]:
    links = [d for d in docs if (d.get("parent") or {}).get("sha256")]
    seen: dict[str, PathNode] = {}
    for doc in links:
        sha = doc["parent"]["sha256"]
        if sha in seen:
            continue
        if len(seen) >= limit:
            return list(seen.values()), True
        seen[sha] = node(doc, of_parent=True)
    return list(seen.values()), False


def _diagnostic(severity: str, id_: str, title: str, body: str) -> BinaryDiagnostic:
    return BinaryDiagnostic(severity=severity, id=id_, title=title, body=body)  # type: ignore[arg-type]


def summary(index: MetadataStore, sha256: str, access: Access, *, details: Iterable[str] = (),
            author: str | None = None, bucket_size: int = 100, warn_on_event_count: int = 10_000) -> BinaryMetadata:
    """Everything the caller may see about one binary; ``details`` limits the sections (empty: all).

    Raises NotFound when the caller can see no document of it (whether or not it exists).
    """
    sha256 = sha256.lower()
    wanted = set(details) or set(DETAILS)
    if "feature_tags" in wanted:
        wanted.add("features")
    count, newest = index.document_stats(sha256, access, author_name=author)
    if count == 0:
        raise NotFound(f"no binary {sha256} that you may see", sha256=sha256)
    docs = index.documents([sha256], access, author_name=author, limit=MAX_DOCUMENTS)
    full: dict[str, bool] = {}
    out = BinaryMetadata(documents=BinaryDocuments(count=count, newest=newest))
    if "security" in wanted:
        ranked = Counter(d.get("security") or "" for d in docs)
        out.security = [s for s, _ in sorted(ranked.items(), key=lambda kv: (-kv[1], kv[0])) if s]
    if "sources" in wanted:
        out.sources, full["sources"] = _sources(docs, bucket_size)
    if "features" in wanted:
        buckets, full["features"] = _buckets(docs, "uniq_features", bucket_size)
        out.features = feature_values(index, buckets, access, with_tags="feature_tags" in wanted)
    if "info" in wanted:
        buckets, full["info"] = _buckets(docs, "uniq_info", bucket_size)
        out.info = [BinaryInfo(info=d.get("info") or {}, instance=d.get("sha256_author_action") or "")
                    for d in buckets]
    if "datastreams" in wanted:
        out.streams, full["datastreams"] = _streams(docs, bucket_size)
    if "instances" in wanted:
        out.instances, full["instances"] = _instances(docs, bucket_size)
    if "parents" in wanted:
        out.parents, full["parents"] = _parents(docs, bucket_size)
    if "children" in wanted:
        page = index.linked(sha256, access, "children", None, bucket_size)
        out.children = [node(doc) for doc in page.items]
        full["children"] = (page.total or 0) > bucket_size
    if "tags" in wanted:
        out.tags = tags_of(index, sha256, access)
    out.diagnostics = _diagnostics(index, access, docs, full, count, warn_on_event_count, bucket_size,
                                   streams=out.streams if "datastreams" in wanted else None)
    return out


def _diagnostics(index: MetadataStore, access: Access, docs: list[dict[str, Any]], full: dict[str, bool],
                 count: int, warn_on_event_count: int, bucket_size: int,
                 streams: list[DatastreamInstances] | None) -> list[BinaryDiagnostic]:
    found = [_diagnostic("warning", f"many_buckets_{name}", f"Too many {name} to show",
                         f"More than {bucket_size} {name} were found; only {bucket_size} are shown.")
             for name, hit in full.items() if hit]
    if count >= warn_on_event_count:
        found.append(_diagnostic("warning", "many_events", "Many events",
                                 f"This binary has {count} documents; some views may be incomplete or slow."))
    if count > len(docs):
        found.append(_diagnostic("warning", "many_events_partial", "Summary is partial",
                                 f"Only the newest {len(docs)} of {count} documents were summarised."))
    content = [s for s in (streams or ()) if "content" in s.label]
    if streams is not None and not content:
        found.append(_diagnostic("info", "no_content", "No content",
                                 "No content stream is known for this binary, so it cannot be downloaded."))
    size = max((s.size or 0 for s in content), default=0)
    if size:
        too_small = [name for name, limit in plugin_size_limits(index, access) if size > limit]
        if too_small:
            shown = ", ".join(too_small[:5]) + (f" and {len(too_small) - 5} more" if len(too_small) > 5 else "")
            found.append(_diagnostic("warning", "large", "Large binary",
                                     f"This binary ({size} bytes) is larger than some plugins accept: {shown}."))
    return sorted(found, key=lambda d: d.id)


def has_newer(index: MetadataStore, sha256: str, access: Access, timestamp: str) -> BinaryDocuments:
    """How many visible documents of the binary are newer than ``timestamp``, and the newest time."""
    count, newest = index.document_stats(sha256.lower(), access, newer_than=timestamp)
    return BinaryDocuments(count=count, newest=newest)


def documents(index: MetadataStore, sha256: str, access: Access, *, event_type: str | None = None,
              size: int = 1000) -> OpensearchDocuments:
    """The binary's visible documents as stored, newest first (NotFound when there are none)."""
    actions = [event_type] if event_type else []
    docs = index.documents([sha256.lower()], access, actions=actions, limit=size)
    if not docs:
        raise NotFound(f"no documents of binary {sha256} that you may see", sha256=sha256)
    if event_type:
        total = len(docs) if len(docs) < size else len(index.documents([sha256.lower()], access, actions=actions))
    else:
        total = index.document_stats(sha256.lower(), access)[0]
    return OpensearchDocuments(items=docs, total_docs=total)
