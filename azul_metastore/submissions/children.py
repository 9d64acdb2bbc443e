"""Manual child inserts: ``POST /v0/binaries/child`` and ``/child/dataless`` (inventory §7.3).

An analyst says "this file came out of that one". The parent must be visible to them; its sources
are the sources of its visible submissions. The child's bytes are stored under the first and made
available under the others, an ``insert`` event records the link, and for each of the parent's
submissions (up to :data:`MAX_SUBMISSIONS_PER_SOURCE` per source, distinct by references and
security) an ``extracted`` event grafts the child below the parent, so the child shows up in those
submissions' lineage exactly as a plugin's output would.

Unlike Azul, the parent's submissions are read with the caller's access (not the writer account):
a child is only grafted into submissions its author can see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.errors import InvalidInput
from azul_metastore.index.decoder import decode_binary
from azul_metastore.models.events import BinaryEntity, BinaryEvent, DataLabel
from azul_metastore.security import Access
from azul_metastore.submissions.checks import (
    check_sha256,
    check_writable,
    json_map,
    require_security,
    submission_time,
)
from azul_metastore.submissions.entities import (
    binary_data,
    child_node,
    content_entity,
    extracted_event,
    insert_event,
    user_author,
)
from azul_metastore.submissions.submit import (
    SubmitForm,
    SubmitOptions,
    copy_content,
    known_content,
    publish_binary,
    store_file,
    unpack,
)

__all__ = ["MAX_SUBMISSIONS_PER_SOURCE", "parent_submissions", "submit_child", "submit_child_dataless"]

MAX_SUBMISSIONS_PER_SOURCE = 100


def parent_submissions(svc: Services, access: Access, parent: str) -> dict[str, list[dict[str, Any]]]:
    """The parent's visible submissions decoded to events, per source (newest source first).

    Raises InvalidInput (422, as Azul) when the parent has no visible submission.
    """
    docs = svc.index.documents([parent], access, actions=("sourced", "extracted", "mapped"))
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str, str]] = set()
    for doc in docs:
        source = doc.get("source") or {}
        name = source.get("name")
        if not name:
            continue
        key = (name, str(doc.get("track_source_references")), str(source.get("security")))
        if key in seen or len(out.get(name, ())) >= MAX_SUBMISSIONS_PER_SOURCE:
            continue
        seen.add(key)
        out.setdefault(name, []).append(decode_binary(doc))
    if not out:
        raise InvalidInput(f"parent binary {parent} was not found (or is not visible to you); "
                           "submit the parent first", field="parent_sha256", reason="parent_not_found")
    return out


def _insert(svc: Services, access: Access, *, parent: str, parents: dict[str, list[dict[str, Any]]],
            entity: BinaryEntity, security: str, form: SubmitForm, filename: str | None,
            relationship: dict[str, str], settings: dict[str, str]) -> list[BinaryEvent]:
    """Publish the insert event and build the child's extracted events (not yet published)."""
    timestamp = submission_time(form.timestamp)
    author = user_author(access.username, security)
    node = child_node(author=author, entity=entity, timestamp=timestamp, relationship=relationship,
                      filename=filename)
    insert = insert_event(author=author, original_source=next(iter(parents)), parent_sha256=parent, entity=entity,
                          node=node, timestamp=timestamp)
    svc.intake.publish("insert", [insert])
    return [extracted_event(p, author=author, entity=entity, node=node, timestamp=timestamp, settings=settings)
            for submissions in parents.values() for p in submissions]


def _checked(svc: Services, access: Access, form: SubmitForm) -> tuple[str, str, dict[str, str], dict[str, str]]:
    check_writable(svc.settings)
    security = require_security(access, form.security)
    submission_time(form.timestamp)
    relationship = json_map(form.relationship, "relationship")
    settings = json_map(form.settings, "settings")
    if form.streams or form.stream_labels:
        raise InvalidInput("child submissions take no alternate streams; submit them with the source endpoints",
                           field="stream_data")
    if form.source_id:
        raise InvalidInput("give either source_id (POST /binaries/source) or parent_sha256 (POST /binaries/child), "
                           "not both", field="source_id")
    return security, check_sha256(form.parent_sha256, "parent_sha256"), relationship, settings


def _audit(request_id: str, access: Access, event: str, results: list[dict[str, Any]], parent: str,
           relationship: dict[str, str]) -> None:
    for item in results:
        audit(event, user=access.username, request_id=request_id, sha256=item.get("sha256"),
              filename=item.get("filename"), references={"parent_sha256": parent, **relationship})


def submit_child(svc: Services, access: Access, form: SubmitForm, options: SubmitOptions, workdir: Path,
                 request_id: str = "") -> list[dict[str, Any]]:
    """Store an upload (or each file of an archive) as a child of a visible parent.

    Raises ReadOnly (423), InvalidInput/InvalidSecurity/UnsupportedContent (422, also for an
    invisible parent) before anything is stored.
    """
    security, parent, relationship, settings = _checked(svc, access, form)
    parents = parent_submissions(svc, access, parent)
    files = unpack(svc, form, options, settings, workdir)
    sources = list(parents)
    results, events = [], []
    for item in files:
        content = store_file(svc, sources[0], DataLabel.content, item.path)
        for other in sources[1:]:
            svc.blobs.copy(sources[0], other, DataLabel.content.value, content.sha256 or "")
        entity = content_entity(content, item.name)
        events += _insert(svc, access, parent=parent, parents=parents, entity=entity, security=security, form=form,
                          filename=item.name, relationship=relationship, settings=settings)
        results.append(binary_data(entity, item.name, None))
    publish_binary(svc, events, options.refresh)
    _audit(request_id, access, "binary_submit_child", results, parent, relationship)
    return results


def submit_child_dataless(svc: Services, access: Access, form: SubmitForm, options: SubmitOptions,
                          request_id: str = "") -> list[dict[str, Any]]:
    """Link two binaries the metastore already holds: ``sha256`` becomes a child of ``parent_sha256``
    (404 when the child is not visible, 422 when the parent is not)."""
    security, parent, relationship, settings = _checked(svc, access, form)
    sha256 = check_sha256(form.sha256, "sha256")
    parents = parent_submissions(svc, access, parent)
    content = known_content(svc, access, sha256)
    copy_content(svc, access, sha256, list(parents))
    entity = content_entity(content, form.filename)
    events = _insert(svc, access, parent=parent, parents=parents, entity=entity, security=security, form=form,
                     filename=form.filename, relationship=relationship, settings=settings)
    publish_binary(svc, events, options.refresh)
    results = [binary_data(entity, form.filename, None)]
    _audit(request_id, access, "binary_submit_child", results, parent, relationship)
    return results
