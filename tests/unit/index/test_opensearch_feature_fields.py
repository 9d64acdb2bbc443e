"""Feature names as OpenSearch field names (``index/opensearch/feature_fields.py``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from azul_metastore.index.opensearch import feature_fields


@given(st.text(alphabet=st.sampled_from("ab.%*2E5A"), max_size=12) | st.text(max_size=12))
def test_every_name_comes_back_from_its_field(name: str) -> None:
    field = feature_fields.field(name)
    assert feature_fields.name(field) == name
    # OpenSearch splits field names at dots and expands '*': neither is left, nor an empty name
    assert field and "." not in field and "*" not in field


@given(st.lists(st.text(alphabet=st.sampled_from("ab.%*2E5A"), max_size=6), unique=True, max_size=8))
def test_distinct_names_get_distinct_fields(names: list[str]) -> None:
    assert len({feature_fields.field(n) for n in names}) == len(names)


def test_ordinary_names_are_their_own_fields_and_maps_are_left_alone() -> None:
    """Azul's plugins name features with letters, digits and '_': their fields are Azul's, and a
    document's features map is passed through untouched (no copy per document ingested)."""
    fmap = {"pe_section": ["x"], "Magic": ["y"], "ünïcode name": ["z"]}
    assert feature_fields.fields(fmap) is fmap
    assert feature_fields.names(fmap) is fmap
    assert feature_fields.fields({"pe.section": ["x"], "": ["y"]}) == {"pe%2Esection": ["x"], "%": ["y"]}
    source = {"sha256": "s", "features_map": {"pe%2Esection": ["x"], "%": ["y"], "50%25": ["z"]}}
    assert feature_fields.read_back(source)["features_map"] == {"pe.section": ["x"], "": ["y"], "50%": ["z"]}
    assert feature_fields.keyword("a.b") == "features_map.a%2Eb"
    assert feature_fields.number("a*") == "features_num.a%2A"
