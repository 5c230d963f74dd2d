"""The OpenEPaperLink driver against a local access point that speaks the firmware's HTTP API (imgupload,
jsonupload, get_db), with slow replies, 500s, 409s, garbage, dropped connections and an access point that goes
away: a pushed label or a failed one with its reason, never an exception out of the retry loop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from PIL import ImageChops

from hardware.labels.base import Ack, LabelContent, LabelError, create, parse_gateway_config, push_with_retry
from hardware.labels.openepaperlink import OpenEPaperLinkGateway
from hardware.labels.render import render_label
from tests.hardware.label_gateways import AccessPoint

MAC = "0000021EDE0F3B1C"


@pytest.fixture
def ap() -> Iterator[AccessPoint]:
    with AccessPoint(tags=[MAC, "00000197E5CB3B38"]) as instance:
        yield instance


def gateway(ap: AccessPoint, **options: object) -> OpenEPaperLinkGateway:
    config = parse_gateway_config({"type": "openepaperlink", "url": ap.url, "timeout_s": 1.0, "attempts": 3,
                                   "retry_min_s": 0.01, "retry_max_s": 0.02, **options})
    made = create(config)
    assert isinstance(made, OpenEPaperLinkGateway)
    return made


def content(label: str = MAC) -> LabelContent:
    base = LabelContent(label, "SKU-1", 2.49, "EUR", was=2.99, promo="-17%")
    return replace(base, image=render_label(base, 296, 128))


def test_image_upload_is_the_firmware_request(ap: AccessPoint) -> None:
    label = content(label="00:00:02:1e:de:0f:3b:1c")  # separators and case are normalised
    ack = push_with_retry(gateway(ap), label)
    assert ack == Ack("00:00:02:1e:de:0f:3b:1c", "Ok, saved; pending 1", 1)
    assert [(u.mac, u.kind, u.dither) for u in ap.uploads] == [(MAC, "image", "0")]
    assert ap.requests == ["POST /imgupload", "GET /get_db"]
    shown = ap.shown(MAC)
    assert shown is not None and shown.size == (296, 128) and shown.format == "JPEG"
    assert label.image is not None
    diff = ImageChops.difference(shown.convert("L"), label.image.convert("L"))
    assert sum(diff.histogram()[64:]) < 0.01 * 296 * 128  # the same picture, up to JPEG noise


def test_json_template_upload(ap: AccessPoint) -> None:
    push_with_retry(gateway(ap, mode="json"), content())
    [upload] = ap.uploads
    template = json.loads(upload.data)
    texts = [e["text"][2] for e in template if "text" in e]
    assert texts == ["SKU-1", "2.99 EUR", "2.49", "EUR", "-17%"]
    assert {"line", "box"} <= {k for e in template for k in e}  # the struck price and the promo band


def test_unknown_tag_fails_at_once_not_retried(ap: AccessPoint) -> None:
    with pytest.raises(LabelError, match="does not know this tag") as err:
        push_with_retry(gateway(ap), content(label="AABBCCDDEEFF"))
    assert not err.value.retry and ap.requests == ["POST /imgupload"]
    with pytest.raises(LabelError, match="not an OpenEPaperLink tag MAC"):
        push_with_retry(gateway(ap), content(label="shelf-7"))


@pytest.mark.parametrize("fault", [500, 409, "garbage", "drop", "slow"])
def test_a_fault_is_retried_and_the_label_still_arrives(ap: AccessPoint, fault: object) -> None:
    ap.slow_s = 2.0  # past the driver's 1 s timeout
    ap.faults = [fault]
    ack = push_with_retry(gateway(ap), content())
    assert ack.attempts == 2
    if fault == "slow":  # the timed-out upload still lands later: the tag gets the same image twice
        deadline = time.monotonic() + 10
        while len(ap.uploads) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(ap.uploads) == (2 if fault == "slow" else 1)


@pytest.mark.parametrize(("fault", "reason"), [
    (500, "HTTP 500"), (409, "HTTP 409: 'Come back later'"), ("garbage", "not the access point's"),
    ("drop", "unreachable"), ("slow", "timed out"),
])
def test_a_fault_that_persists_fails_with_its_reason(ap: AccessPoint, fault: object, reason: str) -> None:
    ap.slow_s = 2.0
    ap.faults = [fault] * 3
    started = time.monotonic()
    with pytest.raises(LabelError, match=reason) as err:
        push_with_retry(gateway(ap), content())
    assert "after 3 attempts" in str(err.value) and err.value.retry
    assert time.monotonic() - started < 3 * 1.0 + 1.5  # bounded by the timeouts, not the access point


def test_garbage_status_reply_is_a_failure(ap: AccessPoint) -> None:
    ap.faults = [None, "garbage"] * 3  # the upload works, get_db answers something that is not the firmware's
    with pytest.raises(LabelError, match="/get_db reply is not the access point's"):
        push_with_retry(gateway(ap), content())


def test_access_point_gone(ap: AccessPoint) -> None:
    gw = gateway(ap)
    push_with_retry(gw, content())
    ap.close()
    with pytest.raises(LabelError, match="unreachable") as err:
        push_with_retry(gw, content())
    assert "after 3 attempts" in str(err.value)


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"openepaperlink gateway: url = 'ftp://ap.local': .*http://HOST"):
        parse_gateway_config({"type": "openepaperlink", "url": "ftp://ap.local"})
    with pytest.raises(ValueError, match="openepaperlink gateway: dither = 7"):
        parse_gateway_config({"type": "openepaperlink", "url": "http://ap", "dither": 7})
    with pytest.raises(ValueError, match="unknown label gateway type 'zigbee'"):
        parse_gateway_config({"type": "zigbee"})
