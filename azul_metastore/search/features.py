"""Feature reads (inventory §2.5, §6.4, §6.5): counts, the features plugins declare, paginated
values of one feature, pivots, and feature-value tags.

Every function takes the caller's :class:`~azul_metastore.security.Access` and passes it to each
index read, so a count or value the caller may not see never contributes to an answer. Counts are
computed on every call: the embedded index answers them from its value table in milliseconds, so
Azul's count cache (and ``skip_count``, which returns only cached counts) has nothing to add.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from azul_metastore.errors import InvalidInput
from azul_metastore.index.port import MetadataStore
from azul_metastore.search.models_features import (
    Feature,
    FeatureDescription,
    FeatureMulticountRet,
    FeaturePivotNameWithValueCount,
    FeaturePivotRequest,
    FeaturePivotResponse,
    FeaturePivotValueCount,
    Features,
    FeatureValueTag,
    ReadFeatureTagValues,
    ReadFeatureValues,
    ReadFeatureValuesValue,
    ReadFeatureValueTags,
    ReadFeatureValueTagsTag,
    ValueCountItem,
    ValueCountRet,
    ValuePartCountItem,
    ValuePartCountRet,
)
from azul_metastore.security import Access

__all__ = [
    "FEATURE_PARTS",
    "count_entities",
    "count_part_entities",
    "count_value_entities",
    "count_values",
    "feature_value_tags",
    "feature_values",
    "list_features",
    "pivot",
    "tag_values",
]

#: parts of an enriched feature value that can be counted (bedrock's ``FeatureValuePart`` fields)
FEATURE_PARTS = frozenset({
    "location", "integer", "float", "datetime", "binary_string", "scheme", "netloc", "filepath", "params",
    "query", "fragment", "username", "password", "hostname", "ip", "port", "filepath_unix", "filepath_unixr",
})
#: most names or values one count request may ask about (each is a query)
MAX_COUNT_ITEMS = 1000
#: most values one page of a feature's values may hold
MAX_PAGE_VALUES = 10_000
#: plugin versions per plugin whose declared features are listed (as Azul)
VERSIONS_PER_PLUGIN = 20
#: binaries a pivot looks at, and values it shows per feature (as Azul)
PIVOT_MAX_BINARIES = 10_000
PIVOT_BUCKETS = 10
FV_TAG = "fv_tag"


def _check_count(items: Sequence[Any]) -> None:
    if len(items) > MAX_COUNT_ITEMS:
        raise InvalidInput(f"{len(items)} items asked for; ask for at most {MAX_COUNT_ITEMS} at a time")


def count_values(index: MetadataStore, names: Sequence[str], access: Access, *, author: str | None = None,
                 author_version: str | None = None) -> dict[str, FeatureMulticountRet]:
    """Distinct visible values of each named feature."""
    _check_count(names)
    return {n: FeatureMulticountRet(name=n, values=index.count_feature_values(
        n, access, author=author, author_version=author_version)) for n in dict.fromkeys(names)}


def count_entities(index: MetadataStore, names: Sequence[str], access: Access, *, author: str | None = None,
                   author_version: str | None = None) -> dict[str, FeatureMulticountRet]:
    """Distinct visible binaries having each named feature."""
    _check_count(names)
    return {n: FeatureMulticountRet(name=n, entities=index.count_feature_entities(
        n, access, author=author, author_version=author_version)) for n in dict.fromkeys(names)}


def count_value_entities(index: MetadataStore, items: Sequence[ValueCountItem], access: Access, *,
                         author: str | None = None,
                         author_version: str | None = None) -> dict[str, dict[str, ValueCountRet]]:
    """Distinct visible binaries having each (feature, value), as ``{name: {value: count}}``."""
    _check_count(items)
    out: dict[str, dict[str, ValueCountRet]] = defaultdict(dict)
    for item in items:
        n = index.count_feature_entities(item.name, access, value=item.value, author=author,
                                         author_version=author_version)
        out[item.name][item.value] = ValueCountRet(name=item.name, value=item.value, entities=n)
    return dict(out)


def count_part_entities(index: MetadataStore, items: Sequence[ValuePartCountItem], access: Access, *,
                        author: str | None = None,
                        author_version: str | None = None) -> dict[str, dict[str, ValuePartCountRet]]:
    """Distinct visible binaries with a feature whose enriched part equals the value, as
    ``{value: {part: count}}``. Raises InvalidInput for a part that does not exist."""
    _check_count(items)
    for item in items:
        if item.part not in FEATURE_PARTS:
            known = ", ".join(sorted(FEATURE_PARTS))
            raise InvalidInput(f"unknown feature value part {item.part!r}; use one of {known}", part=item.part)
    out: dict[str, dict[str, ValuePartCountRet]] = defaultdict(dict)
    for item in items:
        n = index.count_feature_part_entities(item.part, item.value, access, author=author,
                                              author_version=author_version)
        out[item.value][item.part] = ValuePartCountRet(value=item.value, part=item.part, entities=n)
    return dict(out)


def _latest_registrations(index: MetadataStore, access: Access, author: str | None,
                          author_version: str | None) -> Iterable[dict[str, Any]]:
    """Visible plugin registrations, newest first per plugin, at most VERSIONS_PER_PLUGIN each."""
    seen: dict[str, int] = defaultdict(int)
    for doc in index.plugins(access):
        entity = doc.get("entity") or {}
        name = entity.get("name")
        if author and name != author:
            continue
        if author_version and str(entity.get("version")) != author_version:
            continue
        seen[name] += 1
        if seen[name] <= VERSIONS_PER_PLUGIN:
            yield doc


def list_features(index: MetadataStore, access: Access, *, author: str | None = None,
                  author_version: str | None = None) -> Features:
    """The features visible plugin registrations declare, merged by name: one description per
    plugin version, the union of tags and of the declaring plugins' securities."""
    merged: dict[str, dict[str, Any]] = {}
    for doc in _latest_registrations(index, access, author, author_version):
        entity = doc.get("entity") or {}
        for declared in entity.get("features") or ():
            name = declared.get("name")
            if not name:
                continue
            slot = merged.setdefault(name, {"descriptions": [], "tags": set(), "security": set()})
            slot["descriptions"].append(FeatureDescription(
                author_type=entity.get("category"), author_name=entity.get("name"),
                author_version=None if entity.get("version") is None else str(entity.get("version")),
                timestamp=doc.get("timestamp"), desc=declared.get("desc"), type=declared.get("type")))
            slot["tags"].update(declared.get("tags") or ())
            slot["security"].add(doc.get("security") or entity.get("security") or "")
    items = [Feature(name=name, descriptions=slot["descriptions"], tags=sorted(slot["tags"]),
                     security=sorted(s for s in slot["security"] if s))
             for name, slot in sorted(merged.items())]
    return Features(items=items)


def _declared_type(index: MetadataStore, name: str, access: Access) -> str | None:
    for doc in index.plugins(access):
        for declared in (doc.get("entity") or {}).get("features") or ():
            if declared.get("name") == name and declared.get("type"):
                return str(declared["type"])
    return None


def _fv_tag(doc: dict[str, Any]) -> FeatureValueTag:
    return FeatureValueTag(feature_name=doc["feature_name"], feature_value=doc["feature_value"], tag=doc["tag"],
                           type=doc.get("type") or FV_TAG, owner=doc.get("owner"), timestamp=doc["timestamp"],
                           security=doc["security"])


def feature_values(index: MetadataStore, feature: str, access: Access, *, term: str | None = None,
                   sort_asc: bool = True, case_insensitive: bool = False, author: str | None = None,
                   author_version: str | None = None, num_values: int = 500, after: str | None = None
                   ) -> ReadFeatureValues:
    """One page of a feature's distinct visible values with their newest time and tags.

    ``after`` is the previous page's ``after`` (``""``/None: first page). ``total`` is given on the
    first page: exact without a term; with a term it is the number found so far, flagged approximate
    while more pages remain.
    """
    if not 1 <= num_values <= MAX_PAGE_VALUES:
        raise InvalidInput(f"num_values must be 1-{MAX_PAGE_VALUES}", num_values=num_values)
    first = not after
    page = index.feature_values(feature, access, term=term or None, case_insensitive=case_insensitive,
                                ascending=sort_asc, after=after or None, limit=num_values, author=author,
                                author_version=author_version)
    tags: dict[str, list[FeatureValueTag]] = defaultdict(list)
    if page.items:
        for doc in index.annotations(access, kind=FV_TAG, feature=feature):
            tags[str(doc.get("feature_value"))].append(_fv_tag(doc))
    matcher = re.compile(re.escape(term), re.IGNORECASE if case_insensitive else 0) if term else None
    values = [ReadFeatureValuesValue(name=feature, value=row.value, tags=tags.get(row.value, []),
                                     newest_processed=row.newest or "",
                                     score=1 if matcher is not None and matcher.search(row.value) else 0)
              for row in page.items]
    complete = page.after is None
    total: int | None = None
    approx = False
    if first:
        if term:
            total, approx = len(values), not complete
        else:
            total = index.count_feature_values(feature, access, author=author, author_version=author_version)
    return ReadFeatureValues(name=feature, type=_declared_type(index, feature, access), values=values,
                             is_search_complete=complete, after=page.after, is_total_approx=approx, total=total)


def pivot(index: MetadataStore, pairs: Sequence[FeaturePivotRequest], access: Access) -> FeaturePivotResponse:
    """Features the binaries sharing every given (name, value) also share: for each feature plugins
    declare, its most common values over those binaries' documents (seen on two or more).

    Counts are document counts, as Azul's. Raises InvalidInput when no pairs are given.
    """
    if not pairs:
        raise InvalidInput("feature_values must name at least one feature value to pivot on")
    descriptions: dict[str, str] = {}
    for doc in index.plugins(access):
        for declared in (doc.get("entity") or {}).get("features") or ():
            if declared.get("name"):
                descriptions.setdefault(declared["name"], declared.get("desc") or "")
    result = index.pivot([(p.feature_name, p.feature_value) for p in pairs], access, names=list(descriptions),
                         max_binaries=PIVOT_MAX_BINARIES, size=PIVOT_BUCKETS)
    counts = [FeaturePivotNameWithValueCount(
        feature_name=name, feature_description=descriptions.get(name, ""),
        values_and_counts=[FeaturePivotValueCount(feature_value=v, entity_count=str(n)) for v, n in values])
        for name, values in sorted(result.counts.items()) if values]
    reason = ""
    if result.incomplete:
        reason = f"more than {PIVOT_MAX_BINARIES} binaries matched; only {result.binaries} were looked at"
    elif not result.binaries:
        reason = "No matches found"
    return FeaturePivotResponse(feature_value_counts=counts, incomplete_query=result.incomplete, reason=reason)


def feature_value_tags(index: MetadataStore, access: Access) -> ReadFeatureValueTags:
    """Every visible feature-value tag with how many distinct feature values carry it."""
    by_tag: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for doc in index.annotations(access, kind=FV_TAG):
        by_tag[doc["tag"]].add((doc.get("feature_name"), doc.get("feature_value")))
    tags = [ReadFeatureValueTagsTag(tag=t, num_feature_values=len(v)) for t, v in sorted(by_tag.items())]
    return ReadFeatureValueTags(tags=tags, num_tags=len(tags))


def tag_values(index: MetadataStore, tag: str, access: Access) -> ReadFeatureTagValues:
    """The visible feature values carrying one tag."""
    return ReadFeatureTagValues(items=[_fv_tag(d) for d in index.annotations(access, kind=FV_TAG, tag=tag)])
