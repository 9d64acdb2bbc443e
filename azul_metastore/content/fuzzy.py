"""ssdeep (context-triggered piecewise hashing) through libfuzzy, the field's reference library.

The PyPI ``ssdeep`` wrapper does not build on our images and pure-Python ports run at 1-2 MB/s, so
this is a minimal ctypes binding of the five functions we need. ``ctypes.CDLL`` releases the GIL
around every foreign call, which lets :class:`~azul_metastore.content.identify.Identifier` hash
ssdeep on one thread while the other hashes run on another.

Needs ``libfuzzy.so.2`` (Debian/Ubuntu package ``libfuzzy2``); :class:`FuzzyUnavailable` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

from azul_metastore.errors import BackendUnavailable, InvalidInput

__all__ = ["FuzzyHash", "FuzzyUnavailable", "compare", "hash_bytes"]

#: FUZZY_MAX_RESULT in fuzzy.h: 2 * SPAMSUM_LENGTH + 20
_MAX_RESULT = 148


class FuzzyUnavailable(BackendUnavailable):
    """libfuzzy is not installed, so ssdeep cannot be computed."""


@lru_cache(maxsize=1)
def _lib() -> ctypes.CDLL:
    names = ["libfuzzy.so.2", ctypes.util.find_library("fuzzy")]
    last: Exception | None = None
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            last = exc
            continue
        lib.fuzzy_new.restype = ctypes.c_void_p
        lib.fuzzy_new.argtypes = []
        lib.fuzzy_update.restype = ctypes.c_int
        lib.fuzzy_update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.fuzzy_digest.restype = ctypes.c_int
        lib.fuzzy_digest.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint]
        lib.fuzzy_free.restype = None
        lib.fuzzy_free.argtypes = [ctypes.c_void_p]
        lib.fuzzy_compare.restype = ctypes.c_int
        lib.fuzzy_compare.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        return lib
    raise FuzzyUnavailable(
        "ssdeep needs libfuzzy.so.2; install the system package 'libfuzzy2' (Debian/Ubuntu)"
    ) from last


class FuzzyHash:
    """An incremental ssdeep hash. Feed chunks with :meth:`update`, then call :meth:`digest` once."""

    def __init__(self) -> None:
        self._lib = _lib()
        self._state: int | None = self._lib.fuzzy_new()
        if not self._state:
            raise MemoryError("fuzzy_new failed")

    def update(self, data: bytes) -> None:
        if self._state is None:
            raise ValueError("digest() was already called")
        if data and self._lib.fuzzy_update(self._state, data, len(data)) != 0:
            raise ValueError("fuzzy_update failed")

    def digest(self) -> str:
        """The ssdeep text (``blocksize:hash1:hash2``); frees the native state."""
        if self._state is None:
            raise ValueError("digest() was already called")
        out = ctypes.create_string_buffer(_MAX_RESULT)
        try:
            if self._lib.fuzzy_digest(self._state, out, 0) != 0:
                raise ValueError("fuzzy_digest failed")
        finally:
            self._lib.fuzzy_free(self._state)
            self._state = None
        return out.value.decode("ascii")

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._lib.fuzzy_free(self._state)
            self._state = None


def hash_bytes(data: bytes) -> str:
    h = FuzzyHash()
    h.update(data)
    return h.digest()


def compare(a: str, b: str) -> int:
    """Similarity score 0-100 of two ssdeep texts; raises InvalidInput if either is malformed."""
    score = _lib().fuzzy_compare(a.encode("ascii", "replace"), b.encode("ascii", "replace"))
    if score < 0:
        raise InvalidInput(f"not a valid ssdeep hash pair: {a!r}, {b!r}", reason="bad_ssdeep")
    return score
