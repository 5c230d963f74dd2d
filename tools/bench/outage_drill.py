"""The broker outage drill: a real Mosquitto (the shipped config) stopped for minutes while an edge publishes.

    .venv/bin/python tools/bench/outage_drill.py --outage-s 600 --rate 50                       # broker down 10 min
    .venv/bin/python tools/bench/outage_drill.py --outage-s 600 --rate 50 --collector-late-s 60 # collector back later

The edge is the service's own outbox and publisher with the shipped defaults (receipts, reconnect backoff, drain
rate); the collector is the ingest on its default shared subscription, storing into SQLite. Prints one JSON line:
events produced, stored, lost, duplicated, seq gaps, the outbox backlog when the broker came back, the drain time
(broker back to every event stored and the outbox empty) and what the edge re-sent. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

from collector.config import load_config
from collector.ingest import Ingestor
from collector.store import open_store
from contract.events import Event
from edge.config import MqttConfig
from edge.mqtt import Publisher
from edge.outbox import Outbox
from tools.broker import LocalBroker


def produce(outbox: Outbox, publisher: Publisher, rate: float, stop: threading.Event) -> None:
    n = 0
    while not stop.wait(1 / rate):
        outbox.enqueue([Event("footfall.crossing", "s1", "edge-1", 0,
                              {"line": "door", "direction": "in", "track_id": n}, camera="cam1")])
        publisher.notify()
        n += 1


def run(outage_s: float, rate: float, late_s: float | None, lead_s: float, timeout_s: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="outage-drill-"))
    broker = LocalBroker(work / "mosquitto").start()
    config = load_config(None, {"store": str(work / "collector.db"), "mqtt.port": broker.port,
                                "mqtt.client_id": "drill-collector"})
    store = open_store(config.store)

    def collector() -> tuple[Ingestor, threading.Event, threading.Thread]:  # a collector started on the store
        ingestor, stop = Ingestor(config, store), threading.Event()
        thread = threading.Thread(target=ingestor.run, args=(stop,), daemon=True)
        thread.start()
        ingestor.connected.wait(15)
        return ingestor, stop, thread

    _, ingest_stop, ingest_thread = collector()
    outbox = Outbox(work / "outbox.db")
    publisher = Publisher(MqttConfig(host="127.0.0.1", port=broker.port), "s1", "edge-1", outbox)
    publisher.start()
    stop_producing = threading.Event()
    producer = threading.Thread(target=produce, args=(outbox, publisher, rate, stop_producing), daemon=True)
    producer.start()
    time.sleep(lead_s)
    if late_s is not None:
        ingest_stop.set()
        ingest_thread.join(20)
    broker.stop()
    time.sleep(outage_s)
    backlog = len(outbox)
    broker.start()
    back = time.monotonic()
    if late_s is not None:
        time.sleep(late_s)
        _, ingest_stop, ingest_thread = collector()
    stop_producing.set()
    producer.join()
    produced = outbox.last_seq + 1
    deadline = back + timeout_s
    count = "SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS d FROM events WHERE device = 'edge-1'"
    while time.monotonic() < deadline:
        if len(outbox) == 0 and int(store.rows(count)[0]["n"]) >= produced:
            break
        time.sleep(0.2)
    drain_s = time.monotonic() - back
    row = store.rows(count)[0]
    gaps = store.counts()["seq_gaps"]
    publisher.stop(flush_timeout=2)
    ingest_stop.set()
    ingest_thread.join(20)
    broker.stop()
    stored, distinct = int(row["n"]), int(row["d"])
    return {"outage_s": outage_s, "rate": rate, "collector_late_s": late_s, "produced": produced, "stored": stored,
            "lost": produced - distinct, "duplicated": stored - distinct, "seq_gaps": gaps,
            "backlog_at_broker_return": backlog, "drain_s": round(drain_s, 1),
            "resent": publisher.stats.resent, "receipt_seq": publisher.stats.receipt_seq}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-s", type=float, default=600)
    parser.add_argument("--rate", type=float, default=50, help="events/s the edge produces")
    parser.add_argument("--collector-late-s", type=float, help="stop the collector with the broker; bring it "
                        "back this long after the broker")
    parser.add_argument("--lead-s", type=float, default=10, help="seconds of normal operation before the outage")
    parser.add_argument("--timeout-s", type=float, default=900, help="give up draining after this long")
    args = parser.parse_args()
    print(json.dumps(run(args.outage_s, args.rate, args.collector_late_s, args.lead_s, args.timeout_s)))


if __name__ == "__main__":
    main()
