"""The configured label vocabulary, checked once at start-up and indexed for fast parsing.

Config errors (duplicate labels, two labels with the same safe form, an origin that is not a
releasability...) stop start-up with ConfigError: a vocabulary problem found at request time would
make documents unreadable or, worse, readable by the wrong people.
"""

from __future__ import annotations

from collections.abc import Iterable

from azul_metastore.errors import ConfigError
from azul_metastore.security._encoding import ANY, safe_label
from azul_metastore.settings import SecurityLabels

_VAR = "METASTORE_SECURITY_LABELS"


def clean(text: str) -> str:
    """Uppercase and single-space a label as written by a person or a token."""
    return " ".join(text.upper().split())


class Vocabulary:
    """Label names by group, their orders and priorities, and look-up tables."""

    clean = staticmethod(clean)

    def __init__(self, labels: SecurityLabels, allow_releasability_priority_gte: int) -> None:
        rel_group = labels.releasability
        self.prefix = clean(rel_group.prefix or "REL:")
        self.rel_priority_gte = allow_releasability_priority_gte

        classification_opts = [(clean(o.name), o.priority) for o in labels.classification.options]
        if not classification_opts:
            raise ConfigError(f"{_VAR}: at least one classification must be configured")
        # Highest wins when several are given; ties keep configuration order (later = higher).
        order = sorted(range(len(classification_opts)), key=lambda i: (classification_opts[i][1], i))
        self.classification_order = tuple(classification_opts[i][0] for i in order)
        self._rank = {name: pos for pos, name in enumerate(self.classification_order)}
        self.priority = dict(classification_opts)
        self.caveat_order = tuple(clean(o.name) for o in labels.caveat.options)
        self.caveat_range = {clean(o.name): (o.min_priority, o.max_priority) for o in labels.caveat.options}
        self.releasability_order = tuple(
            sorted({self._rel_name(o.name) for o in rel_group.options}, key=self.rel_sort_key)
        )
        self.tlp_order = tuple(clean(o.name) for o in labels.tlp.options)
        self.enforced_tlps = frozenset(clean(o.name) for o in labels.tlp.options if o.enforce_security)

        self.classifications = frozenset(self.classification_order)
        self.caveats = frozenset(self.caveat_order)
        self.releasabilities = frozenset(self.releasability_order)
        self.tlps = frozenset(self.tlp_order)
        self.all_labels = self.classifications | self.caveats | self.releasabilities | self.tlps
        self.rel_classifications = tuple(
            c for c in self.classification_order if self.priority[c] >= allow_releasability_priority_gte
        )

        self.origin = self._rel_name(rel_group.origin) if rel_group.origin else ""
        alt = clean(rel_group.origin_alt_name or "")
        self.origin_alt_name = alt.removeprefix(self.prefix)
        self._check(labels)

        # Look-up tables. "words" holds what may appear as whitespace-separated text; RELs are found
        # by their prefix before that, so they are only here under their full name.
        self.words = {name: name for name in self.classifications | self.caveats | self.tlps}
        self.max_words = max(len(name.split()) for name in self.all_labels)
        self.releasability_by_name: dict[str, str] = {}
        for rel in self.releasability_order:
            self.releasability_by_name[rel] = rel
            self.releasability_by_name[rel.removeprefix(self.prefix)] = rel
        if self.origin and self.origin_alt_name:
            self.releasability_by_name[self.origin_alt_name] = self.origin
            self.releasability_by_name[self.prefix + self.origin_alt_name] = self.origin
        self.canonical = {name: name for name in self.all_labels}
        if self.origin and self.origin_alt_name:
            self.canonical[self.prefix + self.origin_alt_name] = self.origin
        self.by_safe = {safe_label(name): name for name in self.all_labels}

    def _rel_name(self, name: str) -> str:
        name = clean(name)
        return name if name.startswith(self.prefix) else self.prefix + name

    def rel_sort_key(self, rel: str) -> str:
        return rel.removeprefix(self.prefix)

    def _check(self, labels: SecurityLabels) -> None:
        names = [clean(o.name) for group in ("classification", "caveat", "tlp") for o in getattr(labels, group).options]
        names += [self._rel_name(o.name) for o in labels.releasability.options]
        seen: set[str] = set()
        for name in names:
            if not name or name == self.prefix:
                raise ConfigError(f"{_VAR}: a label has an empty name")
            if name in seen:
                raise ConfigError(f"{_VAR}: label {name!r} is configured more than once")
            if "," in name:
                raise ConfigError(f"{_VAR}: label {name!r} contains ',', which separates RELs")
            seen.add(name)
        for name in self.classifications | self.caveats | self.tlps:
            if name.startswith(self.prefix):
                raise ConfigError(f"{_VAR}: only releasabilities may start with {self.prefix!r}: {name!r}")
        for rel in self.releasabilities:
            if len(rel.split()) != 1:
                raise ConfigError(f"{_VAR}: releasability {rel!r} may not contain spaces")
        safes: dict[str, str] = {}
        for name in sorted(self.all_labels):
            other = safes.setdefault(safe_label(name), name)
            if other != name or safe_label(name) == ANY:
                raise ConfigError(f"{_VAR}: labels {other!r} and {name!r} have the same safe form {safe_label(name)!r}")
        if self.origin and self.origin not in self.releasabilities:
            raise ConfigError(
                f"{_VAR}: releasability origin {self.origin!r} is not one of {list(self.releasability_order)}"
            )
        alt = self.prefix + self.origin_alt_name
        if self.origin_alt_name and (alt in self.all_labels or self.origin_alt_name in self.all_labels):
            raise ConfigError(f"{_VAR}: origin_alt_name {self.origin_alt_name!r} is already a label")

    # --- rules ------------------------------------------------------------------------------------

    def classification_rank(self, classification: str) -> int:
        return self._rank[classification]

    def allows_releasability(self, classification: str) -> bool:
        return self.priority[classification] >= self.rel_priority_gte

    def most_restrictive_tlp(self, tlps: Iterable[str]) -> frozenset[str]:
        """Several TLPs collapse to the one configured last (TLP order runs least to most strict)."""
        held = set(tlps)
        for tlp in reversed(self.tlp_order):
            if tlp in held:
                return frozenset((tlp,))
        return frozenset()

    def render(
        self,
        classifications: Iterable[str],
        caveats: Iterable[str],
        rels: Iterable[str],
        tlps: Iterable[str],
        *,
        display: bool = False,
    ) -> str:
        """Join labels in canonical order; no validation (callers validate)."""
        parts = list(classifications)
        held_caveats = set(caveats)
        parts += [c for c in self.caveat_order if c in held_caveats]
        rel_set = set(rels)
        if rel_set:
            if display and self.origin_alt_name and rel_set == {self.origin}:
                parts.append(self.prefix + self.origin_alt_name)
            else:
                names = sorted(r.removeprefix(self.prefix) for r in rel_set)
                parts.append(self.prefix + ",".join(names))
        held_tlps = set(tlps)
        parts += [t for t in self.tlp_order if t in held_tlps]
        return " ".join(parts)

    def describe(self) -> str:
        """The accepted labels, for error messages."""
        return "; ".join(
            f"{title} {', '.join(names)}"
            for title, names in (
                ("classifications", self.classification_order),
                ("caveats", self.caveat_order),
                ("releasabilities", self.releasability_order),
                ("TLPs", self.tlp_order),
            )
            if names
        )
