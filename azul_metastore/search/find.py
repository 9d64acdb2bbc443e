"""Finding binaries (inventory §6.3, §6.4): search by term and/or hashes, page through every match
in sha256 order, page through a binary's parents or children, the searchable model, autocomplete.

Every function takes the caller's :class:`~azul_metastore.security.Access` and passes it to each
index read: a binary the caller cannot see is reported as missing, never as hidden.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from azul_metastore.errors import BadRequest, InvalidInput
from azul_metastore.index.port import MetadataStore, SortKey, SubmissionRow
from azul_metastore.query import AutocompleteContext, Match, Node, Or, autocomplete, keys, parse
from azul_metastore.query.ast import And
from azul_metastore.search.models import (
    EntityFind,
    EntityFindItem,
    EntityFindItemSource,
    EntityFindSimple,
    EntityFindSimpleFamily,
    EntityFindSimpleFamilyItem,
    EntityFindSimpleItem,
    EntityModel,
    EntityTag,
)
from azul_metastore.security import Access

__all__ = ["MAX_ENTITIES", "complete", "find", "find_all", "find_family", "model", "tags_of"]

MAX_ENTITIES = 1000
#: sources shown per found binary (as Azul)
SOURCES_PER_ITEM = 3
#: entity tags attached per found binary (as Azul)
TAGS_PER_ITEM = 100
#: most tags one read may return on every backend (OpenSearch's result window)
_TAG_WINDOW = 10_000
FAMILY_PAGE = 50
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_HASH_KINDS = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}

#: the searchable fields of a binary metadata document and their (OpenSearch mapping) types (§4.3)
FIELDS: dict[str, str] = {
    "sha256": "keyword", "sha512": "keyword", "sha1": "keyword", "md5": "keyword", "ssdeep": "keyword",
    "tlsh": "keyword", "mime": "keyword", "magic": "keyword", "file_format": "keyword",
    "file_extension": "keyword", "size": "unsigned_long", "timestamp": "date", "action": "keyword",
    "author.name": "keyword", "author.category": "keyword", "author.version": "keyword",
    "author.security": "keyword", "track_author": "keyword", "depth": "integer", "source.name": "keyword",
    "source.timestamp": "date", "source.security": "keyword", "source.encoded_references.key": "keyword",
    "source.encoded_references.value": "keyword", "source.encoded_references.key_value": "keyword",
    "track_source_references": "keyword", "track_source_references_grouped": "keyword",
    "track_link": "keyword", "parent_track_author": "keyword", "parent.sha256": "keyword",
    "filename": "keyword", "num_feature_names": "integer", "num_feature_values": "integer",
    "features.name": "keyword", "features.value": "keyword", "features.type": "keyword",
    "features.label": "keyword", "features.enriched.integer": "long", "features.enriched.float": "double",
    "features.enriched.datetime": "date", "features.enriched.binary_string": "keyword",
    "features.enriched.filepath": "keyword", "features.enriched.scheme": "keyword",
    "features.enriched.netloc": "keyword", "features.enriched.hostname": "keyword",
    "features.enriched.ip": "ip", "features.enriched.port": "integer", "features.enriched.query": "keyword",
    "features.enriched.params": "keyword", "features.enriched.fragment": "keyword",
    "features.enriched.username": "keyword", "features.enriched.password": "keyword",
    "datastreams.label": "keyword", "datastreams.sha256": "keyword", "datastreams.file_format": "keyword",
    "datastreams.mime": "keyword", "datastreams.magic": "keyword", "datastreams.size": "unsigned_long",
    "binary.tag": "keyword", "feature.tag": "keyword",
}  # fmt: skip


def model(index: MetadataStore, access: Access) -> EntityModel:
    """Searchable fields with their types: the fixed fields plus ``features_map.<name>`` for every
    feature name the caller can see."""
    fields = dict(FIELDS)
    for name in index.feature_names(access):
        fields[f"features_map.{name}"] = "keyword"
    return EntityModel(keys=dict(sorted(fields.items())))


def complete(term: str, offset: int) -> AutocompleteContext:
    """What the caret is on (``offset=-1`` for an empty term, as azul-client sends it)."""
    return autocomplete(term, offset)


def _parse(term: str | None) -> Node | None:
    return parse(term) if term and term.strip() else None


def _unknown_keys(index: MetadataStore, query: Node, access: Access) -> list[str]:
    known = model(index, access).keys
    return sorted(k for k in keys(query) if k not in known and not k.startswith("source.references."))


def _hash_clause(hashes: Sequence[str]) -> Node:
    """Any of the supplied hashes, on the field their length names (ssdeep by its two colons)."""
    clauses: list[Node] = []
    for value in hashes:
        kind = "ssdeep" if value.count(":") == 2 else _HASH_KINDS.get(len(value))
        if kind:
            clauses.append(Match(kind, ":=", value if kind == "ssdeep" else value.lower()))
    if not clauses:
        return Match("sha256", ":=", "-")
    return clauses[0] if len(clauses) == 1 else Or(tuple(clauses))


def tags_of(index: MetadataStore, sha256: str, access: Access, limit: int = TAGS_PER_ITEM) -> list[EntityTag]:
    """The caller-visible, enabled entity tags of one binary, newest first."""
    return [_tag(d, sha256) for d in index.annotations(access, kind="entity_tag", sha256=sha256)[:limit]]


def tags_of_many(index: MetadataStore, sha256s: Sequence[str], access: Access,
                 limit: int = TAGS_PER_ITEM) -> dict[str, list[EntityTag]]:
    """:func:`tags_of` for a page of binaries in one read per 100 of them (a read per binary made
    a page of 100 finds cost 100 searches on OpenSearch)."""
    out: dict[str, list[EntityTag]] = defaultdict(list)
    wanted = list(dict.fromkeys(sha256s))
    for start in range(0, len(wanted), 100):
        chunk = wanted[start:start + 100]
        docs = index.annotations(access, kind="entity_tag", sha256s=chunk)
        if len(docs) >= _TAG_WINDOW:  # a search window may have cut the answer: each binary on its own
            out.update({sha: tags for sha in chunk if (tags := tags_of(index, sha, access, limit))})
            continue
        for doc in docs:
            mine = out[doc["sha256"]]
            if len(mine) < limit:
                mine.append(_tag(doc, doc["sha256"]))
    return out


def _tag(doc: dict[str, Any], sha256: str) -> EntityTag:
    return EntityTag(sha256=doc.get("sha256") or sha256, tag=doc["tag"], type=doc.get("type") or "entity_tag",
                     owner=doc.get("owner"), timestamp=doc.get("timestamp") or "", security=doc.get("security") or "")


def _sources(rows: list[SubmissionRow]) -> list[EntityFindItemSource]:
    """The best submission (shallowest, then newest) of the three sources with most documents."""
    by_name: dict[str, list[SubmissionRow]] = defaultdict(list)
    for row in rows:
        by_name[row.source].append(row)
    top = sorted(by_name, key=lambda n: (-len(by_name[n]), n))[:SOURCES_PER_ITEM]
    out = []
    for name in sorted(top):
        best = min(by_name[name], key=lambda r: (r.depth, _neg(r.timestamp)))
        out.append(EntityFindItemSource(depth=best.depth, name=name, timestamp=best.timestamp or "",
                                        references=best.references))
    return out


def _neg(text: str | None) -> tuple[int, str]:
    """A sort key putting newer ISO timestamps first."""
    return (0, "".join(chr(0x10FFFF - ord(c)) for c in text)) if text else (1, "")


def _items(index: MetadataStore, sha256s: list[str], access: Access,
           identities: dict[str, dict[str, Any]] | None = None) -> dict[str, EntityFindItem]:
    """Find items of the binaries that have a visible submission (others cannot be summarised).
    ``identities`` (filled here when given) receives the identification of each item.

    Submissions, identities and tags are read at once (``MetadataStore.gather``): identities and
    tags of every binary asked about, then kept only for those with a visible submission. Read one
    after the other, on OpenSearch, they were three round trips of a find."""
    submissions, identified, tagged = index.gather(
        lambda: index.binary_submissions(sha256s, access),
        lambda: index.identities(sha256s),
        lambda: tags_of_many(index, sha256s, access))
    rows: dict[str, list[SubmissionRow]] = defaultdict(list)
    for row in submissions:
        rows[row.sha256].append(row)
    found = {sha: ident for sha, ident in identified.items() if sha in rows}
    if identities is not None:
        identities.update(found)
    tags = {sha: mine for sha, mine in tagged.items() if sha in rows}
    out = {}
    for sha in sha256s:
        mine = rows.get(sha)
        if not mine:
            continue
        ident = found.get(sha, {})
        filenames = list(dict.fromkeys(n for r in mine for n in r.filenames))
        out[sha] = EntityFindItem(
            key=sha, exists=True, has_content=any(r.has_content for r in mine), sources=_sources(mine),
            file_size=ident.get("size"), file_format=ident.get("file_format"),
            file_extension=ident.get("file_extension"), magic=ident.get("magic"), mime=ident.get("mime"),
            filenames=filenames or None, tags=tags.get(sha) or None, md5=ident.get("md5"),
            sha1=ident.get("sha1"), sha256=sha, sha512=ident.get("sha512"), ssdeep=ident.get("ssdeep"),
            tlsh=ident.get("tlsh"))
    return out


def _found_items(index: MetadataStore, query: Node | None, access: Access, sort: SortKey, ascending: bool,
                 limit: int, identities: dict[str, dict[str, Any]] | None = None,
                 ) -> tuple[list[str], dict[str, EntityFindItem]]:
    """The first ``limit`` matching binaries that have a visible submission, and their items.

    Optimistic: the index is asked for matching binaries without the submission condition, since
    reading the items checks it anyway (a binary without a visible submission gets no item), and
    checking it inside the find cost OpenSearch a round trip more. Only when a full page held such
    a binary, so that others may follow it, is the exact find made again with the condition.
    Either way the answer is that of the exact find."""
    found = index.find(query, access, sort=sort, ascending=ascending, limit=limit, require_submission=False)
    items = _items(index, found, access, identities)
    if len(items) < len(found) == limit:
        found = index.find(query, access, sort=sort, ascending=ascending, limit=limit)
        items = _items(index, found, access, identities)
    return [s for s in found if s in items], items


def _kind(value: str, ident: dict[str, Any]) -> str | None:
    for kind in ("sha256", "md5", "sha1", "sha512", "ssdeep"):
        stored = ident.get(kind)
        if stored and (stored == value or (kind != "ssdeep" and stored == value.lower())):
            return kind
    return None


def find(index: MetadataStore, access: Access, *, term: str | None = None, hashes: Sequence[str] = (),
         sort: SortKey = "_score", sort_asc: bool = False, max_entities: int = 100,
         count_entities: bool = False) -> EntityFind:
    """Binaries matching a term and/or any of the given hashes (§6.3).

    With hashes, items follow the order the hashes were given: a hash nothing visible matches gives
    ``{key, exists: false}``; a binary matched by several hashes is listed once in full and then as
    ``is_duplicate_find`` rows. Raises InvalidQuery (400) for a term that does not parse, BadRequest
    for more than 1000 entities, InvalidInput (422) when nothing matched and the term names fields
    that do not exist.
    """
    if max_entities > MAX_ENTITIES or max_entities < 1:
        raise BadRequest(f"max_entities must be between 1 and {MAX_ENTITIES}, not {max_entities}")
    query = _parse(term)
    hashes = [h.strip() for h in hashes if h and h.strip()]
    if len(hashes) > MAX_ENTITIES:
        raise BadRequest(f"{len(hashes)} hashes; at most {MAX_ENTITIES} are looked up in one request")
    identities: dict[str, dict[str, Any]] = {}
    items: dict[str, EntityFindItem] | None = None
    if not hashes:
        found, items = _found_items(index, query, access, sort, sort_asc, max_entities)
        if not found and query is not None and (unknown := _unknown_keys(index, query, access)):
            raise InvalidInput(f"no binaries matched and these fields are not known: {', '.join(unknown)};"
                               " GET /api/v0/binaries/model lists the searchable fields", fields=unknown)
        ordered = [items[s] for s in found if s in items]
        total = index.count(query, access) if count_entities else len(ordered)
        return EntityFind(items_count=total, items=ordered)
    if query is None and all(_SHA256.match(h) for h in hashes):
        # no look-up: a binary the caller cannot see has no visible submission, hence no item
        found = list(dict.fromkeys(h.lower() for h in hashes))
    elif query is None:
        # hashes alone: one indexed look-up per hash beats a search over every document
        found = list(dict.fromkeys(s for shas in index.lookup_hashes(hashes, access).values() for s in shas))
    else:
        # the hashes narrow the term: the clauses of a root AND (each on any document) stay clauses
        # of the root, where a nested AND would have to hold on one document
        clauses = query.children if isinstance(query, And) else (query,)
        combined = And((*clauses, _hash_clause(hashes)))
        found, items = _found_items(index, combined, access, sort, sort_asc, max(2 * len(hashes), max_entities),
                                    identities)
    if items is None:
        items = _items(index, found, access, identities)
    out: list[EntityFindItem] = []
    shown: set[str] = set()
    for value in hashes:
        hit = next((s for s in items if _kind(value, identities.get(s, {}))), None)
        if hit is None:
            out.append(EntityFindItem(key=value, exists=False, has_content=False))
        elif hit in shown:
            kind = _kind(value, identities.get(hit, {})) or "sha256"
            out.append(EntityFindItem(key=kind, exists=True, has_content=items[hit].has_content,
                                      is_duplicate_find=True, sha256=hit))
        else:
            shown.add(hit)
            out.append(items[hit].model_copy(update={"key": value}))
    return EntityFind(items_count=len(out), items=out)


def _after(after: str | None) -> str | None:
    """Our page key is Azul's: the JSON of the last bucket's key, ``{"sha256": ...}``."""
    if not after:
        return None
    try:
        key = orjson.loads(after)
    except orjson.JSONDecodeError:
        raise InvalidInput(f"after {after!r} is not a page key from a previous answer", after=after) from None
    if not isinstance(key, dict) or not isinstance(key.get("sha256"), str):
        raise InvalidInput(f"after {after!r} is not a page key from a previous answer", after=after)
    return key["sha256"]


def _key(sha256: str | None) -> str | None:
    return orjson.dumps({"sha256": sha256}).decode() if sha256 else None


def find_all(index: MetadataStore, access: Access, *, term: str | None = None, after: str | None = None,
             num_binaries: int = 1000) -> EntityFindSimple:
    """One page of every matching binary in sha256 order; a page with items always carries an
    ``after`` and the page after the last is empty (azul-client stops on an empty ``after``)."""
    page = index.list_binaries(_parse(term), access, _after(after), num_binaries)
    items = [EntityFindSimpleItem(sha256=s) for s in page.items]
    return EntityFindSimple(items=items, after=_key(page.items[-1]) if page.items else None, total=page.total)


def find_family(index: MetadataStore, sha256: str, access: Access, direction: Literal["parents", "children"],
                after: str | None = None) -> EntityFindSimpleFamily:
    """One page (50) of a binary's parents or children, in their sha256 order, each with the link
    that relates them (the newest, when several do)."""
    page = index.linked(sha256.lower(), access, direction, _after(after), FAMILY_PAGE)
    items = []
    for doc in page.items:
        if direction == "children":
            other, author = doc["sha256"], doc.get("author") or {}
        else:
            parent = doc.get("parent") or {}
            other, author = parent.get("sha256"), parent.get("author") or {}
        items.append(EntityFindSimpleFamilyItem(sha256=other, track_link=doc.get("track_link"),
                                                author_name=author.get("name"),
                                                author_category=author.get("category"),
                                                timestamp=doc.get("timestamp")))
    last = items[-1].sha256 if items else None
    return EntityFindSimpleFamily(items=items, after=_key(last), total=page.total)
