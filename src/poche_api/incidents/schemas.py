"""Incident API schemas. Input schemas never carry server-owned fields (status, team, SLA...)."""

import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from poche_api.incidents.workflow import Status

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
Competence = Literal["metropole", "commune", "external"]
CODE_PATTERN = r"^[a-z0-9][a-z0-9_\-]{1,63}$"
DESCRIPTION_MAX = 4000  # Open311's bound on a description


class AttributeValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(max_length=64, description="Value sent by the app")
    name_fr: str = Field(max_length=200)
    name_en: str = Field(max_length=200)


class AttributeDefinition(BaseModel):
    """One extra question of a category (Open311 service definition attribute)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, description="Attribute code")
    datatype: Datatype
    required: bool = False
    description_fr: str = Field(max_length=500)
    description_en: str = Field(max_length=500)
    order: int = Field(0, ge=0, le=1000)
    values: list[AttributeValue] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _lists_have_values(self) -> "AttributeDefinition":
        is_list = self.datatype in ("singlevaluelist", "multivaluelist")
        if is_list != bool(self.values):
            raise ValueError("list attributes, and only they, need values")
        return self


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    name_fr: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    position: int = Field(0, ge=0, le=10_000)


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, description="Stable code (Open311 service_code)")
    group_code: str = Field(pattern=CODE_PATTERN)
    name_fr: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    description_fr: str = Field("", max_length=2000)
    description_en: str = Field("", max_length=2000)
    keywords: list[str] = Field(default_factory=list, max_length=20)
    attributes: list[AttributeDefinition] = Field(default_factory=list, max_length=30)
    competence: Competence = "metropole"
    external_body: str | None = Field(None, max_length=200)
    external_notice_fr: str | None = Field(None, max_length=2000)
    external_notice_en: str | None = Field(None, max_length=2000)
    emergency_notice_fr: str | None = Field(None, max_length=2000)
    emergency_notice_en: str | None = Field(None, max_length=2000)
    private: bool = Field(False, description="Kept off the public map and the open data")
    photo_required: bool = False
    sla_working_days: int | None = Field(None, ge=1, le=365)
    default_priority: int = Field(2, ge=1, le=4, description="1 low, 2 normal, 3 high, 4 urgent")
    duplicate_radius_m: int = Field(50, ge=5, le=1000)
    photo_retention_days: int = Field(365, ge=1, le=3650)
    contact_retention_days: int = Field(365, ge=1, le=3650)
    active: bool = True
    position: int = Field(0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _coherent(self) -> "CategoryIn":
        codes = [attribute.code for attribute in self.attributes]
        if len(codes) != len(set(codes)):
            raise ValueError("attribute codes must be unique")
        if self.competence == "external" and not (
            self.external_body and self.external_notice_fr and self.external_notice_en
        ):
            raise ValueError("an outside body needs its name and its notice in FR and EN")
        if bool(self.emergency_notice_fr) != bool(self.emergency_notice_en):
            raise ValueError("an emergency notice needs both FR and EN")
        return self


class Attribute(BaseModel):
    code: str
    datatype: Datatype
    required: bool
    description: str
    order: int
    values: list[dict[str, str]] = Field(description="[{key, name}] for list attributes")


class Category(BaseModel):
    code: str
    group: str = Field(description="Code of the group")
    name: str
    description: str
    keywords: list[str]
    attributes: list[Attribute]
    competence: Competence
    external_body: str | None
    notice: str | None = Field(description="What to do instead (outside body): replaces the form")
    emergency_notice: str | None = Field(description="Blocks submission: call the emergency number")
    private: bool
    photo_required: bool
    sla_working_days: int | None
    default_priority: int
    duplicate_radius_m: int


class Group(BaseModel):
    code: str
    name: str
    categories: list[Category]


class Catalogue(BaseModel):
    groups: list[Group]


class CategoryAdmin(CategoryIn):
    """The full definition as an admin edits it (both languages)."""

    model_config = ConfigDict(extra="ignore")

    updated_at: datetime


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = Field(
        None, description="Client-generated id: retrying the same report returns it, not a copy"
    )
    category: str = Field(pattern=CODE_PATTERN, description="Category code")
    location: PointIn
    description: str = Field("", max_length=DESCRIPTION_MAX)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=30)
    contact_email: str | None = Field(
        None,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Optional, for anonymous reports; erased after the category's retention",
    )

    @field_validator("description")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        if "<" in value and ">" in value:
            raise ValueError("plain text only, no HTML")
        return value.strip()


class Photo(BaseModel):
    id: uuid.UUID
    kind: Literal["report", "after_fix"]
    url: str = Field(description="Large WebP variant")
    thumbnail_url: str = Field(description="Thumbnail WebP variant")
    width: int
    height: int


class TimelineEntry(BaseModel):
    at: datetime
    status: Status | None
    label: str | None
    note: str | None
    by: Literal["you", "metropole", "system"]


class Report(BaseModel):
    """What the public, and the reporter, may see of a report."""

    id: uuid.UUID
    tracking_code: str = Field(description="Short public code, e.g. `RMN-7K3P9Q`")
    category: str
    category_name: str
    status: Status
    status_label: str
    location: PointIn
    commune_insee: str
    address: str | None
    description: str | None
    attributes: dict[str, Any] | None = Field(description="Only for the reporter and staff")
    photos: list[Photo]
    supporters: int
    following: bool = Field(description="The caller follows it")
    mine: bool = Field(description="The caller filed it")
    expected_by: datetime | None = Field(description="SLA deadline")
    scheduled_for: date | None
    resolution: str | None = Field(description="Rejection reason, or the outside body")
    duplicate_of: str | None = Field(description="Tracking code of the original")
    can_reopen_until: datetime | None = Field(description="'Not fixed' is possible until then")
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry] | None = None


class ReportList(BaseModel):
    items: list[Report]
    next_cursor: str | None


class NearbyReport(BaseModel):
    id: uuid.UUID
    tracking_code: str
    category: str
    status: Status
    status_label: str
    location: PointIn
    distance_m: int
    description: str | None
    supporters: int
    created_at: datetime
    thumbnail_url: str | None


class NearbyReports(BaseModel):
    items: list[NearbyReport]
    radius_m: int


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=1000)


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=1000, description="What is still wrong")


# --- staff ---


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status
    public_note: str | None = Field(None, max_length=2000, description="Shown to the resident")
    internal_note: str | None = Field(None, max_length=4000, description="Staff only")
    scheduled_for: date | None = Field(None, description="Required for `scheduled`")
    reason: str | None = Field(
        None, max_length=1000, description="Required for `rejected`; the body for `forwarded`"
    )
    duplicate_of: str | None = Field(
        None, max_length=16, description="Tracking code of the original, for `duplicate`"
    )

    @model_validator(mode="after")
    def _needs(self) -> "TransitionIn":
        if self.status == Status.scheduled and self.scheduled_for is None:
            raise ValueError("scheduled needs scheduled_for")
        if self.status in (Status.rejected, Status.forwarded) and not self.reason:
            raise ValueError(f"{self.status} needs a reason")
        if self.status == Status.duplicate and not self.duplicate_of:
            raise ValueError("duplicate needs duplicate_of")
        return self


class StaffEvent(BaseModel):
    at: datetime
    actor: str
    actor_role: str
    action: str
    from_status: Status | None
    to_status: Status | None
    public_note: str | None
    internal_note: str | None
    data: dict[str, Any]


class StaffReport(Report):
    """A report as its team sees it: routing, assignment, priority, SLA, internal history."""

    priority: int
    team: str | None = Field(description="Team slug; null while in triage")
    assignee_id: uuid.UUID | None
    routing_rule: str | None = Field(description="Name of the rule that routed it")
    overdue: bool
    escalated: bool
    version: int
    reporter_contact: str | None
    history: list[StaffEvent] | None = None


class StaffReportList(BaseModel):
    items: list[StaffReport]
    next_cursor: str | None


class RoutingRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=0, le=100_000, description="Lower runs first")
    name: str = Field(min_length=1, max_length=200)
    team: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]{1,63}$", description="Team slug")
    category_codes: list[str] | None = Field(None, max_length=200)
    commune_insee: list[str] | None = Field(None, max_length=71)
    sector: list[Any] | None = Field(
        None, description="GeoJSON MultiPolygon coordinates ([[[lon, lat], ...]], ...)"
    )
    weekdays: list[int] | None = Field(None, description="0 = Monday")
    starts_at: time | None = Field(None, description="Europe/Paris, with ends_at")
    ends_at: time | None = None
    min_priority: int | None = Field(None, ge=1, le=4)
    active: bool = True

    @field_validator("commune_insee")
    @classmethod
    def _insee(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(len(code) != 5 or not code.isalnum() for code in value):
            raise ValueError("INSEE codes have 5 characters")
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(day not in range(7) for day in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return value

    @field_validator("sector")
    @classmethod
    def _sector(cls, value: list[Any] | None) -> list[Any] | None:
        if value is None:
            return None
        try:
            for polygon in value:
                for ring in polygon:
                    if len(ring) < 4:
                        raise ValueError("a ring needs at least 4 positions")
                    for lon, lat in ring:
                        if not (-180 <= float(lon) <= 180 and -90 <= float(lat) <= 90):
                            raise ValueError("positions are [lon, lat] in degrees")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sector is not MultiPolygon coordinates: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _window(self) -> "RoutingRuleIn":
        if (self.starts_at is None) != (self.ends_at is None):
            raise ValueError("starts_at and ends_at go together")
        return self


class RoutingRuleOut(RoutingRuleIn):
    id: uuid.UUID


class RoutingRuleList(BaseModel):
    items: list[RoutingRuleOut]


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9\-]{1,63}$", description="Team slug")
    assignee_id: uuid.UUID | None = Field(None, description="An agent of that team")
    note: str | None = Field(None, max_length=2000, description="Internal note")

    @model_validator(mode="after")
    def _something(self) -> "ReassignIn":
        if self.team is None and self.assignee_id is None:
            raise ValueError("give a team, an agent, or both")
        return self


class RequalifyIn(BaseModel):
    """Staff correct a report's category or location; it is routed again."""

    model_config = ConfigDict(extra="forbid")

    category: str | None = Field(None, pattern=CODE_PATTERN)
    location: PointIn | None = None
    priority: int | None = Field(None, ge=1, le=4)
    internal_note: str | None = Field(None, max_length=4000)


# --- field work: nearby, notes, offline sync, a day's route ---


class NoteIn(BaseModel):
    """A note without a status change: public (pushed to followers), internal, or both."""

    model_config = ConfigDict(extra="forbid")

    public_note: str | None = Field(
        None, min_length=1, max_length=2000, description="Shown to the resident and pushed"
    )
    internal_note: str | None = Field(None, min_length=1, max_length=4000, description="Staff only")

    @model_validator(mode="after")
    def _something(self) -> "NoteIn":
        if self.public_note is None and self.internal_note is None:
            raise ValueError("give a public note, an internal note, or both")
        return self


class FieldReport(StaffReport):
    distance_m: int = Field(description="Straight-line distance from the position given, metres")


class FieldReportList(BaseModel):
    items: list[FieldReport]
    radius_m: int


class _SyncOperationBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID = Field(
        description="Made by the app when the work was done; a replay returns the first answer"
    )
    report_id: uuid.UUID
    base_version: int = Field(
        ge=1, description="The report's version the agent last saw from the server"
    )


class SyncClaim(_SyncOperationBase):
    action: Literal["claim"]


class SyncTransition(_SyncOperationBase):
    action: Literal["transition"]
    transition: TransitionIn


class SyncNote(_SyncOperationBase):
    action: Literal["note"]
    note: NoteIn


SyncOperation = Annotated[SyncClaim | SyncTransition | SyncNote, Field(discriminator="action")]


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operations: list[SyncOperation] = Field(
        min_length=1, max_length=50, description="Applied in order, each on its own"
    )


class SyncResult(BaseModel):
    id: uuid.UUID = Field(description="The operation's id")
    report_id: uuid.UUID
    action: Literal["claim", "transition", "note"]
    status: int = Field(description="As the single call would have answered: 200, 403, 404, ...")
    version: int | None = Field(None, description="The report's version after the operation")
    report_status: Status | None = Field(None, description="The report's status after it")
    already_current: bool = Field(
        False, description="Nothing to do: the report already was as the operation wanted"
    )
    replayed: bool = Field(False, description="Applied by an earlier sync; this is its answer")
    problem: dict[str, Any] | None = Field(
        None, description="RFC 9457 problem details when status is not 200"
    )


class SyncOut(BaseModel):
    results: list[SyncResult]


class RouteStop(BaseModel):
    order: int = Field(description="1 for the first visit")
    leg_m: int = Field(description="Straight-line distance from the previous stop (or start)")
    cumulative_m: int
    report: StaffReport


class DayRoute(BaseModel):
    date: date
    start: PointIn
    total_m: int = Field(description="Straight-line length of the tour, from start to last stop")
    nearest_neighbour_m: int = Field(description="Length of the plain nearest-neighbour tour")
    stops: list[RouteStop]
    truncated: bool = Field(
        description="More reports than the stop limit: the least pressing were left out"
    )
