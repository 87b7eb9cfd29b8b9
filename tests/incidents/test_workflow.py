import pytest

from poche_api.errors import Conflict, Forbidden
from poche_api.incidents import workflow
from poche_api.incidents.workflow import CLOSED, OPEN, TRANSITIONS, Status


def test_every_status_is_either_open_or_closed() -> None:
    assert set(Status) == OPEN | CLOSED
    assert not OPEN & CLOSED


def test_a_resolved_report_cannot_jump_back_to_in_progress() -> None:
    with pytest.raises(Conflict) as refused:
        workflow.check(Status.resolved, Status.in_progress, "agent")

    assert refused.value.extensions["allowed"] == []  # an agent waits for a reopen request


def test_only_the_reporter_asks_to_reopen_and_only_staff_accept() -> None:
    workflow.check(Status.resolved, Status.reopen_requested, "reporter")
    workflow.check(Status.reopen_requested, Status.reopened, "agent")
    with pytest.raises(Forbidden):
        workflow.check(Status.resolved, Status.reopen_requested, "agent")
    with pytest.raises(Forbidden):
        workflow.check(Status.reopen_requested, Status.reopened, "reporter")


def test_triage_decisions_belong_to_supervisors() -> None:
    workflow.check(Status.submitted, Status.rejected, "supervisor")
    with pytest.raises(Forbidden):
        workflow.check(Status.submitted, Status.rejected, "agent")


def test_a_reporter_can_do_nothing_but_ask_to_reopen() -> None:
    reporter_moves = {pair for pair, actors in TRANSITIONS.items() if "reporter" in actors}

    assert reporter_moves == {(Status.resolved, Status.reopen_requested)}


def test_every_status_has_a_label_in_both_languages() -> None:
    for status in Status:
        assert workflow.label(status, "fr")
        assert workflow.label(status, "en")
