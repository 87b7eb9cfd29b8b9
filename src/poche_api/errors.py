"""RFC 9457 problem details: one error hierarchy, rendered by one set of handlers.

PocheError
 ├── BadRequest (400)            ├── PayloadTooLarge (413)
 ├── Unauthorized (401)          ├── UnsupportedMediaType (415)
 ├── Forbidden (403)             ├── Unprocessable (422)
 ├── NotFound (404)              ├── TooManyRequests (429)
 ├── Conflict (409)              └── ServiceUnavailable (503)
 └── PreconditionFailed (412)
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as db_errors
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from poche_api.kit.i18n import negotiate_language

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://api.poche.metropole-rouen-normandie.fr/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

_TITLES: dict[int, tuple[str, str]] = {
    400: ("Requête invalide", "Bad request"),
    401: ("Authentification requise", "Authentication required"),
    403: ("Accès refusé", "Forbidden"),
    404: ("Ressource introuvable", "Not found"),
    405: ("Méthode non autorisée", "Method not allowed"),
    409: ("Conflit", "Conflict"),
    412: ("Précondition échouée", "Precondition failed"),
    413: ("Corps de requête trop volumineux", "Request body too large"),
    415: ("Type de contenu non pris en charge", "Unsupported media type"),
    422: ("Données invalides", "Unprocessable content"),
    429: ("Trop de requêtes", "Too many requests"),
    500: ("Erreur interne", "Internal server error"),
    503: ("Service indisponible", "Service unavailable"),
}
_SLUGS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "quota-exceeded",
    500: "internal-error",
    503: "service-unavailable",
}


def problem_type(slug: str) -> str:
    return PROBLEM_BASE + slug


def problem_response(
    status: int,
    *,
    lang: str = "fr",
    slug: str | None = None,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> Response:
    fr_title, en_title = _TITLES.get(status, ("Erreur", "Error"))
    body: dict[str, Any] = {
        "type": problem_type(slug or _SLUGS.get(status, "error")),
        "title": title or (en_title if lang == "en" else fr_title),
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if extensions:
        body.update(extensions)
    all_headers = {"Content-Language": lang, "Cache-Control": "no-store", **(headers or {})}
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=all_headers
    )


class PocheError(Exception):
    """An expected failure the client can act on. ``detail`` is bilingual: (fr, en)."""

    status_code: ClassVar[int] = 500
    slug: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str | tuple[str, str] | None = None,
        *,
        slug: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        **extensions: Any,
    ) -> None:
        self.detail = detail
        self.instance_slug = slug or self.slug
        self.headers = dict(headers or {})
        self.extensions = dict(extensions)
        if errors is not None:
            self.extensions["errors"] = list(errors)
        super().__init__(detail if isinstance(detail, str) else (detail or ("",))[-1])

    def localized_detail(self, lang: str) -> str | None:
        if self.detail is None or isinstance(self.detail, str):
            return self.detail
        return self.detail[1] if lang == "en" else self.detail[0]


class BadRequest(PocheError):
    status_code = 400


class Unauthorized(PocheError):
    status_code = 401


class Forbidden(PocheError):
    status_code = 403


class NotFound(PocheError):
    status_code = 404


class Conflict(PocheError):
    status_code = 409


class PreconditionFailed(PocheError):
    status_code = 412


class PayloadTooLarge(PocheError):
    status_code = 413


class UnsupportedMediaType(PocheError):
    status_code = 415


class Unprocessable(PocheError):
    status_code = 422


class TooManyRequests(PocheError):
    status_code = 429
    slug = "quota-exceeded"


class ServiceUnavailable(PocheError):
    status_code = 503


class BodyTooLarge(HTTPException):
    """Raised while the body is read; an HTTPException so FastAPI lets it through as is."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413)
        self.limit = limit


def too_large_response(limit: int, *, lang: str, instance: str) -> Response:
    detail = f"Le corps dépasse {limit} octets." if lang == "fr" else f"Body exceeds {limit} bytes."
    return problem_response(
        413, lang=lang, detail=detail, instance=instance, extensions={"max_bytes": limit}
    )


def _pointer(loc: Sequence[str | int]) -> dict[str, str]:
    """Turn a pydantic location into an RFC 6901 pointer (body) or a parameter name."""
    if not loc:
        return {"pointer": ""}
    where, *path = loc
    if where == "body":
        escaped = [str(part).replace("~", "~0").replace("/", "~1") for part in path]
        return {"pointer": "/" + "/".join(escaped) if escaped else ""}
    return {"parameter": str(path[0]) if path else str(where), "in": str(where)}


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    return [{**_pointer(err["loc"]), "detail": err["msg"]} for err in exc.errors()]


async def _poche_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, PocheError):  # pragma: no cover - registered for that type
        raise exc
    lang = negotiate_language(request.headers.get("accept-language"))
    return problem_response(
        exc.status_code,
        lang=lang,
        slug=exc.instance_slug,
        detail=exc.localized_detail(lang),
        instance=request.url.path,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    lang = negotiate_language(request.headers.get("accept-language"))
    if isinstance(exc, BodyTooLarge):
        return too_large_response(exc.limit, lang=lang, instance=request.url.path)
    detail = exc.detail if exc.status_code not in (404, 405) else None
    return problem_response(
        exc.status_code,
        lang=lang,
        detail=detail,
        instance=request.url.path,
        headers=exc.headers,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    lang = negotiate_language(request.headers.get("accept-language"))
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        detail = "Le corps n'est pas du JSON valide." if lang == "fr" else "Body is not valid JSON."
        return problem_response(
            400, lang=lang, slug="malformed-json", detail=detail, instance=request.url.path
        )
    return problem_response(
        422,
        lang=lang,
        detail="Un ou plusieurs champs sont invalides."
        if lang == "fr"
        else "One or more fields are invalid.",
        instance=request.url.path,
        extensions={"errors": validation_errors(exc)},
    )


def database_unreachable(exc: Exception) -> bool:
    """A lost or refused database connection, or an exhausted pool: worth retrying shortly."""
    if isinstance(exc, db_errors.TimeoutError):
        return True
    if isinstance(exc, db_errors.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, db_errors.OperationalError | db_errors.InterfaceError
        )
    return isinstance(exc, ConnectionError)


async def _database_error(request: Request, exc: Exception) -> Response:
    if not database_unreachable(exc):
        return await _unexpected_error(request, exc)
    # The pool has already dropped the dead connections: the retry gets a fresh one.
    logger.warning("database unreachable", exc_info=exc)
    lang = negotiate_language(request.headers.get("accept-language"))
    return problem_response(
        503,
        lang=lang,
        slug="database-unavailable",
        detail="Base de données momentanément injoignable, réessayez."
        if lang == "fr"
        else "The database is briefly unreachable; try again.",
        instance=request.url.path,
        headers={"Retry-After": "1"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error", exc_info=exc)
    lang = negotiate_language(request.headers.get("accept-language"))
    return problem_response(500, lang=lang, instance=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PocheError, _poche_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(db_errors.DBAPIError, _database_error)
    app.add_exception_handler(db_errors.TimeoutError, _database_error)
    app.add_exception_handler(ConnectionError, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)


PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "RFC 9457 problem details",
    "content": {
        PROBLEM_MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "required": ["type", "title", "status"],
                "properties": {
                    "type": {"type": "string", "format": "uri"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "instance": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "pointer": {"type": "string"},
                                "parameter": {"type": "string"},
                                "in": {"type": "string"},
                                "detail": {"type": "string"},
                            },
                        },
                    },
                },
            }
        }
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting the problems a route can answer."""
    return {status: PROBLEM_SCHEMA for status in statuses}
