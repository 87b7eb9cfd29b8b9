"""Push a disruption change to the riders who follow its lines or stops, once.

Line followers who chose the line in their push preferences get it through the line's FCM topic
(one message per language); everyone else following an affected line or stop through
``/v1/transport/follows`` gets it on their own devices. A principal reached by a topic is not
sent a second, personal copy.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from poche_api.models import TransportAlert, TransportAlertEvent
from poche_api.notifications import topics
from poche_api.notifications.repository import PushRepository
from poche_api.notifications.service import Target, notify
from poche_api.transport.repository import TransportRepository

KIND = "transport_disruption"


def _label(route_id: str) -> str:
    return route_id.split(":")[-1]


def _texts(event: TransportAlertEvent, alert: TransportAlert | None, line: str) -> dict[str, str]:
    if event.kind == "resolved" or alert is None:
        return {
            "title_fr": f"Ligne {line} : trafic rétabli",
            "body_fr": "La perturbation est terminée.",
            "title_en": f"Line {line}: service restored",
            "body_en": "The disruption is over.",
        }
    header, description = alert.header, alert.description
    french = header.get("fr") or header.get("en") or f"Ligne {line} perturbée"
    english = header.get("en") or french
    return {
        "title_fr": f"Ligne {line} : {french}"[:120],
        "body_fr": (description.get("fr") or description.get("en") or french)[:300],
        "title_en": f"Line {line}: {english}"[:120],
        "body_en": (description.get("en") or description.get("fr") or english)[:300],
    }


async def push_disruption(session: AsyncSession, event: TransportAlertEvent) -> int:
    """Enqueue the notifications for one alert event; returns how many were recorded."""
    transport = TransportRepository.from_session(session)
    alert = await transport.alert(event.feed, event.alert_id)
    sent = 0
    for route_id in event.route_ids:
        await notify(
            session,
            kind=KIND,
            template="free_text",
            params={"line": _label(route_id), **_texts(event, alert, _label(route_id))},
            target=Target(topic=topics.line(route_id)),
            deep_link=f"poche://transport/lines/{route_id}",
        )
        sent += 1
    line_topics = {
        topics.localized(topics.line(route_id), language)
        for route_id in event.route_ids
        for language in topics.LANGUAGES
    }
    reached = await PushRepository.from_session(session).owners_subscribed_to(line_topics)
    followers = await transport.followers(route_ids=event.route_ids, stop_ids=event.stop_ids)
    anchor = _label(event.route_ids[0]) if event.route_ids else _label(event.stop_ids[0])
    for principal in sorted(set(followers) - reached):
        await notify(
            session,
            kind=KIND,
            template="free_text",
            params={"line": anchor, **_texts(event, alert, anchor)},
            target=Target(principal=principal),
            deep_link="poche://transport/alerts",
        )
        sent += 1
    return sent
