"""Keeping purged documents purged: the indexer asks the index which of the documents it is about
to write were purged, and drops those whose event is not newer than the purge.

Why document ids and not the purge selectors: a purge cascades (descendants that lost their last
parent, their results, their statuses), and replaying the selectors would have to repeat that
reasoning exactly, on events that arrive in any order. The ids of what was actually deleted say it
once. Why "not newer than the purge": a binary submitted again after a purge, and a plugin's new
result for it, are new data and must be indexed (their events carry a later timestamp); only the
replayed history is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from azul_metastore.index.documents import Document
from azul_metastore.index.port import MetadataStore
from azul_metastore.index.timestamps import parse_timestamp

__all__ = ["drop_buried"]


def drop_buried(store: MetadataStore, docs: Sequence[Document]) -> tuple[list[Document], int]:
    """``docs`` without the ones a purge buried; returns (kept, how many were dropped).

    Only documents with an event ``timestamp`` are checked: binary parent documents (id = sha256)
    carry none and are left to the orphan clean-up, since a later submission needs them.
    """
    stamped = [d.id for d in docs if d.body.get("timestamp")]
    graves = store.buried(stamped) if stamped else {}
    if not graves:
        return list(docs), 0
    kept: list[Document] = []
    dropped = 0
    for doc in docs:
        purged_at = graves.get(doc.id)
        if purged_at is not None and parse_timestamp(doc.body["timestamp"]) <= parse_timestamp(purged_at):
            dropped += 1
            continue
        kept.append(doc)
    return kept, dropped
