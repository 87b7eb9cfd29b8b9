"""Idempotency-Key (draft-ietf-httpapi-idempotency-key-header-07) for unsafe app calls.

The key is claimed in its own short transaction, so a concurrent call sees it at once (409).
The answer is stored by ``respond()`` inside the request's own transaction, so the business
change and the stored answer commit together: a retry after success replays the answer, a retry
after a failure runs again. A claim whose request died is retaken once ``CLAIM_SECONDS`` pass.
"""

import hashlib
import re
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import Header, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.responses import Response

from poche_api.errors import BadRequest, Conflict, Unprocessable
from poche_api.kit.caching import encode

CLAIM_SECONDS = 30
_KEY = re.compile(r'^"?([\x21\x23-\x7e]{1,255})"?$')


def default_scope(request: Request) -> str:
    """Who owns the key: the authenticated principal when there is one."""
    principal = getattr(request.state, "principal_id", None)
    return f"principal:{principal}" if principal else "anonymous"


def body_fingerprint(content_type: str | None, body: bytes) -> str:
    """What makes two requests "the same": their bytes, except a multipart boundary, which
    clients draw at random on every send (an offline queue replaying a photo report included).
    """
    boundary = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if boundary is not None:
        body = body.replace(boundary.group(1).encode(), b"<boundary>")
    return hashlib.sha256(body).hexdigest()


class IdempotentCall:
    """Handed to the route: ``replay`` is the stored answer, else call ``respond``."""

    def __init__(self, *, scope: str, key: str | None, replay: Response | None) -> None:
        self.scope = scope
        self.key = key
        self.replay = replay
        self.completed = False

    async def respond(
        self,
        session: AsyncSession,
        payload: BaseModel | dict[str, Any] | list[Any],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        body = encode(payload)
        if self.key is not None:
            await session.execute(
                text(
                    "UPDATE idempotency_keys SET status = 'completed', response_status = :status, "
                    "response_body = :body, response_headers = CAST(:headers AS jsonb) "
                    "WHERE scope = :scope AND key = :key"
                ),
                {
                    "status": status_code,
                    "body": body,
                    "headers": _json(dict(headers or {})),
                    "scope": self.scope,
                    "key": self.key,
                },
            )
            self.completed = True
        return Response(
            body, status_code=status_code, media_type="application/json", headers=headers
        )


def _json(value: Mapping[str, str]) -> str:
    return orjson.dumps(value).decode()


async def _claim(
    engine: AsyncEngine,
    *,
    scope: str,
    key: str,
    method: str,
    path: str,
    fingerprint: str,
    ttl: timedelta,
) -> Response | None:
    async with engine.begin() as connection:
        claimed = await connection.execute(
            text(
                "INSERT INTO idempotency_keys AS k (scope, key, method, path, fingerprint, status, "
                "locked_until, expires_at) VALUES (:scope, :key, :method, :path, :fingerprint, "
                "'in_progress', now() + make_interval(secs => :claim), now() + :ttl) "
                "ON CONFLICT (scope, key) DO UPDATE SET status = 'in_progress', "
                "method = EXCLUDED.method, path = EXCLUDED.path, "
                "fingerprint = EXCLUDED.fingerprint, locked_until = EXCLUDED.locked_until, "
                "expires_at = EXCLUDED.expires_at, response_status = NULL, response_body = NULL "
                "WHERE k.expires_at < now() OR (k.status = 'in_progress' "
                "AND k.locked_until < now() AND k.fingerprint = EXCLUDED.fingerprint) "
                "RETURNING 1"
            ),
            {
                "scope": scope,
                "key": key,
                "method": method,
                "path": path,
                "fingerprint": fingerprint,
                "claim": CLAIM_SECONDS,
                "ttl": ttl,
            },
        )
        if claimed.first() is not None:
            return None
        existing = (
            await connection.execute(
                text(
                    "SELECT method, path, fingerprint, status, response_status, response_body, "
                    "response_headers FROM idempotency_keys WHERE scope = :scope AND key = :key"
                ),
                {"scope": scope, "key": key},
            )
        ).one()
    if (existing.method, existing.path, existing.fingerprint) != (method, path, fingerprint):
        raise Unprocessable(
            (
                "Cette clé d'idempotence a déjà servi pour une autre requête.",
                "This Idempotency-Key was already used with a different request.",
            ),
            slug="idempotency-key-reused",
        )
    if existing.status != "completed":
        raise Conflict(
            (
                "Une requête avec cette clé d'idempotence est en cours.",
                "A request with this Idempotency-Key is still being processed.",
            ),
            slug="idempotency-key-in-use",
            headers={"Retry-After": "1"},
        )
    headers = {**(existing.response_headers or {}), "Idempotent-Replayed": "true"}
    return Response(
        existing.response_body,
        status_code=existing.response_status,
        media_type="application/json",
        headers=headers,
    )


async def _release(engine: AsyncEngine, scope: str, key: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "DELETE FROM idempotency_keys WHERE scope = :scope AND key = :key "
                "AND status = 'in_progress'"
            ),
            {"scope": scope, "key": key},
        )


def idempotency(
    *, required: bool = False, scope_of: Callable[[Request], str] = default_scope
) -> Callable[..., AsyncIterator[IdempotentCall]]:
    """Build the dependency; ``required`` makes a missing key a 400."""

    async def dependency(
        request: Request,
        idempotency_key: Annotated[
            str | None,
            Header(
                description="Unique key (a UUID) making this call safe to retry; "
                "kept for 24 h. Same key with another body: 422; while in progress: 409."
            ),
        ] = None,
    ) -> AsyncIterator[IdempotentCall]:
        scope = scope_of(request)
        if idempotency_key is None:
            if required:
                raise BadRequest(
                    (
                        "L'en-tête Idempotency-Key est requis.",
                        "The Idempotency-Key header is required.",
                    ),
                    slug="idempotency-key-missing",
                )
            yield IdempotentCall(scope=scope, key=None, replay=None)
            return
        match = _KEY.match(idempotency_key.strip())
        if match is None:
            raise BadRequest(
                ("Idempotency-Key invalide.", "Malformed Idempotency-Key."),
                slug="idempotency-key-invalid",
            )
        key = match.group(1)
        engine: AsyncEngine = request.state.engine
        fingerprint = body_fingerprint(request.headers.get("content-type"), await request.body())
        ttl = timedelta(hours=request.state.settings.idempotency_ttl_hours)
        replay = await _claim(
            engine,
            scope=scope,
            key=key,
            method=request.method,
            path=request.url.path,
            fingerprint=fingerprint,
            ttl=ttl,
        )
        call = IdempotentCall(scope=scope, key=key, replay=replay)
        try:
            yield call
        finally:
            if replay is None and not call.completed:
                await _release(engine, scope, key)

    return dependency
