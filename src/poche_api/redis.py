"""Redis client: the real server when POCHE_REDIS_URL is set, fakeredis in-process otherwise."""

import logging

from redis.asyncio import Redis

logger = logging.getLogger(__name__)


def create_redis(url: str | None) -> "Redis":
    if url is not None:
        return Redis.from_url(url, decode_responses=False, socket_timeout=5)
    import fakeredis

    logger.info("no POCHE_REDIS_URL: using the in-process Redis API (fakeredis)")
    client: Redis = fakeredis.FakeAsyncRedis()
    return client
