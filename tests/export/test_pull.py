"""``smartstore models pull``: pinned digests and resumable downloads, against a real local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import smartstore
from export.common import ExportError
from export.pull import CATALOGUE, Release, Remote, fetch, pull


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files, honouring ``Range: bytes=N-`` (206) as publishers' CDNs do; records the ranges asked for."""

    ranges: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        wanted = self.headers.get("Range")
        RangeHandler.ranges.append(wanted or "")
        start = int(wanted.split("=")[1].split("-")[0]) if wanted else 0
        if start >= len(data) and wanted:
            self.send_error(416)
            return
        self.send_response(206 if wanted else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    RangeHandler.ranges = []
    handler = lambda *a: RangeHandler(*a, directory=str(root))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def _release(url: str, payload: bytes, algorithm: str = "sha256") -> Release:
    digest = hashlib.new(algorithm, payload).hexdigest()
    return Release((Remote(f"{url}/weights.bin", f"{algorithm}:{digest}", "build/download/weights.bin"),), "MIT",
                   "nothing")


def test_pull_downloads_and_verifies(server: tuple[str, Path], tmp_path: Path) -> None:
    url, www = server
    payload = bytes(range(256)) * 4096  # 1 MiB
    (www / "weights.bin").write_bytes(payload)
    paths, _ = pull("demo", tmp_path / "models", {"demo": _release(url, payload, "sha384")})
    assert paths[0].read_bytes() == payload
    assert RangeHandler.ranges == [""]
    pull("demo", tmp_path / "models", {"demo": _release(url, payload, "sha384")})
    assert len(RangeHandler.ranges) == 1  # present with the right digest: not fetched again


def test_pull_resumes_a_partial_download_with_range(server: tuple[str, Path], tmp_path: Path) -> None:
    url, www = server
    payload = bytes(reversed(range(256))) * 8192
    (www / "weights.bin").write_bytes(payload)
    dest = tmp_path / "models" / "demo" / "build" / "download" / "weights.bin"
    dest.parent.mkdir(parents=True)
    dest.with_name("weights.bin.part").write_bytes(payload[:700_000])  # an interrupted earlier run
    pull("demo", tmp_path / "models", {"demo": _release(url, payload)})
    assert RangeHandler.ranges == ["bytes=700000-"]
    assert dest.read_bytes() == payload
    assert not dest.with_name("weights.bin.part").exists()


def test_digest_mismatch_is_refused_and_the_part_removed(server: tuple[str, Path], tmp_path: Path) -> None:
    url, www = server
    (www / "weights.bin").write_bytes(b"tampered" * 1000)
    release = _release(url, b"the real weights")
    with pytest.raises(ExportError, match="sha256 mismatch"):
        pull("demo", tmp_path / "models", {"demo": release})
    assert not list((tmp_path / "models").rglob("weights.bin*"))


def test_unreachable_server_says_how_to_resume(tmp_path: Path) -> None:
    remote = Remote("http://127.0.0.1:9/none.bin", "sha256:" + "0" * 64, "x.bin")
    with pytest.raises(ExportError, match="run the same command again to resume"):
        fetch(remote, tmp_path / "x.bin", timeout=5)


def test_catalogue_pins_publisher_urls_and_digests() -> None:
    assert {"yolo11n-coco", "person-detection-retail-0013"} <= set(CATALOGUE)
    for release in CATALOGUE.values():
        for remote in release.files:
            algorithm, _, digest = remote.digest.partition(":")
            assert remote.url.startswith("https://")
            assert len(digest) == hashlib.new(algorithm).digest_size * 2


def test_cli_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert smartstore.main(["models", "pull", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("smartstore: error: unknown model 'no-such-model' to pull (known:") and "\n" not in err
