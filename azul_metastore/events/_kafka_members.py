"""One process's membership of a Kafka consumer group, for :mod:`azul_metastore.events.kafka`.

Kafka hands the group's (one-partition) topics to members; inside the member this module keeps
the port's leases, the disjoint ranges handed to named consumers, and folds finished leases into the
offset it commits. Kept apart from the adapter so each module reads on its own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

log = logging.getLogger("azul_metastore.events.kafka")


@dataclass(slots=True)
class Lease:
    topic: str  # Kafka topic name
    start: int
    end: int
    consumer: str
    expires: float
    done: bool = False


class Member:
    """This process's membership of one consumer group: assignment, leases, committed offsets."""

    def __init__(self, group_id: str, config: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.consumer = Consumer({**config, "group.id": group_id})
        self.subscribed: set[str] = set()
        self.owned: set[str] = set()
        self.committed: dict[str, int] = {}
        self.leases: dict[str, list[Lease]] = {}
        self.assignments = 0
        self._unknown_committed: set[str] = set()

    # librdkafka runs these inside poll(); cooperative-sticky hands out incremental changes only
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        consumer.incremental_assign(partitions)
        consumer.pause(partitions)  # records are read by the shared reader, never by the member
        for tp in partitions:
            self.owned.add(tp.topic)
            self.leases[tp.topic] = []
            self._unknown_committed.add(tp.topic)
        self.assignments += 1

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            # another member now owns the topic and resumes at the committed offset, so leases
            # handed out here are void: their records will be delivered there again
            self.owned.discard(tp.topic)
            self.leases.pop(tp.topic, None)
            self.committed.pop(tp.topic, None)
            self._unknown_committed.discard(tp.topic)

    def join(self, topics: Sequence[str], timeout: float) -> None:
        """Subscribe to ``topics`` as well and wait for the rebalance that follows."""
        if self.subscribed.issuperset(topics):
            return
        self.subscribed.update(topics)
        before = self.assignments
        self.consumer.subscribe(
            sorted(self.subscribed), on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        deadline = time.monotonic() + timeout
        while self.assignments == before and time.monotonic() < deadline:
            self.serve(0.05)

    def serve(self, timeout: float = 0.0) -> None:
        """Run rebalance callbacks and heartbeats; learn committed offsets of new partitions."""
        msg = self.consumer.poll(timeout)
        if msg is not None and msg.error() is not None:
            log.warning("Kafka consumer group error: %s", msg.error())
        if self._unknown_committed:
            tps = [TopicPartition(t, 0) for t in sorted(self._unknown_committed)]
            for tp in self.consumer.committed(tps, timeout=30):
                self.committed[tp.topic] = max(tp.offset, 0)  # no commit yet: a negative sentinel
            self._unknown_committed.clear()

    def frontier(self, topic: str, low: int) -> int:
        leases = self.leases[topic]
        return max(self.committed.get(topic, 0), max((lease.end for lease in leases), default=0), low)

    def compact(self, topic: str) -> None:
        """Fold leading finished leases into the committed offset and commit it to Kafka.

        The leases and the offset change only once Kafka took the commit: a commit refused during a
        rebalance (``ILLEGAL_GENERATION``) left them folded before, so the next fetch went on after
        a batch whose commit had failed, and nothing ever delivered it again."""
        leases = self.leases.get(topic)
        if leases is None:
            return
        leases.sort(key=lambda lease: lease.start)
        committed = old = self.committed.get(topic, 0)
        finished = 0
        while finished < len(leases) and leases[finished].done:
            committed = max(committed, leases[finished].end)
            finished += 1
        if committed != old:
            self.consumer.commit(offsets=[TopicPartition(topic, 0, committed)], asynchronous=False)
            self.committed[topic] = committed
        del leases[:finished]

    def close(self) -> None:
        with contextlib.suppress(KafkaException, RuntimeError):
            self.consumer.close()  # leaves the group: other members take over at once
