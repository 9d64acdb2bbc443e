"""The lifecycle services of one process, built from the ports the composition root made, and the
background loops ``serve`` runs (age-off every ``age_off_interval_seconds``, lost-task processing
every ``lost_task_check_seconds``).

Lifecycle jobs read and delete with system access: they must see every document whatever its
labels. Who *asked* (an admin's purge) is recorded in the purge journal, the delete event and the
audit trail, not in the access used.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from azul_metastore.lifecycle.age_off import AgeOff, AgeOffReport
from azul_metastore.lifecycle.clock import Clock, SystemClock
from azul_metastore.lifecycle.lost_tasks import LostTasks
from azul_metastore.lifecycle.purge import Purger
from azul_metastore.lifecycle.reprocess import Reprocessor
from azul_metastore.lifecycle.task_state import TaskState
from azul_metastore.security import Access

if TYPE_CHECKING:
    from azul_metastore.app import Services

log = logging.getLogger(__name__)

_build_lock = threading.Lock()


class Lifecycle:
    """Age-off, purge, lost tasks and reprocessing over one ``Services``."""

    def __init__(self, services: Services, clock: Clock | None = None) -> None:
        self.services = services
        self.clock = clock or SystemClock()
        self.system = Access.system_access(services.security)
        self.state = TaskState(services.settings.data_dir / "lifecycle.sqlite3")
        services._closers.append(self.state.close)

    def age_off(self) -> AgeOff:
        s = self.services
        return AgeOff(s.settings, s.index, s.blobs, s.event_log, self.system, self.clock)

    def purger(self) -> Purger:
        s = self.services
        return Purger(s.index, s.blobs, s.intake, s.settings.purge_path, self.system, self.clock)

    def lost_tasks(self) -> LostTasks:
        s = self.services
        return LostTasks(s.settings, s.event_log, s.intake, self.state, self.clock)

    def reprocessor(self) -> Reprocessor:
        s = self.services
        return Reprocessor(s.settings, s.index, s.intake, self.state)


def lifecycle(services: Services) -> Lifecycle:
    """The process's Lifecycle for ``services`` (kept on it, so its state file is opened once)."""
    found = services.__dict__.get("_lifecycle")
    if found is None:
        with _build_lock:
            found = services.__dict__.get("_lifecycle")
            if found is None:
                found = services.__dict__["_lifecycle"] = Lifecycle(services)
    return found


def run_age_off_loop(age_off: AgeOff, interval: float, stop: threading.Event,
                     on_report: object = None, *, dry_run: bool = False) -> None:
    """Run age-off passes every ``interval`` seconds until ``stop`` is set; a failed pass is logged
    and the next one runs on schedule. ``dry_run`` passes count what they would delete."""
    while not stop.is_set():
        try:
            report: AgeOffReport = age_off.run(dry_run=dry_run)
            for line in report.lines():
                log.info("age-off: %s", line)
            if callable(on_report):
                on_report(report)
        except Exception:
            log.exception("age-off pass failed; the next one runs in %.0f s", interval)
        stop.wait(interval)


def workers(services: Services) -> list:
    """The scheduled lifecycle loops for ``serve``."""
    from azul_metastore.server import Worker

    life = lifecycle(services)
    interval = services.settings.age_off_interval_seconds

    def age_off(stop: threading.Event) -> None:
        run_age_off_loop(life.age_off(), interval, stop)

    return [Worker("age-off", age_off), Worker("lost-tasks", life.lost_tasks().run)]
