"""The EventLog port's behaviour suite. Every adapter must pass it unchanged; the fixture below
is parametrized over the adapters (the scale-out ones carry the marker of the service they need).
Only port methods are used here."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azul_metastore.events.port import EventLog, Message
from azul_metastore.events.sqlite import SqliteEventLog

LEASE_SECONDS = 1.0


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> EventLog:
    return SqliteEventLog(tmp_path / "events.sqlite3", lease_seconds=LEASE_SECONDS)


def _kafka(request: pytest.FixtureRequest, tmp_path: Path) -> EventLog:
    from azul_metastore.events.kafka import KafkaEventLog

    bootstrap = request.getfixturevalue("kafka_bootstrap")
    # a fresh namespace per test: its own topics and consumer groups
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    request.addfinalizer(lambda: _delete_kafka_topics(bootstrap, prefix))
    return KafkaEventLog(bootstrap, prefix, "suite", lease_seconds=LEASE_SECONDS, join_timeout=20.0)


def _delete_kafka_topics(bootstrap: str, prefix: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(prefix + ".")]
    for future in admin.delete_topics(names, request_timeout=10).values() if names else ():
        future.result(timeout=10)


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], EventLog]] = {"sqlite": _sqlite, "kafka": _kafka}


@pytest.fixture(params=["sqlite", pytest.param("kafka", marks=pytest.mark.kafka)])
def event_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventLog]:
    log = ADAPTERS[request.param](request, tmp_path)
    yield log
    log.close()


def msgs(n: int, prefix: str = "k") -> list[Message]:
    return [Message(f"{prefix}{i}", f'{{"n": {i}}}'.encode()) for i in range(n)]


def test_append_assigns_consecutive_offsets(event_log: EventLog) -> None:
    assert event_log.append("t", msgs(3)) == [0, 1, 2]
    assert event_log.append("t", msgs(2)) == [3, 4]
    assert event_log.end_offset("t") == 5
    assert [r.key for r in event_log.read("t", 3)] == ["k0", "k1"]
    assert "t" in event_log.topics()


def test_group_progress_and_replay_for_new_groups(event_log: EventLog) -> None:
    event_log.append("t", msgs(5))
    first = event_log.fetch("g1", ["t"], 3, 0, consumer="c")
    assert [r.offset for r in first.records] == [0, 1, 2]
    event_log.commit(first)
    second = event_log.fetch("g1", ["t"], 10, 0, consumer="c")
    assert [r.offset for r in second.records] == [3, 4]
    event_log.commit(second)
    assert len(event_log.fetch("g1", ["t"], 10, 0, consumer="c")) == 0
    assert event_log.lag("g1", "t") == 0
    # a group never seen before replays the whole history
    other = event_log.fetch("g2", ["t"], 10, 0, consumer="c")
    assert [r.offset for r in other.records] == [0, 1, 2, 3, 4]


def test_consumers_of_one_group_get_disjoint_batches(event_log: EventLog) -> None:
    event_log.append("t", msgs(10))
    a = event_log.fetch("g", ["t"], 4, 0, consumer="a")
    b = event_log.fetch("g", ["t"], 4, 0, consumer="b")
    assert {r.offset for r in a.records}.isdisjoint({r.offset for r in b.records})
    assert len(a) == 4 and len(b) == 4


def test_uncommitted_batch_is_redelivered_after_a_restart(event_log: EventLog) -> None:
    event_log.append("t", msgs(3))
    lost = event_log.fetch("g", ["t"], 10, 0, consumer="worker-1")
    assert len(lost) == 3
    # the same worker comes back (after a crash) and asks again: it gets the same records
    again = event_log.fetch("g", ["t"], 10, 0, consumer="worker-1")
    assert [r.offset for r in again.records] == [0, 1, 2]
    event_log.commit(again)
    assert event_log.lag("g", "t") == 0


def test_uncommitted_batch_of_a_vanished_consumer_goes_to_another(event_log: EventLog) -> None:
    event_log.append("t", msgs(3))
    assert len(event_log.fetch("g", ["t"], 10, 0, consumer="dead")) == 3
    assert len(event_log.fetch("g", ["t"], 10, 0, consumer="alive")) == 0
    time.sleep(LEASE_SECONDS + 0.2)
    taken = event_log.fetch("g", ["t"], 10, 0, consumer="alive")
    assert [r.offset for r in taken.records] == [0, 1, 2]


def test_release_redelivers_at_once(event_log: EventLog) -> None:
    event_log.append("t", msgs(2))
    batch = event_log.fetch("g", ["t"], 10, 0, consumer="a")
    event_log.release(batch)
    assert [r.offset for r in event_log.fetch("g", ["t"], 10, 0, consumer="b").records] == [0, 1]


def test_priority_lanes(event_log: EventLog) -> None:
    event_log.append("live", msgs(3, "live"))
    event_log.append("expedite", msgs(1, "exp"))
    batch = event_log.fetch("g", ["expedite", "live"], 10, 0, consumer="c")
    assert [r.key for r in batch.records] == ["exp0"]
    event_log.commit(batch)
    batch = event_log.fetch("g", ["expedite", "live"], 10, 0, consumer="c")
    assert [r.key for r in batch.records] == ["live0", "live1", "live2"]


def test_long_poll_returns_when_records_arrive(event_log: EventLog) -> None:
    event_log.append("t", msgs(1))
    event_log.commit(event_log.fetch("g", ["t"], 10, 0, consumer="c"))
    timer = threading.Timer(0.3, lambda: event_log.append("t", msgs(1, "late")))
    timer.start()
    started = time.monotonic()
    batch = event_log.fetch("g", ["t"], 10, 5.0, consumer="c")
    elapsed = time.monotonic() - started
    timer.join()
    assert [r.key for r in batch.records] == ["late0"]
    assert 0.2 < elapsed < 3.0


def test_long_poll_gives_up_at_the_deadline(event_log: EventLog) -> None:
    started = time.monotonic()
    assert len(event_log.fetch("g", ["nothing-here"], 10, 0.3, consumer="c")) == 0
    assert time.monotonic() - started >= 0.25


def test_trim_drops_old_records_but_keeps_offsets(event_log: EventLog) -> None:
    event_log.append("t", msgs(3))
    time.sleep(0.01)
    cut = int(time.time() * 1000)
    time.sleep(0.01)
    event_log.append("t", msgs(2, "new"))
    assert event_log.trim("t", cut) == 3
    assert [r.key for r in event_log.read("t", 0, 10)] == ["new0", "new1"]
    assert event_log.end_offset("t") == 5
    assert [r.offset for r in event_log.fetch("g", ["t"], 10, 0, consumer="c").records] == [3, 4]


def test_a_plugin_name_of_any_length_has_its_own_retry_lane(event_log: EventLog) -> None:
    """A retry lane holds its plugin's name, which Azul does not bound; Kafka's topic names stop at
    249 characters. Two 300-character names that differ only at their end keep separate lanes."""
    from azul_metastore.events.topics import retry_lane

    first, second = retry_lane("p" * 299 + "1"), retry_lane("p" * 299 + "2")
    assert event_log.append(first, msgs(2, "one")) == [0, 1]
    assert event_log.append(second, msgs(1, "two")) == [0]
    assert [r.key for r in event_log.fetch("g", [first], 10, 0, consumer="c").records] == ["one0", "one1"]
    assert [r.key for r in event_log.fetch("g", [second], 10, 0, consumer="c").records] == ["two0"]
    assert event_log.end_offset(first) == 2 and event_log.end_offset(second) == 1


def test_a_vanished_consumers_batch_is_taken_over_no_more_than_asked_for(event_log: EventLog) -> None:
    """A consumer asking for 3 records got the whole 10-record batch of a consumer that vanished;
    the rest goes to the next fetch, and every record is delivered once more, no more."""
    event_log.append("t", msgs(10))
    assert len(event_log.fetch("g", ["t"], 10, 0, consumer="dead")) == 10
    time.sleep(LEASE_SECONDS + 0.2)
    seen: list[int] = []
    for _ in range(6):
        batch = event_log.fetch("g", ["t"], 3, 0, consumer="alive")
        assert len(batch) <= 3
        seen += [r.offset for r in batch.records]
        event_log.commit(batch)
    assert sorted(seen) == list(range(10))
    assert event_log.lag("g", "t") == 0


def test_consumer_registrations_are_shared_through_every_event_log(event_log: EventLog) -> None:
    """The dispatcher's registry of consumers lives on the log: what one process records, another reads."""
    from azul_metastore.events.consumers import ConsumerRegistry

    ConsumerRegistry(event_log).record("plugin", "1", {"r-content": True})
    ConsumerRegistry(event_log).record("plugin", "1", {"r-streams": ["pcap"]})
    ConsumerRegistry(event_log).record("other", "2", {})
    found = ConsumerRegistry(event_log).consumers()
    assert [(c.name, c.version, dict(c.filters)) for c in found] == [("other", "2", {}),
                                                                     ("plugin", "1", {"r-streams": ["pcap"]})]
