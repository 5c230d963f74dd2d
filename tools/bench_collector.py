"""``smartstore bench-collector``: ingest throughput and publish->commit latency through a real Mosquitto at QoS 1.

Starts a private Mosquitto, ``--replicas`` collector processes (``smartstore collector run --no-api``) on one
shared subscription and ``--publishers`` publisher processes (paho, QoS 1, MQTT 5). Modes:

* ``live``: publishers pace themselves to ``--rate`` events/s in total while the collectors ingest. Sustained
  throughput is measured on the commit times of the middle 80% of the events; latency is ``stored - ts`` per
  event (``ts`` = publish time, ms resolution; ``stored`` = when the batch holding it was written).
* ``backlog``: the collectors' persistent sessions are created, the collectors stop, every event is queued at
  the broker, then the collectors start and drain it: ingest throughput without publishers competing for CPU.

Afterwards every event must be in the store exactly once, with no dead letter. ``collector_cpu_us_per_event``
(CPU time of the collector processes once connected, per stored event) shows the cost independently of other
load on the machine: ``events_per_cpu_second`` is what one fully available core would sustain.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from collector.service import SMARTSTORE
from collector.store import Store, open_store
from tools.broker import LocalBroker


def publish(port: int, count: int, rate: float, device: str) -> None:
    """Publish ``count`` footfall events at ``rate``/s (0: as fast as possible) with QoS 1; wait for every PUBACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from contract.events import Event

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{device}", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(0)
    acked = [0]
    client.on_publish = lambda *a: acked.__setitem__(0, acked[0] + 1)
    client.connect("127.0.0.1", port)
    started = time.monotonic()
    for seq in range(count):
        if rate > 0 and seq % 50 == 0:  # pace: loop() returns early on PUBACKs, so loop until it is time
            while (ahead := seq / rate - (time.monotonic() - started)) > 0:
                client.loop(timeout=ahead)
        event = Event("footfall.crossing", "bench", device, seq, {"line": "door", "direction": "in", "track_id": seq},
                      camera="cam")
        client.publish(event.topic(), event.to_json(), qos=1)
        if seq % 20 == 0:
            client.loop(timeout=0)
    while acked[0] < count:
        client.loop(timeout=0.05)
    client.disconnect()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _collector(port: int, db: str, schema: str | None, replica: int, workdir: Path,
               protocol: str) -> subprocess.Popen[bytes]:
    cmd = [*SMARTSTORE, "-v", "collector", "run", "--no-api", "--db", db,
           "--broker", f"127.0.0.1:{port}", "--group", "bench", "--client-id", f"bench-collector-{replica}",
           "--protocol", protocol]
    if schema:
        cmd += ["--schema", schema]
    log = (workdir / f"collector-{replica}.log").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _wait_connected(workdir: Path, replicas: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = [(workdir / f"collector-{i}.log").read_text(errors="replace") for i in range(replicas)]
        if all("connected to" in text for text in logs):
            return
        time.sleep(0.1)
    raise TimeoutError(f"collectors did not connect within {timeout} s; see {workdir}/collector-*.log")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _count(store: Store) -> int:
    return int(store.rows("SELECT COUNT(*) AS n FROM events")[0]["n"])


def run_bench(db: str = "sqlite", events: int = 100_000, rate: float = 12_000, publishers: int = 2,
              mode: str = "live", replicas: int = 1, as_json: bool = False, timeout_s: float = 600,
              protocol: str = "5") -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="smartstore-bench-"))
    schema = None
    if db == "sqlite":
        db = str(workdir / "collector.db")
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
    store = open_store(db, schema)
    broker = LocalBroker(workdir / "mosquitto").start()
    per_pub = events // publishers
    total = per_pub * publishers
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    pub_cmd = [sys.executable, "-c", "import sys; from tools.bench_collector import publish; "
               "publish(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])"]
    collectors: list[subprocess.Popen[bytes]] = []
    try:
        collectors = [_collector(broker.port, db, schema, i, workdir, protocol) for i in range(replicas)]
        _wait_connected(workdir, replicas)
        cpu_before = sum(_cpu_seconds(c.pid) for c in collectors)  # imports and startup are not ingest
        if mode == "backlog":
            _stop(collectors)
        pub_rate = rate / publishers if mode == "live" else 0
        started = time.time()
        pubs = [subprocess.Popen([*pub_cmd, str(broker.port), str(per_pub), str(pub_rate), f"pub{i}"], env=env)
                for i in range(publishers)]
        for proc in pubs:
            proc.wait(timeout=timeout_s)
        published = time.time()
        if mode == "backlog":
            for i in range(replicas):
                (workdir / f"collector-{i}.log").unlink()
            started = time.time()
            collectors = [_collector(broker.port, db, schema, i, workdir, protocol) for i in range(replicas)]
            _wait_connected(workdir, replicas)
            cpu_before = sum(_cpu_seconds(c.pid) for c in collectors)
        deadline = time.monotonic() + timeout_s
        while _count(store) < total and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        cpu = sum(_cpu_seconds(c.pid) for c in collectors if c.poll() is None) - cpu_before
        stored = np.sort(np.array([r["stored"] for r in store.rows("SELECT stored FROM events")], dtype=float))
        latency = np.array([r["lag"] for r in store.rows("SELECT stored - ts AS lag FROM events")], dtype=float)
        dead = sum(store.counts()["dead_letters"].values())
        lo, hi = int(0.1 * len(stored)), int(0.9 * len(stored)) - 1
        sustained = (hi - lo) / max(stored[hi] - stored[lo], 1e-9) if len(stored) > 10 else 0.0
        result = {
            "db": "postgresql" if schema else "sqlite", "mode": mode, "replicas": replicas, "publishers": publishers,
            "events": total, "stored": len(stored), "dead_letters": dead,
            "duplicates": len(stored) - int(store.rows("SELECT COUNT(DISTINCT id) AS n FROM events")[0]["n"]),
            "target_rate": rate if mode == "live" else None,
            "publish_rate": total / max(published - started, 1e-9) if mode == "live" else None,
            "sustained_ingest_per_s": round(sustained, 1),
            "overall_ingest_per_s": round(len(stored) / max(stored[-1] - started, 1e-9), 1) if len(stored) else 0,
            "latency_ms": {q: round(float(np.percentile(latency, p)) * 1000, 1) for q, p in
                           (("p50", 50), ("p95", 95), ("p99", 99))} if mode == "live" and len(latency) else None,
            "collector_cpu_us_per_event": round(cpu / max(len(stored), 1) * 1e6, 1),
            "events_per_cpu_second": round(len(stored) / max(cpu, 1e-9)),
            "mqtt": protocol,
            "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        }
    finally:
        _stop(collectors)
        broker.stop()
        if schema:
            store.drop_schema()  # type: ignore[attr-defined]
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return result
