import uuid
from datetime import date, datetime

from sqlalchemy import Date, String, func
from sqlalchemy.dialects.postgresql import TIMESTAMP, UUID
from sqlalchemy.orm import Mapped, mapped_column

from poche_api.db import Base


class Resident(Base):
    """A resident known through FranceConnect. Erasure blanks every personal column, keeping
    the row (without any identifying value) so records other domains must keep stay linked."""

    __tablename__ = "residents"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    fc_sub: Mapped[str | None] = mapped_column(String(128), unique=True)
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    birthdate: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))
    birthplace: Mapped[str | None] = mapped_column(String(5))
    birthcountry: Mapped[str | None] = mapped_column(String(5))
    email: Mapped[str | None] = mapped_column(String(320))
    preferred_username: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now()
    )
    last_login_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    erased_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
