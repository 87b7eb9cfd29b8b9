from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Float, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from poche_api.db import Base


class Commune(Base):
    """One of the 71 communes of the Métropole, with its boundary for point lookups."""

    __tablename__ = "communes"

    insee: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    name_normalized: Mapped[str] = mapped_column(String(120), index=True)
    postal_codes: Mapped[list[str]] = mapped_column(ARRAY(String(5)))
    population: Mapped[int] = mapped_column(Integer)
    town_hall: Mapped[dict[str, Any]] = mapped_column(JSONB)
    centroid_lat: Mapped[float] = mapped_column(Float)
    centroid_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    boundary: Mapped[list[Any]] = mapped_column(JSONB, deferred=True)
    updated_at: Mapped[datetime] = mapped_column(
        TIMESTAMP(timezone=True), server_default=func.now(), onupdate=func.now()
    )
