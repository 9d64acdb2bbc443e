"""The nearby walk reads each round's steps at once (``_Walk.expand_all``); on every adapter it must
give the walk made one step at a time, including when a step changes what a later one expands
(the walk becoming crowded part-way through a round)."""

# ruff: noqa: F811 - pytest fixtures imported from tests/support/index_stores.py are parameters here
from __future__ import annotations

import pytest

from azul_metastore.index.port import MetadataStore
from azul_metastore.search import lineage
from azul_metastore.search.models import ReadNearby
from tests.support.events import binary_event, sha256_of
from tests.support.index_data import Oracle
from tests.support.index_stores import dataset, loaded, store  # noqa: F401 (fixtures)


def one_step_at_a_time(index: MetadataStore, focus: str, access, include_cousins: str) -> ReadNearby:
    """The walk as written before its reads were overlapped: every step read and applied in turn,
    nothing read ahead."""
    max_cousins, max_round = lineage.COUSINS[include_cousins]
    walk = lineage._Walk(index, access, guessing=False)
    ups = walk.expand([focus], "parents")
    downs = walk.expand([focus], "children")
    cousins: set[str] = set()
    for round_ in range(1, lineage.ROUNDS + 1):
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
    return walk.answer(focus)


@pytest.fixture
def walk_counts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the steps whose binaries changed between the planning of their reads and their turn
    (``outgrown``: an earlier step made the walk crowded, or expanded some of them the same way),
    and the steps that read again at their turn (``rereads``)."""
    counts = {"outgrown": 0, "rereads": 0}
    plans: dict[tuple[tuple[str, ...], str], list[str]] = {}
    applying = [False]
    apply, reads = lineage._Walk._apply, lineage._Walk._reads

    def counting_apply(self, nodes, direction):
        todo = self._todo(nodes, direction)
        counts["outgrown"] += todo != plans.get((tuple(nodes), direction), todo)
        applying[0] = True
        try:
            return apply(self, nodes, direction)
        finally:
            applying[0] = False

    def counting_reads(self, steps, ahead=()):
        counts["rereads"] += applying[0]
        planned = reads(self, steps, ahead)
        plans.update({(tuple(nodes), direction): todo for (nodes, direction), todo in zip(steps, planned, strict=True)})
        return planned

    monkeypatch.setattr(lineage._Walk, "_apply", counting_apply)
    monkeypatch.setattr(lineage._Walk, "_reads", counting_reads)
    return counts


@pytest.mark.parametrize("guessing", [False, True])
@pytest.mark.parametrize("crowded", [lineage.CROWDED, 2, 5])
@pytest.mark.parametrize("user", ["low", "high_all", "system"])
def test_the_overlapped_walk_is_the_one_step_walk(loaded: MetadataStore, dataset, user: str, crowded: int,
                                                  guessing: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """With or without reading ahead on recorded paths (``MetadataStore.round_trips``), whatever
    the adapter would do."""
    monkeypatch.setattr(lineage, "CROWDED", crowded)
    monkeypatch.setattr(loaded, "round_trips", guessing)
    access = dataset.access(user)
    binaries = sorted(Oracle(dataset.documents).binaries(dataset.access("system"), False))
    linked = 0
    for focus in binaries:
        for cousins in ("no", "yes", "yes_large"):
            expected = one_step_at_a_time(loaded, focus, access, cousins)
            assert lineage.nearby(loaded, focus, access, cousins) == expected, (focus, cousins)
            linked += len(expected.links) > 1
    assert linked  # the dataset has lineage this user may see


@pytest.mark.parametrize("source_docs", [lineage.SOURCE_DOCS, 1])
def test_a_step_the_walk_outgrew_is_the_one_step_walks(store: MetadataStore, dataset, walk_counts: dict[str, int],
                                                       source_docs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """F has four parents (one with parents of its own) and four children, each also submitted
    directly: once the first step of a round adds the grandparents' links, a crowded walk expands
    only two children, not the four the round's reads were planned for (whose reads would also
    link the other two to their sources). Their links and sources were read with the other two's;
    when the sources read was cut by its limit (one document per binary here, where each child has
    two), it does not hold every document of each, and the step reads its own again."""
    monkeypatch.setattr(lineage, "SOURCE_DOCS", source_docs)
    focus = sha256_of("walk-focus")
    parents = [sha256_of(f"walk-parent-{i}") for i in range(4)]
    children = [sha256_of(f"walk-child-{i}") for i in range(4)]
    grandparents = [sha256_of(f"walk-grandparent-{i}") for i in range(3)]
    events = [binary_event(sha256=focus, action="extracted", parent=p, author="unzip") for p in parents]
    events += [binary_event(sha256=c, action="extracted", parent=focus, author="unzip") for c in children]
    events += [binary_event(sha256=c, source="virustotal") for c in children]  # each also submitted directly
    events += [binary_event(sha256=parents[0], action="extracted", parent=g, author="unzip") for g in grandparents]
    store.write([doc for event in events for doc in dataset.binary(event)])
    system = dataset.access("system")
    for crowded in range(0, 16):
        monkeypatch.setattr(lineage, "CROWDED", crowded)
        for cousins in ("no", "yes"):
            assert lineage.nearby(store, focus, system, cousins) == one_step_at_a_time(store, focus, system, cousins)
    assert walk_counts["outgrown"]
    assert bool(walk_counts["rereads"]) == (source_docs == 1)


@pytest.mark.parametrize("guessing", [False, True])
def test_a_rounds_steps_are_two_reads_at_most(loaded: MetadataStore, dataset, guessing: bool,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A round with cousins expands its ancestors and descendants both ways: one read of the links
    down (with the paths through them, for a walk that reads ahead) and one of the lineage documents
    up (links to parents and sources alike), not six; every walk is still the one-step walk."""
    monkeypatch.setattr(loaded, "round_trips", guessing)
    gathered: list[int] = []
    parents_links: list[str] = []
    gather, linked_many = loaded.gather, loaded.linked_many

    def counting_gather(*reads):
        gathered.append(len(reads))
        return gather(*reads)

    def counting_links(sha256s, access, direction, *args, **kwargs):
        parents_links.extend([direction] if direction == "parents" else [])
        return linked_many(sha256s, access, direction, *args, **kwargs)

    system = dataset.access("system")
    binaries = sorted(Oracle(dataset.documents).binaries(system, False))
    expected = {focus: one_step_at_a_time(loaded, focus, system, "yes") for focus in binaries}
    monkeypatch.setattr(loaded, "gather", counting_gather)
    monkeypatch.setattr(loaded, "linked_many", counting_links)
    for focus in binaries:
        assert lineage.nearby(loaded, focus, system, "yes") == expected[focus]
    assert max(gathered) == 2 and len(gathered) > len(binaries)
    assert not parents_links  # read from the lineage documents, the one-step walk's included


@pytest.mark.parametrize("user", ["low", "high_all", "system"])
def test_links_to_parents_from_lineage_documents_are_linked_many(loaded: MetadataStore, dataset, user: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """What the walk takes from a binary's lineage documents is what ``linked_many`` answers for its
    parents, on every adapter and for every caller, including when fewer parents fit in a page."""
    access = dataset.access(user)
    binaries = sorted(Oracle(dataset.documents).binaries(dataset.access("system"), False))
    linking = 0
    for per_node in (lineage.PER_NODE, 1):
        monkeypatch.setattr(lineage, "PER_NODE", per_node)
        expected = loaded.linked_many(binaries, access, "parents", per_node, lineage._LINK_FIELDS)
        docs = loaded.documents(binaries, access, actions=lineage._LINEAGE_ACTIONS, fields=lineage._LINK_FIELDS)
        for sha in binaries:
            mine = lineage._parent_links([doc for doc in docs if doc["sha256"] == sha])
            assert mine == expected.get(sha, []), sha
            linking += len(mine) > per_node - 1
    assert linking  # the dataset has binaries with parents this user may see


def test_only_lineage_documents_name_a_parent(dataset) -> None:
    """The invariant that lets a walk read links to parents from lineage documents alone."""
    named = {doc.body["action"] for doc in dataset.documents if doc.doc_type == "binary2" and doc.body.get("parent")}
    assert named and named <= set(lineage._LINEAGE_ACTIONS)


def _reading_gathers(index: MetadataStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts (in its one element) the gathers of ``index`` that make at least one read."""
    count = [0]
    gather = index.gather

    def counting(*reads):
        count[0] += bool(reads)
        return gather(*reads)

    monkeypatch.setattr(index, "gather", counting)
    return count


def test_a_round_read_ahead_with_the_cousins_before_it_reads_nothing(store: MetadataStore, dataset,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """F's parent P has a parent G and another child S. Round 1 expands P and F's child C, and
    finds S as a cousin; the reads of S go with those of round 2 from what round 1 found (G up,
    and G down for cousins). S adds only P, expanded already, so round 2 reads nothing: three
    round trips (the focus, round 1, its cousins), not four. Every walk is the one-step walk."""
    focus, parent, grandparent, sibling, child = (sha256_of(f"ahead-{n}") for n in ("F", "P", "G", "S", "C"))
    events = [binary_event(sha256=parent, action="extracted", parent=grandparent, author="unzip"),
              binary_event(sha256=focus, action="extracted", parent=parent, author="unzip"),
              binary_event(sha256=sibling, action="extracted", parent=parent, author="unzip"),
              binary_event(sha256=child, action="extracted", parent=focus, author="unzip"),
              binary_event(sha256=grandparent, source="virustotal")]
    store.write([doc for event in events for doc in dataset.binary(event)])
    system = dataset.access("system")
    expected = one_step_at_a_time(store, focus, system, "yes")
    assert {(link.parent, link.child) for link in expected.links} >= {
        (grandparent, parent), (parent, focus), (parent, sibling), (focus, child)}
    gathers = _reading_gathers(store, monkeypatch)
    assert lineage.nearby(store, focus, system, "yes") == expected
    assert gathers[0] == 3


def test_a_binarys_documents_come_in_one_order_whichever_read_takes_them(store: MetadataStore, dataset) -> None:
    """Link documents equal to the millisecond but not to the microsecond: the newest is decided by
    the index's date (milliseconds) and the tie by the index's order, in a read of one search (a
    limit) and in a read of every document alike, so the link a walk keeps from a large step's
    lineage read is the one ``linked_many`` keeps."""
    child, parent = sha256_of("tie-child"), sha256_of("tie-parent")
    events = [binary_event(sha256=child, action="extracted", parent=parent, author=f"unzip{i}",
                           timestamp=f"2024-01-01T00:00:00.000{i}00+00:00") for i in (1, 9, 5)]
    store.write([doc for event in events for doc in dataset.binary(event)])
    system = dataset.access("system")
    every = store.documents([child], system, actions=lineage._LINEAGE_ACTIONS, fields=lineage._LINK_FIELDS)
    one_search = store.documents([child], system, actions=lineage._LINEAGE_ACTIONS, limit=10,
                                 fields=lineage._LINK_FIELDS)
    assert len(every) == 3 and every == one_search
    linked = store.linked_many([child], system, "parents", lineage.PER_NODE, lineage._LINK_FIELDS)[child]
    assert lineage._parent_links(every) == linked


def _chain(store: MetadataStore, dataset) -> dict[str, str]:
    """R (submitted) → A → B → C, each event's path recording the whole chain above it; B also
    extracted from Q, and D from B along that path; E below C is seen by MEDIUM readers only."""
    names = {n: sha256_of(f"paths-{n}") for n in "RABCQDE"}
    R, A, B, C, Q, D, E = (names[n] for n in "RABCQDE")
    events = [binary_event(sha256=R, source="virustotal"),
              binary_event(sha256=A, action="extracted", parent=R, author="unzip"),
              binary_event(sha256=B, action="extracted", parent=A, author="unzip", above=[R]),
              binary_event(sha256=C, action="extracted", parent=B, author="unzip", above=[R, A]),
              binary_event(sha256=B, action="extracted", parent=Q, author="unzip", timestamp="2024-01-02T00:00:00Z"),
              binary_event(sha256=D, action="extracted", parent=B, author="unzip", above=[Q]),
              binary_event(sha256=E, action="extracted", parent=C, author="unzip", above=[R, A, B],
                           security="MEDIUM REL:APPLE")]
    store.write([doc for event in events for doc in dataset.binary(event)])
    return names


def test_links_below_are_those_to_children_and_those_on_paths_through_binaries(store: MetadataStore,
                                                                             dataset) -> None:
    """A binary's links to its children, and every link whose path passed through it, in the order
    ``linked_many`` reads children (parent, child, newest first); a link reached through another
    path is not one of them, and a reader sees only the links it may see."""
    n = _chain(store, dataset)
    R, A, B, C, Q, D, E = (n[k] for k in "RABCQDE")
    system, low = dataset.access("system"), dataset.access("low")

    def below(parents=(), through=(), access=system, limit=100):
        return [(doc["parent"]["sha256"], doc["sha256"], tuple(doc["ancestors"]))
                for doc in store.lineage_below(parents, through, access, limit, lineage._LINK_FIELDS)]

    ordered = sorted  # (parent, child): one link document each here
    assert below([A]) == [(A, B, (R, A))]
    assert below((), [A]) == ordered([(A, B, (R, A)), (B, C, (R, A, B)), (C, E, (R, A, B, C))])
    assert below((), [A], low) == ordered([(A, B, (R, A)), (B, C, (R, A, B))])  # E's link is MEDIUM
    assert below([B], [Q]) == ordered([(Q, B, (Q,)), (B, C, (R, A, B)), (B, D, (Q, B))])  # C only as B's child
    assert below([R], [B]) == ordered([(R, A, (R,)), (B, C, (R, A, B)), (B, D, (Q, B)), (C, E, (R, A, B, C))])
    assert below((), [R], limit=2) == below((), [R])[:2]
    assert below([E], [E]) == below() == below((), [sha256_of("nothing")]) == []
    for parent in n.values():  # a binary's children come as linked_many reads them
        docs = store.lineage_below([parent], (), system, 100, lineage._LINK_FIELDS)
        assert docs == store.linked_many([parent], system, "children", 100, lineage._LINK_FIELDS).get(parent, [])


@pytest.mark.parametrize("guessing", [False, True])
def test_a_walk_reads_ahead_where_recorded_paths_lead(store: MetadataStore, dataset, guessing: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """From A, the walk goes up to R and down three levels, a round trip per level and one to find
    nothing below the last. Reading ahead what the recorded paths name, it makes three: the focus
    (with its paths), then everything they named, read exactly; then D, B's child on a path through
    Q, not A, which the walk finds as before. Guessing or not, every walk is the one-step walk."""
    n = _chain(store, dataset)
    monkeypatch.setattr(store, "round_trips", guessing)
    system = dataset.access("system")
    expected = {focus: one_step_at_a_time(store, focus, system, "no") for focus in n.values()}
    gathers = _reading_gathers(store, monkeypatch)
    assert lineage.nearby(store, n["A"], system, "no") == expected[n["A"]]
    assert {(link.parent, link.child) for link in expected[n["A"]].links} >= {
        (n["R"], n["A"]), (n["A"], n["B"]), (n["B"], n["C"]), (n["C"], n["E"]), (n["B"], n["D"])}
    assert gathers[0] == (3 if guessing else 4)
    for focus in expected:
        for cousins in ("no", "yes", "yes_large"):
            assert lineage.nearby(store, focus, system, cousins) == one_step_at_a_time(store, focus, system, cousins)


@pytest.mark.parametrize("guess_docs", [1, 2, 3])
def test_a_read_of_links_below_cut_by_its_limit_reads_the_rest_on_its_own(store: MetadataStore, dataset,
                                                                          guess_docs: int,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """When the read of children and the paths through them holds more documents than its limit,
    the binaries from the last parent it reached on have their children read on their own
    (``linked_many``): the walk is still the one-step walk."""
    n = _chain(store, dataset)
    monkeypatch.setattr(store, "round_trips", True)
    monkeypatch.setattr(lineage, "GUESS_DOCS", guess_docs)
    system = dataset.access("system")
    walks = [(focus, cousins) for focus in n.values() for cousins in ("no", "yes", "yes_large")]
    expected = {walk: one_step_at_a_time(store, *walk[:1], system, walk[1]) for walk in walks}
    apart = [0]
    linked_many = store.linked_many

    def counting(sha256s, access, direction, *args, **kwargs):
        apart[0] += direction == "children"
        return linked_many(sha256s, access, direction, *args, **kwargs)

    monkeypatch.setattr(store, "linked_many", counting)
    for focus, cousins in walks:
        assert lineage.nearby(store, focus, system, cousins) == expected[(focus, cousins)]
    assert apart[0]
