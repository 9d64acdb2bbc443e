"""Run by the compat virtual environment's Python (>= 3.12), never imported by the metastore.

``client_oidc_driver.py OUT TAG``: log in exactly as a user of azul-client does, from the config file
``~/.azul.ini`` the test wrote in a temporary HOME (a stored ``auth_token``, or ``auth_type =
service`` against the test's fake OIDC provider), then upload a binary, find it and read its
metadata. Writes a JSON report to OUT (azul-client logs to stdout, so stdout is not ours); a failure
anywhere is reported as ``{"error": ...}`` so the test can assert on it.
"""

import json
import sys

from azul_client import Api


def main(out: str, tag: str) -> None:
    report: dict = {"tag": tag}
    try:
        api = Api()  # no Config given: the client reads ~/.azul.ini, as the CLI does
        data = f"uploaded through OIDC as {tag}\n".encode() * 8
        uploaded = api.binaries_data.upload(data, "samples", references={"user": tag}, filename=f"{tag}.txt",
                                            security="MEDIUM REL:APPLE", refresh=True)
        report["uploaded"] = uploaded.sha256
        found = api.binaries_meta.find(None)
        report["found"] = [item.sha256 for item in found.items]
        meta = api.binaries_meta.get_meta(uploaded.sha256)
        report["meta_refs"] = [d.references.get("user") for s in meta.sources for d in s.direct]
        report["meta_security"] = list(meta.security or [])
        report["username"] = api.users.get_user_info().username
    except Exception as exc:  # the test asserts on the failure
        report["error"] = f"{type(exc).__name__}: {exc}"
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
