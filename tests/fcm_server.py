"""A uvicorn server on a free 127.0.0.1 port, in a thread, serving the FCM simulator."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from poche_api.config import Settings
from poche_api.simulators import fcm


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(
    app: ASGIApp, probe_path: str, *, port: int | None = None, **options: Any
) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (``port``, else a free one) in a thread (real
    HTTP); yields its base URL once ``probe_path`` answers. ``options`` go to uvicorn.Config
    (``lifespan="on"`` makes a failed startup fail here instead of being logged)."""
    port = port or free_port()
    chosen: dict[str, Any] = {"log_level": "warning", "access_log": False, **options}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **chosen)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            httpx.get(f"{base}{probe_path}", timeout=1)
            break
        except httpx.TransportError:
            if not thread.is_alive():
                raise RuntimeError(f"the server of {base} stopped before answering") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serve_fcm_simulator(settings: Settings) -> Iterator[str]:
    """Serve a fresh simulator; yields its base URL (what POCHE_FCM_BASE_URL would be)."""
    with serve_in_thread(fcm.build(settings), "/_control/stats") as base:
        yield base


class FcmControl:
    """The simulator's test-only controls and counters, over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def __call__(self, action: str, **body: object) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            answer = await client.post(f"/_control/{action}", json=body)
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    async def stats(self) -> dict[str, Any]:
        return await self("stats")

    async def raw(self, path: str, body: object, **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            return await client.post(path, json=body, headers=headers)
