"""Turn a batch of newly stored events into roll-up deltas (pure Python, no SQL).

Only events that were really inserted (not duplicates) reach this, so every delta is counted once.
Footfall comes from ``footfall.crossing`` (``footfall.interval`` would count the same people twice),
occupancy from ``zone.occupancy``, dwell from ``zone.visit``, shelf intervals from ``shelf.out_of_stock`` /
``shelf.restocked``, sales from ``pos.sale``; the latest ``model.shadow`` per device and camera (a candidate model's
agreement, never counted as a fact).
Reviews (``feedback.review``) are scored and stored by :mod:`collector.store.reviews`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.validation import Accepted

Key = tuple[str, str, str, int]  # store, camera, line or zone, hour


def hour_of(ts: float) -> int:
    return int(ts // 3600) * 3600


@dataclass
class Rollup:
    footfall: dict[Key, list[int]] = field(default_factory=dict)  # [in, out]
    occupancy: dict[Key, list[float]] = field(default_factory=dict)  # [samples, total, peak]
    live: dict[tuple[str, str, str], tuple[int, float]] = field(default_factory=dict)  # (count, ts)
    dwell: dict[Key, list[float]] = field(default_factory=dict)  # [visits, sum, max]
    devices: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # [seq_min, seq_max, n, last_ts]
    oos_open: list[tuple[str, str, str, str, str, str | None, float]] = field(default_factory=list)
    oos_close: list[tuple[str, str, str, str, float, float | None]] = field(default_factory=list)
    sales: list[tuple[str, str, str, float, float | None, str | None, float, str]] = field(default_factory=list)
    shadow: dict[tuple[str, str, str], tuple[float, str]] = field(default_factory=dict)  # (ts, data as JSON)
    reviews: list[tuple[str, str, str, float, str, float | None, str | None, str]] = field(default_factory=list)


def rollup(events: Iterable[Accepted]) -> Rollup:
    out = Rollup()
    for e in events:
        camera = e.camera or ""
        dev = out.devices.get((e.store, e.device))
        if dev is None:
            out.devices[(e.store, e.device)] = [e.seq, e.seq, 1, e.ts]
        else:
            dev[0], dev[1], dev[2], dev[3] = min(dev[0], e.seq), max(dev[1], e.seq), dev[2] + 1, max(dev[3], e.ts)
        d = e.data
        kind = e.kind
        if kind == "footfall.crossing":
            counts = out.footfall.setdefault((e.store, camera, d["line"], hour_of(e.ts)), [0, 0])
            counts[0 if d["direction"] == "in" else 1] += 1
        elif kind == "zone.occupancy":
            n = int(d["count"])
            occ = out.occupancy.setdefault((e.store, camera, d["zone"], hour_of(e.ts)), [0, 0.0, 0])
            occ[0], occ[1], occ[2] = occ[0] + 1, occ[1] + n, max(occ[2], n)
            live_key = (e.store, camera, d["zone"])
            if live_key not in out.live or out.live[live_key][1] <= e.ts:
                out.live[live_key] = (n, e.ts)
        elif kind == "zone.visit":
            dwell = float(d["dwell_s"])
            stat = out.dwell.setdefault((e.store, camera, d["zone"], hour_of(e.ts)), [0, 0.0, 0.0])
            stat[0], stat[1], stat[2] = stat[0] + 1, stat[1] + dwell, max(stat[2], dwell)
        elif kind == "shelf.out_of_stock":
            out.oos_open.append((e.store, camera, e.device, d["shelf"], d["slot"], d.get("sku"), e.ts))
        elif kind == "shelf.restocked":
            out.oos_close.append((e.store, camera, d["shelf"], d["slot"], e.ts, d.get("empty_s")))
        elif kind == "pos.sale":
            out.sales.append((e.id, e.store, d["sku"], float(d["qty"]), d.get("price"), d.get("receipt"), e.ts, "mqtt"))
        elif kind == "feedback.review":  # scored and stored by collector.store.reviews
            out.reviews.append((e.store, d["review_id"], d["sku"], e.ts, d["text"], d.get("rating"), d.get("lang"),
                                d.get("source", e.device)))
        elif kind == "model.shadow":
            shadow_key = (e.store, e.device, camera)
            if shadow_key not in out.shadow or out.shadow[shadow_key][0] <= e.ts:
                out.shadow[shadow_key] = (e.ts, json.dumps(d, separators=(",", ":")))
    out.oos_open.sort(key=lambda row: row[-1])
    out.oos_close.sort(key=lambda row: row[4])
    return out
