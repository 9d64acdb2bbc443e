"""User tags on binaries and on feature values: the annotation documents of inventory §4.9.

Shared by the tag write routes and by any read route (binary summaries, ``binary.tag:`` search,
``/binaries/{sha256}/tags``, ``/binaries/tags``). A tag document is owned by whoever wrote it (its id
holds the owner, so two analysts' identical tags are two documents); deleting a tag disables it for
every owner, and tags are never hard-deleted, as in Azul.

Validation (§4.9, pitfall 41): a tag is ``[a-z0-9-]``, at most 25 characters; feature-value tags are
lower-cased first, binary tags are not (``Bad`` is refused); a comment is at most 1000 characters;
the security must be one the caller may assign (422).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import datetime
from typing import Any, Literal

from azul_metastore.errors import BadRequest
from azul_metastore.index.documents import ANNOTATION, Document
from azul_metastore.index.port import MetadataStore
from azul_metastore.models.events import now_utc, utc_iso
from azul_metastore.security import Access, SecurityPolicy
from azul_metastore.submissions.checks import require_security

__all__ = [
    "ENTITY_TAG",
    "FV_TAG",
    "MAX_COMMENT",
    "MAX_TAG",
    "all_binary_tags",
    "binary_tags",
    "check_tag",
    "tag_binary",
    "tag_feature_value",
    "untag_binary",
    "untag_feature_value",
]

ENTITY_TAG = "entity_tag"
FV_TAG = "fv_tag"
MAX_TAG = 25
MAX_COMMENT = 1000
_TAG = re.compile(r"^[a-z0-9-]*$")
#: how many tags the binary tag listing returns (Azul: top 1000)
MAX_LISTED_TAGS = 1000

TagKind = Literal["entity_tag", "fv_tag"]


def check_tag(tag: str, *, lowercase: bool = False) -> str:
    """A valid tag (BadRequest, 400, saying what is accepted); ``lowercase`` for feature-value tags."""
    value = tag.lower() if lowercase else tag
    if not value or len(value) > MAX_TAG or not _TAG.match(value):
        raise BadRequest(f"tag {tag!r} is not valid: use 1-{MAX_TAG} characters of lower-case letters, digits and '-'",
                         tag=tag)
    return value


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _write(index: MetadataStore, policy: SecurityPolicy, access: Access, *, kind: TagKind, tag: str, pivot: str,
           security: str | None, comment: str | None, now: datetime | None, extra: dict[str, Any],
           id_pivot: str | None = None) -> dict[str, Any]:
    if comment is not None and len(comment) > MAX_COMMENT:
        raise BadRequest(f"a tag comment may be at most {MAX_COMMENT} characters, not {len(comment)}")
    normalised = require_security(access, security)
    body: dict[str, Any] = {
        "security": normalised,
        "encoded_security": policy.encode(normalised).as_dict(),
        "timestamp": utc_iso(now or now_utc()),
        "owner": access.username,
        "type": kind,
        "pivot": pivot,
        "tag": tag,
        **extra,
    }
    if comment:
        body["comment"] = comment
    doc_id = f"{access.username}.{kind}.{tag or _md5(comment or '')}.{id_pivot or pivot}"
    # no "state": writing a tag again re-enables one that was deleted
    index.write([Document(ANNOTATION, doc_id, body)])
    index.refresh()  # the tag shows in the caller's next read (a write is searchable from the next refresh)
    return body


def tag_binary(index: MetadataStore, policy: SecurityPolicy, access: Access, sha256: str, tag: str,
               security: str | None, *, comment: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Tag a binary as the caller; returns the stored annotation body.

    Raises BadRequest (400) for an invalid tag or comment, InvalidSecurity (422) for a security the
    caller may not assign. The binary need not be visible (as in Azul): a tag reveals nothing about it.
    """
    sha256 = sha256.lower()
    tag = check_tag(tag)
    return _write(index, policy, access, kind=ENTITY_TAG, tag=tag, pivot=sha256, security=security, comment=comment,
                  now=now, extra={"sha256": sha256})


def tag_feature_value(index: MetadataStore, policy: SecurityPolicy, access: Access, feature: str, value: str,
                      tag: str, security: str | None, *, comment: str | None = None,
                      now: datetime | None = None) -> dict[str, Any]:
    """Tag a feature value (the tag is lower-cased first); errors as :func:`tag_binary`."""
    if not feature:
        raise BadRequest("feature is required: name the feature whose value to tag", field="feature")
    tag = check_tag(tag, lowercase=True)
    # Azul's id names the pivot "{feature}.{value}", which two tags share when the feature has a
    # dot (a.b + c, a + b.c): the second would replace the first. Such a feature is named by its
    # md5 in the id instead; the stored pivot stays Azul's.
    id_pivot = f"{_md5(feature)}.{value}" if "." in feature else None
    return _write(index, policy, access, kind=FV_TAG, tag=tag, pivot=f"{feature}.{value}", security=security,
                  comment=comment, now=now, extra={"feature_name": feature, "feature_value": value},
                  id_pivot=id_pivot)


def _disable(index: MetadataStore, access: Access, kind: TagKind, tag: str, **where: str) -> dict[str, int]:
    # Only a tag the caller can see may be deleted; then it goes for every owner, as in Azul.
    visible = index.annotations(access, kind=kind, tag=tag, **where)
    if not visible:
        return {"total": 0, "updated": 0, "deleted": 0}
    updated = index.disable_annotations(kind=kind, tag=tag, **where)
    # counted as the caller sees them: the copies of owners with other labels exist for them only
    shown = min(updated, len(visible))
    return {"total": shown, "updated": shown, "deleted": 0}


def untag_binary(index: MetadataStore, access: Access, sha256: str, tag: str) -> dict[str, int]:
    """Disable a binary tag for every owner; Azul's ``AnnotationUpdated`` counts."""
    return _disable(index, access, ENTITY_TAG, tag, sha256=sha256.lower())


def untag_feature_value(index: MetadataStore, access: Access, feature: str, value: str, tag: str) -> dict[str, int]:
    """Disable a feature-value tag (matched lower-cased) for every owner."""
    return _disable(index, access, FV_TAG, tag.lower(), feature=feature, value=value)


def _entity_tag(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: doc.get(k) for k in ("sha256", "tag", "type", "owner", "timestamp", "security")}
    return {k: v for k, v in out.items() if v is not None}


def binary_tags(index: MetadataStore, access: Access, sha256: str) -> dict[str, Any]:
    """Azul's ``ReadAllEntityTags``: the visible tags of one binary, newest first."""
    docs = index.annotations(access, kind=ENTITY_TAG, sha256=sha256.lower())
    return {"items": [_entity_tag(d) for d in docs]}


def all_binary_tags(index: MetadataStore, access: Access) -> dict[str, Any]:
    """Azul's ``ReadTags``: every visible binary tag with how many binaries carry it (top 1000)."""
    counts: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    for doc in index.annotations(access, kind=ENTITY_TAG):
        key = (doc["tag"], str(doc.get("sha256")))
        if key not in seen:
            seen.add(key)
            counts[doc["tag"]] += 1
    top = counts.most_common(MAX_LISTED_TAGS)
    return {"tags": [{"tag": t, "num_entities": n, "num_entities_approx": False} for t, n in top],
            "num_tags": len(counts), "num_tags_approx": False}
