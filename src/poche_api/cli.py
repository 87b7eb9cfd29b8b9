"""The ``poche-api`` command: serve | worker | demo | retention | db upgrade | import … | openapi export."""

import asyncio
import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from poche_api.config import Environment, Settings

cli = typer.Typer(
    help="poche-api: backend of « Ma Métropole dans ma poche ».", no_args_is_help=True
)
db_cli = typer.Typer(help="Database schema.", no_args_is_help=True)
import_cli = typer.Typer(help="Reference data imports.", no_args_is_help=True)
openapi_cli = typer.Typer(help="The published OpenAPI document.", no_args_is_help=True)
staff_cli = typer.Typer(help="Staff accounts (who may sign in as agent).", no_args_is_help=True)
keys_cli = typer.Typer(help="App token signing keys.", no_args_is_help=True)
cli.add_typer(staff_cli, name="staff")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(db_cli, name="db")
cli.add_typer(import_cli, name="import")
cli.add_typer(openapi_cli, name="openapi")

DEFAULT_OPENAPI = Path("openapi/openapi.json")


def _settings() -> Settings:
    from poche_api.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return settings


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (POCHE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (POCHE_PORT)")] = None,
) -> None:
    """Run the API. With no POCHE_DATABASE_URL/POCHE_REDIS_URL: the embedded default."""
    import uvicorn

    from poche_api.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        loop=settings.event_loop,
        access_log=False,
        log_config=None,
        server_header=False,
    )


@cli.command()
def demo() -> None:
    """Seed the Rouen demo data into the configured database (idempotent; refused in production)."""
    from poche_api.app import resolve_database_url
    from poche_api.db import create_engine
    from poche_api.demo import seed_demo
    from poche_api.migrate import upgrade_async

    settings = _settings()
    # As POCHE_DEMO_SEED is: demo identities and data never reach a production database.
    if settings.env is Environment.production:
        typer.echo("poche-api demo: refused in production (POCHE_ENV=production)", err=True)
        raise typer.Exit(1)

    async def run() -> list[str]:
        url, _handle = await resolve_database_url(settings)
        await upgrade_async(url)
        engine = create_engine(url, pool_size=1)
        try:
            return await seed_demo(engine)
        finally:
            await engine.dispose()

    typer.echo(f"seeded: {', '.join(asyncio.run(run()))}")


@cli.command()
def worker() -> None:
    """Run durable jobs and cluster-wide schedules until SIGTERM/SIGINT."""
    import httpx

    from poche_api import __version__, jobs
    from poche_api.app import resolve_database_url
    from poche_api.db import create_engine, create_sessionmaker, plain_url
    from poche_api.redis import create_redis

    settings = _settings()

    async def run() -> None:
        url, _handle = await resolve_database_url(settings)
        engine = create_engine(url, pool_size=settings.db_pool_size)
        redis = create_redis(settings.redis_url)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.http_timeout_seconds, connect=5.0),
            headers={"User-Agent": f"poche-api/{__version__}"},
        )
        shutdown = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, shutdown.set)
        try:
            await jobs.run_worker(
                jobs.WorkerResources(
                    settings=settings,
                    sessionmaker=create_sessionmaker(engine),
                    redis=redis,
                    http=http,
                    database_url=plain_url(url),
                ),
                shutdown=shutdown,
            )
        finally:
            await http.aclose()
            await redis.aclose()
            await engine.dispose()

    asyncio.run(run())


@db_cli.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from poche_api.app import resolve_database_url
    from poche_api.migrate import upgrade_async

    settings = _settings()

    async def run() -> None:
        url, _handle = await resolve_database_url(settings)
        await upgrade_async(url, revision)

    asyncio.run(run())
    typer.echo(f"database at {revision}")


@import_cli.command("communes")
def import_communes_command(
    source: Annotated[
        Path | None, typer.Argument(help="GeoJSON file (default: the bundled copy)")
    ] = None,
) -> None:
    """Load or refresh the Métropole's communes (upsert by INSEE code)."""
    from poche_api.app import resolve_database_url
    from poche_api.db import create_engine
    from poche_api.territory.loader import import_communes

    settings = _settings()

    async def run() -> int:
        url, _handle = await resolve_database_url(settings)
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as connection:
                return await import_communes(connection, source)
        finally:
            await engine.dispose()

    typer.echo(f"{asyncio.run(run())} communes imported")


@staff_cli.command("add")
def staff_add(
    email: Annotated[str, typer.Argument(help="Work e-mail asserted by the staff provider")],
    role: Annotated[str, typer.Option(help="agent, supervisor or admin")] = "agent",
    team: Annotated[list[str] | None, typer.Option(help="Team slug (repeatable)")] = None,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
) -> None:
    """Provision a staff member (needed before their first sign-in)."""
    from pydantic import ValidationError

    from poche_api.app import resolve_database_url
    from poche_api.db import create_engine, create_sessionmaker
    from poche_api.errors import PocheError
    from poche_api.identity.schemas import StaffCreate
    from poche_api.identity.service import provision_staff

    settings = _settings()
    try:
        data = StaffCreate(email=email, role=role, teams=team or [], display_name=name)
    except ValidationError as exc:
        typer.echo(f"invalid: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
        raise typer.Exit(2) from exc

    async def run() -> str:
        url, _handle = await resolve_database_url(settings)
        engine = create_engine(url, pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session:
                staff = await provision_staff(session, data)
                await session.commit()
                return f"{staff.email} ({staff.role}, teams: {', '.join(staff.teams) or '-'})"
        finally:
            await engine.dispose()

    try:
        typer.echo(f"provisioned {asyncio.run(run())}")
    except PocheError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc


@keys_cli.command("generate")
def keys_generate() -> None:
    """Print a new private signing key (JWK); put it first in POCHE_TOKEN_SIGNING_KEYS."""
    from poche_api.identity.tokens import new_signing_key_jwk

    typer.echo(json.dumps(new_signing_key_jwk()))


@import_cli.command("gtfs")
def import_gtfs_command(
    source: Annotated[str, typer.Argument(help="GTFS zip: a file path or an http(s) URL")],
    force: Annotated[
        bool, typer.Option(help="Download even if unchanged since the last import")
    ] = False,
) -> None:
    """Load a GTFS beside the active timetable, then switch to it atomically."""
    import httpx
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from poche_api import __version__
    from poche_api.app import resolve_database_url
    from poche_api.db import create_engine
    from poche_api.migrate import upgrade_async
    from poche_api.transport.gtfs import InvalidFeed
    from poche_api.transport.importer import import_path, refresh_from_url

    settings = _settings()
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
    )
    tasks: dict[str, Any] = {}

    def advance(member: str, rows: int) -> None:
        if member not in tasks:
            tasks[member] = progress.add_task(member, total=None)
        progress.advance(tasks[member], rows)

    async def run() -> str:
        url, _handle = await resolve_database_url(settings)
        if settings.embedded_database:
            await upgrade_async(url)
        engine = create_engine(url, pool_size=1)
        try:
            if source.startswith(("http://", "https://")):
                async with httpx.AsyncClient(
                    headers={"User-Agent": f"poche-api/{__version__}"}
                ) as http:
                    outcome = await refresh_from_url(
                        engine, http, source, force=force, progress=advance
                    )
                if outcome.result is None:
                    return "GTFS unchanged since the last import (conditional request)"
                result = outcome.result
            else:
                result = await import_path(engine, Path(source), source=source, progress=advance)
        finally:
            await engine.dispose()
        counts = ", ".join(f"{n:,} {name}" for name, n in sorted(result.counts.items()))
        return f"feed version {result.feed_version} active ({counts})"

    try:
        with progress:
            message = asyncio.run(run())
    except InvalidFeed as exc:
        typer.echo(f"invalid GTFS: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(message)


@cli.command()
def retention() -> None:
    """Run the incident retention job once (photos, contact data, follows, orphan photo files)."""
    from poche_api.app import resolve_database_url
    from poche_api.db import create_engine, create_sessionmaker
    from poche_api.incidents.retention import RetentionOutcome, run_with_own_store

    settings = _settings()

    async def run() -> RetentionOutcome:
        url, _handle = await resolve_database_url(settings)
        engine = create_engine(url, pool_size=1)
        try:
            async with create_sessionmaker(engine)() as session:
                return await run_with_own_store(session, settings)
        finally:
            await engine.dispose()

    outcome = asyncio.run(run())
    typer.echo(", ".join(f"{name}: {count}" for name, count in vars(outcome).items()))


def generate_openapi() -> str:
    from poche_api.app import create_app

    settings = Settings(
        env="test", database_url="postgresql://unused/unused", redis_url="redis://unused"
    )
    document = create_app(settings).openapi()
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


@openapi_cli.command("export")
def openapi_export(
    output: Annotated[Path, typer.Option(help="Where to write")] = DEFAULT_OPENAPI,
    check: Annotated[
        bool, typer.Option(help="Fail if the file differs instead of writing")
    ] = False,
) -> None:
    """Write the OpenAPI document generated from the app."""
    generated = generate_openapi()
    if check:
        if not output.exists() or output.read_text(encoding="utf-8") != generated:
            typer.echo(f"{output} is out of date: run `poche-api openapi export`", err=True)
            raise typer.Exit(1)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(generated, encoding="utf-8")
    typer.echo(f"wrote {output}")


def main() -> None:
    cli(prog_name="poche-api")


if __name__ == "__main__":
    main()
