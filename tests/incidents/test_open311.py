"""Open311 mapping rules: answers from a form, search windows, errors, XML, status notes."""

import hashlib
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr

from poche_api.config import Settings
from poche_api.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
)
from poche_api.incidents import open311
from poche_api.incidents.workflow import OPEN, Status
from poche_api.models import IncidentCategory, IncidentReport

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _parse(body: bytes) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314 - our own output, never a client's


def _category() -> IncidentCategory:
    return IncidentCategory(
        code="encombrants",
        name_fr="Encombrants",
        name_en="Bulky waste",
        attributes=[
            {"code": "objets", "datatype": "multivaluelist"},
            {"code": "volume_m3", "datatype": "number"},
            {"code": "note", "datatype": "string"},
        ],
    )


class TestFormAttributes:
    def test_answers_are_typed_as_the_questions_say(self) -> None:
        answers = open311.form_attributes(
            _category(),
            [
                ("api_key", "k"),
                ("attribute[objets][]", "matelas"),
                ("attribute[objets][]", "frigo"),
                ("attribute[volume_m3]", "2"),
                ("attribute[note]", "12"),
                ("attribute[inconnue]", "x"),
            ],
        )

        assert answers == {
            "objets": ["matelas", "frigo"],
            "volume_m3": 2,
            "note": "12",
            "inconnue": "x",
        }

    def test_a_single_value_for_a_list_and_decimals(self) -> None:
        answers = open311.form_attributes(
            _category(), [("attribute[objets]", "matelas"), ("attribute[volume_m3]", "1.5")]
        )

        assert answers == {"objets": ["matelas"], "volume_m3": 1.5}

    def test_a_number_that_is_not_one_is_left_for_the_category_check(self) -> None:
        answers = open311.form_attributes(_category(), [("attribute[volume_m3]", "beaucoup")])

        assert answers == {"volume_m3": "beaucoup"}


class TestSearchWindow:
    def _parse(self, **given: str | None) -> open311.Search:
        fields: dict[str, str | None] = {
            "service_request_id": None,
            "service_code": None,
            "start_date": None,
            "end_date": None,
            "status": None,
            **given,
        }
        return open311.Search.parse(now=NOW, **fields)

    def test_by_default_the_last_90_days(self) -> None:
        search = self._parse()

        assert (search.start, search.end) == (NOW - timedelta(days=90), NOW)
        assert search.ids is None
        assert search.statuses is None

    def test_a_start_alone_opens_90_days_from_it(self) -> None:
        search = self._parse(start_date="2026-01-01T00:00:00+01:00")

        assert search.end - search.start == timedelta(days=90)

    def test_a_date_without_offset_is_paris_time(self) -> None:
        search = self._parse(start_date="2026-01-01", end_date="2026-01-31")

        assert search.start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)

    @pytest.mark.parametrize(
        "given",
        [
            {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"},
            {"start_date": "2026-02-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"},
            {"start_date": "hier"},
            {"status": "open,pending"},
            {"service_request_id": ",".join(f"RMN-{i:06d}" for i in range(201))},
        ],
    )
    def test_bad_searches_are_refused(self, given: dict[str, str]) -> None:
        with pytest.raises(BadRequest):
            self._parse(**given)

    def test_csv_lists_are_trimmed(self) -> None:
        search = self._parse(service_code=" a , b,,", status="closed")

        assert search.service_codes == ["a", "b"]
        assert search.statuses == ["closed"]


class TestErrors:
    @pytest.mark.parametrize(
        ("error", "status"),
        [
            (NotFound("x"), 404),
            (Forbidden("x"), 403),
            (Unauthorized("x"), 403),
            (Conflict("x"), 400),
            (TooManyRequests("x"), 429),
            (ValueError("x"), 400),
        ],
    )
    def test_statuses_are_the_standard_ones(self, error: Exception, status: int) -> None:
        code, errors = open311.error_payload(error, "fr")

        assert code == status
        assert errors[0].code == status

    def test_field_errors_are_spelled_out(self) -> None:
        error = BadRequest(
            ("Réponses invalides.", "Invalid answers."),
            errors=[{"pointer": "/attributes/danger", "detail": "required"}],
        )

        _, [described] = open311.error_payload(error, "en")

        assert described.description == "Invalid answers. (/attributes/danger: required)"

    def test_errors_render_as_xml(self) -> None:
        _, errors = open311.error_payload(NotFound(("Inconnu.", "Unknown.")), "en")

        root = _parse(open311.to_xml("errors", open311.dump(errors)))

        assert root.tag == "errors"
        assert [(e.findtext("code"), e.findtext("description")) for e in root] == [
            ("404", "Unknown.")
        ]


class TestXml:
    def test_nested_lists_take_singular_names_and_none_is_empty(self) -> None:
        body = open311.to_xml(
            "service_definition",
            {
                "service_code": "x",
                "attributes": [{"required": True, "values": [{"key": "a", "name": None}]}],
            },
        )

        assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
        root = _parse(body)
        assert root.findtext("attributes/attribute/required") == "true"
        assert root.findtext("attributes/attribute/values/value/key") == "a"
        assert root.findtext("attributes/attribute/values/value/name") == ""

    def test_text_is_escaped(self) -> None:
        root = _parse(open311.to_xml("services", [{"description": "<b>&</b>"}]))

        assert root.findtext("service/description") == "<b>&</b>"


class TestClientKey:
    def test_a_known_key_names_the_client_by_a_digest(self) -> None:
        settings = Settings(env="test", open311_api_keys=SecretStr("alpha-key, beta-key"))

        key = open311.client_key(settings, " beta-key ")

        assert key == "open311:" + hashlib.sha256(b"beta-key").hexdigest()[:8]

    @pytest.mark.parametrize("given", [None, "", "gamma-key", "alpha"])
    def test_other_keys_are_forbidden(self, given: str | None) -> None:
        settings = Settings(env="test", open311_api_keys=SecretStr("alpha-key"))

        with pytest.raises(Forbidden):
            open311.client_key(settings, given)

    def test_weak_keys_are_refused_in_production(self) -> None:
        with pytest.raises(ValueError, match="POCHE_OPEN311_API_KEYS must each"):
            Settings(
                env="production",
                database_url="postgresql://db/poche",
                redis_url="redis://cache",
                secret_key=SecretStr("s" * 40),
                open311_api_keys=SecretStr("short"),
            )


def _report(status: Status, **fields: object) -> IncidentReport:
    defaults: dict[str, object] = {
        "id": uuid.uuid4(),
        "tracking_code": "RMN-ABCDEF",
        "lat": 49.4432,
        "lon": 1.0993,
        "description": "",
        "description_redacted": False,
        "created_at": NOW,
        "updated_at": NOW,
        "sla_due_at": NOW + timedelta(days=14),
    }
    return IncidentReport(status=status, **{**defaults, **fields})


def _record(report: IncidentReport, note: str | None = None) -> open311.Open311Request:
    return open311.record(
        report,
        _category(),
        lang="fr",
        team_name=None,
        note=note,
        photo_id=None,
        base_url="https://api.example",
        extensions=True,
    )


class TestRecord:
    def test_every_status_has_an_extended_one(self) -> None:
        assert set(open311.EXTENDED_STATUS) == set(Status)

    @pytest.mark.parametrize("status", list(Status))
    def test_open_and_closed_follow_the_workflow(self, status: Status) -> None:
        record = _record(_report(status))

        assert record.status == ("open" if status in OPEN else "closed")

    def test_a_forwarded_report_names_the_outside_body(self) -> None:
        record = _record(_report(Status.forwarded, resolution_reason="Orange"))

        assert record.agency_responsible == "Orange"
        assert record.status_notes == "transmis à un organisme extérieur — Orange"
        assert record.extended_attributes is not None
        assert record.extended_attributes.status == "NOT_COUNCILS_RESPONSIBILITY"

    def test_a_scheduled_report_gives_its_date_and_the_metropole_by_default(self) -> None:
        record = _record(
            _report(Status.scheduled, scheduled_for=date(2026, 6, 20)), note="Équipe de nuit"
        )

        assert record.agency_responsible == "Métropole Rouen Normandie"
        assert record.status_notes == "intervention programmée — Équipe de nuit — 2026-06-20"
        assert record.requested_datetime == "2026-06-15T14:00:00+02:00"

    def test_a_redacted_description_says_so(self) -> None:
        record = _record(_report(Status.triaged, description_redacted=True))

        assert record.description == "[description masquée par la modération]"
