"""The BAN simulator served by uvicorn on a free 127.0.0.1 port, in a thread (real HTTP)."""

from collections.abc import Iterator
from contextlib import contextmanager

from poche_api.config import Settings
from poche_api.simulators import ban
from tests.fcm_server import serve_in_thread


@contextmanager
def serve_ban_simulator(settings: Settings) -> Iterator[str]:
    """Serve a fresh simulator; yields its base URL (what POCHE_BAN_BASE_URL would be)."""
    with serve_in_thread(ban.build(settings), "/_control") as base:
        yield base
