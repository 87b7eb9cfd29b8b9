import asyncio

import pytest

from poche_api.transport.realtime import BoardCache


async def test_concurrent_misses_compute_a_board_once() -> None:
    cache = BoardCache(ttl_seconds=5)
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return b"board"

    bodies = await asyncio.gather(*(cache.get_or_compute(("TDA",), compute) for _ in range(20)))
    again = await cache.get_or_compute(("TDA",), compute)

    assert bodies == [b"board"] * 20
    assert again == b"board"
    assert calls == 1


async def test_a_failed_computation_is_not_cached() -> None:
    cache = BoardCache(ttl_seconds=5)

    async def broken() -> bytes:
        raise LookupError("no such stop")

    async def working() -> bytes:
        return b"ok"

    with pytest.raises(LookupError):
        await cache.get_or_compute(("X",), broken)
    assert await cache.get_or_compute(("X",), working) == b"ok"


async def test_an_entry_expires_after_its_ttl() -> None:
    cache = BoardCache(ttl_seconds=0.01)
    cache.put(("A",), b"old")
    await asyncio.sleep(0.02)

    assert cache.get(("A",)) is None
