"""Demo configuration of the OpenSearch security plugin for the ``opensearch-secure`` service.

What tests get (all fixed, for development and tests only):

- HTTP without TLS on 127.0.0.1 (basic auth or a bearer JWT); transport TLS, which the plugin
  requires, uses a self-signed node certificate made with the JDK's ``keytool`` at each start;
- internal users ``azul_admin`` (role ``all_access``, may use the security REST API, so tests of
  ``apply-opensearch-config`` can create roles and mappings) and ``azul_writer`` (role
  ``azul_writer``: read and write any index, no security API);
- a JWT auth domain: HS256 with a shared secret, user name from claim ``sub``, backend roles from
  claim ``roles``. A backend role named like a security role is mapped to it by the demo
  ``roles_mapping`` entries below; tests add their own roles (with ``dls`` queries) and mappings
  through the REST API as ``azul_admin``.

The security index is seeded from ``config/opensearch-security/`` on first start
(``plugins.security.allow_default_init_securityindex``), so no ``securityadmin`` run is needed.
Configuration files are written as JSON, which the plugin's YAML reader accepts.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ADMIN_USER = "azul_admin"
WRITER_USER = "azul_writer"
# bcrypt hashes (cost 12) of the default passwords, made with the plugin's own
# org.opensearch.security.tools.Hasher; change both together.
_USERS = {
    ADMIN_USER: ("Azul-Admin-Dev-1!", "$2y$12$6FGGewB.l70ngVkjaHsvce.3XytqHaxRk/zyzj5Enn50ymf.zvL8u"),
    WRITER_USER: ("Azul-Writer-Dev-1!", "$2y$12$Bh./UYLJnG6oKpb1mov4zeJylLp/rtktHMRyNs.pwmM5xlWjcvKkO"),
}
JWT_SECRET = os.environ.get("SERVICES_OPENSEARCH_JWT_SECRET", "azul-metastore-dev-jwt-secret-0123456789abcdef")
JWT_ROLES_KEY = "roles"
JWT_SUBJECT_KEY = "sub"
NODE_DN = "CN=node-1.metastore.local,OU=dev,O=metastore,C=US"
_STORE_PASSWORD = "changeit"


def admin_password() -> str:
    """The password of ``azul_admin``, used by the readiness probe and the fixture."""
    return _USERS[ADMIN_USER][0]


def secure_client_info(url: str) -> dict[str, Any]:
    """What the ``opensearch_secure_url`` fixture returns: where the node is and how to log in."""
    return {
        "url": url,
        "admin": (ADMIN_USER, _USERS[ADMIN_USER][0]),
        "writer": (WRITER_USER, _USERS[WRITER_USER][0]),
        "jwt_secret": JWT_SECRET,
        "jwt_algorithm": "HS256",
        "jwt_roles_key": JWT_ROLES_KEY,
        "jwt_subject_key": JWT_SUBJECT_KEY,
    }


def _keytool(java: str) -> str:
    """``keytool`` next to the ``java`` that runs the node (a JRE has it too)."""
    beside = Path(java).resolve().parent / "keytool"
    return str(beside) if beside.exists() else (shutil.which("keytool") or "keytool")


def _make_certificates(config: Path, java: str) -> None:
    """A self-signed node certificate and a trust store holding it: transport TLS needs both."""
    keytool = _keytool(java)
    keystore, truststore, pem = config / "node.p12", config / "truststore.p12", config / "node.pem"
    steps = [
        [
            keytool,
            "-genkeypair",
            "-alias",
            "node",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-validity",
            "3650",
            "-dname",
            NODE_DN,
            "-ext",
            "san=dns:localhost,ip:127.0.0.1",
            "-keystore",
            str(keystore),
            "-storetype",
            "PKCS12",
            "-storepass",
            _STORE_PASSWORD,
            "-keypass",
            _STORE_PASSWORD,
        ],
        [
            keytool,
            "-exportcert",
            "-rfc",
            "-alias",
            "node",
            "-keystore",
            str(keystore),
            "-storepass",
            _STORE_PASSWORD,
            "-file",
            str(pem),
        ],
        [
            keytool,
            "-importcert",
            "-noprompt",
            "-alias",
            "node",
            "-file",
            str(pem),
            "-keystore",
            str(truststore),
            "-storetype",
            "PKCS12",
            "-storepass",
            _STORE_PASSWORD,
        ],
    ]
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            from services.manager import ServiceError

            raise ServiceError(f"keytool failed ({' '.join(step[:2])}): {result.stdout}{result.stderr}")


def _security_files() -> dict[str, dict[str, Any]]:
    """The security index's initial documents: auth domains, users, roles and their mappings."""
    config = {
        "_meta": {"type": "config", "config_version": 2},
        "config": {
            "dynamic": {
                "http": {"anonymous_auth_enabled": False},
                "authc": {
                    "jwt_auth_domain": {
                        "description": "Bearer JWT, HS256 shared secret",
                        "http_enabled": True,
                        "transport_enabled": False,
                        "order": 0,
                        "http_authenticator": {
                            "type": "jwt",
                            "challenge": False,
                            "config": {
                                # The plugin wants an HMAC key as base64.
                                "signing_key": base64.b64encode(JWT_SECRET.encode()).decode(),
                                "jwt_header": "Authorization",
                                "jwt_clock_skew_tolerance_seconds": 30,
                                "roles_key": JWT_ROLES_KEY,
                                "subject_key": JWT_SUBJECT_KEY,
                            },
                        },
                        "authentication_backend": {"type": "noop"},
                    },
                    "basic_internal_auth_domain": {
                        "description": "HTTP basic against the internal users",
                        "http_enabled": True,
                        "transport_enabled": True,
                        "order": 1,
                        "http_authenticator": {"type": "basic", "challenge": True},
                        "authentication_backend": {"type": "intern"},
                    },
                },
                "authz": {},
            }
        },
    }
    internal_users = {
        "_meta": {"type": "internalusers", "config_version": 2},
        ADMIN_USER: {
            "hash": _USERS[ADMIN_USER][1],
            "reserved": False,
            "backend_roles": ["admin"],
            "description": "Metastore admin (demo)",
        },
        WRITER_USER: {
            "hash": _USERS[WRITER_USER][1],
            "reserved": False,
            "backend_roles": ["azul_writer"],
            "description": "Metastore ingest writer (demo)",
        },
    }
    roles = {
        "_meta": {"type": "roles", "config_version": 2},
        "azul_writer": {
            "cluster_permissions": [
                "cluster_composite_ops",
                "cluster_monitor",
                "indices:admin/template/*",
                "indices:admin/index_template/*",
            ],
            "index_permissions": [{"index_patterns": ["*"], "allowed_actions": ["indices_all"]}],
        },
        "azul_reader": {
            "cluster_permissions": ["cluster_composite_ops_ro"],
            "index_permissions": [{"index_patterns": ["*"], "allowed_actions": ["read"]}],
        },
    }
    roles_mapping = {
        "_meta": {"type": "rolesmapping", "config_version": 2},
        "all_access": {"backend_roles": ["admin"], "description": "azul_admin"},
        "security_rest_api_access": {"backend_roles": ["admin"]},
        "azul_writer": {"backend_roles": ["azul_writer"]},
        "azul_reader": {"backend_roles": ["azul_reader"]},
    }
    # Audit logging is off: its default sink would be an index the tests do not expect to see.
    audit = {"_meta": {"type": "audit", "config_version": 2}, "config": {"enabled": False}}
    return {
        "audit.yml": audit,
        "config.yml": config,
        "internal_users.yml": internal_users,
        "roles.yml": roles,
        "roles_mapping.yml": roles_mapping,
    }


def write_security_config(config: Path, java: str, plugin_dir: Path | None = None) -> dict[str, Any]:
    """Write certificates and the security index seed; return the node settings that use them.

    ``plugin_dir`` is the unpacked security plugin zip: its ``config/`` provides the files we do
    not override (action groups, tenants, audit, nodes_dn, allowlist), in the plugin's own format.
    """
    _make_certificates(config, java)
    seed = config / "opensearch-security"
    seed.mkdir()
    if plugin_dir is not None and (plugin_dir / "config").is_dir():
        for name in ("action_groups.yml", "tenants.yml", "nodes_dn.yml", "allowlist.yml", "whitelist.yml"):
            source = plugin_dir / "config" / name
            if source.exists():
                shutil.copy(source, seed / name)
    for name, document in _security_files().items():
        (seed / name).write_text(json.dumps(document, indent=2) + "\n")
    # The plugin warns about every config file that others could read; these hold test secrets only,
    # but quiet logs make real problems easier to spot.
    for path in [config, *config.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return {
        "plugins.security.ssl.transport.keystore_type": "PKCS12",
        "plugins.security.ssl.transport.keystore_filepath": "node.p12",
        "plugins.security.ssl.transport.keystore_password": _STORE_PASSWORD,
        "plugins.security.ssl.transport.truststore_type": "PKCS12",
        "plugins.security.ssl.transport.truststore_filepath": "truststore.p12",
        "plugins.security.ssl.transport.truststore_password": _STORE_PASSWORD,
        "plugins.security.ssl.transport.enforce_hostname_verification": False,
        "plugins.security.ssl.http.enabled": False,
        "plugins.security.nodes_dn": [NODE_DN],
        "plugins.security.allow_default_init_securityindex": True,
        "plugins.security.restapi.roles_enabled": ["all_access", "security_rest_api_access"],
        "plugins.security.check_snapshot_restore_write_privileges": True,
        "plugins.security.enable_snapshot_restore_privilege": True,
        "plugins.security.system_indices.enabled": True,
        # Field masking's salt; fixed so that masked values are stable between runs.
        "plugins.security.compliance.salt": "metastore-dev-16",
        # Audit logging is off (see audit.yml); "noop" also keeps its sink from reporting an error.
        "plugins.security.audit.type": "noop",
        "plugins.security.system_indices.indices": [".opendistro_security", ".plugins-ml-config"],
    }
