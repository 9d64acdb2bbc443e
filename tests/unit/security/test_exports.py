"""The public surface of ``azul_metastore.security`` stays small and importable."""

from __future__ import annotations

import azul_metastore.security as security
from tests.support.security import security_policy


def test_exported_members() -> None:
    assert sorted(security.__all__) == [
        "ANY",
        "AUDIT_LOGGER",
        "Access",
        "Authenticator",
        "EncodedSecurity",
        "Identity",
        "ParsedSecurity",
        "SecurityPolicy",
        "log_auth_failure",
        "safe_label",
        "visible_ids",
        "visible_securities",
    ]
    for name in security.__all__:
        assert getattr(security, name) is not None


def test_describe_lists_the_vocabulary() -> None:
    described = security_policy().describe()
    assert described["classifications"] == ["LOW", "LOW: LY", "MEDIUM", "HIGH", "TOP HIGH"]
    assert described["releasabilities"] == ["REL:APPLE", "REL:BEE", "REL:CAR"]
    assert described["enforced_tlps"] == ["TLP:AMBER+STRICT"]
    assert described["origin_alt_name"] == "APPLEO"
    assert described["minimum_required_access"] == ["LOW"]
