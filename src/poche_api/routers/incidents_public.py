"""Public incident data: the map of open reports and the anonymised open-data export."""

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response, StreamingResponse

from poche_api.db import ReadSessionDep, get_read_session
from poche_api.errors import Unprocessable, problem_responses
from poche_api.incidents import public
from poche_api.incidents.repository import IncidentRepository
from poche_api.kit.caching import cached, cached_json, encode, etag_matches
from poche_api.kit.i18n import LanguageDep
from poche_api.kit.timeutil import paris_now

router = APIRouter(prefix="/incidents", tags=["incidents: public data"])
MAP_MAX_AGE = 30
OPEN_DATA_MAX_AGE = 600
STATS_DEFAULT_MONTHS = 12
GEOJSON = "application/geo+json"
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

# The export streams after the route returns: its session must outlive the function.
StreamSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="request")]
FromMonth = Annotated[
    str | None,
    Query(alias="from", pattern=MONTH_PATTERN, description="First month of creation, YYYY-MM"),
]
ToMonth = Annotated[
    str | None,
    Query(alias="to", pattern=MONTH_PATTERN, description="Last month of creation, YYYY-MM"),
]
MapStatus = Literal[
    "open",
    "submitted",
    "triaged",
    "assigned",
    "in_progress",
    "scheduled",
    "reopen_requested",
    "reopened",
]

FEATURE_COLLECTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "bbox": {"type": "array", "items": {"type": "number"}},
        "zoom": {"type": "integer"},
        "clustered": {"type": "boolean"},
        "truncated": {"type": "boolean", "description": "More features than the map may carry"},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"const": "Feature"},
                    "id": {"type": "string", "description": "Tracking code (single reports)"},
                    "geometry": {"type": "object", "description": "GeoJSON Point [lon, lat]"},
                    "properties": {
                        "type": "object",
                        "description": "`cluster`, `point_count`; for a single report also "
                        "`tracking_code`, `category`, `category_name`, `status`, "
                        "`status_label`, `supporters`, `created_at`, `url`",
                    },
                },
            },
        },
    },
}


@router.get(
    "/map",
    summary="Open reports on a map (GeoJSON): clustered below zoom 15, single reports above",
    description=(
        "Public: no personal data, never a private category or a report hidden by moderation. "
        f"The box may span at most {public.MAP_MAX_SPAN_DEG}° on each side; at most "
        f"{public.MAP_MAX_FEATURES} features (`truncated` says when there were more). "
        "Clusters are cells of a grid anchored at (0, 0), about 64 pixels wide at that zoom; "
        "a cell holding a single report is that report."
    ),
    response_class=Response,
    responses={
        200: {"content": {GEOJSON: {"schema": FEATURE_COLLECTION_SCHEMA}}},
        **problem_responses(422),
    },
)
async def report_map(
    request: Request,
    session: ReadSessionDep,
    lang: LanguageDep,
    bbox: Annotated[
        str, Query(max_length=200, description="minLon,minLat,maxLon,maxLat (WGS 84 degrees)")
    ],
    zoom: Annotated[int, Query(ge=0, le=22, description="Map zoom level (Web Mercator)")],
    category: Annotated[str | None, Query(max_length=64, description="Category code")] = None,
    status: Annotated[
        MapStatus, Query(description="`open` (every open status) or one open status")
    ] = "open",
) -> Response:
    box = public.parse_bbox(bbox)
    repo = IncidentRepository.from_session(session)
    categories = {row.code: row for row in await repo.categories(active_only=False)}
    chosen = categories.get(category) if category else None
    if category and (chosen is None or chosen.private):
        raise Unprocessable(
            ("Pas de carte publique pour cette catégorie.", "No public map for this category."),
            slug="category-not-public",
            errors=[{"parameter": "category", "in": "query", "detail": "unknown or private"}],
        )
    statuses = public.OPEN_STATUSES if status == "open" else [status]
    collection = await public.report_map(
        session,
        box=box,
        zoom=zoom,
        statuses=statuses,
        category=chosen,
        categories=categories,
        lang=lang,
    )
    return cached(request, encode(collection), media_type=GEOJSON, max_age=MAP_MAX_AGE)


ChunkWriter = Callable[[AsyncIterator[Sequence[Any]], str], AsyncIterator[bytes]]


async def _export(
    request: Request,
    session: AsyncSession,
    lang: str,
    window: public.Window,
    *,
    kind: str,
    media_type: str,
    write: ChunkWriter,
) -> Response:
    repo = public.PublicRepository.from_session(session)
    tag = public.export_etag(await repo.export_version(window), kind, lang, window.key())
    name = "signalements" + (f"-{window.key().replace('..', '_')}" if window.key() != ".." else "")
    headers = {
        "ETag": tag,
        "Cache-Control": f"public, max-age={OPEN_DATA_MAX_AGE}",
        "Vary": "Accept-Language",
        "Content-Disposition": f'attachment; filename="{name}.{kind}"',
    }
    if etag_matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return StreamingResponse(
        write(repo.export_batches(window), lang), media_type=media_type, headers=headers
    )


EXPORT_DESCRIPTION = (
    "One row per report, anonymised: tracking code, category, commune, status (`open` | "
    "`closed`, and the detailed one), creation and resolution dates, resolution time in days, "
    "position rounded to 3 decimals (~100 m). No private category, no hidden report. Streamed; "
    "`from` / `to` select months of creation (Europe/Paris)."
)


@router.get(
    "/open-data/reports.csv",
    summary="Open data: every public report, anonymised (CSV)",
    description=EXPORT_DESCRIPTION + " Columns: " + ", ".join(public.EXPORT_COLUMNS) + ".",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(422)},
)
async def export_csv(
    request: Request,
    session: StreamSessionDep,
    lang: LanguageDep,
    first: FromMonth = None,
    last: ToMonth = None,
) -> Response:
    window = public.Window.of(first, last)
    return await _export(
        request,
        session,
        lang,
        window,
        kind="csv",
        media_type="text/csv; charset=utf-8; header=present",
        write=public.csv_chunks,
    )


@router.get(
    "/open-data/reports.geojson",
    summary="Open data: every public report, anonymised (GeoJSON)",
    description=EXPORT_DESCRIPTION,
    response_class=StreamingResponse,
    responses={200: {"content": {GEOJSON: {}}}, **problem_responses(422)},
)
async def export_geojson(
    request: Request,
    session: StreamSessionDep,
    lang: LanguageDep,
    first: FromMonth = None,
    last: ToMonth = None,
) -> Response:
    window = public.Window.of(first, last)
    return await _export(
        request,
        session,
        lang,
        window,
        kind="geojson",
        media_type=GEOJSON,
        write=public.geojson_chunks,
    )


@router.get(
    "/open-data/stats",
    response_model=public.OpenDataStats,
    summary="Open data: monthly counts and median resolution time per commune and category",
    description=(
        "Reports created each month (Europe/Paris) per commune and category, how many are still "
        "open and resolved today, and the median days to resolution of the resolved ones. "
        f"Default: the last {STATS_DEFAULT_MONTHS} months; at most "
        f"{public.STATS_MAX_MONTHS} months. Private categories and hidden reports are left out."
    ),
    responses=problem_responses(422),
)
async def stats(
    request: Request,
    session: ReadSessionDep,
    lang: LanguageDep,
    first: FromMonth = None,
    last: ToMonth = None,
) -> Response:
    window = _stats_window(public.Window.of(first, last))
    result = await public.monthly_stats(session, window, lang)
    return cached_json(request, encode(result), max_age=OPEN_DATA_MAX_AGE)


def _stats_window(asked: public.Window) -> public.Window:
    """The months asked, completed: the last 12 months, or 12 from or up to the one given."""
    this_month = paris_now().date().replace(day=1)
    last = asked.last or max(this_month, asked.first or this_month)
    first = asked.first or public.first_of_span(last, STATS_DEFAULT_MONTHS)
    window = public.Window(first, last)
    if window.months() > public.STATS_MAX_MONTHS:
        raise Unprocessable(
            (
                f"Période limitée à {public.STATS_MAX_MONTHS} mois.",
                f"The period is limited to {public.STATS_MAX_MONTHS} months.",
            ),
            slug="invalid-period",
            errors=[{"parameter": "from", "in": "query", "detail": "period too long"}],
        )
    return window
