"""ETag and Cache-Control for reads: a matching If-None-Match answers 304 with no body."""

import hashlib
from typing import Any

import orjson
from fastapi import Request
from pydantic import BaseModel
from starlette.responses import Response


def etag_for(body: bytes) -> str:
    # Weak: gzip may re-encode the body on the way out, the content stays equivalent.
    return 'W/"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def encode(payload: BaseModel | list[Any] | dict[str, Any]) -> bytes:
    if isinstance(payload, BaseModel):
        return payload.__pydantic_serializer__.to_json(payload)
    return orjson.dumps(payload)


def cached(
    request: Request,
    body: bytes,
    *,
    media_type: str,
    max_age: int,
    etag: str | None = None,
    public: bool = True,
    vary: str = "Accept-Language",
) -> Response:
    """An answer with validators; ``body`` is already encoded (cache the bytes, not objects)."""
    tag = etag or etag_for(body)
    headers = {
        "ETag": tag,
        "Cache-Control": f"{'public' if public else 'private'}, max-age={max_age}",
        "Vary": vary,
    }
    if etag_matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def cached_json(
    request: Request,
    body: bytes,
    *,
    max_age: int,
    etag: str | None = None,
    public: bool = True,
    vary: str = "Accept-Language",
) -> Response:
    return cached(
        request,
        body,
        media_type="application/json",
        max_age=max_age,
        etag=etag,
        public=public,
        vary=vary,
    )
