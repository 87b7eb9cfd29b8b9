"""Open311 GeoReport v2 at /open311/v2 (outside /v1): discovery, services, requests.

Each resource is ``.json`` or ``.xml``. Failures answer the standard's array of
``{code, description}`` in the format asked, not problem+json (see incidents/open311.py).
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from poche_api.config import Settings
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import NotFound, PocheError
from poche_api.incidents import open311
from poche_api.kit.caching import cached
from poche_api.kit.i18n import LanguageDep, negotiate_language
from poche_api.kit.ratelimit import RateLimit
from poche_api.kit.timeutil import utcnow
from poche_api.territory.service import TerritoryService

PREFIX = "/open311/v2"
CATALOGUE_MAX_AGE = 300
REQUESTS_MAX_AGE = 30


def _format_of(request: Request) -> open311.Format:
    return "json" if request.url.path.endswith(".json") else "xml"


def _body(fmt: open311.Format, payload: Any, root: str) -> tuple[bytes, str]:
    if fmt == "json":
        return orjson.dumps(payload), "application/json"
    return open311.to_xml(root, payload), open311.XML_MEDIA_TYPE


def error_response(request: Request, exc: Exception) -> Response:
    lang = negotiate_language(request.headers.get("accept-language"))
    status, errors = open311.error_payload(exc, lang)
    body, media_type = _body(_format_of(request), open311.dump(errors), "errors")
    headers = {"Cache-Control": "no-store", "Content-Language": lang}
    if status == 429 and isinstance(exc, PocheError):
        headers.update(exc.headers)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


class Open311Route(APIRoute):
    """Renders failures (ours, validation, HTTP) as Open311 errors in the format asked."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except (PocheError, RequestValidationError, StarletteHTTPException) as exc:
                return error_response(request, exc)

        return answer


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)

FormatPath = Annotated[open311.Format, Path(description="`json` or `xml`")]
Jurisdiction = Annotated[
    str | None,
    Query(max_length=100, description=f"Optional; `{open311.JURISDICTION_ID}` if given"),
]
Extensions = Annotated[
    bool, Query(description="Add `extended_attributes` (mySociety extended status, ours)")
]

_ERROR_CONTENT = {
    "application/json": {
        "schema": {"type": "array", "items": open311.Open311Error.model_json_schema()}
    },
    "text/xml": {"schema": {"type": "string", "description": "<errors><error>…</error></errors>"}},
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Missing parameter or any other failure", "content": _ERROR_CONTENT},
    403: {"description": "Missing or invalid api_key", "content": _ERROR_CONTENT},
    404: {"description": "Unknown jurisdiction, service or request", "content": _ERROR_CONTENT},
}
_XML_OK = {"text/xml": {"schema": {"type": "string"}}}
CREATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code", "lat", "long"],
                    "properties": {
                        "api_key": {"type": "string"},
                        "jurisdiction_id": {"type": "string"},
                        "service_code": {"type": "string"},
                        "lat": {"type": "number"},
                        "long": {"type": "number"},
                        "address_string": {"type": "string", "description": "Ignored"},
                        "email": {"type": "string"},
                        "description": {"type": "string", "maxLength": 4000},
                        "media_url": {"type": "string", "description": "Ignored"},
                        "attribute[code]": {
                            "type": "string",
                            "description": "An answer; `attribute[code][]` repeated for a "
                            "multivaluelist",
                        },
                    },
                }
            }
        },
    }
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def _render(
    request: Request,
    fmt: open311.Format,
    payload: Any,
    *,
    root: str,
    max_age: int | None = None,
    status_code: int = 200,
) -> Response:
    body, media_type = _body(fmt, payload, root)
    if max_age is None:
        return Response(body, status_code=status_code, media_type=media_type)
    return cached(request, body, media_type=media_type, max_age=max_age)


@router.get(
    "/discovery.{fmt}",
    response_model=open311.Open311Discovery,
    summary="Open311 service discovery",
    responses={200: {"content": _XML_OK}, **ERRORS},
)
async def discovery(request: Request, fmt: FormatPath, session: ReadSessionDep) -> Response:
    payload = await open311.discovery(session, _settings(request))
    return _render(request, fmt, open311.dump(payload), root="discovery", max_age=3600)


@router.get(
    "/services.{fmt}",
    response_model=list[open311.Open311Service],
    summary="Open311 services: the active public categories",
    responses={200: {"content": _XML_OK}, **ERRORS},
)
async def services(
    request: Request,
    fmt: FormatPath,
    session: ReadSessionDep,
    lang: LanguageDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    open311.check_jurisdiction(jurisdiction_id)
    payload = await open311.services(session, lang)
    return _render(request, fmt, open311.dump(payload), root="services", max_age=CATALOGUE_MAX_AGE)


@router.get(
    "/services/{service_code}.{fmt}",
    response_model=open311.Open311ServiceDefinition,
    summary="Open311 service definition: a category's questions",
    responses={200: {"content": _XML_OK}, **ERRORS},
)
async def service_definition(
    request: Request,
    service_code: Annotated[str, Path(max_length=64)],
    fmt: FormatPath,
    session: ReadSessionDep,
    lang: LanguageDep,
    jurisdiction_id: Jurisdiction = None,
) -> Response:
    open311.check_jurisdiction(jurisdiction_id)
    payload = await open311.service_definition(session, service_code, lang)
    return _render(
        request,
        fmt,
        open311.dump(payload),
        root="service_definition",
        max_age=CATALOGUE_MAX_AGE,
    )


@router.get(
    "/requests.{fmt}",
    response_model=list[open311.Open311Request],
    summary="Open311 search: public reports, newest first (90 days or 1000 at most)",
    description=(
        "`service_request_id` (comma-separated tracking codes) overrides every other filter. "
        "`start_date` / `end_date` (ISO 8601) bound the creation time, at most 90 days apart; "
        "without them, the last 90 days. `status`: `open`, `closed` or both. Private "
        "categories and hidden reports never appear."
    ),
    responses={200: {"content": _XML_OK}, **ERRORS},
)
async def search(
    request: Request,
    fmt: FormatPath,
    session: ReadSessionDep,
    lang: LanguageDep,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[str | None, Query(max_length=4000)] = None,
    service_code: Annotated[str | None, Query(max_length=2000)] = None,
    start_date: Annotated[str | None, Query(max_length=40)] = None,
    end_date: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    extensions: Extensions = False,
) -> Response:
    open311.check_jurisdiction(jurisdiction_id)
    query = open311.Search.parse(
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
        now=utcnow(),
    )
    found = await open311.search(session, _settings(request), query, lang, extensions=extensions)
    return _render(
        request, fmt, open311.dump(found), root="service_requests", max_age=REQUESTS_MAX_AGE
    )


@router.get(
    "/requests/{service_request_id}.{fmt}",
    response_model=list[open311.Open311Request],
    summary="Open311 request by its id (our tracking code)",
    responses={200: {"content": _XML_OK}, **ERRORS},
)
async def one_request(
    request: Request,
    service_request_id: Annotated[str, Path(max_length=16)],
    fmt: FormatPath,
    session: ReadSessionDep,
    lang: LanguageDep,
    jurisdiction_id: Jurisdiction = None,
    extensions: Extensions = False,
) -> Response:
    open311.check_jurisdiction(jurisdiction_id)
    found = await open311.one(
        session, _settings(request), service_request_id, lang, extensions=extensions
    )
    return _render(
        request, fmt, open311.dump([found]), root="service_requests", max_age=REQUESTS_MAX_AGE
    )


@router.post(
    "/requests.{fmt}",
    response_model=list[open311.Open311Created],
    summary="Open311 create: file a report (form-encoded, api_key required)",
    description=(
        "Goes through the app's rules (category answers, a point inside the Métropole, "
        "emergency and outside-body categories refused with their notice). `lat` and `long` "
        "are required; `address_string`, `address_id`, names, phone and `media_url` are "
        "ignored (no photo is fetched). The answer carries `service_request_id` at once "
        "(services are `realtime`, so there is no token)."
    ),
    responses={200: {"content": _XML_OK}, **ERRORS},
    dependencies=[Depends(RateLimit("open311-create-ip", quota=600, window=3600))],
    openapi_extra=CREATE_BODY,
)
async def create_request(
    request: Request, fmt: FormatPath, session: SessionDep, lang: LanguageDep
) -> Response:
    form = await request.form()
    territory: TerritoryService = request.state.territory
    created = await open311.create(
        session, _settings(request), territory, open311.form_items(form.multi_items()), lang
    )
    return _render(request, fmt, open311.dump([created]), root="service_requests")


@router.api_route("/{anything:path}", methods=["GET", "POST"], include_in_schema=False)
async def unknown(anything: str) -> Response:
    raise NotFound(("Ressource Open311 inconnue.", "Unknown Open311 resource."))
