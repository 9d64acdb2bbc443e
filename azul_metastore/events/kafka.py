"""The scale-out event log: Apache Kafka through confluent-kafka (librdkafka).

How the port maps onto Kafka, and why:

* One Kafka topic per port topic, named ``{prefix}.{partition}.{topic}``, with **one partition**.
  The port promises consecutive offsets per topic and ordered replay; a single partition is the
  only Kafka layout that gives both, so a topic's offsets here are Kafka's own offsets. Topics are
  created on first use with the configuration ``topic_config`` returns (retention per topic).
* ``append`` produces with an idempotent producer (no duplicates or reordering on retries; no
  transactions, whose control records would leave gaps in the offsets) and waits for the delivery
  reports, which carry the offsets. Appends of one adapter are serialised so a batch gets
  consecutive offsets; batches from other processes may interleave with it.
* A port *group* is a Kafka consumer group (``{prefix}.{partition}.{group}``); each process is
  one member. Kafka gives a partition to one member at a time, so processes of a group share the
  work topic by topic and a member that dies (no heartbeat within ``session_timeout_seconds``)
  hands its topics to another, which resumes at the committed offset: the uncommitted batch is
  delivered again. Within a process, the port's named consumers take *leases*, disjoint ranges
  of the member's topics (as the SQLite adapter does), so several workers of one process never get
  the same records; a lease comes back when its consumer asks again or ``lease_seconds`` pass.
* ``commit`` folds finished leases into the group's offset and commits it to Kafka synchronously
  (auto-commit is off), so an offset is committed only after the caller has durably processed the
  batch. ``lag`` reads that committed offset back from the broker.
* The member's partitions stay paused: records are read by one shared assign-only consumer that
  seeks to the wanted range, because a lease may need records again (redelivery) and the lanes
  must be read in priority order, neither of which a free-running subscription offers. Waiting
  for new records polls the high watermarks every ``poll_interval`` (a local append wakes the
  wait at once).
* ``trim`` is Kafka's DeleteRecords up to the first offset at or after the cut time
  (``offsets_for_times``), so offsets are kept and readers start at the new log start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from azul_metastore.errors import BackendUnavailable, InvalidInput
from azul_metastore.events._kafka_members import Lease, Member
from azul_metastore.events.port import Batch, Message, Record

__all__ = ["KafkaEventLog", "kafka_topic_name"]

log = logging.getLogger(__name__)

_ILLEGAL = re.compile(r"[^A-Za-z0-9.-]+")
_ESCAPE = re.compile(rb"_([0-9a-f]{2})")
_MAX_TOPIC = 249  # Kafka's limit on topic names
#: what ends a topic name shortened to fit (``kafka_topic_name``): ``_x`` and a digest's hex digits
_LONG_MARK, _LONG_DIGITS = "_x", 16
_SHORTENED = re.compile(r"[A-Za-z0-9._-]*_x[0-9a-f]{16}")


def _escape(name: str) -> str:
    """Kafka topic names allow only ``[A-Za-z0-9._-]``: escape anything else (and ``_``) as ``_hh``."""
    return _ILLEGAL.sub(lambda m: "".join(f"_{b:02x}" for b in m.group().encode()), name.replace("_", "_5f"))


def _unescape(name: str) -> str:
    """The inverse of :func:`_escape`. There ``_`` becomes ``_5f`` before the pass that escapes
    what Kafka refuses, which escapes that ``_`` again (``_5f5f``); topics already exist under those
    names, so the inverse undoes both steps rather than the names changing."""
    once = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), name.encode()).decode("utf-8", "replace")
    return once.replace("_5f", "_")


def _listed(suffix: str) -> str:
    """The port's name of a topic from its Kafka name (less the namespace): a shortened name as it
    is, since what was cut cannot be recovered (:func:`kafka_topic_name` takes it back)."""
    if len(suffix) > len(_LONG_MARK) + _LONG_DIGITS and _SHORTENED.fullmatch(suffix):
        return suffix
    return _unescape(suffix)


def kafka_topic_name(prefix: str, partition: str, topic: str) -> str:
    """The Kafka topic that holds ``topic``: reversible (``topics()`` lists port names) unless too long.

    Kafka takes at most 249 characters, and a plugin's retry lane holds its name, which Azul does
    not bound. A name past the limit keeps the start that fits, then ``_x`` and 16 hex digits of
    its sha256: ``_x`` is never an escape, so it cannot be another topic's name, and the same name
    always gives the same topic. Such a topic cannot be unescaped: ``topics()`` lists it by the
    shortened name as it is, and that name (which escaping would lengthen past the limit again)
    names the same topic here, so what age-off and ``events tail`` list they can reach.
    """
    namespace = f"{_escape(prefix)}.{_escape(partition)}."
    escaped = _escape(topic)
    if len(namespace) + len(escaped) <= _MAX_TOPIC:
        return namespace + escaped
    if _SHORTENED.fullmatch(topic) and len(namespace) + len(topic) <= _MAX_TOPIC:
        return namespace + topic  # a shortened name as ``topics()`` lists it
    room = _MAX_TOPIC - len(namespace) - len(_LONG_MARK) - _LONG_DIGITS
    if room < 1:
        raise InvalidInput(
            f"topic prefix {prefix!r} and partition {partition!r} leave no room in a Kafka topic name "
            f"({len(namespace)} of at most {_MAX_TOPIC} characters)", field="partition")
    head = escaped[:room]
    cut = head.rfind("_")
    if cut >= 0 and cut > len(head) - 3:  # half an escape (``_`` or ``_h``) would read as text
        head = head[:cut]
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass")).hexdigest()[:_LONG_DIGITS]
    return f"{namespace}{head}{_LONG_MARK}{digest}"


@contextlib.contextmanager
def _kafka_errors(what: str) -> Iterator[None]:
    try:
        yield
    except KafkaException as exc:
        raise BackendUnavailable(f"Kafka could not {what}: {exc.args[0] if exc.args else exc}") from exc


@dataclass(frozen=True, slots=True)
class _Token:
    member: Member
    lease: Lease


class KafkaEventLog:
    """Event log on an Apache Kafka cluster; safe for many threads, and for many processes per group.

    Parameters:
        bootstrap: ``bootstrap.servers``.
        topic_prefix, partition: namespace of every topic and group (``settings.kafka_topic_prefix``
            and ``settings.partition``), so several deployments can share a cluster.
        lease_seconds: how long a fetched, uncommitted batch stays with its consumer before another
            consumer of the group *in this process* may take it.
        session_timeout_seconds: how long the broker waits for a silent process before giving its
            topics to another member of the group (the broker accepts 6-1800 s by default).
        topic_config: configuration of a topic created on first use (e.g. ``retention.ms``), by
            port topic name.
        client_config: extra librdkafka settings for every client (security, timeouts).
        max_message_bytes: the largest record ``append`` takes (the producer's ``message.max.bytes``;
            topics need a ``max.message.bytes`` at least as large, see ``app.kafka_topic_config``).

    Raises BackendUnavailable when Kafka fails or does not answer within ``request_timeout``.
    """

    def __init__(
        self,
        bootstrap: str,
        topic_prefix: str,
        partition: str,
        *,
        lease_seconds: float = 60.0,
        session_timeout_seconds: float = 45.0,
        join_timeout: float = 30.0,
        request_timeout: float = 30.0,
        poll_interval: float = 0.1,
        topic_config: Callable[[str], Mapping[str, str]] | None = None,
        replication_factor: int = -1,
        client_config: Mapping[str, Any] | None = None,
        max_message_bytes: int = 1_000_000,
    ) -> None:
        self.prefix, self.partition = topic_prefix, partition
        self.lease_seconds = lease_seconds
        self.join_timeout, self.request_timeout, self.poll_interval = join_timeout, request_timeout, poll_interval
        self._topic_config = topic_config or (lambda topic: {})
        self.max_message_bytes = max_message_bytes
        self._replication = replication_factor
        self._namespace = kafka_topic_name(topic_prefix, partition, "")
        base = {"bootstrap.servers": bootstrap, "logger": log, **(client_config or {})}
        session_ms = int(session_timeout_seconds * 1000)
        self._member_config = {
            **base,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": max(100, session_ms // 3),
            "max.poll.interval.ms": max(300_000, 2 * session_ms),
        }
        with _kafka_errors("create its clients"):
            self._admin = AdminClient(base)
            self._producer = Producer(
                {**base, "enable.idempotence": True, "acks": "all", "linger.ms": 2,
                 "batch.size": max(4 * 1024 * 1024, max_message_bytes), "message.max.bytes": max_message_bytes}
            )
            self._reader = Consumer(
                {
                    **base,
                    "group.id": f"{self._namespace}reader",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "enable.partition.eof": True,
                    "queued.max.messages.kbytes": 16384,
                }
            )
        self._read_lock = threading.Lock()
        self._append_lock = threading.Lock()
        self._appended = threading.Condition()
        self._members: dict[str, Member] = {}
        self._members_lock = threading.Lock()
        self._known: set[str] = set()
        self._closed = False

    # --- topics ---------------------------------------------------------------------------------

    def _name(self, topic: str) -> str:
        return kafka_topic_name(self.prefix, self.partition, topic)

    def _ensure(self, topic: str) -> str:
        """The Kafka name of ``topic``, creating the topic (one partition) the first time."""
        name = self._name(topic)
        if name in self._known:
            return name
        new = NewTopic(
            name, num_partitions=1, replication_factor=self._replication, config=dict(self._topic_config(topic))
        )
        future = self._admin.create_topics([new], request_timeout=self.request_timeout)[name]
        try:
            future.result(timeout=self.request_timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BackendUnavailable(f"Kafka could not create topic {name}: {exc.args[0]}") from exc
            self._reconcile(name, new.config)
        self._known.add(name)
        return name

    def _reconcile(self, name: str, config: Mapping[str, str]) -> None:
        """Set ``config`` on a topic that already existed: retention follows the sources' settings
        as they are now, not as they were when the topic was made.

        A cluster may deny this client the right to alter topic configs (operators then own them):
        that is logged, and the topic is used as it is configured."""
        if not config:
            return
        entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in sorted(config.items())]
        resource = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
        try:
            for future in self._admin.incremental_alter_configs([resource]).values():
                future.result(timeout=self.request_timeout)
        except KafkaException as exc:
            log.warning("Kafka topic %s keeps its configuration: setting %s was refused: %s", name,
                        ", ".join(f"{k}={v}" for k, v in sorted(config.items())), exc.args[0])

    def _exists(self, topic: str) -> str | None:
        name = self._name(topic)
        if name not in self._known:
            with _kafka_errors("list topics"):
                if name not in self._admin.list_topics(timeout=self.request_timeout).topics:
                    return None
            self._known.add(name)
        return name

    def _watermarks(self, name: str) -> tuple[int, int]:
        """(log start offset, high watermark): the oldest retained offset and the next to be written."""
        low, high = self._reader.get_watermark_offsets(
            TopicPartition(name, 0), timeout=self.request_timeout, cached=False
        )
        return low, high

    # --- reading ----------------------------------------------------------------------------------

    def _read(self, topic: str, name: str, start: int, count: int) -> list[Record]:
        """Up to ``count`` records from ``start`` (fewer if the range was trimmed or ends first)."""
        out: list[Record] = []
        if count <= 0:
            return out
        deadline = time.monotonic() + self.request_timeout
        with self._read_lock:
            self._reader.assign([TopicPartition(name, 0, start)])
            try:
                expected = start
                while len(out) < count:
                    if time.monotonic() > deadline:
                        raise BackendUnavailable(f"Kafka did not deliver records of {name} from offset {start}")
                    for msg in self._reader.consume(num_messages=min(count - len(out), 10_000), timeout=0.2):
                        err = msg.error()
                        if err is not None:
                            if err.code() == KafkaError._PARTITION_EOF:
                                return out
                            raise KafkaException(err)
                        # a message left over from an earlier assignment is older than wanted
                        if msg.topic() != name or msg.offset() < expected:
                            continue
                        expected = msg.offset() + 1
                        key = msg.key()
                        out.append(
                            Record(
                                topic, msg.offset(), key.decode() if key else "", msg.value() or b"", msg.timestamp()[1]
                            )
                        )
                        if len(out) == count:
                            break
            finally:
                self._reader.unassign()
        return out

    def read(self, topic: str, start: int = 0, limit: int = 100) -> list[Record]:
        with _kafka_errors(f"read {topic}"):
            name = self._exists(topic)
            if name is None:
                return []
            low, high = self._watermarks(name)
            first = max(start, low)
            return self._read(topic, name, first, min(limit, high - first))

    def end_offset(self, topic: str) -> int:
        with _kafka_errors(f"read the end of {topic}"):
            name = self._exists(topic)
            return 0 if name is None else self._watermarks(name)[1]

    def topics(self) -> list[str]:
        with _kafka_errors("list topics"):
            names = [
                n for n in self._admin.list_topics(timeout=self.request_timeout).topics if n.startswith(self._namespace)
            ]
            # a topic exists once created (a consumer may create it first): list those ever written
            return sorted(_listed(n[len(self._namespace) :]) for n in names if self._watermarks(n)[1] > 0)

    # --- writing ------------------------------------------------------------------------------------

    def append(self, topic: str, messages: Sequence[Message]) -> list[int]:
        if not messages:
            return []
        offsets: list[int | None] = [None] * len(messages)
        failures: list[KafkaError] = []

        def delivered(index: int) -> Callable[[KafkaError | None, Any], None]:
            def report(err: KafkaError | None, msg: Any) -> None:
                if err is not None:
                    failures.append(err)
                else:
                    offsets[index] = msg.offset()

            return report

        # checked before producing any: the producer would deliver the records queued before one
        # it refuses, and the port's append is all or nothing
        for i, m in enumerate(messages):
            size = len(m.value) + len(m.key.encode())
            if size > self.max_message_bytes:
                raise InvalidInput(f"record {i} for {topic} is {size} bytes; Kafka records here are at most "
                                   f"{self.max_message_bytes} bytes (max_event_bytes)", field="value")
        now_ms = int(time.time() * 1000)
        with _kafka_errors(f"append to {topic}"), self._append_lock:
            name = self._ensure(topic)
            for i, m in enumerate(messages):
                while True:
                    try:
                        self._producer.produce(
                            name,
                            value=m.value,
                            key=m.key.encode(),
                            partition=0,
                            timestamp=now_ms,
                            on_delivery=delivered(i),
                        )
                        break
                    except BufferError:  # the local queue is full: let deliveries drain it
                        self._producer.poll(0.05)
            left = self._producer.flush(self.request_timeout)
        if failures or left or None in offsets:
            reason = failures[0] if failures else "no delivery report in time"
            raise BackendUnavailable(f"Kafka did not store {len(messages)} records in {topic}: {reason}")
        with self._appended:
            self._appended.notify_all()
        return [o for o in offsets if o is not None]

    def trim(self, topic: str, older_than_ms: int) -> int:
        with _kafka_errors(f"trim {topic}"):
            name = self._exists(topic)
            if name is None:
                return 0
            low, high = self._watermarks(name)
            (found,) = self._reader.offsets_for_times(
                [TopicPartition(name, 0, older_than_ms)], timeout=self.request_timeout
            )
            cut = found.offset if found.offset >= 0 else high  # nothing that new: drop everything
            if cut <= low:
                return 0
            futures = self._admin.delete_records([TopicPartition(name, 0, cut)], request_timeout=self.request_timeout)
            for future in futures.values():
                future.result(timeout=self.request_timeout)
            return cut - low

    # --- consuming ----------------------------------------------------------------------------------

    def _member(self, group: str) -> Member:
        with self._members_lock:
            if self._closed:
                raise BackendUnavailable("the event log is closed")
            member = self._members.get(group)
            if member is None:
                with _kafka_errors(f"join group {group}"):
                    member = Member(f"{self._namespace}{group}", self._member_config)
                self._members[group] = member
            return member

    def fetch(self, group: str, topics: Sequence[str], max_count: int, wait: float, consumer: str = "") -> Batch:
        consumer = consumer or f"anon-{uuid.uuid4().hex}"
        deadline = time.monotonic() + max(0.0, wait)
        member = self._member(group)
        with _kafka_errors(f"fetch for group {group}"):
            names = [self._ensure(t) for t in topics]
            with member.lock:
                member.join(names, self.join_timeout)
            while True:
                with member.lock:
                    member.serve()
                    batch = self._try_fetch(member, group, topics, names, max_count, consumer)
                remaining = deadline - time.monotonic()
                if batch.records or remaining <= 0:
                    return batch
                with self._appended:
                    self._appended.wait(min(remaining, self.poll_interval))

    def _try_fetch(
        self, member: Member, group: str, topics: Sequence[str], names: Sequence[str], max_count: int, consumer: str
    ) -> Batch:
        now = time.monotonic()
        for topic, name in zip(topics, names, strict=True):
            if name not in member.owned:
                continue  # another process of the group owns it (or the rebalance is not done)
            low, high = self._watermarks(name)
            # 1. a range this consumer held before a restart, or one whose consumer vanished
            for lease in list(member.leases[name]):
                if lease.done or not (lease.expires < now or lease.consumer == consumer):
                    continue
                lease.consumer, lease.expires = consumer, now + self.lease_seconds
                first = max(lease.start, low)
                if lease.end - first > max_count:
                    # a vanished consumer's larger batch: take what was asked for and leave the rest
                    # as a lease of its own, free for the next fetch (compact sorts leases by start)
                    member.leases[name].append(Lease(name, first + max_count, lease.end, "", 0.0))
                    lease.end = first + max_count
                records = self._read(topic, name, first, lease.end - first)
                if records:
                    return Batch(group, records, _Token(member, lease))
                lease.done = True  # the range was trimmed away meanwhile: nothing to redeliver
            member.compact(name)
            # 2. the next range nobody holds
            frontier = member.frontier(name, low)
            records = self._read(topic, name, frontier, min(max_count, high - frontier))
            if records:
                lease = Lease(name, records[0].offset, records[-1].offset + 1, consumer, now + self.lease_seconds)
                member.leases[name].append(lease)
                return Batch(group, records, _Token(member, lease))
        return Batch(group, [], None)

    def commit(self, batch: Batch) -> None:
        token = batch.token
        if not isinstance(token, _Token):
            return
        member, lease = token.member, token.lease
        with _kafka_errors(f"commit for group {batch.group}"), member.lock:
            if not any(held is lease for held in member.leases.get(lease.topic, ())):
                # the topic moved to another member, which resumes at the committed offset
                log.warning(
                    "group %s lost %s before the commit; offsets %d-%d will be delivered again",
                    batch.group,
                    lease.topic,
                    lease.start,
                    lease.end - 1,
                )
                return
            lease.done = True
            try:
                member.compact(lease.topic)
            except KafkaException:
                # not committed: the range goes back to be fetched again (by this process, or by
                # the member the rebalance hands the topic to, from the committed offset)
                lease.done, lease.expires = False, 0.0
                raise

    def release(self, batch: Batch) -> None:
        token = batch.token
        if isinstance(token, _Token):
            with token.member.lock:
                if not token.lease.done:
                    token.lease.expires = 0.0

    def lag(self, group: str, topic: str) -> int:
        with _kafka_errors(f"read the offsets of group {group}"):
            name = self._exists(topic)
            if name is None:
                return 0
            request = [ConsumerGroupTopicPartitions(f"{self._namespace}{group}", [TopicPartition(name, 0)])]
            futures = self._admin.list_consumer_group_offsets(request, request_timeout=self.request_timeout)
            (result,) = futures.values()
            (tp,) = result.result(timeout=self.request_timeout).topic_partitions
            low, high = self._watermarks(name)
            return max(0, high - max(tp.offset, low))

    def close(self) -> None:
        with self._members_lock:
            self._closed = True
            members, self._members = list(self._members.values()), {}
        for member in members:
            with member.lock:
                member.close()
        with contextlib.suppress(KafkaException, RuntimeError):
            self._reader.close()
        self._producer.flush(self.request_timeout)
