"""Submission and download throughput, end to end over real HTTP: a uvicorn server (uvloop, httptools
when installed) around the embedded backends, and an httpx client.

* small files: 10 KB uploads to ``POST /api/v0/binaries/source?refresh=true`` (identified, stored,
  published, indexed before the answer), one client and four concurrent clients, raw and CaRT;
* large files: 100 MB uploads (random bytes, the worst case for identification), MB/s of the upload;
* downloads: MB/s of the 100 MB binary in each format (``cart``, ``malpz``, ``zip``, ``plain``).

Prints and writes bench/results/submit.json.

Usage: .venv/bin/python -m bench.submit [--small 300] [--large-mb 100] [--large-runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

from azul_metastore.api.app import create_app
from azul_metastore.app import build_services
from azul_metastore.content.neuter import cart_chunks
from azul_metastore.settings import load_settings
from bench._report import report

SOURCES = {"samples": {"references": [{"name": "user", "required": True}]}}
FORM = {"source_id": "samples", "references": json.dumps({"user": "bench"}), "timestamp": "2024-01-01T00:00:00Z",
        "security": "OFFICIAL", "filename": "sample.bin"}


def serve(services) -> tuple[str, uvicorn.Server, threading.Thread]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def upload(client: httpx.Client, data: bytes | Path) -> str:
    body = data.open("rb") if isinstance(data, Path) else data
    try:
        resp = client.post("/api/v0/binaries/source", params={"refresh": "true"}, data=FORM,
                           files={"binary": ("upload", body, "application/octet-stream")})
    finally:
        if isinstance(data, Path):
            body.close()
    resp.raise_for_status()
    return resp.json()[0]["sha256"]


def small_files(url: str, count: int, threads: int, cart: bool) -> float:
    """Files per second for ``count`` distinct 10 KB uploads over ``threads`` clients."""
    blobs = [os.urandom(10 * 1024) for _ in range(count)]
    if cart:
        blobs = [b"".join(cart_chunks([b])) for b in blobs]

    def work(part: list[bytes]) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for blob in part:
                upload(client, blob)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [blobs[i::threads] for i in range(threads)]))
    return count / (time.perf_counter() - started)


def download_rate(client: httpx.Client, sha256: str, fmt: str, size: int) -> float:
    """MB/s of the original bytes delivered in format ``fmt``."""
    started = time.perf_counter()
    with client.stream("GET", f"/api/v0/binaries/{sha256}/content", params={"format": fmt}) as resp:
        resp.raise_for_status()
        for _ in resp.iter_raw(1024 * 1024):
            pass
    return size / 1e6 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=300, help="10 KB files per small-file run")
    parser.add_argument("--large-mb", type=int, default=100)
    parser.add_argument("--large-runs", type=int, default=2)
    args = parser.parse_args()
    figures: dict[str, float | int] = {}
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parents[1] / "var") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", sources=SOURCES, auth_open=True,
                                 download_allow_plain=True, prometheus_port=0)
        services = build_services(settings)
        url, server, thread = serve(services)
        try:
            small_files(url, 20, 1, cart=False)  # warm up (imports, SQLite pages, libmagic)
            figures["small_10KB_files_per_s_1_client"] = small_files(url, args.small, 1, cart=False)
            figures["small_10KB_files_per_s_4_clients"] = small_files(url, args.small, 4, cart=False)
            figures["small_10KB_cart_files_per_s_1_client"] = small_files(url, args.small, 1, cart=True)
            size = args.large_mb * 1024 * 1024
            big = Path(tmp) / "big.bin"
            rates = []
            with httpx.Client(base_url=url, timeout=600) as client:
                for _ in range(args.large_runs):
                    big.write_bytes(os.urandom(size))
                    started = time.perf_counter()
                    sha256 = upload(client, big)
                    rates.append(size / 1e6 / (time.perf_counter() - started))
                figures[f"large_{args.large_mb}MB_upload_MB_per_s"] = max(rates)
                for fmt in ("cart", "malpz", "zip", "plain"):
                    figures[f"download_{fmt}_MB_per_s"] = download_rate(client, sha256, fmt, size)
            figures["small_files"] = args.small
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            services.close()
    report("submit", figures)


if __name__ == "__main__":
    main()
