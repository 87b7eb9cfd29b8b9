"""Admin access: a staff member with role admin, or the break-glass operator token
(``POCHE_ADMIN_TOKEN``) for /v1/admin and /metrics. Kept as a module for existing imports."""

from poche_api.auth import Admin
from poche_api.auth import admin_principal as require_admin

__all__ = ["Admin", "require_admin"]
