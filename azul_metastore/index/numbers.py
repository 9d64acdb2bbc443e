"""Which feature values are numbers, for ``features_map.<name>:>n`` and ranges, on every index backend.

Plugins send every feature value as text, and a comparison such as ``features_map.count:>3`` must
compare numbers, not text. Both adapters take "a number" to mean exactly what :func:`as_number`
accepts: plain ASCII decimal notation with an optional sign, fraction and exponent, and spaces or
tabs around it. Anything else (``12abc``, ``0x1f``, ``NaN``, ``1,000``) is text and never matches a numeric
comparison. The embedded index calls it as an SQL function over its value lists; the OpenSearch
adapter indexes the numbers it finds as ``features_num.<name>`` doubles beside the keyword.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

_NUMBER = re.compile(r"[ \t]*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[ \t]*")


def as_number(text: object) -> float | None:
    """The value of ``text`` as a finite number, or None when it is not a number."""
    if not isinstance(text, str) or not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def numeric_view(features_map: Mapping[str, Sequence[object]]) -> dict[str, list[float]]:
    """The values of each feature that are numbers (features with none are left out)."""
    out: dict[str, list[float]] = {}
    for name, values in features_map.items():
        numbers = [n for n in map(as_number, values) if n is not None]
        if numbers:
            out[name] = numbers
    return out
