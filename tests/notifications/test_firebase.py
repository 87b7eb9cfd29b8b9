"""Where firebase-admin sends, and with which credentials."""

import firebase_admin
import httpx
from firebase_admin import messaging
from google.auth.credentials import AnonymousCredentials

from poche_api.config import Settings
from poche_api.notifications import firebase


def test_outside_production_fcm_goes_to_the_simulator(settings: Settings) -> None:
    assert firebase.fcm_base_url(settings) == "http://127.0.0.1:8000/_sim/fcm"
    pointed = settings.model_copy(update={"fcm_base_url": "http://127.0.0.1:9/"})
    assert firebase.fcm_base_url(pointed) == "http://127.0.0.1:9"
    off = settings.model_copy(update={"simulators_enabled": False})
    assert firebase.fcm_base_url(off) is None


async def test_the_app_lifespan_creates_one_anonymous_app_aimed_at_the_simulator(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    app = firebase_admin.get_app(firebase.app_name(settings))
    service = messaging._get_messaging_service(app)

    assert isinstance(app.credential.get_credential(), AnonymousCredentials)
    assert app.project_id == "demo-poche"
    assert service._fcm_url == (
        "http://127.0.0.1:8000/_sim/fcm/v1/projects/demo-poche/messages:send"
    )
    assert firebase.get_app(settings) is app
