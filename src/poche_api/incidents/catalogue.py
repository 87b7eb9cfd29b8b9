"""The category tree: what the app shows, what admins edit, how a report's answers are checked."""

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.errors import NotFound, Unprocessable
from poche_api.incidents import schemas
from poche_api.incidents.repository import IncidentRepository
from poche_api.kit.timeutil import utcnow
from poche_api.models import IncidentCategory, IncidentGroup


def _pick(fr: str | None, en: str | None, lang: str) -> str | None:
    return (en or fr) if lang == "en" else (fr or en)


def attribute_view(raw: dict[str, Any], lang: str) -> schemas.Attribute:
    definition = schemas.AttributeDefinition.model_validate(raw)
    return schemas.Attribute(
        code=definition.code,
        datatype=definition.datatype,
        required=definition.required,
        description=_pick(definition.description_fr, definition.description_en, lang) or "",
        order=definition.order,
        values=[
            {"key": value.key, "name": _pick(value.name_fr, value.name_en, lang) or value.key}
            for value in definition.values
        ],
    )


def category_view(category: IncidentCategory, group_code: str, lang: str) -> schemas.Category:
    return schemas.Category(
        code=category.code,
        group=group_code,
        name=_pick(category.name_fr, category.name_en, lang) or category.code,
        description=_pick(category.description_fr, category.description_en, lang) or "",
        keywords=list(category.keywords),
        attributes=sorted(
            (attribute_view(raw, lang) for raw in category.attributes), key=lambda a: a.order
        ),
        competence=category.competence,
        external_body=category.external_body,
        notice=_pick(category.external_notice_fr, category.external_notice_en, lang),
        emergency_notice=_pick(category.emergency_notice_fr, category.emergency_notice_en, lang),
        private=category.private,
        photo_required=category.photo_required,
        sla_working_days=category.sla_working_days,
        default_priority=category.default_priority,
        duplicate_radius_m=category.duplicate_radius_m,
    )


class NamedCategory(Protocol):
    """What naming a category needs: a full category or a page's ``CategoryNames``."""

    @property
    def code(self) -> str: ...
    @property
    def name_fr(self) -> str: ...
    @property
    def name_en(self) -> str: ...


def category_name(category: NamedCategory, lang: str) -> str:
    return _pick(category.name_fr, category.name_en, lang) or category.code


async def catalogue(session: AsyncSession, lang: str) -> schemas.Catalogue:
    repo = IncidentRepository.from_session(session)
    groups = await repo.groups()
    by_group: dict[Any, list[IncidentCategory]] = {}
    for category in await repo.categories(active_only=True):
        by_group.setdefault(category.group_id, []).append(category)
    return schemas.Catalogue(
        groups=[
            schemas.Group(
                code=group.code,
                name=_pick(group.name_fr, group.name_en, lang) or group.code,
                categories=[category_view(c, group.code, lang) for c in by_group[group.id]],
            )
            for group in groups
            if by_group.get(group.id)
        ]
    )


def _unknown_category(code: str) -> NotFound:
    return NotFound(
        (f"Catégorie {code} inconnue.", f"Unknown category {code}."), slug="category-not-found"
    )


async def active_category(session: AsyncSession, code: str) -> IncidentCategory:
    category = await IncidentRepository.from_session(session).category_by_code(code)
    if category is None or not category.active:
        raise Unprocessable(
            (f"Catégorie {code} inconnue.", f"Unknown category {code}."),
            slug="category-not-found",
            errors=[{"pointer": "/category", "detail": "unknown category"}],
        )
    return category


async def upsert_group(session: AsyncSession, data: schemas.GroupIn) -> tuple[IncidentGroup, bool]:
    repo = IncidentRepository.from_session(session)
    group = await repo.group_by_code(data.code)
    created = group is None
    if group is None:
        group = IncidentGroup(code=data.code)
        session.add(group)
    group.name_fr, group.name_en, group.position = data.name_fr, data.name_en, data.position
    await session.flush()
    return group, created


async def upsert_category(
    session: AsyncSession, code: str, data: schemas.CategoryIn
) -> tuple[schemas.CategoryAdmin, bool]:
    if data.code != code:
        raise Unprocessable(
            ("Le code ne correspond pas à l'URL.", "The code does not match the URL."),
            slug="code-mismatch",
            errors=[{"pointer": "/code", "detail": "must equal the code in the URL"}],
        )
    repo = IncidentRepository.from_session(session)
    group = await repo.group_by_code(data.group_code)
    if group is None:
        raise Unprocessable(
            (f"Groupe {data.group_code} inconnu.", f"Unknown group {data.group_code}."),
            slug="group-not-found",
            errors=[{"pointer": "/group_code", "detail": "unknown group"}],
        )
    category = await repo.category_by_code(code)
    created = category is None
    if category is None:
        category = IncidentCategory(code=code)
        session.add(category)
    fields = data.model_dump(exclude={"code", "group_code", "attributes"})
    for name, value in fields.items():
        setattr(category, name, value)
    category.attributes = [attribute.model_dump() for attribute in data.attributes]
    category.group_id = group.id
    category.updated_at = utcnow()
    await session.flush()
    return admin_view(category, group.code), created


def admin_view(category: IncidentCategory, group_code: str) -> schemas.CategoryAdmin:
    return schemas.CategoryAdmin.model_validate(
        {
            **{
                name: getattr(category, name)
                for name in schemas.CategoryIn.model_fields
                if name not in ("group_code",)
            },
            "group_code": group_code,
            "updated_at": category.updated_at,
        }
    )


async def admin_category(session: AsyncSession, code: str) -> schemas.CategoryAdmin:
    repo = IncidentRepository.from_session(session)
    category = await repo.category_by_code(code)
    if category is None:
        raise _unknown_category(code)
    groups = {group.id: group.code for group in await repo.groups()}
    return admin_view(category, groups[category.group_id])


# --- answers to a category's questions ---


def _check_value(definition: schemas.AttributeDefinition, value: Any) -> str | None:
    """None when ``value`` fits the attribute, else what is wrong."""
    keys = {item.key for item in definition.values}
    match definition.datatype:
        case "string":
            ok = isinstance(value, str) and len(value) <= 200
        case "text":
            ok = isinstance(value, str) and len(value) <= 4000
        case "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        case "datetime":
            ok = isinstance(value, str) and _is_datetime(value)
        case "singlevaluelist":
            ok = isinstance(value, str) and value in keys
        case "multivaluelist":
            ok = (
                isinstance(value, list)
                and bool(value)
                and all(isinstance(v, str) and v in keys for v in value)
            )
    return (
        None
        if ok
        else f"expected a {definition.datatype}" + (f" among {sorted(keys)}" if keys else "")
    )


def _is_datetime(value: str) -> bool:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def check_attributes(category: IncidentCategory, answers: dict[str, Any]) -> dict[str, Any]:
    """Answers keyed by attribute code, checked against the category; 422 lists every problem."""
    definitions = {
        raw["code"]: schemas.AttributeDefinition.model_validate(raw) for raw in category.attributes
    }
    errors = [
        {"pointer": f"/attributes/{code}", "detail": "unknown attribute"}
        for code in answers
        if code not in definitions
    ]
    for code, definition in definitions.items():
        if code not in answers or answers[code] in (None, "", []):
            if definition.required:
                errors.append({"pointer": f"/attributes/{code}", "detail": "required"})
            continue
        problem = _check_value(definition, answers[code])
        if problem:
            errors.append({"pointer": f"/attributes/{code}", "detail": problem})
    if errors:
        raise Unprocessable(
            ("Réponses incomplètes ou invalides.", "Missing or invalid answers."),
            slug="invalid-attributes",
            errors=errors,
        )
    return {code: value for code, value in answers.items() if value not in (None, "", [])}
