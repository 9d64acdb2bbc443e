"""The dispatcher's consumer filters and consumer groups over real HTTP, held to Azul's dispatcher
(its ``FilterConsumerRules`` and parameter parsing): what azul-runner plugins send must select
the events it selects there."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from azul_metastore.app import Services
from azul_metastore.events.port import Message
from azul_metastore.ingest.ingestor import Ingestor
from tests.support.dispatcher import parse_events_response
from tests.support.events import binary_event, sha256_of


def post(server: str, model: str, events: object) -> None:
    answer = httpx.post(f"{server}/api/v2/event", params={"model": model}, content=json.dumps(events),
                        headers={"content-type": "application/json"}, timeout=30)
    assert answer.status_code == 200, answer.text


def fetch(server: str, name: str, mode: str = "passive", model: str = "binary",
          **params: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    answer = httpx.get(f"{server}/api/v2/event/{model}/{mode}",
                       params={"name": name, "version": "1", "count": 100, "deadline": 0, **params}, timeout=30)
    assert answer.status_code == 200, answer.text
    return parse_events_response(answer)


def refused(server: str, **params: Any) -> str:
    answer = httpx.get(f"{server}/api/v2/event/binary/passive",
                       params={"name": "x", "count": 1, "deadline": 0, **params}, timeout=30)
    assert answer.status_code == 422, answer.text
    return answer.json()["message"]


def with_streams(author: str, *streams: tuple[str, str | None, int]) -> dict[str, Any]:
    event = binary_event(author=author)
    event["entity"]["datastreams"] = [
        {"label": label, "sha256": sha256_of(author + label), "size": size,
         **({"file_format": fmt} if fmt else {})} for label, fmt, size in streams]
    return event


STREAMS = [
    with_streams("pe32", ("content", "executable/windows/pe32", 10)),
    with_streams("dll32", ("content", "executable/windows/dll32", 10)),
    with_streams("com", ("content", "executable/windows/com", 10)),
    with_streams("text", ("content", "text/plain", 10)),
    with_streams("pcap", ("content", "executable/windows/pe32", 10), ("pcap", "network/tcpdump", 10)),
    with_streams("report", ("content", "text/plain", 10), ("report", "executable/windows/dll32", 10)),
]


@pytest.mark.parametrize(("streams", "expected"), [
    # LABEL,prefix,prefix: that stream, its file format starting with any one prefix
    (["content,executable/windows/pe32,executable/windows/dll32"], ["pe32", "dll32", "pcap"]),
    (["content,executable/"], ["pe32", "dll32", "com", "pcap"]),
    # every label named must be there; prefixes apply to their own label's stream
    (["content", "pcap,network/tcpdump"], ["pcap"]),
    (["report,executable/windows/"], ["report"]),
    # * with prefixes: any stream of one of those formats
    (["*,executable/windows/dll32"], ["dll32", "report"]),
    (["*"], ["pe32", "dll32", "com", "text", "pcap", "report"]),
])
def test_required_streams_are_a_label_and_its_file_formats(server: str, streams: list[str],
                                                            expected: list[str]) -> None:
    post(server, "binary", STREAMS)
    info, events = fetch(server, "streams", **{"r-streams": streams})
    assert [e["author"]["name"] for e in events] == expected
    assert info["filters"] == ({"r-streams": len(STREAMS) - len(expected)} if len(expected) < len(STREAMS) else {})


def test_content_size_bounds_are_inclusive_and_need_content(server: str) -> None:
    events = [with_streams(f"s{size}", ("content", "text/plain", size)) for size in (999, 1000, 1020, 1021)]
    post(server, "binary", [*events, binary_event(action="enriched", author="no-content")])
    _, got = fetch(server, "sizes", **{"r-under-content-size": 1020, "r-over-content-size": 1000})
    assert [e["author"]["name"] for e in got] == ["s1000", "s1020"]
    assert "r-over-content-size (2000) is larger" in refused(server, **{"r-under-content-size": 1020,
                                                                        "r-over-content-size": 2000})


def test_sizes_and_events_past_what_can_be_read_are_refused(server: str) -> None:
    """A size past 64 bits, and an event nested past 255 levels, answered 500 (orjson writes no more)."""
    assert "less than or equal" in refused(server, **{"r-under-content-size": 2**64})
    deep = "[" * 300 + "]" * 300
    answer = httpx.post(f"{server}/api/v2/event", params={"model": "binary"}, content=f"[{deep}]",
                        headers={"content-type": "application/json"}, timeout=30)
    assert answer.status_code == 422 and "cannot be read back" in answer.json()["message"]
    simulated = httpx.post(f"{server}/api/v2/event/simulate", content=deep, timeout=30)
    assert simulated.status_code == 422


def test_content_means_events_that_bring_content(server: str) -> None:
    """r-content asks for sourced and extracted events carrying content: an augmented event (new
    streams of a binary a plugin already saw) would run the plugin on the same binary again."""
    post(server, "binary", [binary_event(author="a"), binary_event(action="extracted", author="b"),
                            binary_event(action="augmented", author="c"), binary_event(action="enriched", author="d")])
    info, events = fetch(server, "content", **{"r-content": "true"})
    assert [e["action"] for e in events] == ["sourced", "extracted"]
    assert info["filters"] == {"r-action": 2}


def test_unknown_action_names_are_refused(server: str) -> None:
    """A typo would filter out every event and hand it out as done."""
    post(server, "binary", [binary_event()])
    assert "r-action: unknown action 'sourcd'" in refused(server, **{"r-action": "sourcd"})
    assert "d-action: unknown action 'Enriched'" in refused(server, **{"d-action": ["mapped", "Enriched"]})
    assert len(fetch(server, "x")[1]) == 1  # nothing was taken by the refused requests


def test_status_events_are_filtered_by_their_input_event(server: str, services: Services) -> None:
    post(server, "binary", [binary_event(source="samples", author="p1"), binary_event(source="other", author="p2")])
    _, tasks = fetch(server, "plug", mode="active")
    assert len(tasks) == 2
    _, statuses = fetch(server, "watcher", model="status", **{"r-source": "other"})
    assert [s["entity"]["input"]["source"]["name"] for s in statuses] == ["other"]
    _, statuses = fetch(server, "p1", model="status", **{"d-self": "true"})
    assert [s["entity"]["input"]["author"]["name"] for s in statuses] == ["p2"]


def test_a_record_that_is_an_object_but_not_an_event_is_skipped_in_both_modes(server: str,
                                                                              services: Services) -> None:
    """Active mode records a dequeue per event handed out: a JSON object that is no event made it
    answer 500, and the batch came back after its lease, for ever."""
    services.event_log.append("binary", [Message("c", json.dumps({"action": "sourced"}).encode())])
    post(server, "binary", [binary_event(author="ok")])
    for name, mode in (("passive-reader", "passive"), ("active-plugin", "active")):
        info, events = fetch(server, name, mode=mode)
        assert [e["author"]["name"] for e in events] == ["ok"], mode
        assert info["filters"] == {"unreadable": 1}, mode
    statuses = [json.loads(r.value) for r in services.event_log.read("status", 0, 10)]
    assert [s["entity"]["status"] for s in statuses] == ["dequeued"]


def test_passive_mode_records_no_dequeue_even_for_a_task(server: str, services: Services) -> None:
    post(server, "binary", [binary_event()])
    _, events = fetch(server, "reader", **{"is-task": "true"})
    assert len(events) == 1 and "dequeued" not in events[0]
    assert services.event_log.end_offset("status") == 0


def test_a_consumer_cannot_take_the_metastores_own_groups(server: str, services: Services) -> None:
    """``ingestor-{partition}-binary-{suffix}`` is the binary ingestor's group: a plugin of that
    name took its events, which were then never indexed."""
    ingestor = Ingestor("binary", services.settings, services.event_log, services.indexer())
    post(server, "binary", [binary_event()])
    name, version = ingestor.group.rsplit("-", 1)
    assert "the metastore's own consumers use" in refused(server, name=name, version=version)
    assert "the metastore's own consumers use" in refused(server, name="lifecycle", version="x")
    assert "needs a name" in refused(server, name="")
    assert ingestor.run_once(wait=0) == 1


def test_long_polls_do_not_hold_up_plugins_posting_results(server: str) -> None:
    """Idle plugins wait in long polls; each used to hold one of the 40 threads every sync route
    shares, so a plugin posting its results waited for a poll to end."""
    polls = [threading.Thread(target=lambda i=i: httpx.get(
        f"{server}/api/v2/event/binary/passive", params={"name": f"idle{i}", "count": 1, "deadline": 8},
        timeout=30)) for i in range(48)]
    for poll in polls:
        poll.start()
    time.sleep(1.0)
    started = time.monotonic()
    post(server, "binary", [binary_event()])
    waited = time.monotonic() - started
    for poll in polls:
        poll.join()
    assert waited < 4.0, f"posting took {waited:.1f} s behind 48 long polls of 8 s"


def test_simulate_names_the_consumers_that_would_take_an_event_and_why_others_would_not(server: str) -> None:
    """Azul's ``POST /api/v2/event/simulate``: the consumers of binary events, each with the filters of
    its latest fetch; the triggers are Azul's names."""
    fetch(server, "small-only", **{"r-under-content-size": 100})
    fetch(server, "pcaps", **{"r-streams": "pcap,network/"})
    fetch(server, "everything")
    fetch(server, "status-watcher", model="status")  # not a consumer of binary events
    event = with_streams("sim", ("content", "executable/windows/pe32", 5000))
    answer = httpx.post(f"{server}/api/v2/event/simulate", content=json.dumps(event), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"consumers": [
        {"name": "everything", "version": "1", "filter_out": False, "filter_out_trigger": ""},
        {"name": "pcaps", "version": "1", "filter_out": True,
         "filter_out_trigger": "FilterConsumerRules-reject_stream"},
        {"name": "small-only", "version": "1", "filter_out": True,
         "filter_out_trigger": "FilterConsumerRules-reject_content_too_large"}]}
    # a consumer's newest filters count
    fetch(server, "small-only", **{"r-under-content-size": 10_000})
    verdicts = httpx.post(f"{server}/api/v2/event/simulate", content=json.dumps(event), timeout=30).json()
    assert {c["name"]: c["filter_out"] for c in verdicts["consumers"]}["small-only"] is False
    bad = httpx.post(f"{server}/api/v2/event/simulate", content=b"{not json", timeout=30)
    assert bad.status_code == 400
    invalid = httpx.post(f"{server}/api/v2/event/simulate", content=json.dumps({"action": "sourced"}), timeout=30)
    assert invalid.status_code == 422


def test_a_binarys_statuses_show_which_registered_plugins_would_take_it(server: str, services: Services) -> None:
    """Inventory §6.8: registered plugins the binary's best event is simulated for are ``queued``
    or ``prefiltered`` (naming the filter), under the real statuses; others are not listed."""
    from tests.support.multiuser import plugin_event, status_event

    binary = with_streams("statuses", ("content", "executable/windows/pe32", 5000))
    answer = httpx.post(f"{server}/api/v2/event", params={"model": "binary", "refresh": "true"},
                        content=json.dumps([binary]), headers={"content-type": "application/json"}, timeout=30)
    assert answer.status_code == 200, answer.text
    post(server, "plugin", [plugin_event(name, "1") for name in ("takes-it", "too-big", "done", "unregistered")])
    Ingestor("plugin", services.settings, services.event_log, services.indexer()).run_once(wait=0)
    fetch(server, "takes-it")
    fetch(server, "too-big", **{"r-under-content-size": 1000})
    fetch(server, "done")
    fetch(server, "not-a-plugin")  # fetches, but never registered: not listed
    post(server, "status", [status_event("done", "1", binary, "completed")])
    Ingestor("status", services.settings, services.event_log, services.indexer()).run_once(wait=0)
    services.index.refresh()
    sha = binary["entity"]["sha256"]
    items = httpx.get(f"{server}/api/v0/binaries/{sha}/statuses", timeout=30).json()["data"]["items"]
    assert [(i["author"]["name"], i["entity"]["status"], i["entity"].get("message")) for i in items] == [
        ("done", "completed", None), ("takes-it", "queued", None),
        ("too-big", "prefiltered", "FilterConsumerRules-reject_content_too_large")]
