"""Security strings of documents: normalised, combined and encoded once per distinct input.

Every document stores the security of what it was built from (§4.2). The same few strings repeat
across millions of events, so results are memoised per encoder; the caches are bounded and simply
cleared when full (the working set is tiny, so a smarter policy would not pay for itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azul_metastore.errors import InvalidSecurity
from azul_metastore.index.documents import EncodeError
from azul_metastore.security.labels import SecurityPolicy

__all__ = ["DocumentSecurity"]

_CACHE_LIMIT = 16_384
_AUTHOR_KEYS = ("category", "name", "version")


class DocumentSecurity:
    """Memoising front of a :class:`SecurityPolicy`; errors become EncodeError(reason="bad_security")."""

    def __init__(self, policy: SecurityPolicy) -> None:
        self.policy = policy
        self._normalised: dict[str | None, str] = {}
        self._combined: dict[tuple[str, ...], str] = {}

    def normalise(self, security: str | None, where: str) -> str:
        """Canonical form (``None``/blank = the default); ``where`` names the field in errors."""
        cached = self._normalised.get(security)
        if cached is not None:
            return cached
        try:
            result = self.policy.normalise(security)
        except InvalidSecurity as exc:
            raise EncodeError(f"{where}: {exc}", "bad_security", field=where) from exc
        if len(self._normalised) >= _CACHE_LIMIT:
            self._normalised.clear()
        self._normalised[security] = result
        return result

    def combine(self, securities: tuple[str, ...]) -> str:
        """The security a reader needs to see something built from all of ``securities``."""
        cached = self._combined.get(securities)
        if cached is not None:
            return cached
        try:
            result = self.policy.combine(securities)
        except InvalidSecurity as exc:
            raise EncodeError(f"security: {exc}", "bad_security") from exc
        if len(self._combined) >= _CACHE_LIMIT:
            self._combined.clear()
        self._combined[securities] = result
        return result

    def encoded(self, security: str) -> dict[str, Any]:
        """``encoded_security`` of a document (a fresh dict each time: documents never share it)."""
        return self.policy.encode(security).as_dict()

    def author(self, author: Mapping[str, Any], where: str) -> dict[str, Any]:
        """An author as stored: ``security`` normalised, absent fields left out."""
        out: dict[str, Any] = {"security": self.normalise(author.get("security"), where)}
        for key in _AUTHOR_KEYS:
            value = author.get(key)
            if value is not None:
                out[key] = value
        return out

    def path_securities(self, source: Mapping[str, Any], where: str) -> list[str]:
        """Normalised securities of the source and of every path author, in that order."""
        out = [self.normalise(source.get("security"), f"{where}.security")]
        for i, node in enumerate(source.get("path") or ()):
            out.append(self.normalise(node["author"].get("security"), f"{where}.path[{i}].author.security"))
        return out
