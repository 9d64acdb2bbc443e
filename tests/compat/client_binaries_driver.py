"""Run by the compat virtual environment's Python (>= 3.12), never imported by the metastore.

``client_binaries_driver.py A D TLSH SSDEEP OUT``: with HOME pointing at a folder whose ``.azul.ini``
names our server (``auth_type = none``, open mode), call every binaries read method of the real
azul-client (which validates each answer with azul-bedrock's strict models) and write a JSON report
to OUT (azul-client logs to stdout, so stdout is not ours).
"""

import json
import sys

from azul_bedrock import models_restapi
from azul_client import Api
from azul_client.api.binaries_meta import FindOptions
from pydantic import BaseModel


def dump(value):
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


def main(a: str, d: str, tlsh: str, ssdeep: str, out: str) -> None:
    meta = Api().binaries_meta  # config from $HOME/.azul.ini
    found_all = meta.find_all(FindOptions())
    report = {
        "find": meta.find("features_map.f1:alpha", count_entities=True),
        "find_hashes": meta.find_hashes([a, "f" * 64]),
        "find_all": [item.sha256 for item in found_all],
        "find_all_total": found_all.approx_total,
        "meta": meta.get_meta(a),
        "meta_some": meta.get_meta(d, details=[models_restapi.BinaryMetadataDetail.parents]),
        "check": meta.check_meta(a),
        "check_missing": meta.check_meta("f" * 64),
        "model": meta.get_model(),
        "autocomplete_empty": meta.find_autocomplete(""),
        "autocomplete_key": meta.find_autocomplete("features_map.f1:al"),
        "new": meta.get_has_newer_metadata(a, "2020-01-01T00:00:00Z"),
        "tlsh": meta.get_similar_tlsh_entities(tlsh),
        "ssdeep": meta.get_similar_ssdeep_entities(ssdeep),
        "features": meta.get_similar_feature_entities(a),
        "nearby": meta.get_nearby_entities(d),
        "tags": meta.get_binary_tags(a),
        "statuses": meta.get_binary_status(a),
        "events": meta.get_binary_documents(a),
    }
    report["last_meta"] = meta.get_meta_from_last_request()
    with open(out, "w") as f:
        json.dump(dump(report), f)


if __name__ == "__main__":
    main(*sys.argv[1:6])
