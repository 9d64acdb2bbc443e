"""The reference's test security vocabulary and test users, for every suite that needs labels.

Vocabulary (inventory §9.1): classifications LOW(10), ``LOW: LY``(20), MEDIUM(30), HIGH(40),
``TOP HIGH``(50); caveats MOD1 MOD2 MOD3 HANOVERLAP OVER; RELs REL:APPLE/BEE/CAR with origin
REL:APPLE shown as REL:APPLEO; TLP CLEAR/GREEN/AMBER/AMBER+STRICT with AMBER+STRICT enforced;
default LOW; minimum access LOW; RELs allowed from priority 30.

Example::

    settings = security_settings()
    policy = security_policy(settings)
    med = user_access("med", policy)
    assert med.can_see_security("MEDIUM REL:APPLE")
"""

from __future__ import annotations

from typing import Any

from azul_metastore.security import Access, SecurityPolicy
from azul_metastore.settings import SecurityLabels, Settings

LABELS: dict[str, Any] = {
    "classification": {
        "options": [
            {"name": "LOW", "priority": 10},
            {"name": "LOW: LY", "priority": 20},
            {"name": "MEDIUM", "priority": 30},
            {"name": "HIGH", "priority": 40},
            {"name": "TOP HIGH", "priority": 50},
        ]
    },
    "caveat": {
        "options": [
            {"name": "MOD1", "priority": 5},
            {"name": "MOD2", "priority": 10},
            {"name": "MOD3", "priority": 15},
            {"name": "HANOVERLAP", "priority": 20},
            {"name": "OVER", "priority": 25},
        ]
    },
    "releasability": {
        "origin": "REL:APPLE",
        "origin_alt_name": "APPLEO",
        "prefix": "REL:",
        "options": [{"name": "REL:APPLE"}, {"name": "REL:BEE"}, {"name": "REL:CAR"}],
    },
    "tlp": {
        "options": [
            {"name": "TLP:CLEAR"},
            {"name": "TLP:GREEN"},
            {"name": "TLP:AMBER"},
            {"name": "TLP:AMBER+STRICT", "enforce_security": True},
        ]
    },
}

PRESETS = [
    "low TLP:CLEAR",
    "high",
    "REL:APPLE REL:BEE medium",
    "REL:APPLE REL:BEE REL:CAR medium",
    "TOP HIGH REL:APPLE REL:BEE REL:CAR",
]

ALL_LABELS = [
    "LOW",
    "LOW: LY",
    "MEDIUM",
    "HIGH",
    "TOP HIGH",
    "MOD1",
    "MOD2",
    "MOD3",
    "HANOVERLAP",
    "OVER",
    "REL:APPLE",
    "REL:BEE",
    "REL:CAR",
    "TLP:CLEAR",
    "TLP:GREEN",
    "TLP:AMBER",
    "TLP:AMBER+STRICT",
]

# The reference's test users and the roles their tokens carry.
USERS: dict[str, list[str]] = {
    "low": ["LOW"],
    "med": ["LOW", "MEDIUM", "REL:APPLE"],
    "high": ["LOW", "MEDIUM", "MOD1", "REL:APPLE"],
    "high_org2": ["LOW", "MEDIUM", "HIGH", "MOD1", "REL:BEE"],
    "high_all": list(ALL_LABELS),
    "admin": ["LOW", "admin"],
}

# Securities the reference's event generator uses (g1_1 ...).
SECURITIES = ["LOW TLP:CLEAR", "MEDIUM REL:APPLE", "MEDIUM MOD1 REL:APPLE"]


def security_settings(**overrides: Any) -> Settings:
    """Settings carrying the test vocabulary; ``overrides`` are any other Settings fields."""
    values: dict[str, Any] = {
        "security_labels": SecurityLabels.model_validate(LABELS),
        "security_default": "LOW",
        "security_presets": list(PRESETS),
        "security_minimum_required_access": ["LOW"],
        "security_allow_releasability_priority_gte": 30,
        "security_admin_roles": ["admin"],
    }
    values.update(overrides)
    return Settings(**values)


def security_policy(settings: Settings | None = None) -> SecurityPolicy:
    return SecurityPolicy.from_settings(settings or security_settings())


def user_access(
    name: str,
    policy: SecurityPolicy | None = None,
    *,
    exclude: list[str] | tuple[str, ...] = (),
    include: list[str] | tuple[str, ...] = (),
) -> Access:
    """The access of one of :data:`USERS` (``low``, ``med``, ``high``, ``high_org2``, ``high_all``,
    ``admin``)."""
    return Access.for_user(policy or security_policy(), name, USERS[name], exclude=exclude, include=include)
