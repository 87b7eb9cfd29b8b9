"""Every identity query."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.models import (
    AuthSession,
    Consent,
    Device,
    RefreshToken,
    Resident,
    StaffMember,
    StaffTeam,
    Team,
)

# Every staff request resolves its caller: one statement, built once, for role, state and teams.
_STAFF_ACCESS = (
    select(StaffMember.role, StaffMember.active, func.array_agg(Team.slug))
    .outerjoin(StaffTeam, StaffTeam.staff_id == StaffMember.id)
    .outerjoin(Team, Team.id == StaffTeam.team_id)
    .where(StaffMember.id == bindparam("staff_id"))
    .group_by(StaffMember.id)
)


class IdentityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> "IdentityRepository":
        return cls(session)

    async def add(self, row: object) -> None:
        self.session.add(row)
        await self.session.flush()

    # --- residents ---
    async def resident(self, resident_id: uuid.UUID) -> Resident | None:
        return await self.session.get(Resident, resident_id)

    async def resident_by_sub(self, fc_sub: str) -> Resident | None:
        return await self.session.scalar(select(Resident).where(Resident.fc_sub == fc_sub))

    # --- staff ---
    async def staff(self, staff_id: uuid.UUID) -> StaffMember | None:
        return await self.session.get(StaffMember, staff_id)

    async def staff_access(self, staff_id: uuid.UUID) -> tuple[str, bool, list[str]] | None:
        """Role, active flag and team slugs (sorted) of one staff member, or None."""
        row = (await self.session.execute(_STAFF_ACCESS, {"staff_id": staff_id})).first()
        if row is None:
            return None
        role, active, slugs = row
        return role, active, sorted(slug for slug in slugs if slug is not None)

    async def staff_by_email(self, email: str) -> StaffMember | None:
        return await self.session.scalar(
            select(StaffMember).where(StaffMember.email == email.strip().lower())
        )

    async def staff_page(self, *, limit: int, after_email: str | None) -> Sequence[StaffMember]:
        statement = select(StaffMember).order_by(StaffMember.email).limit(limit)
        if after_email is not None:
            statement = statement.where(StaffMember.email > after_email)
        return (await self.session.scalars(statement)).all()

    async def team_slugs(self, staff_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        rows = await self.session.execute(
            select(StaffTeam.staff_id, Team.slug)
            .join(Team, Team.id == StaffTeam.team_id)
            .where(StaffTeam.staff_id.in_(staff_ids))
            .order_by(Team.slug)
        )
        result: dict[uuid.UUID, list[str]] = {staff_id: [] for staff_id in staff_ids}
        for staff_id, slug in rows:
            result[staff_id].append(slug)
        return result

    async def teams_by_slug(self, slugs: Sequence[str]) -> dict[str, Team]:
        rows = await self.session.scalars(select(Team).where(Team.slug.in_(slugs)))
        return {team.slug: team for team in rows}

    async def set_teams(self, staff_id: uuid.UUID, team_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(delete(StaffTeam).where(StaffTeam.staff_id == staff_id))
        self.session.add_all(StaffTeam(staff_id=staff_id, team_id=t) for t in team_ids)
        await self.session.flush()

    # --- devices ---
    async def device(self, device_id: uuid.UUID) -> Device | None:
        return await self.session.get(Device, device_id)

    async def device_by_credential(self, credential_hash: str) -> Device | None:
        return await self.session.scalar(
            select(Device).where(Device.credential_hash == credential_hash)
        )

    async def devices_of(self, resident_id: uuid.UUID) -> Sequence[Device]:
        return (
            await self.session.scalars(
                select(Device).where(Device.resident_id == resident_id).order_by(Device.created_at)
            )
        ).all()

    async def delete_device(self, device_id: uuid.UUID) -> None:
        await self.session.execute(delete(Device).where(Device.id == device_id))

    async def delete_devices_of(self, resident_id: uuid.UUID) -> None:
        await self.session.execute(delete(Device).where(Device.resident_id == resident_id))

    # --- sessions and refresh tokens ---
    async def auth_session(self, session_id: uuid.UUID) -> AuthSession | None:
        return await self.session.get(AuthSession, session_id)

    async def sessions_of(self, kind: str, subject_id: uuid.UUID) -> Sequence[AuthSession]:
        return (
            await self.session.scalars(
                select(AuthSession)
                .where(AuthSession.subject_kind == kind, AuthSession.subject_id == subject_id)
                .order_by(AuthSession.created_at)
            )
        ).all()

    async def refresh_token_for_update(self, token_hash: str) -> RefreshToken | None:
        return await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        )

    async def revoke_session(self, session_id: uuid.UUID, when: datetime, reason: str) -> None:
        await self.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
            .values(revoked_at=when, revoked_reason=reason, id_token_hint=None)
        )

    async def delete_sessions_of(self, kind: str, subject_id: uuid.UUID) -> list[uuid.UUID]:
        deleted = await self.session.scalars(
            delete(AuthSession)
            .where(AuthSession.subject_kind == kind, AuthSession.subject_id == subject_id)
            .returning(AuthSession.id)
        )
        return list(deleted)

    # --- consents ---
    async def consents_of(self, resident_id: uuid.UUID) -> Sequence[Consent]:
        return (
            await self.session.scalars(
                select(Consent)
                .where(Consent.resident_id == resident_id)
                .order_by(Consent.recorded_at, Consent.id)
            )
        ).all()

    async def delete_consents_of(self, resident_id: uuid.UUID) -> None:
        await self.session.execute(delete(Consent).where(Consent.resident_id == resident_id))
