"""The report state machine: statuses, who may move a report from one to another, and labels.

Every change of status goes through ``check``; the table below is the whole policy, so a
transition missing from it is refused (409) for everyone. ``reporter`` is the resident or device
that filed the report; ``agent`` a member of the team the report is routed to; ``system`` the
routing and the scheduled jobs.
"""

from enum import StrEnum
from typing import Literal

from poche_api.errors import Conflict, Forbidden


class Status(StrEnum):
    submitted = "submitted"
    triaged = "triaged"
    assigned = "assigned"
    in_progress = "in_progress"
    scheduled = "scheduled"
    resolved = "resolved"
    rejected = "rejected"
    duplicate = "duplicate"
    forwarded = "forwarded"
    reopen_requested = "reopen_requested"
    reopened = "reopened"


Actor = Literal["reporter", "agent", "supervisor", "system"]

OPEN = frozenset(
    {
        Status.submitted,
        Status.triaged,
        Status.assigned,
        Status.in_progress,
        Status.scheduled,
        Status.reopen_requested,
        Status.reopened,
    }
)
CLOSED = frozenset(Status) - OPEN

_STAFF: frozenset[Actor] = frozenset({"agent", "supervisor"})
_SUPERVISOR: frozenset[Actor] = frozenset({"supervisor"})
_WORK_ENDINGS = (Status.resolved, Status.rejected, Status.duplicate, Status.forwarded)

TRANSITIONS: dict[tuple[Status, Status], frozenset[Actor]] = {
    # Routing puts a report in a team's queue; the rest waits for a supervisor in triage.
    (Status.submitted, Status.triaged): frozenset({"system", "supervisor"}),
    (Status.submitted, Status.assigned): _SUPERVISOR,
    **{(Status.submitted, end): _SUPERVISOR for end in _WORK_ENDINGS},
    (Status.triaged, Status.assigned): _STAFF,
    (Status.triaged, Status.submitted): frozenset({"system", "supervisor"}),  # back to triage
    **{
        (start, target): _STAFF
        for start in (Status.triaged, Status.assigned, Status.reopened)
        for target in (Status.in_progress, Status.scheduled, *_WORK_ENDINGS)
    },
    (Status.assigned, Status.triaged): _STAFF,  # unassigned, back to the team queue
    (Status.reopened, Status.assigned): _STAFF,
    **{
        (Status.in_progress, target): _STAFF
        for target in (Status.scheduled, Status.assigned, *_WORK_ENDINGS)
    },
    **{
        (Status.scheduled, target): _STAFF
        for target in (Status.scheduled, Status.in_progress, *_WORK_ENDINGS)
    },
    # "Not fixed": the reporter asks, the team accepts (reopened) or explains (resolved again).
    (Status.resolved, Status.reopen_requested): frozenset({"reporter"}),
    (Status.reopen_requested, Status.reopened): _STAFF,
    (Status.reopen_requested, Status.resolved): _STAFF,
    (Status.rejected, Status.reopened): _SUPERVISOR,
    (Status.forwarded, Status.reopened): _SUPERVISOR,
}

LABELS: dict[Status, tuple[str, str]] = {
    Status.submitted: ("reçu", "received"),
    Status.triaged: ("pris en compte", "acknowledged"),
    Status.assigned: ("confié à un agent", "assigned to an agent"),
    Status.in_progress: ("en cours de traitement", "in progress"),
    Status.scheduled: ("intervention programmée", "work scheduled"),
    Status.resolved: ("résolu", "resolved"),
    Status.rejected: ("non retenu", "not accepted"),
    Status.duplicate: ("déjà signalé", "already reported"),
    Status.forwarded: ("transmis à un organisme extérieur", "forwarded to an outside body"),
    Status.reopen_requested: ("réouverture demandée", "reopening requested"),
    Status.reopened: ("rouvert", "reopened"),
}

# Statuses a resident sees change; internal moves (assigned <-> triaged) are not pushed.
PUBLIC_CHANGES = frozenset(
    {
        Status.in_progress,
        Status.scheduled,
        Status.resolved,
        Status.rejected,
        Status.duplicate,
        Status.forwarded,
        Status.reopened,
    }
)


def label(status: Status | str, lang: str) -> str:
    fr, en = LABELS[Status(status)]
    return en if lang == "en" else fr


def allowed_targets(status: Status | str, actor: Actor) -> list[Status]:
    return [
        end for (start, end), actors in TRANSITIONS.items() if start == status and actor in actors
    ]


def check(current: Status | str, target: Status | str, actor: Actor) -> None:
    """Refuse a transition absent from the table (409) or not open to this actor (403)."""
    key = (Status(current), Status(target))
    actors = TRANSITIONS.get(key)
    if actors is None:
        raise Conflict(
            (
                f"Impossible de passer de « {label(current, 'fr')} » à « {label(target, 'fr')} ».",
                f"A report cannot go from {current} to {target}.",
            ),
            slug="illegal-transition",
            allowed=[str(s) for s in allowed_targets(current, actor)],
        )
    if actor not in actors:
        raise Forbidden(
            (
                "Vous ne pouvez pas effectuer ce changement de statut.",
                f"A {actor} may not move a report from {current} to {target}.",
            ),
            slug="transition-not-allowed",
        )
