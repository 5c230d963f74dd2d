"""Prometheus metrics of the collector (text exposition format 0.0.4), without a client library.

The ingest thread updates the counters; ``/metrics`` renders them together with totals read from the store
(sequence gaps, stored events), so the figures stay right across replicas sharing one database.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float, times: int = 1) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += times
        self.total += value * times
        self.n += times

    def render(self, name: str) -> list[str]:
        lines, cumulative = [], 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{le="{le}"}} {cumulative}')
        return [*lines, f"{name}_sum {self.total:.6f}", f"{name}_count {self.n}"]


class Metrics:
    """Counters and histograms of one collector process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: dict[str, int] = {"accepted": 0, "duplicate": 0, "dead_letter": 0, "status": 0}
        self.dead_letters: dict[str, int] = {}
        self.batches = 0
        self.batch_seconds = Histogram()
        self.event_latency = Histogram()
        self.connected = False
        self.receipts = 0  # receipts published (end-to-end acknowledgements to the edges)
        self._recent: deque[tuple[float, int]] = deque(maxlen=64)  # (time, stored events) for the live rate

    def record_batch(self, seconds: float, inserted: int, duplicates: int, statuses: int,
                     reasons: list[str], latencies: list[float]) -> None:
        with self.lock:
            self.batches += 1
            self.batch_seconds.observe(seconds)
            self.messages["accepted"] += inserted
            self.messages["duplicate"] += duplicates
            self.messages["status"] += statuses
            self.messages["dead_letter"] += len(reasons)
            for reason in reasons:
                self.dead_letters[reason] = self.dead_letters.get(reason, 0) + 1
            for latency in latencies:
                self.event_latency.observe(max(latency, 0.0))
            self._recent.append((time.monotonic(), self.messages["accepted"]))

    def ingest_rate(self, window_s: float = 10.0) -> float:
        """Events stored per second over the last ``window_s`` seconds (0 when idle)."""
        with self.lock:
            now = time.monotonic()
            recent = [(t, n) for t, n in self._recent if now - t <= window_s]
            if not recent:
                return 0.0
            first_t, first_n = recent[0]
            return (self.messages["accepted"] - first_n) / max(now - first_t, 1.0)

    def render(self, store_counts: dict[str, Any] | None = None) -> str:
        rate = self.ingest_rate()
        out = [
            "# HELP smartstore_collector_messages_total MQTT messages handled, by result.",
            "# TYPE smartstore_collector_messages_total counter",
        ]
        with self.lock:
            out += [f'smartstore_collector_messages_total{{result="{k}"}} {v}' for k, v in self.messages.items()]
            out += ["# HELP smartstore_collector_dead_letters_total Messages dead-lettered by this process, by reason.",
                    "# TYPE smartstore_collector_dead_letters_total counter"]
            out += [f'smartstore_collector_dead_letters_total{{reason="{k}"}} {v}'
                    for k, v in sorted(self.dead_letters.items())]
            out += ["# HELP smartstore_collector_batches_total Committed batches.",
                    "# TYPE smartstore_collector_batches_total counter",
                    f"smartstore_collector_batches_total {self.batches}",
                    "# HELP smartstore_collector_batch_seconds Time to commit one batch.",
                    "# TYPE smartstore_collector_batch_seconds histogram",
                    *self.batch_seconds.render("smartstore_collector_batch_seconds"),
                    "# HELP smartstore_collector_event_latency_seconds Event time to commit (edge clock to ours).",
                    "# TYPE smartstore_collector_event_latency_seconds histogram",
                    *self.event_latency.render("smartstore_collector_event_latency_seconds")]
        out += ["# HELP smartstore_collector_ingest_rate Events stored per second over the last 10 s.",
                "# TYPE smartstore_collector_ingest_rate gauge", f"smartstore_collector_ingest_rate {rate:.3f}",
                "# HELP smartstore_collector_mqtt_connected 1 while connected to the broker.",
                "# TYPE smartstore_collector_mqtt_connected gauge",
                f"smartstore_collector_mqtt_connected {int(self.connected)}",
                "# HELP smartstore_collector_receipts_total Receipts published to the edges by this process.",
                "# TYPE smartstore_collector_receipts_total counter",
                f"smartstore_collector_receipts_total {self.receipts}"]
        if store_counts is not None:
            out += ["# HELP smartstore_store_events Events in the store (all replicas).",
                    "# TYPE smartstore_store_events gauge", f"smartstore_store_events {store_counts['events']}",
                    "# HELP smartstore_store_seq_gaps Missing sequence numbers summed over devices.",
                    "# TYPE smartstore_store_seq_gaps gauge", f"smartstore_store_seq_gaps {store_counts['seq_gaps']}",
                    "# HELP smartstore_store_unreceipted Events stored above a device's receipt (a hole below "
                    "them: the edge keeps and re-sends them), summed over devices.",
                    "# TYPE smartstore_store_unreceipted gauge",
                    f"smartstore_store_unreceipted {store_counts.get('unreceipted', 0)}",
                    "# HELP smartstore_store_dead_letters Dead letters in the store, by reason.",
                    "# TYPE smartstore_store_dead_letters gauge"]
            out += [f'smartstore_store_dead_letters{{reason="{k}"}} {v}'
                    for k, v in sorted(store_counts["dead_letters"].items())]
        return "\n".join(out) + "\n"
