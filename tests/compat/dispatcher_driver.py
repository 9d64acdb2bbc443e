"""Run by the compat virtual environment's Python (>= 3.12), never imported by the metastore.

``dispatcher_driver.py URL OUT``: drive our dispatcher event API with azul-bedrock's own
``DispatcherAPI`` (as azul-runner plugins do): post binary events built with its models, fetch them
with the filters plugins send (``filter_data_types`` become ``r-streams``), and simulate an event
against the consumers; write a JSON report to OUT. The client parses every answer with its models.
"""

import json
import sys
from datetime import UTC, datetime

from azul_bedrock import models_network as azm
from azul_bedrock.dispatcher import DispatcherAPI


def event(sha256: str, streams: list[tuple[str, str, int]]) -> azm.BinaryEvent:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    user = azm.Author(name="alice", category="user")
    node = azm.PathNode(sha256=sha256, action=azm.BinaryAction.Sourced, timestamp=now, author=user)
    datastreams = [azm.Datastream(label=label, sha256=(str(i) * 64)[:64] if i else sha256, size=size,
                                  file_format=fmt) for i, (label, fmt, size) in enumerate(streams)]
    return azm.BinaryEvent(
        model_version=azm.CURRENT_MODEL_VERSION, kafka_key="tmp", timestamp=now, author=user,
        action=azm.BinaryAction.Sourced, source=azm.Source(name="samples", timestamp=now, path=[node]),
        entity=azm.BinaryEvent.Entity(sha256=sha256, size=streams[0][2], datastreams=datastreams))


def client(url: str, name: str) -> DispatcherAPI:
    return DispatcherAPI(events_url=url, data_url=url, retry_count=0, timeout=30, author_name=name,
                         author_version="1", deployment_key=f"{name}-key")


def main(url: str, out: str) -> None:
    pe = event("a" * 64, [("content", "executable/windows/pe32", 5000)])
    script = event("b" * 64, [("content", "code/javascript", 300)])
    capture = event("c" * 64, [("content", "executable/windows/pe32", 200), ("pcap", "network/tcpdump", 900)])
    posted = client(url, "poster").submit_events([pe, script, capture], model="binary")
    report: dict = {"posted": posted.total_ok}
    got = {}
    for name, filters in (
        ("windows", {"require_streams": ["content,executable/windows/"]}),
        ("scripts", {"require_streams": ["content,code/javascript,code/jscript"]}),
        ("pcaps", {"require_streams": ["pcap,network/"]}),
        ("small", {"require_under_content_size": 400}),
        ("anything-exe", {"require_streams": ["*,executable/"]}),
    ):
        info, events = client(url, name).get_binary_events(count=10, deadline=1, require_live=True, **filters)
        got[name] = sorted(e.entity.sha256[0] for e in events)
        report[f"{name}_info"] = {"fetched": info.fetched, "filtered": info.filtered}
    report["got"] = got
    simulated = client(url, "poster").simulate_consumers_on_event(pe)
    report["simulated"] = sorted([c.name, c.filter_out, c.filter_out_trigger] for c in simulated.consumers)
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
