"""The one backoff helper: exponential backoff with jitter that grows across failures.

Used by the MQTT publisher (reconnects, re-sends of unreceipted events), the camera grabbers and the collector's
ingest (broker reconnects, store retries). A failure that comes soon after a success still counts: the attempt
counter is only reset by :meth:`Retry.succeeded` once the success has lasted ``stable_s`` seconds, so a source
that opens and fails at once (flapping) backs off further every time instead of retrying at full speed.
"""

from __future__ import annotations

import random
import time


def jittered(base: float, attempt: int, cap: float) -> float:
    """Exponential backoff with jitter: uniform in [base/2, min(cap, base * 2**attempt)]."""
    ceiling = min(cap, base * 2 ** min(attempt, 30))
    return random.uniform(min(base / 2, ceiling), ceiling)


class Retry:
    """Delays ``min_s * 2**attempt`` (capped at ``max_s``, jittered); ``attempt`` grows with every failure."""

    def __init__(self, min_s: float, max_s: float, stable_s: float = 0.0) -> None:
        self.min_s = min_s
        self.max_s = max_s
        self.stable_s = stable_s
        self.attempt = 0
        self._up_since: float | None = None

    def next_delay(self) -> float:
        """The delay before the next try after a failure (and one more failure counted)."""
        if self._up_since is not None and time.monotonic() - self._up_since >= self.stable_s:
            self.attempt = 0  # the last success lasted: this is a fresh failure
        self._up_since = None
        delay = jittered(self.min_s, self.attempt, self.max_s)
        self.attempt += 1
        return delay

    def succeeded(self) -> None:
        """A try worked; the counter resets once it has worked for ``stable_s`` (at the next failure or now)."""
        if self.stable_s <= 0:
            self.attempt = 0
            self._up_since = None
        elif self._up_since is None:
            self._up_since = time.monotonic()

    def reset(self) -> None:
        self.attempt = 0
        self._up_since = None
