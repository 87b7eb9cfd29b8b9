"""A short-lived in-process cache of public GET answers (RGESN 7.1), in front of the router.

Public reads such as a commune or a stop's departures are the same for every anonymous caller
for a few seconds; serving them from memory skips routing, validation and encoding. Only answers
that declare themselves shareable are kept: 200, ``Cache-Control: public, max-age>0``, an ETag,
no cookie, no rate limit. Requests carrying credentials or cookies always reach the route.
An entry lives ``min(ttl, max-age)`` seconds, so a change is visible within ``ttl``.
"""

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from poche_api.kit.caching import etag_matches
from poche_api.kit.i18n import negotiate_language
from poche_api.kit.ratelimit import STATE_KEY

_MAX_AGE = re.compile(rb"max-age=(\d+)")
_PRIVATE_HEADERS = (b"authorization", b"cookie")
_VALIDATOR_HEADERS = (b"etag", b"cache-control", b"vary", b"content-language")


@dataclass(slots=True)
class _Entry:
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: str
    expires: float
    route: Any


class PublicResponseCache:
    def __init__(
        self, app: ASGIApp, *, ttl: float, max_entries: int = 2048, max_body: int = 256 * 1024
    ) -> None:
        self.app = app
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_body = max_body
        self._entries: OrderedDict[tuple[str, bytes, str], _Entry] = OrderedDict()
        self._refreshing: set[tuple[str, bytes, str]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or self.ttl <= 0:
            await self.app(scope, receive, send)
            return
        accept_language = if_none_match = None
        for name, value in scope["headers"]:
            if name in _PRIVATE_HEADERS:
                await self.app(scope, receive, send)
                return
            if name == b"accept-language":
                accept_language = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        key = (scope["path"], scope["query_string"], negotiate_language(accept_language))
        entry = self._entries.get(key)
        if entry is not None and self._fresh_enough(key, entry):
            await self._replay(scope, send, entry, if_none_match)
            return
        self._refreshing.add(key)
        try:
            await self._miss(scope, receive, send, key, entry, if_none_match)
        finally:
            self._refreshing.discard(key)

    def _fresh_enough(self, key: tuple[str, bytes, str], entry: _Entry) -> bool:
        """Fresh, or expired less than one ttl ago while another request refreshes it
        (stale-while-revalidate: one request pays the refresh, not every waiting one)."""
        now = time.monotonic()
        return entry.expires > now or (key in self._refreshing and now - entry.expires < self.ttl)

    async def _miss(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: tuple[str, bytes, str],
        entry: _Entry | None,
        if_none_match: str | None,
    ) -> None:
        if entry is not None and if_none_match is not None:
            # A known shareable answer expired while clients revalidate: refresh it whole
            # (a 304 from the route would leave nothing to keep), then answer the condition.
            await self._refresh(scope, receive, send, key, if_none_match)
            return
        await self._fill(scope, receive, send, key)

    async def _replay(
        self, scope: Scope, send: Send, entry: _Entry, if_none_match: str | None
    ) -> None:
        scope["route"] = entry.route
        if etag_matches(if_none_match, entry.etag):
            validators = [(k, v) for k, v in entry.headers if k in _VALIDATOR_HEADERS]
            await send({"type": "http.response.start", "status": 304, "headers": validators})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = list(entry.headers)  # outer middlewares append to it
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": entry.body})

    async def _refresh(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: tuple[str, bytes, str],
        if_none_match: str,
    ) -> None:
        unconditional = {
            **scope,
            "headers": [(k, v) for k, v in scope["headers"] if k != b"if-none-match"],
        }
        messages: list[Message] = []

        async def buffer(message: Message) -> None:
            messages.append(message)

        await self.app(unconditional, receive, buffer)
        scope["route"] = unconditional.get("route")
        start = messages[0] if messages else None
        if start is not None and self._store(scope, key, start, messages[1:]):
            await self._replay(scope, send, self._entries[key], if_none_match)
            return
        for message in messages:
            await send(message)

    def _store(
        self, scope: Scope, key: tuple[str, bytes, str], start: Message, bodies: list[Message]
    ) -> bool:
        if start["type"] != "http.response.start" or start["status"] != 200:
            return False
        if scope.get("state", {}).get(STATE_KEY):
            return False  # rate-limited routes must see every call
        lifetime = self._shareable_lifetime(start["headers"])
        body = b"".join(m.get("body", b"") for m in bodies if m["type"] == "http.response.body")
        if lifetime is None or len(body) > self.max_body:
            return False
        headers = list(start["headers"])
        etag = next(v for k, v in headers if k == b"etag").decode("latin-1")
        self._entries[key] = _Entry(
            headers=headers,
            body=body,
            etag=etag,
            expires=time.monotonic() + min(self.ttl, lifetime),
            route=scope.get("route"),
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return True

    async def _fill(
        self, scope: Scope, receive: Receive, send: Send, key: tuple[str, bytes, str]
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                # Copy before outer middlewares (CORS, request id) add per-request headers.
                start = {**message, "headers": list(message.get("headers", ()))}
            elif message["type"] == "http.response.body" and start is not None:
                size += len(message.get("body", b""))
                if size <= self.max_body:
                    chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if start is not None and size <= self.max_body:
            body = {"type": "http.response.body", "body": b"".join(chunks)}
            self._store(scope, key, start, [body])

    @staticmethod
    def _shareable_lifetime(headers: list[tuple[bytes, bytes]]) -> float | None:
        names = {k for k, _ in headers}
        if b"etag" not in names or b"set-cookie" in names:
            return None
        cache_control = b", ".join(v for k, v in headers if k == b"cache-control")
        match = _MAX_AGE.search(cache_control)
        if b"public" not in cache_control or match is None or int(match.group(1)) <= 0:
            return None
        return float(match.group(1))
