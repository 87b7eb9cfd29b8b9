"""Partner simulators: the partners' real protocols over HTTP, for the embedded default and tests.

Each simulator module registers itself in ``SIMULATORS``; ``mount_simulators`` serves them under
``/_sim/<name>`` on the API's own port, so partner URLs default to ``{public_url}/_sim/<name>``.
They are never mounted when ``POCHE_ENV=production`` (the settings refuse it).
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import ASGIApp

from poche_api.config import Environment, Settings

SIMULATOR_PREFIX = "/_sim"


@dataclass(frozen=True)
class Simulator:
    name: str
    build: Callable[[Settings], ASGIApp]
    description: str


SIMULATORS: dict[str, Simulator] = {}
# Each module calls ``register`` at import; add a simulator by adding its module here.
SIMULATOR_MODULES: tuple[str, ...] = (
    "poche_api.simulators.oidc",
    "poche_api.simulators.fcm",
    "poche_api.simulators.transit",
    "poche_api.simulators.ban",
)


def register(simulator: Simulator) -> Simulator:
    if simulator.name in SIMULATORS:
        raise RuntimeError(f"simulator {simulator.name!r} registered twice")
    SIMULATORS[simulator.name] = simulator
    return simulator


def simulator_url(settings: Settings, name: str) -> str:
    return f"{settings.public_url.rstrip('/')}{SIMULATOR_PREFIX}/{name}"


def load_simulators() -> dict[str, Simulator]:
    for module in SIMULATOR_MODULES:
        importlib.import_module(module)
    return SIMULATORS


def mount_simulators(app: FastAPI, settings: Settings) -> list[str]:
    if not settings.simulators_on or settings.env is Environment.production:
        return []
    load_simulators()
    for simulator in SIMULATORS.values():
        app.mount(f"{SIMULATOR_PREFIX}/{simulator.name}", simulator.build(settings))
    return sorted(SIMULATORS)
