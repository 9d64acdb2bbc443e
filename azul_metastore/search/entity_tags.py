"""Reading entity tags (tags users put on binaries, inventory §4.9): every tag in use with how many
binaries carry it, and one binary's tags. Writing tags lives with the other annotation writes."""

from __future__ import annotations

from collections import defaultdict

from azul_metastore.index.port import MetadataStore
from azul_metastore.search.find import tags_of
from azul_metastore.search.models import ReadAllEntityTags, ReadTags, ReadTagsTag
from azul_metastore.security import Access

__all__ = ["all_tags", "binary_tags"]

#: tags listed at most (as Azul)
MAX_TAGS = 1000


def all_tags(index: MetadataStore, access: Access) -> ReadTags:
    """Enabled entity tags the caller can see, most used first, with the binaries carrying each."""
    binaries: dict[str, set[str]] = defaultdict(set)
    for doc in index.annotations(access, kind="entity_tag"):
        if doc.get("tag") and doc.get("sha256"):
            binaries[doc["tag"]].add(doc["sha256"])
    ranked = sorted(binaries.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    tags = [ReadTagsTag(tag=tag, num_entities=len(shas), num_entities_approx=False) for tag, shas in ranked[:MAX_TAGS]]
    return ReadTags(tags=tags, num_tags=len(ranked), num_tags_approx=False)


def binary_tags(index: MetadataStore, sha256: str, access: Access) -> ReadAllEntityTags:
    """One binary's enabled entity tags that the caller can see."""
    return ReadAllEntityTags(items=tags_of(index, sha256.lower(), access, limit=10_000))
