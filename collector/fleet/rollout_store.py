"""Roll-outs in the collector's store (tables ``rollouts`` and ``rollout_devices``, migration 4).

A roll-out row holds the signed manifest, its settings (JSON), its state and current wave; a device row holds the
device's wave, state, the ids of the commands sent to it (deploy or apply, and rollback), its health before the
roll-out (``baseline``, JSON) and when it was sent and applied. Replies update device rows by command id, with
conditions on the state so a late or repeated reply never moves a device backwards.
"""

from __future__ import annotations

import json
import time
from typing import Any

from collector.store.database import Database

DEVICE_STATES = ("pending", "sent", "accepted", "applied", "healthy", "failed", "rolled_back")
ROLLOUT_STATES = ("running", "rolling_back", "done", "rolled_back")
ACTIVE = ("running", "rolling_back")
COLUMNS = ("id, kind, name, version, settings, state, wave, wave_started, reason, created, updated, finished")
DEVICE_COLUMNS = ("store, device, wave, state, reason, command_id, rollback_id, previous, baseline, sent, applied, "
                  "updated")


class RolloutStore:
    """Reads and writes of roll-outs on ``db`` (the collector's :class:`~collector.store.Store`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- roll-outs -------------------------------------------------------------------------------------
    def create(self, kind: str, name: str, version: int, manifest: dict[str, Any], settings: dict[str, Any],
               devices: list[tuple[str, str, int]]) -> int:
        """A new running roll-out of ``manifest`` to ``devices`` (``(store, device, wave)``); returns its id."""
        now = time.time()
        with self.db.write() as cur:
            cur.execute(self.db.sql(
                "INSERT INTO rollouts (kind, name, version, manifest, settings, state, wave, wave_started, created, "
                "updated) VALUES (?, ?, ?, ?, ?, 'running', 0, ?, ?, ?)"),
                (kind, name, version, json.dumps(manifest), json.dumps(settings), now, now, now))
            cur.execute(self.db.sql("SELECT MAX(id) FROM rollouts WHERE created = ?"), (now,))
            rollout_id = int(cur.fetchone()[0])
            cur.executemany(self.db.sql(
                "INSERT INTO rollout_devices (rollout, store, device, wave, state, updated) "
                "VALUES (?, ?, ?, ?, 'pending', ?)"), [(rollout_id, s, d, w, now) for s, d, w in devices])
        return rollout_id

    def get(self, rollout_id: int) -> dict[str, Any] | None:
        rows = self.db.rows(f"SELECT {COLUMNS} FROM rollouts WHERE id = ?", (rollout_id,))
        return _rollout(rows[0]) if rows else None

    def manifest(self, rollout_id: int) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.db.rows("SELECT manifest FROM rollouts WHERE id = ?",
                                                         (rollout_id,))[0]["manifest"])
        return loaded

    def listing(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest roll-outs first, each with its device counts per state."""
        rows = [_rollout(r) for r in self.db.rows(f"SELECT {COLUMNS} FROM rollouts ORDER BY id DESC LIMIT ?",
                                                  (limit,))]
        counts: dict[int, dict[str, int]] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            for r in self.db.rows(f"SELECT rollout, state, COUNT(*) AS n FROM rollout_devices WHERE rollout IN "
                                  f"({marks}) GROUP BY rollout, state", [r["id"] for r in rows]):
                counts.setdefault(int(r["rollout"]), {})[r["state"]] = int(r["n"])
        return [{**r, "devices": counts.get(r["id"], {})} for r in rows]

    def active(self) -> list[int]:
        """Ids of the roll-outs still to drive (running or rolling back), oldest first."""
        return [int(r["id"]) for r in self.db.rows(
            "SELECT id FROM rollouts WHERE state IN ('running', 'rolling_back') ORDER BY id")]

    def claim(self, rollout_id: int, owner: str, lease_s: float) -> bool:
        """Take (or keep) the right to drive a roll-out for ``lease_s``: one collector replica drives each."""
        now = time.time()
        with self.db.write() as cur:
            cur.execute(self.db.sql(
                "UPDATE rollouts SET owner = ?, lease_until = ? WHERE id = ? AND (owner IS NULL OR owner = ? "
                "OR lease_until IS NULL OR lease_until < ?)"), (owner, now + lease_s, rollout_id, owner, now))
            return bool(cur.rowcount)

    def update(self, rollout_id: int, **fields: Any) -> None:
        fields["updated"] = time.time()
        names = ", ".join(f"{k} = ?" for k in fields)
        with self.db.write() as cur:
            cur.execute(self.db.sql(f"UPDATE rollouts SET {names} WHERE id = ?"), (*fields.values(), rollout_id))

    # ---- devices ---------------------------------------------------------------------------------------
    def devices(self, rollout_id: int) -> list[dict[str, Any]]:
        return [{**r, "baseline": json.loads(r["baseline"]) if r["baseline"] else None} for r in self.db.rows(
            f"SELECT {DEVICE_COLUMNS} FROM rollout_devices WHERE rollout = ? ORDER BY wave, store, device",
            (rollout_id,))]

    def set_device(self, rollout_id: int, store: str, device: str, *, only_from: tuple[str, ...] | None = None,
                   **fields: Any) -> bool:
        """Change one device's row (``only_from``: only while its state is one of these); False when unchanged."""
        fields["updated"] = time.time()
        if isinstance(fields.get("baseline"), dict):
            fields["baseline"] = json.dumps(fields["baseline"])
        names = ", ".join(f"{k} = ?" for k in fields)
        cond, params = "", [*fields.values(), rollout_id, store, device]
        if only_from:
            cond = f" AND state IN ({','.join('?' * len(only_from))})"
            params += list(only_from)
        with self.db.write() as cur:
            cur.execute(self.db.sql(f"UPDATE rollout_devices SET {names} WHERE rollout = ? AND store = ? AND "
                                    f"device = ?{cond}"), params)
            return bool(cur.rowcount)

    def on_reply(self, command_id: str, state: str, reason: str | None, detail: dict[str, Any]) -> bool:
        """Record a device's reply to a command of a roll-out; False when no roll-out sent that command."""
        now = time.time()
        with self.db.write() as cur:
            if state == "accepted":
                cur.execute(self.db.sql("UPDATE rollout_devices SET state = 'accepted', updated = ? WHERE "
                                        "command_id = ? AND state = 'sent'"), (now, command_id))
            elif state == "applied":
                previous = detail.get("previous")
                cur.execute(self.db.sql(
                    "UPDATE rollout_devices SET state = 'applied', applied = ?, previous = ?, reason = ?, updated = ? "
                    "WHERE command_id = ? AND state IN ('sent', 'accepted')"),
                    (now, previous if isinstance(previous, int) else None, detail.get("note"), now, command_id))
            else:
                cur.execute(self.db.sql("UPDATE rollout_devices SET state = 'failed', reason = ?, updated = ? WHERE "
                                        "command_id = ? AND state IN ('sent', 'accepted')"),
                            (reason or "failed", now, command_id))
            found = cur.rowcount
            if state == "applied":
                cur.execute(self.db.sql("UPDATE rollout_devices SET state = 'rolled_back', updated = ? WHERE "
                                        "rollback_id = ? AND state <> 'rolled_back'"), (now, command_id))
            elif state == "failed":
                cur.execute(self.db.sql("UPDATE rollout_devices SET state = 'failed', reason = ?, updated = ? WHERE "
                                        "rollback_id = ? AND state <> 'rolled_back'"),
                            (f"rollback failed: {reason}", now, command_id))
            return bool(found or cur.rowcount)


def _rollout(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "id": int(row["id"]), "version": int(row["version"]), "wave": int(row["wave"]),
            "settings": json.loads(row["settings"])}
