"""The OpenEPaperLink access point's HTTP API (the open-source ESL firmware, ``ESP32_AP-Flasher/src/web.cpp``;
docs/labels.md cites what this follows):

* ``POST /imgupload``, ``multipart/form-data`` with ``mac`` (the tag, 12 or 16 hex digits), ``dither`` (0 none,
  1 Floyd-Steinberg, 2 ordered) and ``file`` (a JPEG): ``200 Ok, saved``; ``400 mac not found``; ``409 Come back
  later`` (the access point is not running or is busy).
* ``POST /jsonupload``, a form with ``mac`` and ``json`` (a JSON drawing template): ``200 Ok, saved``; ``400 mac
  not found in tagDB`` or ``Missing parameters``; ``409 come back later``.
* ``GET /get_db?mac=...``: ``{"tags": [{"mac", "hash", "pending", "lastseen", "hwType", ...}]}`` (no such tag: an
  empty list; a malformed MAC: ``{"error": "malformatted parameter"}``).

After an upload the driver reads the tag back from ``/get_db`` (``confirm``): the tag must be there; its
``pending`` count is the acknowledgement's detail. Timeouts, refused connections, 409, 5xx and replies that are not
the firmware's (garbage) are retried; an unknown tag (400) is not.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import uuid
from typing import Any, Literal
from urllib import error, parse, request

from pydantic import Field, field_validator

from hardware.labels.base import GatewayConfig, LabelContent, LabelError, LabelGateway
from hardware.labels.render import json_template

MAC = re.compile(r"^(?:[0-9A-F]{12}|[0-9A-F]{16})$")
MAX_REPLY = 64 * 1024  # bytes read of any reply (get_db of one tag is well under 2 KiB)


class OpenEPaperLinkConfig(GatewayConfig):
    type: Literal["openepaperlink"] = "openepaperlink"
    url: str  # the access point, e.g. http://192.168.1.50
    mode: Literal["image", "json"] = "image"  # upload the rendered JPEG, or a JSON template the AP draws
    dither: int = Field(default=0, ge=0, le=2)  # images are drawn in the tags' own colours: no dithering
    confirm: bool = True  # read the tag back from /get_db after each upload

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected http://HOST[:PORT] of the access point, got {value!r}")
        return value.rstrip("/")


def tag_mac(label: str) -> str:
    """``label`` as the access point writes MACs (upper-case hex, no separators), or a :class:`LabelError`."""
    mac = label.replace(":", "").replace("-", "").upper()
    if not MAC.fullmatch(mac):
        raise LabelError(f"{label}: not an OpenEPaperLink tag MAC (12 or 16 hex digits)", retry=False)
    return mac


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type."""
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, ctype) in files.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                  f"Content-Type: {ctype}\r\n\r\n".encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


class OpenEPaperLinkGateway(LabelGateway):
    """Labels through one OpenEPaperLink access point."""

    name = "openepaperlink"
    Config = OpenEPaperLinkConfig
    config: OpenEPaperLinkConfig

    def describe(self) -> str:
        return f"access point {self.config.url}"

    def push(self, content: LabelContent) -> str:
        cfg = self.config
        mac = tag_mac(content.label)
        if cfg.mode == "image":
            if content.image is None:
                raise LabelError(f"{content.label}: no image rendered", retry=False)
            jpeg = io.BytesIO()
            content.image.convert("RGB").save(jpeg, "JPEG", quality=95)
            body, ctype = multipart({"mac": mac, "dither": str(cfg.dither)},
                                    {"file": (f"{mac}.jpg", jpeg.getvalue(), "image/jpeg")})
            self._upload("/imgupload", body, ctype, content.label)
        else:
            template = json.dumps(json_template(content, cfg.width, cfg.height), ensure_ascii=False)
            form = parse.urlencode({"mac": mac, "json": template}).encode()
            self._upload("/jsonupload", form, "application/x-www-form-urlencoded", content.label)
        if not cfg.confirm:
            return "Ok, saved"
        tag = self.tag(mac, content.label)
        return f"Ok, saved; pending {tag.get('pending')}"

    def probe(self) -> str:
        """``GET /get_db`` (the first page of the access point's tag list)."""
        status, text = self._call("GET", "/get_db", None, None, "probe")
        try:
            reply = json.loads(text) if status == 200 else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or not isinstance(reply.get("tags"), list):
            raise LabelError(f"{self.describe()}: /get_db answered HTTP {status}, not the access point's: "
                             f"{text[:60]!r}")
        more = " (more on further pages)" if "continu" in reply else ""
        return f"{self.describe()}: {len(reply['tags'])} tag(s) listed{more}"

    def tag(self, mac: str, label: str) -> dict[str, Any]:
        """The tag's record from ``GET /get_db?mac=``; :class:`LabelError` when absent or not the firmware's."""
        status, text = self._call("GET", f"/get_db?{parse.urlencode({'mac': mac})}", None, None, label)
        if status != 200:
            raise LabelError(f"{label}: {self.describe()}: /get_db answered HTTP {status}: {text[:60]!r}")
        try:
            reply = json.loads(text)
            tags = reply["tags"] if isinstance(reply, dict) and "error" not in reply else None
        except (ValueError, KeyError):
            tags = None
        if not isinstance(tags, list) or not all(isinstance(t, dict) for t in tags):
            raise LabelError(f"{label}: {self.describe()}: /get_db reply is not the access point's: {text[:60]!r}")
        found = [t for t in tags if str(t.get("mac", "")).upper() == mac]
        if not found:
            raise LabelError(f"{label}: {self.describe()} does not list tag {mac}", retry=False)
        return found[0]

    def _upload(self, path: str, body: bytes, ctype: str, label: str) -> None:
        status, text = self._call("POST", path, body, ctype, label)
        said = text.strip()
        if status == 200 and (not said or said.lower().startswith("ok")):
            return
        where = f"{label}: {self.describe()}: {path}"
        if status == 400 and "mac not found" in said.lower():
            raise LabelError(f"{where}: the access point does not know this tag ({said})", retry=False)
        if status == 400:
            raise LabelError(f"{where}: refused: {said[:80]!r}", retry=False)
        if status == 200:
            raise LabelError(f"{where}: reply is not the access point's: {said[:60]!r}")
        raise LabelError(f"{where}: HTTP {status}: {said[:60]!r}")

    def _call(self, method: str, path: str, body: bytes | None, ctype: str | None, label: str) -> tuple[int, str]:
        """One request: the status and the reply's text (at most :data:`MAX_REPLY` bytes); transport errors as
        retryable :class:`LabelError`s."""
        headers = {"Content-Type": ctype} if ctype else {}
        req = request.Request(self.config.url + path, data=body, method=method, headers=headers)
        try:
            with request.urlopen(req, timeout=self.config.timeout_s) as reply:
                return reply.status, reply.read(MAX_REPLY).decode("utf-8", "replace")
        except error.HTTPError as exc:
            return exc.code, exc.read(MAX_REPLY).decode("utf-8", "replace")
        except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbage
            reason = getattr(exc, "reason", exc)
            kind = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else "unreachable"
            raise LabelError(f"{label}: {self.describe()} {kind} ({reason})") from None
