"""Pure ASGI middlewares for the cross-cutting HTTP conventions.

Pure ASGI (not BaseHTTPMiddleware) keeps them cheap and streaming-safe.
"""

import logging
import os
import re
import time

import structlog
from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from poche_api import metrics
from poche_api.errors import BodyTooLarge, problem_response, too_large_response
from poche_api.kit.i18n import negotiate_language
from poche_api.kit.ratelimit import STATE_KEY

logger = logging.getLogger("poche_api.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_JSON_TYPES = ("application/json", "application/merge-patch+json")
_MULTIPART = "multipart/form-data"
_FORM = "application/x-www-form-urlencoded"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.match(candidate) else None
    return None


class GzipWhenAccepted(GZipMiddleware):
    """Starlette's gzip, skipped outright for clients that do not accept it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"accept-encoding" and b"gzip" in value:
                    await super().__call__(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class RequestContextMiddleware:
    """Request id (echoed or generated), access log, metrics and RateLimit headers."""

    def __init__(self, app: ASGIApp, *, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        extra_headers = [(b"x-request-id", request_id.encode())]

        async def send_with_context(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                rate_limit = scope.get("state", {}).get(STATE_KEY)
                added = extra_headers + [
                    (name.lower().encode(), value.encode())
                    for name, value in (rate_limit or {}).items()
                ]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        except Exception:
            # Answer here rather than in Starlette's outer error middleware, so even a 500
            # carries the request id; the details stay in the log.
            logger.exception("unhandled error")
            if response_started:
                raise
            lang = negotiate_language(Headers(scope=scope).get("accept-language"))
            await problem_response(500, lang=lang, instance=scope["path"])(
                scope, receive, send_with_context
            )
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            # Routes included under the API prefix report their path without it.
            if route is not None and scope["path"].startswith(self.api_prefix + "/"):
                template = self.api_prefix + template
            metrics.observe_request(scope["method"], template, status, elapsed)
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            structlog.contextvars.unbind_contextvars("request_id")


class BodyGuardMiddleware:
    """415 for bodies that are not JSON (or multipart where allowed), 413 past the size cap.

    The cap is enforced on the declared Content-Length and again on the bytes actually read,
    so a chunked upload cannot slip past it.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json_bytes: int,
        max_multipart_bytes: int,
        exempt_prefixes: tuple[str, ...] = (),
        form_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        # Standards that post forms (Open311) get them there, under the JSON size cap.
        self.form_prefixes = form_prefixes
        # Partner simulators speak their partner's protocol (e.g. OAuth form posts).
        self.exempt_prefixes = exempt_prefixes
        self.max_json_bytes = max_json_bytes
        self.max_multipart_bytes = max_multipart_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        if self.exempt_prefixes and scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        lang = negotiate_language(headers.get("accept-language"))
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        declared = headers.get("content-length")
        has_body = (declared not in (None, "0")) or "transfer-encoding" in headers
        accepted: tuple[str, ...] = (*_JSON_TYPES, _MULTIPART)
        if self.form_prefixes and scope["path"].startswith(self.form_prefixes):
            accepted = (*accepted, _FORM)
        if has_body and content_type not in accepted:
            detail = (
                "Envoyez du JSON (application/json)."
                if lang == "fr"
                else "Send JSON (application/json)."
            )
            await problem_response(415, lang=lang, detail=detail, instance=scope["path"])(
                scope, receive, send
            )
            return
        limit = self.max_multipart_bytes if content_type == _MULTIPART else self.max_json_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit, lang)
            return
        await self._run_counting(scope, receive, send, limit, lang)

    async def _too_large(
        self, scope: Scope, receive: Receive, send: Send, limit: int, lang: str
    ) -> None:
        await too_large_response(limit, lang=lang, instance=scope["path"])(scope, receive, send)

    async def _run_counting(
        self, scope: Scope, receive: Receive, send: Send, limit: int, lang: str
    ) -> None:
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if response_started:
                raise
            await self._too_large(scope, receive, send, limit, lang)
