"""Imports every module that registers jobs, so a worker knows them all."""

from poche_api import maintenance
from poche_api.incidents import escalation as incident_escalation
from poche_api.incidents import retention as incidents_retention
from poche_api.incidents import tasks as incident_tasks
from poche_api.notifications import tasks as notifications
from poche_api.transport import tasks as transport_tasks

__all__ = [
    "incident_escalation",
    "incident_tasks",
    "incidents_retention",
    "maintenance",
    "notifications",
    "transport_tasks",
]
