"""Spooling a multipart upload to files, so no submission is ever held in memory.

Starlette's form parser keeps each file in a 1 MiB ``SpooledTemporaryFile`` under the system
temporary folder and refuses text parts over 1 MiB. Neither suits submissions: azul-client sends an
archive to extract *without* a filename, which Starlette then treats as a text field (so a 2 MB
archive is refused), and uploads belong on the data volume, not ``/tmp``. This spooler writes every
part named in ``file_fields`` (and every part that carries a filename) straight to a file in a work
folder the caller owns, whether or not it has a filename; other parts are small text fields.

It is synchronous: the route feeds it chunks (on a worker thread) as they arrive from the socket.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from azul_metastore.errors import BadRequest, PayloadTooLarge

__all__ = ["FILE_FIELDS", "MultipartSpooler", "SpooledFile", "SpooledForm"]

#: parts that are always files, with or without a filename (azul-client's extract uploads)
FILE_FIELDS = frozenset({"binary", "stream_data"})
#: text fields are JSON maps and names: anything bigger is a mistake
MAX_FIELD_BYTES = 1024 * 1024
MAX_PARTS = 1000


@dataclass(frozen=True)
class SpooledFile:
    """One uploaded file: the name the client gave it (None if none) and where it now lives."""

    field: str
    filename: str | None
    path: Path
    size: int


@dataclass
class SpooledForm:
    """The parsed form: text fields (repeatable) and files, both in the order they arrived."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[SpooledFile]] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        """The first value of a text field, None when absent (an empty value stays ``""``)."""
        values = self.fields.get(name)
        return values[0] if values else None

    def texts(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def file(self, name: str) -> SpooledFile | None:
        found = self.files.get(name)
        return found[0] if found else None

    def file_list(self, name: str) -> list[SpooledFile]:
        return list(self.files.get(name, []))


class _Part:
    def __init__(self) -> None:
        self.disposition = b""
        self.name = ""
        self.filename: str | None = None
        self.data = bytearray()
        self.handle: IO[bytes] | None = None
        self.path: Path | None = None
        self.size = 0


class MultipartSpooler:
    """Feed the raw body with :meth:`feed`, then :meth:`finish` for the :class:`SpooledForm`.

    Raises BadRequest for a malformed body, PayloadTooLarge past ``max_bytes`` in total. On any
    error call :meth:`abort` (the caller still removes ``workdir``).
    """

    def __init__(self, content_type: str, workdir: Path, *, max_bytes: int,
                 file_fields: frozenset[str] = FILE_FIELDS) -> None:
        kind, params = parse_options_header(content_type or "")
        # httpx (so azul-client) sends a form without files, e.g. a dataless submission, url-encoded
        self._urlencoded: bytearray | None = bytearray() if kind == b"application/x-www-form-urlencoded" else None
        if self._urlencoded is None and (kind != b"multipart/form-data" or b"boundary" not in params):
            raise BadRequest("the body must be multipart/form-data (with a boundary) or url-encoded; "
                             f"got {content_type or 'no content type'!r}")
        charset = params.get(b"charset", b"utf-8")
        try:
            self._charset = codecs.lookup(charset.decode("latin-1")).name
        except LookupError:
            self._charset = "utf-8"
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.file_fields = file_fields
        self.form = SpooledForm()
        self._received = 0
        self._parts = 0
        self._part = _Part()
        self._header_name = b""
        self._header_value = b""
        if self._urlencoded is not None:
            return
        try:
            self._parser = MultipartParser(params[b"boundary"], {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
            })
        except FormParserError as exc:  # a boundary over 70 characters (RFC 2046) or otherwise unusable
            raise BadRequest(f"the multipart boundary cannot be used: {exc}") from exc

    # --- parser callbacks (our errors propagate out of parser.write, through feed) ------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise BadRequest(f"the form has more than {MAX_PARTS} parts")

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._part.disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        part = self._part
        _, options = parse_options_header(part.disposition)
        if b"name" not in options:
            raise BadRequest('every form part needs a Content-Disposition header with a "name"')
        part.name = self._decode(options[b"name"])
        if b"filename" in options:
            part.filename = self._decode(options[b"filename"])
        if part.filename is not None or part.name in self.file_fields:
            part.path = self.workdir / f"part-{self._parts:04d}"
            part.handle = open(part.path, "wb")  # noqa: SIM115 - closed in _on_part_end or abort

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        chunk = data[start:end]
        part.size += len(chunk)
        if part.handle is not None:
            part.handle.write(chunk)
            return
        if part.size > MAX_FIELD_BYTES:
            raise BadRequest(f"form field {part.name!r} is longer than {MAX_FIELD_BYTES} bytes; "
                             "send files as file parts")
        part.data += chunk

    def _on_part_end(self) -> None:
        part = self._part
        if part.handle is not None and part.path is not None:
            part.handle.close()
            part.handle = None
            self.form.files.setdefault(part.name, []).append(
                SpooledFile(part.name, part.filename or None, part.path, part.size))
        else:
            self.form.fields.setdefault(part.name, []).append(self._decode(bytes(part.data)))

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode(self._charset)
        except UnicodeDecodeError as exc:
            raise BadRequest(f"a form field is not valid {self._charset} text") from exc

    # --- feeding -------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.max_bytes:
            raise PayloadTooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes",
                                  limit=self.max_bytes)
        if self._urlencoded is not None:
            self._urlencoded += chunk
            if len(self._urlencoded) > MAX_FIELD_BYTES:
                raise BadRequest(f"a url-encoded form may be at most {MAX_FIELD_BYTES} bytes; send files as "
                                 "multipart/form-data")
            return
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise BadRequest(f"the multipart body cannot be parsed: {exc}") from exc

    def finish(self) -> SpooledForm:
        if self._urlencoded is not None:
            try:
                pairs = parse_qsl(self._urlencoded.decode(self._charset), keep_blank_values=True, strict_parsing=False)
            except UnicodeDecodeError as exc:
                raise BadRequest(f"the form is not valid {self._charset} text") from exc
            for name, value in pairs:
                self.form.fields.setdefault(name, []).append(value)
            return self.form
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise BadRequest(f"the multipart body is incomplete: {exc}") from exc
        if self._part.handle is not None:
            raise BadRequest("the multipart body ends inside a part")
        return self.form

    def abort(self) -> None:
        if self._part.handle is not None:
            self._part.handle.close()
            self._part.handle = None
