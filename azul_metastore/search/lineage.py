"""The neighbourhood of a binary (``/nearby``, inventory §6.6): a walk of the lineage graph out from
a focus binary, collecting parent/child links and the sources its ancestors were submitted to.

The walk follows Azul's: the focus's parents and children first; then up to ten rounds extending
ancestors upwards and descendants downwards; with cousins, also the other children of ancestors and
the other parents of descendants, while the round is within the cousin distance and the number of
cousins under its limit. Once the graph holds more than 200 links, only two nodes are expanded per
direction and round, so a hub binary cannot make the answer unbounded. Every look-up passes the
caller's access, so a link the caller may not see is never followed or shown. Each step looks up
all the binaries it expands at once (``MetadataStore.linked_many``): on OpenSearch a search per
binary made the walk cost seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from azul_metastore.index.port import MetadataStore
from azul_metastore.search.models import ReadNearby, ReadNearbyLink
from azul_metastore.search.summary import event_source, node
from azul_metastore.security import Access

__all__ = ["COUSINS", "nearby"]

#: include_cousins → (most cousins, most rounds at which cousins are looked for)
COUSINS: dict[str, tuple[int, int]] = {"no": (0, 0), "yes_small": (100, 1), "yes": (100, 2), "yes_large": (250, 4)}
PER_NODE = 30
#: newest lineage documents of a binary read for the sources it was submitted to
SOURCE_DOCS = 200
ROUNDS = 10
CROWDED = 200
_LINEAGE_ACTIONS = ("sourced", "extracted", "mapped")


@dataclass
class _Walk:
    index: MetadataStore
    access: Access
    links: dict[str, ReadNearbyLink] = field(default_factory=dict)
    parents_done: set[str] = field(default_factory=set)
    children_done: set[str] = field(default_factory=set)

    def _add(self, link: ReadNearbyLink) -> None:
        self.links.setdefault(link.id, link)

    def _todo(self, nodes: list[str], done: set[str]) -> list[str]:
        """The binaries of ``nodes`` not yet expanded this way, now marked as expanded."""
        todo = [s for s in dict.fromkeys(nodes) if s not in done]
        done.update(todo)
        return todo

    def _linked(self, todo: list[str], pages: dict[str, list[dict[str, Any]]],
                related: Callable[[dict[str, Any]], str]) -> dict[str, list[str]]:
        """Link each binary of ``todo`` to its page of links; return each one's related binaries."""
        found: dict[str, list[str]] = {}
        for sha in todo:
            for doc in pages.get(sha, ()):
                self._link(doc)
                found.setdefault(sha, []).append(related(doc))
        return found

    def parents(self, nodes: list[str]) -> dict[str, list[str]]:
        """Link these binaries to their parents and to the sources they were submitted to directly;
        return each one's parents. The links and the documents naming the sources are read at once
        (``MetadataStore.gather``)."""
        todo = self._todo(nodes, self.parents_done)
        if not todo:
            return {}
        pages, docs = self.index.gather(
            lambda: self.index.linked_many(todo, self.access, "parents", PER_NODE),
            lambda: self.index.documents(todo, self.access, actions=_LINEAGE_ACTIONS, limit=SOURCE_DOCS * len(todo)))
        found = self._linked(todo, pages, lambda doc: doc["parent"]["sha256"])
        seen: dict[str, int] = {}
        for doc in docs:
            sha = doc["sha256"]
            seen[sha] = seen.get(sha, 0) + 1
            source = (doc.get("source") or {}).get("name")
            if source and (doc.get("depth") or 0) == 0 and seen[sha] <= SOURCE_DOCS:
                self._add(ReadNearbyLink(id=f"{doc.get('sha256_author_action')}{source}", child=sha,
                                         child_node=node(doc), source=event_source(doc)))
        return found

    def children(self, nodes: list[str]) -> dict[str, list[str]]:
        todo = self._todo(nodes, self.children_done)
        pages = self.index.linked_many(todo, self.access, "children", PER_NODE) if todo else {}
        return self._linked(todo, pages, lambda doc: doc["sha256"])

    def _link(self, doc: dict[str, Any]) -> None:
        parent = doc.get("parent") or {}
        if not parent.get("sha256") or parent["sha256"] == doc["sha256"] or doc.get("action") not in _LINEAGE_ACTIONS:
            return
        parent_saa = (parent.get("encoded") or {}).get("sha256_author_action") or parent["sha256"]
        self._add(ReadNearbyLink(id=f"{doc.get('sha256_author_action')}.{parent_saa}", child=doc["sha256"],
                                 parent=parent["sha256"], child_node=node(doc)))

    def expand(self, nodes: list[str], direction: Literal["parents", "children"]) -> list[str]:
        """One step of the walk from ``nodes`` (all of them in one look-up), the new binaries in order."""
        if len(self.links) > CROWDED:
            nodes = nodes[:2]
        step = self.parents(nodes) if direction == "parents" else self.children(nodes)
        found: list[str] = []
        for sha in nodes:
            found += [s for s in step.get(sha, ()) if s not in found]
        return found


def nearby(index: MetadataStore, sha256: str, access: Access, include_cousins: str = "yes") -> ReadNearby:
    """Links around ``sha256`` the caller may see (sorted by child, format known, source, parent)."""
    focus = sha256.lower()
    max_cousins, max_round = COUSINS.get(include_cousins, COUSINS["yes"])
    walk = _Walk(index, access)
    ups = walk.expand([focus], "parents")
    downs = walk.expand([focus], "children")
    cousins: set[str] = set()
    for round_ in range(1, ROUNDS + 1):
        new_ups = walk.expand(ups, "parents")
        new_downs = walk.expand(downs, "children")
        if max_cousins and round_ <= max_round and len(cousins) < max_cousins:
            side = walk.expand(ups, "children") + walk.expand(downs, "parents")
            side = [s for s in dict.fromkeys(side) if s != focus and s not in cousins][:max_cousins - len(cousins)]
            cousins.update(side)
            new_ups += [s for s in walk.expand(side, "parents") if s not in new_ups]
            new_downs += [s for s in walk.expand(side, "children") if s not in new_downs]
        ups, downs = new_ups, new_downs
        if not ups and not downs:
            break
    links = sorted(walk.links.values(), key=lambda link: (
        link.child, link.child_node.file_format is None, link.source.name if link.source else "", link.parent or ""))
    return ReadNearby(id_focus=focus, links=links)
