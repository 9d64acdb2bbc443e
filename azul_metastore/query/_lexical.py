"""Token-level rules shared by the parser, the printer and autocomplete: numbers, size suffixes and
quoted strings. Kept apart so the three agree on what a token means.
"""

from __future__ import annotations

import math
import re
import sys
from decimal import Decimal

from azul_metastore.errors import InvalidQuery

# The same character classes as WORD and VALUE in grammar.lark (the printer uses them to decide when a
# string can be written without quotes).
BARE_WORD = re.compile(r"[A-Za-z0-9_*?@#$][A-Za-z0-9_*?@#$./-]*")
BARE_VALUE = re.compile(r"""[^\s()\[\]{}"'\\!<>=:][^\s()\[\]"'\\]*""")
KEYWORDS = frozenset({"and", "or", "docand", "not"})

# No exponents, signs other than '-', or inf/nan: a hash prefix such as "1e5" must stay a string.
_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+")
_SIZE = re.compile(r"(-?[0-9]+(?:\.[0-9]+)?)(b|kb|kib|mb|mib|gb|gib|tb|tib)", re.IGNORECASE)
SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "tib": 1024**4,
}
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
_QUOTE_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


#: the largest integer the indices hold (SQLite INTEGER, OpenSearch long)
INT64_MAX = 2**63 - 1


def number(text: str, *, exact: bool = False) -> int | float | None:
    """The number an unquoted value denotes (``00123`` → 123, ``12.5`` → 12.5), else ``None``.

    An integer past 64 bits is no integer the indices hold. As a bound it is the float nearest it,
    which compares as the number written (clamped to 64 bits, ``:>99999999999999999999`` took
    1e19 for larger). As a value to match (``exact``) it is no number: the value stays the text
    written, as feature values are text and may be that long. A decimal past what a float holds is
    no number: the indices cannot compare it."""
    if _INT.fullmatch(text):
        digits = text.lstrip("-").lstrip("0")
        if len(digits) <= 19:  # int() refuses 4,300 digits; 64 bits never need 20
            value = int(text)
            if -INT64_MAX - 1 <= value <= INT64_MAX:
                return value
        if exact:
            return None
        wide = float(text)  # reads any number of digits; past the largest float, inf
        return wide if math.isfinite(wide) else math.copysign(sys.float_info.max, wide)
    if _FLOAT.fullmatch(text):
        value = float(text)
        return value if math.isfinite(value) else None
    return None


def clamp(value: int) -> int:
    """``value`` within the indices' 64-bit integers (SQLite INTEGER, OpenSearch long): a bound
    past them says what the bound at their edge says, of every integer they hold."""
    return max(-INT64_MAX - 1, min(INT64_MAX, value))


def size(text: str) -> int | float | None:
    """A number, or a number with a size suffix (``100MB``, ``2KiB``): an int when the bytes are
    whole, else the exact fraction as a float (``1.3kib`` is 1331.2 bytes, which ``:<`` compares)."""
    plain = number(text)
    if plain is not None:
        return plain
    found = _SIZE.fullmatch(text)
    if found is None:
        return None
    # Decimal keeps "1.1kb" at exactly 1100 bytes, where float arithmetic gives 1100.0000000000002.
    exact = Decimal(found.group(1)) * SIZE_UNITS[found.group(2).lower()]
    if exact == exact.to_integral_value() and -INT64_MAX - 1 <= exact <= INT64_MAX:
        return int(exact)
    wide = float(exact)  # past the largest float, inf: a bound past every size, as number() has it
    return wide if math.isfinite(wide) else math.copysign(sys.float_info.max, wide)


def format_number(value: int | float) -> str:
    """Write a number so that :func:`number` reads back the same value and type (no exponent)."""
    if isinstance(value, int):
        return str(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} cannot be written in a query")
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


def unquote(raw: str, start: int) -> str:
    """Decode a quoted token (quotes included); ``start`` is its 0-based offset, for error columns.

    Raises:
        InvalidQuery: an escape other than ``\\n \\r \\t \\\\ \\" \\'``.
    """
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        escaped = body[i + 1]  # the token regex guarantees a character after every backslash
        if escaped not in _ESCAPES:
            column = start + 2 + i
            raise InvalidQuery(
                f"invalid escape '\\{escaped}' at column {column}; inside quotes only "
                "\\n \\r \\t \\\\ \\\" and \\' are escapes",
                column=column,
            )
        out.append(_ESCAPES[escaped])
        i += 2
    return "".join(out)


def quote(value: str, quote_char: str) -> str:
    """Quote ``value`` with ``quote_char`` (``"`` or ``'``), escaping so :func:`unquote` reverses it."""
    escaped = "".join(_QUOTE_ESCAPES.get(char, "\\" + char if char == quote_char else char) for char in value)
    return quote_char + escaped + quote_char
