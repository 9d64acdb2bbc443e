"""Azul's response envelope: ``{"data": ..., "meta": {"security", "sec_filter"}}`` and the
``x-azul-security`` header, built in one place so every endpoint answers the same way.

azul-client validates ``data`` with strict models (one unknown field breaks it), so ``data`` must be
exactly the model's fields; ``meta`` carries only what Azul's does.
"""

from __future__ import annotations

from typing import Any

from azul_metastore.api.responses import JSON
from azul_metastore.security import Access


def enveloped(data: Any, access: Access, *, security: str | None = None, status_code: int = 200) -> JSON:
    """Wrap ``data``; ``security`` names the label the answer is about (default: the caller's max)."""
    shown = security or access.max_access_display
    meta: dict[str, Any] = {"security": shown, "sec_filter": access.sec_filter}
    return JSON({"data": data, "meta": meta}, status_code=status_code, headers={"x-azul-security": shown})


def bare(data: Any, access: Access | None = None) -> JSON:
    """An answer without the envelope (Azul's exceptions: content views, readonly, expedite...)."""
    headers = {"x-azul-security": access.max_access_display} if access is not None else None
    return JSON(data, headers=headers)
