"""The caller's access: which documents a read may return and which securities a write may assign.

Every read path of every index adapter takes an :class:`Access` and filters with it; the only
unfiltered reader is :meth:`Access.system_access` (lifecycle jobs). Visibility is Azul's OpenSearch
document-level-security rule, evaluated on the encoded labels of a document (all safe labels, with
``s-any`` held by everybody)::

    visible  <=>  inclusive ∩ held ≠ ∅                     (no RELs encodes as s-any)
             and  exclusive ⊆ held                          (classification and every caveat)
             and  (no enforced TLP in markings  or  markings ∩ enforced ∩ held ≠ ∅)
    then the caller's filters:  x  hides documents carrying any excluded label,
                                i  keeps documents whose RELs include every requested one.

How adapters should filter: the number of distinct security strings in an index is small (tens), so
ask :func:`visible_securities` (or :meth:`Access.can_see`) once per query for the allow-list of
security strings (or their ids) and restrict the query to those, instead of evaluating labels per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from azul_metastore.errors import InvalidSecurity, NotAuthenticated
from azul_metastore.security._encoding import ANY, EncodedSecurity, safe_label
from azul_metastore.security.labels import ParsedSecurity, SecurityPolicy

__all__ = ["Access", "visible_ids", "visible_securities"]


def _md5(text: str) -> str:
    # Not a security use: a stable short id of a label set, as Azul computes it for caching.
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Access:
    """What one caller may read and write. Build with :meth:`for_user` or :meth:`system_access`.

    Attributes:
        username: who is asking (for audit and ownership).
        labels: the normalised labels held; visibility is decided on these.
        admin: the caller holds a role in ``security_admin_roles`` (purge; all labels).
        system: lifecycle jobs only; sees every document, ignores labels.
        exclude: the ``x`` query filter (labels to hide).
        include: the ``i`` query filter (RELs every document must carry).
        roles: the raw roles of the identity, echoed by the "me" endpoint.
    """

    username: str
    labels: frozenset[str] = frozenset()
    admin: bool = False
    system: bool = False
    exclude: frozenset[str] = frozenset()
    include: frozenset[str] = frozenset()
    roles: tuple[str, ...] = ()
    policy: SecurityPolicy | None = field(default=None, compare=False, repr=False)
    # Safe-label forms, computed once so that can_see is a handful of set operations.
    _held: frozenset[str] = field(init=False, compare=False, repr=False)
    _enforced: frozenset[str] = field(init=False, compare=False, repr=False)
    _exclude_safe: frozenset[str] = field(init=False, compare=False, repr=False)
    _include_safe: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.policy is None and not self.system:
            raise ValueError("Access needs a SecurityPolicy unless it is the system access")
        enforced = self.policy.vocab.enforced_tlps if self.policy else frozenset()
        object.__setattr__(self, "_held", frozenset(safe_label(x) for x in self.labels) | {ANY})
        object.__setattr__(self, "_enforced", frozenset(safe_label(x) for x in enforced))
        object.__setattr__(self, "_exclude_safe", frozenset(safe_label(x) for x in self.exclude))
        object.__setattr__(self, "_include_safe", frozenset(safe_label(x) for x in self.include))

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def for_user(
        cls,
        policy: SecurityPolicy,
        username: str,
        roles: Iterable[str],
        *,
        exclude: Iterable[str] = (),
        include: Iterable[str] = (),
    ) -> Access:
        """The access of an authenticated identity.

        Roles that name labels (``LOW``, ``REL:APPLE``, or the safe ``s-low``) become held labels;
        other roles are ignored. A role in ``security_admin_roles`` grants every label. Every TLP
        that is not enforced is held by everybody (it is informational). Raises NotAuthenticated
        when the caller lacks a ``security_minimum_required_access`` label, and InvalidSecurity for
        unknown ``exclude``/``include`` labels.
        """
        roles = tuple(roles)
        vocab = policy.vocab
        admin = any(r in policy.admin_roles for r in roles)
        if admin:
            labels = set(vocab.all_labels)
        else:
            labels = {label for r in roles if (label := policy.label(r)) is not None}
            labels |= vocab.tlps - vocab.enforced_tlps
        # Azul counts the origin REL as held by anyone holding a REL when checking minimum access.
        counted = labels | ({vocab.origin} if vocab.origin and labels & vocab.releasabilities else set())
        missing = policy.minimum_required_access - counted
        if missing:
            raise NotAuthenticated(
                f"user {username!r} does not hold the minimum access this server requires "
                f"(missing {', '.join(sorted(missing))}); ask for those roles",
                reason="below_minimum_access",
            )
        # Everybody let in holds the minimum access: Azul serves those documents from an index with
        # no document-level security at all.
        labels |= policy.minimum_required_access
        base = cls(username=username, labels=frozenset(labels), admin=admin, roles=roles, policy=policy)
        return base.with_filters(exclude=exclude, include=include)

    @classmethod
    def system_access(cls, policy: SecurityPolicy | None = None) -> Access:
        """Unfiltered access for lifecycle jobs (age-off, purge, retries). Never for a request."""
        labels = policy.vocab.all_labels if policy else frozenset()
        return cls(username="system", labels=labels, admin=True, system=True, policy=policy)

    def with_filters(self, *, exclude: Iterable[str] = (), include: Iterable[str] = ()) -> Access:
        """The same caller with the request's ``x``/``i`` filters (validated; InvalidSecurity)."""
        policy = self._policy()
        return replace(
            self,
            exclude=frozenset(policy.require_label(x) for x in exclude if x.strip()),
            include=frozenset(policy.require_label(i, releasability_only=True) for i in include if i.strip()),
        )

    def _policy(self) -> SecurityPolicy:
        if self.policy is None:
            raise ValueError("this access has no SecurityPolicy")
        return self.policy

    # --- reads --------------------------------------------------------------------------------

    def can_see(self, encoded: EncodedSecurity) -> bool:
        """Whether a document with this encoded security is visible to the caller."""
        if self.system:
            return True
        held = self._held
        # An empty inclusive list never comes from encode(); treat it as unreadable (fail closed).
        if held.isdisjoint(encoded.inclusive):
            return False
        for label in encoded.exclusive:
            if label not in held:
                return False
        enforced = self._enforced.intersection(encoded.markings)
        if enforced and held.isdisjoint(enforced):
            return False
        if self._exclude_safe and not (
            self._exclude_safe.isdisjoint(encoded.exclusive)
            and self._exclude_safe.isdisjoint(encoded.inclusive)
            and self._exclude_safe.isdisjoint(encoded.markings)
        ):
            return False
        return not self._include_safe or self._include_safe.issubset(encoded.inclusive)

    def can_see_security(self, security: str) -> bool:
        """:meth:`can_see` for a stored security string; unparseable strings are not visible."""
        if self.system:
            return True
        try:
            encoded = self._policy().encode(security)
        except InvalidSecurity:
            return False
        return self.can_see(encoded)

    @property
    def safe_labels(self) -> frozenset[str]:
        """Held labels in safe form, with ``s-any`` (for engines that filter on encoded labels)."""
        return self._held

    @property
    def enforced_markings(self) -> frozenset[str]:
        """The safe forms of the enforced TLPs (a document carrying one needs it held)."""
        return self._enforced

    @property
    def exclude_safe(self) -> frozenset[str]:
        return self._exclude_safe

    @property
    def include_safe(self) -> frozenset[str]:
        return self._include_safe

    @property
    def sec_filter(self) -> str | None:
        """Azul's ``meta.sec_filter``: ``"AND"`` with an ``i`` filter, ``"OR"`` with ``x`` only."""
        if self.include:
            return "AND"
        return "OR" if self.exclude else None

    # --- writes -------------------------------------------------------------------------------

    def can_assign(self, security: str | None) -> bool:
        """Whether the caller may label something with ``security`` (submissions, tags...).

        They must hold every exclusive label, one of the RELs if any, and any enforced TLP - that
        is, be able to read what they write. Raises InvalidSecurity if the string is invalid.
        """
        if self.system:
            return True
        return not self._missing(self._policy().parse(security), self.labels)

    def require_assignable(self, security: str | None) -> str:
        """The normalised security if the caller may assign it; InvalidSecurity saying why not."""
        policy = self._policy()
        parsed = policy.parse(security)
        missing = [] if self.system else self._missing(parsed, self.labels)
        if missing:
            raise InvalidSecurity(
                f"you may not assign security {policy.render(parsed)!r}: you do not hold "
                f"{' and '.join(missing)}; you may assign up to {self.max_access!r}",
                security=policy.render(parsed),
            )
        return policy.render(parsed)

    def _missing(self, parsed: ParsedSecurity, labels: frozenset[str]) -> list[str]:
        """What ``labels`` lack to read ``parsed``, as phrases for an error message."""
        missing = []
        lacking = sorted(parsed.exclusive - labels)
        if lacking:
            missing.append(", ".join(lacking))
        if parsed.releasability and labels.isdisjoint(parsed.releasability):
            missing.append("any of " + ", ".join(sorted(parsed.releasability)))
        enforced = parsed.tlp & self._policy().vocab.enforced_tlps
        if enforced and labels.isdisjoint(enforced):
            missing.append(", ".join(sorted(enforced)))
        return missing

    # --- summaries (the "me" endpoint, meta.security) ------------------------------------------

    @cached_property
    def summary_labels(self) -> frozenset[str]:
        """Labels as Azul reports them: the origin REL added when any REL is held, ``x`` removed,
        RELs dropped when no remaining classification may carry them.
        """
        vocab = self._policy().vocab
        labels = set(self.labels)
        if vocab.origin and labels & vocab.releasabilities:
            labels.add(vocab.origin)
        labels -= self.exclude
        if not any(vocab.allows_releasability(c) for c in labels & vocab.classifications):
            labels -= vocab.releasabilities
        return frozenset(labels)

    @cached_property
    def max_access(self) -> str:
        """The most restrictive security the caller can read (canonical form)."""
        return self._policy().max_security(self.summary_labels)

    @cached_property
    def max_access_display(self) -> str:
        """:attr:`max_access` as shown to people (origin alias); goes in ``x-azul-security``."""
        return self._policy().max_security(self.summary_labels, display=True)

    @cached_property
    def unique(self) -> str:
        """md5 of the sorted labels joined by ``.`` - Azul's id of an access level (cache keys)."""
        return _md5(".".join(sorted(self.summary_labels)))

    def allowed_presets(self) -> list[str]:
        """The configured presets the caller may assign (with ``x`` labels removed)."""
        policy = self._policy()
        held = self.labels - self.exclude
        return [p for p in policy.presets if self.system or not self._missing(policy.parse(p), held)]

    def user_security(self) -> dict[str, Any]:
        """Azul's ``UserSecurity`` shape."""
        vocab = self._policy().vocab
        labels = self.summary_labels
        return {
            "labels": sorted(labels),
            "labels_inclusive": sorted(labels & vocab.releasabilities),
            "labels_exclusive": sorted(labels & (vocab.classifications | vocab.caveats)),
            "labels_markings": sorted(labels & vocab.tlps),
            "unique": self.unique,
            "max_access": self.max_access,
            "max_access_display": self.max_access_display,
            "allowed_presets": self.allowed_presets(),
        }

    def user_access(self, account_info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Azul's ``UserAccess`` shape, answered by ``GET /v0/users/me/opensearch``.

        ``account_info`` stands in for OpenSearch's account document; by default a small one is
        built from the identity so clients that display it have something to show.
        """
        if account_info is None:
            account_info = {
                "user_name": self.username,
                "backend_roles": list(self.roles),
                "roles": sorted(self._held),
            }
        return {
            "account_info": account_info,
            "security_enabled": True,
            "privileged": self.admin,
            "roles": list(self.roles),
            "security": self.user_security(),
        }


def visible_securities(access: Access, securities: Iterable[str]) -> set[str]:
    """The subset of ``securities`` (distinct strings stored in an index) the caller may see.

    Adapters call this once per query and filter rows by membership, which keeps the label logic
    in one place for every backend. Unparseable strings are left out (fail closed).
    """
    distinct = set(securities)
    if access.system:
        return distinct
    return {s for s in distinct if access.can_see_security(s)}


def visible_ids(access: Access, securities: Sequence[tuple[int, str]]) -> set[int]:
    """Like :func:`visible_securities` for ``(id, security)`` rows of a security table."""
    return {sid for sid, security in securities if access.system or access.can_see_security(security)}
