"""Open311 GeoReport v2 façade: our catalogue as services, our public reports as requests.

The GRC and FixMyStreet-like tools speak this standard. It is a façade: the app's JSON API has
more (history, photos, pagination). Every resource comes as JSON or XML, XML being built with
the standard library. Errors follow the standard too (an array of ``{code, description}``: 404
for an unknown jurisdiction, service or request, 403 for a missing or bad ``api_key``, 400 for
anything else). This is the only place where the API does not answer problem+json.

Statuses: ours are mapped onto ``open`` / ``closed``. With ``extensions=true``, each request also
carries ``extended_attributes`` holding mySociety's extended status and ours.
"""

import hashlib
import hmac
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Environment, Settings
from poche_api.errors import BadRequest, Forbidden, NotFound, PocheError
from poche_api.incidents import service
from poche_api.incidents.catalogue import attribute_view, category_name
from poche_api.incidents.public import PublicRepository
from poche_api.incidents.repository import IncidentRepository
from poche_api.incidents.schemas import ReportIn
from poche_api.incidents.views import REDACTED
from poche_api.incidents.workflow import CLOSED, OPEN, Status, label
from poche_api.kit.timeutil import PARIS, utcnow
from poche_api.models import IncidentCategory, IncidentReport
from poche_api.territory.service import TerritoryService

Format = Literal["json", "xml"]
JURISDICTION_ID = "metropole-rouen-normandie.fr"
AGENCY = "Métropole Rouen Normandie"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CONTACT = "Métropole Rouen Normandie — poche-api, https://www.metropole-rouen-normandie.fr"
KEY_SERVICE = "Ask Métropole Rouen Normandie for an Open311 API key."
SEARCH_SPAN = timedelta(days=90)
SEARCH_LIMIT = 1000
MAX_REQUEST_IDS = 200
PHOTO_URL = "{base}/v1/incidents/photos/{photo_id}/large.webp"
XML_MEDIA_TYPE = "text/xml; charset=utf-8"

# mySociety's extended statuses (FixMyStreet and its open311-adapter).
EXTENDED_STATUS: dict[Status, str] = {
    Status.submitted: "FOR_TRIAGE",
    Status.triaged: "OPEN",
    Status.assigned: "INVESTIGATING",
    Status.in_progress: "IN_PROGRESS",
    Status.scheduled: "ACTION_SCHEDULED",
    Status.resolved: "FIXED",
    Status.rejected: "NO_FURTHER_ACTION",
    Status.duplicate: "DUPLICATE",
    Status.forwarded: "NOT_COUNCILS_RESPONSIBILITY",
    Status.reopen_requested: "REOPEN",
    Status.reopened: "REOPEN",
}

# XML element of each item of a list, by the list's own element name.
XML_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "errors": "error",
}


# --- resources ---


class Open311Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Open311Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Open311Endpoint]


class Open311Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="True when the service has attributes")
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str = Field(description="Comma-separated")
    group: str


class Open311AttributeValue(BaseModel):
    key: str
    name: str


class Open311Attribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[Open311AttributeValue]


class Open311ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Open311Attribute]


class Open311ExtendedAttributes(BaseModel):
    status: str = Field(description="mySociety extended status (FIXED, IN_PROGRESS, ...)")
    detailed_status: str = Field(description="Our status")
    detailed_status_label: str


class Open311Request(BaseModel):
    service_request_id: str = Field(description="Our public tracking code")
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float
    long: float
    media_url: str | None
    extended_attributes: Open311ExtendedAttributes | None = Field(
        None, description="Only with `extensions=true`"
    )


class Open311Created(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class Open311Error(BaseModel):
    code: int
    description: str


# --- rendering ---


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the Paris offset, as the standard asks (a time zone on every datetime)."""
    return moment.astimezone(PARIS).isoformat(timespec="seconds") if moment else None


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _fill(ET.SubElement(element, key), inner)
    elif isinstance(value, list):
        item = XML_ITEMS.get(element.tag, "item")
        for inner in value:
            _fill(ET.SubElement(element, item), inner)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def to_xml(root: str, payload: Any) -> bytes:
    element = ET.Element(root)
    _fill(element, payload)
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return body


def dump(payload: BaseModel | Sequence[BaseModel]) -> Any:
    """Plain data for JSON or XML; ``extended_attributes`` appears only when asked for."""
    if not isinstance(payload, BaseModel):
        return [dump(item) for item in payload]
    data = payload.model_dump(mode="json")
    if "extended_attributes" in data and data["extended_attributes"] is None:
        del data["extended_attributes"]
    return data


def error_payload(exc: Exception, lang: str) -> tuple[int, list[Open311Error]]:
    """The HTTP status and Open311 error array for a failure."""
    status = getattr(exc, "status_code", 400)
    if status == 401:
        status = 403
    if status not in (403, 404, 429):
        status = 400
    return status, [Open311Error(code=status, description=_describe(exc, lang))]


def _describe(exc: Exception, lang: str) -> str:
    if isinstance(exc, PocheError):
        text = exc.localized_detail(lang) or ""
        details = [
            f"{item.get('pointer') or item.get('parameter') or ''}: {item.get('detail', '')}"
            for item in exc.extensions.get("errors", [])
        ]
        return f"{text} ({'; '.join(details)})" if details else text
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc'][1:])}: {error['msg']}"
            for error in errors()
        )
    return str(getattr(exc, "detail", "") or "Bad request")


# --- services ---


def check_jurisdiction(jurisdiction_id: str | None) -> None:
    if jurisdiction_id and jurisdiction_id != JURISDICTION_ID:
        raise NotFound(
            (
                f"Juridiction inconnue (celle-ci est {JURISDICTION_ID}).",
                f"Unknown jurisdiction (this one is {JURISDICTION_ID}).",
            ),
            slug="unknown-jurisdiction",
        )


def _pick(fr: str | None, en: str | None, lang: str) -> str:
    return ((en or fr) if lang == "en" else (fr or en)) or ""


def _public_services(categories: Iterable[IncidentCategory]) -> list[IncidentCategory]:
    return [c for c in categories if c.active and not c.private]


async def discovery(session: AsyncSession, settings: Settings) -> Open311Discovery:
    categories = await IncidentRepository.from_session(session).categories(active_only=True)
    changed = max((c.updated_at for c in categories), default=None)
    changeset = iso(changed) or "1970-01-01T00:00:00+00:00"
    production = settings.env is Environment.production
    return Open311Discovery(
        changeset=changeset,
        contact=CONTACT,
        key_service=KEY_SERVICE,
        endpoints=[
            Open311Endpoint(
                specification=SPECIFICATION,
                url=settings.public_url.rstrip("/") + "/open311/v2",
                changeset=changeset,
                type="production" if production else "test",
                formats=["text/xml", "application/json"],
            )
        ],
    )


async def services(session: AsyncSession, lang: str) -> list[Open311Service]:
    """Active public categories. One that sends residents elsewhere (an emergency, an outside
    body) is listed with that notice as its description; creating a request there is refused."""
    repo = IncidentRepository.from_session(session)
    groups = {group.id: group for group in await repo.groups()}
    listed = []
    for category in _public_services(await repo.categories(active_only=True)):
        group = groups[category.group_id]
        notice = _pick(category.emergency_notice_fr, category.emergency_notice_en, lang) or _pick(
            category.external_notice_fr, category.external_notice_en, lang
        )
        listed.append(
            Open311Service(
                service_code=category.code,
                service_name=category_name(category, lang),
                description=notice or _pick(category.description_fr, category.description_en, lang),
                metadata=bool(category.attributes),
                type="realtime",
                keywords=", ".join(category.keywords),
                group=_pick(group.name_fr, group.name_en, lang),
            )
        )
    return listed


async def _service(session: AsyncSession, code: str) -> IncidentCategory:
    category = await IncidentRepository.from_session(session).category_by_code(code)
    if category is None or not category.active or category.private:
        raise NotFound(
            (f"Service {code} inconnu.", f"Unknown service {code}."), slug="unknown-service"
        )
    return category


async def service_definition(
    session: AsyncSession, code: str, lang: str
) -> Open311ServiceDefinition:
    category = await _service(session, code)
    attributes = sorted((attribute_view(raw, lang) for raw in category.attributes), key=_order)
    return Open311ServiceDefinition(
        service_code=category.code,
        attributes=[
            Open311Attribute(
                variable=True,
                code=attribute.code,
                datatype=attribute.datatype,
                required=attribute.required,
                datatype_description="",
                order=attribute.order,
                description=attribute.description,
                values=[
                    Open311AttributeValue(key=v["key"], name=v["name"]) for v in attribute.values
                ],
            )
            for attribute in attributes
        ],
    )


def _order(attribute: Any) -> tuple[int, str]:
    return attribute.order, attribute.code


# --- requests ---


@dataclass(frozen=True)
class Search:
    """The query of ``GET requests``: ids override everything, the window is at most 90 days."""

    ids: list[str] | None
    service_codes: list[str] | None
    start: datetime
    end: datetime
    statuses: list[str] | None

    @classmethod
    def parse(
        cls,
        *,
        service_request_id: str | None,
        service_code: str | None,
        start_date: str | None,
        end_date: str | None,
        status: str | None,
        now: datetime,
    ) -> "Search":
        ids = _csv(service_request_id)
        if ids is not None:
            if len(ids) > MAX_REQUEST_IDS:
                raise _bad(f"at most {MAX_REQUEST_IDS} service_request_id")
            return cls(ids, None, now, now, None)  # the other parameters do not apply
        start, end = _parse_when(start_date, "start_date"), _parse_when(end_date, "end_date")
        end = end or (start + SEARCH_SPAN if start else now)
        start = start or end - SEARCH_SPAN
        if start > end:
            raise _bad("start_date is after end_date")
        if end - start > SEARCH_SPAN:
            raise _bad("start_date and end_date may be at most 90 days apart")
        statuses = _csv(status)
        if statuses is not None and not set(statuses) <= {"open", "closed"}:
            raise _bad("status is open, closed or both (comma-separated)")
        return cls(ids, _csv(service_code), start, end, statuses)


def _bad(description: str) -> BadRequest:
    return BadRequest((description, description), slug="open311-bad-request")


def _csv(raw: str | None) -> list[str] | None:
    if raw is None or not raw.strip():
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _parse_when(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _bad(f"{name} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=PARIS)


def _our_statuses(open_or_closed: Sequence[str]) -> list[str]:
    chosen: set[Status] = set()
    if "open" in open_or_closed:
        chosen |= OPEN
    if "closed" in open_or_closed:
        chosen |= CLOSED
    return sorted(str(status) for status in chosen)


async def search(
    session: AsyncSession, settings: Settings, query: Search, lang: str, *, extensions: bool
) -> list[Open311Request]:
    incidents = IncidentRepository.from_session(session)
    repo = PublicRepository.from_session(session)
    if query.ids is not None:
        reports = await repo.requests(codes=query.ids, limit=MAX_REQUEST_IDS)
    else:
        category_ids = None
        if query.service_codes is not None:
            by_code = {c.code: c.id for c in await incidents.categories(active_only=False)}
            category_ids = [by_code[code] for code in query.service_codes if code in by_code]
        reports = await repo.requests(
            category_ids=category_ids,
            since=query.start,
            until=query.end,
            statuses=_our_statuses(query.statuses) if query.statuses else None,
            limit=SEARCH_LIMIT,
        )
    return await _records(session, settings, reports, lang, extensions=extensions)


async def one(
    session: AsyncSession, settings: Settings, code: str, lang: str, *, extensions: bool
) -> Open311Request:
    reports = await PublicRepository.from_session(session).requests(codes=[code], limit=1)
    if not reports:
        raise NotFound(
            ("Demande introuvable.", "Service request not found."), slug="unknown-request"
        )
    records = await _records(session, settings, reports, lang, extensions=extensions)
    return records[0]


async def _records(
    session: AsyncSession,
    settings: Settings,
    reports: Sequence[IncidentReport],
    lang: str,
    *,
    extensions: bool,
) -> list[Open311Request]:
    incidents = IncidentRepository.from_session(session)
    repo = PublicRepository.from_session(session)
    ids = [report.id for report in reports]
    categories = await incidents.categories_by_id([report.category_id for report in reports])
    teams = await incidents.teams_by_id([r.team_id for r in reports if r.team_id is not None])
    notes = await repo.latest_staff_notes(ids)
    photos = await repo.first_public_photos(ids)
    base = settings.public_url.rstrip("/")
    return [
        record(
            report,
            categories[report.category_id],
            lang=lang,
            team_name=teams[report.team_id].name if report.team_id in teams else None,
            note=notes.get(report.id),
            photo_id=photos.get(report.id),
            base_url=base,
            extensions=extensions,
        )
        for report in reports
    ]


def record(
    report: IncidentReport,
    category: IncidentCategory,
    *,
    lang: str,
    team_name: str | None,
    note: str | None,
    photo_id: uuid.UUID | None,
    base_url: str,
    extensions: bool,
) -> Open311Request:
    """One report as an Open311 request: public fields only (no reporter, contact, answers)."""
    status = Status(report.status)
    agency = team_name or AGENCY
    if status == Status.forwarded and report.resolution_reason:
        agency = report.resolution_reason  # the outside body it went to
    description = report.description or None
    if report.description_redacted and not description:
        description = REDACTED["en" if lang == "en" else "fr"]
    return Open311Request(
        service_request_id=report.tracking_code,
        status="closed" if status in CLOSED else "open",
        status_notes=_status_notes(report, status, note, lang),
        service_name=category_name(category, lang),
        service_code=category.code,
        description=description,
        agency_responsible=agency,
        service_notice=None,
        requested_datetime=iso(report.created_at) or "",
        updated_datetime=iso(report.updated_at) or "",
        expected_datetime=iso(report.sla_due_at) if status in OPEN else None,
        address=report.address,
        address_id=None,
        zipcode=None,
        lat=round(report.lat, 6),
        long=round(report.lon, 6),
        media_url=PHOTO_URL.format(base=base_url, photo_id=photo_id) if photo_id else None,
        extended_attributes=Open311ExtendedAttributes(
            status=EXTENDED_STATUS[status],
            detailed_status=status,
            detailed_status_label=label(status, lang),
        )
        if extensions
        else None,
    )


def _status_notes(report: IncidentReport, status: Status, note: str | None, lang: str) -> str:
    """Our detailed status in words, then the Métropole's last public note or the reason."""
    parts = [label(status, lang)]
    if status in (Status.rejected, Status.forwarded) and report.resolution_reason:
        parts.append(report.resolution_reason)
    elif note:
        parts.append(note)
    if status == Status.scheduled and report.scheduled_for:
        parts.append(report.scheduled_for.isoformat())
    return " — ".join(parts)


# --- creating a request ---


def client_key(settings: Settings, api_key: str | None) -> str:
    """The reporter key of an Open311 client (``open311:<sha256 prefix>``); 403 for a bad key."""
    given = (api_key or "").strip()
    if not given or not any(
        hmac.compare_digest(given.encode(), known.encode()) for known in settings.open311_keys()
    ):
        raise Forbidden(
            ("Clé api_key absente ou invalide.", "Missing or invalid api_key."),
            slug="invalid-api-key",
        )
    return "open311:" + hashlib.sha256(given.encode()).hexdigest()[:8]


def form_attributes(
    category: IncidentCategory, fields: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    """``attribute[code]=v`` and ``attribute[code][]=v`` typed as the category's questions say."""
    raw: dict[str, Any] = {}
    for name, value in fields:
        if not (name.startswith("attribute[") and "]" in name):
            continue
        code, _, rest = name.removeprefix("attribute[").partition("]")
        if rest == "[]":
            raw.setdefault(code, [])
            if isinstance(raw[code], list):
                raw[code].append(value)
        else:
            raw[code] = value
    datatypes = {item["code"]: item["datatype"] for item in category.attributes}
    return {code: _typed(datatypes.get(code), value) for code, value in raw.items()}


def _typed(datatype: str | None, value: Any) -> Any:
    if datatype == "multivaluelist" and isinstance(value, str):
        return [value]
    if datatype == "number" and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value  # the category check names the problem
        return int(number) if number.is_integer() and "." not in value else number
    return value


async def create(
    session: AsyncSession,
    settings: Settings,
    territory: TerritoryService,
    form: Sequence[tuple[str, str]],
    lang: str,
) -> Open311Created:
    """POST requests: a report filed by the Open311 client through the same rules as the app."""
    fields = dict(form)
    who = service.partner_caller(client_key(settings, fields.get("api_key")))
    check_jurisdiction(fields.get("jurisdiction_id"))
    code = fields.get("service_code", "").strip()
    if not code:
        raise _bad("service_code is required")
    category = await _service(session, code)
    if not fields.get("lat") or not fields.get("long"):
        raise _bad("lat and long are required: a report needs a point (address alone is not)")
    try:
        data = ReportIn.model_validate(
            {
                "category": category.code,
                "location": {"lat": fields["lat"], "lon": fields["long"]},
                "description": fields.get("description", ""),
                "attributes": form_attributes(category, form),
                "contact_email": fields.get("email") or None,
            }
        )
    except ValidationError as exc:
        raise _bad(
            "; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
        ) from None
    filed = await service.file_report(
        session, settings, territory, who, data, channel="open311", now=utcnow()
    )
    # The client polls GET requests; it has no device to push to, so it follows nothing.
    await service.unfollow(session, filed.report, who)
    return Open311Created(
        service_request_id=filed.report.tracking_code,
        service_notice=_notice(category, lang),
        account_id=None,
    )


def _notice(category: IncidentCategory, lang: str) -> str | None:
    days = category.sla_working_days
    if days is None:
        return None
    if lang == "en":
        return f"Expected to be handled within {days} working days."
    return f"Traitement prévu sous {days} jours ouvrés."


def form_items(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Text fields of a posted form (files are not part of Open311: ``media_url`` only)."""
    return [(name, value) for name, value in items if isinstance(value, str)]
