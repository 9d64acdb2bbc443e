"""The MetadataStore port's behaviour suite: every adapter must give these answers unchanged.

The fixtures (``tests/support/index_stores.py``) are parametrized over the adapters; the OpenSearch
ones carry the ``opensearch`` marker (``-m "not opensearch"`` runs the embedded adapter alone).
Data: ``tests/support/index_data.py`` - a hand-made catalogue (binaries A-E, answers written out
below), the Azul fixture events and realistic generated events, all through intake and the shared
encoder. Expected answers come either from the catalogue table or from a Python oracle over the
encoded documents, so that security is checked on realistic data for several users.

Aggregating reads (feature values, pivots, statuses, sources, deletes) continue in
``test_metadata_store_aggregates.py``.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests/support/index_stores.py are parameters here
from __future__ import annotations

import pytest

from azul_metastore.errors import BadRequest, InvalidInput, InvalidQuery
from azul_metastore.index.port import MetadataStore
from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.query import parse
from azul_metastore.query.parser import MAX_TERMS
from azul_metastore.security import EncodedSecurity
from tests.support.events import binary_event, sha256_of
from tests.support.index_data import NAMES, A, B, C, D, E, Oracle, md5
from tests.support.index_stores import dataset, loaded, store  # noqa: F401 (fixtures)

CATALOGUE = set(NAMES)
USERS = ("low", "med", "high", "high_org2", "high_all", "system")


def names(shas: list[str] | set[str]) -> set[str]:
    """The catalogue letters among ``shas`` (generated binaries may match broad queries too)."""
    return {NAMES[s] for s in shas if s in NAMES}


# (query, user, expected catalogue binaries) - the query language held to one answer (§6.1)
QUERIES = [
    # case rules: unquoted and single quotes ignore case, double quotes and := respect it
    ("features_map.tag:malware", "system", "ABE"),
    ("features_map.tag:'MALWARE'", "system", "ABE"),
    ('features_map.tag:"malware"', "system", "B"),
    ('features_map.tag:"Malware"', "system", "AE"),
    ("features_map.tag:=Malware", "system", "AE"),
    # prefixes keep the case rule of their quoting
    ("features_map.tag:mal*", "system", "ABE"),
    ('features_map.tag:"Mal*"', "system", "AE"),
    ("magic:pe32*", "system", "A"),
    ("author.name:PE*", "system", "ABE"),
    # cross-document AND (root) vs DOCAND (one document)
    ("features_map.tag:malware features_map.section:.text", "system", "AE"),
    ("features_map.tag:malware AND features_map.section:.text", "system", "AE"),
    ("features_map.tag:malware DOCAND features_map.section:.text", "system", "E"),
    ("(features_map.tag:malware AND features_map.section:.text)", "system", "AE"),
    ("source.name:samples (features_map.tag:malware AND features_map.section:.text)", "system", ""),
    ("source.name:virustotal (features_map.tag:malware AND features_map.section:.text)", "system", "E"),
    ("features_map.tag:malware features_map.section:.text", "low", "A"),
    # OR and NOT are evaluated on one document; NOT needs the field present
    ('features_map.tag:"malware" OR features_map.tag:"Malware"', "system", "ABE"),
    ("features_map.section:.data OR filename:inner.exe", "system", "BC"),
    ("NOT features_map.tag:malware", "system", "D"),
    ("NOT source.name:samples", "system", "E"),
    ("(features_map.tag:malware OR features_map.tag:confidential) author.category:user", "system", "ABDE"),
    # numbers, ranges and size units
    ("features_map.count:>10", "system", "B"),
    ("features_map.count:<=5", "system", "A"),
    # only numbers compare as numbers (index/numbers.py): "12abc" is text on every backend
    ("features_map.version:>2", "system", "E"),
    ("features_map.version:[1 TO 20]", "system", "E"),
    ("features_map.count:[1 TO 10]", "system", "A"),
    ("features_map.count:(5 TO 50]", "system", "B"),
    ("size:>1mb", "system", "B"),
    ("size:[1kb TO 4kib]", "system", "A"),
    ("size:<200", "system", "C"),
    ("depth:1", "system", "C"),
    ("depth:>=1", "system", "C"),
    # numbers past what a field can hold compare as numbers, never an error (OpenSearch's
    # integer fields answered 400); non-ASCII digits and infinities are not numbers
    ("depth:<3000000000", "system", "ABCDE"),
    ("depth:[0 TO 3000000000]", "system", "ABCDE"),
    ("depth:>3000000000", "system", ""),
    ("depth:3000000000", "system", ""),
    ("depth:1.5", "system", ""),
    ("num_feature_values:>9999999999", "system", ""),
    ("features.enriched.port:99999999999", "system", ""),
    ("size:>-1", "system", "ABCDE"),
    ("size:-1", "system", ""),
    ("size:'inf'", "system", ""),
    ("size:'nan'", "system", ""),
    ("size:'\u0667\u0667\u0667'", "system", ""),
    ("size:'777'", "system", "E"),
    # a number has no prefix; text compared with > holds no numbers here
    ("size:7*", "system", ""),
    ("depth:0*", "system", ""),
    ("filename:>5", "system", ""),
    ("features.enriched.hostname:>5", "system", ""),
    ("source.references.user:>5", "system", ""),
    # LIKE's wildcards are plain characters in a prefix
    ("security:L_W*", "system", ""),
    ("security:LO*", "system", "ACDE"),
    # fields of documents, identity, lineage, references, enriched parts
    ("action:extracted", "system", "C"),
    ("source.name:virustotal features_map.tag:malware", "system", "E"),
    ("source.references.user:alice", "system", "AC"),
    ("source.encoded_references.value:CAROL", "system", "D"),
    ("features.enriched.hostname:evil.example.com", "system", "A"),
    ("features.enriched.port:8080", "system", "A"),
    ('features.enriched.filepath:"C:/Windows/x.exe"', "system", "A"),
    ("filename:inner.exe", "system", "C"),
    (f"parent.sha256:{A.upper()}", "system", "C"),
    ("track_link:", "system", "C"),
    (f"md5:{md5('A')}", "system", "A"),
    (f"sha256:{B.upper()}", "system", "B"),
    ('file_format:"executable/windows/dll"', "system", "C"),
    ('security:"LOW"', "system", "ACE"),
    ("features_map.nosuchfeature:x", "system", ""),
    # bare terms: hashes (whole or hex prefix), file format / magic / mime prefixes
    (md5("C"), "system", "C"),
    (B.upper(), "system", "B"),
    (A[:10] + "*", "system", "A"),
    ('"executable/windows/pe32"', "system", "A"),
    ('"executable/windows"', "system", "AC"),
    ('"Executable/windows"', "system", ""),
    ('"application/x-dosexec"', "system", "AC"),
    # tags
    ("binary.tag:apt-x", "system", "AB"),
    ("binary.tag:apt-x", "low", "A"),
    ("feature.tag:bad", "system", "ABE"),
    # security: each user sees binaries only through documents they may read
    ("features_map.tag:malware", "low", "A"),
    ("features_map.tag:malware", "med", "AB"),
    ("features_map.tag:malware", "high", "ABE"),
    ("features_map.tag:confidential", "high", ""),
    ("features_map.tag:confidential", "high_all", "D"),
    ("features_map.section:.rsrc", "low", ""),
    ("features_map.section:.text", "low", "A"),
]


@pytest.mark.parametrize(("text", "user", "expected"), QUERIES)
def test_query_language(loaded: MetadataStore, dataset, text: str, user: str, expected: str) -> None:
    access = dataset.access(user)
    found = loaded.find(parse(text), access, limit=1000)
    assert names(found) == set(expected)
    assert loaded.count(parse(text), access) == len(found)


def test_hashes_and_tracking_ids_are_found_exactly_and_by_prefix(loaded: MetadataStore, dataset) -> None:
    """md5, sha1, datastream sha256s and the tracking ids: whole values, hash prefixes, letter case."""
    system = dataset.access("system")
    child = next(d.body for d in dataset.catalogue if d.body.get("sha256") == C and d.body.get("track_link"))
    tsr = child["track_source_references"]
    with_tsr = {d.body["sha256"] for d in dataset.documents
                if d.doc_type == "binary2" and d.body.get("track_source_references") == tsr}
    sha1_b = next(d.body["sha1"] for d in dataset.catalogue if d.body.get("sha256") == B)
    stream = next(ds["sha256"] for d in dataset.catalogue if d.body.get("sha256") == C
                  for ds in d.body.get("datastreams") or ())
    with_stream = {d.body["sha256"] for d in dataset.documents if d.doc_type == "binary2" and d.body.get("source")
                   and any(ds.get("sha256") == stream for ds in d.body.get("datastreams") or ())}
    assert with_stream and with_tsr
    cases = {
        f"md5:{md5('A')[:8]}*": {A},
        f"md5:{md5('A').upper()}": {A},
        f"md5:{md5('A')[:8]}": set(),  # a prefix only matches as one
        f"sha1:{sha1_b}": {B},
        f"sha1:{sha1_b[:7]}*": {B},
        md5("C")[:9] + "*": {C},
        md5("D").upper(): {D},
        sha1_b: {B},
        f'track_link:"{child["track_link"]}"': {C},
        f'track_source_references:"{tsr}"': with_tsr,
        f"datastreams.sha256:{stream}": with_stream,
        f"datastreams.sha256:{stream.upper()}": with_stream,
        f"datastreams.sha256:{stream[:10]}*": with_stream,
        f'datastreams.sha256:"{stream.upper()}"': set(),  # quoted: the exact case
        f"datastreams.sha256:{stream[:10]}": set(),
    }
    for text, expected in cases.items():
        assert set(loaded.find(parse(text), system, limit=1000)) == expected, text
    assert loaded.lookup_hashes([md5("A").upper(), sha1_b], system) == {md5("A").upper(): [A], sha1_b: [B]}


def test_require_submission_and_the_x_i_filters(loaded: MetadataStore, dataset) -> None:
    query = parse("features_map.section:.rsrc")
    low = dataset.access("low")
    assert names(loaded.find(query, low, require_submission=False)) == {"E"}
    assert loaded.count(query, low, require_submission=False) == 1
    med_apple = dataset.access("med", include=["REL:APPLE"])
    assert names(loaded.find(parse("features_map.tag:malware"), med_apple)) == {"B"}
    high_not_medium = dataset.access("high", exclude=["MEDIUM"])
    assert names(loaded.find(parse("features_map.tag:malware"), high_not_medium)) == {"A"}


@pytest.mark.parametrize("window", [None, 1], ids=["one-search", "paged"])
def test_find_pages_through_binaries_without_a_visible_submission(loaded: MetadataStore, dataset, window: int | None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if window:  # OpenSearch finds by documents a page at a time, dropping binaries without a submission
        from azul_metastore.index.opensearch import reads

        monkeypatch.setattr(reads, "FIND_PAGE", window)
    query = parse("features_map.section:.rsrc OR features_map.tag:malware")
    low, high = dataset.access("low"), dataset.access("high")
    # E matches for low only through its LOW enrichment, and low sees no submission of E
    assert sorted(loaded.find(query, low, require_submission=False)) == sorted([A, E])
    assert loaded.find(query, low) == [A]
    assert loaded.find(query, low, limit=1) == [A]
    # the order of a _score sort is the adapter's; a limit takes the first of that order
    everything = loaded.find(query, high, limit=1000)
    assert sorted(everything) == sorted([A, B, E])
    assert loaded.find(query, high, limit=2) == everything[:2]
    assert loaded.find(query, high, ascending=True, limit=2) == loaded.find(query, high, ascending=True)[:2]


@pytest.mark.parametrize("user", ["low", "high"])
def test_the_find_service_lists_exactly_the_binaries_with_a_visible_submission(loaded: MetadataStore, dataset,
                                                                               user: str) -> None:
    """``search.find`` asks the index without the submission condition and asks again with it when
    a full page held a binary without one: every page size gives the exact find's answer."""
    from azul_metastore.search import find

    access = dataset.access(user)
    term = "features_map.section:.rsrc OR features_map.tag:malware"
    query = parse(term)
    calls: list[bool] = []
    inner = loaded.find

    def counting(*args, **kwargs):
        calls.append(kwargs.get("require_submission", True))
        return inner(*args, **kwargs)

    loaded.find = counting  # type: ignore[method-assign]
    try:
        for limit in (1, 2, 3, 100):
            exact = inner(query, access, limit=limit)
            assert [item.sha256 for item in find.find(loaded, access, term=term, max_entities=limit).items] == exact
    finally:
        del loaded.find
    # low matches E only through a document that is not a submission: some full page was asked again
    assert (True in calls) == (user == "low")


@pytest.mark.parametrize(("text", "error"), [
    ("nosuch.field:x", InvalidInput), ("action:>5", InvalidInput), ("parent.sha256:>5", InvalidInput),
    ("binary.tag:nobody-uses-this", BadRequest),
    ("feature.tag:nobody-uses-this", BadRequest)])
def test_bad_queries_are_refused(loaded: MetadataStore, dataset, text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        loaded.find(parse(text), dataset.access("system"))


@pytest.mark.parametrize("user", USERS)
def test_counts_and_listing_match_what_the_user_may_see(loaded: MetadataStore, dataset, user: str) -> None:
    access = dataset.access(user)
    oracle = Oracle(dataset.documents)
    assert loaded.count(None, access) == len(oracle.binaries(access))
    assert loaded.count(None, access, require_submission=False) == len(oracle.binaries(access, False))
    pages, after = [], None
    while True:
        page = loaded.list_binaries(None, access, after, 17)
        if after is None:
            assert page.total == len(oracle.binaries(access))
        pages += page.items
        if len(page.items) < 17:
            break
        after = page.after
    assert pages == sorted(oracle.binaries(access))
    assert set(loaded.find(None, access, limit=10_000)) == oracle.binaries(access)


def test_find_sorts_by_newest_visible_document(loaded: MetadataStore, dataset) -> None:
    query = parse(" OR ".join(md5(n) for n in "ABCDE"))
    system = dataset.access("system")
    for sort in ("timestamp", "source.timestamp"):
        assert loaded.find(query, system, sort=sort) == [E, D, C, B, A]
        assert loaded.find(query, system, sort=sort, ascending=True) == [A, B, C, D, E]
        assert loaded.find(query, system, sort=sort, limit=2) == [E, D]
    assert set(loaded.find(query, system)) == {A, B, C, D, E}
    assert loaded.find(query, dataset.access("low"), sort="timestamp") == [C, A]


def test_lookup_hashes(loaded: MetadataStore, dataset) -> None:
    low, system = dataset.access("low"), dataset.access("system")
    fixture_sha = "2bd322c8784fe18426cae39c7a23e8e8330f8510ad4ac6102bdd9bb28c2fba35"
    hashes = [md5("A"), md5("B").upper(), E, "f2f76d16e17c971eecd77f1597f88e2b", "0" * 40]
    assert loaded.lookup_hashes(hashes, system) == {
        md5("A"): [A], md5("B").upper(): [B], E: [E], "f2f76d16e17c971eecd77f1597f88e2b": [fixture_sha],
        "0" * 40: []}
    # E is visible to low through its LOW enrichment; B not at all
    assert loaded.lookup_hashes(hashes, low) == {
        md5("A"): [A], md5("B").upper(): [], E: [E], "f2f76d16e17c971eecd77f1597f88e2b": [fixture_sha],
        "0" * 40: []}


def test_a_hash_held_only_by_a_hidden_document_finds_a_binary_seen_through_another(store: MetadataStore,
                                                                                    dataset) -> None:
    """X's MEDIUM submission carries its md5; its LOW enrichment does not: low sees X (through the
    enrichment), so low's look-up of that md5 finds X, while nothing finds Y, seen through no document."""
    x, y = sha256_of("hidden-hash-x"), sha256_of("hidden-hash-y")
    docs = []
    for sha, digest in ((x, "1" * 32), (y, "2" * 32)):
        submitted = binary_event(sha256=sha, security="MEDIUM REL:APPLE")
        submitted["entity"]["md5"] = digest
        docs += dataset.binary(submitted)
    docs += dataset.binary(binary_event(sha256=x, action="enriched", author="pefile", security="LOW"))
    store.write(docs)
    low, system = dataset.access("low"), dataset.access("system")
    assert store.lookup_hashes(["1" * 32, "2" * 32], low) == {"1" * 32: [x], "2" * 32: []}
    assert store.lookup_hashes(["1" * 32, "2" * 32], system) == {"1" * 32: [x], "2" * 32: [y]}


def test_gather_answers_in_order_and_raises_the_first_error_after_every_read(loaded: MetadataStore,
                                                                             dataset) -> None:
    system = dataset.access("system")
    ended: list[str] = []

    def read(name: str, fails: bool = False):
        def run():
            answer = loaded.identities([A]) if name == "ids" else loaded.lookup_hashes([md5("B")], system)
            ended.append(name)
            if fails:
                raise InvalidInput(f"{name} failed")
            return answer
        return run

    ids, hashes = loaded.gather(read("ids"), read("hashes"))
    assert ids == loaded.identities([A]) and hashes == {md5("B"): [B]}
    assert loaded.gather() == [] and loaded.gather(read("ids")) == [ids]
    # a gathered read may gather in its turn
    assert loaded.gather(lambda: loaded.gather(read("ids"), read("hashes")), read("ids")) == [[ids, hashes], ids]
    ended.clear()
    with pytest.raises(InvalidInput, match="second failed"):
        loaded.gather(read("first"), read("second", fails=True), read("third", fails=True))
    assert "second" in ended


def _bodies(dataset, sha256: str) -> list[dict]:
    return [d.body for d in dataset.documents
            if d.doc_type == "binary2" and d.body.get("sha256") == sha256 and "action" in d.body]


def test_documents_round_trip_newest_first_and_filtered(loaded: MetadataStore, dataset) -> None:
    system, low = dataset.access("system"), dataset.access("low")
    docs = loaded.documents([A], system)
    assert docs == sorted(_bodies(dataset, A), key=lambda b: b["timestamp"], reverse=True)
    assert [d["action"] for d in docs] == ["enriched", "sourced"]
    assert [d["action"] for d in loaded.documents([A, C], system, actions=["extracted"])] == ["extracted"]
    assert [d["author"]["name"] for d in loaded.documents([A, B], system, author_name="pefile")] == ["pefile"] * 2
    assert [d["sha256"] for d in loaded.documents([A, B, C], system, newer_than="2024-01-03T00:30:00Z")] == [C, B]
    assert [d["sha256"] for d in loaded.documents([A, B, C], system, limit=2)] == [C, B]
    assert [d["action"] for d in loaded.documents([E], low)] == ["enriched"]
    assert loaded.documents([B, D], low) == []
    assert loaded.documents([], system) == []


@pytest.mark.parametrize("user", USERS)
def test_documents_never_leak(loaded: MetadataStore, dataset, user: str) -> None:
    access = dataset.access(user)
    everything = sorted(Oracle(dataset.documents).binaries(dataset.access("system"), False))
    docs = loaded.documents(everything, access)
    assert all(access.can_see(EncodedSecurity.from_dict(d["encoded_security"])) for d in docs)
    assert len(docs) == len(Oracle(dataset.documents).metadata(access))


def test_linked_children_and_parents(loaded: MetadataStore, dataset) -> None:
    system, low = dataset.access("system"), dataset.access("low")
    children = loaded.linked(A, system, "children", None, 10)
    assert [d["sha256"] for d in children.items] == [C] and children.total == 1
    assert children.items[0]["parent"]["sha256"] == A
    parents = loaded.linked(C, low, "parents", None, 10)
    assert [d["parent"]["sha256"] for d in parents.items] == [A] and parents.total == 1
    assert loaded.linked(B, system, "children", None, 10).items == []
    assert loaded.linked("f" * 64, system, "children", None, 10).total == 0


@pytest.mark.parametrize("user", ["low", "high_all"])
def test_linked_pages_match_the_oracle(loaded: MetadataStore, dataset, user: str) -> None:
    access = dataset.access(user)
    links: dict[str, set[str]] = {}
    for body in Oracle(dataset.documents).metadata(access):
        if body.get("parent"):
            links.setdefault(body["parent"]["sha256"], set()).add(body["sha256"])
    busiest = sorted(links, key=lambda p: (-len(links[p]), p))[:3]
    for parent in busiest:
        seen, after, first = [], None, True
        while True:
            page = loaded.linked(parent, access, "children", after, 2)
            if first:
                assert page.total == len(links[parent])
                first = False
            seen += [d["sha256"] for d in page.items]
            if len(page.items) < 2:
                break
            after = page.after
        assert seen == sorted(links[parent])


@pytest.mark.parametrize("user", ["low", "high_all", "system"])
@pytest.mark.parametrize("direction", ["children", "parents"])
@pytest.mark.parametrize("window", [None, 1, 3], ids=["one-search", "truncated-1", "truncated-3"])
def test_linked_many_is_each_binarys_first_linked_page(loaded: MetadataStore, dataset, user: str,
                                                         direction: str, window: int | None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if window:  # OpenSearch reads the rest by aggregation when its one search is truncated
        from azul_metastore.index.opensearch import reads

        monkeypatch.setattr(reads, "LINK_HITS", window)
    access = dataset.access(user)
    binaries = [*sorted(Oracle(dataset.documents).binaries(dataset.access("system"), False)), "f" * 64]
    many = loaded.linked_many(binaries, access, direction, 2)
    single = {sha: loaded.linked(sha, access, direction, None, 2).items for sha in binaries}
    assert many == {sha: items for sha, items in single.items() if items}
    assert many  # the dataset has links every one of these users may see
    assert loaded.linked_many([], access, direction, 2) == {}


#: a few top-level fields of a metadata document, one of them an object, one absent from most
_SOME_FIELDS = ("sha256", "parent", "timestamp", "source")


def _kept(doc: dict, fields: tuple[str, ...]) -> dict:
    return {k: doc[k] for k in fields if k in doc}


@pytest.mark.parametrize("window", [None, 1], ids=["one-search", "truncated-1"])
def test_reads_keep_only_the_fields_asked_for(loaded: MetadataStore, dataset, window: int | None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``fields`` leaves each document as it is, less its other top-level fields (the lineage
    walk reads no features); through the one search and the aggregation that finishes it."""
    if window:
        from azul_metastore.index.opensearch import reads

        monkeypatch.setattr(reads, "LINK_HITS", window)
    access = dataset.access("high_all")
    binaries = sorted(Oracle(dataset.documents).binaries(dataset.access("system"), False))
    whole = loaded.documents(binaries, access)
    assert any("features" in d for d in whole) and any("parent" not in d for d in whole)
    assert loaded.documents(binaries, access, fields=_SOME_FIELDS) == [_kept(d, _SOME_FIELDS) for d in whole]
    assert loaded.documents(binaries, access, limit=3, fields=_SOME_FIELDS) == [
        _kept(d, _SOME_FIELDS) for d in whole[:3]]
    for direction in ("children", "parents"):
        linked = loaded.linked_many(binaries, access, direction, 2)
        assert linked
        assert loaded.linked_many(binaries, access, direction, 2, _SOME_FIELDS) == {
            sha: [_kept(d, _SOME_FIELDS) for d in docs] for sha, docs in linked.items()}


def test_reads_of_a_few_binaries_are_whole_past_one_search_window(loaded: MetadataStore, dataset,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """OpenSearch reads a page of binaries in one search and scrolls when the answer fills its
    window: with the window forced to one hit, the answers must not change."""
    system = dataset.access("system")
    shas = [A, B, C, D, E]
    before = (loaded.identities(shas), loaded.documents(shas, system), loaded.binary_submissions(shas, system),
              loaded.lookup_hashes([md5(n) for n in "ABCDE"], system))
    from azul_metastore.index.opensearch import reads

    monkeypatch.setattr(reads, "WINDOW", 1)
    after = (loaded.identities(shas), loaded.documents(shas, system), loaded.binary_submissions(shas, system),
             loaded.lookup_hashes([md5(n) for n in "ABCDE"], system))
    # documents of equal timestamps may come in either order
    assert after[0] == before[0] and after[3] == before[3]
    assert sorted(map(repr, after[1])) == sorted(map(repr, before[1]))
    assert sorted(map(repr, after[2])) == sorted(map(repr, before[2]))
    assert len(before[1]) > 5 and len(before[2]) >= 5  # several documents each: the window was really passed


def test_a_bare_hash_term_never_lists_a_binary_the_caller_cannot_see(loaded: MetadataStore, dataset) -> None:
    """A bare term matches the binary's own hashes; the binary is still listed, found and counted
    only for callers who can see one of its documents (B is hidden from low)."""
    low, system = dataset.access("low"), dataset.access("system")
    for term in (B, B[:1], B[:5]):
        query = parse(term)
        assert B in loaded.list_binaries(query, system, None, 100).items
        assert B not in loaded.list_binaries(query, low, None, 100).items, term
        assert B not in loaded.find(query, low, sort="sha256", require_submission=False), term
        assert B not in loaded.find(query, low, require_submission=False), term
    assert loaded.count(parse(B), low, require_submission=False) == 0
    assert loaded.list_binaries(parse(B), low, None, 100).total == 0


def test_a_query_past_opensearchs_clause_count_is_the_callers_to_simplify(loaded: MetadataStore, dataset) -> None:
    """A bare hex term is looked for in up to 7 fields, and OpenSearch takes at most 1,024 clauses
    a query: 499 such terms were a 503 there ("OpenSearch failed"). The embedded index answers;
    OpenSearch says, as a 400, that the query is the caller's to simplify."""
    system = dataset.access("system")
    query = parse(" OR ".join([md5("A")[:6]] + [f"{i:06x}" for i in range(MAX_TERMS - 2)]))
    if isinstance(loaded, SqliteMetadataStore):
        assert names(loaded.find(query, system)) == {"A"}
    else:
        with pytest.raises(InvalidQuery, match=r"too complex for OpenSearch.*maxClauseCount"):
            loaded.find(query, system)
        with pytest.raises(InvalidQuery, match="too complex"):
            loaded.count(query, system)


def test_numbers_past_64_bits_compare_on_every_index(loaded: MetadataStore, dataset) -> None:
    """A bound no 64-bit integer reaches is clamped to them: the query answers what such a bound
    means, on both indices, instead of failing in one of them."""
    system = dataset.access("system")
    assert loaded.count(parse("size:>99999999999999999999999"), system) == 0
    assert loaded.count(parse("size:<99999999999999999999999"), system) == loaded.count(parse("size:>=0"), system)
    assert loaded.count(parse("size:[1 TO 99999999999999999999999]"), system) == loaded.count(
        parse("size:>=1"), system) > 0
    # with a size suffix, past what a float holds (it was inf: OpenSearch answered 400)
    assert loaded.count(parse("size:<" + "9" * 400 + "kb"), system) == loaded.count(parse("size:>=0"), system)
    assert loaded.count(parse("size:>-" + "9" * 400 + "tib"), system) == loaded.count(parse("size:>=0"), system)
    assert loaded.count(parse("features_map.n:>" + "9" * 400 + "kb"), system) == 0


def test_a_hidden_features_values_do_not_count_towards_a_callers_expansion(store: MetadataStore, dataset) -> None:
    """Comparisons and prefixes on a feature expand to its values: only values the caller may see
    count, so a hidden binary's 2,100 values neither fail the caller's query nor show through
    its error."""
    hidden = binary_event(sha256=sha256_of("many values"), security="MEDIUM REL:APPLE",
                          features=[{"name": "n", "type": "integer", "value": str(i)} for i in range(2100)])
    store.write(dataset.binary(hidden))
    low = dataset.access("low")
    for term in ("features_map.n:>=1 AND features_map.n:<=3", "features_map.n:1*"):
        assert store.count(parse(term), low) == 0, term
        assert store.find(parse(term), low) == [], term


def test_a_narrow_range_of_a_feature_with_many_values_is_answered(store: MetadataStore, dataset) -> None:
    """[1 TO 3] of a feature holding 2,100 values expands the three values within it, not each
    bound's side of the range (which passed the expansion limit)."""
    many = binary_event(sha256=sha256_of("many visible values"), security="LOW",
                        features=[{"name": "n", "type": "integer", "value": str(i)} for i in range(2100)])
    store.write(dataset.binary(many))
    low = dataset.access("low")
    assert store.count(parse("features_map.n:[1 TO 3]"), low) == 1
    assert store.count(parse("features_map.n:(2099 TO 2200]"), low) == 0


def test_stream_sources_of_every_document_include_an_old_one_behind_newer_ones(store: MetadataStore,
                                                                               dataset) -> None:
    """Age-off and purge keep bytes a document still lists: an old virustotal submission behind
    twelve newer samples ones must still count, where the newest few (a download's read) do not."""
    sha = sha256_of("stream held by an old submission")
    docs = dataset.binary(binary_event(sha256=sha, source="virustotal", timestamp="2023-01-01T00:00:00+00:00"))
    for day in range(1, 13):
        docs += dataset.binary(binary_event(sha256=sha, timestamp=f"2024-01-{day:02d}T00:00:00+00:00"))
    store.write(docs)
    system = dataset.access("system")
    assert store.stream_sources(sha, system, limit=5) == [("samples", "content")]
    assert sorted(store.stream_sources(sha, system, limit=None)) == [("samples", "content"),
                                                                    ("virustotal", "content")]


def test_stream_sources_and_identities(loaded: MetadataStore, dataset) -> None:
    system, low = dataset.access("system"), dataset.access("low")
    assert loaded.stream_sources(A, system) == [("samples", "content")]
    assert loaded.stream_sources(E, system) == [("virustotal", "content")]
    assert loaded.stream_sources(E, low) == []
    ids = loaded.identities([A, C, "f" * 64])
    assert set(ids) == {A, C}
    assert ids[A]["md5"] == md5("A") and ids[A]["file_format"] == "executable/windows/pe32"
    assert ids[A]["size"] == 2048 and ids[A]["mime"] == "application/x-dosexec"
    assert ids[C]["file_format"] == "executable/windows/dll" and ids[C]["sha256"] == C
    assert loaded.identities([]) == {}


@pytest.mark.parametrize("kind", ["ssdeep", "tlsh"])
@pytest.mark.parametrize("user", ["low", "system"])
def test_fuzzy_hashes(loaded: MetadataStore, dataset, kind: str, user: str) -> None:
    access = dataset.access(user)
    oracle = Oracle(dataset.documents)
    visible = oracle.binaries(access, False)
    having: dict[str, set[str]] = {}
    for body in oracle.metadata(dataset.access("system")):
        if body.get(kind):
            having.setdefault(body["sha256"], set()).add(body[kind])
    pairs = list(loaded.fuzzy_hashes(kind, access))
    assert {s for s, _ in pairs} == set(having) & visible
    assert all(value in having[s] for s, value in pairs)


#: feature names OpenSearch reads as paths (``pe`` beside ``pe.section``), refuses (``a..b``, ``.lead``,
#: the empty name), expands (``a*b`` in ``exists``), or that look like the adapter's escapes
ODD_NAMES = ["pe", "pe.section", "pe.section.name", "", ".lead", "trail.", "a..b", "a*b", "50%", "x%2Ey", "%", "%25"]


def test_any_feature_name_is_stored_and_found_under_its_own_name(store: MetadataStore, dataset) -> None:
    """A feature name is a plugin's text. Whatever it holds, the documents carrying it are indexed,
    read back, searched, counted and pivoted under that name on every index; on OpenSearch ``pe``
    after ``pe.section`` used to be refused and the event dead-lettered."""
    one, two = sha256_of("odd feature names 1"), sha256_of("odd feature names 2")
    for sha in (one, two):
        features = [{"name": n, "type": "string", "value": f"v{i}"} for i, n in enumerate(ODD_NAMES)]
        features.append({"name": "pe.count", "type": "integer", "value": "7" if sha == one else "70"})
        store.write(dataset.binary(binary_event(sha256=sha, security="LOW", features=features)))
    system = dataset.access("system")

    (doc,) = store.documents([one], system, actions=["sourced"])
    assert doc["features_map"] == {**{n: [f"v{i}"] for i, n in enumerate(ODD_NAMES)}, "pe.count": ["7"]}
    assert set(ODD_NAMES) <= set(store.feature_names(system))
    for i, name in enumerate(ODD_NAMES):
        key = "features_map." + name
        assert set(store.find(parse(f'"{key}":v{i}'), system)) == {one, two}, name
        assert set(store.find(parse(f'"{key}":V{i}*'), system)) == {one, two}, name
        assert store.count(parse(f'"{key}":"v{i + 1}"'), system) == 0, name
        assert [r.value for r in store.feature_values(name, system).items] == [f"v{i}"], name
        assert store.count_feature_values(name, system) == 1, name
        assert store.count_feature_entities(name, system, value=f"v{i}") == 2, name
        assert store.count_feature_entities(name, system) == 2, name
    # a name with a wildcard is that name, not a pattern over the names it would match
    assert store.count(parse('"features_map.a*b":'), system) == 2
    assert store.count(parse('"features_map.a*":'), system) == 0
    assert store.count_feature_entities("pe*", system) == 0
    assert store.find(parse("features_map.pe.count:>10"), system) == [two]
    assert store.find(parse("features_map.pe.count:[1 TO 10]"), system) == [one]
    pivot = store.pivot([("pe.section", "v1")], system, names=["pe", "pe.section.name", ""], min_count=1)
    assert {name: dict(values) for name, values in pivot.counts.items()} == {
        "pe": {"v0": 2}, "pe.section.name": {"v2": 2}, "": {"v3": 2}}


def test_queries_at_the_parsers_limits_are_answered_by_every_index(loaded: MetadataStore, dataset) -> None:
    """What the parser accepts, each index answers: a chain of 499 ORs and 12 nested groups or NOTs
    made SQL that SQLite refused (expression tree too large, parser stack overflow) and a 500."""
    from azul_metastore.query.parser import MAX_DEPTH, _depth

    system = dataset.access("system")
    hashes = " OR ".join([f"md5:{md5(letter)}" for letter in "AB"] + [f"md5:{i:032x}" for i in range(MAX_TERMS - 3)])
    wide = parse(f"features_map.tag:malware ({hashes})")
    assert names(loaded.find(wide, system)) == {"A", "B"}
    groups = "(features_map.tag:malware AND " * MAX_DEPTH + "features_map.tag:malware" + ")" * MAX_DEPTH
    ors = "(features_map.tag:nothing OR " * MAX_DEPTH + "features_map.tag:malware" + ")" * MAX_DEPTH
    nots = "NOT " * MAX_DEPTH + "features_map.tag:malware"
    for text in (groups, ors, nots):
        query = parse(text)
        assert _depth(query) == MAX_DEPTH, text
        assert names(loaded.find(query, system)) == {"A", "B", "E"}, text
        assert loaded.count(query, system) >= 3
        assert names(loaded.list_binaries(query, system, None, 1000).items) == {"A", "B", "E"}
    # a NOT over many fields also requires each of them present: one clause each, 497 of them
    absent = " OR ".join(f"features_map.f{i}:x" for i in range(MAX_TERMS - 3))
    negated = parse(f"features_map.tag:malware NOT ({absent})")
    assert names(loaded.find(negated, system)) == set()
    assert loaded.count(negated, system) == 0
    with pytest.raises(BadRequest, match="nests 13 levels"):
        parse("NOT " + nots)


def test_numbers_past_64_bits_are_the_numbers_and_text_written(store: MetadataStore, dataset) -> None:
    """A value to match past 64 bits is the text written (it searched for 2**63-1); a bound past
    them compares as the number written (it was clamped, so 1e19 passed ':>1e20'); a fractional
    size is exact (1.3kib was truncated to 1331 bytes)."""
    long, edge, big = sha256_of("long serial"), sha256_of("edge serial"), sha256_of("1e19")
    serial = "123456789012345678901234567890"
    store.write(dataset.binary(binary_event(sha256=long, security="LOW", features=[
        {"name": "serial", "type": "string", "value": serial}])))
    store.write(dataset.binary(binary_event(sha256=edge, security="LOW", features=[
        {"name": "serial", "type": "string", "value": str(2**63 - 1)}])))
    store.write(dataset.binary(binary_event(sha256=big, security="LOW", features=[
        {"name": "n", "type": "integer", "value": str(10**19)}])))
    system = dataset.access("system")
    assert store.find(parse(f"features_map.serial:{serial}"), system) == [long]
    assert store.find(parse(f"features_map.serial:={serial}"), system) == [long]
    assert store.find(parse("features_map.n:>99999999999999999999"), system) == []
    assert store.find(parse("features_map.n:<99999999999999999999"), system) == [big]
    sized = binary_event(sha256=sha256_of("1331 bytes"), security="LOW")
    docs = dataset.binary(sized)
    for doc in docs:
        doc.body["size"] = 1331
    store.write(docs)
    assert sha256_of("1331 bytes") in store.find(parse("size:<1.3kib"), system, limit=1000)
    assert sha256_of("1331 bytes") not in store.find(parse("size:>=1.3kib"), system, limit=1000)


def test_feature_numbers_past_what_an_index_holds_are_stored_and_found_as_text(store: MetadataStore,
                                                                              dataset) -> None:
    huge = "1180591620717411303424"
    sha = sha256_of("numbers no index holds")
    store.write(dataset.binary(binary_event(sha256=sha, security="LOW", features=[
        {"name": "big", "type": "integer", "value": huge}, {"name": "ratio", "type": "float", "value": "-inf"}])))
    system = dataset.access("system")
    assert store.find(parse(f"features_map.big:{huge}"), system) == [sha]
    assert store.find(parse("features_map.ratio:'-inf'"), system) == [sha]
    assert store.find(parse("features_map.big:>1000000000000000000000"), system) == [sha]
