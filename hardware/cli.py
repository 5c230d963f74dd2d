"""``smartstore`` subcommands of the ``hardware`` package. Parsing only: handlers call library functions lazily.

Each feature registers its subcommands in its own ``_register_*`` function (use ``smartstore.add_command``)
and lists it in ``REGISTRARS``; handlers import their library inside the handler so ``--help`` stays light.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from smartstore import Subparsers, UserError, add_command, command_group

HW_HELP = "this box: accelerators, engine choice, serial sensors"  # `hw sensors` is in edge/shelf_cli.py


def _probe(args: argparse.Namespace) -> int:
    from hardware.probe import probe
    from hardware.select import choose_engine

    if not Path(args.root).is_dir():
        raise UserError(f"--root {args.root}: no such directory")
    result = probe(args.root)
    choice = choose_engine(result, profile=args.profile)
    if args.json:
        print(json.dumps({"probe": result.as_dict(), "choice": choice.as_dict()}, indent=2))
        return 0
    cpu = result.cpu
    memory = f"{result.memory_mb} MB" if result.memory_mb is not None else "unknown"
    ov, ort, lite = result.openvino, result.onnxruntime, result.litert
    lines = [
        f"cpu:          {cpu.model} ({cpu.arch}, {cpu.cores} cores, {'+'.join(cpu.isa()) or 'no AVX2/AVX-512/NEON'})",
        f"memory:       {memory}",
        f"board:        {result.pi_model or '-'}",
        f"openvino:     {_runtime(ov.installed, ov.version, ov.devices)}",
        f"onnxruntime:  {_runtime(ort.installed, ort.version, ort.providers)}",
        f"litert:       {_runtime(lite.installed, lite.version, lite.providers)}",
        f"edge tpu:     {result.edgetpu_library or 'no library'}; devices: {', '.join(result.edgetpu_devices) or '-'}",
    ]
    for device, props in result.openvino.properties.items():
        lines.append(f"  {device}: {props.get('FULL_DEVICE_NAME', '?')} "
                     f"[{', '.join(props.get('OPTIMIZATION_CAPABILITIES', []))}]")
    cameras = [f"{c.path} {c.name or ''} {','.join(c.formats) if c.formats else c.note or ''}".strip()
               for c in result.cameras]
    lines.append(f"cameras:      {'; '.join(cameras) or '-'}")
    lines.append(f"serial ports: {', '.join(result.serial_ports) or '-'}")
    temps = [f"{t.type} {t.celsius:.1f} °C" for t in result.temperatures]
    lines.append(f"temperatures: {', '.join(temps) or '-'}")
    lines += [f"warning:      {w}" for w in result.warnings]
    delegate = f" delegate {choice.delegate}" if choice.delegate else ""
    lines.append(f"choice:       {choice.engine} {choice.device} {choice.precision}{delegate} "
                 f"threads {choice.threads} (profile {choice.profile})")
    lines.append(f"why:          {choice.reason}")
    print("\n".join(lines))
    return 0


def _runtime(installed: bool, version: str | None, items: list[str]) -> str:
    return f"{version} [{', '.join(items)}]" if installed else "not installed"


def _profiles(args: argparse.Namespace) -> int:
    from hardware.select import load_profiles

    profiles = load_profiles()
    for profile in profiles.values():
        first = profile.candidates[0]
        print(f"{profile.name:10} {first.engine}/{first.device}/{first.precision}  {profile.description}")
    return 0


def _register_hw(subparsers: Subparsers) -> None:
    group = command_group(subparsers, "hw", HW_HELP)
    probe = add_command(group, "probe", "show the hardware and the engine `engine: auto` picks, with the reason",
                        _probe)
    probe.add_argument("--json", action="store_true", help="machine-readable output")
    probe.add_argument("--root", default="/", help="read proc/sys/dev under this directory (a captured tree)")
    probe.add_argument("--profile", help="force a device profile instead of matching one")
    add_command(group, "profiles", "list the device profiles", _profiles)


REGISTRARS: tuple[Callable[[Subparsers], None], ...] = (_register_hw,)


def register(subparsers: Subparsers) -> None:
    for registrar in REGISTRARS:
        registrar(subparsers)
