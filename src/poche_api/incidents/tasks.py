"""Incident jobs: the address of a report whose reverse geocoding could not wait."""

import uuid
from datetime import timedelta
from typing import Any

from poche_api.integrations.geocoding import BanGeocoder, GeocoderUnavailable
from poche_api.jobs import JobContext, RetryLater, registry
from poche_api.models import IncidentReport

GEOCODE = "incidents.geocode_report"


@registry.job(GEOCODE, max_attempts=10)
async def geocode_report(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Fill a report's address once BAN answers; a report without address stays valid."""
    geocoder = BanGeocoder.from_settings(ctx.settings, http=ctx.http, redis=ctx.redis)
    async with ctx.session() as session:
        report = await session.get(IncidentReport, uuid.UUID(payload["report_id"]))
        if report is None or report.address is not None:
            return
        try:
            address = await geocoder.reverse(report.lat, report.lon, strict=True)
        except GeocoderUnavailable as exc:
            raise RetryLater(timedelta(minutes=5), f"BAN unavailable: {exc.reason}") from exc
        if address is None:
            return  # BAN knows no address there (a park, a river bank): nothing to wait for
        report.address = address.label
        await session.commit()
