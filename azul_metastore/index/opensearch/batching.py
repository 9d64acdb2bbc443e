"""The searches of one ``gather`` sent to the node together, as one ``_msearch``.

Why: the reads a request gathers (a find's submissions, identities and tags; a lineage round's
links and sources, up to six) are independent searches. Sent one HTTP request each from threads,
they cost a request and an answer each on the node's transport and on the client, and on a
two-core machine they compete for the cores with the node that answers them. Sent together, the
node runs them side by side on its search pool and answers once.

How: each read of the gather runs on its own thread (as before) with this batch as its thread's
current batch. A search made there (``reads.search``) is queued and its thread waits. When every
read still running is waiting on a queued search, nothing more can join, so the queue is sent as
one ``_msearch`` and each answer is handed to its thread. A read that makes a call other than a
search (a scroll, a count) is not waiting; the queue waits for it (``WAIT_AT_MOST`` at most, then
goes without it), so it costs what it cost before.
A read whose search depends on an earlier answer makes its second search in a later round. Errors
come back per search and are raised in the thread that made it, as the client would raise them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import HTTP_EXCEPTIONS, RequestError, TransportError

__all__ = ["SearchBatch", "current", "joined", "run_in"]

#: searches per ``_msearch`` request at most (a round of a lineage walk makes six)
MAX_SEARCHES = 64
#: seconds a queued search waits for the other reads before it is sent anyway: a read that has not
#: started (the read pool is busy with other requests' reads) must not hold the others forever
WAIT_AT_MOST = 0.005
_local = threading.local()


@dataclass(eq=False)
class _Queued:
    header: dict[str, Any]
    body: dict[str, Any]
    answer: dict[str, Any] | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class SearchBatch:
    """The searches of ``parties`` reads running at once; see the module docstring."""

    client: OpenSearch
    parties: int
    queue: list[_Queued] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)
    #: _msearch requests sent (read by tests: the reads of one gather must share them)
    sent: int = 0

    def search(self, index: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        """The answer to one search, as ``client.search(index=..., body=..., **params)`` gives it."""
        queued = _Queued({"index": index, **params}, body)
        with self.lock:
            self.queue.append(queued)
            self._send_when_all_wait()
            while not queued.done:
                if not self.lock.wait(WAIT_AT_MOST) and any(q is queued for q in self.queue):
                    self._send_queue()
        if queued.error is not None:
            raise queued.error
        assert queued.answer is not None
        return queued.answer

    def leave(self) -> None:
        """A read has ended: the others may now all be waiting."""
        with self.lock:
            self.parties -= 1
            self._send_when_all_wait()

    def _send_when_all_wait(self) -> None:
        """With the lock held: send the queue once every running read waits on it.

        The request is sent with the lock released, so that a read which is not waiting (it makes
        some other call) can finish meanwhile; it then finds the queue empty and waits for its own
        next search. Threads of the sent searches stay waiting until their answers are set."""
        if self.queue and len(self.queue) >= self.parties:
            self._send_queue()

    def _send_queue(self) -> None:
        batch, self.queue = self.queue, []
        self.lock.release()
        try:
            self._send(batch)
        finally:
            self.lock.acquire()
            for queued in batch:
                queued.done = True
            self.lock.notify_all()

    def _send(self, batch: list[_Queued]) -> None:
        for start in range(0, len(batch), MAX_SEARCHES):
            part = batch[start:start + MAX_SEARCHES]
            lines: list[dict[str, Any]] = []
            for queued in part:
                lines += [queued.header, queued.body]
            self.sent += 1
            try:
                answers = self.client.msearch(body=lines)["responses"]
            except RequestError:
                # The node parses every body before it runs any, so one it cannot parse fails them
                # all: each goes alone, to get the answer or the error it would have had alone.
                for queued in part:
                    self._alone(queued)
                continue
            except Exception as exc:  # the request itself failed: every search of it did
                for queued in part:
                    queued.error = exc
                continue
            for queued, answer in zip(part, answers, strict=True):
                if "error" in answer:
                    queued.error = _error(answer)
                else:
                    queued.answer = answer

    def _alone(self, queued: _Queued) -> None:
        try:
            queued.answer = self.client.search(body=queued.body, **queued.header)
        except Exception as exc:
            queued.error = exc


def _error(answer: dict[str, Any]) -> TransportError:
    """The exception ``client.search`` raises for the error ``_msearch`` returned in its place."""
    status = int(answer.get("status") or 500)
    error = answer.get("error")
    kind = error.get("type", "error") if isinstance(error, dict) else str(error)
    return HTTP_EXCEPTIONS.get(status, TransportError)(status, kind, answer)


def current() -> SearchBatch | None:
    """The batch the reads on this thread belong to, if any."""
    return getattr(_local, "batch", None)


@contextmanager
def joined(batch: SearchBatch) -> Iterator[None]:
    """Run one read of ``batch`` on this thread; it leaves the batch when it ends, however."""
    _local.batch = batch
    try:
        yield
    finally:
        _local.batch = None
        batch.leave()


def run_in(batch: SearchBatch, read: Callable[[], Any]) -> Callable[[], Any]:
    """``read`` as one party of ``batch``."""

    def run() -> Any:
        with joined(batch):
            return read()

    return run
