"""Push fan-out: 100,000 device messages through firebase-admin to the local FCM simulator.

Three clients post the same messages (one FCM HTTP v1 ``messages:send`` per device, batches of
500 all in flight at once, as our sender does) to the same simulator, one after the other, in
the same run:

* ``sdk_async`` (ours): firebase-admin ``messaging.send_each_async`` with the App our sender
  uses (``poche_api.notifications.firebase``: anonymous credentials, simulator URL, no SDK
  retries);
* ``raw_httpx`` (the limit): a bare ``httpx.AsyncClient(http2=True)`` loop posting the same JSON
  with the same headers and the same 500-in-flight batches;
* ``sdk_threads`` (the usual way): firebase-admin ``messaging.send_each`` (requests, one thread
  per message of a batch).

The simulator is served the way FCM is: HTTP/2 over TLS. Granian (one worker, Rust HTTP/2 and
TLS in front of the simulator's ASGI app) listens on 127.0.0.1 with a self-signed certificate
made at run time; every client trusts it through ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` and
negotiates its protocol by ALPN: both httpx clients get HTTP/2 (one connection, 500 streams),
requests gets HTTP/1.1 (it has no HTTP/2). Why not plain ``http://``: httpx then falls back to
HTTP/1.1, and httpcore's pool scans every queued request against every connection on each state
change; with 500 requests in flight over its 100 connections that scan took most of the client's
time (the previous setup measured 78 messages/s).

Each client runs in its own process (so its peak RSS is its own), pinned to CPU 1, with the
simulator pinned to CPU 0 when there are two CPUs. The clock and the CPU counters cover sending
only (imports, App set-up and the certificate are outside); each batch's ``Message`` objects are
built inside the loop, the same way for every client. Alongside messages/s the script reports
CPU milliseconds per message on each side: the machine is shared, so wall-clock rates move with
the neighbours' load while CPU per message does not, and it says which side bounds the rate.
After each client the simulator's counters must show every message delivered exactly once.

Goal (issue 4): sdk_async ≥ 0.5 × raw_httpx and ≥ 2,000 messages/s.

    .venv/bin/pip install -e '.[bench]'                              # granian
    .venv/bin/python benchmarks/push_fanout/run.py                   # 100,000 each, updates RESULTS.md
    .venv/bin/python benchmarks/push_fanout/run.py --quick           # 2,000 each, prints only
"""

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import importlib.util
import ipaddress
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
START, END = "<!-- push_fanout:start -->", "<!-- push_fanout:end -->"
HOST = "127.0.0.1"
BATCH = 500
PROJECT = "demo-poche"
CLIENTS = ("sdk_async", "raw_httpx", "sdk_threads")
GOAL_RATIO = 0.5
GOAL_RATE = 2000

warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)


def token(i: int) -> str:
    return f"bench-device-{i:010d}:APA91bHk3Qw8x7y6z5"


def batches(count: int) -> Iterator[list[Any]]:
    """The messages, one batch at a time, as the sender builds them."""
    from firebase_admin import messaging

    for start in range(0, count, BATCH):
        yield [
            messaging.Message(
                token=token(i),
                data={"kind": "transport_disruption", "line": "T1", "n": str(i)},
                notification=messaging.Notification(title="Ligne T1 perturbée", body="Accident."),
                android=messaging.AndroidConfig(priority="high", ttl=600, collapse_key="line-T1"),
            )
            for i in range(start, min(start + BATCH, count))
        ]


# --- simulator (granian imports this module and calls the factory) ---


def simulator_app() -> Any:
    from poche_api.config import Settings
    from poche_api.simulators import fcm

    app = fcm.build(Settings(env="test"))
    app.state.fcm.keep_messages = 0
    return app


# --- clients (each runs in its own process) ---


def run_queue_seconds() -> float:
    """Seconds this (main) thread was ready to run but waited for a CPU: the neighbours' share."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class Clock:
    """Wall and CPU seconds of the sending part only, and the time spent waiting for a CPU."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.queued = run_queue_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu
        self.queued = run_queue_seconds() - self.queued


async def sdk_async(url: str, count: int, clock: Clock) -> int:
    from firebase_admin import messaging

    from poche_api.config import Settings
    from poche_api.notifications import firebase

    settings = Settings(env="test", fcm_base_url=url)
    app = firebase.get_app(settings)
    ok = 0
    with clock:
        for batch in batches(count):
            answer = await messaging.send_each_async(batch, app=app)
            ok += answer.success_count
    await firebase.close_app(settings)
    return ok


async def raw_httpx(url: str, count: int, clock: Clock) -> int:
    from firebase_admin import messaging

    encode = messaging._MessagingService.encode_message
    send_url = f"{url}/v1/projects/{PROJECT}/messages:send"
    headers = {"X-GOOG-API-FORMAT-VERSION": "2", "X-FIREBASE-CLIENT": "bench-raw"}
    ok = 0
    async with httpx.AsyncClient(http2=True, timeout=120) as client:

        async def post(message: Any) -> bool:
            answer = await client.post(send_url, json={"message": encode(message)}, headers=headers)
            return answer.status_code == 200

        with clock:
            for batch in batches(count):
                ok += sum(await asyncio.gather(*(post(m) for m in batch)))
    return ok


def sdk_threads(url: str, count: int, clock: Clock) -> int:
    from firebase_admin import messaging

    from poche_api.config import Settings
    from poche_api.notifications import firebase

    settings = Settings(env="test", fcm_base_url=url)
    app = firebase.get_app(settings)
    ok = 0
    with clock:
        for batch in batches(count):
            ok += messaging.send_each(batch, app=app).success_count
    return ok


def run_client(name: str, url: str, count: int) -> None:
    clock = Clock()
    if name == "sdk_threads":
        ok = sdk_threads(url, count, clock)
    elif name == "raw_httpx":
        ok = asyncio.run(raw_httpx(url, count, clock))
    else:
        ok = asyncio.run(sdk_async(url, count, clock))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "client": name,
        "ok": ok,
        "seconds": clock.wall,
        "client_cpu_seconds": clock.cpu,
        # One thread in the async clients; send_each's workers are not counted (they are gone).
        "run_queue_seconds": clock.queued if name != "sdk_threads" else None,
        "peak_rss_mb": peak_mb,
    }
    print(json.dumps(result))


# --- orchestration ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def pin(cpu: int) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu)] if taskset and (os.cpu_count() or 1) >= 2 else []


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (granian wants a PKCS#8 key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "poche-api push benchmark")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start_simulator(cert: Path, key: Path) -> tuple[subprocess.Popen[bytes], str]:
    if importlib.util.find_spec("granian") is None:
        sys.exit("granian is missing: .venv/bin/pip install -e '.[bench]'")
    port = free_port()
    command = [
        *pin(0),
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--http",
        "auto",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--ssl-certificate",
        str(cert),
        "--ssl-keyfile",
        str(key),
        "--no-access-log",
        "--log-level",
        "warning",
        "--no-ws",
        "--factory",
        "--working-dir",
        str(REPO),
        "benchmarks.push_fanout.run:simulator_app",
    ]
    process = subprocess.Popen(command, cwd=REPO)
    url = f"https://{HOST}:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/_control/stats", timeout=1, verify=str(cert))
            return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.2)


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of a process and its children (granian runs a worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if root in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def measure(
    name: str, url: str, count: int, server: subprocess.Popen[bytes], cert: Path
) -> dict[str, Any]:
    """One client process sending ``count`` messages to a freshly reset simulator."""
    control = httpx.Client(base_url=url, verify=str(cert), timeout=60)
    control.post("/_control/reset")
    control.post("/_control/keep-messages", json={"count": 0})
    env = {**os.environ, "SSL_CERT_FILE": str(cert), "REQUESTS_CA_BUNDLE": str(cert)}
    server_before = cpu_seconds(server.pid)
    command = [*pin(1), sys.executable, str(Path(__file__)), "--client", name, "--url", url]
    output = subprocess.run(
        [*command, "--count", str(count)], check=True, capture_output=True, cwd=REPO, env=env
    ).stdout.decode()
    # The server's counter also covers the client's set-up and the /_control calls: negligible.
    server_cpu = cpu_seconds(server.pid) - server_before
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    stats = control.get("/_control/stats").json()
    control.close()
    result["server_cpu_seconds"] = server_cpu
    result["delivered"] = stats["delivered_total"]
    result["duplicates"] = len(stats["duplicates"])
    return result


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One client's rounds added up (peak RSS: the highest)."""
    total: dict[str, Any] = {"client": rounds[0]["client"], "rounds": len(rounds)}
    for key in ("ok", "seconds", "client_cpu_seconds", "server_cpu_seconds", "delivered"):
        total[key] = sum(r[key] for r in rounds)
    total["duplicates"] = sum(r["duplicates"] for r in rounds)
    queued = [r["run_queue_seconds"] for r in rounds]
    total["run_queue_seconds"] = None if None in queued else sum(queued)
    total["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rounds)
    total["rate"] = total["ok"] / total["seconds"]
    sent = max(total["ok"], 1)
    total["client_ms"] = 1000 * total["client_cpu_seconds"] / sent
    total["server_ms"] = 1000 * total["server_cpu_seconds"] / sent
    total["client_busy"] = total["client_cpu_seconds"] / total["seconds"]
    return total


def section(
    results: dict[str, dict[str, Any]], count: int, rounds: int, command: str, load: str
) -> str:
    limit = results["raw_httpx"]
    ours = results["sdk_async"]
    ratio = ours["rate"] / limit["rate"]
    ratio_met, rate_met = ratio >= GOAL_RATIO, ours["rate"] >= GOAL_RATE
    labels = {
        "sdk_async": "firebase-admin `send_each_async` (ours), HTTP/2",
        "raw_httpx": "raw httpx loop (the limit), HTTP/2",
        "sdk_threads": "firebase-admin `send_each` (threads), HTTP/1.1",
    }

    def waited(r: dict[str, Any]) -> str:
        queued = r["run_queue_seconds"]
        return "n/a" if queued is None else f"{queued:.1f} s"

    rows = "\n".join(
        f"| {labels[name]} | {r['ok']:,} | {r['seconds']:.1f} s | {r['rate']:,.0f} | "
        f"{r['rate'] / limit['rate']:.2f} | {r['client_ms']:.2f} ms | {r['client_busy']:.0%} | "
        f"{waited(r)} | {r['server_ms']:.2f} ms | {r['peak_rss_mb']:.0f} MB | "
        f"{r['delivered']:,} | {r['duplicates']} |"
        for name, r in results.items()
    )
    versions = ", ".join(
        f"{pkg} {importlib.metadata.version(pkg)}"
        for pkg in ("firebase-admin", "httpx", "httpcore", "h2", "requests", "granian")
    )
    why = ""
    if not rate_met:
        budget = 1000 / GOAL_RATE
        per_message = ours["client_ms"] + ours["server_ms"]
        why = (
            f"\n\nWhy {GOAL_RATE:,} messages/s is out of reach on this machine: the CPU each "
            f"message costs. The raw httpx loop alone spends {limit['client_ms']:.2f} ms of client "
            f"CPU per message (httpx, httpcore, h2 and TLS, in Python), so one core caps it at "
            f"≈ {1000 / limit['client_ms']:,.0f} messages/s; through firebase-admin it is "
            f"{ours['client_ms']:.2f} ms (cap ≈ {1000 / ours['client_ms']:,.0f}/s). Reaching "
            f"{GOAL_RATE:,}/s from one process needs ≤ {budget:.2f} ms per message, "
            f"{limit['client_ms'] / budget:.1f}× less than httpx itself costs here. Client and "
            f"simulator together spend {per_message:.2f} ms per message, i.e. "
            f"{per_message * GOAL_RATE / 1000:.1f} cores at {GOAL_RATE:,}/s where the machine "
            f"has {os.cpu_count()}, so no split into more processes gets there either. The "
            f"simulator is not the bound ({ours['server_ms']:.2f} ms per message on its own "
            f"core), nor the pool (one HTTP/2 connection)."
        )
    return f"""{START}
## Push fan-out: {count:,} device messages through firebase-admin to the FCM simulator

Written by `benchmarks/push_fanout/run.py`; re-run it rather than editing this.

- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
- Machine: {os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}; 1-min load average {load} (other engineers share this machine)
- Software: Python {platform.python_version()}, {versions}
- Command (from the repository root): `{command}`
- Setup: simulator `poche_api.simulators.fcm` behind granian (one worker, HTTP/2 and HTTP/1.1 over TLS, self-signed certificate made at run time){" pinned to CPU 0" if pin(0) else ""}; each client in its own process{" pinned to CPU 1" if pin(1) else ""}; the clients take turns in {rounds} round(s) of {count // rounds:,} messages, so a burst of the neighbours' load does not fall on one client only; batches of {BATCH} (all in flight at once), one `messages:send` per device; protocol by ALPN. Time and CPU cover the sending only.
- Columns: *client CPU* and *server CPU* per message are process CPU time (user + system) over messages sent; *on CPU* is client CPU over wall time; *waited for a CPU* is how long the client's thread was ready but queued behind other processes (the neighbours' share of its time; not measurable for `send_each`'s short-lived threads).

| Client | sent | time | messages/s | ratio vs limit | client CPU / message | on CPU | waited for a CPU | server CPU / message | peak RSS | simulator counted | duplicates |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

Goals: ours ≥ {GOAL_RATIO} × the raw loop: ratio {ratio:.2f}, **{"met" if ratio_met else "NOT met"}**; ours ≥ {GOAL_RATE:,} messages/s: {ours["rate"]:,.0f}, **{"met" if rate_met else "NOT met"}**.{why}
{END}"""


def write(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if START in current and END in current:
        head, rest = current.split(START, 1)
        _, tail = rest.split(END, 1)
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    RESULTS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--client", choices=CLIENTS)
    parser.add_argument("--url")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4, help="turns each client takes")
    parser.add_argument("--quick", action="store_true", help="2,000 messages, print only")
    args = parser.parse_args()
    if args.client:
        run_client(args.client, args.url, args.count)
        return
    count, rounds = (2_000, 1) if args.quick else (args.count, args.rounds)
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CLIENTS}
    with tempfile.TemporaryDirectory(prefix="push-bench-") as folder:
        cert, key = make_certificate(Path(folder))
        simulator, url = start_simulator(cert, key)
        try:
            for _ in range(rounds):
                for name in CLIENTS:
                    runs[name].append(measure(name, url, count // rounds, simulator, cert))
                    print(json.dumps(runs[name][-1]), flush=True)
        finally:
            simulator.terminate()
            simulator.wait(10)
    results = {name: combine(runs[name]) for name in CLIENTS}
    load = f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    command = ".venv/bin/python benchmarks/push_fanout/run.py"
    if args.quick:
        command += " --quick"
    elif count != 100_000:
        command += f" --count {count}"
    if rounds != 4 and not args.quick:
        command += f" --rounds {rounds}"
    text = section(results, rounds * (count // rounds), rounds, command, load)
    print(text)
    if not args.quick:
        write(text)


if __name__ == "__main__":
    main()
