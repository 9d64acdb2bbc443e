"""A FAKE OpenID Connect provider for tests only: never use it to protect anything.

Why: azul-client's ``auth_type = service`` logs in with the OAuth2 client-credentials grant against
a real OIDC provider (discovery document at ``oidc_url``, then its ``token_endpoint``), and our server
verifies the resulting RS256 tokens against the provider's JWKS (``jwt_jwks_url``). To test that
round trip without Keycloak, this serves the three documents involved over real HTTP on 127.0.0.1:

- ``GET /.well-known/openid-configuration``: issuer, token, JWKS and authorization endpoints;
- ``GET /jwks``: the public half of a freshly generated RSA key (with a ``kid``);
- ``POST /token``: ``grant_type=client_credentials`` with a configured client id and secret answers
  ``{"access_token": <RS256 JWT>, ...}`` carrying ``iss``, ``aud``, ``exp``, ``roles``; a wrong secret
  answers 401 ``invalid_client`` as Keycloak does.

Example::

    with FakeOidcProvider(clients={"svc": ("s3cret", ["LOW"])}) as idp:
        settings = Settings(jwt_jwks_url=idp.jwks_url, jwt_issuer=idp.issuer, jwt_audience=idp.audience)
        token = idp.mint("alice", ["LOW"])
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["FakeOidcProvider"]


class FakeOidcProvider:
    """A tiny OIDC provider on 127.0.0.1 (a free port), run in a daemon thread; use as a context manager.

    ``clients`` maps a client id to ``(secret, roles)``. ``token_requests`` counts POSTs to the token
    endpoint (granted or not), so a test can show a stored token was used without logging in again.
    """

    def __init__(self, clients: dict[str, tuple[str, list[str]]], *, audience: str = "azul-metastore",
                 lifetime: int = 300) -> None:
        self.clients = dict(clients)
        self.audience = audience
        self.lifetime = lifetime
        self.kid = secrets.token_hex(8)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.token_requests = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- addresses the client and the server are configured with ------------------------------------

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/test"

    @property
    def discovery_url(self) -> str:
        """What azul-client calls ``oidc_url``: the discovery document itself, not its base."""
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FakeOidcProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    # --- tokens ---------------------------------------------------------------------------------

    def mint(self, username: str, roles: list[str], *, lifetime: int | None = None, **claims: Any) -> str:
        """An RS256 access token as this provider issues them (``claims`` override or add claims)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": f"sub-{username}",
            "preferred_username": username,
            "roles": list(roles),
            "iat": now,
            "exp": now + (self.lifetime if lifetime is None else lifetime),
        }
        body.update(claims)
        return jwt.encode(body, self._key, algorithm="RS256", headers={"kid": self.kid})

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.url}/auth",
            "token_endpoint": self.token_url,
            "jwks_uri": self.jwks_url,
            "grant_types_supported": ["client_credentials"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint's answer (status, JSON body) to a form."""
        self.token_requests += 1
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        client = self.clients.get(form.get("client_id", ""))
        if client is None or not secrets.compare_digest(client[0], form.get("client_secret", "")):
            return 401, {"error": "invalid_client", "error_description": "Invalid client or client credentials"}
        username = f"service-account-{form['client_id']}"
        return 200, {"access_token": self.mint(username, client[1], azp=form["client_id"]),
                     "token_type": "Bearer", "expires_in": self.lifetime, "scope": form.get("scope", "")}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # http.server's naming
                path = urllib.parse.urlsplit(self.path).path
                if path == "/.well-known/openid-configuration":
                    self._send(200, provider.discovery())
                elif path == "/jwks":
                    self._send(200, provider.jwks())
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if urllib.parse.urlsplit(self.path).path != "/token":
                    self._send(404, {"error": "not_found"})
                    return
                length = int(self.headers.get("content-length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                self._send(*provider.grant(form))

            def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
                pass

        return Handler
