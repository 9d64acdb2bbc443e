"""Helpers for the submission, download and tag API tests: a module-wide server with the reference's
test users, form posting, snapshots of everything a request could store, and unwrapping downloads
with the real tools (``cart``, ``7z``) and the ``malpz`` library.

Example::

    def test_x(env: Env) -> None:
        before = env.snapshot()
        resp = submit(env, "med", CONTENT / "fake.txt", references={"user": "bob"})
        assert resp.status_code == 200 and env.snapshot() != before
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import malpz

from azul_metastore.app import Services, build_services
from azul_metastore.events import topics
from azul_metastore.security import Access
from tests.support.events import CONTENT
from tests.support.multiuser import TOKENS, multiuser_settings
from tests.support.server import running_server

__all__ = ["CONTENT", "FAKE_SHA256", "Env", "make_zip", "serve", "sha256", "submit", "unwrap"]

FAKE_SHA256 = hashlib.sha256((CONTENT / "fake.txt").read_bytes()).hexdigest()
TOPICS = (topics.BINARY, topics.BINARY_EXPEDITE, topics.INSERT, topics.DOWNLOAD)
TOOLS = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Env:
    url: str
    svc: Services

    def client(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"authorization": f"Bearer {TOKENS[user]}"}, timeout=60)

    def access(self, user: str) -> Access:
        from tests.support.security import USERS

        return Access.for_user(self.svc.policy, user, USERS[user])

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a submission writes: blob references, event log offsets, files left in tmp."""
        refs = sorted((r.source, r.label, r.sha256) for r in self.svc.blobs.iter_refs())
        offsets = tuple(self.svc.event_log.end_offset(t) for t in TOPICS)
        tmp = self.svc.settings.data_dir / "tmp"
        left = sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []
        return refs, offsets, left

    def events(self, topic: str, start: int = 0) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.svc.event_log.read(topic, start, limit=1000)]


@contextmanager
def serve(tmp_path: Path, **overrides: Any) -> Iterator[Env]:
    """A server with the multi-user settings (sources ``samples`` needing ``user``, ``virustotal``)."""
    svc = build_services(multiuser_settings(tmp_path, **overrides))
    try:
        with running_server(svc) as url:
            yield Env(url, svc)
    finally:
        svc.close()


def submit(env: Env, user: str, data: bytes | Path | None, *, path: str = "/api/v0/binaries/source",
           filename: str | None = "sample.bin", part_name: str | None = "upload.bin",
           fields: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
           streams: list[tuple[str, bytes]] = ()) -> httpx.Response:
    """POST a submission form as azul-client builds it (``part_name`` None: a part without a filename)."""
    form: dict[str, Any] = {"source_id": "samples", "references": json.dumps({"user": "bob"}),
                            "timestamp": "2024-01-01T00:00:00Z", "security": "LOW", "include_queries": "false"}
    if filename is not None:
        form["filename"] = filename
    if streams:
        form["stream_labels"] = [label for label, _ in streams]
    for key, value in (fields or {}).items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    files: list[tuple[str, Any]] = []
    if data is not None:
        body = data.read_bytes() if isinstance(data, Path) else data
        files.append(("binary", (part_name, body, "application/octet-stream")))
    files += [("stream_data", (f"stream{i}", body, "application/octet-stream")) for i, (_, body) in enumerate(streams)]
    query = {"refresh": "true", "extract": "false", "password": ""}
    query.update(params or {})
    with env.client(user) as client:
        return client.post(path, params=query, data=form, files=files or None)


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def unwrap(fmt: str, data: bytes, work: Path, password: str = "infected") -> dict[str, bytes]:
    """The files inside a download, unwrapped with the real tools: ``{name: bytes}``."""
    work.mkdir(parents=True, exist_ok=True)
    if fmt == "malpz":
        return {"malpz": malpz.unwrap(data)["data"]}
    if fmt == "plain":
        return {"plain": data}
    src = work / f"download.{fmt}"
    src.write_bytes(data)
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    if fmt == "cart":
        subprocess.run([str(TOOLS / "cart"), "-f", "-o", str(out / "cart"), str(src)], check=True,
                       capture_output=True)
    else:
        subprocess.run(["7z", "x", f"-p{password}", f"-o{out}", "-y", str(src)], check=True, capture_output=True)
    return {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
