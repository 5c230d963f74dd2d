"""``engine: auto``: pick engine, device, precision, delegate and threads for a probed box, and say why.

Device profiles (``hardware/profiles/*.yaml``) are data: a ``match`` (architecture, ISA, OpenVINO device, Raspberry
Pi model) and an ordered list of ``candidates``. The highest-priority matching profile wins; its first candidate
that this box can run (runtime installed, device present, precision supported, model file available) is chosen.
When none of its candidates can run, the next matching profile is tried (``generic`` matches everything).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from errors import SmartstoreError
from hardware.probe import Probe

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
Engine = Literal["openvino", "onnxruntime", "litert"]
Precision = Literal["fp32", "fp16", "int8"]
#: the (engine, precision) pairs that have model files; a mapping also gives the CPU instructions each file needs
Available = Collection[tuple[str, str]] | Mapping[tuple[str, str], Sequence[str]]


class ProfileError(SmartstoreError, ValueError):
    """An unknown or malformed profile, or no engine this box can run: the message names what and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    arch: list[str] = Field(default_factory=list, description="any of these CPU architectures")
    isa: list[Literal["avx2", "avx512", "vnni", "neon"]] = Field(default_factory=list, description="all of these")
    openvino_device: str | None = Field(None, description="OpenVINO must list this device")
    pi_model: str | None = Field(None, description="regular expression on the Raspberry Pi model string")


class Candidate(_Strict):
    engine: Engine
    device: str = "CPU"
    precision: Precision
    delegate: str | None = None


class Profile(_Strict):
    name: str
    description: str
    priority: int
    match: Match
    threads: int | Literal["auto"] = "auto"
    max_threads: int | None = Field(None, gt=0)
    candidates: list[Candidate] = Field(min_length=1)


@dataclass
class Choice:
    profile: str
    engine: str
    device: str
    precision: str
    threads: int
    delegate: str | None
    reason: str
    rejected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_profile(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text())
        return Profile.model_validate(data)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ProfileError(f"{path}: field {where}: {err['msg']} (got {err.get('input')!r})") from exc


@cache
def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, Profile]:
    """Every ``*.yaml`` profile in ``directory``, by name, highest priority (lowest number) first."""
    profiles = [load_profile(p) for p in sorted(directory.glob("*.yaml"))]
    return {p.name: p for p in sorted(profiles, key=lambda p: p.priority)}


def get_profile(name: str, directory: Path = PROFILES_DIR) -> Profile:
    profiles = load_profiles(directory)
    if name not in profiles:
        raise ProfileError(f"unknown profile {name!r} (known: {', '.join(sorted(profiles))})")
    return profiles[name]


def describe(probe: Probe) -> str:
    """One line: what the box is, as far as engine choice goes."""
    cpu = probe.cpu
    isa = "+".join(cpu.isa()) or "no SIMD extensions of note"
    parts = [f"{cpu.arch} '{cpu.model}' {cpu.cores} cores, {isa}"]
    if probe.pi_model:
        parts.append(probe.pi_model)
    if probe.openvino.installed:
        parts.append(f"OpenVINO devices {', '.join(probe.openvino.devices) or 'none'}")
    return "; ".join(parts)


def matches(profile: Profile, probe: Probe) -> str | None:
    """None when the profile applies to the box, else why not."""
    rule = profile.match
    if rule.arch and probe.cpu.arch not in rule.arch:
        return f"arch {probe.cpu.arch} not in {rule.arch}"
    missing = probe.cpu.missing(rule.isa)
    if missing:
        return f"CPU lacks {', '.join(missing).upper()}"
    if rule.openvino_device and rule.openvino_device not in probe.openvino.devices:
        return f"OpenVINO lists no {rule.openvino_device}" if probe.openvino.installed else "OpenVINO not installed"
    if rule.pi_model and not re.search(rule.pi_model, probe.pi_model or ""):
        return f"not a {rule.pi_model!r} board (model: {probe.pi_model or 'none'})"
    return None


def unusable(candidate: Candidate, probe: Probe, available: Available | None) -> str | None:
    """None when this box can run the candidate, else why not."""
    engine, device, precision = candidate.engine, candidate.device, candidate.precision
    installed = {"openvino": probe.openvino.installed, "onnxruntime": probe.onnxruntime.installed,
                 "litert": probe.litert.installed}[engine]
    if not installed:
        return f"{engine} not installed"
    if engine == "openvino":
        if device not in probe.openvino.devices:
            return f"OpenVINO has no {device} device"
        caps = probe.openvino.capabilities(device)
        # an FP16 IR has FP16 weights only: the CPU plugin decompresses them and computes in f32/bf16
        if precision != "fp32" and caps and precision.upper() not in caps and (device, precision) != ("CPU", "fp16"):
            return f"OpenVINO {device} lacks {precision.upper()} (capabilities: {', '.join(caps)})"
    elif engine == "onnxruntime":
        if device != "CPU":
            return f"onnxruntime device {device} is not supported here"
        if probe.onnxruntime.providers and "CPUExecutionProvider" not in probe.onnxruntime.providers:
            return "onnxruntime has no CPUExecutionProvider"
    elif candidate.delegate and candidate.delegate not in probe.litert.providers:
        return f"LiteRT delegate {candidate.delegate} not available"
    if available is not None and (engine, precision) not in available:
        return f"no {engine} {precision} model file"
    if device == "CPU" and isinstance(available, Mapping):
        missing = probe.cpu.missing(available[(engine, precision)])
        if missing:
            return (f"the {engine} {precision} file needs {', '.join(missing).upper()} on the CPU "
                    f"(this CPU: {', '.join(probe.cpu.isa()) or 'none of note'})")
    return None


def _why(candidate: Candidate, probe: Probe) -> str:
    if candidate.precision != "int8":
        return ""
    if candidate.device == "NPU":
        return " (the NPU runs INT8 natively)"
    cpu = probe.cpu
    if cpu.vnni:
        return " (VNNI: INT8 dot products in one instruction)"
    if cpu.avx512 or cpu.avx2:
        return f" ({'AVX-512' if cpu.avx512 else 'AVX2'}: INT8 still beats FP32)"
    return " (NEON integer dot products)" if cpu.neon else ""


def _threads(profile: Profile, probe: Probe) -> int:
    threads = probe.cpu.cores if profile.threads == "auto" else profile.threads
    return max(1, min(threads, profile.max_threads or threads))


def choose_engine(
    probe: Probe,
    profile: str | None = None,
    available: Available | None = None,
    directory: Path = PROFILES_DIR,
) -> Choice:
    """The engine for this box. ``profile`` forces one (else the best matching); ``available`` limits choices to
    the (engine, precision) pairs that have model files; given as a mapping to the CPU instructions each file
    needs, a CPU file this box cannot run exactly is skipped too. Raises :class:`ProfileError` when nothing runs."""
    if profile is not None:
        forced = get_profile(profile, directory)
        order, notes = [forced], [f"profile {forced.name} forced by configuration"]
    else:
        order, notes = [], []
        for candidate_profile in load_profiles(directory).values():
            why_not = matches(candidate_profile, probe)
            if why_not is None:
                order.append(candidate_profile)
            else:
                notes.append(f"not {candidate_profile.name}: {why_not}")
    rejected: list[str] = []
    for chosen in order:
        for candidate in chosen.candidates:
            label = f"{chosen.name}: {candidate.engine}/{candidate.device}/{candidate.precision}"
            why_not = unusable(candidate, probe, available)
            if why_not is not None:
                rejected.append(f"{label}: {why_not}")
                continue
            threads = _threads(chosen, probe)
            steps = [*notes, *rejected]
            reason = (
                f"{describe(probe)} -> profile {chosen.name} ({chosen.description}): "
                f"{candidate.engine} on {candidate.device} at {candidate.precision.upper()}{_why(candidate, probe)}, "
                f"{threads} threads"
                + (f" [{'; '.join(steps)}]" if steps else "")
            )
            return Choice(chosen.name, candidate.engine, candidate.device, candidate.precision, threads,
                          candidate.delegate, reason, rejected)
    raise ProfileError(f"no inference engine can run on this box ({describe(probe)}): {'; '.join(rejected)}")


#: the order in which a command picks a precision on its own: the fastest file this box runs exactly first
PRECISION_ORDER = ("int8", "fp16", "fp32")


@dataclass(frozen=True)
class FileChoice:
    """Which model file a command runs: ``missing`` names CPU instructions the file needs that this CPU lacks (an
    explicit precision the user asked for), ``instead`` the (engine, precision) the box would have been given."""

    engine: str
    precision: str | None  # None: the engine has no file (the manifest's lookup names what exists)
    device: str | None
    reason: str
    missing: list[str] = field(default_factory=list)
    instead: tuple[str, str] | None = None
    delegate: str | None = None  # the profile's LiteRT delegate (engine auto)


def _on_cpu(device: str | None) -> bool:
    return device is None or device.upper().startswith(("CPU", "AUTO"))


def _exact(probe: Probe, files: Mapping[tuple[str, str], Sequence[str]], engine: str,
           device: str | None) -> str | None:
    """The preferred precision of ``engine``'s files that this box computes exactly."""
    for precision in PRECISION_ORDER:
        needs = files.get((engine, precision))
        if needs is not None and not (_on_cpu(device) and probe.cpu.missing(needs)):
            return precision
    return None


def choose_file(probe: Probe, files: Mapping[tuple[str, str], Sequence[str]], engine: str = "auto",
                precision: str | None = None, device: str | None = None,
                directory: Path = PROFILES_DIR) -> FileChoice:
    """The one answer every command uses for "which file of this model": ``files`` maps each (engine, precision)
    of a manifest to the CPU instructions it needs. ``engine="auto"`` asks :func:`choose_engine`; a missing
    ``precision`` is the fastest file of the engine that this CPU runs exactly. An explicit choice is kept, with
    ``missing``/``instead`` filled in when this CPU cannot run it exactly."""
    reason, delegate = "engine and precision given", None
    if engine == "auto":
        try:
            choice = choose_engine(probe, available=files, directory=directory)
            engine, reason = choice.engine, choice.reason
            device = device or (choice.device if choice.device != "CPU" else None)  # CPU: every engine's default
            precision, delegate = precision or choice.precision, choice.delegate
        except ProfileError as exc:
            engine = next((e for e, _ in files if _exact(probe, files, e, device)), next(iter(files))[0])
            reason = f"no device profile fits ({exc}); the first engine with a file: {engine}"
    if precision is None:
        precision = _exact(probe, files, engine, device)
        reason = f"{reason}; {engine}/{precision}: the fastest {engine} file this CPU runs exactly"
        if precision is None:
            precision = next((p for p in PRECISION_ORDER if (engine, p) in files), None)
    needs = files.get((engine, precision or ""), [])
    missing = probe.cpu.missing(needs) if _on_cpu(device) else []
    better = _exact(probe, files, engine, device) if missing else None
    return FileChoice(engine, precision, device, reason, missing, (engine, better) if better else None,
                      delegate if engine == "litert" else None)
