"""Which binary2 indices hold briefs, told from what cannot change once an index exists, and
documents read back without what the adapter adds for the index's sake."""

from __future__ import annotations

from azul_metastore.index.opensearch import brief
from azul_metastore.index.opensearch.templates import TEMPLATE_VERSION, IndexNames, Templates, _has_briefs


def test_indices_made_by_each_template_are_told_apart() -> None:
    before_briefs = {"_source": {"excludes": ["features_num"]}, "properties": {"brief": {"type": "keyword"}}}
    excluding = {"_source": {"excludes": ["features_num", "brief"]}}
    recorded = Templates(None, IndexNames("p"), shards=1, replicas=0).body("binary2")["template"]["mappings"]
    assert recorded["_meta"] == {"template_version": TEMPLATE_VERSION} and "_source" not in recorded
    assert not _has_briefs(before_briefs)  # upgraded in place: ``brief`` mapped, yet none written
    assert not _has_briefs({})
    assert _has_briefs(excluding)  # 20261127-20261129
    assert _has_briefs(recorded)
    assert not _has_briefs({"_meta": {"template_version": 20261129}})
    assert not _has_briefs({"_meta": {"template_version": "20261130"}})


def test_a_document_reads_back_without_what_only_the_index_needs() -> None:
    source = {"sha256": "ab", "features_map": {"n": ["3"]}, "features_num": {"n": [3.0]}, brief.FIELD: "{}"}
    assert brief.document(source) == {"sha256": "ab", "features_map": {"n": ["3"]}}
    plain = {"sha256": "ab"}
    assert brief.document(plain) is plain
    hit = {"_source": source}
    assert brief.source(hit, ()) == {"sha256": "ab", "features_map": {"n": ["3"]}}
