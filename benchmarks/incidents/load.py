"""Child processes of the incidents benchmark, each printing one JSON line of results.

``creates``: files reports over HTTP, each ``multipart/form-data`` with its JSON and one JPEG,
from its own device credential and its own client address (``X-Forwarded-For``, which uvicorn
trusts from 127.0.0.1 exactly as it trusts the load balancer in production), with a
client-generated id and an ``Idempotency-Key`` as the app's offline queue sends them; at most
``--concurrency`` requests in flight over as many keep-alive connections. Bodies are built before
the clock starts, so the client's own work is a send and a read.

``arrivals``: GETs one path open-loop: requests start at Poisson-distributed instants at
``--rate`` per second whatever the answers, as independent agents refreshing their queue do, and
each latency counts from its scheduled start (so a slow answer delays no measurement, unlike a
closed loop such as wrk's).

``photos``: ``PhotoProcessor.process`` on the same JPEG, in this process: each photo alone (one
after the other) for its latency, then all at once through the processor's own bound
(``POCHE_MEDIA_CONCURRENCY``) for its throughput.

    python -m benchmarks.incidents.load creates --url URL --jobs jobs.json --photo p.jpg
    python -m benchmarks.incidents.load photos --photo p.jpg --count 20
"""

import argparse
import asyncio
import json
import math
import resource
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BOUNDARY = "----poche-bench-7d1c2f"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the value at or below which ``pct`` % of values lie)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def multipart(report: dict[str, Any], photo: bytes, filename: str) -> bytes:
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="report"\r\n'
        "Content-Type: application/json\r\n\r\n"
        f"{json.dumps(report, ensure_ascii=False)}\r\n"
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="photos"; filename="{filename}"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head + photo + f"\r\n--{BOUNDARY}--\r\n".encode()


def build_requests(
    jobs: Sequence[dict[str, Any]], photo: bytes
) -> list[tuple[dict[str, str], bytes]]:
    built = []
    for n, job in enumerate(jobs):
        headers = {
            "Authorization": f"Bearer {job['token']}",
            "X-Forwarded-For": job["ip"],
            "Idempotency-Key": job["key"],
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Accept-Language": "fr",
        }
        built.append((headers, multipart(job["report"], photo, f"IMG_{n:04d}.jpg")))
    return built


async def creates(
    url: str, jobs: list[dict[str, Any]], photo: bytes, concurrency: int, warmup: int
) -> dict[str, Any]:
    import httpx

    requests = build_requests(jobs, photo)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    first_answer: dict[str, Any] | None = None
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:

        async def one(headers: dict[str, str], body: bytes, counted: bool) -> None:
            nonlocal first_answer
            started = time.perf_counter()
            response = await client.post("/v1/incidents/reports", headers=headers, content=body)
            elapsed = time.perf_counter() - started
            if counted:
                latencies.append(elapsed)
                key = str(response.status_code)
                statuses[key] = statuses.get(key, 0) + 1
                if first_answer is None and response.status_code == 201:
                    first_answer = {
                        "status": response.status_code,
                        "body": response.text,
                        "headers": {
                            k: v
                            for k, v in response.headers.items()
                            if k in ("content-type", "location", "etag")
                        },
                    }
            elif response.status_code != 201:
                raise RuntimeError(f"warm-up got {response.status_code}: {response.text[:300]}")

        async def worker(
            queue: "asyncio.Queue[tuple[dict[str, str], bytes]]", counted: bool
        ) -> None:
            while True:
                try:
                    headers, body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await one(headers, body, counted)

        async def run(batch: list[tuple[dict[str, str], bytes]], counted: bool) -> float:
            queue: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
            for item in batch:
                queue.put_nowait(item)
            started = time.perf_counter()
            await asyncio.gather(*(worker(queue, counted) for _ in range(concurrency)))
            return time.perf_counter() - started

        await run(requests[:warmup], counted=False)
        elapsed = await run(requests[warmup:], counted=True)
    count = len(latencies)
    return {
        "count": count,
        "warmup": warmup,
        "seconds": elapsed,
        "per_second": count / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "statuses": statuses,
        "upload_bytes": len(requests[0][1]),
        "first_answer": first_answer,
        "client_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def arrivals(
    url: str, path: str, token: str, rate: float, duration: float, seed: int = 2026
) -> dict[str, Any]:
    import random

    import httpx

    rnd = random.Random(seed)
    starts, at = [], 0.0
    while True:
        at += rnd.expovariate(rate)
        if at >= duration:
            break
        starts.append(at)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await client.get(path, headers=headers)  # one connection open before the clock starts
        origin = time.perf_counter()

        async def one(offset: float) -> None:
            await asyncio.sleep(max(0.0, origin + offset - time.perf_counter()))
            try:
                response = await client.get(path, headers=headers)
                key = str(response.status_code)
            except httpx.HTTPError as exc:  # an overloaded server drops connections: counted
                key = type(exc).__name__
            latencies.append(time.perf_counter() - (origin + offset))
            statuses[key] = statuses.get(key, 0) + 1

        await asyncio.gather(*(one(offset) for offset in starts))
        elapsed = time.perf_counter() - origin
    return {
        "rate": rate,
        "count": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
        "statuses": statuses,
    }


async def photos(photo: bytes, count: int) -> dict[str, Any]:
    from poche_api.config import Settings
    from poche_api.media.images import PhotoProcessor

    settings = Settings()
    processor = PhotoProcessor.from_settings(settings)
    await processor.process(photo, "image/jpeg")  # warm-up: codecs loaded, caches filled
    alone = []
    for _ in range(count):
        started = time.perf_counter()
        processed = await processor.process(photo, "image/jpeg")
        alone.append(time.perf_counter() - started)
    started, cpu = time.perf_counter(), time.process_time()  # process_time: every thread
    await asyncio.gather(*(processor.process(photo, "image/jpeg") for _ in range(count)))
    together, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "count": count,
        "p50_ms": percentile(alone, 50) * 1000,
        "p99_ms": percentile(alone, 99) * 1000,
        "per_second_alone": count / sum(alone),
        "per_second": count / together,
        "cpu_ms": cpu / count * 1000,
        "concurrency": settings.media_concurrency,
        "variants": {v.name: [v.width, v.height, len(v.data)] for v in processed.variants},
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    sub = parser.add_subparsers(dest="what", required=True)
    create = sub.add_parser("creates")
    create.add_argument("--url", required=True)
    create.add_argument("--jobs", type=Path, required=True)
    create.add_argument("--photo", type=Path, required=True)
    create.add_argument("--concurrency", type=int, default=8)
    create.add_argument("--warmup", type=int, default=8)
    open_loop = sub.add_parser("arrivals")
    open_loop.add_argument("--url", required=True)
    open_loop.add_argument("--path", required=True)
    open_loop.add_argument("--token", required=True)
    open_loop.add_argument("--rate", type=float, required=True)
    open_loop.add_argument("--duration", type=float, default=30)
    reference = sub.add_parser("photos")
    reference.add_argument("--photo", type=Path, required=True)
    reference.add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)
    if args.what == "arrivals":
        result = asyncio.run(arrivals(args.url, args.path, args.token, args.rate, args.duration))
        print(json.dumps(result))
        return 0
    photo = args.photo.read_bytes()
    if args.what == "creates":
        jobs = json.loads(args.jobs.read_text(encoding="utf-8"))
        result = asyncio.run(creates(args.url, jobs, photo, args.concurrency, args.warmup))
    else:
        result = asyncio.run(photos(photo, args.count))
    print(json.dumps(result))
    return 0


def new_job(token: str, ip: str, report: dict[str, Any]) -> dict[str, Any]:
    """One simulated resident's submission: the report carries its client-generated id."""
    return {
        "token": token,
        "ip": ip,
        "key": uuid.uuid4().hex,
        "report": {"id": str(uuid.uuid4()), **report},
    }


if __name__ == "__main__":
    sys.exit(main())
