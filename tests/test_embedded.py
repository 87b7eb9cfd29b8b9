"""The embedded default end to end: `poche-api serve` with no URLs, stopped and restarted."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("POCHE_DATABASE_URL", "POCHE_REDIS_URL", "POCHE_ENV")
    }
    env.update({"POCHE_DATA_DIR": str(data_dir), "POCHE_LOG_LEVEL": "WARNING"})
    return subprocess.Popen(
        [sys.executable, "-m", "poche_api", "serve", "--port", str(port)], cwd=ROOT, env=env
    )


def wait_ready(base: str, server: subprocess.Popen[bytes], within: float = 90) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"poche-api serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail("poche-api serve did not become ready")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def stop_embedded_postgres(pgdata: Path) -> None:
    """What a reboot does to the private cluster."""
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGINT)  # fast shutdown
    deadline = time.monotonic() + 30
    while (pgdata / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def embedded_sql(pgdata: Path, statement: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(host=str(pgdata), user="postgres", database="postgres")
        try:
            rows: list[asyncpg.Record] = await connection.fetch(statement)
            return rows
        finally:
            await connection.close()

    return asyncio.run(run())


def test_serve_on_the_embedded_default_keeps_its_data_across_restarts(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pgdata = tmp_path / "pgdata"

    server = start_server(tmp_path, port)
    try:
        wait_ready(base, server)
        assert httpx.get(f"{base}/v1/communes").json()["count"] == 71
        assert httpx.get(f"{base}/v1/communes/76540").json()["name"] == "Rouen"
        embedded_sql(pgdata, "CREATE TABLE restart_marker AS SELECT 42 AS answer")
    finally:
        stop(server)
    stop_embedded_postgres(pgdata)

    server = start_server(tmp_path, port)
    try:
        wait_ready(base, server)
        assert httpx.get(f"{base}/v1/communes").json()["count"] == 71
        assert httpx.get(f"{base}/v1/communes/76540").json()["name"] == "Rouen"
        assert embedded_sql(pgdata, "SELECT answer FROM restart_marker")[0]["answer"] == 42
    finally:
        stop(server)
        stop_embedded_postgres(pgdata)
