"""The documents the MetadataStore behaviour suite loads into every adapter, and a Python oracle.

Three kinds of events, all through intake's checks (legacy upgrade, strict model, tracking) and the
shared encoder, exactly as ingestion would store them:

* a small hand-made catalogue (binaries A-E below) whose query answers are written out by hand;
* the Azul fixture events (``shared/fixtures/azul-events``), relabelled from OFFICIAL to LOW so they
  fit the reference's test vocabulary (``tests/support/security.py``);
* realistic generated events (``bench.generator``) with test-vocabulary securities.

Catalogue (security in brackets; "low" users hold LOW only)::

    A  sourced to samples [LOW] by tester (user=alice): tag=Malware count=5 url path; pe32, 2048 bytes
       + enriched by pefile [LOW]: section=.text
    B  sourced to samples [MEDIUM REL:APPLE] (user=bob): tag=malware count=50; pdf, 5 MB
       + enriched by pefile [MEDIUM REL:APPLE]: section=.data
    C  extracted from A by unzip [LOW]: filename=inner.exe; dll, 100 bytes
    D  sourced to samples [LOW TLP:AMBER+STRICT] (user=carol): tag=confidential; text, 10 KiB
    E  sourced to virustotal [MEDIUM MOD1 REL:APPLE]: tag=Malware section=.text (one document); 777 bytes
       + enriched by pefile [LOW]: section=.rsrc
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from azul_metastore.index.documents import ANNOTATION, Document
from azul_metastore.index.encoder import Encoder
from azul_metastore.security import Access, SecurityPolicy
from azul_metastore.settings import Settings
from tests.support.events import AZUL_EVENTS, binary_event
from tests.support.gen import SOURCES, EventGenerator, as_logged
from tests.support.security import USERS, security_policy, security_settings


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def md5(name: str) -> str:
    return hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()


A, B, C, D, E = (sha(n) for n in "ABCDE")
NAMES = {A: "A", B: "B", C: "C", D: "D", E: "E"}
GENERATED_SECURITIES = ("LOW", "MEDIUM REL:APPLE", "LOW TLP:AMBER+STRICT", "MEDIUM MOD1 REL:APPLE")


def suite_settings() -> Settings:
    return security_settings(sources=SOURCES, status_partition_unit="week")


def feat(name: str, value: str, type_: str = "string") -> dict[str, Any]:
    return {"name": name, "type": type_, "value": value}


def _event(sha256: str, identity: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    event = binary_event(sha256=sha256, **kwargs)
    event["entity"].update(identity)
    event["entity"]["md5"] = md5(NAMES[sha256])
    event["entity"]["sha1"] = hashlib.sha1(NAMES[sha256].encode(), usedforsecurity=False).hexdigest()
    if kwargs.get("action", "sourced") == "sourced":
        event["author"]["category"] = "user"
    return event


PE = {"file_format": "executable/windows/pe32", "mime": "application/x-dosexec", "magic": "PE32 executable",
      "size": 2048}


def catalogue_events() -> list[dict[str, Any]]:
    """The hand-made binary events (raw, before intake)."""
    return [
        _event(A, PE, author="tester", timestamp="2024-01-01T00:00:00+00:00", references={"user": "alice"},
               security="LOW", features=[feat("tag", "Malware"), feat("count", "5", "integer"),
                                         feat("url", "http://evil.example.com:8080/a/b", "uri"),
                                         feat("path", "C:\\Windows\\x.exe", "filepath")]),
        _event(A, PE, action="enriched", author="pefile", timestamp="2024-01-02T00:00:00+00:00", security="LOW",
               features=[feat("section", ".text")]),
        _event(B, {"file_format": "document/pdf", "mime": "application/pdf", "magic": "PDF document",
                   "size": 5_000_000}, author="tester", timestamp="2024-01-03T00:00:00+00:00",
               references={"user": "bob"}, security="MEDIUM REL:APPLE",
               features=[feat("tag", "malware"), feat("count", "50", "integer")]),
        _event(B, {"file_format": "document/pdf", "size": 5_000_000}, action="enriched", author="pefile",
               timestamp="2024-01-03T01:00:00+00:00", security="MEDIUM REL:APPLE",
               features=[feat("section", ".data")]),
        _event(C, {"file_format": "executable/windows/dll", "mime": "application/x-dosexec", "size": 100},
               action="extracted", author="unzip", parent=A, timestamp="2024-01-04T00:00:00+00:00",
               references={"user": "alice"}, security="LOW", features=[feat("filename", "inner.exe", "filepath")]),
        _event(D, {"file_format": "text/plain", "mime": "text/plain", "size": 10 * 1024}, author="tester",
               timestamp="2024-01-05T00:00:00+00:00", references={"user": "carol"}, security="LOW TLP:AMBER+STRICT",
               features=[feat("tag", "confidential"), feat("version", "12abc")]),
        _event(E, {"file_format": "executable/linux/elf64", "size": 777}, source="virustotal", author="vt",
               timestamp="2024-01-06T00:00:00+00:00", references={}, security="MEDIUM MOD1 REL:APPLE",
               features=[feat("tag", "Malware"), feat("section", ".text"), feat("version", " 3e0 ")]),
        _event(E, {"file_format": "executable/linux/elf64", "size": 777}, action="enriched", author="pefile",
               timestamp="2024-01-07T00:00:00+00:00", security="LOW", features=[feat("section", ".rsrc")]),
    ]


def fixture_events() -> list[dict[str, Any]]:
    """The Azul fixture binary events, relabelled OFFICIAL -> LOW (the test vocabulary)."""
    out = []
    for name in ("2bd32_cuckoo.json", "2bd32_vtfilemapper.json"):
        text = (AZUL_EVENTS / name).read_text().replace('"OFFICIAL"', '"LOW"')
        out.append(json.loads(text))
    return out


def annotation(policy: SecurityPolicy, kind: str, tag: str, owner: str, security: str, *, sha256: str | None = None,
               feature: str | None = None, value: str | None = None, ts: str = "2024-02-01T00:00:00Z") -> Document:
    """An annotation (user tag) document in the shape of inventory §4.9."""
    pivot = sha256 if kind == "entity_tag" else f"{feature}.{value}"
    body: dict[str, Any] = {"security": security, "encoded_security": policy.encode(security).as_dict(),
                            "timestamp": ts, "owner": owner, "type": kind, "pivot": pivot, "tag": tag}
    for key, v in (("sha256", sha256), ("feature_name", feature), ("feature_value", value)):
        if v is not None:
            body[key] = v
    return Document(ANNOTATION, f"{owner}.{kind}.{tag}.{pivot}", body)


def status_event(sha256: str, status: str, ts: str, key: str, author: str = "pefile",
                 security: str | None = None) -> dict[str, Any]:
    given = binary_event(sha256=sha256, security=security)
    given["dequeued"] = f"{key}.deq"
    return {"model_version": 6, "kafka_key": key, "timestamp": ts,
            "author": {"name": author, "version": "1", "category": "plugin", **({"security": security}
                                                                                 if security else {})},
            "entity": {"input": given, "status": status, "runtime": 1.5}}


class Dataset:
    """Every document of the suite, encoded once per test session."""

    def __init__(self, generated: int = 150) -> None:
        self.settings = suite_settings()
        self.policy = security_policy(self.settings)
        self.encoder = Encoder(self.settings, self.policy)
        self.catalogue = [d for ev in catalogue_events() for d in self.binary(ev)]
        self.fixtures = [d for ev in fixture_events() for d in self.binary(ev)]
        gen = EventGenerator(seed=7, securities=GENERATED_SECURITIES)
        self.generated: list[Document] = []
        for model, event in gen.events(generated, weights=(85, 10, 5, 0)):
            logged = as_logged(model, event)
            if model == "binary":
                self.generated += self.encoder.encode_binary(logged).documents
            elif model == "status":
                self.generated.append(self.encoder.encode_status(logged))
            else:
                self.generated.append(self.encoder.encode_plugin(logged))
        self.annotations = [
            annotation(self.policy, "entity_tag", "apt-x", "alice", "LOW", sha256=A),
            annotation(self.policy, "entity_tag", "apt-x", "bob", "MEDIUM REL:APPLE", sha256=B),
            annotation(self.policy, "fv_tag", "bad", "alice", "LOW", feature="tag", value="Malware"),
        ]
        self.statuses = [
            self.encoder.encode_status(as_logged("status", status_event(A, "completed", "2024-01-02T00:00:00Z",
                                                                        "s1"))),
            self.encoder.encode_status(as_logged("status", status_event(A, "error-exception", "2024-03-02T00:00:00Z",
                                                                        "s2", author="yara"))),
            self.encoder.encode_status(as_logged("status", status_event(B, "completed", "2024-03-03T00:00:00Z", "s3",
                                                                        security="MEDIUM REL:APPLE"))),
        ]

    def binary(self, raw: dict[str, Any]) -> list[Document]:
        return self.encoder.encode_binary(as_logged("binary", raw)).documents

    @property
    def documents(self) -> list[Document]:
        return [*self.catalogue, *self.fixtures, *self.generated, *self.annotations, *self.statuses]

    def access(self, user: str, **filters: Any) -> Access:
        if user == "system":
            return Access.system_access(self.policy)
        return Access.for_user(self.policy, user, USERS[user], **filters)


class Oracle:
    """What a caller should see, computed in Python from the documents themselves."""

    def __init__(self, documents: list[Document]) -> None:
        latest: dict[tuple[str, str], Document] = {}
        for doc in documents:
            latest[(doc.doc_type, doc.id)] = doc
        self.docs = list(latest.values())

    def metadata(self, access: Access) -> list[dict[str, Any]]:
        from azul_metastore.security import EncodedSecurity

        return [d.body for d in self.docs if d.doc_type == "binary2" and d.body["binary_info"]["name"] == "metadata"
                and access.can_see(EncodedSecurity.from_dict(d.body["encoded_security"]))]

    def binaries(self, access: Access, require_submission: bool = True) -> set[str]:
        return {b["sha256"] for b in self.metadata(access) if not require_submission or b.get("source")}

    def feature_values(self, access: Access, name: str) -> set[str]:
        return {v for b in self.metadata(access) for v in (b.get("features_map") or {}).get(name, ())}

    def feature_binaries(self, access: Access, name: str, value: str | None = None) -> set[str]:
        return {b["sha256"] for b in self.metadata(access)
                if name in (b.get("features_map") or {}) and (value is None or value in b["features_map"][name])}
