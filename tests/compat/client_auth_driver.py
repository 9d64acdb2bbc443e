"""Run by the compat virtual environment's Python (>= 3.12), never imported by the metastore.

``client_auth_driver.py URL TOKEN OUT``: call our "me" and security routes with the real azul-client
(TOKEN ``none`` = open mode, as the client's ``auth_type = none`` does) and write a JSON report to
OUT (azul-client logs to stdout, so stdout is not ours). The raw answers are also checked against
azul-bedrock's models with unknown keys forbidden: the models ignore extras, but we promise none.
"""

import json
import sys
import time

import httpx
from azul_bedrock import models_restapi
from azul_bedrock.models_auth import UserInfo
from azul_client import Api, Config
from pydantic import BaseModel


def extra_keys(model: type[BaseModel], data: dict, where: str = "") -> list[str]:
    """Keys of ``data`` the model does not declare, recursively through nested models."""
    found = []
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            found.append(where + key)
        elif isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) and isinstance(value, dict):
            found += extra_keys(field.annotation, value, f"{where}{key}.")
    return found


def main(url: str, token: str, out: str) -> None:
    if token == "none":
        conf = Config(azul_url=url, auth_type="none")
    else:  # a fresh token is used as it is, without refreshing or saving the config
        conf = Config(azul_url=url, auth_type="callback", auth_token={"access_token": token},
                      auth_token_time=int(time.time()))
    api = Api(conf)
    report: dict = {}
    info = api.users.get_user_info()
    report["user_info"] = info.model_dump(mode="json")
    access = api.users.get_opensearch_user_info()
    report["user_access"] = access.model_dump(mode="json")
    report["settings"] = api.security.get_security_settings()
    report["normalised"] = api.security.normalise("medium rel:apple")
    report["max"] = api.security.get_max_security_string(["LOW", "MEDIUM REL:APPLE"])
    report["is_admin"] = api.security.get_is_user_an_admin()
    api.set_excluded_security(["MEDIUM"])  # sent as x= on every call; /opensearch ignores it
    report["user_access_x"] = api.users.get_opensearch_user_info().model_dump(mode="json")
    headers = {"Authorization": f"Bearer {token}"}
    report["extra"] = (
        extra_keys(UserInfo, httpx.get(f"{url}/api/v0/users/me", headers=headers).json())
        + extra_keys(models_restapi.UserAccess, httpx.get(f"{url}/api/v0/users/me/opensearch", headers=headers).json())
    )
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
