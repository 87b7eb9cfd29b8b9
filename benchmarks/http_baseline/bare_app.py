"""The floor for the HTTP baseline: a raw ASGI app (no framework) replaying one answer.

At startup (ASGI lifespan) it reads the body captured from the real endpoint, from the file
named by ``HTTP_BASELINE_BODY_FILE``, and the response headers to replay (a JSON object of
name → value, e.g. content-type, etag, cache-control, vary) from ``HTTP_BASELINE_HEADERS_FILE``
when set; without it the answer carries ``content-type: application/json`` only.

Every GET answers 200 with those bytes, or 304 with no body when ``If-None-Match`` carries the
replayed ETag (or ``*``), which is what ``/v1/communes/{insee}`` does. Run it the way the
benchmark does::

    HTTP_BASELINE_BODY_FILE=body.json uvicorn benchmarks.http_baseline.bare_app:app \
        --port 8001 --no-access-log --log-level warning
"""

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY_ENV = "HTTP_BASELINE_BODY_FILE"
HEADERS_ENV = "HTTP_BASELINE_HEADERS_FILE"
# Headers that describe one answer's framing: uvicorn writes them itself.
_FRAMING = {"content-length", "transfer-encoding", "connection", "date", "server"}
# What a 304 keeps (RFC 9110 §15.4.5): the validators and caching headers, not the body's type.
_NOT_MODIFIED_KEEP = {"etag", "cache-control", "vary", "expires", "content-location"}


class BareApp:
    """One pre-built answer; the per-request work is a header scan and two ``send`` calls."""

    def __init__(self) -> None:
        self._body = b""
        self._etag: bytes | None = None
        self._ok_headers: list[tuple[bytes, bytes]] = []
        self._not_modified_headers: list[tuple[bytes, bytes]] = []

    def load(self, body_file: Path, headers_file: Path | None) -> None:
        self._body = body_file.read_bytes()
        replayed: dict[str, str] = {"content-type": "application/json"}
        if headers_file is not None:
            raw = json.loads(headers_file.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError(f"{headers_file}: expected a JSON object of headers")
            replayed = {str(name).lower(): str(value) for name, value in raw.items()}
        pairs = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in replayed.items()
            if name not in _FRAMING
        ]
        self._ok_headers = [*pairs, (b"content-length", str(len(self._body)).encode())]
        self._not_modified_headers = [(n, v) for n, v in pairs if n.decode() in _NOT_MODIFIED_KEEP]
        etag = replayed.get("etag")
        self._etag = etag.encode("latin-1") if etag else None

    def _not_modified(self, scope: Scope) -> bool:
        if self._etag is None:
            return False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                stripped = value.strip()
                return stripped == b"*" or any(
                    tag.strip().removeprefix(b"W/") == self._etag.removeprefix(b"W/")
                    for tag in stripped.split(b",")
                )
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self._not_modified(scope):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 304,
                        "headers": self._not_modified_headers,
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
            await send({"type": "http.response.start", "status": 200, "headers": self._ok_headers})
            await send({"type": "http.response.body", "body": self._body})
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    body_file = os.environ.get(BODY_ENV)
                    if not body_file:
                        raise RuntimeError(f"{BODY_ENV} is not set")
                    headers_file = os.environ.get(HEADERS_ENV)
                    self.load(Path(body_file), Path(headers_file) if headers_file else None)
                except (OSError, ValueError, RuntimeError) as error:  # refuse to start, say why
                    await send({"type": "lifespan.startup.failed", "message": repr(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


app = BareApp()
