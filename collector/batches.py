"""The ingest's commit path: batches of validated messages, committed in order by a writer thread.

The network thread fills a :class:`Batch` and hands it to :meth:`BatchWriter.put`; the writer thread commits it
(one store transaction), retrying transient store errors with backoff and isolating a message the store refuses
(it becomes a ``store_error`` dead letter, the rest of the batch is stored). Committed batches come back through
:meth:`BatchWriter.committed`, oldest first, so the network thread acknowledges them in the order received.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from collector.metrics import Metrics
from collector.mqtt_consumer import retrying
from collector.store import BatchResult, Receipt, Store
from collector.validation import STORE_ERROR, Accepted, Rejected, Status, clean_text
from common.retry import Retry

log = logging.getLogger("collector.ingest")  # the ingest's log lines, whichever module writes them


@dataclass
class Batch:
    events: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos) to PUBACK after the commit
    started: float = 0.0
    generation: int = 0  # the connection the messages came on

    def __len__(self) -> int:
        return len(self.events) + len(self.rejected) + len(self.statuses)

    def empty(self) -> bool:
        """Nothing to store and nothing to acknowledge."""
        return not self.acks and not len(self)


@dataclass(frozen=True, slots=True)
class Committed:
    """A committed batch: its acks (valid on connection ``generation`` only) and the receipts it advanced."""

    generation: int
    acks: list[tuple[int, int]]
    receipts: tuple[Receipt, ...]


class BatchWriter:
    """Commit batches in order on a thread of their own; at most two wait (the network thread then blocks)."""

    def __init__(self, store: Store, metrics: Metrics, prefix: str,
                 on_commit: Callable[[BatchResult], None] | None = None) -> None:
        self.store, self.metrics, self.prefix, self.on_commit = store, metrics, prefix, on_commit
        self._pending: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._committed: deque[Committed] = deque()
        self._thread: threading.Thread | None = None

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(target=self._run, args=(stop,), name="ingest-writer", daemon=True)
        self._thread.start()

    def put(self, batch: Batch) -> None:
        """Queue a batch for commit (blocks while two batches are already waiting)."""
        self._pending.put(batch)

    def finish(self) -> None:
        """Commit what is queued, then end the writer thread."""
        self._pending.put(None)
        if self._thread is not None:
            self._thread.join()

    def busy(self) -> bool:
        """Batches still to commit or committed batches still to acknowledge."""
        return bool(self._pending.unfinished_tasks or self._committed)

    def committed(self) -> Iterator[Committed]:
        """The committed batches not handed out yet, oldest first."""
        while self._committed:
            yield self._committed.popleft()

    def _run(self, stop: threading.Event) -> None:
        while (batch := self._pending.get()) is not None:
            started = time.perf_counter()
            result = self.commit(batch, stop)
            if result is not None:  # None: stopping while the store is down; nothing acknowledged, redelivered
                now = time.time()
                self.metrics.record_batch(time.perf_counter() - started, result.inserted, result.duplicates,
                                          result.statuses, [r.reason for r in (*batch.rejected, *result.rejected)],
                                          [now - e.ts for e in batch.events])
                self._committed.append(Committed(batch.generation, batch.acks, result.receipts))
                if self.on_commit is not None:
                    self.on_commit(result)
            self._pending.task_done()

    def commit(self, batch: Batch, stop: threading.Event | None) -> BatchResult | None:
        """Store ``batch``, retrying while the store is unavailable; None when ``stop`` is set meanwhile."""
        transient = self.store.transient_errors

        def attempt(delay: float) -> BatchResult | None:
            try:
                try:
                    return self.store.write_batch(batch.events, batch.rejected, batch.statuses)
                except transient:
                    raise
                except Exception as exc:
                    log.warning("batch rejected by the store (%s: %s); storing message by message",
                                type(exc).__name__, exc)
                    return self._commit_one_by_one(batch)
            except transient as exc:  # the store went away (perhaps meanwhile): retry the whole batch
                log.warning("store unavailable (%s); retrying the batch in %.1f s", str(exc).strip(), delay)
                self.store.reset()
                return None

        return retrying(attempt, Retry(0.2, 10.0), stop)

    def _commit_one_by_one(self, batch: Batch) -> BatchResult:
        """Isolate the message the store refuses: it becomes a ``store_error`` dead letter, the rest is stored."""
        inserted = duplicates = dead = 0
        items: list[Accepted | Rejected] = [*batch.events, *batch.rejected]
        for item in items:
            try:
                r = self.store.write_batch([item]) if isinstance(item, Accepted) else self.store.write_batch([], [item])
            except self.store.transient_errors:
                raise
            except Exception as exc:
                payload = item.payload if isinstance(item, Rejected) else item.raw.encode()
                topic = item.topic if isinstance(item, Rejected) else f"{self.prefix}/?"
                dead_letter = Rejected(STORE_ERROR, clean_text(f"{type(exc).__name__}: {exc}"), topic, payload)
                r = self.store.write_batch([], [dead_letter])
                batch.rejected.append(dead_letter)  # counted in the metrics with the others
            inserted, duplicates, dead = inserted + r.inserted, duplicates + r.duplicates, dead + r.dead_letters
        statuses = self.store.write_batch([], [], batch.statuses).statuses if batch.statuses else 0
        return BatchResult(inserted, duplicates, dead, statuses)
