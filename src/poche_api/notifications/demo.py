"""Demo push data: the demo resident's phone, its preferences, and a first message in her inbox.

Signing in as ``resident`` in the FranceConnect simulator shows them at once
(``GET /v1/me/devices``, ``GET /v1/me/notifications``). Everything goes through the push service
(registration, preferences, ``notify``), so the worker subscribes the phone's topics and delivers
the message to the FCM simulator like any other. Seeded once: a re-run leaves the install (and
whatever was changed on it since) alone, and adds the welcome message only while her inbox has
none (the log retention purges it in time; the next start brings it back).
"""

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from poche_api.auth.principal import Principal
from poche_api.demo import seeder
from poche_api.identity.demo import ensure_demo_resident
from poche_api.notifications import service
from poche_api.notifications.repository import PushRepository
from poche_api.notifications.schemas import Preferences, RegistrationIn

DEMO_INSTALLATION = "demo-camille-android"
DEMO_REGISTRATION = RegistrationIn(
    token="demo-camille-android:APA91bDemoTokenForTheFcmSimulator",  # noqa: S106 - not a secret
    platform="android",
    app_version="1.0.0",
    locale="fr-FR",
    time_zone="Europe/Paris",
)
DEMO_PREFERENCES = Preferences(
    language="fr",
    transport_lines=["TCAR:91"],  # TEOR T1 in the demo timetable
    transport_stops=["TCAR:TDA"],  # Théâtre des Arts
    commune_insee="76540",  # Rouen
    metropole_news=True,
)
WELCOME_MARK = {"demo": "welcome"}
WELCOME = {
    "title_fr": "Bienvenue dans Ma Métropole dans ma poche",
    "body_fr": "Les alertes de la ligne T1, les actualités de Rouen et les alertes de crise "
    "arriveront ici. Réglez-les dans Notifications.",
    "title_en": "Welcome to Ma Métropole dans ma poche",
    "body_en": "Line T1 alerts, Rouen news and crisis alerts will arrive here. "
    "Adjust them under Notifications.",
}


@seeder("push")
async def seed_push(connection: AsyncConnection) -> None:
    owner = Principal(kind="resident", id=await ensure_demo_resident(connection)).key
    # A savepoint inside the seeding transaction: the service only flushes, this commit
    # releases the savepoint, and the seeding transaction commits the whole.
    session = AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    try:
        repo = PushRepository.from_session(session)
        if await repo.registration_by_installation(DEMO_INSTALLATION) is None:
            await service.register(session, owner, DEMO_INSTALLATION, DEMO_REGISTRATION)
            await service.set_preferences(session, owner, DEMO_INSTALLATION, DEMO_PREFERENCES)
        if not await repo.inbox_has(owner, WELCOME_MARK):
            await service.notify(
                session,
                kind="metropole_news",
                template="free_text",
                params={**WELCOME, **WELCOME_MARK},
                target=service.Target(principal=owner),
                deep_link="poche://settings/notifications",
            )
        await session.commit()
    finally:
        await session.close()
