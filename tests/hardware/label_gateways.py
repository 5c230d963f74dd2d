"""Simulated label gateways for tests (the label drivers' and the end-to-end price tests'): no hardware needed.

* :class:`AccessPoint`: an OpenEPaperLink access point on ``http://127.0.0.1:<free port>`` (stdlib
  ``http.server`` in a thread) that speaks the endpoints the driver uses as the firmware does
  (``POST /imgupload`` multipart ``mac``/``dither``/``file``, ``POST /jsonupload`` ``mac``/``json``,
  ``GET /get_db?mac=`` and ``GET /get_db`` (every tag); docs/labels.md).
  ``AccessPoint(tags=["0000021EDE0F3B1C"])``; what it received is in ``uploads`` (one :class:`Upload` per
  accepted upload) and :meth:`shown` (the last image of a tag, a PIL image).
  Faults: ``delay_s`` (every reply that late), ``faults`` (a list consumed one per request: ``500``, ``409``,
  ``"garbage"`` (200 with bytes that are not the firmware's), ``"drop"`` (the connection closes with no reply),
  ``"slow"`` (the reply after ``slow_s``)), :meth:`close` (the access point goes away: connections refused).
* :class:`SerialGateway`: a pty (``os.openpty``) behind a symlink ``port`` (as ``/dev/serial/by-id/...``) that
  speaks the serial protocol of :mod:`hardware.labels.serial_gateway` exactly. ``shown`` holds what each tag shows
  (the PRICE fields), ``received`` every valid line. ``script`` is consumed one per PRICE: ``"ack"``,
  ``"nak:CODE"``, ``"garbage"`` (a line that is not the protocol, then nothing), ``"badcrc"``, ``"stale"`` (an ACK
  for another seq), ``"silence"`` (no answer), ``"vanish"`` (the device is unplugged: the pty closes); an empty
  script ACKs. :meth:`revive` plugs a new device in behind the same ``port``.

Both are context managers (``with AccessPoint(...) as ap:``) and close on exit. :func:`labels_section` is the
``labels:`` section of an ``edge.yaml`` that drives them (tag MACs ``0000*`` to the access point, ``tag-*`` to the
serial gateway).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from hardware.labels.serial_gateway import PROTOCOL, frame, unframe


@dataclass
class Upload:
    mac: str
    kind: str  # "image" or "json"
    data: bytes  # the JPEG, or the JSON template's text
    dither: str | None = None


def _tag_record(mac: str) -> dict[str, Any]:
    return {"mac": mac, "hash": "00" * 16, "lastseen": int(time.time()), "nextupdate": 0, "nextcheckin": 0,
            "pending": 0, "alias": "", "contentMode": 0, "LQI": 100, "RSSI": -60, "temperature": 21,
            "batteryMv": 2900, "hwType": 5, "wakeupReason": 0, "capabilities": 0, "modecfgjson": "",
            "isexternal": False, "apip": "0.0.0.0", "rotate": 0, "lut": 0, "invert": 0, "updatecount": 0,
            "updatelast": 0, "ch": 11, "ver": 0}


class AccessPoint:
    """A simulated OpenEPaperLink access point (see the module docstring)."""

    def __init__(self, tags: list[str], delay_s: float = 0.0, slow_s: float = 5.0) -> None:
        self.tags = {mac.upper(): _tag_record(mac.upper()) for mac in tags}
        self.delay_s, self.slow_s = delay_s, slow_s
        self.faults: list[Any] = []
        self.uploads: list[Upload] = []
        self.requests: list[str] = []
        self._lock = threading.Lock()
        ap = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes | str, ctype: str = "text/plain") -> None:
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _fault(self) -> bool:
                """Apply the next scripted fault; True when it answered (or dropped) the request."""
                with ap._lock:
                    fault = ap.faults.pop(0) if ap.faults else None
                if ap.delay_s:
                    time.sleep(ap.delay_s)
                if fault is None:
                    return False
                if fault == "slow":
                    time.sleep(ap.slow_s)
                    return False
                if fault == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return True
                if fault == "garbage":
                    self._reply(200, b"\x00\xffHTTP/0.9 <html>router login</html>", "text/html")
                    return True
                self._reply(int(fault), "Come back later" if fault == 409 else "Internal Server Error")
                return True

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                ap.requests.append(f"GET {url.path}")
                if self._fault():
                    return
                if url.path != "/get_db":
                    self._reply(404, "Not found")
                    return
                query = parse_qs(url.query)
                if "mac" not in query:  # the whole tag list (the firmware pages it past 5000 bytes: "continu")
                    start = int((query.get("pos") or ["0"])[0])
                    self._reply(200, json.dumps({"tags": list(ap.tags.values())[start:]}), "application/json")
                    return
                mac = query["mac"][0]
                if len(mac) not in (12, 16) or any(c not in "0123456789abcdefABCDEF" for c in mac):
                    self._reply(200, '{"error": "malformatted parameter"}', "application/json")
                    return
                record = ap.tags.get(mac.upper())
                self._reply(200, json.dumps({"tags": [record] if record else []}), "application/json")

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                ap.requests.append(f"POST {url.path}")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self._fault():
                    return
                if url.path == "/imgupload":
                    self._image(body)
                elif url.path == "/jsonupload":
                    form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                    if "mac" not in form or "json" not in form:
                        self._reply(400, "Missing parameters")
                    elif form["mac"].upper() not in ap.tags:
                        self._reply(400, "mac not found in tagDB")
                    else:
                        json.loads(form["json"])  # a template that is not JSON fails the test here
                        ap._accept(Upload(form["mac"].upper(), "json", form["json"].encode()))
                        self._reply(200, "Ok, saved")
                else:
                    self._reply(404, "Not found")

            def _image(self, body: bytes) -> None:
                head = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
                message = BytesParser(policy=HTTP).parsebytes(head + body)
                parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
                names = list(parts)
                # the firmware reads mac when the file's first chunk arrives: mac must come before file
                if "mac" not in parts or "file" not in parts or names.index("mac") > names.index("file"):
                    self._reply(400, "parameters incomplete")
                    return
                mac = str(parts["mac"].get_content()).strip().upper()
                if mac not in ap.tags:
                    self._reply(400, "mac not found")
                    return
                data = parts["file"].get_content()
                Image.open(io.BytesIO(data)).verify()  # a file that is not an image fails the test here
                dither = str(parts["dither"].get_content()).strip() if "dither" in parts else None
                ap._accept(Upload(mac, "image", data, dither))
                self._reply(200, "Ok, saved")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-ap", daemon=True)
        self._thread.start()

    def _accept(self, upload: Upload) -> None:
        with self._lock:
            self.uploads.append(upload)
            record = self.tags[upload.mac]
            record["hash"] = hashlib.md5(upload.data).hexdigest()
            record["pending"] += 1
            record["contentMode"] = 24 if upload.kind == "image" else 19

    def shown(self, mac: str) -> Image.Image | None:
        """The last image uploaded for ``mac`` (None: none, or only JSON templates)."""
        images = [u for u in self.uploads if u.mac == mac.upper() and u.kind == "image"]
        return Image.open(io.BytesIO(images[-1].data)) if images else None

    def close(self) -> None:
        """The access point goes away: the port stops listening."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> AccessPoint:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


@dataclass
class _Pty:
    master: int
    slave: int


@dataclass
class SerialGateway:
    """A simulated serial label gateway behind the symlink ``port`` (see the module docstring)."""

    folder: Path
    firmware: str = "sim-1.0"
    protocol: int = PROTOCOL
    script: list[str] = field(default_factory=list)
    shown: dict[str, dict[str, str]] = field(default_factory=dict)
    received: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = self.folder / "ttyESL0"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pty: _Pty | None = None
        self.revive()

    def revive(self) -> None:
        """A (new) device behind ``port``: a fresh pty, the symlink pointed at it, its reader thread started."""
        self.vanish()
        master, slave = os.openpty()
        tty.setraw(slave)
        self._pty = _Pty(master, slave)
        tmp = self.port.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.port)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(self._pty,), name="fake-esl-gw", daemon=True)
        self._thread.start()

    def vanish(self) -> None:
        """The device is unplugged: its pty closes, the symlink is left dangling (as udev's would be removed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        if self._pty is not None:
            for fd in (self._pty.master, self._pty.slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._pty = None

    def close(self) -> None:
        self.vanish()

    def __enter__(self) -> SerialGateway:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def _run(self, pty: _Pty) -> None:
        buffer = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([pty.master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(pty.master, 4096)
            except OSError:
                return
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if self._answer(pty, line) == "vanish":
                    threading.Thread(target=self.vanish, daemon=True).start()
                    return

    def _answer(self, pty: _Pty, line: bytes) -> str | None:
        fields = unframe(line)
        if fields is None or len(fields) < 2:
            return None  # a real gateway ignores lines it cannot read
        self.received.append(fields)
        command, seq = fields[0], fields[1]
        if command == "HELLO":
            os.write(pty.master, frame("READY", seq, self.protocol, self.firmware))
            return None
        if command != "PRICE" or len(fields) != 8:
            os.write(pty.master, frame("NAK", seq, "BAD_FIELD"))
            return None
        step = self.script.pop(0) if self.script else "ack"
        if step == "ack":
            tag = fields[2]
            self.shown[tag] = dict(zip(("price", "currency", "was", "sku", "promo"), fields[3:], strict=True))
            os.write(pty.master, frame("ACK", seq))
        elif step.startswith("nak:"):
            os.write(pty.master, frame("NAK", seq, step[4:]))
        elif step == "garbage":
            os.write(pty.master, b"\x00\xfe+++ATH0 OK\r\n")
        elif step == "badcrc":
            body, _, sent = frame("ACK", seq).strip().rpartition(b"*")
            os.write(pty.master, body + b"*" + f"{int(sent, 16) ^ 1:04X}".encode() + b"\r\n")
        elif step == "stale":
            os.write(pty.master, frame("ACK", int(seq) + 1000))
        return step


def labels_section(ap: AccessPoint | None, radio: SerialGateway | None, timeout_s: float = 2.5) -> dict[str, Any]:
    """The ``labels:`` section of an edge config for these simulators (short retry backoff for tests)."""
    fast = {"timeout_s": timeout_s, "retry_min_s": 0.05, "retry_max_s": 0.1}
    gateways = [{"type": "openepaperlink", "url": ap.url, "labels": ["0000*"], **fast}] if ap else []
    gateways += [{"type": "serial", "port": str(radio.port), "labels": ["tag-*"], **fast}] if radio else []
    return {"gateways": gateways}
