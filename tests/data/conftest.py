"""Fixtures for the data tests: a local HTTP mirror, and no proxy or system dataset copy.

Downloads are exercised against an ``http.server`` on 127.0.0.1 serving small IDX files the
tests write, with the pinned checksums swapped for theirs; nothing here touches the internet.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlpbench.data as data


class _MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; under /cut/ it promises 100,000 bytes, sends 102 and hangs up."""

    def do_GET(self) -> None:
        if not self.path.startswith("/cut/"):
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + bytes(100))

    def log_message(self, format: str, *args: object) -> None:
        """Keep request logs out of pytest's captured stderr."""


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on an ephemeral 127.0.0.1 port serving ``<root>/``; yields (url, root)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_MirrorHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxy_no_system_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep loopback requests off any configured proxy, and ignore a system Fashion-MNIST."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", tmp_path / "no-system-copy")
