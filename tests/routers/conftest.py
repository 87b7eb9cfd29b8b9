"""Router tests reuse the domain fixtures they need."""

from tests.notifications.conftest import fcm, fcm_url, push_client, push_settings

__all__ = ["fcm", "fcm_url", "push_client", "push_settings"]
