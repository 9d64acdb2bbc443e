"""Content throughput: identification, the filesystem blob store, and CaRT downloads.

Run: ``.venv/bin/python bench/content.py [--mb 100]``. Prints a table and writes
``bench/results/content.json``. Targets (issue #3): identification ≥60 MB/s with ssdeep and TLSH;
store ≥200 MB/s; our streaming CaRT within 10% of the ``cart`` library packing the same bytes.

Two inputs of the same size: random bytes (incompressible, worst case for zlib) and "PE-like"
bytes (a PE header, then a mix of skewed "code" bytes, zero padding and ASCII/UTF-16 strings, which
compresses roughly like real executables).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cart import cart as cartlib

from azul_metastore.blobs.filesystem import FileSystemBlobStore
from azul_metastore.content.identify import Identifier
from azul_metastore.content.neuter import cart_chunks

CHUNK = 1024 * 1024
RESULTS = Path(__file__).resolve().parent / "results" / "content.json"


def random_data(size: int) -> bytes:
    return os.urandom(size)


def pe_like(size: int, seed: int = 7) -> bytes:
    """Deterministic executable-shaped bytes: header, code, padding and strings in 4 KiB pages."""
    rng = np.random.default_rng(seed)
    header = bytearray(4096)
    header[:2] = b"MZ"
    header[0x3C:0x40] = (0x80).to_bytes(4, "little")
    header[0x80:0x84] = b"PE\0\0"
    # code: a skewed opcode distribution (a few bytes are very common, as in x86)
    weights = 1.0 / np.arange(1, 257) ** 1.1
    weights /= weights.sum()
    alphabet = rng.permutation(256).astype(np.uint8)
    words = [w.encode() for w in ("kernel32.dll", "GetProcAddress", "LoadLibraryA", "http://", "Software\\Microsoft",
                                  "VirtualAlloc", "CreateFileW", "%s\\%s", "Mozilla/5.0", "cmd.exe /c ")]
    out = bytearray(header)
    while len(out) < size:
        kind = rng.random()
        if kind < 0.6:
            out += alphabet[rng.choice(256, size=4096, p=weights)].tobytes()
        elif kind < 0.8:
            out += bytes(4096)
        else:
            page = bytearray()
            while len(page) < 4096:
                word = words[int(rng.integers(len(words)))]
                page += (word.decode().encode("utf-16le") if rng.random() < 0.3 else word) + b"\0"
            out += page[:4096]
    return bytes(out[:size])


def chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(data), CHUNK):
        yield bytes(view[i:i + CHUNK])


def best_of(runs: int, fn: Callable[[], None]) -> float:
    """Median seconds of ``runs`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_identify(data: bytes) -> float:
    def run() -> None:
        ident = Identifier()
        for c in chunks(data):
            ident.update(c)
        ident.finish()

    return best_of(3, run)


def bench_store(data: bytes, root: Path) -> float:
    store = FileSystemBlobStore(root)

    def run() -> None:
        writer = store.open_writer("bench", "content")
        for c in chunks(data):
            writer.write(c)
        sha, _ = writer.commit()
        store.delete("bench", "content", sha)

    return best_of(3, run)


def bench_cart_ours(data: bytes, root: Path) -> float:
    """Our download path: read from the store and CaRT-pack as a generator."""
    store = FileSystemBlobStore(root)
    writer = store.open_writer("bench", "content")
    for c in chunks(data):
        writer.write(c)
    sha, _ = writer.commit()

    def run() -> None:
        for _ in cart_chunks(store.open_range("bench", "content", sha)):
            pass

    try:
        return best_of(3, run)
    finally:
        store.delete("bench", "content", sha)


class _Null(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        return len(b)


def bench_cart_library(data: bytes, digests: bool) -> float:
    def run() -> None:
        auto = cartlib.DEFAULT_DIGESTS if digests else ()
        cartlib.pack_stream(io.BytesIO(data), _Null(), auto_digests=auto)

    return best_of(3, run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of each input in MB (default 100)")
    args = parser.parse_args()
    size = args.mb * 1_000_000
    inputs = {"random": random_data(size), "pe_like": pe_like(size)}
    results: dict[str, object] = {"mb": args.mb, "machine": platform.machine(), "cpus": os.cpu_count(),
                                  "python": platform.python_version()}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-content-") as tmp:
        for name, data in inputs.items():
            mb = len(data) / 1e6
            ident = mb / bench_identify(data)
            store = mb / bench_store(data, Path(tmp) / "store")
            ours = mb / bench_cart_ours(data, Path(tmp) / "cart")
            lib = mb / bench_cart_library(data, digests=False)
            lib_digests = mb / bench_cart_library(data, digests=True)
            results[name] = {
                "identify_mb_s": round(ident, 1),
                "store_mb_s": round(store, 1),
                "cart_download_mb_s": round(ours, 1),
                "cart_library_mb_s": round(lib, 1),
                "cart_library_with_digests_mb_s": round(lib_digests, 1),
                "cart_ratio_to_library": round(ours / lib, 3),
            }
            rows.append((name, ident, store, ours, lib, lib_digests, ours / lib))
    print(f"{'input':10} {'identify':>10} {'store':>10} {'cart ours':>10} {'cart lib':>10} {'lib+dig':>10} "
          f"{'ratio':>7}   (MB/s)")
    for name, ident, store, ours, lib, libd, ratio in rows:
        print(f"{name:10} {ident:10.1f} {store:10.1f} {ours:10.1f} {lib:10.1f} {libd:10.1f} {ratio:7.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
