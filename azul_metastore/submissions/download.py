"""Downloads: "does the metastore (still) hold these bytes for me", single and bulk neutered
downloads, and plugin artefacts served raw when their type is safe (inventory §2.2, §7.4, §7.5).

Every path starts at :func:`locate`: the caller gets bytes only when a document *they can see*
holds a datastream with that sha256 and the blob store still has it under that document's
(source, label). Anything else is 404 - never 403, so a hidden binary is indistinguishable from an
absent one. As in Azul, any datastream counts, so an alternate stream (a screenshot, a report) is
downloadable by its own sha256 too.

Unlike Azul (CaRT only, and a raw unencrypted ZIP for bulk), the caller chooses the neutering
(:class:`~azul_metastore.content.neuter.DownloadFormat`): CaRT by default, MALPZ, an AES-256 ZIP
with the configured password, or plain bytes only where ``download_allow_plain`` is set. Bulk
downloads are one ZIP: AES-encrypted by default, or a plain ZIP of CaRT or MALPZ files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.content.neuter import (
    DownloadFormat,
    NeuteredDownload,
    cart_chunks,
    malpz_chunks,
    neuter,
    zip_chunks,
)
from azul_metastore.errors import BadRequest, InvalidInput, NotFound
from azul_metastore.query.ast import Match
from azul_metastore.security import Access
from azul_metastore.submissions.checks import SHA256

__all__ = ["MAX_BULK", "Located", "StreamBody", "content_exists", "download_binary", "download_bulk",
           "download_stream", "locate"]

#: most hashes one bulk download may ask for
MAX_BULK = 10_000


@dataclass(frozen=True)
class Located:
    source: str
    label: str
    size: int


def locate(svc: Services, access: Access, sha256: str) -> Located | None:
    """Where bytes with this sha256 are stored, if a document the caller can see holds them."""
    sha256 = sha256.lower()
    for source, label in svc.index.stream_sources(sha256, access):
        if not source or not label:
            continue
        info = svc.blobs.head(source, label, sha256)
        if info is not None:
            return Located(source, label, info.size)
    return None


def content_exists(svc: Services, access: Access, sha256: str) -> bool:
    """HEAD ``/binaries/{sha256}/content``: visible metadata *and* stored bytes."""
    return locate(svc, access, sha256) is not None


def _security(svc: Services, access: Access, sha256: str) -> str:
    """The security recorded in a MALPZ download: that of the newest document the caller sees of
    the binary, or for an alternate stream (which has no documents of its own) of the newest
    visible document holding it. The default label was written on a report submitted MEDIUM."""
    docs = svc.index.documents([sha256], access, limit=1)
    if docs:
        return str(docs[0].get("security"))
    holders = svc.index.find(Match("datastreams.sha256", ":=", sha256), access, limit=_HOLDERS,
                             require_submission=False)
    holding = [doc for doc in svc.index.documents(holders, access, fields=("security", "datastreams", "timestamp"))
               if any(s.get("sha256") == sha256 for s in doc.get("datastreams") or ())]
    if not holding:
        return svc.settings.security_default
    return str(max(holding, key=lambda doc: str(doc.get("timestamp") or "")).get("security"))


#: binaries whose documents are read for the security of an alternate stream they hold
_HOLDERS = 100


def download_binary(svc: Services, access: Access, sha256: str, fmt: DownloadFormat | str = DownloadFormat.cart,
                    request_id: str = "") -> NeuteredDownload:
    """The neutered bytes of a binary (or of any datastream) the caller can see; NotFound (404) when
    there are none, BadRequest (400) for ``plain`` where it is not allowed."""
    sha256 = sha256.lower()
    fmt = DownloadFormat(fmt)
    found = locate(svc, access, sha256)
    if found is None:
        raise NotFound(f"no content {sha256} is available to you", sha256=sha256)
    classification = _security(svc, access, sha256) if fmt is DownloadFormat.malpz else ""
    body = svc.blobs.open_range(found.source, found.label, sha256)
    result = neuter(body, fmt, settings=svc.settings, name=sha256, classification=classification)
    audit("binary_download", user=access.username, request_id=request_id, sha256=sha256, format=fmt.value,
          source=found.source, label=found.label, size=found.size)
    return result


def _bulk_hashes(hashes: Sequence[str]) -> list[str]:
    if not hashes:
        raise InvalidInput("binaries is empty: give the sha256 of each binary to download", field="binaries")
    if len(hashes) > MAX_BULK:
        raise InvalidInput(f"at most {MAX_BULK} binaries can be downloaded at once, not {len(hashes)}",
                           field="binaries")
    for h in hashes:
        # Azul accepts anything that *starts* with a sha256 and names the entry with it as given
        if not SHA256.match(h[:64]) or len(h) < 64:
            raise InvalidInput(f"{h!r} does not start with a sha256 (64 hex digits)", field="binaries")
    return list(dict.fromkeys(hashes))


def download_bulk(svc: Services, access: Access, hashes: Sequence[str],
                  fmt: DownloadFormat | str = DownloadFormat.zip, request_id: str = "") -> NeuteredDownload:
    """One ZIP of every binary the caller can see among ``hashes`` (others are skipped; NotFound
    when none is). ``zip`` (default): AES-256 entries named as the hashes were given; ``cart`` /
    ``malpz``: a plain ZIP of ``<hash>.cart`` / ``<hash>.malpz`` files; ``plain``: raw entries, only
    where ``download_allow_plain`` is set (else BadRequest)."""
    fmt = DownloadFormat(fmt)
    if fmt is DownloadFormat.plain and not svc.settings.download_allow_plain:
        raise BadRequest("plain downloads are disabled on this server; ask for zip, cart or malpz",
                         reason="plain_download_disabled")
    found: list[tuple[str, Located]] = []
    for name in _bulk_hashes(hashes):
        located = locate(svc, access, name[:64])
        if located is not None:
            found.append((name, located))
    if not found:
        raise NotFound("none of the requested binaries is available to you")
    for name, located in found:
        audit("binary_download", user=access.username, request_id=request_id, sha256=name[:64].lower(),
              format=f"bulk-{fmt.value}", source=located.source, label=located.label, size=located.size)

    def entries() -> Iterator[tuple[str, Iterator[bytes]]]:
        for name, located in found:
            body = svc.blobs.open_range(located.source, located.label, name[:64].lower())
            if fmt is DownloadFormat.cart:
                yield f"{name}.cart", cart_chunks(body)
            elif fmt is DownloadFormat.malpz:
                yield f"{name}.malpz", malpz_chunks(body, classification=_security(svc, access, name[:64].lower()))
            else:
                yield name, body

    password = svc.settings.download_zip_password.get_secret_value() if fmt is DownloadFormat.zip else None
    return NeuteredDownload(zip_chunks(entries(), password=password), "application/zip", ".zip")


# --- plugin artefacts and reports served raw ----------------------------------------------------

#: raster image types a browser renders without running anything (never SVG, which can script)
_IMAGES = {"image/png": "image/png", "image/jpg": "image/jpeg", "image/jpeg": "image/jpeg", "image/gif": "image/gif",
           "image/bmp": "image/bmp", "image/webp": "image/webp", "image/icon": "image/x-icon",
           "image/tiff": "image/tiff"}
_PCAP = {"network/tcpdump", "application/vnd.tcpdump.pcap"}


def safe_media_type(file_format: str | None, derived: bool) -> str | None:
    """The media type to serve a stream as, or None when it may not be served raw (§7.5).

    Text, code and JSON are served as ``text/plain`` (so a browser never runs them); a stream other
    than the binary itself may also be a PCAP, a PDF or a raster image.
    """
    fmt = (file_format or "").lower()
    if fmt.startswith(("text/", "code/")) or fmt in ("application/json", "application/javascript"):
        return "text/plain; charset=utf-8"
    if not derived:
        return None
    if fmt in _PCAP:
        return "application/vnd.tcpdump.pcap"
    if fmt == "document/pdf":
        return "application/pdf"
    return _IMAGES.get(fmt)


@dataclass
class StreamBody:
    chunks: Iterator[bytes]
    media_type: str
    size: int


def download_stream(svc: Services, access: Access, sha256: str, stream: str, request_id: str = "") -> StreamBody:
    """A datastream of a visible binary (an alternate stream, or the binary itself), raw.

    NotFound (404) unless a visible document of ``sha256`` lists ``stream``; BadRequest (400) when
    its type is not safe to serve raw (download it neutered from ``/content`` instead).
    """
    sha256, stream = sha256.lower(), stream.lower()
    for doc in svc.index.documents([sha256], access, limit=200):
        for ds in doc.get("datastreams") or ():
            if ds.get("sha256") != stream:
                continue
            media = safe_media_type(ds.get("file_format"), derived=stream != sha256)
            if media is None:
                raise BadRequest(f"stream file type {ds.get('file_format')!r} is not allowed for direct download; "
                                 f"download it neutered from /api/v0/binaries/{stream}/content",
                                 reason="unsafe_stream_type")
            source = (doc.get("source") or {}).get("name")
            label = ds.get("label")
            info = svc.blobs.head(source, label, stream) if source and label else None
            located = Located(source, label, info.size) if info else locate(svc, access, stream)
            if located is None:
                continue
            audit("stream_download", user=access.username, request_id=request_id, sha256=sha256, stream=stream,
                  source=located.source, label=located.label, size=located.size)
            return StreamBody(svc.blobs.open_range(located.source, located.label, stream), media, located.size)
    raise NotFound(f"binary {sha256} has no stream {stream} available to you", sha256=sha256, stream=stream)
