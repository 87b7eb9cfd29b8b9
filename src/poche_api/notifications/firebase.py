"""The one firebase-admin App of a process, created on start (API lifespan, worker), not at import.

* Outside production: ``AnonymousCredentials`` (no OAuth token fetch, no Authorization header),
  project ``demo-poche``, and the messaging service pointed at the FCM simulator
  (``POCHE_FCM_BASE_URL``, or ``{public_url}/_sim/fcm`` when simulators are on).
* Production: the service account from ``POCHE_FCM_SERVICE_ACCOUNT_JSON`` or
  ``POCHE_FCM_SERVICE_ACCOUNT_FILE`` (else Google's application default credentials), Google's
  real endpoints; the settings refuse a simulator URL there.

firebase-admin has no endpoint override: we set the private ``_fcm_url`` and ``_fcm_topic_url``
of the app's cached messaging service (firebase-admin is pinned to 7.7.0 for that reason) and
replace its httpx client by one without the SDK's own 500/503 retries: our delivery job retries
durably instead, with backoff, jitter and Retry-After, and never resends a recorded send.
"""

import asyncio
import threading
from typing import Any

import firebase_admin
import orjson
from firebase_admin import credentials, messaging
from firebase_admin._http_client import HttpxAsyncClient
from firebase_admin._retry import HttpxRetry
from google.auth.credentials import AnonymousCredentials

from poche_api.config import Environment, Settings
from poche_api.simulators import simulator_url

APP_PREFIX = "poche-api"
DEMO_PROJECT = "demo-poche"
HTTP_TIMEOUT_SECONDS = 30

_lock = threading.Lock()


def fcm_base_url(settings: Settings) -> str | None:
    """Where FCM calls go: the simulator outside production, None for Google."""
    if settings.fcm_base_url is not None:
        return settings.fcm_base_url.rstrip("/")
    if settings.env is not Environment.production and settings.simulators_on:
        return simulator_url(settings, "fcm")
    return None


def _credential(settings: Settings) -> Any:
    if settings.env is not Environment.production and fcm_base_url(settings) is not None:
        return AnonymousCredentials()  # type: ignore[no-untyped-call] # google-auth lacks hints
    if settings.fcm_service_account_json is not None:
        info = orjson.loads(settings.fcm_service_account_json.get_secret_value())
        return credentials.Certificate(info)
    if settings.fcm_service_account_file is not None:
        return credentials.Certificate(str(settings.fcm_service_account_file))
    return credentials.ApplicationDefault()


def _project(settings: Settings) -> str | None:
    if settings.fcm_project_id is not None:
        return settings.fcm_project_id
    return None if settings.env is Environment.production else DEMO_PROJECT


def _redirect(app: firebase_admin.App, base_url: str) -> None:
    service = messaging._get_messaging_service(app)
    project = app.project_id
    service._fcm_url = f"{base_url}/v1/projects/{project}/messages:send"
    service._fcm_topic_url = f"{base_url}/v1/projects/{project}/registrations"


def _own_retries(app: firebase_admin.App) -> None:
    """Swap the SDK's retrying httpx client for one that reports every 5xx to us at once.

    With anonymous credentials the client gets no auth flow at all: the SDK's flow would try to
    refresh them on a 401 (THIRD_PARTY_AUTH_ERROR is a 401) and fail with an unknown error.
    """
    service = messaging._get_messaging_service(app)
    credential = service._credential
    service._async_client = HttpxAsyncClient(
        credential=None if isinstance(credential, AnonymousCredentials) else credential,
        retry_config=HttpxRetry(max_retries=0, status_forcelist=[]),
        timeout=HTTP_TIMEOUT_SECONDS,
    )


def app_name(settings: Settings) -> str:
    """One App per (endpoint, project): tests may run several simulators in one process."""
    return f"{APP_PREFIX}|{fcm_base_url(settings) or 'google'}|{_project(settings) or 'sa'}"


def get_app(settings: Settings) -> firebase_admin.App:
    """This process's firebase App, created on first call (lifespan or worker start)."""
    name = app_name(settings)
    with _lock:
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            pass
        options: dict[str, Any] = {"httpTimeout": HTTP_TIMEOUT_SECONDS}
        project = _project(settings)
        if project is not None:
            options["projectId"] = project
        app = firebase_admin.initialize_app(_credential(settings), options, name=name)
        try:
            base_url = fcm_base_url(settings)
            if base_url is not None:
                _redirect(app, base_url)
            _own_retries(app)
        except Exception:
            # e.g. no project id: the messaging service was never built, nothing to close.
            firebase_admin.delete_app(app)
            raise
        return app


async def close_app(settings: Settings) -> None:
    """Close the App's async client on this loop, then delete the App.

    ``delete_app`` closes the async client with ``asyncio.run``, which fails inside a running
    loop; closing it here first makes that second close a no-op, run in a thread.
    """
    with _lock:
        try:
            app = firebase_admin.get_app(app_name(settings))
        except ValueError:
            return
    service = messaging._get_messaging_service(app)
    await service._async_client.aclose()
    await asyncio.to_thread(firebase_admin.delete_app, app)
