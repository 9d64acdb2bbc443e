"""Hardened extraction of submitted archives: ZIP (plain, ZipCrypto, WinZip AES) and TAR (plain,
gzip, bzip2, xz).

Everything is checked before the caller stores anything: members are written to numbered files in
a work directory the caller owns (member names never become filesystem paths), and the list is
returned only when the whole archive passed. Each violated limit raises
:class:`~azul_metastore.errors.UnsupportedContent` with its own ``reason``:

=======================  ==========================================================================
reason                   when
=======================  ==========================================================================
``archive_too_large``    the archive itself is over ``extract_max_upload_bytes``
``too_many_members``     more than ``extract_max_members`` files (all nesting levels together)
``total_size_exceeded``  more than ``extract_max_total_bytes`` unpacked (declared or actually seen)
``ratio_exceeded``       a member (ZIP) or the stream (TAR) expands more than ``extract_max_ratio``
                         times; judged once more than 1 MiB came out, as tiny files say nothing
``path_too_long``        a member name longer than ``extract_max_path_length``
``path_traversal``       a member name with a ``..`` part, or absolute (``/x``, ``\\x``, ``C:``)
``link_member``          a symbolic or hard link (TAR, or a ZIP entry with symlink mode)
``special_member``       a device, FIFO, GNU sparse file or other non-regular TAR member
``header_too_large``     a TAR pax header over 1 MiB (refused before it is read)
``password_required``    an encrypted ZIP and no password given
``bad_password``         none of the passwords opens it
``not_an_archive``       neither ZIP nor TAR
``corrupt_archive``      the archive cannot be read (truncated, CRC error, bad headers); a compressed
                         TAR is read to the end of its stream, so its checksum is verified. A
                         plain TAR that ends cleanly at a header boundary without its end blocks
                         is taken whole, as GNU tar takes it
``unsupported_method``   a ZIP member compressed with a method Python cannot read (Deflate64...)
``empty_archive``        no non-empty file inside
=======================  ==========================================================================

Nesting: archives inside the upload are opened while their depth (the upload is depth 1) is at
most ``extract_max_nesting``; deeper ones are kept whole, as files, for plugins to open later
with lineage. Totals and counts span all levels, so a nested bomb still hits them.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import stat
import struct
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from zlib import error as zlib_error

import pyzipper

from azul_metastore.errors import UnsupportedContent
from azul_metastore.settings import Settings

__all__ = ["ExtractLimits", "Member", "archive_kind", "extract_archive"]

_COPY = 1024 * 1024
#: below this many bytes out, a high compression ratio is harmless and common (text, zeros)
RATIO_FLOOR = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
# What zipfile and pyzipper raise on hostile input, beyond their BadZipFile classes (pyzipper has
# its own): an LZMA member's corrupt data, a member with an empty name (IndexError), an AES header
# with an unknown key strength (KeyError) or a short salt (struct.error), a short ZipCrypto header
_ZIP_ERRORS = (zipfile.BadZipFile, pyzipper.BadZipFile, OSError, EOFError, ValueError, zlib_error, lzma.LZMAError,
               IndexError, KeyError, struct.error, OverflowError)


@dataclass(frozen=True)
class ExtractLimits:
    max_upload_bytes: int
    max_members: int
    max_total_bytes: int
    max_ratio: float
    max_path_length: int
    max_nesting: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractLimits:
        return cls(settings.extract_max_upload_bytes, settings.extract_max_members,
                   settings.extract_max_total_bytes, settings.extract_max_ratio,
                   settings.extract_max_path_length, settings.extract_max_nesting)


@dataclass(frozen=True)
class Member:
    """One extracted file: its name inside the archive and the temporary file holding it."""

    name: str
    path: Path
    size: int


def _fail(reason: str, message: str, **params: object) -> UnsupportedContent:
    return UnsupportedContent(message, reason=reason, **params)


#: the largest GNU long name or pax header read; names are refused far below this by the path limit
MAX_EXTENDED_HEADER = 1024 * 1024
_LONG_NAMES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_PAX = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class _BoundedTarInfo(tarfile.TarInfo):
    """A TAR header that refuses what ``tarfile`` would read whole into memory, before reading it.

    ``tarfile`` reads a GNU long name or a pax header in one piece (twice: detection opens the file
    too), and a GNU sparse file's map block after block into a list: gzip shrinks such blocks about
    1000 times, so an upload of a few hundred KB took gigabytes before any member check ran. The
    size is in the header, so refusing costs nothing. Sparse files are refused whole: their map has
    no size to check up front, and submissions do not need holes kept.
    """

    def _proc_member(self, tf: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_NAMES and self.size > MAX_EXTENDED_HEADER:
            raise _fail("path_too_long", f"archive member path is longer than {MAX_EXTENDED_HEADER} bytes "
                        f"(a GNU long-name header of {self.size} bytes)", limit=MAX_EXTENDED_HEADER)
        if self.type in _PAX and self.size > MAX_EXTENDED_HEADER:
            raise _fail("header_too_large", f"a pax header of {self.size} bytes is over the {MAX_EXTENDED_HEADER} "
                        "bytes read", limit=MAX_EXTENDED_HEADER)
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _fail("special_member", f"archive member {self.name!r} is a GNU sparse file; "
                        "archive it without --sparse", member=self.name)
        return super()._proc_member(tf)

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> tarfile.TarInfo:
        """The next header; a damaged one past the first is refused. ``tarfile`` takes a header
        that fails its checksum, or a partial one, for the end of the archive: the members behind
        it were silently dropped."""
        try:
            return super().fromtarfile(tf)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as exc:
            if not tf.offset:
                raise
            raise _fail("corrupt_archive", f"TAR header at byte {tf.offset} is damaged ({exc}); the archive"
                        " is cut or corrupt") from exc


def archive_kind(path: Path) -> str | None:
    """``"zip"``, ``"tar"`` or None.

    Raises UnsupportedContent for a TAR whose first header is refused (see ``_BoundedTarInfo``).
    """
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        with tarfile.open(path, tarinfo=_BoundedTarInfo):
            return "tar"
    except (OSError, EOFError, tarfile.TarError):
        return None


class _Run:
    """State shared by every level of one extraction."""

    def __init__(self, workdir: Path, limits: ExtractLimits, passwords: Sequence[str]) -> None:
        self.workdir, self.limits = workdir, limits
        self.passwords = [p for p in passwords if p]
        self.password: bytes | None = None  # the one that opened the last encrypted ZIP member
        self.members: list[Member] = []
        self.count = 0
        self.total = 0
        self.seq = 0

    def check_name(self, name: str) -> str:
        norm = name.replace("\\", "/")
        if len(norm) > self.limits.max_path_length:
            raise _fail("path_too_long", f"archive member path is longer than {self.limits.max_path_length} "
                        f"characters: {norm[:80]}...", limit=self.limits.max_path_length)
        if norm.startswith("/") or _DRIVE.match(norm) or ".." in norm.split("/") or "\0" in norm:
            raise _fail("path_traversal", f"archive member path {norm!r} escapes the archive "
                        "(absolute or contains '..')", member=norm)
        return norm

    def count_member(self, name: str) -> None:
        self.count += 1
        if self.count > self.limits.max_members:
            raise _fail("too_many_members", f"archive holds more than {self.limits.max_members} files",
                        limit=self.limits.max_members)

    def add_total(self, n: int) -> None:
        self.total += n
        if self.total > self.limits.max_total_bytes:
            raise _fail("total_size_exceeded", f"archive unpacks to more than {self.limits.max_total_bytes} bytes",
                        limit=self.limits.max_total_bytes)

    def new_path(self) -> Path:
        self.seq += 1
        return self.workdir / f"member-{self.seq:06d}"

    def copy_out(self, src: IO[bytes], name: str, packed: int | None) -> Member:
        """Copy one member out, enforcing the total and the ratio as bytes actually come out."""
        path = self.new_path()
        size = 0
        with open(path, "wb") as out:
            while chunk := src.read(_COPY):
                size += len(chunk)
                self.add_total(len(chunk))
                if packed is not None and size > RATIO_FLOOR and size > self.limits.max_ratio * max(packed, 1):
                    raise _fail("ratio_exceeded", f"archive member {name!r} expands more than "
                                f"{self.limits.max_ratio:g} times", member=name, limit=self.limits.max_ratio)
                out.write(chunk)
        return Member(name, path, size)

    def keep(self, member: Member, prefix: str, depth: int) -> None:
        name = f"{prefix}{member.name}"
        if depth < max(self.limits.max_nesting, 1) and archive_kind(member.path):
            self.open(member.path, depth + 1, f"{name}/")
            member.path.unlink()
            return
        self.members.append(Member(name, member.path, member.size))

    def open(self, path: Path, depth: int, prefix: str = "") -> None:
        kind = archive_kind(path)
        if kind == "zip":
            self.zip(path, depth, prefix)
        elif kind == "tar":
            self.tar(path, depth, prefix)
        else:
            raise _fail("not_an_archive", "upload is not a ZIP or TAR archive (plain, gz, bz2 or xz); "
                        "submit it without extract, or as one of those")

    # --- ZIP -----------------------------------------------------------------------------------

    def zip(self, path: Path, depth: int, prefix: str) -> None:
        try:
            self._zip(path, depth, prefix)
        except UnsupportedContent:
            raise
        except NotImplementedError as exc:
            raise _fail("unsupported_method", f"ZIP archive uses a feature this server cannot read: {exc}") from exc
        except (*_ZIP_ERRORS, RuntimeError) as exc:
            raise _fail("corrupt_archive", f"ZIP archive cannot be read: {exc}") from exc

    def _zip(self, path: Path, depth: int, prefix: str) -> None:
        with pyzipper.AESZipFile(path) as zf:
            infos = zf.infolist()
            for info in infos:
                if not info.filename:
                    raise _fail("corrupt_archive", "ZIP archive holds a member without a name")
            infos = [i for i in infos if not i.is_dir()]
            for info in infos:  # the central directory first: reject before writing anything
                name = self.check_name(info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise _fail("link_member", f"archive member {name!r} is a symbolic link", member=name)
                if info.file_size == 0:
                    continue
                self.count_member(name)
                if info.file_size > RATIO_FLOOR and info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
                    raise _fail("ratio_exceeded", f"archive member {name!r} expands more than "
                                f"{self.limits.max_ratio:g} times", member=name, limit=self.limits.max_ratio)
            declared = sum(i.file_size for i in infos)
            if self.total + declared > self.limits.max_total_bytes:
                raise _fail("total_size_exceeded", f"archive unpacks to more than {self.limits.max_total_bytes} "
                            "bytes", limit=self.limits.max_total_bytes)
            for info in infos:
                if info.file_size == 0:
                    continue
                name = info.filename.replace("\\", "/")
                encrypted = info.flag_bits & 0x1
                member = self._encrypted(zf, info, name) if encrypted else self._read(zf, info, name, None)
                self.keep(member, prefix, depth)

    def _read(self, zf: pyzipper.AESZipFile, info: zipfile.ZipInfo, name: str, pwd: bytes | None) -> Member:
        try:
            with zf.open(info, pwd=pwd) as src:
                return self.copy_out(src, name, info.compress_size)
        except UnsupportedContent:
            raise
        except NotImplementedError as exc:  # a RuntimeError too: a method (Deflate64...) not a password
            raise _fail("unsupported_method", f"ZIP member {name!r} uses a compression method this"
                        " server cannot read (stored, deflate, bzip2 and lzma are read)") from exc
        except RuntimeError as exc:
            raise _fail("bad_password", f"the password does not open {name!r}") from exc
        except _ZIP_ERRORS as exc:
            reason = "bad_password" if pwd is not None and "CRC" in str(exc) else "corrupt_archive"
            raise _fail(reason, f"ZIP member {name!r} cannot be read: {exc}") from exc

    def _encrypted(self, zf: pyzipper.AESZipFile, info: zipfile.ZipInfo, name: str) -> Member:
        """An encrypted member, read with the first password that opens it whole.

        The password that opened the previous member is tried first. A password is known right only
        once the member's CRC (or AES authentication code) checked out: ZipCrypto's one-byte check
        lets a wrong password through 1 time in 256, and a probe of one byte kept such a password
        and never tried the right one behind it. Bytes read with a wrong one are not counted.
        """
        if not self.passwords:
            raise _fail("password_required", "the ZIP archive is encrypted; give its password")
        candidates = [p.encode() for p in self.passwords]
        if self.password in candidates:
            candidates.remove(self.password)
            candidates.insert(0, self.password)
        failure: UnsupportedContent | None = None
        for pwd in candidates:
            total = self.total
            try:
                member = self._read(zf, info, name, pwd)
            except UnsupportedContent as exc:
                if exc.parameters.get("reason") not in ("bad_password", "corrupt_archive"):
                    raise
                self.total, failure = total, exc
                continue
            self.password = pwd
            return member
        assert failure is not None
        if failure.parameters.get("reason") == "bad_password" or len(candidates) > 1:
            raise _fail("bad_password", f"none of the {len(candidates)} given passwords opens {name!r}") from failure
        raise failure

    # --- TAR -----------------------------------------------------------------------------------

    def tar(self, path: Path, depth: int, prefix: str) -> None:
        packed = path.stat().st_size
        out_before = self.total
        try:
            with _decompressed(path) as raw, tarfile.open(fileobj=raw, mode="r|", tarinfo=_BoundedTarInfo) as tf:
                for info in tf:
                    if info.isdir():
                        continue
                    name = self.check_name(info.name)
                    if info.issym() or info.islnk():
                        raise _fail("link_member", f"archive member {name!r} is a link", member=name)
                    if not info.isreg():
                        raise _fail("special_member", f"archive member {name!r} is not a regular file",
                                    member=name)
                    if info.size == 0:
                        continue
                    self.count_member(name)
                    if self.total + info.size > self.limits.max_total_bytes:
                        raise _fail("total_size_exceeded", "archive unpacks to more than "
                                    f"{self.limits.max_total_bytes} bytes", limit=self.limits.max_total_bytes)
                    src = tf.extractfile(info)
                    assert src is not None
                    member = self.copy_out(src, name, None)
                    seen = self.total - out_before
                    if seen > RATIO_FLOOR and seen > self.limits.max_ratio * max(packed, 1):
                        raise _fail("ratio_exceeded", f"archive expands more than {self.limits.max_ratio:g} times",
                                    limit=self.limits.max_ratio)
                    self.keep(member, prefix, depth)
                # the rest of the compressed stream (the end blocks, the record's padding): read to its
                # end so that gzip's CRC and length, bzip2's and xz's checks are verified; a member
                # damaged inside a .tar.gz was stored with its bytes changed. Counted as bytes out.
                while chunk := raw.read(_COPY):
                    self.add_total(len(chunk))
        except UnsupportedContent:
            raise
        except (tarfile.TarError, OSError, EOFError, ValueError, zlib_error, lzma.LZMAError) as exc:
            raise _fail("corrupt_archive", f"TAR archive cannot be read: {exc}") from exc


def _decompressed(path: Path) -> IO[bytes]:
    """The TAR stream of ``path``, decompressed by the modules that check their formats' trailers
    (``tarfile``'s own gzip reader never checks the CRC)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb")
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def extract_archive(path: Path, workdir: Path, limits: ExtractLimits, passwords: Sequence[str] = ()) -> list[Member]:
    """Extract ``path`` into ``workdir`` (which the caller creates and removes) and return its files.

    Raises UnsupportedContent (see the module docstring for the reasons) before returning anything;
    on error the files written so far stay in ``workdir`` for the caller's clean-up.
    """
    size = os.path.getsize(path)
    if size > limits.max_upload_bytes:
        raise _fail("archive_too_large", f"archives to extract may be at most {limits.max_upload_bytes} bytes",
                    limit=limits.max_upload_bytes)
    run = _Run(workdir, limits, passwords)
    run.open(path, 1)
    if not run.members:
        raise _fail("empty_archive", "no files were extracted: the archive holds no non-empty file")
    return run.members
