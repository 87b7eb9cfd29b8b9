"""The Open311 GeoReport v2 façade over HTTP, in JSON and XML."""

import hashlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.config import Settings
from poche_api.models import IncidentFollow, IncidentReport
from tests.conftest import build_app, serve_in_process
from tests.incidents.conftest import ROUEN_HOTEL_DE_VILLE, SOTTEVILLE, Cast, make_cast

API_KEY = "open311-test-key-0123456789abcdefghijklmnop"
BASE = "/open311/v2"


@pytest_asyncio.fixture
async def grc(settings: Settings, session: AsyncSession, redis: Redis) -> AsyncIterator[Cast]:
    """The cast, on an app that knows one Open311 client key."""
    keyed = settings.model_copy(update={"open311_api_keys": SecretStr(f" {API_KEY} , other-key")})
    async with serve_in_process(build_app(keyed, session)) as http:
        yield await make_cast(keyed, session, http)


def _xml(response: httpx.Response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml"), response.text
    return ET.fromstring(response.content)  # noqa: S314 - our own answer, never a client's


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    assert isinstance(body, list), body
    assert all(set(item) == {"code", "description"} for item in body)
    return body


def _form(**fields: str) -> dict[str, str]:
    return {
        "api_key": API_KEY,
        "service_code": "nid-de-poule",
        "lat": str(ROUEN_HOTEL_DE_VILLE["lat"]),
        "long": str(ROUEN_HOTEL_DE_VILLE["lon"]),
        "description": "Nid-de-poule signalé par la GRC",
        "attribute[danger]": "moyen",
        **fields,
    }


async def _post(cast: Cast, fmt: str = "json", **fields: str) -> httpx.Response:
    return await cast.call("nobody", "POST", f"{BASE}/requests.{fmt}", data=_form(**fields))


class TestDiscoveryAndServices:
    async def test_discovery_names_the_endpoint_in_both_formats(self, cast: Cast) -> None:
        as_json = (await cast.call("nobody", "GET", f"{BASE}/discovery.json")).json()
        as_xml = _xml(await cast.call("nobody", "GET", f"{BASE}/discovery.xml"))

        [endpoint] = as_json["endpoints"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"].endswith("/open311/v2")
        assert endpoint["type"] == "test"
        assert as_xml.tag == "discovery"
        formats = [f.text for f in as_xml.iterfind("endpoints/endpoint/formats/format")]
        assert formats == ["text/xml", "application/json"]
        assert as_xml.findtext("changeset") == as_json["changeset"]

    async def test_services_are_the_active_public_categories(self, cast: Cast) -> None:
        services = (await cast.call("nobody", "GET", f"{BASE}/services.json")).json()

        by_code = {service["service_code"]: service for service in services}
        assert "graffiti-injurieux" not in by_code  # private
        pothole = by_code["nid-de-poule"]
        assert pothole == {
            "service_code": "nid-de-poule",
            "service_name": "Nid-de-poule",
            "description": "",
            "metadata": True,
            "type": "realtime",
            "keywords": "chaussée, trou",
            "group": "Voirie",
        }
        assert by_code["trottoir-degrade"]["metadata"] is False
        assert "0 800 47 33 33" in by_code["odeur-gaz"]["description"]

    async def test_services_xml_has_the_standard_shape(self, cast: Cast) -> None:
        root = _xml(
            await cast.call(
                "nobody", "GET", f"{BASE}/services.xml", headers={"Accept-Language": "en"}
            )
        )

        assert root.tag == "services"
        pothole = next(
            s for s in root.iterfind("service") if s.findtext("service_code") == "nid-de-poule"
        )
        assert [child.tag for child in pothole] == [
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        ]
        assert pothole.findtext("service_name") == "Pothole"
        assert pothole.findtext("metadata") == "true"
        assert pothole.findtext("group") == "Roads and pavements"

    async def test_a_service_definition_lists_its_attributes(self, cast: Cast) -> None:
        as_json = (await cast.call("nobody", "GET", f"{BASE}/services/nid-de-poule.json")).json()
        as_xml = _xml(await cast.call("nobody", "GET", f"{BASE}/services/nid-de-poule.xml"))

        assert as_json["service_code"] == "nid-de-poule"
        [danger] = as_json["attributes"]
        assert danger["code"] == "danger"
        assert danger["datatype"] == "singlevaluelist"
        assert danger["required"] is True
        assert danger["variable"] is True
        assert danger["description"] == "Le trou est-il dangereux ?"
        assert [v["key"] for v in danger["values"]] == ["faible", "moyen", "fort"]
        assert as_xml.tag == "service_definition"
        attribute = as_xml.find("attributes/attribute")
        assert attribute is not None
        assert attribute.findtext("required") == "true"
        values = [
            (v.findtext("key"), v.findtext("name")) for v in attribute.iterfind("values/value")
        ]
        assert values[2] == ("fort", "Très (risque de chute)")

    async def test_unknown_or_private_services_are_open311_404s(self, cast: Cast) -> None:
        unknown = await cast.call("nobody", "GET", f"{BASE}/services/licorne.json")
        private = await cast.call("nobody", "GET", f"{BASE}/services/graffiti-injurieux.xml")
        elsewhere = await cast.call(
            "nobody", "GET", f"{BASE}/services.json", params={"jurisdiction_id": "paris.fr"}
        )
        nowhere = await cast.call("nobody", "GET", f"{BASE}/nothing-here.json")

        assert unknown.status_code == 404
        assert _errors(unknown)[0]["code"] == 404
        assert private.status_code == 404
        error = _xml(private).find("error")
        assert error is not None
        assert error.findtext("code") == "404"
        assert elsewhere.status_code == 404
        assert "metropole-rouen-normandie.fr" in _errors(elsewhere)[0]["description"]
        assert nowhere.status_code == 404
        assert _errors(nowhere)[0]["code"] == 404


class TestSearch:
    async def test_a_request_carries_public_fields_only(self, cast: Cast) -> None:
        filed = (await cast.file("resident_a", contact_email="jeanne.martin@example.org")).json()

        response = await cast.call("nobody", "GET", f"{BASE}/requests.json")

        [found] = response.json()
        assert found["service_request_id"] == filed["tracking_code"]
        assert found["status"] == "open"
        assert found["service_code"] == "nid-de-poule"
        assert found["service_name"] == "Nid-de-poule"
        assert found["description"] == "Trou profond devant l'arrêt de bus"
        assert found["agency_responsible"] == "Voirie — Rouen"
        assert found["status_notes"] == "pris en compte"
        assert (found["lat"], found["long"]) == (49.4432, 1.0993)
        assert found["requested_datetime"][-6:] in ("+01:00", "+02:00")
        assert found["expected_datetime"] is not None
        assert found["media_url"] is None
        assert "extended_attributes" not in found
        for leak in ("jeanne.martin", "resident:", "danger", "fort"):
            assert leak not in response.text
        assert response.headers["cache-control"] == "public, max-age=30"

    async def test_a_closed_request_has_its_note_and_the_extended_status(self, cast: Cast) -> None:
        filed = (await cast.file("resident_a")).json()
        resolved = await cast.call(
            "agent",
            "POST",
            f"/v1/agent/reports/{filed['id']}/transitions",
            json={"status": "resolved", "public_note": "Rebouché ce matin", "internal_note": "x9"},
        )
        assert resolved.status_code == 200

        response = await cast.call(
            "nobody",
            "GET",
            f"{BASE}/requests/{filed['tracking_code']}.json",
            params={"extensions": "true"},
        )

        [found] = response.json()
        assert found["status"] == "closed"
        assert found["status_notes"] == "résolu — Rebouché ce matin"
        assert found["expected_datetime"] is None
        assert found["extended_attributes"] == {
            "status": "FIXED",
            "detailed_status": "resolved",
            "detailed_status_label": "résolu",
        }
        assert "x9" not in response.text

    async def test_requests_xml_has_the_standard_shape(self, cast: Cast) -> None:
        filed = (await cast.file("resident_a")).json()

        root = _xml(await cast.call("nobody", "GET", f"{BASE}/requests.xml"))
        one = _xml(
            await cast.call("nobody", "GET", f"{BASE}/requests/{filed['tracking_code']}.xml")
        )

        assert root.tag == "service_requests"
        [request] = root.findall("request")
        assert request.findtext("service_request_id") == filed["tracking_code"]
        assert request.findtext("status") == "open"
        assert request.findtext("long") == "1.0993"
        assert request.find("media_url") is not None
        assert request.find("extended_attributes") is None
        assert one.findtext("request/service_request_id") == filed["tracking_code"]

    async def test_filters_narrow_the_search(self, cast: Cast) -> None:
        pothole = (await cast.file("resident_a")).json()
        light = (
            await cast.file(
                "resident_b", category="lampadaire-eteint", attributes={}, location=SOTTEVILLE
            )
        ).json()
        await cast.call(
            "agent",
            "POST",
            f"/v1/agent/reports/{pothole['id']}/transitions",
            json={"status": "resolved"},
        )

        async def ids(**params: str) -> list[str]:
            found = await cast.call("nobody", "GET", f"{BASE}/requests.json", params=params)
            assert found.status_code == 200, found.text
            return sorted(item["service_request_id"] for item in found.json())

        assert await ids(service_code="lampadaire-eteint") == [light["tracking_code"]]
        assert await ids(status="closed") == [pothole["tracking_code"]]
        assert await ids(status="open,closed") == sorted(
            [pothole["tracking_code"], light["tracking_code"]]
        )
        # service_request_id overrides every other filter.
        assert await ids(
            service_request_id=f"{pothole['tracking_code']},RMN-ZZZZZZ",
            status="open",
            start_date="2020-01-01",
        ) == [pothole["tracking_code"]]
        assert await ids(start_date="2020-01-01T00:00:00Z", end_date="2020-02-01T00:00:00Z") == []

    async def test_bad_search_parameters_are_open311_400s(self, cast: Cast) -> None:
        too_long = await cast.call(
            "nobody",
            "GET",
            f"{BASE}/requests.json",
            params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
        )
        bad_status = await cast.call(
            "nobody", "GET", f"{BASE}/requests.xml", params={"status": "pending"}
        )
        bad_date = await cast.call(
            "nobody", "GET", f"{BASE}/requests.json", params={"start_date": "yesterday"}
        )

        assert too_long.status_code == 400
        assert "90 days" in _errors(too_long)[0]["description"]
        assert bad_status.status_code == 400
        assert _xml(bad_status).findtext("error/code") == "400"
        assert bad_date.status_code == 400

    async def test_private_and_hidden_reports_are_never_requests(
        self, cast: Cast, session: AsyncSession
    ) -> None:
        private = await cast.file("resident_a", category="graffiti-injurieux", attributes={})
        hidden = (await cast.file("resident_b")).json()
        await session.execute(
            update(IncidentReport)
            .where(IncidentReport.id == uuid.UUID(hidden["id"]))
            .values(hidden=True)
        )
        await session.commit()

        listed = await cast.call("nobody", "GET", f"{BASE}/requests.json")
        one_private = await cast.call(
            "nobody", "GET", f"{BASE}/requests/{private.json()['tracking_code']}.json"
        )
        one_hidden = await cast.call(
            "nobody", "GET", f"{BASE}/requests/{hidden['tracking_code']}.json"
        )

        assert listed.json() == []
        assert one_private.status_code == 404
        assert one_hidden.status_code == 404


class TestCreate:
    @pytest.mark.parametrize("key", ["wrong-key", ""])
    async def test_a_bad_or_missing_key_is_403_and_files_nothing(
        self, grc: Cast, session: AsyncSession, key: str
    ) -> None:
        response = await _post(grc, api_key=key)

        assert response.status_code == 403
        [error] = _errors(response)
        assert error["code"] == 403
        assert "api_key" in error["description"]
        assert await session.scalar(select(IncidentReport.id)) is None

    async def test_without_configured_keys_every_creation_is_403(self, cast: Cast) -> None:
        response = await _post(cast)

        assert response.status_code == 403
        assert _errors(response)[0]["code"] == 403

    async def test_a_created_request_is_a_report_visible_through_get(
        self, grc: Cast, session: AsyncSession
    ) -> None:
        response = await _post(grc, email="agent.grc@example.org")

        assert response.status_code == 200, response.text
        [created] = response.json()
        assert set(created) == {"service_request_id", "service_notice", "account_id"}
        code = created["service_request_id"]
        assert code.startswith("RMN-")
        assert created["service_notice"] == "Traitement prévu sous 10 jours ouvrés."
        found = await grc.call("nobody", "GET", f"{BASE}/requests/{code}.json")
        [record] = found.json()
        assert record["description"] == "Nid-de-poule signalé par la GRC"
        assert record["agency_responsible"] == "Voirie — Rouen"
        report = await session.scalar(
            select(IncidentReport).where(IncidentReport.tracking_code == code)
        )
        assert report is not None
        assert report.channel == "open311"
        assert report.reporter == "open311:" + hashlib.sha256(API_KEY.encode()).hexdigest()[:8]
        assert report.attributes == {"danger": "moyen"}
        assert report.contact_email == "agent.grc@example.org"
        assert (
            await session.scalar(
                select(IncidentFollow).where(IncidentFollow.report_id == report.id)
            )
            is None
        )
        queue = (await grc.call("agent", "GET", "/v1/agent/reports")).json()["items"]
        assert [item["tracking_code"] for item in queue] == [code]

    async def test_creation_answers_xml_too(self, grc: Cast) -> None:
        response = await _post(grc, fmt="xml", api_key="other-key")

        root = _xml(response)
        assert root.tag == "service_requests"
        assert (root.findtext("request/service_request_id") or "").startswith("RMN-")
        assert root.find("request/account_id") is not None

    async def test_refusals_follow_the_standard(self, grc: Cast, session: AsyncSession) -> None:
        no_point = await _post(grc, lat="", long="", address_string="1 place de l'Hôtel de Ville")
        unknown = await _post(grc, service_code="licorne")
        private = await _post(grc, service_code="graffiti-injurieux")
        elsewhere = await _post(grc, jurisdiction_id="paris.fr")
        gas = await _post(grc, service_code="odeur-gaz")
        bad_answer = await _post(grc, **{"attribute[danger]": "apocalyptique"})
        outside = await _post(grc, lat="49.4944", long="0.1079")
        html = await _post(grc, description="<b>urgent</b>")
        no_service = await _post(grc, service_code="")

        assert no_point.status_code == 400
        assert "lat and long" in _errors(no_point)[0]["description"]
        assert (unknown.status_code, private.status_code, elsewhere.status_code) == (404, 404, 404)
        assert gas.status_code == 400
        assert "0 800 47 33 33" in _errors(gas)[0]["description"]
        assert bad_answer.status_code == 400
        assert "/attributes/danger" in _errors(bad_answer)[0]["description"]
        assert outside.status_code == 400
        assert html.status_code == 400
        assert no_service.status_code == 400
        assert await session.scalar(select(IncidentReport.id)) is None

    async def test_a_json_body_is_not_a_form(self, grc: Cast) -> None:
        response = await grc.call(
            "nobody", "POST", f"{BASE}/requests.json", json={"api_key": API_KEY}
        )

        assert response.status_code == 403
        assert _errors(response)[0]["code"] == 403
