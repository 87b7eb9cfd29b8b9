"""The OIDC simulators exist only outside production and honour the demo-identities switch."""

import httpx
from asgi_lifespan import LifespanManager

from poche_api.app import create_app
from poche_api.config import Environment, Settings
from poche_api.identity.providers import provider_config
from poche_api.simulators import SIMULATOR_PREFIX, load_simulators


def _mounted(settings: Settings) -> set[str]:
    app = create_app(settings)
    return {
        getattr(r, "path", "") for r in app.routes if getattr(r, "path", "").startswith("/_sim")
    }


def test_both_simulators_are_mounted_outside_production_only(settings: Settings) -> None:
    assert {"franceconnect", "staff"} <= set(load_simulators())
    assert _mounted(settings.model_copy(update={"simulators_enabled": True})) >= {
        f"{SIMULATOR_PREFIX}/franceconnect",
        f"{SIMULATOR_PREFIX}/staff",
    }
    production = settings.model_copy(update={"env": Environment.production})
    assert _mounted(production) == set()


def test_providers_default_to_the_simulators_outside_production(settings: Settings) -> None:
    config = provider_config(settings, "franceconnect")

    assert config.discovery_url.startswith(f"{settings.public_url}/_sim/franceconnect/api/v2/")
    assert config.acr_values == "eidas1"


async def test_demo_identities_can_be_switched_off(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"simulators_enabled": True, "demo_identities_enabled": False})
    )
    config = provider_config(settings, "franceconnect")
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            discovery = await client.get(
                "/_sim/franceconnect/api/v2/.well-known/openid-configuration"
            )
            authorize = await client.get(
                "/_sim/franceconnect/api/v2/authorize",
                params={"client_id": config.client_id, "redirect_uri": config.callback_url},
            )

    assert discovery.json()["id_token_signing_alg_values_supported"] == ["ES256"]
    assert authorize.status_code == 403
