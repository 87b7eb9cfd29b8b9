"""The floor for report creation: a raw ASGI app (no framework) that takes an upload and answers.

Every request's body is read to the end (as poche-api must before it can parse the form), then
one pre-built answer is sent (a GET, the readiness probe, gets 200): the status, body and headers captured from a real
``POST /v1/incidents/reports``. Nothing is parsed, stored or decoded. Configured from files named
by environment variables, read at startup (ASGI lifespan)::

    BARE_UPLOAD_BODY_FILE=answer.json BARE_UPLOAD_HEADERS_FILE=headers.json \
    BARE_UPLOAD_STATUS=201 uvicorn benchmarks.incidents.bare_upload:app --port 8001
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

BODY_ENV = "BARE_UPLOAD_BODY_FILE"
HEADERS_ENV = "BARE_UPLOAD_HEADERS_FILE"
STATUS_ENV = "BARE_UPLOAD_STATUS"
_FRAMING = {"content-length", "transfer-encoding", "connection", "date", "server"}


class BareUpload:
    def __init__(self) -> None:
        self._status = 200
        self._body = b""
        self._headers: list[tuple[bytes, bytes]] = []

    def load(self, body_file: Path, headers_file: Path | None, status: int) -> None:
        self._status = status
        self._body = body_file.read_bytes()
        replayed = {"content-type": "application/json"}
        if headers_file is not None:
            raw = json.loads(headers_file.read_text(encoding="utf-8"))
            replayed = {str(k).lower(): str(v) for k, v in raw.items()}
        self._headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in replayed.items()
            if name not in _FRAMING
        ] + [(b"content-length", str(len(self._body)).encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":  # readiness probe
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        elif scope["type"] == "http":
            more = True
            while more:  # the whole upload, as any server that parses a form must read it
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                more = bool(message.get("more_body", False))
            await send(
                {"type": "http.response.start", "status": self._status, "headers": self._headers}
            )
            await send({"type": "http.response.body", "body": self._body})
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        body_file = os.environ.get(BODY_ENV)
                        if not body_file:
                            raise RuntimeError(f"{BODY_ENV} is not set")
                        headers_file = os.environ.get(HEADERS_ENV)
                        self.load(
                            Path(body_file),
                            Path(headers_file) if headers_file else None,
                            int(os.environ.get(STATUS_ENV, "200")),
                        )
                    except (OSError, ValueError, RuntimeError) as error:
                        await send({"type": "lifespan.startup.failed", "message": repr(error)})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return


app = BareUpload()
