"""Fixtures of the data tests: a local HTTP server and the shared real datasets."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest's output clean
        pass


@pytest.fixture
def serve(monkeypatch) -> Iterator[Callable[[Path], str]]:
    """``serve(folder)`` starts an HTTP server of ``folder`` on 127.0.0.1 and returns its base URL."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # a proxy in the environment must not intercept
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    servers: list[ThreadingHTTPServer] = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def shared_data() -> Path:
    """The shared real datasets beside the checkout (or ``$TUNELAB_SHARED_DATA``); skip when absent."""
    beside_checkout = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    candidates = [os.environ.get("TUNELAB_SHARED_DATA"), beside_checkout]
    for candidate in candidates:
        if candidate and Path(candidate, "mnist").is_dir():
            return Path(candidate).resolve()
    pytest.skip("the shared datasets (../shared/data) are not on this machine")
