"""Extension points for the privacy rights: each capability holding personal data of a resident
registers what it adds to the export and how it erases (or anonymises) that data."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

ExportSection = Callable[[AsyncSession, uuid.UUID], Awaitable[Any]]
ErasureStep = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]

EXPORT_SECTIONS: dict[str, ExportSection] = {}
ERASURE_STEPS: dict[str, ErasureStep] = {}


def export_section(name: str) -> Callable[[ExportSection], ExportSection]:
    """``@export_section("incidents")``: its result appears under ``other.incidents``."""

    def register(function: ExportSection) -> ExportSection:
        EXPORT_SECTIONS[name] = function
        return function

    return register


def erasure_step(name: str) -> Callable[[ErasureStep], ErasureStep]:
    """``@erasure_step("water")``: runs in the erasure transaction (enqueue partner unlinks)."""

    def register(function: ErasureStep) -> ErasureStep:
        ERASURE_STEPS[name] = function
        return function

    return register
