"""The two OpenID Connect providers we rely on, resolved from the settings.

Outside production an empty discovery URL, client id or secret resolves to the matching
simulator (``/_sim/franceconnect``, ``/_sim/staff``) and its demo client; production refuses that.
"""

from dataclasses import dataclass
from typing import Literal

from poche_api.config import Settings
from poche_api.simulators import simulator_url

ProviderName = Literal["franceconnect", "staff"]
PROVIDERS: tuple[ProviderName, ...] = ("franceconnect", "staff")
DEMO_CLIENT_IDS: dict[ProviderName, str] = {
    "franceconnect": "demo-poche-franceconnect",
    "staff": "demo-poche-staff",
}
DEMO_CLIENT_SECRETS: dict[ProviderName, str] = {
    "franceconnect": "demo-franceconnect-secret-not-for-production",
    "staff": "demo-staff-secret-not-for-production",
}
DISCOVERY_PATH = "/api/v2/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderConfig:
    name: ProviderName
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    acr_values: str | None
    callback_url: str
    # FranceConnect v2 answers userinfo as a signed JWT only; a generic staff IdP may use JSON.
    userinfo_jwt_required: bool


def callback_url(settings: Settings, name: ProviderName) -> str:
    return f"{settings.public_url.rstrip('/')}/v1/auth/{name}/callback"


def provider_config(settings: Settings, name: ProviderName) -> ProviderConfig:
    acr: str | None
    if name == "franceconnect":
        url, client_id, secret = (
            settings.franceconnect_discovery_url,
            settings.franceconnect_client_id,
            settings.franceconnect_client_secret,
        )
        scopes, acr = settings.franceconnect_scopes, settings.franceconnect_acr_values
    else:
        url, client_id, secret = (
            settings.staff_oidc_discovery_url,
            settings.staff_oidc_client_id,
            settings.staff_oidc_client_secret,
        )
        scopes, acr = settings.staff_oidc_scopes, settings.staff_oidc_acr_values
    if url is None:
        url = simulator_url(settings, name) + DISCOVERY_PATH
    return ProviderConfig(
        name=name,
        discovery_url=url,
        client_id=client_id or DEMO_CLIENT_IDS[name],
        client_secret=secret.get_secret_value() if secret else DEMO_CLIENT_SECRETS[name],
        scopes=tuple(scopes),
        acr_values=acr or None,
        callback_url=callback_url(settings, name),
        userinfo_jwt_required=name == "franceconnect",
    )
