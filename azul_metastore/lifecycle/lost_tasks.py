"""Lost-task processing: plugin work handed out through ``active`` that never finished is handed
out again, a bounded number of times.

How it knows (the dispatcher's Redis bookkeeping, kept in ``task_state.py`` instead):

* a consumer group on the ``status`` topic reads every status event. ``dispatch.py`` records a
  ``dequeued`` status (with the whole input event and its dequeued id) for each event ``active``
  hands out; that opens a task keyed like the status documents
  (``md5("{dequeued id}.{plugin}")``), due ``lost_task_timeout_seconds`` later;
* the plugin's heartbeats push the due time on; its final status closes the task - success, opt-out
  and permanent errors for good, transient errors (``retry_transient_statuses``) by making it due
  after a back-off of ``retry_backoff_seconds * 2**attempt``;
* each pass, every due task is *claimed* (a conditional update on its key: exactly one process wins,
  so two processes never retry one task twice) and then either published again to the plugin's
  retry lane (``binary.retry.<plugin>``, ``flags.retry``, ``retries + 1``) or, after
  ``retry_max_attempts`` retries, ended: a lost task gets an ``error-network`` status
  "lost task: <dequeued id>" (overwriting its ``dequeued`` status document); a task that kept
  failing keeps its own last error. The new dequeue of a retried event opens a new task with the
  higher attempt count, so the chain always ends.

The status events are consumed at least once; every state change is idempotent, so a crash between
applying a batch and committing it is harmless.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from azul_metastore.events import topics
from azul_metastore.events.intake import EventIntake
from azul_metastore.events.port import EventLog, Record
from azul_metastore.index.timestamps import parse_timestamp
from azul_metastore.lifecycle.clock import Clock, SystemClock
from azul_metastore.lifecycle.task_state import DONE, FAILED, LOST, PENDING, RETRIED, Task, TaskState
from azul_metastore.models.events import (
    CURRENT_MODEL_VERSION,
    SUCCESS_STATUSES,
    Author,
    BinaryEvent,
    StatusEntity,
    StatusEnum,
    StatusEvent,
    is_error,
)
from azul_metastore.settings import Settings

log = logging.getLogger(__name__)

LOST_PREFIX = "lost task: "
#: a claim older than this whose process never settled it is taken to have died with it
STALE_CLAIM_SECONDS = 600.0
#: status records read per fetch, and due tasks handled per pass
BATCH = 1000
#: the most retries a status may claim (more is noise from a plugin; the back-off counts at most
#: ``retry_max_attempts`` of them)
MAX_ATTEMPT = 1000


def task_key(dequeued: str, plugin: str) -> str:
    """The task's key: the ``kafka_key`` the dispatcher gives every status of one dequeue."""
    return hashlib.md5(f"{dequeued}.{plugin}".encode(), usedforsecurity=False).hexdigest()


@dataclass
class PassReport:
    statuses: int = 0
    retried: int = 0
    lost: int = 0
    failed: int = 0


class LostTasks:
    """Consumes statuses and retries lost or transiently failed tasks; one per process is enough."""

    def __init__(self, settings: Settings, event_log: EventLog, intake: EventIntake, state: TaskState,
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.event_log = event_log
        self.intake = intake
        self.state = state
        self.clock = clock or SystemClock()
        self.group = f"{topics.LIFECYCLE_GROUPS}{settings.partition}-lost-tasks"
        self.transient = frozenset(settings.retry_transient_statuses)

    def now(self) -> float:
        return self.clock.now().timestamp()

    # --- one pass ------------------------------------------------------------------------------

    def run_once(self) -> PassReport:
        """Read the statuses waiting, then retry or end every task that is due."""
        report = PassReport()
        while True:
            batch = self.event_log.fetch(self.group, [topics.STATUS], BATCH, 0, consumer=self.group)
            if not batch.records:
                break
            self._apply(batch.records)
            self.event_log.commit(batch)
            report.statuses += len(batch.records)
        now = self.now()
        self.state.release_stale_claims(now - STALE_CLAIM_SECONDS)
        for task in self.state.due(now, BATCH):
            if not self.state.claim(task.key, now):
                continue  # another process took it
            outcome = self._settle(task, now)
            setattr(report, outcome, getattr(report, outcome) + 1)
        if report.retried or report.lost or report.failed:
            log.info("lost tasks: %d retried, %d lost, %d failed for good", report.retried, report.lost,
                     report.failed)
        return report

    def run(self, stop: threading.Event) -> None:
        """Loop every ``lost_task_check_seconds`` until ``stop`` is set."""
        log.info("lost-task processing started (timeout %d s, check every %d s, %d retries)",
                 self.settings.lost_task_timeout_seconds, self.settings.lost_task_check_seconds,
                 self.settings.retry_max_attempts)
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("lost-task pass failed; trying again next time")
            stop.wait(self.settings.lost_task_check_seconds)

    # --- applying statuses ---------------------------------------------------------------------

    def _apply(self, records: list[Record]) -> None:
        opened: list[tuple[Any, ...]] = []
        now = self.now()
        timeout = self.settings.lost_task_timeout_seconds
        backoff = self.settings.retry_backoff_seconds
        for record in records:
            try:
                event = orjson.loads(record.value)
                entity = event["entity"]
                given = entity["input"]
                dequeued = given.get("dequeued")
                plugin = event["author"]["name"]
                status = entity["status"]
                at = parse_timestamp(event["timestamp"]).timestamp()
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if not dequeued or (entity.get("error") or "").startswith(LOST_PREFIX):
                continue  # not active work, or our own verdict coming back
            key = task_key(dequeued, plugin)
            try:
                # bounded: a status claiming 5,000 retries made 2 ** 5000 seconds of back-off, which
                # no float holds, and every pass after it failed on that record
                attempt = min(max(int(given.get("retries") or 0), 0), MAX_ATTEMPT)
            except (TypeError, ValueError, OverflowError):
                continue
            sha256 = (given.get("entity") or {}).get("sha256")
            version = event["author"].get("version")
            if status == StatusEnum.dequeued:
                due = at + timeout + backoff * (2 ** min(attempt, self.settings.retry_max_attempts) - 1)
                opened.append((key, dequeued, plugin, version, sha256, attempt, due, now, orjson.dumps(given)))
                continue
            if opened:  # keep the order of the log: a dequeue before its own outcome
                self.state.dequeued(opened)
                opened = []
            if status == StatusEnum.heartbeat:
                self.state.heartbeat(key, at + timeout, now)
                continue
            row = (dequeued, plugin, version, sha256, attempt, orjson.dumps(given))
            error = entity.get("error") or entity.get("message")
            if status in SUCCESS_STATUSES or status == StatusEnum.opt_out:
                self.state.outcome(key, DONE, status, None, None, now, row)
            elif status in self.transient:
                delay = backoff * 2 ** min(attempt, self.settings.retry_max_attempts)
                self.state.outcome(key, PENDING, status, error, at + delay, now, row)
            elif is_error(status):
                self.state.outcome(key, FAILED, status, error, None, now, row)
        if opened:
            self.state.dequeued(opened)

    # --- settling due tasks --------------------------------------------------------------------

    def _settle(self, task: Task, now: float) -> str:
        """Retry a claimed task or end it; returns which (a ``PassReport`` field)."""
        if task.attempt < self.settings.retry_max_attempts:
            try:
                again = retry_event(task.input)
            except ValidationError as exc:
                # only an outcome was seen (the dequeue record was lost), and plugins strip the input
                self.state.settle(task.key, FAILED, now, error=f"cannot be retried: {exc.errors()[0]['msg']}")
                return "failed"
            self.intake.publish_to(topics.retry_lane(task.plugin), [again])
            self.state.settle(task.key, RETRIED, now)
            return "retried"
        if task.status in self.transient:
            self.state.settle(task.key, FAILED, now)  # its own last error says why
            return "failed"
        error = f"{LOST_PREFIX}{task.dequeued}"
        self.intake.publish("status", [lost_status(task, error)])
        self.state.settle(task.key, LOST, now, status=StatusEnum.error_network.value, error=error)
        return "lost"

    def retry_failures(self, plugin: str, status: str | None = None) -> int:
        """Publish a plugin's failed and lost tasks again (optionally one status only); each task
        once, however many callers ask at the same time. Returns how many were published."""
        now = self.now()
        published = 0
        for task in self.state.tasks(plugin, states=(FAILED, LOST), status=status, limit=100_000):
            if not self.state.claim(task.key, now, from_states=(FAILED, LOST)):
                continue
            self.intake.publish_to(topics.retry_lane(task.plugin), [retry_event(task.input)])
            self.state.settle(task.key, RETRIED, now)
            published += 1
        return published


def retry_event(given: dict[str, Any]) -> BinaryEvent:
    """The input event as its retry: ``flags.retry`` set, ``retries`` one more, no dequeued id."""
    event = dict(given)
    event.pop("dequeued", None)
    event["retries"] = int(given.get("retries") or 0) + 1
    event["flags"] = {**(given.get("flags") or {}), "retry": True}
    return BinaryEvent.model_validate(event)


def lost_status(task: Task, error: str) -> StatusEvent:
    author = Author(name=task.plugin, version=task.version, category="plugin")
    return StatusEvent(
        model_version=CURRENT_MODEL_VERSION, kafka_key="tmp", timestamp=SystemClock().now(), author=author,
        entity=StatusEntity(input=BinaryEvent.model_validate(task.input), status=StatusEnum.error_network,
                            error=error, message="the plugin took this task and never reported an outcome"),
    )
