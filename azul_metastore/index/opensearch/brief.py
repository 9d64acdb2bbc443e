"""The brief of a binary2 metadata document: the document without its features, kept as one stored
field (``brief``) beside ``_source``.

Why: a read wanting a few fields of each document (a lineage walk's links, a find's submissions)
asked for ``_source`` filtered to them, and to filter it the node parses the whole source, features
and all. At 1,000,000 binaries the submissions of a page of 100 found binaries (about 120 documents)
took 10.7 ms that way (p50; 16 at p90) and 4.4 ms when nothing of the documents was read (the
floor a brief can reach). The brief is a small JSON
text the node hands back as stored, without parsing it. Features are most of a document (2.2 of 3.8
KB on average in ``bench.generator``'s documents, and they grow with the plugins run); a brief is
about a quarter of it. Storing briefs cost 3.5 % more bulk time and 15 % more store in an A/B of
30,000 events.

A read uses briefs only when every binary2 index of the partition has one for every document, which
holds for indices made from template 20261127 on. Partitions with older indices read ``_source`` as
before (``OpenSearchMetadataStore.briefs``).

Since template 20261130 ``_source`` keeps the brief and ``features_num`` (:data:`INDEXED_ONLY`) instead
of excluding them: a mapping's ``_source`` excludes make the node parse and re-serialise every
document it indexes, a third of its indexing work. Reads drop them (:func:`document`), so a document
reads back as it was ingested whichever template made its index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from azul_metastore.index.opensearch import feature_fields

__all__ = ["FIELD", "HEAVY", "INDEXED_ONLY", "document", "of", "request", "source"]

#: the stored field holding a document's brief
FIELD = "brief"
#: top-level fields a brief leaves out: the features and what is derived from them, the bulk of a
#: document
HEAVY = frozenset({"features", "features_map", "features_num", "info", "uniq_features", "uniq_info", "uniq_data",
                   "tlsh_vector", "entropy_vector", "encoded_ssdeep"})
#: top-level fields the adapter adds to a metadata document for the index's sake (the brief, the
#: numbers among feature values): in ``_source``, never in a document read back
INDEXED_ONLY = (FIELD, "features_num")


def of(body: dict[str, Any]) -> str:
    """The brief of a metadata document's body."""
    return orjson.dumps({key: value for key, value in body.items() if key not in HEAVY}).decode()


def document(source: dict[str, Any]) -> dict[str, Any]:
    """A metadata document's ``_source`` as it was ingested: without :data:`INDEXED_ONLY`."""
    if any(key in source for key in INDEXED_ONLY):
        source = {key: value for key, value in source.items() if key not in INDEXED_ONLY}
    return feature_fields.read_back(source)


def request(briefs: bool, fields: Sequence[str]) -> dict[str, Any]:
    """The part of a search body reading ``fields`` (top-level or dotted names) of each hit: from its
    brief when the partition has ``briefs`` and the brief holds them all, else from ``_source``
    filtered to them (the whole of it when none are named)."""
    if briefs and fields and all(name.split(".", 1)[0] not in HEAVY for name in fields):
        return {"_source": False, "stored_fields": [FIELD]}
    return {"_source": list(fields) or True}


def source(hit: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """A hit's document as ``_source`` filtering to ``fields`` would give it, from its brief when it
    has one: the top-level fields ``fields`` name (a dotted name keeps its whole top-level field)."""
    stored = (hit.get("fields") or {}).get(FIELD)
    if not stored:
        return document(hit.get("_source") or {})
    doc = orjson.loads(stored[0])
    tops = dict.fromkeys(name.split(".", 1)[0] for name in fields)
    return {key: doc[key] for key in tops if key in doc}
