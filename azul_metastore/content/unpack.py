"""From an uploaded file to the files a submission stores (inventory §7.1, with two deliberate
differences: TAR is extracted too, and a CaRT- or MALPZ-wrapped archive is unwrapped before it is
extracted instead of failing).

1. The upload is unwrapped if it is CaRT or MALPZ.
2. With ``extract``, it must be an archive (:mod:`~azul_metastore.content.extract`); each member
   is then unwrapped if it is CaRT or MALPZ, and named by its archive path (or by the CaRT/MALPZ
   inner name, kept in its folder). Without ``extract`` the caller's form ``filename`` is used.

Everything lands in ``workdir`` and is fully checked before this returns, so the caller stores
nothing from a rejected upload. The caller owns ``workdir`` (e.g. a ``TemporaryDirectory``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from azul_metastore.content.extract import RATIO_FLOOR, ExtractLimits, extract_archive
from azul_metastore.content.unneuter import SNIFF_BYTES, detect, unneuter
from azul_metastore.errors import PayloadTooLarge, UnsupportedContent
from azul_metastore.settings import Settings

__all__ = ["UnpackedFile", "file_chunks", "unpack_upload"]

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UnpackedFile:
    """One file to store: the name to record (None if unknown) and the temporary file holding it."""

    name: str | None
    path: Path
    size: int
    neutering: str | None  # "cart", "malpz" or None: how it arrived


def file_chunks(path: Path, chunk_size: int = CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk


def _unwrap_file(path: Path, out: Path, settings: Settings, remove: bool = True,
                 max_bytes: int | None = None) -> tuple[Path, str | None, str | None, int]:
    """Unwrap ``path`` into ``out`` if it is neutered; returns (path, format, inner name, size).
    ``max_bytes`` caps the unwrapped size (``upload_max_bytes`` when not given)."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if detect(head) is None:
        return path, None, None, path.stat().st_size
    unwrapped = unneuter(file_chunks(path), malpz_max_bytes=settings.malpz_max_bytes,
                         max_bytes=settings.upload_max_bytes if max_bytes is None else max_bytes)
    size = 0
    with open(out, "wb") as f:
        for chunk in unwrapped.chunks:
            size += len(chunk)
            f.write(chunk)
    if remove:
        path.unlink()
    return out, unwrapped.format, unwrapped.name, size


def unpack_upload(path: Path, workdir: Path, settings: Settings, *, extract: bool = False,
                  passwords: Sequence[str] = (), filename: str | None = None) -> list[UnpackedFile]:
    """The files an upload stands for, unwrapped and (with ``extract``) extracted and checked.

    Raises UnsupportedContent with a ``reason`` for anything it refuses (see ``extract`` and
    ``unneuter`` for the list). ``path`` itself is left alone.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    limits = ExtractLimits.from_settings(settings)
    # an archive to extract may be at most extract_max_upload_bytes once unwrapped: stop there, not
    # after writing up to upload_max_bytes of it (a 1.8 MB CaRT wrote 400 MiB before its refusal)
    cap = min(settings.upload_max_bytes, limits.max_upload_bytes) if extract else None
    try:
        top, fmt, _inner, size = _unwrap_file(path, workdir / "upload.unwrapped", settings, remove=False,
                                              max_bytes=cap)
    except UnsupportedContent as exc:
        if exc.parameters.get("reason") != "too_large":
            raise
        if cap is not None and cap < settings.upload_max_bytes:
            raise UnsupportedContent(f"archives to extract may be at most {limits.max_upload_bytes} bytes (once"
                                     " unwrapped)", reason="archive_too_large", limit=limits.max_upload_bytes) from None
        # over upload_max_bytes once unwrapped: the same 413 as an upload over it
        raise PayloadTooLarge(f"the upload unwraps to more than upload_max_bytes ({settings.upload_max_bytes} bytes)",
                              reason="too_large", limit=settings.upload_max_bytes) from None
    if not extract:
        return [UnpackedFile(filename, top, size, fmt)]
    members = extract_archive(top, workdir, limits, passwords)
    files = []
    # A neutered member (a CaRT in a ZIP) expands once more when unwrapped: those bytes count
    # towards the archive's limits too, or a small ZIP could store gigabytes.
    total = sum(m.size for m in members)
    for m in members:
        budget = max(0, limits.max_total_bytes - (total - m.size))
        try:
            mpath, mfmt, minner, msize = _unwrap_file(m.path, m.path.with_suffix(".unwrapped"), settings,
                                                      max_bytes=min(budget, settings.upload_max_bytes))
        except UnsupportedContent as exc:
            if exc.parameters.get("reason") != "too_large" or budget >= settings.upload_max_bytes:
                raise
            raise UnsupportedContent(f"archive unpacks to more than {limits.max_total_bytes} bytes once its"
                                     f" neutered member {m.name!r} is unwrapped", reason="total_size_exceeded",
                                     limit=limits.max_total_bytes) from None
        if mfmt and msize > RATIO_FLOOR and msize > limits.max_ratio * max(m.size, 1):
            raise UnsupportedContent(f"member {m.name!r} expands more than {limits.max_ratio:g} times when"
                                     " unwrapped", reason="ratio_exceeded", member=m.name, limit=limits.max_ratio)
        total += msize - m.size
        name = m.name
        if minner:
            folder = posixpath.dirname(m.name)
            name = posixpath.join(folder, posixpath.basename(minner.replace("\\", "/")))
        files.append(UnpackedFile(name, mpath, msize, mfmt))
    return files
