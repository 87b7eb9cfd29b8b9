"""Push fan-out: 100,000 device messages through firebase-admin to the local FCM simulator.

Three clients post the same messages (one FCM HTTP v1 ``messages:send`` per device, batches of
500 as our sender does) to the same simulator, one after the other, in the same run:

* ``sdk_async``: firebase-admin ``messaging.send_each_async`` with the App our sender uses
  (``poche_api.notifications.firebase``: anonymous credentials, simulator URL, no SDK retries);
* ``raw_httpx`` (the limit): a bare ``httpx.AsyncClient(http2=True)`` loop posting the same JSON
  with the same headers and the same 500-in-flight batches;
* ``sdk_threads`` (the usual way): firebase-admin ``messaging.send_each`` (requests, one thread
  per message of a batch);
* ``sdk_async_small`` (extra): ``send_each_async`` in batches of 50, to show how much of the
  cost is httpcore's HTTP/1.1 pool juggling 500 waiting requests over 100 connections.

Each client runs in its own process (so its peak RSS is its own), pinned to CPU 1, with the
simulator (uvicorn, one process) pinned to CPU 0 when there are two CPUs. After each client the
simulator's counters must show every message delivered exactly once.

Over ``http://`` httpx does not negotiate HTTP/2 (no h2c upgrade), so both httpx clients speak
HTTP/1.1 to uvicorn: the comparison is between clients on equal terms, not a test of HTTP/2.

Goal (issue 4): sdk_async ≥ 0.5 × raw_httpx and ≥ 2,000 messages/s.

    .venv/bin/python benchmarks/push_fanout/run.py             # 100,000 each, updates RESULTS.md
    .venv/bin/python benchmarks/push_fanout/run.py --quick     # 2,000 each, prints only
"""

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
START, END = "<!-- push_fanout:start -->", "<!-- push_fanout:end -->"
BATCH = 500
PROJECT = "demo-poche"
SMALL_BATCH = 50
CLIENTS = ("sdk_async", "raw_httpx", "sdk_threads", "sdk_async_small")

warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)


def token(i: int) -> str:
    return f"bench-device-{i:010d}:APA91bHk3Qw8x7y6z5"


def messages(count: int) -> list[Any]:
    from firebase_admin import messaging

    return [
        messaging.Message(
            token=token(i),
            data={"kind": "transport_disruption", "line": "T1", "n": str(i)},
            notification=messaging.Notification(title="Ligne T1 perturbée", body="Accident."),
            android=messaging.AndroidConfig(priority="high", ttl=600, collapse_key="line-T1"),
        )
        for i in range(count)
    ]


# --- clients (each runs in its own process) ---


async def sdk_async(url: str, count: int, batch: int = BATCH) -> int:
    from firebase_admin import messaging

    from poche_api.config import Settings
    from poche_api.notifications import firebase

    settings = Settings(env="test", fcm_base_url=url)
    app = firebase.get_app(settings)
    batch_all = messages(count)
    ok = 0
    for start in range(0, count, batch):
        answer = await messaging.send_each_async(batch_all[start : start + batch], app=app)
        ok += answer.success_count
    await firebase.close_app(settings)
    return ok


async def raw_httpx(url: str, count: int) -> int:
    from firebase_admin import messaging

    encode = messaging._MessagingService.encode_message
    batch_all = messages(count)
    send_url = f"{url}/v1/projects/{PROJECT}/messages:send"
    headers = {"X-GOOG-API-FORMAT-VERSION": "2", "X-FIREBASE-CLIENT": "bench-raw"}
    ok = 0
    async with httpx.AsyncClient(http2=True, timeout=120) as client:

        async def post(message: Any) -> bool:
            answer = await client.post(send_url, json={"message": encode(message)}, headers=headers)
            return answer.status_code == 200

        for start in range(0, count, BATCH):
            results = await asyncio.gather(*(post(m) for m in batch_all[start : start + BATCH]))
            ok += sum(results)
    return ok


def sdk_threads(url: str, count: int) -> int:
    from firebase_admin import messaging

    from poche_api.config import Settings
    from poche_api.notifications import firebase

    settings = Settings(env="test", fcm_base_url=url)
    app = firebase.get_app(settings)
    batch_all = messages(count)
    ok = 0
    for start in range(0, count, BATCH):
        ok += messaging.send_each(batch_all[start : start + BATCH], app=app).success_count
    return ok


def run_client(name: str, url: str, count: int) -> None:
    started = time.perf_counter()
    if name == "sdk_threads":
        ok = sdk_threads(url, count)
    elif name == "raw_httpx":
        ok = asyncio.run(raw_httpx(url, count))
    else:
        ok = asyncio.run(sdk_async(url, count, SMALL_BATCH if name.endswith("small") else BATCH))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"client": name, "ok": ok, "seconds": seconds, "peak_rss_mb": peak_mb}))


# --- orchestration ---


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(cpu: int) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(cpu)] if taskset and (os.cpu_count() or 1) >= 2 else []


SIMULATOR = """
import uvicorn
from poche_api.config import Settings
from poche_api.simulators import fcm
app = fcm.build(Settings(env="test"))
app.state.fcm.keep_messages = 0
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def start_simulator() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [*pin(0), sys.executable, "-c", SIMULATOR.format(port=port)], cwd=REPO
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/_control/stats", timeout=1)
            return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)


def measure(name: str, url: str, count: int) -> dict[str, Any]:
    httpx.post(f"{url}/_control/reset")
    httpx.post(f"{url}/_control/keep-messages", json={"count": 0})
    output = subprocess.run(
        [
            *pin(1),
            sys.executable,
            str(Path(__file__)),
            "--client",
            name,
            "--url",
            url,
            "--count",
            str(count),
        ],
        check=True,
        capture_output=True,
        cwd=REPO,
    ).stdout.decode()
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    stats = httpx.get(f"{url}/_control/stats", timeout=30).json()
    result["delivered"] = stats["delivered_total"]
    result["duplicates"] = len(stats["duplicates"])
    result["rate"] = result["ok"] / result["seconds"]
    return result


def section(results: dict[str, dict[str, Any]], count: int, command: str) -> str:
    limit = results["raw_httpx"]["rate"]
    ours = results["sdk_async"]
    ratio = ours["rate"] / limit
    met = ratio >= 0.5 and ours["rate"] >= 2000
    labels = {
        "sdk_async": "firebase-admin `send_each_async` (ours)",
        "raw_httpx": "raw httpx loop (the limit)",
        "sdk_threads": "firebase-admin `send_each` (threads)",
        "sdk_async_small": f"`send_each_async`, batches of {SMALL_BATCH} (extra)",
    }
    rows = "\n".join(
        f"| {labels[name]} | {r['ok']:,} | {r['seconds']:.1f} s | {r['rate']:,.0f} | "
        f"{r['rate'] / limit:.2f} | {r['peak_rss_mb']:.0f} MB | {r['delivered']:,} | "
        f"{r['duplicates']} |"
        for name, r in results.items()
    )
    load = os.getloadavg()[0]
    versions = ", ".join(
        f"{pkg} {importlib.metadata.version(pkg)}"
        for pkg in ("firebase-admin", "httpx", "h2", "requests", "uvicorn")
    )
    return f"""{START}
## Push fan-out: {count:,} device messages through firebase-admin to the FCM simulator

Written by `benchmarks/push_fanout/run.py`; re-run it rather than editing this.

- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
- Machine: {os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()}; 1-min load average at the end: {load:.2f} (other engineers share this machine)
- Software: Python {platform.python_version()}, {versions}
- Command (from the repository root): `{command}`
- Setup: simulator `poche_api.simulators.fcm` in one uvicorn process{" pinned to CPU 0" if pin(0) else ""}; each client in its own process{" pinned to CPU 1" if pin(1) else ""}, one after the other; batches of {BATCH} (all in flight at once), one `messages:send` per device. Over `http://` httpx speaks HTTP/1.1 (no h2c), for every client alike.

| Client | sent | time | messages/s | ratio vs limit | peak RSS | simulator counted | duplicates |
|---|---:|---:|---:|---:|---:|---:|---:|
{rows}

Goal: ours ≥ 0.5 × the raw loop and ≥ 2,000 messages/s: ratio {ratio:.2f}, {ours["rate"]:,.0f} messages/s: **{"met" if met else "NOT met"}**.
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
    parser.add_argument("--quick", action="store_true", help="2,000 messages, print only")
    args = parser.parse_args()
    if args.client:
        run_client(args.client, args.url, args.count)
        return
    count = 2_000 if args.quick else args.count
    simulator, url = start_simulator()
    try:
        results = {}
        for name in CLIENTS:
            results[name] = measure(name, url, count)
            print(json.dumps(results[name]), flush=True)
    finally:
        simulator.terminate()
        simulator.wait(10)
    command = ".venv/bin/python benchmarks/push_fanout/run.py" + (
        f" --count {count}" if count != 100_000 else ""
    )
    text = section(results, count, command)
    print(text)
    if not args.quick:
        write(text)


if __name__ == "__main__":
    main()
