"""Source submissions: ``POST /v0/binaries/source`` and ``/source/dataless`` (inventory §7.1-7.3).

Order of work, so that a refused submission leaves nothing behind:

1. check everything the request says - read-only mode, security (the caller must be able to read
   what they label), timestamp, source and references, stream labels;
2. unwrap (CaRT, MALPZ) and, with ``extract``, extract the upload into the work folder - every
   archive limit is enforced here, before a single byte reaches the blob store;
3. store the alternate streams and each file (identified once, as they are stored);
4. publish one ``sourced`` event per file (and, with ``refresh``, an expedite copy) and, with
   ``refresh``, index them before answering so the binary is searchable when the call returns;
5. write one audit line per file and answer Azul's ``BinaryData`` list.

Step 3 can still fail on a backend error; the bytes stored so far are content-addressed and
harmless (a retry reuses them, age-off and purge remove them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.content.store import store_chunks
from azul_metastore.content.unpack import UnpackedFile, file_chunks, unpack_upload
from azul_metastore.errors import InvalidInput, MetastoreError, NotFound
from azul_metastore.events.intake import event_json
from azul_metastore.models.events import BinaryEvent, DataLabel, Datastream
from azul_metastore.security import Access
from azul_metastore.submissions.checks import (
    check_sha256,
    check_source,
    check_stream_labels,
    check_writable,
    json_map,
    require_security,
    submission_time,
)
from azul_metastore.submissions.entities import binary_data, content_entity, sourced_event, user_author
from azul_metastore.submissions.spool import SpooledFile, SpooledForm

__all__ = ["SubmitForm", "SubmitOptions", "known_content", "publish_binary", "store_file", "submit_source",
           "submit_source_dataless", "unpack"]

log = logging.getLogger(__name__)


@dataclass
class SubmitForm:
    """The form fields of every submit endpoint, as sent (validated by the service, not here)."""

    source_id: str | None = None
    references: str | None = None
    settings: str | None = None
    relationship: str | None = None
    timestamp: str | None = None
    security: str | None = None
    filename: str | None = None
    sha256: str | None = None
    parent_sha256: str | None = None
    stream_labels: list[str] = field(default_factory=list)
    binary: SpooledFile | None = None
    streams: list[SpooledFile] = field(default_factory=list)

    @classmethod
    def from_spooled(cls, form: SpooledForm) -> SubmitForm:
        """Read the fields azul-client and the web UI send; others (``include_queries``,
        ``parent_type``, ``exclude_security_labels``) are accepted and ignored."""
        return cls(source_id=form.text("source_id"), references=form.text("references"),
                   settings=form.text("settings"), relationship=form.text("relationship"),
                   timestamp=form.text("timestamp"), security=form.text("security"),
                   filename=form.text("filename") or None, sha256=form.text("sha256") or None,
                   parent_sha256=form.text("parent_sha256") or None, stream_labels=form.texts("stream_labels"),
                   binary=form.file("binary"), streams=form.file_list("stream_data"))


@dataclass
class SubmitOptions:
    """The query parameters: extract an archive, its password (empty = none), index before answering."""

    extract: bool = False
    password: str | None = None
    refresh: bool = False


def unpack(svc: Services, form: SubmitForm, options: SubmitOptions, settings: dict[str, str],
           workdir: Path) -> list[UnpackedFile]:
    """The files the upload stands for, checked against every limit (raises before storing)."""
    if form.binary is None:
        raise InvalidInput("binary is required: upload the file as the 'binary' part (or use the dataless "
                           "endpoint with a sha256)", field="binary")
    passwords = [options.password] if options.password else []
    # Azul's submission setting "passwords" (";"-separated, for plugins) also opens the upload.
    passwords += [p for p in settings.get("passwords", "").split(";") if p]
    return unpack_upload(form.binary.path, workdir / "unpacked", svc.settings, extract=options.extract,
                         passwords=passwords, filename=form.filename)


def store_file(svc: Services, source: str, label: DataLabel | str, path: Path) -> Datastream:
    """Store (and identify) one file under (source, label)."""
    return store_chunks(svc.blobs, source, label, file_chunks(path), max_bytes=svc.settings.upload_max_bytes)


def store_streams(svc: Services, source: str, form: SubmitForm) -> list[Datastream]:
    labels = check_stream_labels(form.stream_labels, len(form.streams))
    return [store_file(svc, source, label, f.path) for label, f in zip(labels, form.streams, strict=True)]


def publish_binary(svc: Services, events: Sequence[BinaryEvent], refresh: bool) -> list[BinaryEvent]:
    """Publish binary events; with ``refresh`` also an expedite copy of each (plugins see it first,
    as Azul does) and index them now. Returns the published (tracked) events."""
    copies = [e.model_copy(deep=True, update={"flags": e.flags.model_copy(update={"expedite": True})})
              for e in events] if refresh else []
    svc.intake.publish("binary", [*events, *copies])
    if refresh and events:
        result = svc.indexer().index("binary", [event_json(e) for e in events])
        if result.rejected:
            reasons = "; ".join(r.error for r in result.rejected)
            log.error("submitted events were published but the index refused them: %s", reasons)
            raise MetastoreError(f"the submission was recorded but could not be indexed: {reasons}")
        svc.index.refresh()  # a write is searchable only from the next refresh; this caller waits for it
    return list(events)


def known_content(svc: Services, access: Access, sha256: str) -> Datastream:
    """The identification of a binary the caller can see, from its newest submission (sourced
    first, then extracted or mapped); NotFound (404) when there is none."""
    docs = svc.index.documents([sha256], access, actions=("sourced",), limit=20)
    docs += svc.index.documents([sha256], access, actions=("extracted", "mapped"), limit=20)
    for doc in docs:
        for stream in doc.get("datastreams") or ():
            if stream.get("label") == "content" and stream.get("sha256") == sha256 and stream.get("sha512"):
                return Datastream.model_validate(stream)
    raise NotFound(f"no binary {sha256} with identified content is visible to you; submit its bytes instead",
                   sha256=sha256)


def copy_content(svc: Services, access: Access, sha256: str, sources: Sequence[str]) -> None:
    """Make a binary's stored bytes available under more sources (a reference, no bytes move), so
    each submission keeps its content for as long as its own source retains it."""
    from azul_metastore.submissions.download import locate

    found = locate(svc, access, sha256)
    if found is None or found.label != DataLabel.content.value:
        return
    for source in sources:
        if source != found.source and svc.blobs.head(source, found.label, sha256) is None:
            svc.blobs.copy(found.source, source, found.label, sha256)


def _audit(request_id: str, access: Access, event: str, results: list[dict[str, Any]], **fields: Any) -> None:
    for item in results:
        audit(event, user=access.username, request_id=request_id, sha256=item.get("sha256"),
              filename=item.get("filename"), **fields)


def submit_source(svc: Services, access: Access, form: SubmitForm, options: SubmitOptions, workdir: Path,
                  request_id: str = "") -> list[dict[str, Any]]:
    """Store an upload (or each file of an archive) in a source and publish its ``sourced`` events.

    Raises ReadOnly (423), InvalidSecurity/InvalidInput/UnsupportedContent (422), BadRequest (400:
    unknown source, bad references) - all before anything is stored. One refusal comes after: an
    event over ``max_event_bytes`` (InvalidInput, 422; a file name or references of megabytes) is
    known only once built from the stored bytes' identification; nothing is published, and age-off
    removes bytes no submission lists.
    """
    check_writable(svc.settings)
    security = require_security(access, form.security)
    timestamp = submission_time(form.timestamp)
    references = json_map(form.references, "references")
    settings = json_map(form.settings, "settings")
    source = check_source(svc.settings, form.source_id, references)
    check_stream_labels(form.stream_labels, len(form.streams))
    files = unpack(svc, form, options, settings, workdir)

    author = user_author(access.username, security)
    alt = store_streams(svc, source, form)
    events, names = [], []
    for item in files:
        content = store_file(svc, source, DataLabel.content, item.path)
        entity = content_entity(content, item.name, alt)
        events.append(sourced_event(author=author, entity=entity, source=source, timestamp=timestamp,
                                    references=references, settings=settings, security=security, filename=item.name))
        names.append(item.name)
    published = publish_binary(svc, events, options.refresh)
    results = [binary_data(e.entity, name, e.track_source_references) for e, name in zip(published, names, strict=True)]
    _audit(request_id, access, "binary_submit", results, source=source, references=references)
    return results


def submit_source_dataless(svc: Services, access: Access, form: SubmitForm, options: SubmitOptions,
                           request_id: str = "") -> list[dict[str, Any]]:
    """Submit a binary the metastore already holds to a (new) source or with new references and
    alternate streams, without sending its bytes again (404 when the caller cannot see it)."""
    check_writable(svc.settings)
    security = require_security(access, form.security)
    timestamp = submission_time(form.timestamp)
    references = json_map(form.references, "references")
    settings = json_map(form.settings, "settings")
    source = check_source(svc.settings, form.source_id, references)
    check_stream_labels(form.stream_labels, len(form.streams))
    sha256 = check_sha256(form.sha256, "sha256")
    content = known_content(svc, access, sha256)

    alt = store_streams(svc, source, form)
    copy_content(svc, access, sha256, [source])
    entity = content_entity(content, form.filename, alt)
    event = sourced_event(author=user_author(access.username, security), entity=entity, source=source,
                          timestamp=timestamp, references=references, settings=settings, security=security,
                          filename=form.filename)
    (published,) = publish_binary(svc, [event], options.refresh)
    results = [binary_data(published.entity, form.filename, published.track_source_references)]
    _audit(request_id, access, "binary_submit_dataless", results, source=source, references=references)
    return results
