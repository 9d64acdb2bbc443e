"""The HTTP connection of the opensearch-py client: the standard library's ``http.client`` on kept-alive
sockets, in place of urllib3.

Why: a search is a few milliseconds on the node, and the client's share of it counts. Measured
against the 1,000,000-binary partition on one node (2 cores), a ``match_none`` search took 2.36 ms
p50 through opensearch-py on urllib3 and 1.09 ms through ``http.client``; a search for the identities
of 10 binaries 5.69 ms against 4.93 ms (10.7 against 7.4 at p99). urllib3 spent 1 ms of CPU per
request in retry, timeout and response wrappers, and wrote the headers and the body of every
request in two ``send`` calls. Every read of the metastore is one or more such requests.

opensearch-py is kept for everything else (the API surface, serialising requests, retries across
failures, mapping HTTP errors to its exceptions, which ``client.translated`` maps to ours): this is
its documented extension point (``connection_class``), with the behaviour of its urllib3 connection
for what the metastore uses: basic auth, extra headers, TLS with certificate verification (the
``ca_certs`` or the environment's and certifi's roots, as opensearch-py finds them) or without,
per-request timeouts, gzipped answers on request.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import select
import socket
import ssl
import threading
import time
import warnings
import weakref
import zlib
from base64 import b64encode
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlencode

from opensearchpy import Connection
from opensearchpy.exceptions import ConnectionError as TransportConnectionError
from opensearchpy.exceptions import ConnectionTimeout, ImproperlyConfigured, SSLError
from opensearchpy.metrics import MetricsNone

#: opensearch-py's request log; its success line is only built when someone listens
_request_log = logging.getLogger("opensearch")
#: sockets kept open to the node when the client does not say (opensearch-py's ``pool_maxsize``)
DEFAULT_KEPT = 10


class StdlibConnection(Connection):
    """One node, reached over kept-alive ``http.client`` connections (a pool: one per request in flight).

    A pooled socket the node has closed (it drops idle connections) is noticed before it is reused,
    as urllib3 does, and replaced. Any other failure of the exchange closes the socket and raises
    opensearch-py's ``ConnectionError`` (``ConnectionTimeout`` on a timeout, ``SSLError`` on TLS),
    which its transport retries as it does for urllib3's failures.
    """

    def __init__(self, host: str = "localhost", port: int | None = None, http_auth: Any = None,
                 use_ssl: bool = False, verify_certs: bool = True, ssl_show_warn: bool = True,
                 ca_certs: str | None = None, client_cert: str | None = None, client_key: str | None = None,
                 pool_maxsize: int | None = None, headers: Mapping[str, str] | None = None,
                 http_compress: bool | None = None, metrics: Any = None, **kwargs: Any) -> None:
        self.headers = {"connection": "keep-alive"}
        super().__init__(host=host, port=port, use_ssl=use_ssl, headers=dict(headers or {}),
                         http_compress=http_compress, **kwargs)
        if http_auth is not None:
            if isinstance(http_auth, (tuple, list)):
                http_auth = ":".join(http_auth)
            if not isinstance(http_auth, str):
                raise ImproperlyConfigured("http_auth must be a (username, password) pair or 'username:password'")
            self.headers["authorization"] = "Basic " + b64encode(http_auth.encode()).decode()
        self.metrics = metrics if metrics is not None else MetricsNone()
        self._context = self._tls(verify_certs, ca_certs, client_cert, client_key) if self.use_ssl else None
        if self.use_ssl and not verify_certs and ssl_show_warn:
            warnings.warn(f"Connecting to {self.host} using TLS without verifying its certificate is insecure",
                          stacklevel=2)
        self._kept = pool_maxsize if isinstance(pool_maxsize, int) and pool_maxsize > 0 else DEFAULT_KEPT
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        # a client dropped without close() still closes its kept sockets (as urllib3's pools do)
        weakref.finalize(self, _close_all, self._idle, self._lock)

    def _tls(self, verify: bool, ca_certs: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
        if verify:
            roots = ca_certs or self.default_ca_certs()  # None: the system's own roots
            folder = bool(roots) and os.path.isdir(roots)
            context = ssl.create_default_context(cafile=None if folder else roots, capath=roots if folder else None)
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if cert:
            context.load_cert_chain(cert, key)
        return context

    # --- the pool --------------------------------------------------------------------------------

    def _new(self, timeout: float) -> http.client.HTTPConnection:
        if self._context is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.hostname, self.port, timeout=timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(self.hostname, self.port, timeout=timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _take(self, timeout: float) -> http.client.HTTPConnection:
        """A connection for one exchange: a kept one the node has not closed, else a new one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._new(timeout)
            if _dropped(conn):
                conn.close()
                continue
            assert conn.sock is not None
            conn.sock.settimeout(timeout)
            return conn

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._kept:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        _close_all(self._idle, self._lock)

    # --- one exchange ----------------------------------------------------------------------------

    def perform_request(self, method: str, url: str, params: Mapping[str, Any] | None = None,
                        body: bytes | None = None, timeout: float | None = None, ignore: Collection[int] = (),
                        headers: Mapping[str, str] | None = None) -> tuple[int, Any, str]:
        url = self.url_prefix + url
        if params:
            url = f"{url}?{urlencode(params)}"
        full_url = self.host + url
        sent = body
        request_headers = {**self.headers, **{k.lower(): v for k, v in (headers or {}).items()}}
        if self.http_compress and body:
            sent = self._gzip_compress(body)
            request_headers["content-encoding"] = "gzip"
        if isinstance(sent, str):
            sent = sent.encode("utf-8", "surrogatepass")
        start = time.time()
        self.metrics.request_start()
        conn: http.client.HTTPConnection | None = None
        try:
            conn = self._take(timeout or self.timeout)
            conn.request(method, url, body=sent, headers=request_headers)
            response = conn.getresponse()
            payload = response.read()
        except Exception as exc:
            if conn is not None:
                conn.close()
            self.log_request_fail(method, full_url, url, body, time.time() - start, exception=exc)
            if isinstance(exc, ssl.SSLError):
                raise SSLError("N/A", str(exc), exc) from exc
            if isinstance(exc, (socket.timeout, TimeoutError)):
                raise ConnectionTimeout("TIMEOUT", str(exc), exc) from exc
            raise TransportConnectionError("N/A", str(exc), exc) from exc
        finally:
            self.metrics.request_end()
        duration = time.time() - start
        if response.will_close:
            conn.close()
        else:
            self._give_back(conn)
        payload = _decoded(payload, response.getheader("content-encoding"))
        raw_data = payload.decode("utf-8", "surrogatepass")
        self._raise_warnings(response.headers.get_all("warning") or ())
        if not (200 <= response.status < 300) and response.status not in ignore:
            self.log_request_fail(method, full_url, url, body, duration, response.status, raw_data)
            self._raise_error(response.status, raw_data, response.getheader("content-type"))
        if _request_log.isEnabledFor(logging.INFO):
            self.log_request_success(method, full_url, url, body, response.status, raw_data, duration)
        return response.status, response.headers, raw_data


def _close_all(idle: list[http.client.HTTPConnection], lock: threading.Lock) -> None:
    with lock:
        closing = idle[:]
        idle.clear()
    for conn in closing:
        conn.close()


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether the node closed a kept socket: an idle socket that is readable has reached its end."""
    sock = conn.sock
    if sock is None:
        return True
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _decoded(payload: bytes, encoding: str | None) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(payload)
    if encoding == "deflate":
        return zlib.decompress(payload)
    return payload
