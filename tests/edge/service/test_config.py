"""edge.yaml validation: defaults that work, and errors naming file, field and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_config

MINIMAL = "store: s1\ndevice: d1\ncameras:\n  - {id: door, source: /videos/door.mp4}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    return path


def test_minimal_config_has_working_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL + "outbox: {path: state/outbox.db}\n"))
    assert config.client_id == "d1" and config.mqtt.protocol == "5" and config.mqtt.port == 1883
    assert config.outbox.path == tmp_path / "state" / "outbox.db"  # relative to the config file
    assert config.cameras[0].pace and not config.cameras[0].loop


@pytest.mark.parametrize(("extra", "message"), [
    ("mqtt: {port: abc}\n", "edge.yaml: mqtt.port = 'abc': Input should be a valid integer"),
    ("mqtt: {port: 70000}\n", "mqtt.port = 70000: Input should be less than or equal to 65535"),
    ("mqtt: {protocol: '4'}\n", "mqtt.protocol = '4': Input should be '5' or '3.1.1'"),
    ("mqtt: {tls: {cert: a.pem}}\n", "mqtt.tls: Value error, cert and key must be given together"),
    ("outbox: {cap_mb: 0.01}\n", "outbox.cap_mb = 0.01: Input should be greater than or equal to 0.25"),
    ("model: {engine: tensorrt}\n", "model.engine = 'tensorrt'"),
    ("colour: blue\n", "colour = 'blue': Extra inputs are not permitted"),
])
def test_invalid_field_names_file_field_and_value(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL + extra))
    assert str(info.value).startswith(str(tmp_path / "edge.yaml")) and message in str(info.value)


def test_camera_errors_name_the_camera_index(tmp_path: Path) -> None:
    text = "store: s1\ndevice: d1\ncameras:\n  - {id: a, source: x}\n  - {id: 'bad id', source: y, fps: -1}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "cameras[1].id = 'bad id'" in str(info.value) and "cameras[1].fps = -1" in str(info.value)


def test_missing_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "store: [unclosed\n"))
    with pytest.raises(ConfigError, match="device: Field required"):
        load_config(write(tmp_path, "store: s1\ncameras: [{id: a, source: x}]\n"))
    with pytest.raises(ConfigError, match="camera ids must be unique, repeated: a"):
        load_config(write(tmp_path, "store: s\ndevice: d\ncameras: [{id: a, source: x}, {id: a, source: y}]\n"))


@pytest.mark.parametrize(("model", "message"), [
    ("{engine: openvino, options: {hint: FAST}}",
     "model.options.hint = 'FAST': Input should be 'LATENCY', 'THROUGHPUT' or 'CUMULATIVE_THROUGHPUT' "
     "(engine openvino)"),
    ("{engine: openvino, options: {hnit: LATENCY}}",
     "model.options.hnit = 'LATENCY': engine openvino has no such option (its options: cache_dir, hint"),
    ("{engine: onnxruntime, options: {streams: 0}}", "model.options.streams = 0: Input should be greater than"),
    ("{engine: litert, options: {delegate: coral}}", "model.options.delegate = 'coral': Input should be 'xnnpack'"),
    ("{engine: litert, device: GPU}", "model.device = 'GPU': engine litert has no such option"),
    ("{engine: openvino, device: TPU}", "model.device = 'TPU': Value error, unknown device"),
    ("{options: {device: GPU}}", "model.options.device = 'GPU': set model.device, not model.options.device"),
    ("{options: {hnit: 2}}", "model.options.hnit = 2: no engine has this option (engine options: cache_dir, delegate"),
    ("{options: {hint: FAST}}", "model.options.hint = 'FAST': Input should be 'LATENCY'"),
    ("{options: {threads: many}}", "model.options.threads = 'many': Input should be a valid integer"),
    ("{options: {hint: THROUGHPUT, delegate: edgetpu}}",
     "model.options: these options fit no single engine: hint (openvino); delegate (litert)"),
    ("{engine: tensorrt}", "model.engine = 'tensorrt': Value error, unknown engine 'tensorrt' (choose from: auto, "
                           "openvino, onnxruntime, litert)"),
])
def test_engine_options_are_checked_when_the_config_loads(tmp_path: Path, model: str, message: str) -> None:
    """Each engine's own config checks model.options (and model.device) at load, not when the model loads."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MINIMAL + f"model: {model}\n"))
    assert str(info.value).startswith(f"{tmp_path / 'edge.yaml'}: {message}")


@pytest.mark.parametrize("model", [
    "{engine: openvino, device: GPU, options: {hint: THROUGHPUT, threads: 2, inference_precision: f32}}",
    "{engine: onnxruntime, options: {streams: 2, threads: 1}}",
    "{engine: litert, options: {delegate: EdgeTPU}}",  # as hardware profiles spell it
    "{options: {threads: 2}}",  # engine auto: options every engine has
    "{options: {hint: THROUGHPUT}}",  # engine auto: one engine's options, checked again when auto has chosen
    "{device: NPU, options: {hint: LATENCY}}",
    "{engine: onnxruntime, options: {streams: null}}",  # None: the engine's default, as create() takes it
])
def test_valid_engine_options_load_unchanged(tmp_path: Path, model: str) -> None:
    config = load_config(write(tmp_path, MINIMAL + f"model: {model}\n"))
    assert isinstance(config.model.options, dict)  # kept as written: the engine validates them again on load


def test_a_registered_engine_is_a_valid_engine_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One source of engine names: the registry (a plugin registered by key is accepted with its own options)."""
    from edge.engines import base

    plugins = {**base.ENGINES.targets, "plugin": "edge.engines.litert:LiteRTEngine"}
    monkeypatch.setattr(base, "ENGINES", base.Plugins("engine", base.EngineError, plugins))
    config = load_config(write(tmp_path, MINIMAL + "model: {engine: plugin, options: {delegate: xnnpack}}\n"))
    assert config.model.engine == "plugin"
    with pytest.raises(ConfigError, match=r"model\.options\.hint = 'LATENCY': engine plugin has no such option"):
        load_config(write(tmp_path, MINIMAL + "model: {engine: plugin, options: {hint: LATENCY}}\n"))


def test_loading_a_config_imports_no_inference_runtime(tmp_path: Path) -> None:
    """Engine modules are imported to check options; their runtime libraries only when a model loads."""
    import subprocess
    import sys

    path = write(tmp_path, MINIMAL + "model: {engine: openvino, options: {hint: THROUGHPUT}}\n")
    code = ("import sys; from edge.config import load_config; load_config(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('openvino', 'onnxruntime', 'ai_edge_litert', 'tflite_runtime', 'cv2', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.strip() == "[]"


def test_edge_check_reports_a_bad_engine_option_in_one_line(tmp_path: Path) -> None:
    from edge.check import Step, check

    steps: list[Step] = []
    path = write(tmp_path, MINIMAL + "model: {engine: openvino, options: {hint: FAST}}\n")
    assert not check(path, report=steps.append)
    assert [s.line() for s in steps] == [
        f"FAIL config: {path}: model.options.hint = 'FAST': Input should be 'LATENCY', 'THROUGHPUT' or "
        "'CUMULATIVE_THROUGHPUT' (engine openvino)"]
