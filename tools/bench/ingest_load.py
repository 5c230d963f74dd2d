"""Ingest load test: many simulated devices through one Mosquitto into collector replicas on PostgreSQL.

    .venv/bin/python tools/bench/ingest_load.py --devices 1000 --replicas 2 --duration 180 --speed 10
    .venv/bin/python tools/bench/ingest_load.py --devices 1000 --duration 120 --kill-at 40 --restart-after 15

Starts its own Mosquitto (the shipped settings: persistence, queue limits) on a free port, a fresh PostgreSQL
database (dropped afterwards unless ``--keep``), ``--replicas`` collectors as separate ``smartstore collector run``
processes (one shared-subscription group, one client id and API port each) and ``--devices`` devices spread over
``--processes`` processes (``tools/bench/load_devices.py``: one selector loop per process; every device with its
own client id, persistent MQTT 5 session, QoS 1 contract envelopes with the edge's ``outbox``/``floor`` user
properties, retained status and receipts). The mix (:class:`tools.bench.load_devices.Mix`, per device, real time,
multiplied by ``--speed``): crossing bursts, occupancy on every burst and periodically, health every 30 s (the
edge's default), shelf out-of-stock events each followed by their restock. ``--write-cost`` times the store alone.

Measured (one JSON object): events offered and committed per second; publish-to-commit latency, from the device's
``ts`` (``time.time()`` just before the publish, millisecond precision) to the ``stored`` column (``time.time()`` in
the replica's batch transaction, before its COMMIT), one clock (this machine's); the replicas' own post-commit
latency histogram; loss (events whose PUBACK came back and which are not in the database); duplicates (ids stored
twice, and two ids for one device's seq); each replica's share from its ``/metrics``; dead letters; receipts.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.bench.load_devices import SESSION_EXPIRY_S, Mix, device_worker
from tools.broker import LocalBroker, free_port

GROUP = "load"
TOKEN = "ingest-load-token"


# ---- the collector replicas ----------------------------------------------------------------------------------
@dataclass
class Replica:
    """One ``smartstore collector run`` process with its own client id and API port."""

    name: str
    config: Path
    log: Path
    api_port: int
    proc: subprocess.Popen[bytes] | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)
    killed_metrics: dict[str, float] = field(default_factory=dict)  # the last ones of a killed process

    @classmethod
    def configure(cls, workdir: Path, name: str, url: str, schema: str | None, mqtt_port: int,
                  receipts: bool) -> Replica:
        api_port = free_port()
        config = {"store": url, "schema_name": schema, "api": {"port": api_port, "token": TOKEN},
                  "mqtt": {"port": mqtt_port, "group": GROUP, "client_id": f"collector-{name}",
                           "session_expiry_s": SESSION_EXPIRY_S, "receipts": receipts},
                  "rollouts": {"enabled": False}, "forecast": {"schedule": {"enabled": False}}}
        path = workdir / f"collector-{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return cls(name, path, workdir / f"collector-{name}.log", api_port)

    def start(self) -> None:
        from collector.service import SMARTSTORE

        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([*SMARTSTORE, "collector", "run", "--config", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)

    def metrics(self) -> dict[str, float]:
        """This replica's ``/metrics`` (name with labels -> value); the last ones seen if it is down."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return self.last_metrics
        self.last_metrics = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                             for line in text.splitlines() if line and not line.startswith("#")}
        return self.last_metrics

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"collector {self.name} exited with {self.proc.returncode}: see {self.log}")
        return self.metrics().get("smartstore_collector_mqtt_connected") == 1

    def kill(self) -> None:
        """SIGKILL; its counters so far are kept (:attr:`killed_metrics`), a restarted process counts from 0."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.killed_metrics, self.last_metrics = self.last_metrics, {}

    def terminate(self) -> None:
        """SIGTERM: the replica commits and acknowledges what it holds, then exits (:meth:`stop` waits)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def histogram_quantile(metrics: dict[str, float], name: str, q: float) -> float | str | None:
    """The upper bound of the bucket holding quantile ``q`` of a Prometheus histogram (None when empty; beyond
    the last bucket: ``"> <last bound>"``)."""
    buckets = sorted((float(k.split('le="')[1].rstrip('"}')), v) for k, v in metrics.items()
                     if k.startswith(f"{name}_bucket"))
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    bound = next(bound for bound, count in buckets if count >= q * total)
    return bound if math.isfinite(bound) else f"> {buckets[-2][0]:g}"


def replica_figures(replica: Replica) -> dict[str, Any]:
    """Counters and histograms summed over a killed process (as scraped up to a second before the kill) and
    its restart."""
    m = {k: v + replica.killed_metrics.get(k, 0) for k, v in replica.last_metrics.items()}
    latency = "smartstore_collector_event_latency_seconds"
    batches = m.get("smartstore_collector_batch_seconds_count", 0)
    return {"accepted": int(m.get('smartstore_collector_messages_total{result="accepted"}', 0)),
            "duplicate": int(m.get('smartstore_collector_messages_total{result="duplicate"}', 0)),
            "dead_letter": int(m.get('smartstore_collector_messages_total{result="dead_letter"}', 0)),
            "batches": int(batches), "receipts": int(m.get("smartstore_collector_receipts_total", 0)),
            "commit_s_mean": round(m.get("smartstore_collector_batch_seconds_sum", 0) / batches, 4)
            if batches else None,
            "post_commit_latency_bucket_s": {f"p{round(q * 100)}": histogram_quantile(m, latency, q)
                                             for q in (0.5, 0.95, 0.99)}}


# ---- the database ----------------------------------------------------------------------------------------------
@contextmanager
def fresh_database(admin_url: str, keep: bool) -> Iterator[str]:
    """A new PostgreSQL database (its ``postgresql://`` URL), dropped afterwards unless ``keep``."""
    if not admin_url.startswith(("postgresql://", "postgres://")):
        raise SystemExit(f"--pg {admin_url!r}: not a postgresql:// URL")
    name = f"ingest_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def store_figures(url: str, schema: str | None, acked_files: list[str], start: float, end: float) -> dict[str, Any]:
    """Loss, duplicates, committed rate and publish-to-commit latency, from the database."""
    with psycopg.connect(url, autocommit=True) as conn:
        if schema:
            conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("CREATE TEMP TABLE acked (id TEXT NOT NULL)")
        with conn.cursor().copy("COPY acked (id) FROM STDIN") as copy:
            for path in acked_files:
                for line in Path(path).read_text().splitlines():
                    copy.write_row((line,))

        def one(sql: str) -> tuple[Any, ...]:
            row = conn.execute(sql).fetchone()
            assert row is not None
            return row

        lost = one("SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = a.id)")[0]
        stored, distinct = one("SELECT count(*), count(DISTINCT id) FROM events")
        seq_dups = one("SELECT count(*) FROM (SELECT 1 FROM events GROUP BY store, device, seq "
                       "HAVING count(*) > 1) d")[0]
        in_window = one(f"SELECT count(*) FROM events WHERE stored BETWEEN {start} AND {end}")[0]
        last = one("SELECT max(stored) FROM events")[0]
        p = one("SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY stored - ts), "
                "max(stored - ts) FROM events")
        per_s = one(f"SELECT max(n) FROM (SELECT count(*) n FROM events WHERE stored BETWEEN {start} AND {end} "
                    "GROUP BY floor(stored)) s")[0]
        size = one("SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('events')) + "
                   "COALESCE(pg_total_relation_size(to_regclass('event_ids')), 0)")[0]
        dead = one("SELECT count(*) FROM dead_letters")[0]
        statuses = one("SELECT count(*) FROM device_status")[0]
        kinds: dict[str, int] = dict(conn.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall())
        sizes: dict[str, float] = dict(conn.execute("SELECT kind, round(avg(octet_length(payload))) FROM events "
                                                    "GROUP BY kind").fetchall())
    return {"stored": stored, "lost": lost, "duplicate_ids": stored - distinct, "duplicate_seqs": seq_dups,
            "committed_per_s": round(in_window / (end - start), 1), "max_committed_in_1s": per_s,
            "last_commit_after_end_s": round(last - end, 2) if last else None,
            "latency_s": {"p50": round(p[0][0], 4), "p95": round(p[0][1], 4), "p99": round(p[0][2], 4),
                          "max": round(p[1], 4)} if p[0] else None,
            "disk_bytes_per_event": round(size / stored) if stored else None,
            "dead_letters": dead, "device_statuses": statuses, "by_kind": kinds,
            "payload_bytes_by_kind": {k: int(v) for k, v in sizes.items()}}


# ---- the run ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadSpec:
    devices: int = 1000
    stores: int = 250
    processes: int = 4
    replicas: int = 2
    duration_s: float = 180.0
    speed: float = 10.0
    seed: int = 1
    kill_at_s: float | None = None  # SIGKILL the last replica this long into the run
    restart_after_s: float | None = None  # and start it again (same client id, same session) this much later
    receipts: bool = True  # the replicas' mqtt.receipts (False: the devices' outbox ids are ignored)
    settle_s: float = 900.0  # after publishing, wait at most this long for the replicas to store everything
    mix: Mix = field(default_factory=Mix)


def raise_file_limit() -> int:
    """Open files up to the hard limit (1,000 clients and their broker): inherited by the broker we start."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def run_load(spec: LoadSpec, url: str, schema: str | None, workdir: Path) -> dict[str, Any]:
    """One load run against the store at ``url`` (``schema``: its PostgreSQL schema); the figures."""
    from collector.store import open_store
    from tools.bench.fleet_sim import Fleet, wait_until  # not at the top: the device processes need neither

    raise_file_limit()
    open_store(url, schema).close()  # migrated once, before the replicas race for it
    broker = LocalBroker(workdir / "mosquitto").start()
    replicas = [Replica.configure(workdir, chr(ord("a") + i), url, schema, broker.port, spec.receipts)
                for i in range(spec.replicas)]
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    names = Fleet.device_names(spec.devices, spec.stores)
    chunks = [names[i::spec.processes] for i in range(spec.processes)]
    gos = [ctx.Queue() for _ in chunks]
    workers = [ctx.Process(target=device_worker, args=(chunk, broker.port, spec.mix, spec.speed, spec.duration_s,
                                                 spec.seed * 1000 + i, spec.receipts, str(workdir / f"acked-{i}.txt"),
                                                 ready, go, results), daemon=True)
               for i, (chunk, go) in enumerate(zip(chunks, gos, strict=True))]
    events: list[dict[str, Any]] = []
    try:
        t0 = time.monotonic()
        for replica in replicas:
            replica.start()
        for w in workers:  # the devices connect while the replicas start (their online status is retained)
            w.start()
        if not all(ready.get(timeout=300) for _ in workers):
            raise RuntimeError("not every device connected within 120 s")
        connect_s = time.monotonic() - t0
        wait_until(lambda: all(r.ready() for r in replicas), 120, "every collector replica to subscribe")
        start = time.time() + 1.0
        for go in gos:
            go.put(start)
        end = start + spec.duration_s
        victim = replicas[-1]
        killed = restarted = False
        while time.time() < end:
            elapsed = time.time() - start
            for replica in replicas:
                replica.metrics()
            if spec.kill_at_s is not None and not killed and elapsed >= spec.kill_at_s:
                victim.kill()
                killed = True
                events.append({"at_s": round(elapsed, 1), "what": f"SIGKILL collector {victim.name}"})
            if (killed and not restarted and spec.restart_after_s is not None
                    and elapsed >= spec.kill_at_s + spec.restart_after_s):  # type: ignore[operator]
                victim.start()
                restarted = True
                events.append({"at_s": round(elapsed, 1), "what": f"restarted collector {victim.name}"})
            time.sleep(1.0)
        worker_results = [results.get(timeout=300) for _ in workers]
        acked = sum(r["acked"] for r in worker_results)
        settle = time.monotonic()
        settled = _settle(url, schema, acked, spec.settle_s)
        for replica in replicas:
            replica.metrics()
        settle_s = time.monotonic() - settle
    finally:
        for w in workers:
            w.join(30)
        for replica in replicas:
            replica.terminate()
        for replica in replicas:
            replica.stop()
        broker.stop()
    figures = store_figures(url, schema, [r["acked_file"] for r in worker_results], start, end)
    published = sum(r["published"] for r in worker_results)
    accepted = {r.name: replica_figures(r) for r in replicas}
    total = sum(a["accepted"] for a in accepted.values()) or 1
    return {"spec": {**asdict(spec), "mix_per_device_per_s": {k: round(v * spec.speed, 5)
                                                               for k, v in spec.mix.per_second().items()}},
            "connect_s": round(connect_s, 1), "offered_per_s": round(published / spec.duration_s, 1),
            "published": published, "acked": acked, "unacked": sum(r["unacked"] for r in worker_results),
            "devices_fully_receipted": sum(r["devices_receipted"] for r in worker_results),
            "device_reconnects": sum(r["reconnects"] for r in worker_results), "settle_s": round(settle_s, 1),
            "settled": settled,
            **figures, "replicas": {n: {**a, "share": round(a["accepted"] / total, 3)} for n, a in accepted.items()},
            "events": events}


def write_cost(url: str, devices: int, batch: int, batches: int) -> dict[str, Any]:
    """The store alone: ``Store.write_batch`` of ``batches`` batches of ``batch`` events spread over ``devices``
    devices, in a fresh schema each, without and with outbox ids (receipts); seconds per batch, events/s."""
    from collector.store import open_store
    from collector.validation import Accepted

    out: dict[str, Any] = {"devices": devices, "batch": batch}
    for receipts in (False, True):
        schema = f"write_cost_{uuid.uuid4().hex[:8]}"
        store = open_store(url, schema)
        seqs, outboxes, times = [0] * devices, [uuid.uuid4().hex for _ in range(devices)], []
        try:
            for b in range(batches):
                events = []
                for i in range(batch):
                    d = (b * batch + i) % devices
                    body = {"zone": "entrance", "count": 1}
                    events.append(Accepted(uuid.uuid4().hex, "zone.occupancy", f"store-{d // 4:04d}", f"edge-{d:05d}",
                                           "cam1", seqs[d], time.time(), body, json.dumps(body), "",
                                           outboxes[d] if receipts else None, 0 if receipts else None))
                    seqs[d] += 1
                started = time.perf_counter()
                store.write_batch(events)
                times.append(time.perf_counter() - started)
        finally:
            store.drop_schema()  # type: ignore[attr-defined]
            store.close()
        median = sorted(times)[len(times) // 2]
        out["receipts" if receipts else "no_receipts"] = {"median_s": round(median, 4),
                                                           "events_per_s": round(batch / median)}
    return out


def _settle(url: str, schema: str | None, acked: int, timeout: float) -> bool:
    """Wait until ``acked`` events are stored; False after ``timeout`` s or 30 s without progress (then the
    figures say what was not stored)."""
    deadline, last, last_change = time.monotonic() + timeout, -1, time.monotonic()
    while (n := _count(url, schema)) < acked:
        now = time.monotonic()
        if n != last:
            last, last_change = n, now
        if now > deadline or now - last_change > 30:
            return False
        time.sleep(1.0)
    return True


def _count(url: str, schema: str | None) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        if schema:
            conn.execute(f'SET search_path TO "{schema}"')
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--stores", type=int, default=250)
    parser.add_argument("--processes", type=int, default=4, help="device processes (one selector loop each)")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of publishing")
    parser.add_argument("--speed", type=float, default=10.0, help="time compression of the mix")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-at", type=float, help="SIGKILL the last replica this many seconds in")
    parser.add_argument("--restart-after", type=float, help="restart it this many seconds after the kill")
    parser.add_argument("--no-receipts", dest="receipts", action="store_false",
                        help="collectors with mqtt.receipts false (no per-device receipt bookkeeping)")
    parser.add_argument("--pg", default=os.environ.get("SMARTSTORE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/"
                                                       "postgres"), help="PostgreSQL URL to create the database from")
    parser.add_argument("--settle", type=float, default=900.0, help="seconds to wait for the replicas to catch up")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--write-cost", action="store_true", help="only time Store.write_batch (--batch events "
                        "over --devices devices, 10 batches), without and with receipts; no broker")
    parser.add_argument("--batch", type=int, default=500, help="events per batch for --write-cost")
    args = parser.parse_args()
    if args.devices < 1 or args.processes < 1 or args.replicas < 1 or args.duration <= 0 or args.speed <= 0:
        parser.error("--devices, --processes, --replicas, --duration and --speed must be positive")
    if args.restart_after is not None and args.kill_at is None:
        parser.error("--restart-after needs --kill-at")
    spec = LoadSpec(args.devices, args.stores, args.processes, args.replicas, args.duration, args.speed, args.seed,
                    args.kill_at, args.restart_after, args.receipts, args.settle)
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.pg, args.keep) as url:
        figures = (write_cost(url, args.devices, args.batch, 10) if args.write_cost
                   else run_load(spec, url, None, Path(tmp)))
    figures["load_average"] = os.getloadavg()
    figures["utc"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    figures["cpus"] = os.cpu_count()
    print(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
