"""Counting configuration: bad lines and zones are refused with the offending value named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.analytics.config import CountingConfig, LineConfig, TrackerConfig, ZoneConfig, parse_line, parse_zone


def test_zero_length_line_names_the_point() -> None:
    with pytest.raises(ValidationError, match=r"line 'door': segment 0 from \(10\.0, 20\.0\) to \(10\.0, 20\.0\)"):
        LineConfig(name="door", points=[(10, 20), (10, 20)])


def test_self_intersecting_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"zone 'bow' polygon 0,0;100,100;100,0;0,100 intersects itself"):
        ZoneConfig(name="bow", polygon=[(0, 0), (100, 100), (100, 0), (0, 100)])


@pytest.mark.parametrize(
    ("polygon", "why"),
    [([(0, 0), (50, 50), (100, 100)], "zero area"), ([(0, 0), (10, 0), (10, 0), (0, 10)], "repeats a point")],
)
def test_degenerate_zone_is_refused(polygon: list[tuple[float, float]], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        ZoneConfig(name="z", polygon=polygon)


def test_concave_zone_is_fine() -> None:
    ZoneConfig(name="L", polygon=[(0, 0), (100, 0), (100, 40), (40, 40), (40, 100), (0, 100)])


def test_points_outside_the_frame_are_named() -> None:
    config = CountingConfig(
        lines=[LineConfig(name="door", points=[(0, 10), (640, 10)])],
        zones=[ZoneConfig(name="till", polygon=[(10, 10), (700, 10), (10, 400)])],
    )
    CountingConfig(lines=config.lines).check_frame(640, 480)  # the line touches the border: fine
    with pytest.raises(ValueError, match=r"zone 'till': point \(700,10\) is outside the 640x480 frame"):
        config.check_frame(640, 480)
    with pytest.raises(ValueError, match=r"line 'door': point \(640,10\) is outside the 320x240 frame"):
        config.check_frame(320, 240)


def test_names_must_be_unique_and_thresholds_ordered() -> None:
    line = LineConfig(name="a", points=[(0, 0), (1, 1)])
    with pytest.raises(ValidationError, match="name 'a' is used twice"):
        CountingConfig(lines=[line, line])
    with pytest.raises(ValidationError, match=r"low_thresh 0\.6 is above high_thresh 0\.5"):
        TrackerConfig(low_thresh=0.6, high_thresh=0.5)


def test_yaml_shaped_config_round_trips() -> None:
    raw = {
        "tracker": {"high_thresh": 0.4},
        "lines": [{"name": "entrance", "points": [[0, 300], [640, 300]], "margin_px": 8}],
        "zones": [{"name": "till", "kind": "queue", "polygon": [[0, 0], [100, 0], [100, 100]]}],
    }
    config = CountingConfig.model_validate(raw)
    assert config.lines[0].points == [(0.0, 300.0), (640.0, 300.0)]
    assert CountingConfig.model_validate(config.model_dump()) == config
    with pytest.raises(ValidationError, match="typo"):
        CountingConfig.model_validate({**raw, "typo": 1})


def test_command_line_forms() -> None:
    assert parse_line("10,20,30,40", "line1").points == [(10, 20), (30, 40)]
    assert parse_line("door=0,1,2,3,4,5", "line1").name == "door"
    zone = parse_zone("till=0,0;100,0;100,100", "zone1", kind="queue")
    assert (zone.name, zone.kind, len(zone.polygon)) == ("till", "queue", 3)
    with pytest.raises(ValueError, match=r"line '1,2,3': need x0,y0,x1,y1"):
        parse_line("1,2,3", "line1")
    with pytest.raises(ValueError, match=r"'a,b,c,d' is not a list of numbers"):
        parse_line("a,b,c,d", "line1")
    with pytest.raises(ValueError, match=r"zone '0,0;1,1': need at least three"):
        parse_zone("0,0;1,1", "zone1")
