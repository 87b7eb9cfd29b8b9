"""Cursor pagination: opaque, signed cursors and bounded page sizes."""

import base64
import hashlib
import hmac
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

from poche_api.errors import BadRequest

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="This page's items")
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; absent on the last page"
    )


class CursorCodec:
    """Encodes the last row's sort key; the HMAC makes forged or edited cursors a clear 400."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, raw: bytes) -> bytes:
        return hmac.new(self._secret, raw, hashlib.sha256).digest()[:12]

    def encode(self, key: list[Any]) -> str:
        raw = orjson.dumps(key)
        return base64.urlsafe_b64encode(self._sign(raw) + raw).decode().rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        try:
            blob = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            signature, raw = blob[:12], blob[12:]
            if not hmac.compare_digest(signature, self._sign(raw)):
                raise ValueError("bad signature")
            key = orjson.loads(raw)
        except ValueError as exc:
            raise BadRequest(
                ("Curseur de pagination invalide.", "Invalid pagination cursor."),
                slug="invalid-cursor",
            ) from exc
        if not isinstance(key, list):
            raise BadRequest(("Curseur invalide.", "Invalid cursor."), slug="invalid-cursor")
        return key


class PageParams(BaseModel):
    limit: int
    after: list[Any] | None
    codec: CursorCodec

    model_config = {"arbitrary_types_allowed": True}

    def next_cursor(self, rows: list[Any], key_of: Any) -> str | None:
        """Given ``limit + 1`` fetched rows, the cursor to the next page (or None)."""
        if len(rows) <= self.limit:
            return None
        return self.codec.encode(list(key_of(rows[self.limit - 1])))


async def _page_params(
    request: Request,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size (at most 100)")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=512, description="Opaque cursor from `next_cursor`")
    ] = None,
) -> PageParams:
    codec: CursorCodec = request.state.cursor_codec
    return PageParams(limit=limit, after=codec.decode(cursor) if cursor else None, codec=codec)


PageParamsDep = Annotated[PageParams, Depends(_page_params)]
