"""Keeping purged documents purged: the indexer asks the index which of the documents it is about
to write were purged, and drops those whose event is not newer than the purge.

Two kinds of tombstone, kept in the same place (``MetadataStore.bury``):

* document ids: what a purge actually deleted, cascade included (descendants that lost their last
  parent, their results, their statuses). Replaying the selectors would have to repeat that
  reasoning exactly, on events that arrive in any order; the ids say it once;
* rules (``~kind:value``, :func:`purge_rule`) for submission, link and author purges: what the purge
  asked for. They catch the documents of events that were still in the log, not yet indexed, when
  the purge ran (an ingestor lagging behind): no id names those. A document answers to the rules
  :func:`rule_keys` derives from its fields: a submission is named exactly by its reference set
  and time, which every event below its root carries, a link by its id, an author's output by
  ``track_author``.

Why "not newer than the purge": a binary submitted again after a purge, and a plugin's new result
for it, are new data and must be indexed (their events carry a later timestamp); only the replayed
and the delayed history is dropped.

No rule for a binary purge, nor for the binaries a cascade removes: "this binary" would also drop
the delayed events of other submissions of it, and an archive re-imported with its old timestamps,
which are not what was purged. Delayed results (``enriched``) of a binary a cascade removed name no
submission either: they are indexed, and the binary, with no submission, goes at the next age-off
(``delete_orphans``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from azul_metastore.index.documents import Document
from azul_metastore.index.port import MetadataStore
from azul_metastore.index.timestamps import parse_timestamp

__all__ = ["RULE_KINDS", "drop_buried", "purge_rule", "rule_keys"]


#: the purges that leave a rule
RuleKind = Literal["submission", "link", "author"]
RULE_KINDS: tuple[RuleKind, ...] = ("submission", "link", "author")


def purge_rule(kind: RuleKind, value: str, timestamp: str | None = None) -> str:
    """The tombstone id of a rule; ``timestamp`` is a submission's ``source.timestamp`` (UTC text).
    Document ids never start with ``~``."""
    return f"~{kind}:{value}:{timestamp}" if kind == "submission" else f"~{kind}:{value}"


def rule_keys(doc: Document) -> list[str]:
    """The rules a binary2 document falls under: its submission, link and author."""
    if doc.doc_type != "binary2":
        return []
    body = doc.body
    keys = []
    source = body.get("source")
    if isinstance(source, dict) and body.get("track_source_references") and source.get("timestamp"):
        keys.append(purge_rule("submission", body["track_source_references"], source["timestamp"]))
    if body.get("track_link"):
        keys.append(purge_rule("link", body["track_link"]))
    # an author purge selects documents the author made and the children it extracted (their
    # link names it as the parent's author), so both fall under its rule
    for author in {body.get("track_author"), body.get("parent_track_author")} - {None, ""}:
        keys.append(purge_rule("author", author))
    return keys


def drop_buried(store: MetadataStore, docs: Sequence[Document]) -> tuple[list[Document], int]:
    """``docs`` without the ones a purge buried (by id or by rule); returns (kept, how many were
    dropped).

    Only documents with an event ``timestamp`` are checked: binary parent documents (id = sha256)
    carry none and are left to the orphan clean-up, since a later submission needs them.
    """
    stamped = {d.id: [d.id, *rule_keys(d)] for d in docs if d.body.get("timestamp")}
    wanted = sorted({key for keys in stamped.values() for key in keys})
    graves = store.buried(wanted) if wanted else {}
    if not graves:
        return list(docs), 0
    kept: list[Document] = []
    dropped = 0
    for doc in docs:
        times = [graves[key] for key in stamped.get(doc.id, ()) if key in graves]
        if times and parse_timestamp(doc.body["timestamp"]) <= max(map(parse_timestamp, times)):
            dropped += 1
            continue
        kept.append(doc)
    return kept, dropped
