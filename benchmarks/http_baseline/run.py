"""HTTP baseline: ``GET /v1/communes/{insee}`` on poche-api against a bare ASGI app, under wrk.

Both servers answer the same bytes (status, content-type, ETag, body), each from one uvicorn
worker process, measured in the same run with the same wrk command (64 connections by default).
On a machine with at least two CPUs each server is pinned to CPU 0 and wrk to CPU 1 (taskset),
so the server gets one whole core and never competes with the load generator.

Scenarios:

* ``200``: the normal warm answer (snapshot in memory, ETag header, no If-None-Match);
* ``304``: the same request revalidated with ``If-None-Match: <etag>``.

Goal (from the issue): poche-api req/s ≥ 0.25 × bare req/s and p99 ≤ 20 ms at 64 connections.

Run from the repository root::

    .venv/bin/python benchmarks/http_baseline/run.py            # 10 s per run, updates RESULTS.md
    .venv/bin/python benchmarks/http_baseline/run.py --quick    # 2 s smoke test, prints only

poche-api starts on the embedded defaults (a private PostgreSQL cluster in a temporary data dir
that is stopped and removed afterwards, in-process fakeredis) unless ``POCHE_DATABASE_URL`` /
``POCHE_REDIS_URL`` are set, which are passed through. Only 127.0.0.1 is ever targeted; raw wrk
output and server logs go to ``benchmarks/http_baseline/out/`` (git-ignored).
"""

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "out"
DEFAULT_RESULTS = REPO / "benchmarks" / "RESULTS.md"
RESULTS_HEADER = (
    "# Benchmark results\n\n"
    "Each section below is written by one benchmark script under `benchmarks/` and replaced "
    "as a whole when that script runs again (between its `<!-- name:start/end -->` markers); "
    "do not edit the sections by hand.\n"
)
START_MARKER = "<!-- http_baseline:start -->"
END_MARKER = "<!-- http_baseline:end -->"

HOST = "127.0.0.1"
TASKSET = Path("/usr/bin/taskset")
SERVER_CPU = 0
WRK_CPU = 1
GOAL_RATIO = 0.25
GOAL_P99_MS = 20.0
# Response headers replayed by the bare app: those that describe the representation.
REPLAYED_HEADERS = ("content-type", "etag", "cache-control", "vary")

READY_TIMEOUT = 300.0  # first start of the embedded cluster: initdb, migrations, demo seed
STOP_TIMEOUT = 30.0  # poche-api waits up to 15 s for its in-process worker
WRK_GRACE = 60.0  # beyond wrk's own duration before it is considered hung


class BenchmarkError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int
    raw: str


_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


def parse_wrk(raw: str) -> WrkResult:
    """Figures from ``wrk --latency`` output; raises if a line we rely on is missing."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", raw, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", raw, re.MULTILINE)
    percentiles = {
        float(match[1]): float(match[2]) * _TIME_UNITS_MS[match[3]]
        for match in _PERCENTILE.finditer(raw)
    }
    if rps is None or total is None or 50.0 not in percentiles or 99.0 not in percentiles:
        raise BenchmarkError(f"unexpected wrk output (was --latency given?):\n{raw}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", raw)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", raw
    )
    return WrkResult(
        requests_per_second=float(rps[1]),
        p50_ms=percentiles[50.0],
        p99_ms=percentiles[99.0],
        requests=int(total[1]),
        non_2xx_3xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        raw=raw,
    )


def pinned(command: Sequence[str], cpu: int) -> list[str]:
    """``command`` under ``taskset -c cpu`` when pinning is possible (taskset, ≥ 2 usable CPUs)."""
    if can_pin():
        return [str(TASKSET), "-c", str(cpu), *command]
    return list(command)


def can_pin() -> bool:
    usable = os.sched_getaffinity(0)
    return TASKSET.exists() and {SERVER_CPU, WRK_CPU} <= usable


def wrk_command(
    url: str, *, duration: float, connections: int, threads: int, headers: Sequence[str]
) -> list[str]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    return [*command, url]


def run_wrk(command: Sequence[str], duration: float, log: Path) -> WrkResult:
    full = pinned(command, WRK_CPU)
    print(f"  $ {shlex.join(full)}", flush=True)
    completed = subprocess.run(
        full, capture_output=True, text=True, timeout=duration + WRK_GRACE, check=False
    )
    log.write_text(
        f"$ {shlex.join(full)}\n{completed.stdout}\n{completed.stderr}", encoding="utf-8"
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    return parse_wrk(completed.stdout)


# ----------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> Answer:
    """One request to 127.0.0.1 (no redirects, no compression negotiated, like wrk)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        connection.close()


class Server:
    """A server subprocess in its own session, logs to a file, always stopped by ``stop``."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.command = pinned(command, SERVER_CPU)
        self.env = env
        self.log_path = log
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        print(f"  $ {shlex.join(self.command)}", flush=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until(self, port: int, path: str, *, timeout: float) -> None:
        """Until ``path`` answers 200, the process dies, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise BenchmarkError(f"{self.name} exited early; see {self.log_path}")
            try:
                answer = fetch(port, path)
            except OSError as error:
                last_error = repr(error)
            else:
                if answer.status == 200:
                    return
                last_error = f"HTTP {answer.status}: {answer.body[:200]!r}"
            time.sleep(0.25)
        raise BenchmarkError(f"{self.name} not ready after {timeout:.0f} s ({last_error})")

    def stop(self) -> None:
        process, self.process = self.process, None
        try:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)  # uvicorn: graceful, runs the lifespan end
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    print(f"  {self.name} ignored SIGTERM, killing it", flush=True)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)  # its own session: our group
                    process.wait(timeout=10)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None


# ------------------------------------------------------------------------- embedded postgres


def postmaster_pid(data_dir: Path) -> int | None:
    """PID of the embedded cluster's postmaster if one is running on ``data_dir``."""
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text(encoding="utf-8").splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _is_postmaster_of(pid, data_dir) else None


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    pgdata = str((data_dir / "pgdata").resolve()).encode()
    return state != "Z" and pgdata in cmdline


def stop_postmaster(pid: int, data_dir: Path) -> bool:
    """Fast shutdown (SIGINT) of the cluster this run started; immediate (SIGQUIT) if stuck."""
    for sig, patience in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0)):
        if not _is_postmaster_of(pid, data_dir):
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and _is_postmaster_of(pid, data_dir):
            time.sleep(0.2)
    return not _is_postmaster_of(pid, data_dir)


@contextlib.contextmanager
def embedded_cluster_cleanup(data_dir: Path, *, embedded: bool) -> Iterator[None]:
    """Stop, on the way out, the embedded cluster poche-api starts (pgserver leaves it running).

    A cluster that was already running on ``data_dir`` before this run is left alone.
    """
    before = postmaster_pid(data_dir) if embedded else None
    try:
        yield
    finally:
        after = postmaster_pid(data_dir) if embedded else None
        if after is not None and after != before:
            if stop_postmaster(after, data_dir):
                print(f"  stopped the embedded PostgreSQL (pid {after})", flush=True)
            else:
                print(f"  WARNING: embedded PostgreSQL pid {after} did not stop", flush=True)


# ------------------------------------------------------------------------------- benchmark


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    expected_status: int
    headers: tuple[str, ...]


@dataclass(frozen=True)
class Measurement:
    scenario: Scenario
    server: str
    result: WrkResult
    command: list[str]


@dataclass(frozen=True)
class Options:
    duration: float
    warmup: float
    connections: int
    threads: int
    insee: str
    data_dir: Path | None
    results: Path | None
    check: bool


def scenarios_for(etag: str) -> list[Scenario]:
    return [
        Scenario("200", "200 + ETag (warm)", 200, ()),
        Scenario("304", "304 (If-None-Match)", 304, (f"If-None-Match: {etag}",)),
    ]


def measure(
    server: str, port: int, path: str, scenarios: Sequence[Scenario], options: Options
) -> list[Measurement]:
    url = f"http://{HOST}:{port}{path}"
    for scenario in scenarios:  # same answers as the load will get, before loading them
        answer = fetch(port, path, dict(h.split(": ", 1) for h in scenario.headers))
        if answer.status != scenario.expected_status:
            raise BenchmarkError(
                f"{server} answered {answer.status} to {scenario.label}, "
                f"expected {scenario.expected_status}"
            )
    warm = wrk_command(
        url, duration=options.warmup, connections=options.connections, threads=1, headers=()
    )
    print(f"  warm-up {options.warmup:g} s", flush=True)
    run_wrk(warm, options.warmup, OUT / f"{server}-warmup.txt")
    measurements = []
    for scenario in scenarios:
        command = wrk_command(
            url,
            duration=options.duration,
            connections=options.connections,
            threads=options.threads,
            headers=scenario.headers,
        )
        result = run_wrk(command, options.duration, OUT / f"{server}-{scenario.key}.txt")
        print(
            f"  {server} {scenario.key}: {result.requests_per_second:,.0f} req/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms",
            flush=True,
        )
        measurements.append(Measurement(scenario, server, result, command))
    return measurements


def poche_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["POCHE_DATA_DIR"] = str(data_dir)
    env["POCHE_LOG_LEVEL"] = "WARNING"
    return env


def venv_script(name: str) -> str:
    """The console script next to this interpreter (the project's venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise BenchmarkError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


@dataclass(frozen=True)
class Captured:
    body: bytes
    headers: dict[str, str]

    @property
    def etag(self) -> str:
        return self.headers["etag"]


def run_poche(options: Options, data_dir: Path, path: str) -> tuple[Captured, list[Measurement]]:
    port = free_port()
    env = poche_env(data_dir)
    embedded = not env.get("POCHE_DATABASE_URL")
    server = Server(
        "poche-api",
        [venv_script("poche-api"), "serve", "--host", HOST, "--port", str(port)],
        env,
        OUT / "poche-api.log",
    )
    with embedded_cluster_cleanup(data_dir, embedded=embedded):
        try:
            server.start()
            server.wait_until(port, "/readyz", timeout=READY_TIMEOUT)
            answer = fetch(port, path)
            if answer.status != 200 or "etag" not in answer.headers:
                raise BenchmarkError(f"{path}: HTTP {answer.status}, headers {answer.headers}")
            captured = Captured(
                answer.body, {k: answer.headers[k] for k in REPLAYED_HEADERS if k in answer.headers}
            )
            measurements = measure("poche-api", port, path, scenarios_for(captured.etag), options)
        finally:
            server.stop()
    return captured, measurements


def run_bare(options: Options, captured: Captured, workdir: Path, path: str) -> list[Measurement]:
    body_file = workdir / "body.bin"
    headers_file = workdir / "headers.json"
    body_file.write_bytes(captured.body)
    headers_file.write_text(json.dumps(captured.headers), encoding="utf-8")
    port = free_port()
    env = dict(os.environ)
    env["HTTP_BASELINE_BODY_FILE"] = str(body_file)
    env["HTTP_BASELINE_HEADERS_FILE"] = str(headers_file)
    server = Server(
        "bare",
        [
            venv_script("uvicorn"),
            "benchmarks.http_baseline.bare_app:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
            "--no-server-header",  # poche-api serve sends none either: same header bytes
        ],
        env,
        OUT / "bare.log",
    )
    try:
        server.start()
        server.wait_until(port, path, timeout=30)
        answer = fetch(port, path)
        mismatched = [
            name for name in captured.headers if answer.headers.get(name) != captured.headers[name]
        ]
        if answer.body != captured.body or mismatched:
            raise BenchmarkError(f"bare app does not replay the same answer ({mismatched})")
        return measure("bare", port, path, scenarios_for(captured.etag), options)
    finally:
        server.stop()


# --------------------------------------------------------------------------------- report


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _git(*args: str) -> str:
    try:
        completed = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return completed.stdout.strip() if completed.returncode == 0 else ""


def _wrk_version() -> str:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        completed = subprocess.run(
            ["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False
        )
        first = (completed.stdout or completed.stderr).splitlines()
        if first:
            return first[0].split(" [")[0]
    return "wrk"


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def render(
    measurements: Sequence[Measurement],
    captured: Captured,
    options: Options,
    *,
    command: str,
    backing: str,
    load_before: float,
) -> tuple[str, bool]:
    """The RESULTS.md section and whether every goal was met."""
    bare = {m.scenario.key: m.result for m in measurements if m.server == "bare"}
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " (+ uncommitted changes in src/)" if _git("status", "--porcelain", "--", "src") else ""
    pinning = (
        f"servers pinned to CPU {SERVER_CPU}, wrk to CPU {WRK_CPU} (taskset)"
        if can_pin()
        else "no CPU pinning (taskset or a second CPU unavailable)"
    )
    lines = [
        "## HTTP baseline: `GET /v1/communes/{insee}` against a bare ASGI app",
        "",
        "Written by `benchmarks/http_baseline/run.py`; re-run it rather than editing this.",
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        (
            f"- Machine: {os.cpu_count()} CPUs (nproc), {_cpu_model()}, "
            f"Linux {platform.release()}; 1-min load average before the run: {load_before:.2f}"
        ),
        (
            f"- Software: Python {platform.python_version()}, uvicorn {_version('uvicorn')} "
            f"(uvloop {_version('uvloop')}, httptools {_version('httptools')}), "
            f"FastAPI {_version('fastapi')}, Starlette {_version('starlette')}, {_wrk_version()}"
        ),
        f"- Code: commit {commit}{dirty}",
        f"- Command (from the repository root): `{command}`",
        (
            "- Setup: one uvicorn worker process per server, run one after the other; "
            f"{pinning}; {options.warmup:g} s wrk warm-up per server, then "
            f"`wrk -t{options.threads} -c{options.connections} -d{options.duration:g}s "
            "--latency` per scenario."
        ),
        (
            f"- poche-api: `poche-api serve`, {backing}, `POCHE_LOG_LEVEL=WARNING`, "
            "other settings at their defaults."
        ),
        (
            "- Bare app: `benchmarks/http_baseline/bare_app.py` (raw ASGI, no framework) under "
            "`uvicorn --no-access-log --log-level warning --no-server-header`, replaying the "
            f"{len(captured.body)}-byte body of `/v1/communes/{options.insee}` with the same "
            f"{', '.join(captured.headers)} headers."
        ),
        "",
        "| Scenario | Server | req/s | p50 | p99 | ratio vs bare | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        r = m.result
        baseline = bare.get(m.scenario.key)
        ratio = r.requests_per_second / baseline.requests_per_second if baseline else float("nan")
        lines.append(
            f"| {m.scenario.label} | {m.server} | {r.requests_per_second:,.0f} | "
            f"{_ms(r.p50_ms)} | {_ms(r.p99_ms)} | {ratio:.3f} | "
            f"{r.non_2xx_3xx + r.socket_errors} |"
        )
    lines += [
        "",
        (
            f"Goals at {options.connections} connections: poche-api req/s ≥ {GOAL_RATIO} × bare "
            f"and p99 ≤ {GOAL_P99_MS:g} ms."
        ),
        "",
    ]
    all_met = True
    for m in measurements:
        if m.server != "poche-api":
            continue
        baseline = bare.get(m.scenario.key)
        ratio = m.result.requests_per_second / baseline.requests_per_second if baseline else 0.0
        ratio_ok = ratio >= GOAL_RATIO
        p99_ok = m.result.p99_ms <= GOAL_P99_MS
        errors_ok = m.result.non_2xx_3xx + m.result.socket_errors == 0
        all_met = all_met and ratio_ok and p99_ok and errors_ok
        lines.append(
            f"- {m.scenario.label}: ratio {ratio:.3f} ({'met' if ratio_ok else '**NOT met**'}), "
            f"p99 {_ms(m.result.p99_ms)} ({'met' if p99_ok else '**NOT met**'})"
            + ("" if errors_ok else ", **with errors** (see out/)")
        )
    lines += [
        "",
        f"**Goals {'met' if all_met else 'NOT met'}.**",
        "",
        "wrk commands (the URL's port is picked free per run):",
        "",
        "```",
        *(shlex.join(pinned(m.command, WRK_CPU)) for m in measurements),
        "```",
    ]
    return "\n".join(lines) + "\n", all_met


def write_section(results: Path, section: str) -> None:
    """Replace this benchmark's block in ``results`` (created if missing), nothing else."""
    text = results.read_text(encoding="utf-8") if results.exists() else RESULTS_HEADER
    block = f"{START_MARKER}\n{section.rstrip()}\n{END_MARKER}"
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARKER) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    results.parent.mkdir(parents=True, exist_ok=True)
    staged = results.with_name(f".{results.name}.{os.getpid()}.tmp")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, results)


# ------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 s runs, 1 s warm-up; prints the section without writing it "
        "unless --results is given",
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--insee", default="76540", help="commune to fetch (76540, Rouen)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="POCHE_DATA_DIR to reuse (kept); default: a temporary one, removed afterwards",
    )
    parser.add_argument(
        "--results", type=Path, help=f"markdown file to update (default {DEFAULT_RESULTS})"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 3 when a goal is not met"
    )
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", args.insee):
        parser.error("--insee must be an INSEE code such as 76540")
    if args.duration <= 0 or args.warmup <= 0 or args.connections < 1 or args.threads < 1:
        parser.error("durations, connections and threads must be positive")
    duration: float = 2.0 if args.quick else args.duration
    warmup: float = 1.0 if args.quick else args.warmup
    results: Path | None = args.results
    if results is None and not args.quick:
        results = DEFAULT_RESULTS
    return Options(
        duration=duration,
        warmup=warmup,
        connections=args.connections,
        threads=args.threads,
        insee=args.insee,
        data_dir=args.data_dir.resolve() if args.data_dir else None,
        results=results,
        check=args.check,
    )


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if shutil.which("wrk") is None:
        print("wrk is required (apt-get install wrk)", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    path = f"/v1/communes/{options.insee}"
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="poche-http-baseline-"))
    data_dir = options.data_dir or workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    backing = (
        (
            "external PostgreSQL (POCHE_DATABASE_URL)"
            if os.environ.get("POCHE_DATABASE_URL")
            else "embedded PostgreSQL"
        )
        + ", "
        + (
            "external Redis (POCHE_REDIS_URL)"
            if os.environ.get("POCHE_REDIS_URL")
            else "in-process fakeredis"
        )
    )
    try:
        print(f"poche-api ({backing}, data dir {data_dir})", flush=True)
        captured, measured = run_poche(options, data_dir, path)
        print("bare ASGI app", flush=True)
        measured += run_bare(options, captured, workdir, path)
    except (BenchmarkError, OSError, subprocess.SubprocessError) as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        # run_poche stopped the cluster it started; never delete files a postgres still uses.
        if options.data_dir is None and postmaster_pid(data_dir) is not None:
            print(f"  kept {workdir}: a PostgreSQL still runs on it", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    order = {"200": 0, "304": 1}
    measured.sort(key=lambda m: (order.get(m.scenario.key, 9), m.server != "poche-api"))
    section, all_met = render(
        measured,
        captured,
        options,
        command=shlex.join(sys.orig_argv),
        backing=backing,
        load_before=load_before,
    )
    print()
    print(section)
    if options.results is not None:
        write_section(options.results, section)
        print(f"updated {options.results}")
    else:
        print("(quick run: results not written; pass --results PATH to write them)")
    if not all_met:
        print("goals NOT met", file=sys.stderr)
        return 3 if options.check else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
