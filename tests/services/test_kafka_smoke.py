"""Kafka smoke test: the broker that services/ starts serves produce, group consume and commits."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

pytestmark = pytest.mark.kafka


def _consume(consumer: Consumer, count: int, timeout: float = 30.0) -> list[bytes]:
    """Poll until ``count`` messages arrived; a group's first assignment can take a few seconds."""
    import time

    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(values) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
            continue
        values.append(msg.value())
    return values


def test_produce_consume_commit(kafka_bootstrap: str) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    group = f"group-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    futures[topic].result(timeout=30)

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True})
    sent = [f"event-{i}".encode() for i in range(20)]
    for i, value in enumerate(sent):
        producer.produce(topic, value=value, key=str(i % 4).encode())
    assert producer.flush(30) == 0

    settings = {
        "bootstrap.servers": kafka_bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    consumer = Consumer(settings)
    consumer.subscribe([topic])
    try:
        first = _consume(consumer, 15)
        assert len(first) == 15
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        # A partition nothing was read from has no committed offset (a negative sentinel).
        assert sum(max(tp.offset, 0) for tp in committed) == 15
    finally:
        consumer.close()

    # A new member of the same group resumes after the committed offsets: it sees only the rest.
    consumer = Consumer(settings)
    consumer.subscribe([topic])
    try:
        rest = _consume(consumer, 5)
        assert sorted(first + rest) == sorted(sent)
        assert _consume(consumer, 1, timeout=2.0) == []
    finally:
        consumer.close()
