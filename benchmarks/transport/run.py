"""Transport benchmarks, each against a reference measured in the same run.

1. ``import``: load a synthetic Rouen-scale GTFS (3,000 stops, 100 routes, 40,000 trips,
   1,000,000 stop_times) with ``poche-api``'s importer (validation + COPY + switch) vs only
   parsing the same CSV members with Python's ``csv`` module (goal ≤ 3×) and vs gtfs-kit's
   ``read_feed`` (the peer, optional extra ``bench``); peak RSS of the importing process ≤ 1 GB.
   Each phase runs in its own subprocess so its peak RSS is its own (PostgreSQL's memory, in
   its own processes, is not counted).
2. ``merge``: read a 3,000-entity TripUpdates message, index it and merge one departure per
   trip vs a bare ``FeedMessage.ParseFromString`` (goal ≤ 5×).
3. ``http``: ``GET /v1/transport/stops/TCAR:TDA/departures`` on ``poche-api serve`` (embedded
   PostgreSQL, a real redis-server, a fresh real-time snapshot polled from the simulator) vs the
   bare ASGI app of ``benchmarks/http_baseline`` replaying the same bytes, under wrk at 64
   connections (goal ≥ 0.25× its requests per second, p99 ≤ 50 ms).

Run from the repository root: ``.venv/bin/python -m benchmarks.transport.run [import|merge|http]``
(no argument: all three). Results replace the ``transport`` section of benchmarks/RESULTS.md.
"""

import argparse
import asyncio
import csv
import ctypes
import ctypes.util
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.http_baseline.run import (
    HOST,
    OUT,
    Server,
    can_pin,
    fetch,
    free_port,
    run_wrk,
    venv_script,
    wrk_command,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
WORK = REPO / "var" / "bench-transport"
START, END = "<!-- transport:start -->", "<!-- transport:end -->"
STOPS, ROUTES, TRIPS, STOPS_PER_TRIP = 3000, 100, 40_000, 25
IMPORT_ROUNDS = 3
DEPARTURES_PATH = "/v1/transport/stops/TCAR:TDA/departures"


# ------------------------------------------------------------------------------ 1. import


def synthetic_gtfs(path: Path) -> None:
    """A Rouen-scale feed, written member by member (never whole in memory)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".tmp")
    with zipfile.ZipFile(staged, "w", zipfile.ZIP_DEFLATED) as archive:

        def member(name: str, header: list[str], rows: Any) -> None:
            with archive.open(name, "w") as raw, io.TextIOWrapper(raw, "utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(header)
                writer.writerows(rows)

        member(
            "agency.txt",
            ["agency_id", "agency_name", "agency_url", "agency_timezone"],
            [["TCAR", "Astuce", "https://example.invalid", "Europe/Paris"]],
        )
        member(
            "stops.txt",
            ["stop_id", "stop_name", "stop_lat", "stop_lon"],
            (
                [f"S{i}", f"Arrêt n°{i}", 49.3 + (i % 60) * 0.005, 0.95 + (i // 60) * 0.006]
                for i in range(STOPS)
            ),
        )
        member(
            "routes.txt",
            ["route_id", "agency_id", "route_short_name", "route_type"],
            ([f"R{i}", "TCAR", str(i), 3] for i in range(ROUTES)),
        )
        member(
            "calendar.txt",
            [
                "service_id",
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
                "start_date",
                "end_date",
            ],
            [
                ["SEM", 1, 1, 1, 1, 1, 0, 0, "20260101", "20261231"],
                ["SAM", 0, 0, 0, 0, 0, 1, 0, "20260101", "20261231"],
                ["DIM", 0, 0, 0, 0, 0, 0, 1, "20260101", "20261231"],
            ],
        )
        member(
            "trips.txt",
            ["route_id", "service_id", "trip_id", "trip_headsign", "direction_id"],
            (
                [
                    f"R{t % ROUTES}",
                    ("SEM", "SAM", "DIM")[t % 3],
                    f"T{t}",
                    f"Terminus {t % 97}",
                    t % 2,
                ]
                for t in range(TRIPS)
            ),
        )

        def stop_times() -> Any:
            for t in range(TRIPS):
                start = 5 * 3600 + (t * 37) % (20 * 3600)
                first_stop = (t * 131) % (STOPS - STOPS_PER_TRIP)
                for s in range(STOPS_PER_TRIP):
                    at = start + s * 90
                    clock = f"{at // 3600:02d}:{at % 3600 // 60:02d}:{at % 60:02d}"
                    yield [f"T{t}", clock, clock, f"S{first_stop + s}", s + 1]

        member(
            "stop_times.txt",
            ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"],
            stop_times(),
        )
    staged.rename(path)


def phase_parse(path: Path) -> dict[str, Any]:
    rows = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            with archive.open(name) as raw:
                for _ in csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")):
                    rows += 1
    return {"rows": rows}


def phase_import(path: Path, database_url: str) -> dict[str, Any]:
    import asyncpg

    from poche_api.db import plain_url
    from poche_api.transport.gtfs import import_gtfs

    async def run() -> dict[str, Any]:
        connection = await asyncpg.connect(plain_url(database_url))
        try:
            result = await import_gtfs(connection, path, source="benchmark")
        finally:
            await connection.close()
        return {"counts": result.counts, "steps": result.seconds}

    return asyncio.run(run())


def phase_gtfs_kit(path: Path) -> dict[str, Any]:
    import gtfs_kit

    feed = gtfs_kit.read_feed(path, dist_units="km")
    return {"stop_times": len(feed.stop_times)}


def run_phase(name: str, *args: str) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its wall time and its own peak RSS."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.transport.run", "_phase", name, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _import_phase_modules(name: str) -> None:
    """Load what a phase uses before its clock starts: every phase is timed on its work, not
    on starting pandas or SQLAlchemy."""
    if name == "import":
        import asyncpg  # noqa: F401
        import pyarrow

        import poche_api.db
        import poche_api.transport.gtfs  # noqa: F401

        # Arrow imports pandas on its first conversion when pandas is there: the bench extra
        # installs it for gtfs-kit, a production install has none.
        pyarrow.array([], pyarrow.string())
    elif name == "gtfs-kit":
        import gtfs_kit  # noqa: F401


def child_phase(name: str, args: Sequence[str]) -> None:
    _import_phase_modules(name)
    started, cpu_started = time.perf_counter(), time.process_time()
    if name == "parse":
        extra = phase_parse(Path(args[0]))
    elif name == "import":
        extra = phase_import(Path(args[0]), args[1])
    elif name == "gtfs-kit":
        extra = phase_gtfs_kit(Path(args[0]))
    else:
        raise SystemExit(f"unknown phase {name}")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, **extra}))


def cluster_cpu_seconds(data_dir: Path) -> float | None:
    """CPU seconds used so far by the PostgreSQL cluster in ``data_dir``: its postmaster, its
    live processes and those it has reaped (parallel workers). Linux only; None elsewhere."""
    proc, marker = Path("/proc"), str(data_dir.resolve()).encode()
    if not proc.is_dir():
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid: str) -> list[str]:
        return (proc / pid / "stat").read_text().rsplit(")", 1)[1].split()

    pids = [entry.name for entry in proc.iterdir() if entry.name.isdigit()]
    master = None
    for pid in pids:
        try:
            command = (proc / pid / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command[0].endswith(b"postgres") and any(marker in part for part in command):
            master = pid
            break
    if master is None:
        return None
    total = sum(int(field) for field in stat(master)[11:15])  # utime stime cutime cstime
    for pid in pids:
        try:
            fields = stat(pid)
        except OSError:
            continue
        if fields[1] == master:  # a live child: its own time
            total += int(fields[11]) + int(fields[12])
    return total / tick


def embedded_database() -> str:
    if os.environ.get("POCHE_DATABASE_URL"):
        return os.environ["POCHE_DATABASE_URL"]
    from poche_api.embedded import start_embedded_postgres
    from poche_api.migrate import upgrade

    url, _handle = start_embedded_postgres(WORK / "pg")
    upgrade(url)
    return str(url)


def _import_cpu(run: dict[str, Any]) -> str:
    if "cpu_postgres" not in run:
        return f"{run['cpu']:.2f} (PostgreSQL not counted)"
    total = run["cpu"] + run["cpu_postgres"]
    return f"{total:.2f} (Python {run['cpu']:.2f} + PostgreSQL {run['cpu_postgres']:.2f})"


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run, with the highest peak RSS of all runs (memory is not a race)."""
    best = dict(min(runs, key=lambda run: run["seconds"]))
    best["peak_mb"] = max(run["peak_mb"] for run in runs)
    return best


def bench_import() -> list[str]:
    path = WORK / "rouen-scale.zip"
    synthetic_gtfs(path)
    database_url = embedded_database()
    # Rounds alternate the phases so they share the machine's moments; best round of each.
    runs: dict[str, list[dict[str, Any]]] = {"parse": [], "import": [], "gtfs-kit": []}
    for _ in range(IMPORT_ROUNDS):
        runs["parse"].append(run_phase("parse", str(path)))
        cluster_before = cluster_cpu_seconds(WORK / "pg" / "pgdata")
        runs["import"].append(run_phase("import", str(path), database_url))
        cluster_after = cluster_cpu_seconds(WORK / "pg" / "pgdata")
        if cluster_before is not None and cluster_after is not None:
            runs["import"][-1]["cpu_postgres"] = cluster_after - cluster_before
        try:
            runs["gtfs-kit"].append(run_phase("gtfs-kit", str(path)))
        except RuntimeError as error:
            print(f"gtfs-kit phase skipped: {error}", file=sys.stderr)
    parse, imported = _best(runs["parse"]), _best(runs["import"])
    peer = _best(runs["gtfs-kit"]) if runs["gtfs-kit"] else None
    ratio = imported["seconds"] / parse["seconds"]
    lines = [
        "### 1. GTFS import (synthetic Rouen-scale feed)",
        "",
        (
            f"Feed: {STOPS:,} stops, {ROUTES} routes, {TRIPS:,} trips, "
            f"{TRIPS * STOPS_PER_TRIP:,} stop_times ({path.stat().st_size / 1e6:.1f} MB zip), "
            "generated by the script. Each phase in its own Python process, timed after its "
            f"modules are imported; {IMPORT_ROUNDS} rounds of the three phases in turn, best "
            "round of each (peak RSS: the highest of its rounds)."
        ),
        "",
        "| Phase | seconds | CPU seconds | peak RSS (MB) | ratio vs csv parse |",
        "|---|---:|---:|---:|---:|",
        (
            f"| csv.reader over every member (reference) | {parse['seconds']:.2f} | "
            f"{parse['cpu']:.2f} | {parse['peak_mb']:.0f} | 1.00 |"
        ),
        (
            f"| poche-api import (validate, COPY, switch) | {imported['seconds']:.2f} | "
            f"{_import_cpu(imported)} | {imported['peak_mb']:.0f} | {ratio:.2f} |"
        ),
    ]
    if peer is not None:
        lines.append(
            f"| gtfs-kit `read_feed` (peer, pandas) | {peer['seconds']:.2f} | "
            f"{peer['cpu']:.2f} | {peer['peak_mb']:.0f} | "
            f"{peer['seconds'] / parse['seconds']:.2f} |"
        )
    else:
        lines.append("| gtfs-kit `read_feed` | not run (install the `bench` extra) | | | |")
    steps = imported.get("steps", {})
    if steps:
        shown = ", ".join(
            f"{name.removesuffix('.txt')} {seconds:.2f} s"
            for name, seconds in sorted(steps.items(), key=lambda item: -item[1])
            if seconds >= 0.05
        )
        lines += [
            "",
            (
                f"Where the import's {imported['seconds']:.2f} s went (its best round, wall "
                f"seconds of each step, from `ImportResult.seconds`): {shown}. A member's step "
                "is its COPY (PostgreSQL parses the CSV); stop_times: Arrow reads, checks and "
                "converts the member block by block and groups it by trip, while PostgreSQL "
                "copies the previous block's trip rows (one per trip, its times as arrays, over "
                "shared stop patterns); references: the trips' checks and their move from "
                "staging; indexes: the partitions' indexes built with parallel workers, then "
                "attached; switch: activation and dropping the replaced version's tables."
            ),
        ]
        if "stop_times.txt" in steps:
            lines[-1] += (
                f" stop_times alone take {steps['stop_times.txt'] / parse['seconds']:.1f}× "
                "the whole parse (a row per stop time, copied by PostgreSQL, took 2.5×: "
                "commit 22685da)."
            )
    if "cpu_postgres" in imported:
        cpu_ratio = (imported["cpu"] + imported["cpu_postgres"]) / parse["cpu"]
        lines += [
            "",
            (
                f"CPU seconds: the phase's own process, and for the import also the PostgreSQL "
                f"cluster's processes over the phase (parallel workers included): "
                f"{cpu_ratio:.2f}× the parse's. Wall time is what the goal counts; with other "
                "work on the 2 CPUs it favours the import (its several PostgreSQL processes get "
                "more of the shared CPUs than the parse's one process), so the wall ratio swings "
                "with the load, the CPU ratio much less."
            ),
        ]
    lines += [
        "",
        f"- Goal import ≤ 3× parse: {ratio:.2f}× — **{'met' if ratio <= 3 else 'NOT met'}**.",
        (
            f"- Goal peak RSS ≤ 1 GB: {imported['peak_mb']:.0f} MB — "
            f"**{'met' if imported['peak_mb'] <= 1024 else 'NOT met'}** (PostgreSQL's own "
            "processes not counted)."
        ),
    ]
    return lines


# ------------------------------------------------------------------------------- 2. merge


def bench_merge() -> list[str]:
    from google.transit import gtfs_realtime_pb2 as rt

    from poche_api.transport import _tripupdates, realtime

    now = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = int(now.timestamp())
    for n in range(3000):
        entity = message.entity.add()
        entity.id = f"TU:{n}"
        trip = entity.trip_update.trip
        trip.trip_id, trip.start_date, trip.route_id = f"T{n}", "20261125", f"R{n % 100}"
        if n % 97 == 0:
            trip.schedule_relationship = rt.TripDescriptor.CANCELED
            continue
        for s in range(1, 11):
            stu = entity.trip_update.stop_time_update.add()
            stu.stop_sequence, stu.stop_id = s * 2, f"S{n % 2975 + s}"
            stu.departure.delay = (n % 5) * 60
            stu.departure.time = int(now.timestamp()) + s * 180
            if s == 5 and n % 13 == 0:
                stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
    body = message.SerializeToString()
    scheduled = now + timedelta(minutes=10)
    # What the departures code has in hand for each trip (strings from the database): built
    # once here, so neither side pays for formatting them.
    lookups = [(f"T{n}", "20261125", f"R{n % 100}") for n in range(3000)]

    def bare() -> None:
        rt.FeedMessage().ParseFromString(body)

    def merge() -> None:
        index = realtime.TripUpdatesIndex.build([body])
        for trip_id, service_date, route_id in lookups:
            found = index.find(trip_id, service_date, route_id, None, None)
            realtime.merge(found, stop_sequence=9, stop_id="S1", scheduled=scheduled)

    # Where the merge's time goes: the same read alone, then read + index (no merge).
    def decode() -> None:
        _tripupdates.read_feed(body)

    def index() -> None:
        realtime.TripUpdatesIndex.build([body])

    # Rounds alternate the two, so both meet the same neighbours on the CPU. Both run on a warm
    # heap, as in a long-running server: otherwise glibc gives the parse's arena back to the
    # system after each run, and the next parse pays the page faults again (twice its warm
    # time), which flatters whichever side allocates less in big blocks.
    _keep_freed_memory()
    rounds = 60
    bare_runs: list[float] = []
    merge_runs: list[float] = []
    decode_runs: list[float] = []
    index_runs: list[float] = []
    for _ in range(rounds):
        for function, runs in (
            (bare, bare_runs),
            (merge, merge_runs),
            (decode, decode_runs),
            (index, index_runs),
        ):
            started = time.perf_counter()
            function()
            runs.append(time.perf_counter() - started)
    bare_s, merge_s = min(bare_runs), min(merge_runs)
    decode_s, index_s = min(decode_runs), min(index_runs)
    ratio = merge_s / bare_s
    per_merge_us = (merge_s - index_s) / len(lookups) * 1e6
    return [
        "### 2. TripUpdates merge (3,000 entities, 10 stop updates each)",
        "",
        (
            f"Message: {len(body) / 1e3:.0f} kB. {rounds} rounds, each running the reference "
            "then the merge; best round of each (medians in brackets). The merge counted is the "
            "whole message's: read, index, and each trip's update applied to one departure "
            "(the server reads and indexes once per snapshot, then merges a board's "
            "departures per request; applying each update to every stop of its trip would "
            "cost more)."
        ),
        "",
        "| Work | ms | ratio |",
        "|---|---:|---:|",
        (
            f"| `FeedMessage.ParseFromString` (reference) | {bare_s * 1e3:.2f} "
            f"({statistics.median(bare_runs) * 1e3:.2f}) | 1.00 |"
        ),
        (
            f"| read + index + merge one departure per trip | {merge_s * 1e3:.2f} "
            f"({statistics.median(merge_runs) * 1e3:.2f}) | {ratio:.2f} |"
        ),
        (
            f"| of which: reading the feed (`_tripupdates.read_feed`) | {decode_s * 1e3:.2f} "
            f"({statistics.median(decode_runs) * 1e3:.2f}) | {decode_s / bare_s:.2f} |"
        ),
        (
            f"| of which: read + `TripUpdatesIndex.build` | {index_s * 1e3:.2f} "
            f"({statistics.median(index_runs) * 1e3:.2f}) | {index_s / bare_s:.2f} |"
        ),
        "",
        (
            f"Indexing costs {(index_s - decode_s) / len(lookups) * 1e6:.1f} µs per entity and "
            f"each merge (find + merge) {per_merge_us:.1f} µs. The reader "
            "(`transport/_tripupdates.pyx`, compiled) walks the message once and checks every "
            "field; it keeps each trip's descriptor as Python values and its stop time updates "
            "as bytes, and a merge reads its trip's updates up to the stop (5 here) without "
            "making an object per update. Through protobuf's Python objects (upb) the same "
            "merge cost 11.1× (commit 22685da): every sub-message read from Python is an "
            "object made on the spot. Both sides run on a warm heap (glibc told by mallopt to "
            "keep freed memory), as in a long-running server."
        ),
        "",
        (
            f"- Goal ≤ 5×: {ratio:.2f}× — **{'met' if ratio <= 5 else 'NOT met'}** (protobuf "
            f"{_version('protobuf')}, backend {_protobuf_backend()})."
        ),
    ]


def _keep_freed_memory() -> None:
    """glibc: serve big allocations from the heap and never trim it (mallopt)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
    libc.mallopt(m_trim_threshold, 1 << 30)


def _protobuf_backend() -> str:
    from google.protobuf.internal import api_implementation

    return str(api_implementation.Type())


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# -------------------------------------------------------------------------------- 3. http


def bench_http(duration: float, connections: int) -> list[str]:
    from poche_api.config import Settings
    from poche_api.db import create_engine, create_sessionmaker
    from poche_api.redis import create_redis
    from poche_api.transport.tasks import poll_all

    OUT.mkdir(parents=True, exist_ok=True)
    database_url = embedded_database()
    redis_port, api_port = free_port(), free_port()
    redis_server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            HOST,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    redis_url = f"redis://{HOST}:{redis_port}/0"
    public_url = f"http://{HOST}:{api_port}"
    env = {
        **os.environ,
        "POCHE_DATABASE_URL": database_url,
        "POCHE_REDIS_URL": redis_url,
        "POCHE_PUBLIC_URL": public_url,
        "POCHE_MIGRATE_ON_START": "true",
        "POCHE_DEMO_SEED": "true",
        "POCHE_EMBEDDED_WORKER": "false",
        "POCHE_SIMULATORS_ENABLED": "true",
        "POCHE_LOG_LEVEL": "WARNING",
    }
    api = Server(
        "poche-api",
        [venv_script("poche-api"), "serve", "--host", HOST, "--port", str(api_port)],
        env,
        OUT / "transport-api.log",
    )
    results: dict[str, Any] = {}
    try:
        api.start()
        api.wait_until(api_port, "/readyz", timeout=300)
        # The synthetic import may have replaced the timetable: load the simulator's one.
        subprocess.run(
            [
                venv_script("poche-api"),
                "import",
                "gtfs",
                "--force",
                f"{public_url}/_sim/transit/gtfs.zip",
            ],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        settings = Settings(database_url=database_url, redis_url=redis_url, public_url=public_url)

        async def poll() -> None:
            import httpx

            engine = create_engine(database_url, pool_size=2)
            redis = create_redis(redis_url)
            try:
                async with httpx.AsyncClient() as client:
                    await poll_all(settings, client, redis, create_sessionmaker(engine))
            finally:
                await redis.aclose()
                await engine.dispose()

        asyncio.run(poll())
        answer = fetch(api_port, DEPARTURES_PATH)
        board = json.loads(answer.body)
        if answer.status != 200 or not board["realtime_available"]:
            raise RuntimeError(f"departures not ready: {answer.status} {answer.body[:300]!r}")
        results["poche"] = run_wrk(
            wrk_command(
                f"http://{HOST}:{api_port}{DEPARTURES_PATH}",
                duration=duration,
                connections=connections,
                threads=1,
                headers=(),
            ),
            duration,
            OUT / "transport-wrk-poche.log",
        )
    finally:
        api.stop()
        redis_server.terminate()
        redis_server.wait(10)
    with tempfile.TemporaryDirectory() as folder:
        body_file, headers_file = Path(folder) / "body.json", Path(folder) / "headers.json"
        body_file.write_bytes(answer.body)
        headers_file.write_text(
            json.dumps(
                {
                    k: answer.headers[k]
                    for k in ("content-type", "etag", "cache-control", "vary")
                    if k in answer.headers
                }
            )
        )
        bare_port = free_port()
        bare = Server(
            "bare",
            [
                venv_script("uvicorn"),
                "benchmarks.http_baseline.bare_app:app",
                "--host",
                HOST,
                "--port",
                str(bare_port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--no-server-header",
            ],
            {
                **os.environ,
                "HTTP_BASELINE_BODY_FILE": str(body_file),
                "HTTP_BASELINE_HEADERS_FILE": str(headers_file),
            },
            OUT / "transport-bare.log",
        )
        try:
            bare.start()
            bare.wait_until(bare_port, DEPARTURES_PATH, timeout=30)
            results["bare"] = run_wrk(
                wrk_command(
                    f"http://{HOST}:{bare_port}{DEPARTURES_PATH}",
                    duration=duration,
                    connections=connections,
                    threads=1,
                    headers=(),
                ),
                duration,
                OUT / "transport-wrk-bare.log",
            )
        finally:
            bare.stop()
    poche, reference = results["poche"], results["bare"]
    ratio = poche.requests_per_second / reference.requests_per_second
    return [
        f"### 3. `GET {DEPARTURES_PATH}` under wrk ({connections} connections, {duration:g} s)",
        "",
        (
            f"poche-api: `poche-api serve` (one uvicorn worker), embedded PostgreSQL, redis-server, "
            f"demo timetable, real-time snapshot polled from the simulator just before; answer "
            f"{len(answer.body):,} bytes, {len(board['departures'])} departures. Bare: "
            "`benchmarks/http_baseline/bare_app.py` replaying the same bytes and headers. "
            f"{'Servers pinned to CPU 0, wrk to CPU 1.' if can_pin() else 'No CPU pinning.'}"
        ),
        "",
        "| Server | req/s | p50 | p99 | ratio | errors |",
        "|---|---:|---:|---:|---:|---:|",
        (
            f"| poche-api | {poche.requests_per_second:,.0f} | {poche.p50_ms:.2f} ms | "
            f"{poche.p99_ms:.2f} ms | {ratio:.3f} | {poche.non_2xx_3xx + poche.socket_errors} |"
        ),
        (
            f"| bare | {reference.requests_per_second:,.0f} | {reference.p50_ms:.2f} ms | "
            f"{reference.p99_ms:.2f} ms | 1.000 | "
            f"{reference.non_2xx_3xx + reference.socket_errors} |"
        ),
        "",
        f"- Goal ≥ 0.25× bare: {ratio:.3f}× — **{'met' if ratio >= 0.25 else 'NOT met'}**.",
        (
            f"- Goal p99 ≤ 50 ms: {poche.p99_ms:.1f} ms — "
            f"**{'met' if poche.p99_ms <= 50 else 'NOT met'}**."
        ),
    ]


# --------------------------------------------------------------------------------- report


def write_section(body: list[str], command: str, load_before: float) -> None:
    header = [
        "## Transport: GTFS import, TripUpdates merge, departures endpoint",
        "",
        "Written by `benchmarks/transport/run.py`; re-run it rather than editing this.",
        "",
        (
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; "
            f"1-min load average before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}"
        ),
        (
            f"- Python {platform.python_version()}, protobuf {_version('protobuf')}, "
            f"gtfs-kit {_version('gtfs-kit')}"
        ),
        f"- Command (repository root): `{command}`",
        "",
    ]
    text = RESULTS.read_text(encoding="utf-8")
    block = START + "\n" + "\n".join(header + body).rstrip() + "\n" + END
    start, end = text.find(START), text.find(END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_phase"]:
        child_phase(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("which", nargs="*", help="import, merge and/or http (default: all)")
    parser.add_argument("--duration", type=float, default=10.0, help="wrk seconds")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    options = parser.parse_args(argv)
    which = options.which or ["import", "merge", "http"]
    unknown = set(which) - {"import", "merge", "http"}
    if unknown:
        parser.error(f"unknown benchmark(s): {sorted(unknown)}")
    WORK.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    body: list[str] = []
    if "import" in which:
        body += [*bench_import(), ""]
    if "merge" in which:
        body += [*bench_merge(), ""]
    if "http" in which:
        body += [*bench_http(options.duration, options.connections), ""]
    command = ".venv/bin/python -m benchmarks.transport.run " + " ".join(argv)
    write_section(body, command.strip(), load_before)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
