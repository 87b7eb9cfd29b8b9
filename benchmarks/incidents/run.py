"""Incidents: the team queue with 100,000 reports stored, and filing reports with a photo.

1. ``queue``: ``GET /v1/agent/reports?scope=teams`` (and sorted by distance from a position, and
   only overdue) with the demo field agent's real access token, under wrk, on ``poche-api serve``
   against the bare ASGI app of ``benchmarks/http_baseline`` replaying the same bytes, each at
   the same connection counts. Goal (issue #6): p99 ≤ 50 ms.
2. ``create``: ``POST /v1/incidents/reports``, multipart with one JPEG each, from distinct device
   credentials and client addresses, at a fixed concurrency, against a bare ASGI app that reads
   the same uploads and answers the same bytes (``bare_upload.py``); peak RSS of each server;
   and ``PhotoProcessor.process`` alone on the same JPEG as a second reference.

Both run on a fresh database holding 100,000 reports: the embedded default (a private
PostgreSQL cluster started in ``var/bench-incidents/``, stopped and removed afterwards; Redis
in-process) unless ``POCHE_DATABASE_URL`` / ``POCHE_REDIS_URL`` are set, which are passed through
(the database must hold no reports yet: the seed is added to it and left there).

Run from the repository root (each part alone stays near 10 minutes on 2 CPUs)::

    .venv/bin/python -m benchmarks.incidents.run queue     # rewrites the incidents_queue section
    .venv/bin/python -m benchmarks.incidents.run create    # rewrites the incidents_create section
    .venv/bin/python -m benchmarks.incidents.run --quick   # both, small, prints only

Raw wrk output, the load generator's results and server logs go to ``benchmarks/incidents/out/``
(git-ignored).
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.http_baseline.run import (
    HOST,
    SERVER_CPU,
    WRK_CPU,
    BenchmarkError,
    Server,
    WrkResult,
    can_pin,
    embedded_cluster_cleanup,
    fetch,
    free_port,
    pinned,
    postmaster_pid,
    run_wrk,
    venv_script,
    wrk_command,
)
from benchmarks.incidents import seed
from benchmarks.incidents.load import new_job
from benchmarks.incidents.photo import synthetic_photo

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "out"
WORK = REPO / "var" / "bench-incidents"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
AGENT_EMAIL = "demo.agent@metropole-rouen-normandie.fr"
ROUEN_HOTEL_DE_VILLE = (49.4432, 1.0993)
GOAL_P99_MS = 50.0
ARRIVALS_PER_RATE = 600  # p99 is then the 6th-slowest answer, not the 2nd of ~150
WRK_TIMEOUT_S = 30
READY_TIMEOUT = 300.0
QUEUE = "/v1/agent/reports"
QUEUE_SCENARIOS = (
    ("teams", "scope=teams (by deadline)", f"{QUEUE}?scope=teams"),
    (
        "distance",
        "scope=teams, sort=distance",
        (
            f"{QUEUE}?scope=teams&sort=distance&lat={ROUEN_HOTEL_DE_VILLE[0]}"
            f"&lon={ROUEN_HOTEL_DE_VILLE[1]}"
        ),
    ),
    ("overdue", "scope=teams, overdue=true", f"{QUEUE}?scope=teams&overdue=true"),
)
REPLAYED = ("content-type", "cache-control", "etag", "vary")


@dataclass(frozen=True)
class Options:
    which: tuple[str, ...]
    quick: bool
    stored: int
    reports: int
    warmup_reports: int
    concurrency: int
    photo_size: tuple[int, int]
    photo_count: int
    duration: float
    warmup: float
    connections: tuple[int, ...]
    rates: tuple[float, ...]
    results: Path | None


@dataclass
class Stored:
    """What the seed put in the database, for the report."""

    count: int
    open_total: int
    open_in_team: dict[str, int]
    overdue_in_agent_team: int
    events: int
    photos: int
    generate_s: float
    write_s: float
    agent_id: uuid.UUID
    agent_team: str
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------ database


def start_database(data_dir: Path) -> str:
    from poche_api.embedded import start_embedded_postgres
    from poche_api.migrate import upgrade

    url = os.environ.get("POCHE_DATABASE_URL")
    if not url:
        url, _handle = start_embedded_postgres(data_dir)
    upgrade(url)
    return url


async def seed_database(url: str, count: int) -> Stored:
    import asyncpg
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    from poche_api.db import create_engine, plain_url
    from poche_api.demo import seed_demo

    engine = create_engine(url, pool_size=1)
    try:
        await seed_demo(engine)
        async with AsyncSession(engine) as session:
            if await session.scalar(text("SELECT count(*) FROM incident_reports")):
                raise BenchmarkError("the database already holds incident reports: use a fresh one")
            catalogue = await seed.load_catalogue(session, AGENT_EMAIL)
    finally:
        await engine.dispose()
    started = time.perf_counter()
    seeded = seed.generate(catalogue, count, datetime.now(UTC))
    generated = time.perf_counter() - started
    connection = await asyncpg.connect(plain_url(url))
    try:
        started = time.perf_counter()
        await seed.write(connection, seeded)
        written = time.perf_counter() - started
    finally:
        await connection.close()
    return Stored(
        count=count,
        open_total=seeded.open_total,
        open_in_team=seeded.open_in_team,
        overdue_in_agent_team=seeded.overdue_in_agent_team,
        events=len(seeded.events),
        photos=len(seeded.photos),
        generate_s=generated,
        write_s=written,
        agent_id=catalogue.agent_id,
        agent_team=catalogue.team_slugs[catalogue.agent_team_id],
    )


# ------------------------------------------------------------------------------- servers


def poche_server(name: str, port: int, *, pin: bool, env: dict[str, str] | None = None) -> Server:
    command = [venv_script("poche-api"), "serve", "--host", HOST, "--port", str(port)]
    environment = {**os.environ, **(env or {})}
    return unpinned(Server(name, command, environment, OUT / f"{name}.log"), command, pin)


def unpinned(server: Server, command: list[str], pin: bool) -> Server:
    """``Server`` pins itself to CPU 0 where it can; undone for the upload benchmark, whose
    server is meant to use every CPU (photos are re-encoded in worker threads)."""
    if not pin:
        server.command = command
    return server


def cpu_seconds(server: Server) -> float:
    """User + system CPU time of the server process so far, all its threads."""
    if server.process is None:
        return float("nan")
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(server: Server) -> float:
    """The server process's high-water RSS (VmHWM), read before it stops."""
    if server.process is None:
        return float("nan")
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bare_server(name: str, module: str, port: int, env: dict[str, str], *, pin: bool) -> Server:
    command = [
        venv_script("uvicorn"),
        module,
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--no-server-header",
    ]
    server = Server(name, command, {**os.environ, **env}, OUT / f"{name}.log")
    return unpinned(server, command, pin)


# --------------------------------------------------------------------------------- queue


@dataclass(frozen=True)
class QueueRun:
    scenario: str
    server: str
    connections: int
    result: WrkResult


def mint_agent_token(agent_id: uuid.UUID) -> str:
    from poche_api.config import Settings
    from poche_api.identity import tokens

    settings = Settings()
    token, _ttl = tokens.keyring(settings).issue_access(
        settings, kind="staff", subject_id=agent_id, session_id=uuid.uuid4()
    )
    return token


async def explain_queue(url: str, agent_team: str) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE of the very statements the repository sends for each scenario."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import AsyncSession

    from poche_api.db import create_engine
    from poche_api.incidents.repository import IncidentRepository, QueueFilter

    engine = create_engine(url, pool_size=1)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        captured.append((statement, parameters))

    plans = []
    try:
        async with AsyncSession(engine) as session:
            repo = IncidentRepository.from_session(session)
            team_ids = await repo.team_ids_by_slug([agent_team])
            lat, lon = ROUEN_HOTEL_DE_VILLE
            calls: dict[str, Callable[[], Awaitable[object]]] = {
                "teams": lambda: repo.queue_by_deadline(
                    QueueFilter(team_ids=team_ids), after=None, limit=21
                ),
                "distance": lambda: repo.queue_by_distance(
                    QueueFilter(team_ids=team_ids), lat, lon, offset=0, limit=21
                ),
                "overdue": lambda: repo.queue_by_deadline(
                    QueueFilter(team_ids=team_ids, overdue_at=datetime.now(UTC)),
                    after=None,
                    limit=21,
                ),
            }
            for key, call in calls.items():
                captured.clear()
                await call()
                statement, parameters = captured[-1]
                connection = await session.connection()
                for _ in range(3):  # the last of three: warm, as under load
                    rows = await connection.exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
                    )
                    plan = [row[0] for row in rows]
                indexes = sorted(
                    {_index_of(line) for line in plan if "Index" in line and " on " in line}
                )
                seq_scans = [line.strip() for line in plan if "Seq Scan" in line]
                execution = next(
                    float(line.split(":")[1].split()[0])
                    for line in plan
                    if line.startswith("Execution Time")
                )
                (OUT / f"explain-{key}.txt").write_text(
                    f"{statement}\n{parameters}\n\n" + "\n".join(plan) + "\n", encoding="utf-8"
                )
                plans.append(
                    {"scenario": key, "indexes": indexes, "seq_scans": seq_scans, "ms": execution}
                )
    finally:
        await engine.dispose()
    return plans


def queue_wrk(
    url: str, *, duration: float, connections: int, threads: int, headers: Sequence[str]
) -> list[str]:
    """wrk's command with a 30 s timeout: its default 2 s would drop the slowest answers of a
    saturated server from the percentiles (counted as timeouts) instead of reporting them."""
    command = wrk_command(
        url, duration=duration, connections=connections, threads=threads, headers=headers
    )
    return [*command[:-1], "--timeout", f"{WRK_TIMEOUT_S}s", command[-1]]


def measure_queue(
    name: str, port: int, paths: dict[str, str], token: str, options: Options
) -> list[QueueRun]:
    auth = f"Authorization: Bearer {token}"
    top = max(options.connections)
    first = next(iter(paths.values()))
    print(f"  {name}: warm-up {options.warmup:g} s", flush=True)
    warmup = run_wrk(
        queue_wrk(
            f"http://{HOST}:{port}{first}",
            duration=options.warmup,
            connections=top,
            threads=1,
            headers=(auth,),
        ),
        options.warmup,
        OUT / f"queue-{name}-warmup.txt",
    )
    drain(warmup, top)
    runs = []
    for connections in options.connections:
        for key, path in paths.items():
            result = run_wrk(
                queue_wrk(
                    f"http://{HOST}:{port}{path}",
                    duration=options.duration,
                    connections=connections,
                    threads=1,
                    headers=(auth,),
                ),
                options.duration,
                OUT / f"queue-{name}-{key}-c{connections}.txt",
            )
            print(
                f"  {name} {key} c{connections}: {result.requests_per_second:,.0f} req/s, "
                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms",
                flush=True,
            )
            runs.append(QueueRun(key, name, connections, result))
            drain(result, connections)
    return runs


def drain(result: WrkResult, connections: int) -> None:
    """Let the server finish what wrk left in flight when it stopped (up to one request per
    connection, at the rate just measured) before the next run starts its clock."""
    time.sleep(min(30.0, 1.0 + 1.5 * connections / max(result.requests_per_second, 1.0)))


def bench_queue(options: Options, url: str, stored: Stored) -> list[str]:
    paths = {key: path for key, _label, path in QUEUE_SCENARIOS}
    token = mint_agent_token(stored.agent_id)
    port = free_port()
    # The queue enqueues nothing: the job worker runs apart, as in production, rather than
    # polling the queue (and the transit feeds) on the API's CPU during the measurement.
    server = poche_server("queue-poche-api", port, pin=True, env={"POCHE_EMBEDDED_WORKER": "false"})
    answers: dict[str, Any] = {}
    try:
        server.start()
        server.wait_until(port, "/readyz", timeout=READY_TIMEOUT)
        for key, path in paths.items():
            answer = fetch(port, path, {"Authorization": f"Bearer {token}"})
            if answer.status != 200:
                raise BenchmarkError(f"{path}: HTTP {answer.status} {answer.body[:300]!r}")
            answers[key] = answer
        runs = measure_queue("poche-api", port, paths, token, options)
        arrivals = measure_arrivals(port, paths["teams"], token, options)
    finally:
        server.stop()
    plans = asyncio.run(explain_queue(url, stored.agent_team))
    for key, path in paths.items():
        body_file, headers_file = OUT / f"queue-{key}-body.json", OUT / f"queue-{key}-headers.json"
        body_file.write_bytes(answers[key].body)
        headers_file.write_text(
            json.dumps({k: answers[key].headers[k] for k in REPLAYED if k in answers[key].headers})
        )
        bare_port = free_port()
        bare = bare_server(
            f"queue-bare-{key}",
            "benchmarks.http_baseline.bare_app:app",
            bare_port,
            {
                "HTTP_BASELINE_BODY_FILE": str(body_file),
                "HTTP_BASELINE_HEADERS_FILE": str(headers_file),
            },
            pin=True,
        )
        try:
            bare.start()
            bare.wait_until(bare_port, path, timeout=30)
            if fetch(bare_port, path).body != answers[key].body:
                raise BenchmarkError("the bare app does not replay the same bytes")
            runs += measure_queue(f"bare-{key}", bare_port, {key: path}, token, options)
        finally:
            bare.stop()
    return render_queue(options, stored, answers, runs, plans, arrivals)


def _index_of(plan_line: str) -> str:
    """The index an EXPLAIN line reads: "Index Scan using IX on T" or "Bitmap Index Scan on IX"."""
    if " using " in plan_line:
        return plan_line.split(" using ")[1].split(" on ")[0].strip()
    return plan_line.split(" on ")[-1].split()[0]


def measure_arrivals(port: int, path: str, token: str, options: Options) -> list[dict[str, Any]]:
    """The team queue under open-loop arrivals at each rate (client on CPU 1)."""
    results = []
    for rate in options.rates:
        result = run_child(
            [
                "arrivals",
                "--url",
                f"http://{HOST}:{port}",
                "--path",
                path,
                "--token",
                token,
                "--rate",
                f"{rate:g}",
                "--duration",
                f"{ARRIVALS_PER_RATE / rate if not options.quick else 5:g}",
            ],
            1,
            OUT / f"queue-arrivals-{rate:g}.txt",
        )
        print(
            f"  arrivals {rate:g}/s: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms",
            flush=True,
        )
        results.append(result)
        time.sleep(2)
    return results


# -------------------------------------------------------------------------------- create


async def register_devices(url: str, count: int) -> list[str]:
    """Anonymous installs, registered by identity's own service (the rate-limited HTTP route
    would only add setup time)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from poche_api.db import create_engine
    from poche_api.identity import service as identity

    engine = create_engine(url, pool_size=1)
    credentials = []
    try:
        async with AsyncSession(engine) as session:
            for _ in range(count):
                _device, credential = await identity.register_device(
                    session, platform="android", app_version="3.0.0"
                )
                credentials.append(credential)
            await session.commit()
    finally:
        await engine.dispose()
    return credentials


def create_jobs(credentials: Sequence[str]) -> list[dict[str, Any]]:
    """One report per device, from its own address; categories and places as the seed's."""
    rnd = random.Random(6)
    places = seed.communes()
    spots = seed.points(places, len(credentials), rnd)
    codes = list(seed.CATEGORY_WEIGHTS)
    weights = list(seed.CATEGORY_WEIGHTS.values())
    jobs = []
    for n, (credential, (_insee, lat, lon)) in enumerate(zip(credentials, spots, strict=True)):
        code = rnd.choices(codes, weights=weights)[0]
        report = {
            "category": code,
            "location": {"lat": lat, "lon": lon},
            "description": rnd.choice(seed.DESCRIPTIONS) or "Signalé depuis l'application.",
            "attributes": rnd.choice(seed.ATTRIBUTES.get(code, [{}])),
        }
        # 10.0.0.0/8, one address per install: carrier NAT would share some, under the limit.
        ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255 or 1}"
        jobs.append(new_job(credential, ip, report))
    return jobs


def run_child(args: Sequence[str], cpu: int | None, log: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.incidents.load", *args]
    if cpu is not None:
        command = pinned(command, cpu)
    print(f"  $ {shlex.join(command)}", flush=True)
    completed = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, check=False, timeout=3600
    )
    log.write_text(f"$ {shlex.join(command)}\n{completed.stdout}\n{completed.stderr}")
    if completed.returncode != 0:
        raise BenchmarkError(f"load child failed, see {log}:\n{completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


async def created_since(url: str, since: datetime) -> dict[str, Any]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession

    from poche_api.db import create_engine

    engine = create_engine(url, pool_size=1)
    try:
        async with AsyncSession(engine) as session:
            row = (
                await session.execute(
                    text(
                        "SELECT count(DISTINCT r.id), count(p.id), "
                        "       count(DISTINCT r.id) FILTER (WHERE r.team_id IS NOT NULL) "
                        "FROM incident_reports r "
                        "LEFT JOIN incident_photos p ON p.report_id = r.id "
                        "WHERE r.created_at >= :since AND r.channel = 'app'"
                    ),
                    {"since": since},
                )
            ).one()
    finally:
        await engine.dispose()
    return {"reports": row[0], "photos": row[1], "routed": row[2]}


def bench_create(options: Options, url: str, stored: Stored, workdir: Path) -> list[str]:
    width, height = options.photo_size
    photo = synthetic_photo(width, height)
    photo_file = workdir / "photo.jpg"
    photo_file.write_bytes(photo)
    total = options.reports + options.warmup_reports
    credentials = asyncio.run(register_devices(url, total))
    jobs_file = workdir / "jobs.json"
    jobs_file.write_text(json.dumps(create_jobs(credentials)), encoding="utf-8")
    load_args = [
        "--jobs",
        str(jobs_file),
        "--photo",
        str(photo_file),
        "--concurrency",
        str(options.concurrency),
        "--warmup",
        str(options.warmup_reports),
    ]
    photo_args = ["photos", "--photo", str(photo_file), "--count", str(options.photo_count)]
    # The reference before and after: a long run sees the machine's other work come and go.
    processing = [run_child(photo_args, None, OUT / "create-photos-before.txt")]
    port = free_port()
    server = poche_server("create-poche-api", port, pin=False)
    started_at = datetime.now(UTC)
    try:
        server.start()
        server.wait_until(port, "/readyz", timeout=READY_TIMEOUT)
        cpu_before, load_before = cpu_seconds(server), os.getloadavg()[0]
        ours = run_child(
            ["creates", "--url", f"http://{HOST}:{port}", *load_args],
            None,
            OUT / "create-poche-api.txt",
        )
        ours["peak_rss_mb"] = peak_rss_mb(server)
        ours["cpu_ms"] = (
            (cpu_seconds(server) - cpu_before) / (ours["count"] + ours["warmup"]) * 1000
        )
        ours["load"] = (load_before, os.getloadavg()[0])
    finally:
        server.stop()
    stored_rows = asyncio.run(created_since(url, started_at))
    answer = ours.get("first_answer")
    if answer is None:
        raise BenchmarkError(f"no report was created: {ours['statuses']}")
    body_file, headers_file = OUT / "create-answer.json", OUT / "create-headers.json"
    body_file.write_text(answer["body"], encoding="utf-8")
    headers_file.write_text(json.dumps(answer["headers"]), encoding="utf-8")
    bare_port = free_port()
    bare = bare_server(
        "create-bare",
        "benchmarks.incidents.bare_upload:app",
        bare_port,
        {
            "BARE_UPLOAD_BODY_FILE": str(body_file),
            "BARE_UPLOAD_HEADERS_FILE": str(headers_file),
            "BARE_UPLOAD_STATUS": str(answer["status"]),
        },
        pin=False,
    )
    try:
        bare.start()
        bare.wait_until(bare_port, "/", timeout=30)
        reference = run_child(
            ["creates", "--url", f"http://{HOST}:{bare_port}", *load_args],
            None,
            OUT / "create-bare.txt",
        )
        reference["peak_rss_mb"] = peak_rss_mb(bare)
    finally:
        bare.stop()
    processing.append(run_child(photo_args, None, OUT / "create-photos-after.txt"))
    return render_create(options, stored, photo, ours, reference, processing, stored_rows)


# -------------------------------------------------------------------------------- report


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


def _git(*args: str) -> str:
    completed = subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=10
    )
    return completed.stdout.strip() if completed.returncode == 0 else ""


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _common(options: Options, stored: Stored, load_before: float, pinning: str) -> list[str]:
    dirty = " (+ uncommitted changes)" if _git("status", "--porcelain", "--", "src") else ""
    backing = (
        "external PostgreSQL (POCHE_DATABASE_URL)"
        if os.environ.get("POCHE_DATABASE_URL")
        else "embedded PostgreSQL (not pinned)"
    ) + (
        ", external Redis (POCHE_REDIS_URL)"
        if os.environ.get("POCHE_REDIS_URL")
        else ", in-process fakeredis"
    )
    open_teams = ", ".join(f"{slug} {n:,}" for slug, n in sorted(stored.open_in_team.items()))
    return [
        (
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; "
            f"1-min load average before: {load_before:.2f} (other work shares this machine)"
        ),
        (
            f"- Python {platform.python_version()}, uvicorn {_version('uvicorn')}, FastAPI "
            f"{_version('fastapi')}, SQLAlchemy {_version('sqlalchemy')}, asyncpg "
            f"{_version('asyncpg')}, Pillow {_version('pillow')}; commit "
            f"{_git('rev-parse', '--short', 'HEAD') or '?'}{dirty}"
        ),
        f"- Command (repository root): `{shlex.join(['.venv/bin/python', *sys.orig_argv[1:]])}`",
        (
            f"- poche-api: `poche-api serve` (one uvicorn worker), {backing}, "
            f"`POCHE_LOG_LEVEL=WARNING`, other settings at their defaults (the queue's server "
            f"with `POCHE_EMBEDDED_WORKER=false`: the job worker runs apart, as in production). "
            f"{pinning}"
        ),
        (
            f"- Stored: {stored.count:,} reports over 3 years (COPY, bypassing the API: "
            f"{stored.generate_s:.0f} s to generate, {stored.write_s:.0f} s to write with "
            f"{stored.events:,} history events, {stored.photos:,} photo rows and the follows); "
            f"{stored.open_total:,} open — by team: {open_teams}; the demo agent's team "
            f"`{stored.agent_team}` has {stored.open_in_team.get(stored.agent_team, 0):,} open, "
            f"{stored.overdue_in_agent_team:,} of them overdue."
            if stored.count
            else "- Stored: the demo database only (no seeded history)."
        ),
    ]


def render_queue(
    options: Options,
    stored: Stored,
    answers: dict[str, Any],
    runs: list[QueueRun],
    plans: list[dict[str, Any]],
    arrivals: list[dict[str, Any]],
) -> list[str]:
    poche = {(r.scenario, r.connections): r.result for r in runs if r.server == "poche-api"}
    bare = {(r.scenario, r.connections): r.result for r in runs if r.server != "poche-api"}
    lines = [
        "## Incidents: team queue `GET /v1/agent/reports` with 100,000 reports stored",
        "",
        "Written by `benchmarks/incidents/run.py queue`; re-run it rather than editing this.",
        "",
        *_common(
            options,
            stored,
            LOAD_BEFORE,
            f"Servers pinned to CPU {SERVER_CPU}, wrk to CPU {WRK_CPU}."
            if can_pin()
            else "No CPU pinning.",
        ),
        (
            "- Caller: the demo field agent (team "
            f"`{stored.agent_team}`) with a real ES256 access token minted by "
            "`identity.tokens.keyring(settings).issue_access`; default page (20 items). "
            f"`wrk -t1 -d{options.duration:g}s --latency --timeout {WRK_TIMEOUT_S}s` per scenario "
            "and connection count, "
            f"after a {options.warmup:g} s warm-up per server."
        ),
        (
            "- Bare: `benchmarks/http_baseline/bare_app.py` (raw ASGI) replaying each "
            "scenario's captured body and headers."
        ),
        "",
        "| Scenario | Answer | Connections | Server | req/s | p50 | p99 | ratio | errors |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    labels = {key: label for key, label, _path in QUEUE_SCENARIOS}
    for connections in options.connections:
        for key, _label, _path in QUEUE_SCENARIOS:
            size = f"{len(answers[key].body) / 1000:.1f} kB"
            ours, floor = poche[(key, connections)], bare[(key, connections)]
            for server, result in (("poche-api", ours), ("bare", floor)):
                ratio = result.requests_per_second / floor.requests_per_second
                lines.append(
                    f"| {labels[key]} | {size} | {connections} | {server} | "
                    f"{result.requests_per_second:,.0f} | {_ms(result.p50_ms)} | "
                    f"{_ms(result.p99_ms)} | {ratio:.3f} | "
                    f"{result.non_2xx_3xx + result.socket_errors} |"
                )
    lines += [
        "",
        "Query plans (EXPLAIN ANALYZE of the repository's own statements, warm):",
        "",
        "| Scenario | index used | sequential scans | execution |",
        "|---|---|---|---:|",
    ]
    for plan in plans:
        lines.append(
            f"| {labels[plan['scenario']]} | {', '.join(plan['indexes']) or 'none'} | "
            f"{'; '.join(plan['seq_scans']) or 'none'} | {plan['ms']:.2f} ms |"
        )
    top = max(options.connections)
    saturated = min(poche[(key, top)].requests_per_second for key, _l, _p in QUEUE_SCENARIOS)
    lines += [
        "",
        (
            f"One worker, saturated, answers about {saturated:,.0f} queue requests/s (the slowest "
            f"scenario at {top} connections); with N requests waiting, each answer takes about "
            f"N / {saturated:,.0f} s (Little's law), so the p99 goal can hold only while fewer "
            f"than about {saturated * GOAL_P99_MS / 1000:.1f} requests are in flight at once."
        ),
        "",
        (
            "Open-loop arrivals (`benchmarks/incidents/load.py arrivals`, client pinned to "
            "CPU 1): "
            "scope=teams requests start at Poisson-distributed instants at each rate, about "
            f"{ARRIVALS_PER_RATE:,} per rate (the run lasts {ARRIVALS_PER_RATE:,} / rate seconds) "
            "whatever the answers, each latency counted from its scheduled "
            "start, as independent agents refreshing their queue load the server; with "
            "`Accept-Encoding: gzip` as the app sends it (wrk sends none, so its answers go "
            "uncompressed). For scale "
            "(an assumption, not a figure from the Métropole): 300 field agents each refreshing "
            "once a minute make 5 requests/s."
        ),
        "",
        "| Arrival rate | answered | answered/s | p50 | p99 | max | statuses |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for arrival in arrivals:
        lines.append(
            f"| {arrival['rate']:g}/s | {arrival['count']:,} | {arrival['per_second']:.1f} | "
            f"{_ms(arrival['p50_ms'])} | {_ms(arrival['p99_ms'])} | {_ms(arrival['max_ms'])} | "
            + ", ".join(f"{k}: {v:,}" for k, v in sorted(arrival["statuses"].items()))
            + " |"
        )
    lines += [
        "",
        f"Goal (issue #6): queue p99 ≤ {GOAL_P99_MS:g} ms.",
        "",
    ]
    for arrival in arrivals:
        ok = arrival["p99_ms"] <= GOAL_P99_MS and set(arrival["statuses"]) == {"200"}
        lines.append(
            f"- open loop at {arrival['rate']:g} requests/s: p99 {_ms(arrival['p99_ms'])} — "
            f"**{'met' if ok else 'NOT met'}**"
        )
    for connections in options.connections:
        worst = max(poche[(key, connections)].p99_ms for key, _l, _p in QUEUE_SCENARIOS)
        errors = sum(
            poche[(key, connections)].non_2xx_3xx + poche[(key, connections)].socket_errors
            for key, _l, _p in QUEUE_SCENARIOS
        )
        verdict = "met" if worst <= GOAL_P99_MS and errors == 0 else "NOT met"
        lines.append(
            f"- {connections} connections: worst p99 {_ms(worst)} — **{verdict}**"
            + ("" if errors == 0 else f" ({errors} errors)")
        )
    return lines


def render_create(
    options: Options,
    stored: Stored,
    photo: bytes,
    ours: dict[str, Any],
    reference: dict[str, Any],
    processing: list[dict[str, Any]],
    rows: dict[str, Any],
) -> list[str]:
    width, height = options.photo_size
    before, after = processing
    variants = ", ".join(
        f"{name} {w}×{h} ({size / 1000:.0f} kB)"
        for name, (w, h, size) in before["variants"].items()
    )
    lines = [
        f"## Incidents: filing {options.reports:,} reports with a photo",
        "",
        "Written by `benchmarks/incidents/run.py create`; re-run it rather than editing this.",
        "",
        *_common(
            options,
            stored,
            LOAD_BEFORE,
            "Nothing pinned: the server re-encodes photos in worker threads "
            "(`POCHE_MEDIA_CONCURRENCY`, 2) meant to use both CPUs, as in a 2-CPU container; the "
            "client and PostgreSQL share them.",
        ),
        (
            f"- Upload: `POST /v1/incidents/reports`, multipart: the report's JSON (client id, "
            f"category, point, description, answers) and one {width}×{height} JPEG "
            f"({len(photo) / 1e6:.2f} MB, quality 90, EXIF with GPS; "
            f"{ours['upload_bytes'] / 1e6:.2f} MB per request), synthetic (`photo.py`); "
            "`Idempotency-Key` on each. Re-encoded by the server to WebP: " + variants + "."
        ),
        (
            f"- Clients: {options.reports:,} distinct device credentials (registered through "
            "`identity.service.register_device`), one report each, each from its own "
            "address in `X-Forwarded-For` (trusted from 127.0.0.1 by uvicorn's proxy headers, "
            "as from the load balancer): the per-device (10/h) and per-IP (60/h) limits stay "
            f"untouched. httpx, {options.concurrency} requests in flight over "
            f"{options.concurrency} keep-alive connections, bodies built before the clock; "
            f"{options.warmup_reports} warm-up reports first, not counted. 1-min load average "
            f"{ours['load'][0]:.2f} when the uploads started, {ours['load'][1]:.2f} when they "
            "ended."
        ),
        (
            "- Bare: `benchmarks/incidents/bare_upload.py` (raw ASGI) reads each upload to the "
            "end and answers the captured 201 body and headers."
        ),
        (
            "- Photo processing alone: `PhotoProcessor.process` on the same JPEG in a process of "
            f"its own, just before and just after poche-api's run: {before['count']} photos one "
            f"after the other (latency), then {before['count']} at once through its bound of "
            f"{before['concurrency']} (throughput; CPU time of all its threads per photo)."
        ),
        (
            "- CPU per report: the server process's user + system time over the run (its "
            "threads included, warm-up reports counted), divided by the reports filed."
        ),
        "",
        "| Work | count | time | per second | p50 | p99 | max | CPU each | peak RSS | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, result in (
        ("poche-api: file a report", ours),
        ("bare: read upload, answer", reference),
    ):
        errors = sum(n for status, n in result["statuses"].items() if status != "201")
        cpu = _ms(result["cpu_ms"]) if "cpu_ms" in result else ""
        lines.append(
            f"| {label} | {result['count']:,} | {result['seconds']:.1f} s | "
            f"{result['per_second']:.2f} | {_ms(result['p50_ms'])} | {_ms(result['p99_ms'])} | "
            f"{_ms(result['max_ms'])} | {cpu} | {result['peak_rss_mb']:.0f} MB | {errors} |"
        )
    for when, result in (("before", before), ("after", after)):
        lines.append(
            f"| `PhotoProcessor.process` alone, {when} | {result['count']} | "
            f"{result['count'] / result['per_second']:.1f} s | {result['per_second']:.2f} "
            f"(one at a time: {result['per_second_alone']:.2f}) | {_ms(result['p50_ms'])} | "
            f"{_ms(result['p99_ms'])} | | {_ms(result['cpu_ms'])} | {result['peak_mb']:.0f} MB | |"
        )
    photo_cpu = (before["cpu_ms"] + after["cpu_ms"]) / 2
    photo_rate = (before["per_second"] + after["per_second"]) / 2
    lines += [
        "",
        (
            f"- poche-api filed {ours['per_second']:.2f} reports/s, "
            f"{ours['per_second'] / photo_rate:.2f}× the photo processing alone (mean of before "
            f"and after, {photo_rate:.2f}/s) and {ours['per_second'] / reference['per_second']:.4f}"
            "× the bare upload."
        ),
        (
            f"- CPU: {_ms(ours['cpu_ms'])} per report against {_ms(photo_cpu)} per photo "
            f"processed alone: the photo is {photo_cpu / ours['cpu_ms']:.0%} of a report's cost; "
            f"the rest ({_ms(ours['cpu_ms'] - photo_cpu)}) is reading the multipart upload, the "
            "idempotency claim, filing, routing, storing the three variants and the answer."
        ),
        (
            f"- Stored by the run (warm-up included): {rows['reports']:,} reports, "
            f"{rows['photos']:,} photos, {rows['routed']:,} routed to a team (the rest in "
            f"triage). Statuses seen: {ours['statuses']}."
        ),
        "- No goal is set for filing in issue #6; figures only.",
    ]
    return lines


def write_section(name: str, lines: list[str], results: Path) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    block = start + "\n" + "\n".join(lines).rstrip() + "\n" + end
    first, last = text.find(start), text.find(end)
    if first != -1 and last > first:
        text = text[:first] + block + text[last + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    staged = results.with_name(f".{results.name}.{os.getpid()}.tmp")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, results)


# ---------------------------------------------------------------------------------- main

LOAD_BEFORE = os.getloadavg()[0]


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("which", nargs="*", help="queue and/or create (default: both)")
    parser.add_argument("--quick", action="store_true", help="small smoke test, prints only")
    parser.add_argument(
        "--stored",
        type=int,
        help="reports seeded first (100,000, quick 10,000, when the queue runs; else none)",
    )
    parser.add_argument("--reports", type=int, help="reports filed (2,000; quick 40)")
    parser.add_argument("--concurrency", type=int, default=8, help="uploads in flight (8)")
    parser.add_argument(
        "--photo", default="4000x3000", help="JPEG size WIDTHxHEIGHT (4000x3000, 12 MP)"
    )
    parser.add_argument("--duration", type=float, help="seconds per wrk run (10; quick 2)")
    parser.add_argument(
        "--connections", default="1,4,16,64", help="wrk connection counts (1,4,16,64)"
    )
    parser.add_argument(
        "--rates", default="5,10,20", help="open-loop arrival rates per second (5,10,20)"
    )
    parser.add_argument("--results", type=Path, help=f"markdown to update (default {RESULTS})")
    args = parser.parse_args(argv)
    which = tuple(args.which) or ("queue", "create")
    if set(which) - {"queue", "create"}:
        parser.error("benchmarks are: queue, create")
    width, _, height = args.photo.partition("x")
    results = args.results if args.results or args.quick else RESULTS
    return Options(
        which=which,
        quick=args.quick,
        stored=args.stored
        if args.stored is not None
        else (0 if "queue" not in which else 10_000 if args.quick else 100_000),
        reports=args.reports or (40 if args.quick else 2000),
        warmup_reports=args.concurrency,
        concurrency=args.concurrency,
        photo_size=(int(width), int(height)),
        photo_count=6 if args.quick else 20,
        duration=args.duration or (2.0 if args.quick else 10.0),
        warmup=1.0 if args.quick else 3.0,
        connections=tuple(int(c) for c in args.connections.split(",")),
        rates=tuple(float(r) for r in args.rates.split(",")),
        results=results,
    )


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if "queue" in options.which and shutil.which("wrk") is None:
        print("wrk is required (apt-get install wrk)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    workdir = WORK / f"run-{os.getpid()}"
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True)
    os.environ["POCHE_DATA_DIR"] = str(data_dir)
    os.environ["POCHE_LOG_LEVEL"] = "WARNING"
    embedded = not os.environ.get("POCHE_DATABASE_URL")
    sections: dict[str, list[str]] = {}
    try:
        with embedded_cluster_cleanup(data_dir, embedded=embedded):
            print(f"database ({'embedded in ' + str(data_dir) if embedded else 'given'})")
            url = start_database(data_dir)
            print(f"seeding {options.stored:,} reports", flush=True)
            stored = asyncio.run(seed_database(url, options.stored))
            print(
                f"  {stored.generate_s:.0f} s to generate, {stored.write_s:.0f} s to write; "
                f"{stored.open_in_team.get(stored.agent_team, 0)} open in {stored.agent_team}",
                flush=True,
            )
            if "queue" in options.which:
                print("queue", flush=True)
                sections["incidents_queue"] = bench_queue(options, url, stored)
            if "create" in options.which:
                print("create", flush=True)
                sections["incidents_create"] = bench_create(options, url, stored, workdir)
    except (BenchmarkError, OSError, subprocess.SubprocessError) as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        if embedded and postmaster_pid(data_dir) is not None:
            print(f"  kept {workdir}: a PostgreSQL still runs on it", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for name, lines in sections.items():
        print()
        print("\n".join(lines))
        if options.results is not None:
            write_section(name, lines, options.results)
    if options.results is not None:
        print(f"\nupdated {options.results}")
    else:
        print("\n(quick run: results not written; pass --results PATH to write them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
