"""Caller access: document visibility (§8.2), x/i filters (§8.5), assignment, summaries (§8.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azul_metastore.errors import InvalidSecurity, NotAuthenticated
from azul_metastore.security import Access, EncodedSecurity, visible_ids, visible_securities
from tests.support.security import ALL_LABELS, SECURITIES, security_policy, security_settings, user_access

POLICY = security_policy()

DOCS = [
    "LOW",
    "LOW TLP:CLEAR",
    "LOW TLP:AMBER+STRICT",
    "LOW: LY",
    "MEDIUM",
    "MEDIUM REL:APPLE",
    "MEDIUM REL:APPLE,BEE",
    "MEDIUM MOD1 REL:APPLE",
    "HIGH MOD1 REL:APPLE,BEE",
    "TOP HIGH",
]

VISIBLE = {
    "low": {"LOW", "LOW TLP:CLEAR"},
    "med": {"LOW", "LOW TLP:CLEAR", "MEDIUM", "MEDIUM REL:APPLE", "MEDIUM REL:APPLE,BEE"},
    "high": {
        "LOW",
        "LOW TLP:CLEAR",
        "MEDIUM",
        "MEDIUM REL:APPLE",
        "MEDIUM REL:APPLE,BEE",
        "MEDIUM MOD1 REL:APPLE",
    },
    "high_org2": {"LOW", "LOW TLP:CLEAR", "MEDIUM", "MEDIUM REL:APPLE,BEE", "HIGH MOD1 REL:APPLE,BEE"},
    "high_all": set(DOCS),
    "admin": set(DOCS),
}


@pytest.mark.parametrize("user", sorted(VISIBLE))
def test_reference_users_see_what_their_labels_allow(user: str) -> None:
    access = user_access(user, POLICY)
    assert visible_securities(access, DOCS) == VISIBLE[user]
    assert {s for s in DOCS if access.can_see(POLICY.encode(s))} == VISIBLE[user]


def test_system_access_sees_everything_even_invalid() -> None:
    system = Access.system_access(POLICY)
    assert system.system and system.admin
    assert visible_securities(system, [*DOCS, "garbage"]) == {*DOCS, "garbage"}
    assert Access.system_access().can_see(POLICY.encode("TOP HIGH OVER"))


def test_unparseable_stored_security_is_hidden() -> None:
    assert visible_securities(user_access("high_all", POLICY), ["LOW", "NOT A LABEL"]) == {"LOW"}


def test_visible_ids() -> None:
    rows = [(1, "LOW"), (2, "MEDIUM REL:APPLE"), (3, "TOP HIGH")]
    assert visible_ids(user_access("med", POLICY), rows) == {1, 2}


def test_any_is_visible_to_everybody() -> None:
    assert user_access("low", POLICY).can_see_security("s-any")


def test_empty_inclusive_fails_closed() -> None:
    assert not user_access("high_all", POLICY).can_see(EncodedSecurity(("s-low",), (), (), 1))


def test_admin_role_grants_every_label() -> None:
    access = Access.for_user(POLICY, "boss", ["admin"])
    assert access.admin
    assert access.labels == frozenset(ALL_LABELS)
    assert not user_access("high_all", POLICY).admin


def test_roles_in_safe_form_and_unknown_roles() -> None:
    access = Access.for_user(POLICY, "u", ["s-low", "s-medium", "s-rel-apple", "azul_read", "low"])
    assert access.labels >= {"LOW", "MEDIUM", "REL:APPLE"}
    assert "AZUL_READ" not in access.labels


def test_everybody_holds_unenforced_tlps_only() -> None:
    low = user_access("low", POLICY)
    assert {"TLP:CLEAR", "TLP:GREEN", "TLP:AMBER"} <= low.labels
    assert "TLP:AMBER+STRICT" not in low.labels
    strict = Access.for_user(POLICY, "s", ["LOW", "TLP:AMBER+STRICT"])
    assert strict.can_see_security("LOW TLP:AMBER+STRICT")


def test_below_minimum_access_is_not_authenticated() -> None:
    with pytest.raises(NotAuthenticated, match="missing LOW") as info:
        Access.for_user(POLICY, "nobody", ["MEDIUM", "REL:APPLE"])
    assert info.value.status_code == 401
    assert info.value.parameters["reason"] == "below_minimum_access"


def test_exclude_filter_hides_documents_carrying_the_label() -> None:
    access = user_access("high_all", POLICY, exclude=["medium", "TLP:CLEAR"])
    assert access.exclude == {"MEDIUM", "TLP:CLEAR"}
    assert visible_securities(access, DOCS) == {
        "LOW",
        "LOW TLP:AMBER+STRICT",
        "LOW: LY",
        "HIGH MOD1 REL:APPLE,BEE",
        "TOP HIGH",
    }
    assert access.sec_filter == "OR"
    rel = user_access("high_all", POLICY, exclude=["REL:BEE"])
    assert "MEDIUM REL:APPLE,BEE" not in visible_securities(rel, DOCS)
    assert "MEDIUM REL:APPLE" in visible_securities(rel, DOCS)


def test_include_filter_requires_every_rel() -> None:
    access = user_access("high_all", POLICY, include=["REL:APPLE", "BEE"])
    assert access.include == {"REL:APPLE", "REL:BEE"}
    assert visible_securities(access, DOCS) == {"MEDIUM REL:APPLE,BEE", "HIGH MOD1 REL:APPLE,BEE"}
    assert access.sec_filter == "AND"
    assert user_access("high_all", POLICY).sec_filter is None


def test_invalid_filters_are_rejected() -> None:
    with pytest.raises(InvalidSecurity):
        user_access("med", POLICY, exclude=["NOPE"])
    with pytest.raises(InvalidSecurity):
        user_access("med", POLICY, include=["MEDIUM"])


def test_with_filters_keeps_the_caller() -> None:
    base = user_access("med", POLICY)
    filtered = base.with_filters(exclude=["LOW"])
    assert filtered.labels == base.labels and filtered.username == "med"
    assert not filtered.can_see_security("LOW")
    assert base.can_see_security("LOW")


@pytest.mark.parametrize(
    ("user", "security", "allowed"),
    [
        ("low", "LOW TLP:CLEAR", True),
        ("low", "LOW TLP:AMBER+STRICT", False),
        ("low", "MEDIUM", False),
        ("med", "MEDIUM REL:APPLE,BEE", True),
        ("high_org2", "MEDIUM REL:APPLE,BEE", True),
        ("high_org2", "MEDIUM REL:APPLE", False),
        ("high", "MEDIUM MOD1 REL:APPLE", True),
        ("med", "MEDIUM MOD1 REL:APPLE", False),
        ("high_all", "TOP HIGH OVER REL:APPLE,CAR", True),
        ("admin", "LOW TLP:AMBER+STRICT", True),
    ],
)
def test_can_assign(user: str, security: str, allowed: bool) -> None:
    assert user_access(user, POLICY).can_assign(security) is allowed


def test_require_assignable_explains() -> None:
    low = user_access("low", POLICY)
    assert low.require_assignable("low tlp:clear") == "LOW TLP:CLEAR"
    with pytest.raises(InvalidSecurity, match="TLP:AMBER\\+STRICT"):
        low.require_assignable("LOW TLP:AMBER+STRICT")
    with pytest.raises(InvalidSecurity, match="MOD1"):
        user_access("med", POLICY).require_assignable("MEDIUM MOD1 REL:APPLE")
    with pytest.raises(InvalidSecurity, match="unknown label"):
        low.can_assign("LOW WHAT")


def test_unique_matches_azul_hash() -> None:
    # Azul's id of a label set: md5 of the sorted labels joined by ".".
    access = Access(username="x", labels=frozenset(["LOW", "LOW: LY", "MEDIUM", "HIGH", "TOP HIGH"]), policy=POLICY)
    assert access.unique == "b649ae298a22c963b8921d45e2abba21"
    access = Access(username="x", labels=frozenset(["LOW", "MEDIUM", "HIGH", "TOP HIGH"]), policy=POLICY)
    assert access.unique == "bbcaf5bea10d62cc1e8354af4a81b37f"


def test_user_security_shape() -> None:
    access = Access.for_user(POLICY, "u", ["TOP HIGH", "REL:APPLE", "LOW"])
    security = access.user_security()
    assert list(security) == [
        "labels",
        "labels_inclusive",
        "labels_exclusive",
        "labels_markings",
        "unique",
        "max_access",
        "max_access_display",
        "allowed_presets",
    ]
    assert security["labels_inclusive"] == ["REL:APPLE"]
    assert security["labels_exclusive"] == ["LOW", "TOP HIGH"]
    assert security["labels_markings"] == ["TLP:AMBER", "TLP:CLEAR", "TLP:GREEN"]
    assert security["max_access"] == "TOP HIGH REL:APPLE"
    assert security["max_access_display"] == "TOP HIGH REL:APPLEO"
    assert security["allowed_presets"] == ["LOW TLP:CLEAR", "TOP HIGH REL:APPLE,BEE,CAR"]
    me = access.user_access()
    assert set(me) == {"account_info", "security_enabled", "privileged", "roles", "security"}
    assert me["security_enabled"] is True and me["privileged"] is False
    assert me["roles"] == ["TOP HIGH", "REL:APPLE", "LOW"]


def test_summary_adds_origin_and_drops_rels_without_rel_classification() -> None:
    org2 = Access.for_user(POLICY, "u", ["LOW", "HIGH", "REL:CAR"])
    assert org2.user_security()["labels_inclusive"] == ["REL:APPLE", "REL:CAR"]
    assert org2.max_access == "HIGH REL:APPLE"
    # ...but visibility follows the roles: REL:APPLE-only documents stay hidden.
    assert not org2.can_see_security("HIGH REL:APPLE")
    assert org2.can_see_security("HIGH REL:APPLE,CAR")
    lowered = user_access("high_all", POLICY, exclude=["MEDIUM", "HIGH", "TOP HIGH"])
    summary = lowered.user_security()
    assert summary["labels_inclusive"] == []
    assert summary["max_access"] == "LOW: LY MOD1 MOD2 MOD3 HANOVERLAP OVER TLP:AMBER+STRICT"
    assert summary["allowed_presets"] == ["LOW TLP:CLEAR"]


def test_max_access_of_reference_users() -> None:
    assert user_access("low", POLICY).max_access == "LOW TLP:AMBER"
    assert user_access("med", POLICY).max_access_display == "MEDIUM REL:APPLEO"
    assert user_access("high_org2", POLICY).max_access == "HIGH MOD1 REL:APPLE"


def test_access_requires_a_policy_unless_system() -> None:
    with pytest.raises(ValueError, match="SecurityPolicy"):
        Access(username="x", labels=frozenset({"LOW"}))


def test_policy_without_minimum_access_admits_anyone() -> None:
    policy = security_policy(security_settings(security_minimum_required_access=[]))
    nobody = Access.for_user(policy, "n", [])
    assert not nobody.can_see_security("LOW")
    assert nobody.max_access == ""


# --- property: can_see agrees with a plain reading of §8.2 / §8.5 --------------------------------

ENFORCED = {"TLP:AMBER+STRICT"}
UNENFORCED_TLPS = {"TLP:CLEAR", "TLP:GREEN", "TLP:AMBER"}


@st.composite
def documents(draw: st.DrawFn) -> str:
    classification = draw(st.sampled_from(["LOW", "LOW: LY", "MEDIUM", "HIGH", "TOP HIGH"]))
    labels = [classification, *draw(st.lists(st.sampled_from(["MOD1", "MOD2", "MOD3", "OVER"]), max_size=2))]
    if classification in ("MEDIUM", "HIGH", "TOP HIGH"):
        others = draw(st.lists(st.sampled_from(["REL:BEE", "REL:CAR"]), unique=True))
        origin_only = draw(st.booleans())
        if others or origin_only:
            labels += ["REL:APPLE", *others]
    else:
        labels += draw(st.lists(st.sampled_from(sorted(UNENFORCED_TLPS | ENFORCED)), max_size=1))
    return " ".join(labels)


def reference_visible(doc: str, roles: set[str], admin: bool, exclude: set[str], include: set[str]) -> bool:
    labels = set(ALL_LABELS) if admin else (roles & set(ALL_LABELS)) | UNENFORCED_TLPS | {"LOW"}
    parsed = POLICY.parse(doc)
    if not parsed.exclusive <= labels:
        return False
    if parsed.releasability and not parsed.releasability & labels:
        return False
    if parsed.tlp & ENFORCED and not parsed.tlp & ENFORCED & labels:
        return False
    if parsed.labels & exclude:
        return False
    return include <= parsed.releasability


@settings(max_examples=400)
@given(
    doc=documents(),
    roles=st.sets(st.sampled_from([*ALL_LABELS, "admin", "azul_read"])),
    exclude=st.sets(st.sampled_from(ALL_LABELS), max_size=2),
    include=st.sets(st.sampled_from(["REL:APPLE", "REL:BEE", "REL:CAR"]), max_size=2),
)
def test_can_see_matches_reference_formulation(doc: str, roles: set[str], exclude: set[str], include: set[str]) -> None:
    if "LOW" not in roles and "admin" not in roles:
        with pytest.raises(NotAuthenticated):
            Access.for_user(POLICY, "u", sorted(roles))
        return
    access = Access.for_user(POLICY, "u", sorted(roles), exclude=sorted(exclude), include=sorted(include))
    expected = reference_visible(doc, roles, "admin" in roles, exclude, include)
    assert access.can_see(POLICY.encode(doc)) is expected
    assert (doc in visible_securities(access, [doc])) is expected
    # Assigning needs the same labels as reading (without the caller's own filters).
    assert access.can_assign(doc) is reference_visible(doc, roles, "admin" in roles, set(), set())


def test_generator_securities_are_valid() -> None:
    for security in SECURITIES:
        assert POLICY.normalise(security) == security
