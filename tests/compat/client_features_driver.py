"""Run by the compat virtual environment's Python (>= 3.12), never imported by the metastore.

``client_features_driver.py URL TOKEN SHA256 OUT``: call our feature, plugin, source, statistics and
content-view routes with the real azul-client (which validates the answers with azul-bedrock's
models) and write a JSON report to OUT (azul-client logs to stdout, so stdout is not ours). Answers
the client parses leniently are also checked against bedrock's models with unknown keys forbidden.
"""

import json
import sys
import time

import httpx
from azul_bedrock import models_restapi
from azul_bedrock import models_settings as azs
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


def dump(value):
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value


def main(url: str, token: str, sha256: str, out: str) -> None:
    conf = Config(azul_url=url, auth_type="callback", auth_token={"access_token": token},
                  auth_token_time=int(time.time()))
    api = Api(conf)
    features, plugins, sources = api.features, api.plugins, api.sources
    report: dict = {
        "values_counts": features.count_unique_values_in_feature(["f1", "missing"]),
        "entities_counts": features.count_unique_entities_in_features(["f1"]),
        "value_entities": features.count_unique_entities_in_featurevalues(
            [models_restapi.ValueCountItem(name="f1", value="alpha")]),
        "part_entities": features.count_unique_entities_in_featurevalueparts(
            [models_restapi.ValuePartCountItem(value="evil.com", part="hostname")]),
        "all_tags": features.get_all_feature_value_tags(),
        "tag_values": features.get_feature_values_in_tag("bad"),
        "features": features.find_features(),
        "plugins": plugins.get_all_plugins(),
        "plugin_statuses": plugins.get_all_plugin_statuses(),
        "plugin": plugins.get_plugin("p", "2"),
        "sources": sources.get_all_sources(),
        "source_exists": sources.check_source_exists("samples"),
        "source_missing": sources.check_source_exists("nowhere"),
        "source": sources.read_source("samples"),
        "references": sources.read_source_references("samples"),
        "statistics": api.statistics.get_statistics(),
        "hexview": api.binaries_data.download_hex(sha256, max_bytes_to_read=16),
        "strings": api.binaries_data.get_strings(sha256),
        "search_hex": api.binaries_data.search_hex(sha256, "6865"),
    }
    report["meta"] = api.statistics.get_meta_from_last_request()
    pages, after = [], ""
    while True:  # the client's paging: {"after": ""} first, then the previous page's after
        page = features.find_values_in_feature("f1", num_values=1, after=after)
        pages.append(page)
        if not page.after:
            break
        after = page.after
    report["value_pages"] = pages
    api.set_excluded_security(["MEDIUM"])
    report["values_counts_x"] = features.count_unique_values_in_feature(["f1"])
    report["statistics_x"] = api.statistics.get_statistics()
    headers = {"Authorization": f"Bearer {token}"}
    raw_sources = httpx.get(f"{url}/api/v0/sources", headers=headers).json()["data"]
    report["extra"] = (
        extra_keys(models_restapi.BinaryHexView,
                   httpx.get(f"{url}/api/v0/binaries/{sha256}/hexview", headers=headers).json())
        + extra_keys(models_restapi.BinaryStrings,
                     httpx.get(f"{url}/api/v0/binaries/{sha256}/strings", headers=headers).json())
        + extra_keys(models_restapi.StatisticSummary,
                     httpx.get(f"{url}/api/v0/statistics", headers=headers).json()["data"])
        + [f"sources.{name}.{key}" for name, s in raw_sources.items()
           for key in extra_keys(azs.Source, s) if key not in ("expire_events_ms", "kafka_config_full")]
    )
    with open(out, "w") as f:
        json.dump(dump(report), f)


if __name__ == "__main__":
    main(*sys.argv[1:5])
