"""``smartstore fleet rollout | rollout-status | rollout-abort``: staged roll-outs, driven by ``collector run``.

``rollout`` stores the roll-out in the collector's store and returns (``--wait``: follows it until it is done or
rolled back, exit 1 for rolled back); the running collector drives the waves (:mod:`collector.fleet.rollout`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from smartstore import Subparsers, UserError, add_command

FINISHED = ("done", "rolled_back")


def _settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from collector.fleet.rollout_plan import RolloutSettings, band, duration, share

    fields: dict[str, Any] = {
        "canary": share(args.canary, "--canary"),
        "waves": [share(w, "--waves") for w in args.waves.split(",")],
        "soak_s": duration(args.soak, "--soak"), "max_fps_drop": args.max_fps_drop,
        "detection_band": band(args.detection_band, "--detection-band"), "max_restarts": args.max_restarts,
        "baseline_s": duration(args.baseline, "--baseline"),
        "health_timeout_s": duration(args.health_timeout, "--health-timeout"),
        "apply_timeout_s": duration(args.apply_timeout, "--apply-timeout"),
    }
    try:
        return RolloutSettings.model_validate(fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise UserError(f"roll-out {where}: {err['msg'].removeprefix('Value error, ')}") from None


def _split(values: list[str] | None) -> list[str] | None:
    return None if values is None else [v for item in values for v in item.split(",") if v]


def _rollout(args: argparse.Namespace) -> int:
    from collector.fleet.cli import _store
    from collector.fleet.rollout import create_rollout, load_manifest, targets
    from collector.fleet.rollout_store import RolloutStore

    settings = _settings(args)
    signed, manifest = load_manifest(args.manifest)
    stores, devices = _split(args.stores), _split(args.devices)
    if stores is None and devices is None and not args.all:
        raise UserError("name the devices: --stores, --devices or --all (every device this collector knows)")
    with _store(args) as store:
        chosen = targets(store, manifest, stores, devices)
        rollout_id = create_rollout(store, signed, manifest, chosen, settings)
        waves = max(d["wave"] for d in RolloutStore(store).devices(rollout_id)) + 1
        print(f"roll-out {rollout_id}: {manifest.type} {manifest.name} version {manifest.version} to {len(chosen)} "
              f"devices in {waves} waves (canary first); the collector drives it "
              f"(smartstore fleet rollout-status {rollout_id})", file=sys.stderr)
        print(rollout_id)
        if not args.wait:
            return 0
        return _follow(store, rollout_id, args.poll)


def _follow(store: Any, rollout_id: int, poll: float) -> int:
    """Print each change of the roll-out's wave, state and device counts until it finishes."""
    from collector.fleet.rollout_store import RolloutStore

    rollouts, last = RolloutStore(store), ""
    while True:
        rollout = rollouts.get(rollout_id)
        if rollout is None:
            raise UserError(f"roll-out {rollout_id} disappeared from the store")
        states = Counter(d["state"] for d in rollouts.devices(rollout_id))
        line = f"{rollout['state']} wave {rollout['wave']}: " + " ".join(f"{k}={v}" for k, v in sorted(states.items()))
        if line != last:
            print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr)
            last = line
        if rollout["state"] in FINISHED:
            print(f"roll-out {rollout_id} {rollout['state']}: {rollout['reason']}", file=sys.stderr)
            return 0 if rollout["state"] == "done" else 1
        time.sleep(poll)


def _status(args: argparse.Namespace) -> int:
    from collector.fleet.cli import _store
    from collector.fleet.rollout_store import RolloutStore

    with _store(args) as store:
        rollouts = RolloutStore(store)
        if args.id is None:
            rows: Any = rollouts.listing(args.limit)
            if args.json:
                print(json.dumps(rows))
                return 0
            print(f"{'id':>4}  {'state':12}  {'wave':>4}  {'kind':6}  {'name':24}  {'version':>7}  devices")
            for r in rows:
                counts = " ".join(f"{k}={v}" for k, v in sorted(r["devices"].items()))
                print(f"{r['id']:>4}  {r['state']:12}  {r['wave']:>4}  {r['kind']:6}  {r['name']:24}  "
                      f"{r['version']:>7}  {counts}")
            return 0
        rollout = rollouts.get(args.id)
        if rollout is None:
            raise UserError(f"no roll-out {args.id} (smartstore fleet rollout-status lists them)")
        devices = rollouts.devices(args.id)
        if args.json:
            print(json.dumps({**rollout, "device_states": devices}))
            return 0
        print(f"roll-out {rollout['id']}: {rollout['kind']} {rollout['name']} version {rollout['version']}, "
              f"{rollout['state']}, wave {rollout['wave']}" + (f": {rollout['reason']}" if rollout["reason"] else ""))
        for d in devices:
            print(f"  wave {d['wave']}  {d['store']}/{d['device']:24}  {d['state']:12}  {d['reason'] or ''}")
        return 0


def _abort(args: argparse.Namespace) -> int:
    from collector.fleet.cli import _store
    from collector.fleet.rollout import abort_rollout

    with _store(args) as store:
        rollout = abort_rollout(store, args.id)
    print(f"roll-out {args.id} ({rollout['name']} version {rollout['version']}) rolling back: the collector sends "
          "rollback to every device that got it")
    return 0


def register(group: Subparsers) -> None:
    from collector.cli import _store_options

    rollout = add_command(group, "rollout", "staged roll-out of a signed model bundle or config: canary, waves, "
                          "automatic rollback on regression (the running collector drives it)", _rollout)
    rollout.add_argument("manifest", type=Path, help="signed manifest (smartstore bundle sign --out)")
    rollout.add_argument("--stores", action="append", metavar="STORE[,STORE]", help="every device of these stores")
    rollout.add_argument("--devices", action="append", metavar="STORE/DEVICE[,...]", help="these devices")
    rollout.add_argument("--all", action="store_true", help="every device this collector knows (signed for)")
    rollout.add_argument("--canary", default="5%", help="share of devices in the canary wave (default 5%%)")
    rollout.add_argument("--waves", default="25%,50%,100%", help="cumulative shares of the later waves, the last "
                         "100%% (default 25%%,50%%,100%%)")
    rollout.add_argument("--soak", default="60s", help="healthy this long before the next wave (default 60s)")
    rollout.add_argument("--max-fps-drop", type=float, default=0.2, help="regression: fps down by more than this "
                         "share of its fps before (default 0.2)")
    rollout.add_argument("--detection-band", default="0.5,2.0", help="regression: a wave's detection rate outside "
                         "LOW,HIGH x its rate before (default 0.5,2.0)")
    rollout.add_argument("--max-restarts", type=int, default=1, help="regression (crash loop): more restarts than "
                         "this after applying (default 1)")
    rollout.add_argument("--baseline", default="5m", help="health window before a device's command (default 5m)")
    rollout.add_argument("--health-timeout", default="60s", help="regression: no health this long (default 60s)")
    rollout.add_argument("--apply-timeout", default="10m", help="failed: not applied this long after sending; "
                         "also the commands' expiry (default 10m)")
    rollout.add_argument("--wait", action="store_true", help="follow it until done (exit 0) or rolled back (1)")
    rollout.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)
    status = add_command(group, "rollout-status", "roll-outs, or one roll-out's devices and their states", _status)
    status.add_argument("id", type=int, nargs="?", help="a roll-out id (default: list them)")
    status.add_argument("--limit", type=int, default=20, help="roll-outs listed (default 20)")
    status.add_argument("--json", action="store_true", help="JSON instead of a table")
    abort = add_command(group, "rollout-abort", "stop a roll-out and roll back every device that got its version "
                        "(a finished one too)", _abort)
    abort.add_argument("id", type=int, help="the roll-out id")
    for parser in (rollout, status, abort):
        _store_options(parser)
