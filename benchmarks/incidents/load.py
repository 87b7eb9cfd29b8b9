"""Child processes of the incidents benchmark, each printing one JSON line of results.

``creates``: files reports over HTTP, each ``multipart/form-data`` with its JSON and one JPEG,
from its own device credential and its own client address (``X-Forwarded-For``, which uvicorn
trusts from 127.0.0.1 exactly as it trusts the load balancer in production), with a
client-generated id and an ``Idempotency-Key`` as the app's offline queue sends them; at most
``--concurrency`` requests in flight over as many keep-alive connections. Bodies are built before
the clock starts, so the client's own work is a send and a read.

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
    started = time.perf_counter()
    await asyncio.gather(*(processor.process(photo, "image/jpeg") for _ in range(count)))
    together = time.perf_counter() - started
    return {
        "count": count,
        "p50_ms": percentile(alone, 50) * 1000,
        "p99_ms": percentile(alone, 99) * 1000,
        "per_second_alone": count / sum(alone),
        "per_second": count / together,
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
    reference = sub.add_parser("photos")
    reference.add_argument("--photo", type=Path, required=True)
    reference.add_argument("--count", type=int, default=20)
    args = parser.parse_args(argv)
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
