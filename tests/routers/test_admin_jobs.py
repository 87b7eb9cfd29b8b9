import httpx
import pytest


@pytest.mark.parametrize(
    ("headers", "status"),
    # An unknown token is an invalid credential (RFC 6750: 401); a valid non-admin one is a 403.
    [({}, 401), ({"Authorization": "Bearer wrong-token"}, 401)],
)
async def test_dead_letters_are_for_operators_only(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    listing = await client.get("/v1/admin/jobs/dead-letters", headers=headers)
    requeue = await client.post("/v1/admin/jobs/dead-letters/1/requeue", headers=headers)

    assert listing.status_code == requeue.status_code == status
    assert listing.headers["content-type"] == "application/problem+json"


async def test_requeueing_an_unknown_job_is_a_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/admin/jobs/dead-letters/987654/requeue", headers=admin_headers
    )

    assert response.status_code == 404
    assert response.json()["type"].endswith("/job-not-found")


async def test_page_size_is_bounded(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get(
        "/v1/admin/jobs/dead-letters", params={"limit": 1000}, headers=admin_headers
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "limit"


async def test_a_tampered_cursor_is_a_400(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    response = await client.get(
        "/v1/admin/jobs/dead-letters", params={"cursor": "Zm9yZ2Vk"}, headers=admin_headers
    )

    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-cursor")
