"""A realistic, deterministic, fast generator of Azul model-6 events for benchmarks and tests.

Why this shape: ingest cost depends on how events look - how many features (10-200, median 30),
how often the same binary comes back (plugins enrich binaries that were sourced earlier; children
are extracted from them, up to four levels deep), how many distinct securities and sources there
are. The generator keeps a population of recent binaries so later events refer to earlier ones
the way a real deployment's do.

Events are plain dicts in the JSON form the event log stores (``model_dump(mode="json",
exclude_none=True)``) and carry the tracking fields intake would stamp (kafka_key,
track_source_references, track_authors, track_links), computed with the functions of
``azul_metastore.events.tracking``. ``tests/support/gen.py`` checks samples against
``BinaryEvent`` + ``assign_tracking``.

Speed matters (benchmarks make a million events), so feature dicts, entropy graphs and tracking
strings come from pools built once; events share those leaf objects. Treat events as read-only, or
pass them through ``orjson`` when you need a private copy.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from azul_metastore.events.tracking import go_timestamp, track_source_references

__all__ = ["PLUGINS", "SECURITIES", "SOURCES", "EventGenerator"]

#: the sources events name, in ``Settings.sources`` shape (pass as ``sources=SOURCES``)
SOURCES: dict[str, dict[str, Any]] = {
    "samples": {"references": [{"name": "user", "required": True}, {"name": "description", "priority": False}]},
    "virustotal": {"description": "VirusTotal imports"},
    "incidents": {"references": [{"name": "incident", "required": True}, {"name": "analyst", "priority": False}]},
    "honeypot": {"references": [{"name": "sensor"}]},
    "partners": {"references": [{"name": "partner"}, {"name": "ticket"}]},
}
#: valid with the default ``Settings.security_labels``
SECURITIES = ("OFFICIAL", "OFFICIAL TLP:AMBER", "SECRET")

_REFERENCE_VALUES = {
    "user": ["alice", "bob", "carol", "dave"],
    "description": ["phishing attachment", "dropper", "triage", "hunt"],
    "incident": [f"INC-{i:05d}" for i in range(40)],
    "analyst": ["erin", "frank"],
    "sensor": [f"hp-{i:02d}" for i in range(12)],
    "partner": ["cert-a", "cert-b", "isac"],
    "ticket": [f"T{i}" for i in range(30)],
}

_FEATURES: dict[str, str] = {
    "av_signature": "string", "tag": "string", "magic": "string", "file_format_legacy": "string",
    "yara_hit": "string", "mutex": "string", "pe_import": "string", "pe_section_name": "string",
    "registry_key_read": "string", "string_found": "string", "behaviour_signature": "string",
    "filename": "filepath", "file_created": "filepath", "file_opened": "filepath", "process_name": "filepath",
    "contacted_host": "uri", "url": "uri", "domain": "uri", "c2": "uri",
    "pe_section_count": "integer", "pe_import_count": "integer", "resource_count": "integer",
    "section_entropy": "float", "compile_time": "datetime", "vt_first_seen": "datetime", "embedded_blob": "binary",
}  # fmt: skip

#: (name, version, feature names, produces) - ``produces`` says which actions the plugin emits
PLUGINS: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("pefile", "2.1", ("pe_import", "pe_section_name", "pe_section_count", "pe_import_count", "compile_time",
                       "resource_count", "section_entropy"), ("enriched",)),
    ("yara", "4.3", ("yara_hit", "tag"), ("enriched",)),
    ("strings", "1.0", ("string_found", "url", "domain", "filename"), ("enriched",)),
    ("entropy", "1.2", ("section_entropy", "tag"), ("enriched",)),
    ("cuckoo", "2021.08.30", ("behaviour_signature", "mutex", "file_created", "file_opened", "process_name",
                              "registry_key_read", "contacted_host", "c2"), ("enriched", "augmented")),
    ("unzip", "3.0", ("filename", "magic", "tag"), ("extracted",)),
    ("unpacker", "1.4", ("filename", "embedded_blob", "tag"), ("extracted",)),
    ("decompiler", "0.9", ("pe_import", "string_found"), ("augmented",)),
    ("vtfilemapper", "0.27", ("av_signature", "vt_first_seen", "tag", "magic", "file_format_legacy"), ("mapped",)),
    ("urlmapper", "1.1", ("url", "domain", "contacted_host", "tag"), ("mapped",)),
]  # fmt: skip

_ACTIONS = ("sourced", "extracted", "enriched", "augmented", "mapped")
_ACTION_WEIGHTS = (15, 15, 45, 5, 20)
_STATUSES = ("completed", "completed-empty", "completed-with-errors", "opt-out", "heartbeat", "error-exception",
             "error-timeout", "error-network")  # fmt: skip
_STATUS_WEIGHTS = (55, 15, 3, 12, 5, 5, 3, 2)
_DOWNLOAD_ACTIONS = ("requested", "success", "failed", "failed-not-found", "skipped-already-present")
_ALT_LABELS = ("text", "screenshot", "decompiled_c", "report", "safe_png")
_FORMATS = (("executable/windows/pe32", "exe", "application/x-dosexec", "PE32 executable (GUI) Intel 80386"),
            ("document/office/word", "docx", "application/msword", "Microsoft Word 2007+"),
            ("archive/zip", "zip", "application/zip", "Zip archive data, at least v2.0 to extract"),
            ("code/javascript", "js", "text/javascript", "JavaScript source, ASCII text"),
            ("executable/linux/elf64", "elf", "application/x-executable", "ELF 64-bit LSB executable"))  # fmt: skip
_MAX_DEPTH = 4
_POPULATION = 20_000
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _author(name: str, category: str, version: str | None, security: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "category": category}
    if version is not None:
        out["version"] = version
    if security is not None:
        out["security"] = security
    return out


class _Binary:
    """One binary of the population: its identity and how it entered (its path and submission)."""

    __slots__ = ("entity", "event", "path", "security", "source", "tracks")

    def __init__(self, entity: dict[str, Any], path: list[dict[str, Any]], source: dict[str, Any],
                 security: str, tracks: tuple[list[str], list[str]], event: dict[str, Any]) -> None:  # fmt: skip
        self.entity = entity
        self.path = path
        self.source = source
        self.security = security
        self.tracks = tracks
        self.event = event


class EventGenerator:
    """Deterministic event stream: the same ``seed`` gives the same events.

    ``binary()`` makes one binary event (action drawn from a realistic mix unless given);
    ``status()``, ``plugin()``, ``download()`` the other kinds; ``events(n)`` a mixed stream of
    ``(model, event)`` pairs.
    """

    def __init__(self, seed: int = 1, start: datetime | None = None, securities: tuple[str, ...] = SECURITIES) -> None:
        self.rng = random.Random(seed)
        #: security strings of submissions; the first is also used for plugin authors now and then
        self.securities = tuple(securities)
        # milliseconds since the epoch; timestamps are formatted from cached per-second text
        self._ms = int((start or datetime(2024, 1, 1, tzinfo=UTC)).timestamp() * 1000)
        self.population: list[_Binary] = []
        self._next_slot = 0
        self._track = {}  # (name, category, version) -> "category.name.version"
        self._feature_pool = {name: self._make_feature_pool(name, type_) for name, type_ in _FEATURES.items()}
        # Each plugin's features, shuffled once and doubled: an event takes a window of it, which is
        # as random as sampling for our purpose and much cheaper than random.sample per event.
        self._plugin_pools = {}
        for name, _, fnames, _ in PLUGINS:
            pool = [f for fname in fnames for f in self._feature_pool[fname]]
            self.rng.shuffle(pool)
            self._plugin_pools[name] = (len(pool), pool + pool)
        self._seconds: dict[int, tuple[str, str]] = {}
        self._action_table = [a for a, w in zip(_ACTIONS, _ACTION_WEIGHTS, strict=True) for _ in range(w)]
        self._source_parts: dict[tuple[str, str, str], list[str]] = {}
        self._by_action = {a: [p for p in PLUGINS if a in p[3]] for a in _ACTIONS if a != "sourced"}
        self._entropy_pool = [self._make_entropy() for _ in range(64)]
        self._ssdeep_pool = [self._make_ssdeep() for _ in range(4096)]

    # --- pools ---------------------------------------------------------------------------------

    def _make_feature_pool(self, name: str, type_: str) -> list[dict[str, Any]]:
        rng = self.rng
        pool = []
        for i in range(150):
            if type_ == "string":
                value = f"{name}_{rng.choice(('alpha', 'bravo', 'kilo', 'zulu', 'Trojan.Win32', 'Gen:Variant'))}.{i}"
            elif type_ == "filepath":
                value = rng.choice((f"C:\\Users\\admin\\AppData\\Local\\Temp\\{name}{i}.exe",
                                    f"/tmp/.cache/{name}{i}.so", f"payload_{i}.bin"))  # fmt: skip
            elif type_ == "uri":
                value = rng.choice((f"http://host{i}.example.com:8080/gate/{i}.php?id={i}",
                                    f"10.{i % 256}.{rng.randrange(256)}.{rng.randrange(256)}:{1024 + i}",
                                    f"cdn{i}.bad-domain.net", f"https://user:pw@203.0.113.{i % 256}/x"))  # fmt: skip
            elif type_ == "integer":
                value = str(rng.randrange(0, 5000))
            elif type_ == "float":
                value = f"{rng.uniform(0, 8):.4f}"
            elif type_ == "datetime":
                value = f"20{rng.randrange(10, 24)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T10:00:00Z"
            else:
                value = base64.b64encode(rng.randbytes(24)).decode()
            feat: dict[str, Any] = {"name": name, "type": type_, "value": value}
            if name == "string_found":
                feat["offset"] = rng.randrange(0, 1 << 20)
                feat["size"] = len(value)
            if name == "yara_hit" and i % 3 == 0:
                feat["label"] = "rule"
            pool.append(feat)
        return pool

    def _make_entropy(self) -> list[float]:
        rng = self.rng
        n = rng.choice((40, 64, 200, 800))
        level = rng.uniform(3, 7.9)
        return [round(min(8.0, max(0.0, level + rng.gauss(0, 0.4))), 6) for _ in range(n)]

    def _make_ssdeep(self) -> str:
        rng = self.rng
        chunk = "".join(rng.choices(_B64, k=rng.randrange(20, 64)))
        return f"{rng.choice((48, 96, 192, 384, 768, 1536))}:{chunk}:{chunk[: len(chunk) // 2]}"

    # --- small helpers -------------------------------------------------------------------------

    def _tick(self) -> tuple[str, str]:
        """Advance the clock; the new time as ISO text (UTC, ``Z``) and in the track_links layout."""
        self._ms += 1 + int(self.rng.random() * 199)
        second, ms = divmod(self._ms, 1000)
        texts = self._seconds.get(second)
        if texts is None:
            if len(self._seconds) > 4096:
                self._seconds.clear()
            ts = datetime.fromtimestamp(second, UTC)
            texts = self._seconds[second] = (ts.strftime("%Y-%m-%dT%H:%M:%S"), go_timestamp(ts))
        # go_timestamp drops sub-second digits, like the dispatcher's layout
        return (f"{texts[0]}.{ms:03d}000Z" if ms else f"{texts[0]}Z"), texts[1]

    def _track_author(self, author: dict[str, Any]) -> str:
        key = (author["name"], author.get("category"), author.get("version"))
        text = self._track.get(key)
        if text is None:
            text = self._track[key] = f"{key[1] or ''}.{key[0]}.{key[2] or ''}"
        return text

    def _hex(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def _feature_count(self) -> int:
        return min(200, max(10, int(self.rng.lognormvariate(math.log(30), 0.6))))

    def _new_entity(self) -> dict[str, Any]:
        rng = self.rng
        fmt = rng.choice(_FORMATS)
        return {
            "sha256": self._hex(256),
            "sha512": self._hex(512),
            "sha1": self._hex(160),
            "md5": self._hex(128),
            "ssdeep": rng.choice(self._ssdeep_pool),
            "tlsh": f"T1{rng.getrandbits(280):070X}",
            "size": rng.randrange(200, 5_000_000),
            "file_format": fmt[0],
            "file_extension": fmt[1],
            "mime": fmt[2],
            "magic": fmt[3],
        }

    def _content(self, entity: dict[str, Any]) -> dict[str, Any]:
        stream = {k: entity[k] for k in ("sha256", "sha512", "sha1", "md5", "size", "file_format", "mime", "magic")}
        stream["label"] = "content"
        stream["identify_version"] = 1
        return stream

    def _pick(self, max_depth: int = _MAX_DEPTH) -> _Binary | None:
        pop = self.population
        if not pop:
            return None
        for _ in range(4):
            b = pop[self.rng.randrange(len(pop))]
            if len(b.path) <= max_depth:
                return b
        return None

    def _remember(self, b: _Binary) -> None:
        if len(self.population) < _POPULATION:
            self.population.append(b)
        else:
            self.population[self._next_slot] = b
            self._next_slot = (self._next_slot + 1) % _POPULATION

    def _submission(self, security: str) -> dict[str, Any]:
        rng = self.rng
        name = rng.choice(list(SOURCES))
        refs = {r["name"]: rng.choice(_REFERENCE_VALUES[r["name"]]) for r in SOURCES[name].get("references", [])}
        source: dict[str, Any] = {"name": name, "timestamp": self._tick()[0], "security": security}
        if refs:
            source["references"] = refs
        if rng.random() < 0.2:
            source["settings"] = {"passwords": "infected", "remove_at_depth": "3"}
        return source

    # --- binary events -------------------------------------------------------------------------

    def binary(self, action: str | None = None) -> dict[str, Any]:
        """One binary event of ``action`` (drawn from the realistic mix when None)."""
        rng = self.rng
        if action is None:
            action = self._action_table[int(rng.random() * len(self._action_table))]
        parent = None
        if action != "sourced":
            # an extracted child's depth (path length - 1) stays <= _MAX_DEPTH
            parent = self._pick(_MAX_DEPTH if action == "extracted" else _MAX_DEPTH + 1)
            if parent is None and action != "mapped":
                action = "sourced"
        iso, go = self._tick()
        if action == "sourced":
            return self._sourced(iso)
        plugin = rng.choice(self._by_action[action])
        author = _author(plugin[0], "plugin", plugin[1], self.securities[0] if rng.random() < 0.1 else None)
        if action == "mapped" and (parent is None or rng.random() < 0.5):
            return self._mapped_root(plugin, author, iso)
        assert parent is not None
        if action == "extracted":
            entity = self._new_entity()
            node = self._node(entity["sha256"], action, iso, author, {"action": "extracted", "label": "within"})
            node["filename"] = f"member_{rng.randrange(1000)}.{entity['file_extension']}"
            node["size"] = entity["size"]
            streams = [self._content(entity)]
            out_entity = dict(entity)
        elif action == "mapped":
            entity = {"sha256": self._hex(256), "md5": self._hex(128), "size": rng.randrange(200, 1 << 22)}
            node = self._node(entity["sha256"], action, iso, author, {"action": "mapped", "label": "related"})
            streams = []
            out_entity = dict(entity)
        else:
            entity = parent.entity
            node = self._node(entity["sha256"], action, iso, author, None)
            out_entity = {"sha256": entity["sha256"], "size": entity["size"]}
            streams = []
            if action == "augmented":
                alt = {"sha256": self._hex(256), "size": rng.randrange(100, 100_000), "mime": "text/plain"}
                alt["label"] = rng.choice(_ALT_LABELS)
                alt["identify_version"] = 1
                streams = [self._content(entity), alt]
            if plugin[0] == "entropy":
                out_entity["info"] = {"entropy": {"blocks": rng.choice(self._entropy_pool)}}
        track_authors = [*parent.tracks[0], self._track_author(author)]
        link = f"{parent.path[-1]['sha256']}.{node['sha256']}.{go}.{track_authors[-1]}"
        track_links = [*parent.tracks[1], link]
        path = [*parent.path, node]
        event = self._event(action, author, iso, parent.source, path, out_entity, streams, plugin[0])
        self._stamp(event, parent.source["_tsr"], track_authors, track_links)
        if action == "extracted":
            self._remember(_Binary(entity, path, parent.source, parent.security, (track_authors, track_links), event))
        return event

    def _node(self, sha256: str, action: str, iso: str, author: dict[str, Any],
              relationship: dict[str, str] | None) -> dict[str, Any]:  # fmt: skip
        node: dict[str, Any] = {"sha256": sha256, "action": action, "timestamp": iso, "author": author}
        if relationship:
            node["relationship"] = relationship
        return node

    def _sourced(self, iso: str) -> dict[str, Any]:
        rng = self.rng
        security = rng.choice(self.securities)
        source = self._submission(security)
        source["_tsr"] = track_source_references(source["name"], source.get("references", {}))
        entity = self._new_entity()
        user = source.get("references", {}).get("user") or rng.choice(_REFERENCE_VALUES["user"])
        author = _author(user, "user", None, security)
        node = self._node(entity["sha256"], "sourced", iso, author, None)
        node["filename"] = f"sample_{entity['sha256'][:8]}.{entity['file_extension']}"
        node["size"] = entity["size"]
        node["file_format"] = entity["file_format"]
        path = [node]
        tracks = ([self._track_author(author)], [])
        event = self._event("sourced", author, iso, source, path, dict(entity), [self._content(entity)], None)
        self._stamp(event, source["_tsr"], tracks[0], tracks[1])
        self._remember(_Binary(entity, path, source, security, tracks, event))
        return event

    def _mapped_root(self, plugin: tuple[Any, ...], author: dict[str, Any], iso: str) -> dict[str, Any]:
        source = {"name": "virustotal", "timestamp": iso, "security": self.securities[0]}
        source["_tsr"] = track_source_references("virustotal", {})
        entity = {"sha256": self._hex(256), "sha1": self._hex(160), "md5": self._hex(128)}
        node = self._node(entity["sha256"], "mapped", iso, author, None)
        event = self._event("mapped", author, iso, source, [node], entity, [], plugin[0])
        self._stamp(event, source["_tsr"], [self._track_author(author)], [])
        return event

    def _event(
        self,
        action: str,
        author: dict[str, Any],
        iso: str,
        source: dict[str, Any],
        path: list[Any],
        entity: dict[str, Any],
        streams: list[dict[str, Any]],
        plugin: str | None,
    ) -> dict[str, Any]:
        size, pool = self._plugin_pools[plugin or "pefile"]
        n = min(self._feature_count(), size)
        start = self.rng.randrange(size)
        entity["features"] = pool[start : start + n]
        entity["datastreams"] = streams
        src = {k: v for k, v in source.items() if k != "_tsr"}
        src["path"] = path
        return {
            "model_version": 6,
            "kafka_key": "",
            "timestamp": iso,
            "author": author,
            "action": action,
            "source": src,
            "entity": entity,
            "flags": {"bypass_cache": False, "expedite": False, "retry": False},
        }

    def _stamp(self, event: dict[str, Any], tsr: str, track_authors: list[str], track_links: list[str]) -> None:
        """Tracking fields as intake stamps them.

        ``kafka_key`` follows ``tracking.binary_kafka_key`` with the submission's part of the
        descriptor computed once per submission (calling it per event would halve the generator's
        speed); ``tests/unit/index/test_generator.py`` checks the result against ``assign_tracking``.
        """
        src = event["source"]
        key = (src["name"], src["timestamp"], tsr)
        parts = self._source_parts.get(key)
        if parts is None:
            if len(self._source_parts) > 65_536:
                self._source_parts.clear()
            parts = [src["name"], src.get("security") or "", src["timestamp"][:19]]
            parts += sorted(f"{k}.{v}" for k, v in (src.get("references") or {}).items())
            parts += sorted(f"{k}.{v}" for k, v in (src.get("settings") or {}).items())
            self._source_parts[key] = parts
        path = src["path"]
        tail = sorted({n["author"].get("security") or "" for n in path})
        for node in path[-2:]:
            tail += [node["author"]["name"], node["action"], node["sha256"]]
        descriptor = "|".join(parts + tail)
        event["kafka_key"] = hashlib.md5(descriptor.encode(), usedforsecurity=False).hexdigest()
        event["track_source_references"] = tsr
        event["track_authors"] = track_authors
        event["track_links"] = track_links

    # --- other events --------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """A plugin status answering an earlier sourced/extracted event."""
        rng = self.rng
        b = self._pick(_MAX_DEPTH + 1)
        if b is None:
            self.binary("sourced")
            b = self.population[-1]
        name, version, _, _ = rng.choice(PLUGINS)
        iso = self._tick()[0]
        dequeued = f"{b.event['kafka_key']}.{name}.{version}.{self._ms // 1000}"
        given = {**b.event, "entity": {**b.event["entity"], "features": []}, "dequeued": dequeued}
        status = rng.choices(_STATUSES, _STATUS_WEIGHTS)[0]
        entity: dict[str, Any] = {"input": given, "status": status, "runtime": round(rng.uniform(0.01, 120), 3)}
        if status.startswith("error-"):
            entity["error"] = f"{status} while processing"
            entity["message"] = "Traceback (most recent call last): ..."
        return {
            "model_version": 6,
            "kafka_key": hashlib.md5(f"{dequeued}.{name}".encode(), usedforsecurity=False).hexdigest(),
            "timestamp": iso,
            "author": _author(name, "plugin", version),
            "entity": entity,
        }

    def plugin(self) -> dict[str, Any]:
        """A plugin registration (config values are JSON text, as Azul requires)."""
        name, version, fnames, produces = self.rng.choice(PLUGINS)
        downloads = name == "vtfilemapper"
        return {
            "model_version": 6,
            "kafka_key": hashlib.md5(f"{name}.{version}".encode(), usedforsecurity=False).hexdigest(),
            "timestamp": self._tick()[0],
            "author": _author(name, "plugin", version),
            "entity": {
                "name": name,
                "version": version,
                "category": "plugin",
                "description": f"{name} produces {', '.join(produces)} results",
                "contact": "plugins@example.org",
                "features": [{"name": f, "desc": f"the {f.replace('_', ' ')}", "type": _FEATURES[f]} for f in fnames],
                "config": {
                    "is_processing_download_events": "true" if downloads else "false",
                    "filter_max_content_size": "10485760",
                },
            },
        }

    def download(self) -> dict[str, Any]:
        """A download event from an external source (VirusTotal-style)."""
        rng = self.rng
        iso = self._tick()[0]
        sha256 = self._hex(256)
        user = rng.choice(_REFERENCE_VALUES["user"])
        return {
            "model_version": 6,
            "kafka_key": self._hex(128),
            "timestamp": iso,
            "author": _author("vtdownloader", "plugin", "1.0"),
            "action": rng.choice(_DOWNLOAD_ACTIONS),
            "source": {
                "name": "virustotal",
                "timestamp": iso,
                "security": self.securities[0],
                "references": {},
                "settings": {},
                "path": [self._node(sha256, "sourced", iso, _author(user, "user", None), None)],
            },
            "entity": {"hash": sha256, "category": "virustotal", "pcap": False, "metadata": {}},
        }

    def events(
        self, n: int, weights: tuple[int, int, int, int] = (90, 8, 1, 1)
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``n`` mixed ``(model, event)`` pairs: binary, status, plugin and download by ``weights``."""
        makers = (("binary", self.binary), ("status", self.status), ("plugin", self.plugin),
                  ("download", self.download))  # fmt: skip
        picks = self.rng.choices(range(4), weights, k=n)
        for i in picks:
            model, make = makers[i]
            yield model, make()

    def binaries(self, n: int) -> Iterator[dict[str, Any]]:
        """``n`` binary events of the realistic action mix."""
        for _ in range(n):
            yield self.binary()
