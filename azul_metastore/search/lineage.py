"""The neighbourhood of a binary (``/nearby``, inventory §6.6): a walk of the lineage graph out from
a focus binary, collecting parent/child links and the sources its ancestors were submitted to.

The walk follows Azul's: the focus's parents and children first; then up to ten rounds extending
ancestors upwards and descendants downwards; with cousins, also the other children of ancestors and
the other parents of descendants, while the round is within the cousin distance and the number of
cousins under its limit. Once the graph holds more than 200 links, only two nodes are expanded per
direction and round, so a hub binary cannot make the answer unbounded. Every look-up passes the
caller's access, so a link the caller may not see is never followed or shown. Each step looks up
all the binaries it expands at once (``MetadataStore.linked_many``): on OpenSearch a search per
binary made the walk cost seconds. The steps of a round are read at once too (``expand_all``), in
two reads at most (links down; lineage documents up, which hold both the links to parents and the
sources), and with a round's cousins go the reads of the next round's steps from what is known by
then. Where a read is a round trip (``MetadataStore.round_trips``), the read of children also takes
the link documents whose recorded path passed through them (``lineage_below``), the read up the
paths above, and the next reads take, exactly, the binaries those paths name several levels up and
down: a chain is then read in two rounds, not one per level.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
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
#: link documents of a read of children with the paths through them (``MetadataStore.lineage_below``)
GUESS_DOCS = 500
#: binaries a read of the walk reads ahead on guesses, each way
READ_AHEAD = 64
_LINEAGE_ACTIONS = ("sourced", "extracted", "mapped")
#: the fields of a document a link or a source of the walk is made from (its features, most of
#: its size, are not read: on OpenSearch that took a walk's client CPU from 13.0 to 10.8 ms p50)
_LINK_FIELDS = ("sha256", "action", "timestamp", "author", "sha256_author_action", "parent", "parent_relationship",
                "file_format", "size", "filename", "track_link", "depth", "source", "track_source_references",
                "ancestors")
Direction = Literal["parents", "children"]


@dataclass
class _Walk:
    index: MetadataStore
    access: Access
    links: dict[str, ReadNearbyLink] = field(default_factory=dict)
    parents_done: set[str] = field(default_factory=set)
    children_done: set[str] = field(default_factory=set)
    #: direction → binary → its link documents, as ``linked_many`` answers for it alone
    known_links: dict[Direction, dict[str, list[dict[str, Any]]]] = field(
        default_factory=lambda: {"parents": {}, "children": {}})
    #: binary → every one of its lineage documents that names sources (from a read that was not cut
    #: by its limit), newest first
    known_sources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: a step's binaries → what the read of that step's sources answered (cut by its limit or not)
    step_sources: dict[tuple[str, ...], list[dict[str, Any]]] = field(default_factory=dict)
    #: whether the walk reads ahead on guesses (``MetadataStore.round_trips`` when not given)
    guessing: bool | None = None
    #: direction → binaries the recorded paths read so far say the walk is likely to expand that
    #: way, nearest first
    likely: dict[Direction, dict[str, None]] = field(default_factory=lambda: {"parents": {}, "children": {}})
    #: the binary the walk is about, and how many levels above it ancestors are expanded down too
    #: (the cousin rounds): an ancestor further up is not read ahead down
    focus: str = ""
    reach: int = ROUNDS
    #: binaries whose recorded paths were read, or that such a read found below one
    paths_read: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.guessing is None:
            self.guessing = self.index.round_trips

    def _add(self, link: ReadNearbyLink) -> None:
        self.links.setdefault(link.id, link)

    def _todo(self, nodes: list[str], direction: Direction) -> list[str]:
        """The binaries this step expands: ``nodes`` (only the first two once the walk is crowded)
        not yet expanded in ``direction``."""
        if len(self.links) > CROWDED:
            nodes = nodes[:2]
        done = self.parents_done if direction == "parents" else self.children_done
        return [s for s in dict.fromkeys(nodes) if s not in done]

    def _reads(self, steps: list[tuple[list[str], Direction]],
               ahead: Sequence[tuple[list[str], Direction]] = ()) -> list[list[str]]:
        """Read what ``steps`` need and ``ahead`` will (the binaries each would expand now) and is not
        known yet, all at once (``MetadataStore.gather``), in two reads at most: the links of every
        binary expanded down, in one read; and the lineage documents of every binary expanded up or
        whose sources a step needs, in another (``_read_lineage``). A walk that reads ahead adds to
        both the binaries the recorded paths read so far name (``_ahead``), and reads links down
        with the paths through them (``lineage_below``). Returns each step's binaries."""
        planned = [self._todo(nodes, direction) for nodes, direction in steps]
        later = [(self._todo(nodes, direction), direction) for nodes, direction in ahead]
        linked: dict[Direction, list[str]] = {}
        for todo, direction in [*zip(planned, (d for _, d in steps), strict=True), *later]:
            known = self.known_links[direction]
            linked[direction] = list(dict.fromkeys([*linked.get(direction, ()),
                                                     *(s for s in todo if s not in known)]))
        sourced = [todo for todo, (_, direction) in zip(planned, steps, strict=True)
                   if direction == "parents" and not self._sourced(todo)]
        reading = {s for todo in sourced for s in todo}
        upcoming = list(dict.fromkeys(s for todo, direction in later if direction == "parents" for s in todo
                                      if s not in self.known_sources and s not in reading))
        if upcoming:
            sourced.append(upcoming)
        # reading ahead rides along with a read the walk makes anyway: never a round trip of its own
        reading_ahead = bool(self.guessing and len(self.links) <= CROWDED and (any(linked.values()) or sourced))
        if reading_ahead:
            for direction, guessed in self._ahead().items():
                linked[direction] = list(dict.fromkeys([*linked.get(direction, ()), *guessed]))
        ups = list(dict.fromkeys([*linked.get("parents", ()), *(s for todo in sourced for s in todo)]))
        downs = linked.get("children", [])
        through = [s for s in downs if s not in self.paths_read][:READ_AHEAD] if reading_ahead else []
        reads: dict[str, Callable[[], Any]] = {}
        if downs and reading_ahead:
            reads["downs"] = partial(self.index.lineage_below, downs, through, self.access, GUESS_DOCS, _LINK_FIELDS)
        elif downs:
            reads["downs"] = partial(self.index.linked_many, downs, self.access, "children", PER_NODE, _LINK_FIELDS)
        if ups:
            reads["ups"] = partial(self._read_lineage, ups)
        answers = dict(zip(reads, self.index.gather(*reads.values()), strict=True))
        if downs and reading_ahead:
            self._learn_below(downs, through, answers["downs"])
        elif downs:
            self.known_links["children"].update({sha: answers["downs"].get(sha, []) for sha in downs})
        if not ups:
            return planned
        if (lineage := answers["ups"]) is None:  # cut by its limit: each read on its own
            self._reads_apart(linked.get("parents", []), sourced)
            return planned
        if reading_ahead:  # the paths above the binaries read up
            self._guess_above(lineage)
        for todo in sourced:
            mine = set(todo)
            self._learn_sources(todo, [doc for doc in lineage if doc["sha256"] in mine][:SOURCE_DOCS * len(todo)])
        return planned

    def _ahead(self) -> dict[Direction, list[str]]:
        """Each way, the likely binaries not read that way yet, nearest first, READ_AHEAD at most."""
        return {direction: list(islice((s for s in likely if s not in self.known_links[direction]), READ_AHEAD))
                for direction, likely in self.likely.items()}

    def _likely(self, directions: Sequence[Direction], binaries: Iterable[str]) -> None:
        for sha in binaries:
            for direction in directions:
                self.likely[direction].setdefault(sha)

    def _guess_above(self, docs: list[dict[str, Any]]) -> None:
        """The binaries the paths of lineage documents passed through are likely to be expanded up;
        those the focus's paths passed through within ``reach`` levels, down as well (cousins)."""
        for doc in docs:
            chain = list(reversed(doc.get("ancestors") or ()))
            near = self.reach if doc["sha256"] == self.focus else 0
            self._likely(("parents", "children"), chain[:near])
            self._likely(("parents",), chain[near:])

    def _learn_below(self, downs: list[str], through: list[str], docs: list[dict[str, Any]]) -> None:
        """Learn the links to children of ``downs`` from their read with the paths through
        ``through`` (``lineage_below``), and from those paths where the walk is likely to go.

        The links of a binary are what ``linked_many`` answers for it: the read orders documents as
        that one does (parent, child, newest first), so the first of each child is the one it keeps.
        When the read was cut by its limit, the binaries from the last parent it reached on are
        read on their own (a hub and its thousands of children, say).

        Why guess: a walk learns a level of the graph per round, and on a server a round is a round
        trip; a chain of descendants cost a round per level, and a walk up to nine. What is read
        ahead on a guess is read exactly, so a wrong guess costs only what was read for nothing,
        never a different answer."""
        last = docs[-1]["parent"]["sha256"] if len(docs) >= GUESS_DOCS else None
        pages: dict[str, list[dict[str, Any]]] = {sha: [] for sha in downs if last is None or sha < last}
        for doc in docs:
            page = pages.get(doc["parent"]["sha256"])
            if page is None or (page and page[-1]["sha256"] == doc["sha256"]) or len(page) == PER_NODE:
                continue  # not asked about, an older link to the same child, or past the page
            page.append(doc)
        self.known_links["children"].update(pages)
        if unread := [sha for sha in downs if sha not in pages]:
            more = self.index.linked_many(unread, self.access, "children", PER_NODE, _LINK_FIELDS)
            self.known_links["children"].update({sha: more.get(sha, []) for sha in unread})
        mine = set(through)
        below = sorted((doc for doc in docs if mine.intersection(doc.get("ancestors") or ())),
                       key=lambda doc: doc.get("depth") or 0)
        self.paths_read.update(through)
        self.paths_read.update(doc["sha256"] for doc in below)
        self._likely(("parents", "children"), (s for doc in below for s in (doc["parent"]["sha256"], doc["sha256"])))

    def _read_lineage(self, binaries: list[str]) -> list[dict[str, Any]] | None:
        """Every lineage document of ``binaries`` (newest first), learning from them their links to
        parents (``known_links``) and their sources (``known_sources``); None, learning nothing, when
        the read was cut by its limit.

        Why: a binary's links to parents are lineage documents of its own (only extracted and mapped
        documents name a parent: ``Encoder._link``), the ones its sources are read from. Read apart,
        on OpenSearch, they were two or three searches of every round of a walk going up, with a
        search costing the node a few milliseconds whatever it finds. :func:`_parent_links` picks
        from them what ``linked_many`` answers: both reads order a binary's documents newest first
        with the same tie-break (the embedded index's document id; OpenSearch's shard and document
        order)."""
        limit = SOURCE_DOCS * len(binaries)
        docs = self.index.documents(binaries, self.access, actions=_LINEAGE_ACTIONS, limit=limit, fields=_LINK_FIELDS)
        if len(docs) >= limit:
            return None
        self._learn_sources(binaries, docs)
        self.known_links["parents"].update({sha: _parent_links(self.known_sources[sha]) for sha in binaries})
        return docs

    def _reads_apart(self, parents: list[str], sourced: list[list[str]]) -> None:
        """The links to parents of ``parents`` and the sources of each ``sourced`` step, read apart:
        when their binaries have more lineage documents than one read of them all takes."""
        answers = self.index.gather(
            *([partial(self.index.linked_many, parents, self.access, "parents", PER_NODE, _LINK_FIELDS)]
              if parents else []),
            *(partial(self.index.documents, todo, self.access, actions=_LINEAGE_ACTIONS,
                      limit=SOURCE_DOCS * len(todo), fields=_LINK_FIELDS) for todo in sourced))
        if parents:
            self.known_links["parents"].update({sha: answers[0].get(sha, []) for sha in parents})
        for todo, docs in zip(sourced, answers[1 if parents else 0:], strict=True):
            self._learn_sources(todo, docs)

    def _sourced(self, todo: list[str]) -> bool:
        """Whether the sources of a step expanding ``todo`` are known without a read."""
        return tuple(todo) in self.step_sources or all(s in self.known_sources for s in todo)

    def _learn_sources(self, todo: list[str], docs: list[dict[str, Any]]) -> None:
        """Keep the answer of a read of ``todo``'s sources for the step of exactly those binaries,
        and each binary's documents when the read returned all of them (fewer than its limit)."""
        self.step_sources[tuple(todo)] = docs
        if len(docs) >= SOURCE_DOCS * len(todo):
            return
        mine: dict[str, list[dict[str, Any]]] = {sha: [] for sha in todo}
        for doc in docs:
            mine.setdefault(doc["sha256"], []).append(doc)
        self.known_sources.update(mine)

    def _step_sources(self, todo: list[str]) -> list[dict[str, Any]]:
        """What the read of a step's sources answers: that read's answer when it was made; otherwise
        every binary's known documents, newest first, cut at the step's limit. Each binary's own
        documents keep the order the index gave them (a merge, not a sort of the timestamps' text):
        that order is the one that matters, as links and sources are per binary."""
        if (read := self.step_sources.get(tuple(todo))) is not None:
            return read
        merged = heapq.merge(*(self.known_sources[sha] for sha in todo),
                             key=lambda doc: doc.get("timestamp") or "", reverse=True)
        return list(islice(merged, SOURCE_DOCS * len(todo)))

    def expand_all(self, steps: list[tuple[list[str], Direction]],
                   ahead: Sequence[tuple[list[str], Direction]] = ()) -> list[list[str]]:
        """Steps of the walk (nodes, direction), each as :meth:`expand` would make it after the ones
        before it, with the reads of all of them made at once; and the reads of the steps ``ahead``
        (what a later call is expected to expand) made with them, so that call finds them known.

        Each step's binaries are worked out before any step is applied; a step whose binaries have
        changed by its turn (an earlier step made the walk crowded, or expanded some of them the
        same way) reads what it lacks then, so the walk is the one-step-at-a-time walk. A round of
        the walk used to be up to six round trips one after another.

        What is read is kept per binary: ``linked_many`` answers for each binary what it would
        answer for that binary alone, and a sources read not cut by its limit holds every document
        of each of its binaries. A step all of whose binaries are known reads nothing."""
        self._reads(steps, ahead)
        return [self._apply(nodes, direction) for nodes, direction in steps]

    def expand(self, nodes: list[str], direction: Direction) -> list[str]:
        """One step of the walk from ``nodes`` (all of them in one look-up), the new binaries in order."""
        return self.expand_all([(nodes, direction)])[0]

    def _apply(self, nodes: list[str], direction: Direction) -> list[str]:
        todo = self._todo(nodes, direction)
        if any(s not in self.known_links[direction] for s in todo) or (
                direction == "parents" and not self._sourced(todo)):
            self._reads([(nodes, direction)])  # the walk moved since the reads were planned
        (self.parents_done if direction == "parents" else self.children_done).update(todo)
        step: dict[str, list[str]] = {}
        if todo:
            related = (lambda doc: doc["parent"]["sha256"]) if direction == "parents" else (lambda doc: doc["sha256"])
            for sha in todo:
                for doc in self.known_links[direction][sha]:
                    self._link(doc)
                    step.setdefault(sha, []).append(related(doc))
            if direction == "parents":
                self._sources(self._step_sources(todo))
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
    walk = _Walk(index, access, focus=focus, reach=max_round if max_cousins else 0)
    ups, downs = walk.expand_all([([focus], "parents"), ([focus], "children")])
    cousins: set[str] = set()
    for round_ in range(1, ROUNDS + 1):
        steps = _round(ups, downs, round_, cousins, max_cousins, max_round)
        new_ups, new_downs, *sides = walk.expand_all(steps)
        if sides:
            side = [s for s in dict.fromkeys(sides[0] + sides[1]) if s != focus and s not in cousins]
            side = side[:max_cousins - len(cousins)]
            cousins.update(side)
            ahead = _round(new_ups, new_downs, round_ + 1, cousins, max_cousins, max_round)
            side_ups, side_downs = walk.expand_all([(side, "parents"), (side, "children")], ahead)
            new_ups += [s for s in side_ups if s not in new_ups]
            new_downs += [s for s in side_downs if s not in new_downs]
        ups, downs = new_ups, new_downs
        if not ups and not downs:
            break
    return walk.answer(focus)


def _round(ups: list[str], downs: list[str], round_: int, cousins: set[str], max_cousins: int,
           max_round: int) -> list[tuple[list[str], Direction]]:
    """The steps of round ``round_`` from ``ups`` and ``downs``: ancestors up, descendants down,
    and with cousins (while the round is within the cousin distance and their number under its
    limit) ancestors down and descendants up. A round's steps from the ancestors and descendants
    known before the previous round's cousins are expanded are read with those cousins: that leaves
    the round to read only what the cousins add (often nothing, and then no read at all)."""
    if round_ > ROUNDS:
        return []
    steps: list[tuple[list[str], Direction]] = [(ups, "parents"), (downs, "children")]
    if max_cousins and round_ <= max_round and len(cousins) < max_cousins:
        steps += [(ups, "children"), (downs, "parents")]
    return steps


def _parent_links(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``linked_many(..., "parents", PER_NODE)`` answers for a binary, from its lineage documents
    (newest first): its parents in sha256 order, the newest document linking it to each."""
    linking = sorted((doc for doc in docs if (doc.get("parent") or {}).get("sha256")),
                     key=lambda doc: doc["parent"]["sha256"])  # stable: newest first within a parent
    out: list[dict[str, Any]] = []
    for doc in linking:
        if out and out[-1]["parent"]["sha256"] == doc["parent"]["sha256"]:
            continue
        if len(out) == PER_NODE:
            break
        out.append(doc)
    return out
