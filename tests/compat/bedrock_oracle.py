"""Run by the compat virtual environment's Python (>= 3.12), never imported by the metastore.

``validate FILE``: validate each {"model": ..., "event": ...} with azul-bedrock's models; print a
JSON list of error strings ("" = valid).
``build``: print events built with azul-bedrock's models, serialised as its dispatcher client does.
"""

import json
import sys
from datetime import UTC, datetime

from azul_bedrock import models_network as azm

MODELS = {
    "binary": azm.BinaryEvent,
    "plugin": azm.PluginEvent,
    "status": azm.StatusEvent,
    "insert": azm.InsertEvent,
    "download": azm.DownloadEvent,
    "delete": azm.DeleteEvent,
}


def validate(path: str) -> None:
    results = []
    with open(path) as f:
        items = json.load(f)
    for item in items:
        try:
            MODELS[item["model"]].model_validate(item["event"])
            results.append("")
        except Exception as exc:  # report every failure to the test
            results.append(str(exc))
    print(json.dumps(results))


def build() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    user = azm.Author(name="alice", category="user", security="OFFICIAL")
    plugin = azm.Author(name="unzip", category="plugin", version="1.0")
    parent, child = "a" * 64, "b" * 64
    content = azm.Datastream(label=azm.DataLabel.CONTENT, sha256=child, size=10, file_format="text/plain")
    root = azm.PathNode(sha256=parent, action=azm.BinaryAction.Sourced, timestamp=now, author=user)
    node = azm.PathNode(sha256=child, action=azm.BinaryAction.Extracted, timestamp=now, author=plugin,
                        relationship={"action": "extracted"}, filename="x.txt", size=10)
    source = azm.Source(name="samples", timestamp=now, references={"user": "alice"}, path=[root, node])
    entity = azm.BinaryEvent.Entity(
        sha256=child, size=10, datastreams=[content],
        features=[azm.FeatureValue(name="filename", type=azm.FeatureType.Filepath, value="x.txt")],
        info={"k": [1, 2]},
    )
    binary = azm.BinaryEvent(model_version=azm.CURRENT_MODEL_VERSION, kafka_key="tmp", timestamp=now,
                             author=plugin, action=azm.BinaryAction.Extracted, source=source, entity=entity,
                             flags=azm.BinaryFlags(expedite=True))
    status = azm.StatusEvent(model_version=6, kafka_key="tmp", timestamp=now, author=plugin,
                             entity=azm.StatusEvent.Entity(input=binary, status=azm.StatusEnum.COMPLETED,
                                                           runtime=1.5))
    registration = azm.PluginEvent(
        model_version=6, kafka_key="tmp", timestamp=now, author=plugin,
        entity=azm.PluginEvent.Entity(name="unzip", version="1.0", category="plugin", description="d",
                                      features=[azm.PluginEvent.Entity.Feature(name="filename", desc="d",
                                                                               type=azm.FeatureType.Filepath)],
                                      config={"is_processing_download_events": "false"}))
    out = [
        {"model": "binary", "event": json.loads(binary.model_dump_json(exclude_defaults=True))},
        {"model": "status", "event": json.loads(status.model_dump_json(exclude_defaults=True))},
        {"model": "plugin", "event": json.loads(registration.model_dump_json(exclude_defaults=True))},
    ]
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "validate":
        validate(sys.argv[2])
    else:
        build()
