"""The SQLite outbox: sequence numbers, ordered pending/ack, disk cap, and kill -9 durability."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contract import Event
from edge.outbox import MIN_CAP_BYTES, Outbox

REPO = Path(__file__).resolve().parents[3]


def crossing(i: int) -> Event:
    return Event("footfall.crossing", "s1", "d1", 0, {"line": "door", "direction": "in", "track_id": i})


def health(i: int) -> Event:
    return Event("device.health", "s1", "d1", 0, {"reason": "periodic", "fps": 15.0, "note": "x" * 200, "i": i})


def test_sequence_numbers_are_contiguous_and_survive_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    stored = box.enqueue([crossing(i) for i in range(5)])
    assert [e.seq for e in stored] == [0, 1, 2, 3, 4]
    box.ack([0, 1, 2, 3, 4])
    assert len(box) == 0
    box.close()
    box = Outbox(tmp_path / "o.db")  # every row was acked: the counter must still not restart at 0
    assert [e.seq for e in box.enqueue([crossing(9)])] == [5]


def test_pending_is_ordered_and_ack_deletes_only_the_acked(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", topic_prefix="acme/v1")
    events = box.enqueue([crossing(i) for i in range(10)])
    box.ack([1, 3, 5])
    rows = box.pending()
    assert [p.seq for p in rows] == [0, 2, 4, 6, 7, 8, 9]
    assert rows[0].topic == "acme/v1/s1/d1/footfall/crossing"
    assert json.loads(rows[0].payload) == events[0].to_dict()
    assert [p.seq for p in box.pending(after=4, limit=2)] == [6, 7]
    assert box.stats().pending == 7


def test_disk_cap_drops_oldest_low_priority_first_and_reports(tmp_path: Path) -> None:
    cap = MIN_CAP_BYTES  # 256 KiB
    box = Outbox(tmp_path / "o.db", cap_bytes=cap)
    for i in range(300):  # ~300 * (200 B crossings + 350 B health) ~ 500 KB offered, twice the cap
        box.enqueue([crossing(i), health(i)])
        assert box.disk_bytes() <= cap, f"outbox file grew to {box.disk_bytes()} > cap {cap} after batch {i}"
    stats = box.stats()
    assert stats.dropped.get("device.health", 0) > 0
    rows = box.pending(limit=10_000)
    assert [p.seq for p in rows] == sorted(p.seq for p in rows) and len(rows) == stats.pending
    kept_health = [p.seq for p in rows if b"device.health" in p.payload]
    kept_crossings = {p.seq for p in rows if b"footfall.crossing" in p.payload}
    dropped_crossings = [s for s in range(0, 600, 2) if s not in kept_crossings]  # crossings have even seqs
    assert len(dropped_crossings) == stats.dropped.get("footfall.crossing", 0)
    if dropped_crossings and kept_health:  # a crossing went only when no older health event was left
        assert min(kept_health) > max(dropped_crossings)
    assert len(kept_health) < 300 - stats.dropped.get("footfall.crossing", 0)  # health went first, and more of it
    # Only crossings now: they must be dropped too (oldest first) rather than exceed the cap.
    for i in range(400):
        box.enqueue([crossing(1000 + 5 * i + k) for k in range(5)])
    assert box.disk_bytes() <= cap
    assert box.stats().dropped["footfall.crossing"] > 0
    assert box.integrity_check() == "ok"


def test_cap_below_minimum_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cap_bytes"):
        Outbox(tmp_path / "o.db", cap_bytes=1000)


WRITER = """
import sys
from contract import Event
from edge.outbox import Outbox
box = Outbox(sys.argv[1])
i = 0
while True:
    stored = box.enqueue([Event("footfall.crossing", "s1", "d1", 0, {"line": "l", "direction": "in", "track_id": i + k})
                          for k in range(5)])
    print(stored[-1].seq, flush=True)   # printed only after the commit returned
    i += 5
"""


def test_kill_9_loses_no_committed_event(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    confirmed = -1
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, cwd=REPO, text=True)
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 30
        while len(lines) < 200 and time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        seqs = [int(x) for x in lines if x.strip()]
        assert seqs and seqs[0] > confirmed
        confirmed = seqs[-1]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = [r[0] for r in conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert stored[: confirmed + 1] == list(range(confirmed + 1))  # nothing confirmed is missing, no gap
    box = Outbox(db)
    assert box.enqueue([crossing(0)])[0].seq == stored[-1] + 1
