"""Safe labels and the encoded security stored on every document.

A "safe label" is a label turned into something every backend can store and compare as a plain
keyword (it is also a valid OpenSearch role name): lowercase, prefixed ``s-``, every character
outside ``[a-zA-Z0-9-_]`` replaced by ``-``. ``s-any`` is held by everybody; it stands in for an
empty group so that "no RELs" still matches the "inclusive intersects held labels" rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ANY = "s-any"

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def safe_label(label: str) -> str:
    """``REL:APPLE`` -> ``s-rel-apple``; ``TLP:AMBER+STRICT`` -> ``s-tlp-amber-strict``."""
    return "s-" + _UNSAFE.sub("-", label).lower()


@dataclass(frozen=True, slots=True)
class EncodedSecurity:
    """The ``encoded_security`` of a document (sorted safe labels; ``s-any`` for an empty group).

    ``num_exclusive`` is kept beside the list because OpenSearch's ``terms_set`` needs the count in a
    field to say "every exclusive label must be held".
    """

    exclusive: tuple[str, ...]
    inclusive: tuple[str, ...]
    markings: tuple[str, ...]
    num_exclusive: int

    def as_dict(self) -> dict[str, Any]:
        """The wire/document form: ``{exclusive, inclusive, markings, num_exclusive}`` with lists."""
        return {
            "exclusive": list(self.exclusive),
            "inclusive": list(self.inclusive),
            "markings": list(self.markings),
            "num_exclusive": self.num_exclusive,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncodedSecurity:
        """Rebuild from a stored document's ``encoded_security``."""
        exclusive = tuple(data.get("exclusive") or ())
        return cls(
            exclusive=exclusive,
            inclusive=tuple(data.get("inclusive") or ()),
            markings=tuple(data.get("markings") or ()),
            num_exclusive=int(data.get("num_exclusive", len(exclusive))),
        )

    @property
    def labels(self) -> frozenset[str]:
        """Every safe label the document carries (``s-any`` excluded)."""
        return frozenset(self.exclusive + self.inclusive + self.markings) - {ANY}
