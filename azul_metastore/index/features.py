"""Feature values as stored in the index: the original value plus typed, searchable parts (§4.4).

Plugins send every feature value as a string. To search ``port:>1024`` or ``hostname:example.com``
the index needs the value parsed by type, so each stored feature gets an ``enriched`` object
(``integer``, ``float``, ``datetime``, ``binary_string``, ``filepath``, or the parts of a URI) and an
``encoded`` object (the ``location`` range when the feature names where in the content it was
found). A value that does not parse for its type (``host:9006:9006`` as a URI) is still stored and
searchable by its text: it is only left without ``enriched``, and the failure is logged.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

__all__ = ["FeatureSummary", "encode_features", "enrich", "md5_hex"]

logger = logging.getLogger(__name__)


def md5_hex(text: str) -> str:
    """md5 as a fingerprint for grouping (not security), as Azul uses it for ``uniq_*`` fields."""
    return hashlib.md5(text.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def _filepath(value: str) -> dict[str, Any]:
    # Windows and unix paths share one search space: when the first separator is a backslash the
    # path is rewritten with slashes (the original stays in ``value``).
    bs = value.find("\\")
    if bs >= 0:
        fs = value.find("/")
        if fs < 0 or bs < fs:
            value = value.replace("\\", "/")
    return {"filepath": value}


_URI_PREFIXES = ("mailto:", "http:", "https:")


def _uri(value: str) -> dict[str, Any]:
    # Plugins often report "host:port" or "host/path" without a scheme; parse those as if they had
    # one so the host lands in ``hostname`` instead of ``scheme``.
    if "://" not in value and not value.lower().startswith(_URI_PREFIXES):
        value = "none://" + value
        has_scheme = False
    else:
        has_scheme = True
    r = urlparse(value)
    hostname = r.hostname
    port = r.port  # raises ValueError for e.g. "host:9006:9006"
    out: dict[str, Any] = {}
    if has_scheme and r.scheme:
        out["scheme"] = r.scheme
    for key, part in (
        ("netloc", r.netloc),
        ("filepath", r.path),
        ("params", r.params),
        ("query", r.query),
        ("fragment", r.fragment),
        ("username", r.username),
        ("password", r.password),
        ("hostname", hostname),
    ):
        if part:
            out[key] = part
    if port:
        out["port"] = port
    # only hostnames that can be addresses are tried: a failed ip_address() raises, which is slow
    if hostname and (hostname[0].isdigit() or ":" in hostname):
        try:
            ipaddress.ip_address(hostname)
        except ValueError:
            pass
        else:
            out["ip"] = hostname
    return out


def _binary(value: str) -> dict[str, Any]:
    return {"binary_string": base64.b64decode(value).decode("utf-8", errors="ignore")}


def _integer(value: str) -> dict[str, Any]:
    number = int(value)
    if not -(2**63) <= number < 2**63:  # what both indices hold (an OpenSearch long; SQLite's JSON)
        raise ValueError(f"integer {value[:40]!r} is past 64 bits")
    return {"integer": number}


def _float(value: str) -> dict[str, Any]:
    number = float(value)
    if not math.isfinite(number):  # JSON has no infinity or NaN
        raise ValueError(f"float {value[:40]!r} is not finite")
    return {"float": number}


_ENRICHERS: dict[str, Callable[[str], dict[str, Any]]] = {
    "integer": _integer,
    "float": _float,
    "string": lambda v: {},
    "binary": _binary,
    "datetime": lambda v: {"datetime": v},
    "filepath": _filepath,
    "uri": _uri,
}


def enrich(value: str, type_: str) -> dict[str, Any]:
    """The ``enriched`` object of one feature value. Raises ValueError (or TypeError) if it does not parse."""
    enricher = _ENRICHERS.get(type_)
    if enricher is None:
        raise ValueError(f"unknown feature type {type_!r}")
    return enricher(value)


_OPTIONAL = ("label", "offset", "size")

# Feature values repeat heavily across binaries (the same hosts, paths, signatures, section names),
# so the stored form of a plain feature (name, type and value only: no label, offset or size) is
# memoised whole: the enrichment (parsing a URI or path costs several µs) and the three dictionaries
# of a stored feature are built once per distinct feature, not once per occurrence. Measured on
# bench.generator events (35 features each): 36 µs per event before. Bounded, and simply cleared
# when full.
#
# Memoised features are shared by the documents that carry them: document bodies are never modified
# after encoding (whatever rebuilds an event from a body copies it first, see decoder.py).
_MEMO_LIMIT = 131_072
#: (name, type, value) -> (stored feature, its ``name.value`` for the uniq_features digest)
_memo: dict[tuple[str, str, Any], tuple[dict[str, Any], str]] = {}


def _stored(feat: Mapping[str, Any], name: str, type_: str, value: Any, context: str) -> dict[str, Any]:
    """One feature as stored: wire fields plus ``enriched`` (when it parses) and ``encoded``."""
    out: dict[str, Any] = {"name": name, "type": type_, "value": value}
    if len(feat) > 3:
        for key in _OPTIONAL:
            v = feat.get(key)
            if v is not None:
                out[key] = v
    enricher = _ENRICHERS.get(type_)
    try:
        if enricher is None:
            raise ValueError(f"unknown feature type {type_!r}")
        out["enriched"] = enricher(value)
    except (ValueError, TypeError, UnicodeError) as exc:
        logger.warning(
            "feature %s=%r (%s) stored without enrichment: %s%s",
            name,
            value,
            type_,
            exc,
            f" ({context})" if context else "",
        )
    offset = out.get("offset")
    size = out.get("size")
    if offset is None and size is None:
        out["encoded"] = {}
    else:
        gte = offset or 0
        out["encoded"] = {"location": {"gte": gte, "lte": gte + (size or 0)}}
    return out


class FeatureSummary:
    """The derived fields of a result's features (§4.3), computed in one pass over them."""

    __slots__ = ("features", "features_map", "filename", "num_feature_names", "uniq_digest")

    def __init__(
        self,
        features: list[dict[str, Any]],
        features_map: dict[str, list[str]],
        filename: list[str],
        uniq_digest: str,
    ) -> None:
        self.features = features
        self.features_map = features_map
        self.filename = filename
        self.num_feature_names = len(features_map)
        self.uniq_digest = uniq_digest


def encode_features(raw: Iterable[Mapping[str, Any]], *, context: str = "") -> FeatureSummary:
    """Stored features plus ``features_map``, ``filename`` and the digest behind ``uniq_features``.

    ``raw`` are feature dicts in wire form; they are copied, never modified. ``context`` names the
    event in the log line of an enrichment failure.
    """
    features: list[dict[str, Any]] = []
    features_map: dict[str, list[str]] = {}
    name_values: list[str] = []
    memo = _memo
    for feat in raw:
        name = feat["name"]
        value = feat["value"]
        type_ = feat["type"]
        cacheable = len(feat) == 3  # exactly name, type and value
        hit = None
        if cacheable:
            key = (name, type_, value)
            try:
                hit = memo.get(key)
            except TypeError:  # an unhashable value (not valid wire form): stored as it came
                cacheable = False
        if hit is None:
            hit = (_stored(feat, name, type_, value, context), f"{name}.{value}")
            if cacheable:
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[key] = hit
        out, name_value = hit
        features.append(out)
        values = features_map.get(name)
        if values is None:
            features_map[name] = [value]
        else:
            values.append(value)
        name_values.append(name_value)
    name_values.sort()
    return FeatureSummary(
        features,
        features_map,
        list(features_map.get("filename", ())),
        md5_hex(".".join(name_values)),
    )
