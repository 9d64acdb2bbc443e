"""The MetadataStore port's similarity and find-item reads, on every adapter (see
``test_metadata_store.py`` for the fixtures and data).

Expected answers are written out for the hand-made catalogue and otherwise computed in Python from
the encoded documents (first hash written per binary, visibility by ``Access.can_see``), with
arithmetic independent of the adapters' shared code where it is short (bit counts, 7-grams).
"""

# ruff: noqa: F811 - pytest fixtures imported from tests/support/index_stores.py are parameters here
from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from azul_metastore.errors import InvalidInput
from azul_metastore.index.port import MetadataStore, SubmissionRow
from azul_metastore.index.tlsh import distances
from azul_metastore.security import EncodedSecurity
from tests.support.index_data import A, B, C, D, E, Oracle
from tests.support.index_stores import dataset, loaded, store  # noqa: F401 (fixtures)

USERS = ("low", "med", "high", "high_org2", "high_all", "system")


def _metadata(dataset) -> list[dict[str, Any]]:
    """Every metadata body, latest version per id, in write order."""
    return Oracle(dataset.documents).metadata(dataset.access("system"))


def _seen(dataset, user: str) -> set[str]:
    return Oracle(dataset.documents).binaries(dataset.access(user), require_submission=False)


def _first(dataset, kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for body in _metadata(dataset):
        if isinstance(body.get(kind), str):
            out.setdefault(body["sha256"], body[kind])
    return out


# --- TLSH ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", USERS)
def test_similar_tlsh_is_the_real_distance(loaded: MetadataStore, dataset, user: str) -> None:
    hashes = _first(dataset, "tlsh")
    focus = sorted(hashes)[3]
    query = hashes[focus]
    seen = _seen(dataset, user)
    shas = [s for s in hashes if s in seen and hashes[s].upper() != query.upper()]
    found = distances(query, [hashes[s] for s in shas])
    expected = sorted(((s, d) for s, d in zip(shas, found, strict=True) if d is not None),
                      key=lambda kv: (kv[1], kv[0]))[:10]
    got = loaded.similar_tlsh(query, dataset.access(user), 10)
    assert got == expected
    assert focus not in {s for s, _ in got}
    # the same hash written otherwise (case, without its T1 prefix) is still the query's own
    other = query.lower()[2:] if query.upper().startswith("T1") else "t1" + query.lower()
    assert loaded.similar_tlsh(other, dataset.access(user), 10) == expected
    assert all(s in seen for s, _ in got)


def test_similar_tlsh_with_a_near_copy_and_bad_input(loaded: MetadataStore, dataset) -> None:
    hashes = _first(dataset, "tlsh")
    focus = sorted(hashes)[5]
    near = hashes[focus][:-1] + ("0" if hashes[focus][-1] != "0" else "1")
    got = loaded.similar_tlsh(near, dataset.access("system"), 3)
    assert got[0][0] == focus and 0 < got[0][1] <= 6
    assert loaded.similar_tlsh(near, dataset.access("system"), 0) == []
    with pytest.raises(InvalidInput):
        loaded.similar_tlsh("T1XYZ", dataset.access("system"), 5)


def test_similar_tlsh_sees_binaries_written_after_an_earlier_query(store, dataset) -> None:
    """An adapter may keep the hashes between queries (both do); a later write must still count."""
    system = dataset.access("system")
    binaries = [d for d in dataset.generated if d.doc_type == "binary2"]
    half = len(binaries) // 2
    store.write(binaries[:half])
    hashes = {d.routing: d.body["tlsh"] for d in binaries if isinstance(d.body.get("tlsh"), str)}
    later = {d.routing for d in binaries[half:]} - {d.routing for d in binaries[:half]}
    focus = sorted(s for s in later if s in hashes)[0]
    assert focus not in {s for s, _ in store.similar_tlsh(hashes[focus][:-1] + "0", system, 1000)}
    store.write(binaries[half:])
    near = hashes[focus][:-1] + ("0" if hashes[focus][-1] != "0" else "1")
    assert store.similar_tlsh(near, system, 1)[0][0] == focus


# --- ssdeep --------------------------------------------------------------------------------------


def _grams(text: str) -> set[str]:
    return {text[i:i + 7] for i in range(len(text) - 6)}


def _ssdeep_expected(dataset, query: str, user: str) -> list[tuple[str, str]]:
    block, chunk, dchunk = query.split(":")
    b = int(block)
    wanted = {b: _grams(chunk) | _grams(dchunk), 2 * b: _grams(dchunk)}
    if b % 2 == 0:
        wanted[b // 2] = _grams(chunk)
    seen = _seen(dataset, user)
    out = []
    hashes = _first(dataset, "ssdeep")
    for size, grams in wanted.items():
        if not grams:
            continue
        for value, sha in sorted((v, s) for s, v in hashes.items() if v.startswith(f"{size}:")):
            _, c1, c2 = value.split(":", 2)
            if value != query and sha in seen and grams & (_grams(c1) | _grams(c2)):
                out.append((sha, value))
    return out


@pytest.mark.parametrize("user", USERS)
def test_ssdeep_candidates(loaded: MetadataStore, dataset, user: str) -> None:
    hashes = _first(dataset, "ssdeep")
    focus = sorted(hashes)[2]
    block, chunk, dchunk = hashes[focus].split(":")
    query = f"{block}:{chunk[:-1]}~:{dchunk}"  # a near copy: the original must be a candidate
    expected = _ssdeep_expected(dataset, query, user)
    got = loaded.ssdeep_candidates(query, dataset.access(user), 100)
    assert got == expected
    assert ((focus, hashes[focus]) in got) == (focus in _seen(dataset, user))
    # identical hashes are left out; other block sizes pair chunks by the ssdeep rules
    assert focus not in {s for s, _ in loaded.ssdeep_candidates(hashes[focus], dataset.access(user), 100)}
    double = f"{int(block) // 2}:{'#' * 10}:{chunk}" if int(block) % 2 == 0 else query
    assert loaded.ssdeep_candidates(double, dataset.access(user), 100) == _ssdeep_expected(dataset, double, user)
    assert loaded.ssdeep_candidates(query, dataset.access(user), 1) == expected[:1]


def test_ssdeep_candidates_bad_input(loaded: MetadataStore, dataset) -> None:
    with pytest.raises(InvalidInput):
        loaded.ssdeep_candidates("abc:def", dataset.access("system"), 5)


# --- entropy -------------------------------------------------------------------------------------


def _bits(a: list[int], b: list[int]) -> int:
    return sum(bin((x ^ y) & 0xFF).count("1") for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("user", USERS)
def test_similar_entropy(loaded: MetadataStore, dataset, user: str) -> None:
    vectors = [(b["sha256"], b["entropy_vector"], b["encoded_security"]) for b in _metadata(dataset)
               if isinstance(b.get("entropy_vector"), list)]
    assert len(vectors) > 3, "the generated data should carry entropy vectors"
    focus, query, _ = vectors[0]
    access = dataset.access(user)
    best: dict[str, int] = {}
    for sha, vector, security in vectors:
        if sha != focus and access.can_see(EncodedSecurity.from_dict(security)) and len(vector) == len(query):
            best[sha] = min(best.get(sha, 1 << 30), _bits(query, vector))
    expected = sorted(best.items(), key=lambda kv: (kv[1], kv[0]))[:8]
    assert loaded.similar_entropy(query, access, 8, exclude=focus) == expected
    if user == "system":
        assert loaded.similar_entropy(query, access, 1) == [(focus, 0)]


# --- shared feature values -----------------------------------------------------------------------


def _overlaps(dataset, pairs: list[tuple[str, str]], user: str, author: str | None = None) -> dict[str, int]:
    access = dataset.access(user)
    wanted = {(n, v.lower()) for n, v in pairs}
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for body in Oracle(dataset.documents).metadata(access):
        if author and (body.get("author") or {}).get("name") != author:
            continue
        for name, values in (body.get("features_map") or {}).items():
            for v in values:
                if (name, str(v).lower()) in wanted:
                    found[body["sha256"]].add((name, str(v).lower()))
    return {s: len(p) for s, p in found.items()}


@pytest.mark.parametrize("user", USERS)
def test_feature_overlaps(loaded: MetadataStore, dataset, user: str) -> None:
    pairs = [("tag", "Malware"), ("section", ".text"), ("section", ".data")]
    access = dataset.access(user)
    got = loaded.feature_overlaps(pairs, access)
    expected = _overlaps(dataset, pairs, user)
    assert got == dict(sorted(expected.items(), key=lambda kv: (-kv[1], kv[0])))
    assert list(got) == sorted(got, key=lambda s: (-got[s], s))
    catalogue = {A: 2, B: 2, E: 2} if user in ("high", "high_all", "system") else None
    if catalogue:
        assert {s: n for s, n in got.items() if s in (A, B, C, D, E)} == catalogue
    if user == "low":
        # E's MEDIUM document (tag, .text) is hidden; its LOW pefile document has .rsrc only
        assert {s: n for s, n in got.items() if s in (A, B, C, D, E)} == {A: 2}


def test_feature_overlaps_options(loaded: MetadataStore, dataset) -> None:
    system = dataset.access("system")
    pairs = [("tag", "malware"), ("section", ".text"), ("tag", "malware")]
    assert {s: n for s, n in loaded.feature_overlaps(pairs, system, author_name="pefile").items()
            if s in (A, B, C, D, E)} == {A: 1}
    both = loaded.feature_overlaps(pairs, system, min_count=2)
    assert {s: n for s, n in both.items() if s in (A, B, C, D, E)} == {A: 2, E: 2}
    assert A not in loaded.feature_overlaps(pairs, system, exclude=A)
    top = min(both, key=lambda s: (-both[s], s))
    assert list(loaded.feature_overlaps(pairs, system, min_count=2, limit=1)) == [top]
    assert loaded.feature_overlaps([("no_such_feature", "x")], system) == {}
    assert loaded.feature_overlaps([], system) == {}


# --- submissions ---------------------------------------------------------------------------------


def _rows(dataset, shas: list[str], user: str) -> list[SubmissionRow]:
    from azul_metastore.index.similarity import submission_key
    from azul_metastore.index.sqlite.reads import _iso
    from azul_metastore.index.sqlite.store import epoch_ms

    out = []
    for body in Oracle(dataset.documents).metadata(dataset.access(user)):
        source = body.get("source") or {}
        if body["sha256"] not in shas or not source.get("name"):
            continue
        ts = epoch_ms(source.get("timestamp"))
        out.append(SubmissionRow(body["sha256"], source["name"], _iso(ts) if ts is not None else None,
                                 body.get("depth") or 0, source.get("references") or {},
                                 any(s.get("label") == "content" for s in body.get("datastreams") or ()),
                                 body.get("filename") or []))
    return sorted(out, key=submission_key)


@pytest.mark.parametrize("user", USERS)
def test_binary_submissions(loaded: MetadataStore, dataset, user: str) -> None:
    generated = sorted({b["sha256"] for b in _metadata(dataset)})[:20]
    shas = [A, B, C, D, E, "f" * 64, *generated]
    got = loaded.binary_submissions(shas, dataset.access(user))
    assert got == _rows(dataset, shas, user)
    if user == "system":
        mine = [r for r in got if r.sha256 == A]
        assert [(r.source, r.timestamp, r.depth, r.references) for r in mine] == [
            ("samples", "2024-01-01T00:00:00.000Z", 0, {"user": "alice"})]
        child = [r for r in got if r.sha256 == C]
        assert [(r.source, r.depth, r.filenames) for r in child] == [("samples", 1, child[0].filenames)]
    if user == "low":
        assert {r.sha256 for r in got} & {A, B, C, D, E} == {A, C}
    assert loaded.binary_submissions([], dataset.access(user)) == []
