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
