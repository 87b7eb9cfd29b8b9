"""Router tests reuse the domain fixtures they need."""

from tests.incidents.conftest import cast
from tests.notifications.conftest import (
    committed,
    committed_push_client,
    fcm,
    fcm_url,
    push_client,
    push_settings,
)

__all__ = [
    "cast",
    "committed",
    "committed_push_client",
    "fcm",
    "fcm_url",
    "push_client",
    "push_settings",
]
