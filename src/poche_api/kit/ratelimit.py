"""Rate limits kept in Redis, announced with the IETF RateLimit headers (draft -10).

A fixed window per (policy, client): one INCR and one EXPIRE in a pipeline, so every replica
shares the count. Exceeding the quota answers 429 quota-exceeded with Retry-After.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from redis.asyncio import Redis

from poche_api.errors import TooManyRequests

STATE_KEY = "ratelimit_headers"


def client_ip(request: Request) -> str:
    # Behind the load balancer uvicorn's --proxy-headers has already put the real peer here.
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class RateLimit:
    """A FastAPI dependency: ``Depends(RateLimit("communes-locate", quota=60, window=60))``."""

    name: str
    quota: int
    window: int
    key: Callable[[Request], str] = client_ip

    async def __call__(self, request: Request) -> None:
        redis: Redis = request.state.redis
        now = int(time.time())
        window_start = now - now % self.window
        reset = window_start + self.window - now
        redis_key = f"rl:{self.name}:{self.key(request)}:{window_start}"
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, self.window + 1)
            count, _ = await pipe.execute()
        remaining = max(self.quota - int(count), 0)
        headers = {
            "RateLimit-Policy": f'"{self.name}";q={self.quota};w={self.window}',
            "RateLimit": f'"{self.name}";r={remaining};t={reset}',
        }
        if int(count) > self.quota:
            raise TooManyRequests(
                (
                    f"Limite de {self.quota} requêtes par {self.window} s atteinte.",
                    f"Limit of {self.quota} requests per {self.window} s reached.",
                ),
                headers={**headers, "Retry-After": str(reset)},
            )
        setattr(request.state, STATE_KEY, headers)
