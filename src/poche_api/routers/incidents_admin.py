"""Admins manage the incident catalogue and the routing rules."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from starlette.responses import Response

from poche_api.auth import Admin
from poche_api.db import ReadSessionDep, SessionDep
from poche_api.errors import NotFound, Unprocessable, problem_responses
from poche_api.incidents import catalogue, schemas
from poche_api.incidents.repository import IncidentRepository
from poche_api.kit.timeutil import utcnow
from poche_api.models import RoutingRule

router = APIRouter(prefix="/admin/incidents", tags=["incidents: administration"])
Code = Annotated[str, Path(pattern=schemas.CODE_PATTERN)]


@router.put(
    "/groups/{code}",
    status_code=200,
    response_model=schemas.GroupIn,
    summary="Create or update a category group",
    responses={201: {"description": "Created"}, **problem_responses(401, 403, 422)},
)
async def put_group(
    code: Code, data: schemas.GroupIn, admin: Admin, session: SessionDep, response: Response
) -> schemas.GroupIn:
    if data.code != code:
        raise Unprocessable(
            ("Le code ne correspond pas à l'URL.", "The code does not match the URL."),
            slug="code-mismatch",
        )
    _group, created = await catalogue.upsert_group(session, data)
    if created:
        response.status_code = 201
    return data


@router.put(
    "/categories/{code}",
    status_code=200,
    response_model=schemas.CategoryAdmin,
    summary="Create or update a category (attributes, competence, notices, SLA, retention)",
    responses={201: {"description": "Created"}, **problem_responses(401, 403, 422)},
)
async def put_category(
    code: Code, data: schemas.CategoryIn, _: Admin, session: SessionDep, response: Response
) -> schemas.CategoryAdmin:
    view, created = await catalogue.upsert_category(session, code, data)
    if created:
        response.status_code = 201
    return view


@router.get(
    "/categories/{code}",
    response_model=schemas.CategoryAdmin,
    summary="A category as admins edit it (both languages)",
    responses=problem_responses(401, 403, 404),
)
async def get_category(code: Code, _: Admin, session: ReadSessionDep) -> schemas.CategoryAdmin:
    return await catalogue.admin_category(session, code)


def _rule_out(rule: RoutingRule, team_slug: str) -> schemas.RoutingRuleOut:
    return schemas.RoutingRuleOut(
        id=rule.id,
        position=rule.position,
        name=rule.name,
        team=team_slug,
        category_codes=rule.category_codes,
        commune_insee=rule.commune_insee,
        sector=rule.sector,
        weekdays=rule.weekdays,
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
        min_priority=rule.min_priority,
        active=rule.active,
    )


async def _apply(session: SessionDep, rule: RoutingRule, data: schemas.RoutingRuleIn) -> str:
    repo = IncidentRepository.from_session(session)
    team = await repo.team_by_slug(data.team)
    if team is None:
        raise Unprocessable(
            (f"Équipe {data.team} inconnue.", f"Unknown team {data.team}."),
            slug="team-not-found",
            errors=[{"pointer": "/team", "detail": "unknown team"}],
        )
    for name in (
        "position",
        "name",
        "category_codes",
        "commune_insee",
        "sector",
        "weekdays",
        "starts_at",
        "ends_at",
        "min_priority",
        "active",
    ):
        setattr(rule, name, getattr(data, name))
    rule.team_id = team.id
    rule.updated_at = utcnow()
    return team.slug


@router.get(
    "/routing-rules",
    response_model=schemas.RoutingRuleList,
    summary="The routing rules, in the order they are tried",
    responses=problem_responses(401, 403),
)
async def list_rules(_: Admin, session: ReadSessionDep) -> schemas.RoutingRuleList:
    repo = IncidentRepository.from_session(session)
    rules = await repo.rules()
    teams = await repo.teams_by_id([rule.team_id for rule in rules])
    return schemas.RoutingRuleList(items=[_rule_out(r, teams[r.team_id].slug) for r in rules])


@router.post(
    "/routing-rules",
    status_code=201,
    response_model=schemas.RoutingRuleOut,
    summary="Add a routing rule",
    responses=problem_responses(401, 403, 422),
)
async def create_rule(
    data: schemas.RoutingRuleIn, _: Admin, session: SessionDep
) -> schemas.RoutingRuleOut:
    rule = RoutingRule(id=uuid.uuid4())
    slug = await _apply(session, rule, data)
    session.add(rule)
    await session.flush()
    return _rule_out(rule, slug)


@router.put(
    "/routing-rules/{rule_id}",
    response_model=schemas.RoutingRuleOut,
    summary="Replace a routing rule",
    responses=problem_responses(401, 403, 404, 422),
)
async def replace_rule(
    rule_id: uuid.UUID, data: schemas.RoutingRuleIn, _: Admin, session: SessionDep
) -> schemas.RoutingRuleOut:
    rule = await IncidentRepository.from_session(session).rule(rule_id)
    if rule is None:
        raise NotFound(("Règle introuvable.", "Rule not found."), slug="rule-not-found")
    slug = await _apply(session, rule, data)
    await session.flush()
    return _rule_out(rule, slug)


@router.delete(
    "/routing-rules/{rule_id}",
    status_code=204,
    summary="Delete a routing rule (reports it routed keep their team)",
    responses=problem_responses(401, 403, 404),
)
async def delete_rule(rule_id: uuid.UUID, _: Admin, session: SessionDep) -> Response:
    repo = IncidentRepository.from_session(session)
    rule = await repo.rule(rule_id)
    if rule is None:
        raise NotFound(("Règle introuvable.", "Rule not found."), slug="rule-not-found")
    await repo.delete_rule(rule)
    return Response(status_code=204)
