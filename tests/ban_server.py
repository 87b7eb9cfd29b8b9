"""The BAN simulator served by uvicorn on a free 127.0.0.1 port, in a thread (real HTTP)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from poche_api.config import Settings
from poche_api.simulators import ban
from tests.fcm_server import free_port


@contextmanager
def serve_ban_simulator(settings: Settings) -> Iterator[str]:
    """Serve a fresh simulator; yields its base URL (what POCHE_BAN_BASE_URL would be)."""
    port = free_port()
    config = uvicorn.Config(
        ban.build(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{base}/_control", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
