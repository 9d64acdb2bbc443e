"""Response classes shared by the routes."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class JSON(Response):
    """JSON rendered with orjson: several times faster than the standard library on large
    search results, and it serialises datetimes as RFC 3339 like Azul does."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
