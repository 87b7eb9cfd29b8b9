from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from poche_api.models import Commune


class CommuneRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> "CommuneRepository":
        return cls(session)

    async def version(self) -> tuple[int, datetime | None]:
        row = (await self.session.execute(select(func.count(), func.max(Commune.updated_at)))).one()
        return int(row[0]), row[1]

    async def all_with_boundaries(self) -> Sequence[Commune]:
        statement = select(Commune).options(undefer(Commune.boundary)).order_by(Commune.name)
        return (await self.session.scalars(statement)).all()
