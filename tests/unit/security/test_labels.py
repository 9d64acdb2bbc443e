"""Parsing, normalising, combining, displaying and encoding security strings (test vocabulary)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from azul_metastore.errors import ConfigError, InvalidSecurity
from azul_metastore.security import ANY, EncodedSecurity, SecurityPolicy, safe_label
from azul_metastore.settings import SecurityLabels
from tests.support.security import LABELS, security_policy, security_settings

POLICY = security_policy()


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("LOW", "LOW"),
        ("low tlp:clear", "LOW TLP:CLEAR"),
        ("  LOW   TLP:CLEAR ", "LOW TLP:CLEAR"),
        ("LOW: LY", "LOW: LY"),
        ("LOW: LY MOD1", "LOW: LY MOD1"),
        ("LOW:  LY", "LOW: LY"),
        ("TOP HIGH", "TOP HIGH"),
        ("MOD2 HIGH MOD1", "HIGH MOD1 MOD2"),
        ("LOW MEDIUM", "MEDIUM"),
        ("LOW TLP:CLEAR TLP:GREEN", "LOW TLP:GREEN"),
        ("LOW TLP:AMBER+STRICT TLP:CLEAR", "LOW TLP:AMBER+STRICT"),
        ("MEDIUM REL:APPLE REL:CAR", "MEDIUM REL:APPLE,CAR"),
        ("MEDIUM REL:CAR,APPLE", "MEDIUM REL:APPLE,CAR"),
        ("MEDIUM REL:APPLE, BEE", "MEDIUM REL:APPLE,BEE"),
        ("MEDIUM REL:APPLE,REL:BEE", "MEDIUM REL:APPLE,BEE"),
        ("REL:APPLE REL:BEE medium", "MEDIUM REL:APPLE,BEE"),
        ("TOP HIGH REL:APPLE", "TOP HIGH REL:APPLE"),
        ("HIGH//REL:APPLE,CAR", "HIGH REL:APPLE,CAR"),
        ("MEDIUM REL:APPLEO", "MEDIUM REL:APPLE"),
        # TLPs belong below the REL threshold; Azul drops them above it.
        ("TOP HIGH TLP:GREEN", "TOP HIGH"),
        ("TOP HIGH REL:APPLE TLP:CLEAR TLP:GREEN", "TOP HIGH REL:APPLE"),
    ],
)
def test_normalise(raw: str, normalised: str) -> None:
    assert POLICY.normalise(raw) == normalised
    assert POLICY.normalise(normalised) == normalised


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("LOW FOO", "'FOO'"),
        ("MEDIUM REL:DOG", "'REL:DOG'"),
        ("TOP", "'TOP'"),
        ("LOW LY", "'LY'"),
        ("TLP:CLEAR", "no classification"),
        ("MOD1", "no classification"),
        ("REL:BEE,CAR", "no classification"),
        ("LOW REL:APPLE", "only allowed with classifications MEDIUM, HIGH, TOP HIGH"),
        ("LOW REL:CAR TLP:CLEAR", "only allowed with classifications"),
        ("MEDIUM REL:BEE", "must include the origin REL:APPLE"),
        ("MEDIUM REL:APPLE,", "','"),
        # a REL group without a name restricted nothing: the document went to every MEDIUM reader
        ("MEDIUM REL:", "REL: without a releasability name"),
        ("MEDIUM REL:APPLE REL:", "REL: without a releasability name"),
        ("MEDIUM//REL:", "REL: without a releasability name"),
    ],
)
def test_invalid_security_names_the_problem(raw: str, named: str) -> None:
    with pytest.raises(InvalidSecurity) as info:
        POLICY.normalise(raw)
    assert named in str(info.value)
    assert info.value.status_code == 422


def test_unknown_label_message_lists_what_is_accepted() -> None:
    with pytest.raises(InvalidSecurity) as info:
        POLICY.parse("LOW BANANA")
    message = str(info.value)
    for label in ("LOW: LY", "HANOVERLAP", "REL:CAR", "TLP:AMBER+STRICT"):
        assert label in message
    assert info.value.parameters["label"] == "BANANA"


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_missing_security_is_the_default(missing: str | None) -> None:
    assert POLICY.normalise(missing) == "LOW"
    assert POLICY.encode(missing) == POLICY.encode("LOW")


def test_display_uses_origin_alias_only_for_origin_alone() -> None:
    assert POLICY.display("MEDIUM REL:APPLE") == "MEDIUM REL:APPLEO"
    assert POLICY.display("medium rel:appleo") == "MEDIUM REL:APPLEO"
    assert POLICY.display("MEDIUM REL:APPLE,BEE") == "MEDIUM REL:APPLE,BEE"
    assert POLICY.display("LOW TLP:CLEAR") == "LOW TLP:CLEAR"


@pytest.mark.parametrize(
    ("inputs", "combined"),
    [
        (["LOW TLP:AMBER", "LOW TLP:CLEAR", "LOW TLP:GREEN", "LOW TLP:AMBER+STRICT"], "LOW TLP:AMBER+STRICT"),
        (["LOW TLP:AMBER", "LOW TLP:CLEAR", "LOW TLP:GREEN"], "LOW TLP:AMBER"),
        (["LOW TLP:CLEAR", "LOW TLP:GREEN"], "LOW TLP:GREEN"),
        (["LOW", "MEDIUM", "LOW: LY"], "MEDIUM"),
        (["TOP HIGH", "MEDIUM", "LOW: LY"], "TOP HIGH"),
        (["HIGH", "MEDIUM", "LOW: LY", "MEDIUM MOD1"], "HIGH MOD1"),
        (["MEDIUM REL:APPLE", "MEDIUM REL:APPLE,BEE", "MEDIUM REL:APPLE,BEE,CAR"], "MEDIUM REL:APPLE"),
        (["MEDIUM REL:APPLE,BEE", "HIGH REL:APPLE,BEE,CAR"], "HIGH REL:APPLE,BEE"),
        # Empty REL sets do not restrict; TLPs give way to a REL-capable classification.
        (["LOW TLP:AMBER", "MEDIUM REL:APPLE,CAR", "MEDIUM MOD2"], "MEDIUM MOD2 REL:APPLE,CAR"),
        (["LOW TLP:CLEAR", None], "LOW TLP:CLEAR"),
        ([], "LOW"),
    ],
)
def test_combine(inputs: list[str | None], combined: str) -> None:
    assert POLICY.combine(inputs) == combined


def test_combine_with_no_common_releasability_is_an_error() -> None:
    policy = security_policy(
        security_settings(
            security_labels=SecurityLabels.model_validate(
                {**LABELS, "releasability": {"options": LABELS["releasability"]["options"]}}
            )
        )
    )
    assert policy.normalise("MEDIUM REL:BEE") == "MEDIUM REL:BEE"
    with pytest.raises(InvalidSecurity, match="no releasability in common"):
        policy.combine(["MEDIUM REL:APPLE,BEE", "MEDIUM REL:CAR"])
    assert policy.combine(["MEDIUM REL:APPLE,BEE", "MEDIUM REL:BEE,CAR"]) == "MEDIUM REL:BEE"


def test_safe_label() -> None:
    assert safe_label("REL:APPLE") == "s-rel-apple"
    assert safe_label("TLP:AMBER+STRICT") == "s-tlp-amber-strict"
    assert safe_label("LOW: LY") == "s-low--ly"
    assert safe_label("TOP HIGH") == "s-top-high"
    assert safe_label("a_b-C9") == "s-a_b-c9"


def test_encode_matches_the_reference_example() -> None:
    encoded = POLICY.encode("LOW TLP:CLEAR")
    assert encoded.as_dict() == {
        "exclusive": ["s-low"],
        "inclusive": ["s-any"],
        "markings": ["s-tlp-clear"],
        "num_exclusive": 1,
    }


def test_encode_sorts_and_counts() -> None:
    encoded = POLICY.encode("HIGH MOD2 MOD1 REL:CAR,APPLE")
    assert encoded == EncodedSecurity(("s-high", "s-mod1", "s-mod2"), ("s-rel-apple", "s-rel-car"), (ANY,), 3)
    assert EncodedSecurity.from_dict(encoded.as_dict()) == encoded
    assert encoded.labels == {"s-high", "s-mod1", "s-mod2", "s-rel-apple", "s-rel-car"}


def test_encode_any() -> None:
    assert POLICY.encode(ANY).as_dict() == {
        "exclusive": ["s-any"],
        "inclusive": ["s-any"],
        "markings": [],
        "num_exclusive": 1,
    }


def test_presets_and_default_are_normalised() -> None:
    assert POLICY.default == "LOW"
    assert POLICY.presets == (
        "LOW TLP:CLEAR",
        "HIGH",
        "MEDIUM REL:APPLE,BEE",
        "MEDIUM REL:APPLE,BEE,CAR",
        "TOP HIGH REL:APPLE,BEE,CAR",
    )


def test_label_lookup_accepts_raw_safe_and_alias() -> None:
    assert POLICY.label("low") == "LOW"
    assert POLICY.label("s-low--ly") == "LOW: LY"
    assert POLICY.label("s-tlp-amber-strict") == "TLP:AMBER+STRICT"
    assert POLICY.label("REL:APPLEO") == "REL:APPLE"
    assert POLICY.label("azul_read") is None
    assert POLICY.require_label("bee", releasability_only=True) == "REL:BEE"
    with pytest.raises(InvalidSecurity, match="REL:APPLE, REL:BEE, REL:CAR"):
        POLICY.require_label("LOW", releasability_only=True)


def test_caveat_priority_range_is_enforced() -> None:
    labels = {**LABELS, "caveat": {"options": [{"name": "SPECIAL", "min_priority": 30, "max_priority": 40}]}}
    policy = security_policy(security_settings(security_labels=SecurityLabels.model_validate(labels)))
    assert policy.normalise("MEDIUM SPECIAL") == "MEDIUM SPECIAL"
    with pytest.raises(InvalidSecurity, match="SPECIAL is only allowed"):
        policy.normalise("LOW SPECIAL")
    with pytest.raises(InvalidSecurity, match="SPECIAL is only allowed"):
        policy.normalise("TOP HIGH SPECIAL")


def test_default_vocabulary_of_settings() -> None:
    from azul_metastore.settings import Settings

    policy = SecurityPolicy.from_settings(Settings())
    assert policy.default == "OFFICIAL"
    assert policy.normalise("official tlp:red tlp:clear") == "OFFICIAL TLP:RED"


def _bad_labels(**group: object) -> SecurityLabels:
    return SecurityLabels.model_validate({**LABELS, **group})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"security_default": ""}, "METASTORE_SECURITY_DEFAULT"),
        ({"security_default": "LOW REL:APPLE"}, "METASTORE_SECURITY_DEFAULT"),
        ({"security_presets": ["LOW REL:APPLE"]}, "METASTORE_SECURITY_PRESETS"),
        ({"security_minimum_required_access": ["JUB"]}, "MINIMUM_REQUIRED_ACCESS"),
        ({"security_minimum_required_access": ["TLP:CLEAR"]}, "MINIMUM_REQUIRED_ACCESS"),
        (
            {"security_labels": _bad_labels(caveat={"options": [{"name": "LOW"}]})},
            "configured more than once",
        ),
        (
            {"security_labels": _bad_labels(caveat={"options": [{"name": "low!"}, {"name": "LOW?"}]})},
            "same safe form",
        ),
        (
            {"security_labels": _bad_labels(classification={"options": []})},
            "at least one classification",
        ),
        (
            {"security_labels": _bad_labels(releasability={**LABELS["releasability"], "origin": "REL:DOG"})},
            "origin",
        ),
        (
            {"security_labels": _bad_labels(caveat={"options": [{"name": "REL:ODD"}]})},
            "only releasabilities",
        ),
    ],
)
def test_bad_configuration_stops_start_up(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        security_policy(security_settings(**overrides))


# --- properties ---------------------------------------------------------------------------------

CLASSIFICATIONS = ["LOW", "LOW: LY", "MEDIUM", "HIGH", "TOP HIGH"]
CAVEATS = ["MOD1", "MOD2", "MOD3", "HANOVERLAP", "OVER"]
TLPS = ["TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT"]


@st.composite
def securities(draw: st.DrawFn) -> str:
    """Valid security strings in random order, case and REL spelling."""
    classification = draw(st.sampled_from(CLASSIFICATIONS))
    labels = [classification, *draw(st.lists(st.sampled_from(CAVEATS), unique=True, max_size=3))]
    if classification in ("MEDIUM", "HIGH", "TOP HIGH"):
        others = draw(st.lists(st.sampled_from(["BEE", "CAR"]), unique=True))
        origin_only = draw(st.booleans())
        if others or origin_only:
            rels = ["APPLE", *others]
            if draw(st.booleans()):
                labels.append("REL:" + ",".join(rels))
            else:
                labels += ["REL:" + r for r in rels]
    else:
        labels += draw(st.lists(st.sampled_from(TLPS), unique=True, max_size=2))
    labels = draw(st.permutations(labels))
    text = " ".join(labels)
    return text.lower() if draw(st.booleans()) else text


@given(securities())
def test_normalise_is_idempotent_and_encoding_stable(security: str) -> None:
    normalised = POLICY.normalise(security)
    assert POLICY.normalise(normalised) == normalised
    assert POLICY.normalise(POLICY.display(security)) == normalised
    assert POLICY.encode(security) == POLICY.encode(normalised)


@given(st.lists(securities(), min_size=1, max_size=4))
def test_combine_is_order_independent_and_idempotent(items: list[str]) -> None:
    try:
        combined = POLICY.combine(items)
    except InvalidSecurity:
        return
    assert POLICY.combine(list(reversed(items))) == combined
    assert POLICY.combine([combined, *items]) == combined
    assert POLICY.combine([combined]) == combined
