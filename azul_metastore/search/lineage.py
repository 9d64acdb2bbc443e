"""The neighbourhood of a binary (``/nearby``, inventory §6.6): a walk of the lineage graph out from
a focus binary, collecting parent/child links and the sources its ancestors were submitted to.

The walk follows Azul's: the focus's parents and children first; then up to ten rounds extending
ancestors upwards and descendants downwards; with cousins, also the other children of ancestors and
the other parents of descendants, while the round is within the cousin distance and the number of
cousins under its limit. Once the graph holds more than 200 links, only two nodes are expanded per
direction and round, so a hub binary cannot make the answer unbounded. Every look-up passes the
caller's access, so a link the caller may not see is never followed or shown. Each step looks up
all the binaries it expands at once (``MetadataStore.linked_many``): on OpenSearch a search per
binary made the walk cost seconds. The steps of a round are read at once too (``expand_all``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
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
#: the fields of a document a link or a source of the walk is made from (its features, most of
#: its size, are not read: on OpenSearch that took a walk's client CPU from 13.0 to 10.8 ms p50)
_LINK_FIELDS = ("sha256", "action", "timestamp", "author", "sha256_author_action", "parent", "parent_relationship",
                "file_format", "size", "filename", "track_link", "depth", "source", "track_source_references")
Direction = Literal["parents", "children"]


@dataclass
class _Walk:
    index: MetadataStore
    access: Access
    links: dict[str, ReadNearbyLink] = field(default_factory=dict)
    parents_done: set[str] = field(default_factory=set)
    children_done: set[str] = field(default_factory=set)

    def _add(self, link: ReadNearbyLink) -> None:
        self.links.setdefault(link.id, link)

    def _todo(self, nodes: list[str], direction: Direction) -> list[str]:
        """The binaries this step expands: ``nodes`` (only the first two once the walk is crowded)
        not yet expanded in ``direction``."""
        if len(self.links) > CROWDED:
            nodes = nodes[:2]
        done = self.parents_done if direction == "parents" else self.children_done
        return [s for s in dict.fromkeys(nodes) if s not in done]

    def _links(self, todo: list[str], direction: Direction) -> Callable[[], Any]:
        return partial(self.index.linked_many, todo, self.access, direction, PER_NODE, _LINK_FIELDS)

    def _sources_of(self, todo: list[str]) -> Callable[[], Any]:
        """The read of the lineage documents naming the sources ``todo`` were submitted to directly."""
        return partial(self.index.documents, todo, self.access, actions=_LINEAGE_ACTIONS,
                       limit=SOURCE_DOCS * len(todo), fields=_LINK_FIELDS)

    def _reads(self, todo: list[str], direction: Direction) -> list[Callable[[], Any]]:
        """The reads of one step: the links of ``todo``, and for parents their sources."""
        if not todo:
            return []
        return [self._links(todo, direction)] + ([self._sources_of(todo)] if direction == "parents" else [])

    def expand_all(self, steps: list[tuple[list[str], Direction]]) -> list[list[str]]:
        """Steps of the walk (nodes, direction), each as :meth:`expand` would make it after the ones
        before it, with the reads of all of them made at once (``MetadataStore.gather``).

        Each step's binaries are worked out before any step is applied; a step whose binaries have
        changed by its turn (an earlier step made the walk crowded, or expanded some of them the
        same way) reads again for exactly those, so the walk is the one-step-at-a-time walk. A round
        of the walk used to be up to six round trips one after another.

        The links of steps in the same direction are one read: ``linked_many`` answers for each
        binary what it would answer for that binary alone. That is a third fewer searches in a
        round with cousins. Sources stay one read per step: their limit is on the step as a whole."""
        planned = [self._todo(nodes, direction) for nodes, direction in steps]
        linked: dict[Direction, list[str]] = {}
        for todo, (_, direction) in zip(planned, steps, strict=True):
            linked[direction] = list(dict.fromkeys([*linked.get(direction, ()), *todo]))
        directions = [direction for direction, shas in linked.items() if shas]
        sources = [i for i, (todo, (_, direction)) in enumerate(zip(planned, steps, strict=True))
                   if todo and direction == "parents"]
        answers = self.index.gather(*(self._links(linked[d], d) for d in directions),
                                    *(self._sources_of(planned[i]) for i in sources))
        links = dict(zip(directions, answers, strict=False))
        docs = dict(zip(sources, answers[len(directions):], strict=True))
        return [self._apply(nodes, direction, todo, [links.get(direction, {}), docs.get(i, [])])
                for i, ((nodes, direction), todo) in enumerate(zip(steps, planned, strict=True))]

    def expand(self, nodes: list[str], direction: Direction) -> list[str]:
        """One step of the walk from ``nodes`` (all of them in one look-up), the new binaries in order."""
        return self.expand_all([(nodes, direction)])[0]

    def _apply(self, nodes: list[str], direction: Direction, planned: list[str], got: list[Any]) -> list[str]:
        todo = self._todo(nodes, direction)
        if todo != planned:  # the walk moved since the reads were planned
            got = self.index.gather(*self._reads(todo, direction))
        (self.parents_done if direction == "parents" else self.children_done).update(todo)
        step: dict[str, list[str]] = {}
        if todo:
            related = (lambda doc: doc["parent"]["sha256"]) if direction == "parents" else (lambda doc: doc["sha256"])
            for sha in todo:
                for doc in got[0].get(sha, ()):
                    self._link(doc)
                    step.setdefault(sha, []).append(related(doc))
            if direction == "parents":
                self._sources(got[1])
        found: list[str] = []
        for sha in nodes:
            found += [s for s in step.get(sha, ()) if s not in found]
        return found

    def answer(self, focus: str) -> ReadNearby:
        """The links found, sorted by child, format known, source, parent."""
        links = sorted(self.links.values(), key=lambda link: (
            link.child, link.child_node.file_format is None, link.source.name if link.source else "",
            link.parent or ""))
        return ReadNearby(id_focus=focus, links=links)

    def _sources(self, docs: list[dict[str, Any]]) -> None:
        """Link binaries to the sources they were submitted to directly (their depth-0 documents)."""
        seen: dict[str, int] = {}
        for doc in docs:
            sha = doc["sha256"]
            seen[sha] = seen.get(sha, 0) + 1
            source = (doc.get("source") or {}).get("name")
            if source and (doc.get("depth") or 0) == 0 and seen[sha] <= SOURCE_DOCS:
                self._add(ReadNearbyLink(id=f"{doc.get('sha256_author_action')}{source}", child=sha,
                                         child_node=node(doc), source=event_source(doc)))

    def _link(self, doc: dict[str, Any]) -> None:
        parent = doc.get("parent") or {}
        if not parent.get("sha256") or parent["sha256"] == doc["sha256"] or doc.get("action") not in _LINEAGE_ACTIONS:
            return
        parent_saa = (parent.get("encoded") or {}).get("sha256_author_action") or parent["sha256"]
        self._add(ReadNearbyLink(id=f"{doc.get('sha256_author_action')}.{parent_saa}", child=doc["sha256"],
                                 parent=parent["sha256"], child_node=node(doc)))


def nearby(index: MetadataStore, sha256: str, access: Access, include_cousins: str = "yes") -> ReadNearby:
    """Links around ``sha256`` the caller may see (sorted by child, format known, source, parent)."""
    focus = sha256.lower()
    max_cousins, max_round = COUSINS.get(include_cousins, COUSINS["yes"])
    walk = _Walk(index, access)
    ups, downs = walk.expand_all([([focus], "parents"), ([focus], "children")])
    cousins: set[str] = set()
    for round_ in range(1, ROUNDS + 1):
        with_cousins = bool(max_cousins and round_ <= max_round and len(cousins) < max_cousins)
        steps: list[tuple[list[str], Direction]] = [(ups, "parents"), (downs, "children")]
        if with_cousins:
            steps += [(ups, "children"), (downs, "parents")]
        new_ups, new_downs, *sides = walk.expand_all(steps)
        if with_cousins:
            side = [s for s in dict.fromkeys(sides[0] + sides[1]) if s != focus and s not in cousins]
            side = side[:max_cousins - len(cousins)]
            cousins.update(side)
            side_ups, side_downs = walk.expand_all([(side, "parents"), (side, "children")])
            new_ups += [s for s in side_ups if s not in new_ups]
            new_downs += [s for s in side_downs if s not in new_downs]
        ups, downs = new_ups, new_downs
        if not ups and not downs:
            break
    return walk.answer(focus)
