"""``StdlibConnection`` against real HTTP(S) servers on 127.0.0.1, through the opensearch-py client
the metastore builds (``client.new_client``): what the node sees of a request, kept-alive sockets, a
socket the node closed, errors, timeouts, gzipped answers and TLS verification."""

from __future__ import annotations

import datetime
import gc
import gzip
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opensearchpy import OpenSearch
from opensearchpy import exceptions as os_errors

from azul_metastore.errors import BackendUnavailable, BadRequest
from azul_metastore.index.opensearch.client import new_client, translated
from azul_metastore.index.opensearch.connection import StdlibConnection

#: makes clients as ``new_client`` does (fixture ``clients``)
Clients = Callable[..., OpenSearch]


class FakeNode(ThreadingHTTPServer):
    """A stand-in for an OpenSearch node (a fake: it answers what each test scripts), recording the
    requests and the client sockets they came on."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scheme = "https" if tls else "http"
        if tls:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, dict[str, str], bytes] = (200, {}, b'{"ok": true}')
        self.delay = threading.Event()
        self.close_after_answer = False
        self.drop_after_answer = False

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client refusing the certificate: the test looks at the client's side


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeNode

    def _answer(self) -> None:
        # read once, before answering: the test may change them as soon as the answer is out
        close, drop = self.server.close_after_answer, self.server.drop_after_answer
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append({"method": self.command, "path": self.path, "body": body,
                                     "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "peer": self.client_address})
        if self.server.delay.is_set():
            threading.Event().wait(1.0)
        status, headers, payload = self.server.answer
        self.send_response(status)
        headers = {"content-type": "application/json", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(payload)) if self.command != "HEAD" else "0")
        if close:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        if close or drop:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def clients() -> Iterator[Clients]:
    """``new_client``, every client made closed at the end (kept sockets with it)."""
    made: list[OpenSearch] = []

    def make(*args: Any, **kwargs: Any) -> OpenSearch:
        made.append(new_client(*args, **kwargs))
        return made[-1]

    yield make
    for one in made:
        one.close()


def _serving(server: FakeNode) -> Iterator[FakeNode]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def node() -> Iterator[FakeNode]:
    yield from _serving(FakeNode())


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return _self_signed(tmp_path)


@pytest.fixture
def tls_node(cert: tuple[Path, Path]) -> Iterator[FakeNode]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*cert)
    yield from _serving(FakeNode(context))


def test_the_client_uses_it_and_the_node_gets_the_request_whole(node: FakeNode, clients: Clients) -> None:
    client = clients(node.url, "writer", "s3cret", headers={"X-Extra": "yes"})
    assert isinstance(client.transport.get_connection(), StdlibConnection)
    answer = client.search(index="azul.x.p.binary2", body={"query": {"terms": {"sha256": ["ab"]}}},
                           params={"allow_no_indices": "true"})
    assert answer == {"ok": True}
    seen = node.requests[-1]
    assert seen["method"] == "POST"
    assert seen["path"] == "/azul.x.p.binary2/_search?allow_no_indices=true"
    assert json.loads(seen["body"]) == {"query": {"terms": {"sha256": ["ab"]}}}
    assert seen["headers"]["authorization"] == "Basic d3JpdGVyOnMzY3JldA=="  # writer:s3cret
    assert seen["headers"]["x-extra"] == "yes"
    assert seen["headers"]["content-type"] == "application/json"


def test_sockets_are_kept_alive_between_requests(node: FakeNode, clients: Clients) -> None:
    client = clients(node.url)
    for _ in range(5):
        client.info()
    assert len({r["peer"] for r in node.requests}) == 1


def test_a_socket_the_node_closed_is_replaced_without_an_error(node: FakeNode, clients: Clients) -> None:
    client = clients(node.url)
    client.transport.max_retries = 0  # replaced by the connection, not retried by the transport
    node.close_after_answer = True
    client.info()
    node.close_after_answer = False
    assert client.info() == {"ok": True}  # the closed socket was not reused
    node.drop_after_answer = True  # as a node dropping a connection left idle, without saying so
    client.info()
    node.drop_after_answer = False
    time.sleep(0.1)
    assert client.info() == {"ok": True}
    assert len({r["peer"] for r in node.requests}) == 3
    assert not client.transport.get_connection()._idle[-1].sock._closed


def test_a_client_dropped_without_close_closes_its_sockets(node: FakeNode) -> None:
    client = new_client(node.url)
    client.info()
    kept = client.transport.get_connection()._idle[-1].sock
    del client
    gc.collect()
    assert kept._closed


def test_error_answers_become_the_clients_exceptions_and_then_ours(node: FakeNode, clients: Clients) -> None:
    client = clients(node.url)
    node.answer = (400, {}, b'{"error": {"type": "parsing_exception", "reason": "bad query"}, "status": 400}')
    with pytest.raises(os_errors.RequestError) as caught:
        client.search(index="x", body={})
    assert caught.value.error == "parsing_exception"
    with pytest.raises(BadRequest, match="parsing_exception: bad query"), translated("searching"):
        client.search(index="x", body={})
    node.answer = (404, {}, b"")
    assert client.indices.exists(index="missing") is False
    node.answer = (200, {}, b"")
    assert client.indices.exists(index="there") is True


def test_a_node_that_does_not_answer_in_time_is_a_timeout(node: FakeNode, clients: Clients) -> None:
    client = clients(node.url)
    client.transport.max_retries = 0
    node.delay.set()
    with pytest.raises(os_errors.ConnectionTimeout):
        client.info(request_timeout=0.2)
    with pytest.raises(BackendUnavailable, match="while reading"), translated("reading"):
        client.info(request_timeout=0.2)


def test_a_node_that_is_not_there_is_a_connection_error(clients: Clients) -> None:
    client = clients("http://127.0.0.1:9")  # discard port: nothing listens
    client.transport.max_retries = 0
    with pytest.raises(os_errors.ConnectionError):
        client.info()


def test_gzipped_answers_are_decoded(node: FakeNode, clients: Clients) -> None:
    client = clients(node.url, compress_answers=True)
    node.answer = (200, {"content-encoding": "gzip"}, gzip.compress(b'{"hits": {"total": 3}}'))
    assert client.info() == {"hits": {"total": 3}}
    assert node.requests[-1]["headers"]["accept-encoding"] == "gzip,deflate"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "node.pem", tmp / "node.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_verifies_the_node_unless_told_not_to(tls_node: FakeNode, cert: tuple[Path, Path],
                                                  clients: Clients,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    untrusting = clients(tls_node.url)
    untrusting.transport.max_retries = 0
    with pytest.raises(os_errors.SSLError):
        untrusting.info()
    with pytest.raises(BackendUnavailable), translated("reading"):
        untrusting.info()
    assert clients(tls_node.url, verify_certs=False).info() == {"ok": True}  # new_client: no warning then
    with pytest.warns(UserWarning, match="without verifying its certificate"):
        StdlibConnection("127.0.0.1", tls_node.server_address[1], use_ssl=True, verify_certs=False).close()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))  # the node's certificate as the trusted root
    assert clients(tls_node.url).info() == {"ok": True}
    assert all(r["headers"].get("connection") == "keep-alive" for r in tls_node.requests)
