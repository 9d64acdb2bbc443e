"""Security strings: parse, validate, normalise, combine, display and encode them.

A security string is a space-separated list of labels from the configured vocabulary
(``Settings.security_labels``), in four groups:

* **classification** - exactly one is kept, the highest priority; required in every string;
* **caveat** - a reader needs every one (exclusive, like the classification);
* **releasability** - ``REL:`` labels; a reader needs at least one (inclusive). Written ``REL:A,B``
  (canonical) or ``REL:A REL:B``; when an ``origin`` is configured every REL set must contain it;
* **tlp** - markings; informational unless ``enforce_security`` is set, then a reader must hold it.

RELs are only allowed with a classification whose priority is >= ``allow_releasability_priority_gte``.
TLPs belong to the classifications below it: on a REL-capable classification they are dropped while
normalising (Azul does the same, so that combining ``LOW TLP:AMBER`` with ``MEDIUM REL:APPLE`` gives
``MEDIUM REL:APPLE`` instead of an error). Several TLPs collapse to the most restrictive (the last one
configured).

Canonical form: classification, caveats (configuration order), ``REL:A,B`` (sorted), TLP - the same
string Azul's normaliser produces, so strings written by Azul and by us compare equal.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from azul_metastore.errors import ConfigError, InvalidSecurity
from azul_metastore.security._encoding import ANY, EncodedSecurity, safe_label
from azul_metastore.security._vocabulary import Vocabulary
from azul_metastore.settings import Settings

__all__ = ["ANY", "EncodedSecurity", "ParsedSecurity", "SecurityPolicy", "safe_label"]


@dataclass(frozen=True, slots=True)
class ParsedSecurity:
    """A validated, normalised security: one classification, caveats, RELs and at most one TLP."""

    classification: str
    caveats: frozenset[str]
    releasability: frozenset[str]
    tlp: frozenset[str]

    @property
    def exclusive(self) -> frozenset[str]:
        return self.caveats | {self.classification}

    @property
    def labels(self) -> frozenset[str]:
        return self.exclusive | self.releasability | self.tlp


class SecurityPolicy:
    """The label vocabulary plus the rules built on it. Build once per process (``from_settings``).

    Every method taking a security string treats ``None`` or a blank string as the configured
    default. Invalid strings raise :class:`InvalidSecurity` naming the bad label and what is accepted.
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        *,
        default: str,
        presets: Iterable[str] = (),
        minimum_required_access: Iterable[str] = (),
        admin_roles: Iterable[str] = ("admin",),
    ) -> None:
        self.vocab = vocabulary
        self.admin_roles = frozenset(admin_roles)
        v = vocabulary
        prefix = re.escape(v.prefix)
        # A REL group: the prefix, then comma-separated names (spaces allowed after commas).
        self._rel_group = re.compile(rf"(?<!\S){prefix}([^\s,]*(?:\s*,\s*[^\s,]+)*)")
        if not default or not default.strip():
            raise ConfigError("METASTORE_SECURITY_DEFAULT must be set to a valid security string")
        try:
            self.default = self._normalise_text(default)
        except InvalidSecurity as exc:
            raise ConfigError(f"METASTORE_SECURITY_DEFAULT: {exc}") from exc
        normalised_presets = []
        for preset in presets:
            try:
                normalised_presets.append(self._normalise_text(preset))
            except InvalidSecurity as exc:
                raise ConfigError(f"METASTORE_SECURITY_PRESETS: {exc}") from exc
        self.presets: tuple[str, ...] = tuple(normalised_presets)
        minimum = set()
        for label in minimum_required_access:
            canonical = v.canonical.get(v.clean(label))
            if canonical is None or canonical in v.tlps:
                raise ConfigError(
                    f"METASTORE_SECURITY_MINIMUM_REQUIRED_ACCESS: {label!r} is not a classification, "
                    f"caveat or releasability label; accepted: {v.describe()}"
                )
            minimum.add(canonical)
        self.minimum_required_access = frozenset(minimum)
        # Encoding runs for every document written and every distinct security read; cache it.
        self._encode_cached = functools.lru_cache(maxsize=8192)(self._encode)
        self._parse_cached = functools.lru_cache(maxsize=8192)(self._parse_text)

    @classmethod
    def from_settings(cls, settings: Settings) -> SecurityPolicy:
        """Build the policy from :class:`~azul_metastore.settings.Settings`; ConfigError if invalid."""
        vocab = Vocabulary(settings.security_labels, settings.security_allow_releasability_priority_gte)
        return cls(
            vocab,
            default=settings.security_default,
            presets=settings.security_presets,
            minimum_required_access=settings.security_minimum_required_access,
            admin_roles=settings.security_admin_roles,
        )

    # --- parsing -------------------------------------------------------------------------------

    def parse(self, security: str | None) -> ParsedSecurity:
        """Parse and validate one security string (``None``/blank = the default)."""
        if security is None or not security.strip():
            return self._parse_cached(self.default)
        return self._parse_cached(security)

    def _parse_text(self, security: str) -> ParsedSecurity:
        v = self.vocab
        # Azul accepts "/" and "\" as separators too ("SECRET//REL:APPLE").
        text = " " + re.sub(r"[/\\]", " ", security.upper()) + " "
        rels: set[str] = set()
        for match in self._rel_group.finditer(text):
            if not match.group(1).replace(",", "").strip():
                # "MEDIUM REL:" meant to restrict releasability: without a name it would have been
                # dropped, and the document released to every MEDIUM reader
                raise InvalidSecurity(f"security {security!r} has {v.prefix} without a releasability name; "
                                      f"name one or more (accepted: {v.describe()})", security=security)
            for item in match.group(1).split(","):
                name = item.strip()
                if not name:
                    continue
                canonical = v.releasability_by_name.get(v.clean(name))
                if canonical is None:
                    self._bad(security, v.prefix + name.removeprefix(v.prefix))
                rels.add(canonical)
        text = self._rel_group.sub(" ", text)
        tokens = text.split()
        found: list[str] = []
        i = 0
        while i < len(tokens):
            for width in range(min(v.max_words, len(tokens) - i), 0, -1):
                label = v.words.get(" ".join(tokens[i : i + width]))
                if label is not None:
                    found.append(label)
                    i += width
                    break
            else:
                self._bad(security, tokens[i])
        rels.update(x for x in found if x in v.releasabilities)
        classifications = [x for x in found if x in v.classifications]
        caveats = frozenset(x for x in found if x in v.caveats)
        tlps = {x for x in found if x in v.tlps}
        if not classifications:
            raise InvalidSecurity(
                f"security {security!r} has no classification; add one of: {', '.join(v.classification_order)}",
                security=security,
            )
        classification = max(classifications, key=v.classification_rank)
        return self._validated(security, classification, caveats, frozenset(rels), tlps)

    def _validated(
        self,
        security: str,
        classification: str,
        caveats: frozenset[str],
        rels: frozenset[str],
        tlps: set[str],
    ) -> ParsedSecurity:
        """Apply the cross-group rules to parsed labels and collapse what collapses."""
        v = self.vocab
        priority = v.priority[classification]
        for caveat in caveats:
            low, high = v.caveat_range[caveat]
            if (low is not None and priority < low) or (high is not None and priority > high):
                raise InvalidSecurity(
                    f"security {security!r}: caveat {caveat} is only allowed with classifications "
                    f"of priority {low if low is not None else '-'}..{high if high is not None else '-'}",
                    security=security,
                )
        allows_rels = v.allows_releasability(classification)
        if rels and not allows_rels:
            raise InvalidSecurity(
                f"security {security!r}: releasability ({', '.join(sorted(rels))}) is only allowed with "
                f"classifications {', '.join(v.rel_classifications) or '(none configured)'}",
                security=security,
            )
        if rels and v.origin and v.origin not in rels:
            raise InvalidSecurity(
                f"security {security!r}: a releasability set must include the origin {v.origin}",
                security=security,
            )
        if allows_rels:
            tlps = set()
        return ParsedSecurity(classification, caveats, rels, v.most_restrictive_tlp(tlps))

    def _bad(self, security: str, label: str) -> NoReturn:
        raise InvalidSecurity(
            f"security {security!r} has unknown label {label!r}; accepted: {self.vocab.describe()}",
            security=security,
            label=label,
        )

    # --- rendering ------------------------------------------------------------------------------

    def render(self, parsed: ParsedSecurity, *, display: bool = False) -> str:
        """The canonical string of a parsed security; ``display`` shows the origin alias."""
        return self.vocab.render(
            [parsed.classification], parsed.caveats, parsed.releasability, parsed.tlp, display=display
        )

    def normalise(self, security: str | None) -> str:
        """Canonical form of a security string (uppercase, canonical order, collapsed)."""
        return self.render(self.parse(security))

    def _normalise_text(self, security: str) -> str:
        return self.render(self._parse_text(security))

    def display(self, security: str | None) -> str:
        """The form shown to people: canonical, with ``REL:<origin_alt_name>`` when only the origin."""
        return self.render(self.parse(security), display=True)

    def is_valid(self, security: str | None) -> bool:
        try:
            self.parse(security)
        except InvalidSecurity:
            return False
        return True

    # --- combining ------------------------------------------------------------------------------

    def combine(self, securities: Iterable[str | None]) -> str:
        """The security of something derived from several inputs (an event from source + plugins).

        Highest classification, union of caveats and TLPs, intersection of the non-empty REL sets:
        a reader must be allowed by every input. Raises InvalidSecurity when no REL is common to all
        (nobody could be allowed to read the result). No inputs gives the default.
        """
        parsed = [self.parse(s) for s in securities]
        if not parsed:
            return self.default
        v = self.vocab
        classification = max((p.classification for p in parsed), key=v.classification_rank)
        caveats = frozenset().union(*(p.caveats for p in parsed))
        tlps = set().union(*(p.tlp for p in parsed))
        rel_sets = [p.releasability for p in parsed if p.releasability]
        rels: frozenset[str] = frozenset.intersection(*rel_sets) if rel_sets else frozenset()
        described = " + ".join(self.render(p) for p in parsed)
        if rel_sets and not rels:
            raise InvalidSecurity(
                f"securities {described} have no releasability in common, so nobody could read the result",
                securities=[self.render(p) for p in parsed],
            )
        return self.render(self._validated(described, classification, caveats, rels, tlps))

    # --- encoding --------------------------------------------------------------------------------

    def encode(self, security: str | None) -> EncodedSecurity:
        """The label sets stored beside a document's security and used to filter reads.

        ``"s-any"`` (the security of binary2 parent docs) encodes as visible to everybody.
        """
        if security == ANY:
            return EncodedSecurity((ANY,), (ANY,), (), 1)
        if security is None or not security.strip():
            security = self.default
        return self._encode_cached(security)

    def _encode(self, security: str) -> EncodedSecurity:
        p = self.parse(security)
        exclusive = tuple(sorted(safe_label(x) for x in p.exclusive)) or (ANY,)
        inclusive = tuple(sorted(safe_label(x) for x in p.releasability)) or (ANY,)
        markings = tuple(sorted(safe_label(x) for x in p.tlp)) or (ANY,)
        return EncodedSecurity(exclusive, inclusive, markings, len(exclusive))

    # --- labels -----------------------------------------------------------------------------------

    def label(self, text: str) -> str | None:
        """The canonical label for a raw name (any case), its safe form (``s-low``), or the origin
        alias; None when it names no label. Used to turn token roles into held labels.
        """
        v = self.vocab
        return v.canonical.get(v.clean(text)) or v.by_safe.get(text.strip().lower())

    def require_label(self, text: str, *, releasability_only: bool = False) -> str:
        """Like :meth:`label` but raises InvalidSecurity (for user-supplied ``x``/``i`` filters)."""
        v = self.vocab
        label = self.label(text)
        if label is None and releasability_only:
            label = v.releasability_by_name.get(v.clean(text))
        if label is None or (releasability_only and label not in v.releasabilities):
            accepted = ", ".join(v.releasability_order) if releasability_only else v.describe()
            raise InvalidSecurity(f"{text!r} is not a security label; accepted: {accepted}", label=text)
        return label

    def max_security(self, labels: Iterable[str], *, display: bool = False) -> str:
        """The most restrictive security string built from ``labels`` (a user's max access).

        Highest classification, every caveat, TLPs collapsed; RELs only if the classification allows
        them, and then the origin alone when held (Azul shows a user's max access that way).
        """
        v = self.vocab
        held = set(labels)
        classifications = [x for x in held if x in v.classifications]
        if not classifications:
            return ""
        top = max(classifications, key=v.classification_rank)
        rels = held & v.releasabilities
        if v.origin in rels:
            rels = {v.origin}
        if v.allows_releasability(top):
            tlps: frozenset[str] = frozenset()
        else:
            rels = set()
            tlps = v.most_restrictive_tlp(held & v.tlps)
        return v.render([top], held & v.caveats, rels, tlps, display=display)

    def describe(self) -> dict[str, Any]:
        """The vocabulary and defaults as JSON-able data (for a ``/security`` settings endpoint)."""
        v = self.vocab
        return {
            "classifications": list(v.classification_order),
            "caveats": list(v.caveat_order),
            "releasabilities": list(v.releasability_order),
            "tlps": list(v.tlp_order),
            "enforced_tlps": sorted(v.enforced_tlps),
            "origin": v.origin,
            "origin_alt_name": v.origin_alt_name,
            "allow_releasability_priority_gte": v.rel_priority_gte,
            "default": self.default,
            "presets": list(self.presets),
            "minimum_required_access": sorted(self.minimum_required_access),
        }
