"""Fetching a bundle file: a cut connection resumes with HTTP Range; the size cap and the sha256 hold; plain HTTP
only from loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from contract.commands import FileEntry
from edge.fetch import FetchError, fetch_file
from tests.edge.fleet.helpers import BundleServer


def _entry(server: BundleServer, data: bytes, size: int | None = None) -> FileEntry:
    (server.root / "f.bin").write_bytes(data)
    return FileEntry("f.bin", hashlib.sha256(data).hexdigest(), len(data) if size is None else size,
                     (f"{server.url}/f.bin",))


def test_a_cut_download_resumes_with_range(server: BundleServer, tmp_path: Path) -> None:
    data = bytes(range(256)) * 400
    entry = _entry(server, data)
    server.cut_after = 30_000  # the first response stops there and the connection drops
    fetch_file(entry, tmp_path / "out" / "f.bin", timeout=5, attempts=3)
    assert (tmp_path / "out" / "f.bin").read_bytes() == data
    assert server.ranges == [None, "bytes=30000-"]  # the second request asked only for the rest
    assert not (tmp_path / "out" / "f.bin.part").exists()


def test_a_part_left_by_an_earlier_attempt_is_resumed(server: BundleServer, tmp_path: Path) -> None:
    data = b"x" * 5000 + b"y" * 5000
    entry = _entry(server, data)
    (tmp_path / "f.bin.part").write_bytes(data[:4096])  # e.g. the box was restarted mid-download
    fetch_file(entry, tmp_path / "f.bin", timeout=5)
    assert (tmp_path / "f.bin").read_bytes() == data and server.ranges == ["bytes=4096-"]


def test_size_cap_sha256_and_scheme(server: BundleServer, tmp_path: Path) -> None:
    entry = _entry(server, b"z" * 10_000, size=4_000)  # the server sends more than the manifest says
    with pytest.raises(FetchError, match="more than the manifest's 4000 bytes"):
        fetch_file(entry, tmp_path / "a.bin", timeout=5)
    bad = FileEntry("f.bin", "0" * 64, 10_000, entry.urls)
    with pytest.raises(FetchError, match="does not match the manifest"):
        fetch_file(bad, tmp_path / "b.bin", timeout=5)
    assert not (tmp_path / "b.bin").exists() and not (tmp_path / "b.bin.part").exists()
    with pytest.raises(FetchError, match="over https"):
        fetch_file(FileEntry("f.bin", "0" * 64, 1, ("http://example.com/f.bin",)), tmp_path / "c.bin")
