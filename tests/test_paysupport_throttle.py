"""/paysupport alerts the owners at most once per user per 10 minutes; the user is answered
every time. In one process the limit is in memory; with Redis it holds across replicas."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from app.bot.throttle import PAYSUPPORT_ALERT_PERIOD, MemoryThrottle, RedisThrottle
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer


def _alerts_about(shop: RunningBot, user_id: int) -> int:
    return sum(str(user_id) in m["text"] for m in shop.api.sent_to(ADMIN_ID))


async def test_paysupport_alerts_the_owners_once_per_user_per_ten_minutes(
    shop: RunningBot,
) -> None:
    shop.api.start_bot(ADMIN_ID)
    throttle = shop.dispatcher["paysupport_throttle"]
    assert isinstance(throttle, MemoryThrottle)
    now = [1000.0]
    throttle.clock = lambda: now[0]
    first, second = (Customer(shop.api, shop.tracker, n) for n in (4001, 4002))

    for _ in range(3):
        await first.send("/paysupport")
        assert "owner has been notified" in first.screen()["text"]  # every time
    assert _alerts_about(shop, 4001) == 1
    await second.send("/paysupport")  # another user: an alert of their own
    assert _alerts_about(shop, 4002) == 1

    now[0] += PAYSUPPORT_ALERT_PERIOD - 1
    await first.send("/paysupport")
    assert _alerts_about(shop, 4001) == 1
    now[0] += 1  # ten minutes after the alert
    await first.send("/paysupport")
    assert _alerts_about(shop, 4001) == 2
    assert len(first.texts()) == 5


async def test_the_redis_throttle_is_shared_and_expires(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    prefix = f"throttle:test-{uuid.uuid4().hex}"
    replica_a = RedisThrottle(client, PAYSUPPORT_ALERT_PERIOD, prefix=prefix)
    replica_b = RedisThrottle(client, PAYSUPPORT_ALERT_PERIOD, prefix=prefix)
    try:
        assert await replica_a.allow("paysupport:1") is True
        assert await replica_b.allow("paysupport:1") is False  # another replica, same user
        assert await replica_b.allow("paysupport:2") is True
        ttl = await client.ttl(f"{prefix}:paysupport:1")
        assert 0 < ttl <= PAYSUPPORT_ALERT_PERIOD
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_an_unreachable_redis_lets_the_alert_through() -> None:
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        throttle = RedisThrottle(dead, PAYSUPPORT_ALERT_PERIOD, prefix="throttle:dead")
        assert await throttle.allow("paysupport:1") is True
    finally:
        await dead.aclose()


@pytest.mark.parametrize("period", [0.5, 600.0])
async def test_memory_throttle_prunes_what_expired(period: float) -> None:
    now = [0.0]
    throttle = MemoryThrottle(period, clock=lambda: now[0])
    for n in range(10_001):
        assert await throttle.allow(str(n))
    now[0] += period
    assert await throttle.allow("new")
    assert len(throttle._until) == 1  # the expired keys went
