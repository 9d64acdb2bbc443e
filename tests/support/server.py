"""A real uvicorn server on 127.0.0.1 for API tests: the app runs exactly as in production,
in a background thread, on a free port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from azul_metastore.api.app import create_app
from azul_metastore.app import Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(services: Services) -> Iterator[str]:
    """Serve ``services`` over real HTTP; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    """Wait until something answers HTTP at ``url`` (any status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
