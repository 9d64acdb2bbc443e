"""The hex view of a window of a binary, shaped as Azul's ``BinaryHexView`` (inventory §6.9)."""

from __future__ import annotations

from typing import Any

__all__ = ["hex_view"]

ROW = 16
_HEADER_HEX = [f"{i:02X}" for i in range(ROW)]
_ASCII = bytes(c if 33 <= c <= 126 else ord(".") for c in range(256))


def hex_view(data: bytes, *, offset: int = 0, content_length: int | None = None,
             shortform: bool = False) -> dict[str, Any]:
    """16-byte rows of ``data`` (the file's bytes from ``offset``).

    ``hex`` is a list of 16 upper-case byte strings padded with ``""``, or with ``shortform`` one
    string of lower-case 4-digit groups; ``ascii`` shows bytes 33-126 and ``.`` for the rest.
    """
    rows = []
    for i in range(0, len(data), ROW):
        row = data[i:i + ROW]
        if shortform:
            hexed: Any = " ".join(row[j:j + 2].hex() for j in range(0, len(row), 2))
        else:
            hexed = [f"{b:02X}" for b in row] + [""] * (ROW - len(row))
        rows.append({"address": offset + i, "hex": hexed, "ascii": row.translate(_ASCII).decode("ascii")})
    total = content_length if content_length is not None else offset + len(data)
    end = offset + len(data)
    header_hex: Any = " ".join(f"{i:02x}{i + 1:02x}" for i in range(0, ROW, 2)) if shortform else list(_HEADER_HEX)
    return {
        "hex_strings": rows,
        "header": {"address": "ADDRESS", "hex": header_hex, "ascii": "ASCII"},
        "has_more": end < total,
        "next_offset": end,
        "content_length": total,
    }
