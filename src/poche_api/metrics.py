"""Prometheus metrics shared by the API and the worker."""

import functools

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "poche_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "poche_http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
JOBS_FINISHED = Counter(
    "poche_jobs_finished_total", "Jobs run by this process", ["entrypoint", "outcome"]
)
JOBS_DEAD_LETTERED = Counter(
    "poche_jobs_dead_lettered_total", "Jobs that exhausted their retries", ["entrypoint"]
)
JOBS_DEAD_LETTERS = Gauge(
    "poche_jobs_dead_letters", "Dead-lettered jobs waiting for an operator (cluster-wide)"
)
JOBS_QUEUED = Gauge("poche_jobs_queued", "Jobs waiting to run (cluster-wide)")
INCIDENT_RETENTION = Counter(
    "poche_incident_retention_total",
    "Incident data removed by the retention job, by kind",
    ["kind"],  # photos_purged | contacts_erased | follows_removed | orphan_photos_swept
)


@functools.cache
def _request_series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    # Label lookups cost more than the observation; routes and statuses are a small set.
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_DURATION.labels(method, route)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    counter, histogram = _request_series(method, route, status)
    counter.inc()
    histogram.observe(seconds)
