"""The FCM simulator, driven through firebase-admin over real HTTP, as the sender drives it."""

import warnings
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from firebase_admin import App, exceptions, messaging

from poche_api.config import Settings
from poche_api.notifications import firebase
from tests.fcm_server import FcmControl, serve_fcm_simulator

warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)

TOKEN = "dev-token-" + "a" * 40
OTHER = "dev-token-" + "b" * 40


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_fcm_simulator(Settings(env="test")) as url:
        yield url


@pytest_asyncio.fixture
async def fcm_app(base_url: str) -> AsyncIterator[App]:
    await FcmControl(base_url)("reset")
    settings = Settings(env="test", fcm_base_url=base_url)
    yield firebase.get_app(settings)
    await firebase.close_app(settings)


async def stats(base_url: str) -> dict[str, object]:
    return await FcmControl(base_url).stats()


def message(token: str = TOKEN, **data: str) -> messaging.Message:
    return messaging.Message(token=token, data=data or {"kind": "test"})


async def test_a_send_is_delivered_and_counted_once(fcm_app: App, base_url: str) -> None:
    answer = await messaging.send_each_async([message(), message(OTHER)], app=fcm_app)

    assert answer.success_count == 2
    assert answer.responses[0].message_id.startswith("projects/demo-poche/messages/")
    assert (await stats(base_url))["delivered"] == {TOKEN: 1, OTHER: 1}
    assert (await stats(base_url))["duplicates"] == []


async def test_validate_only_checks_without_delivering(fcm_app: App, base_url: str) -> None:
    answer = await messaging.send_each_async([message()], dry_run=True, app=fcm_app)

    assert answer.success_count == 1
    assert (await stats(base_url))["delivered_total"] == 0
    assert (await stats(base_url))["validated"] == 1


async def test_payloads_fcm_refuses_are_refused(fcm_app: App, base_url: str) -> None:
    too_big = message(blob="x" * 5000)
    bad_token = message("short")
    answer = await messaging.send_each_async([too_big, bad_token], app=fcm_app)

    assert all(isinstance(r.exception, exceptions.InvalidArgumentError) for r in answer.responses)
    send_url = "/v1/projects/demo-poche/messages:send"
    raw = FcmControl(base_url).raw
    not_a_string = await raw(send_url, {"message": {"token": TOKEN, "data": {"n": 1}}})
    bad_topic = await raw(send_url, {"message": {"topic": "a b", "data": {}}})
    two_targets = await raw(send_url, {"message": {"token": TOKEN, "topic": "x"}})
    long_ttl = await raw(send_url, {"message": {"token": TOKEN, "android": {"ttl": "2419201s"}}})
    for answer_ in (not_a_string, bad_topic, two_targets, long_ttl):
        assert answer_.status_code == 400
        assert answer_.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert (await stats(base_url))["delivered_total"] == 0


async def test_injected_failures_raise_the_sdk_exceptions(fcm_app: App, base_url: str) -> None:
    bad, alien, apns = "dev-token-" + "u" * 40, "dev-token-" + "s" * 40, "dev-token-" + "t" * 40
    await FcmControl(base_url)("unregister", tokens=[bad])
    await FcmControl(base_url)("sender-mismatch", tokens=[alien])
    await FcmControl(base_url)("third-party-auth", tokens=[apns])

    answer = await messaging.send_each_async(
        [message(bad), message(alien), message(apns)], app=fcm_app
    )

    kinds = [type(r.exception) for r in answer.responses]
    assert kinds == [
        messaging.UnregisteredError,
        messaging.SenderIdMismatchError,
        messaging.ThirdPartyAuthError,
    ]


async def test_storms_and_quota_answers_then_recover(fcm_app: App, base_url: str) -> None:
    await FcmControl(base_url)("storm", requests=2)
    await FcmControl(base_url)("quota", requests=1, retry_after=7)

    first = await messaging.send_each_async([message(), message()], app=fcm_app)
    second = await messaging.send_each_async([message()], app=fcm_app)
    third = await messaging.send_each_async([message()], app=fcm_app)

    assert all(isinstance(r.exception, exceptions.UnavailableError) for r in first.responses)
    quota = second.responses[0].exception
    assert isinstance(quota, messaging.QuotaExceededError)
    assert quota.http_response.headers["Retry-After"] == "7"
    assert third.success_count == 1
    assert (await stats(base_url))["delivered"] == {TOKEN: 1}


async def test_topic_subscriptions_follow_v1_and_legacy_calls(fcm_app: App, base_url: str) -> None:
    added = await messaging.subscribe_to_topic_async([TOKEN, OTHER], "line-T1", app=fcm_app)
    again = await messaging.subscribe_to_topic_async([TOKEN], "line-T1", app=fcm_app)
    removed = await messaging.unsubscribe_from_topic_async([OTHER], "line-T1", app=fcm_app)

    assert (added.success_count, again.success_count, removed.success_count) == (2, 1, 1)
    assert (await stats(base_url))["topics"] == {"line-T1": [TOKEN]}
    legacy = await FcmControl(base_url).raw(
        "/iid/v1:batchAdd",
        {"to": "/topics/crisis", "registration_tokens": [OTHER, "bad"]},
        access_token_auth="true",
    )
    assert legacy.json() == {"results": [{}, {"error": "INVALID_ARGUMENT"}]}
    assert (await stats(base_url))["topics"] == {"line-T1": [TOKEN], "crisis": [OTHER]}
    with pytest.raises(ValueError, match="Malformed topic name"):
        await messaging.subscribe_to_topic_async([TOKEN], "bad topic", app=fcm_app)
