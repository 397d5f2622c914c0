"""Broadcasts across replicas when Telegram is slow and failing: the lease is renewed before
every retry, so a second replica never takes a live broadcast over, and every user gets exactly
one copy; a recipient whose retries would outlast the lease is given up, not retried past it."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy.engine import URL

from app.bot.factory import create_bot
from app.workers.broadcast import BroadcastManager
from app.workers.broadcast_sender import MAX_TRANSIENT, BroadcastSender, RateLimiter
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, make_settings
from tests.shop_helpers import SessionFactory
from tests.test_broadcast import get_broadcast, recipients, seed_broadcast, seed_users, wait_report

LEASE = 3.0  # seconds: short, so that a lapse shows within the test
# Two replicas: 7003's three slow attempts, their backoff and a send timeout must fit in the
# lease with room to spare on a loaded machine (else 7003 is given up, by design).
SHARED_LEASE = 6.0
SLOW = 0.5  # seconds before the fake answers a failing send


async def test_two_replicas_and_a_slow_failing_telegram_send_each_user_one_copy(
    fake_api: FakeBotAPI, migrated_db_url: URL, session_factory: SessionFactory
) -> None:
    users = list(range(7001, 7006))
    await seed_users(session_factory, fake_api, users)
    fake_api.start_bot(ADMIN_ID)
    for user_id in users:  # every user's first send: a 502 after half a second
        fake_api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=user_id, delay=SLOW)
    fake_api.fail_next("sendMessage", 500, "Internal Server Error", chat_id=7003, delay=SLOW)
    broadcast_id = await seed_broadcast(session_factory, "Once each")

    settings = make_settings(migrated_db_url, fake_api.url)
    bots = [create_bot(settings) for _ in range(2)]
    replicas = [
        BroadcastManager(bot, session_factory, rate=1000, lease_seconds=SHARED_LEASE)
        for bot in bots
    ]
    try:
        for replica in replicas:  # both watch for broadcasts whose lease lapsed
            replica.start()
        report = await wait_report(fake_api, broadcast_id)
        await asyncio.sleep(SHARED_LEASE)  # a lapse now would show as a second round of sends
    finally:
        for replica in replicas:
            await replica.stop()
        for bot in bots:
            await bot.session.close()

    delivered = Counter(m["chat"]["id"] for _, m in fake_api.store.sent if m["chat"]["id"] in users)
    assert delivered == dict.fromkeys(users, 1)  # exactly one copy each
    assert report.endswith("delivered 5, blocked the bot 0, failed 0.")
    attempts = Counter(recipients(fake_api))
    assert attempts == {**dict.fromkeys(users, 2), 7003: 3}  # the failures retried, once each
    broadcast = await get_broadcast(session_factory, broadcast_id)
    assert (broadcast.status, broadcast.sent, broadcast.failed) == ("done", 5, 0)


async def test_a_recipient_whose_retries_would_outlast_the_lease_is_given_up(
    fake_api: FakeBotAPI, migrated_db_url: URL, session_factory: SessionFactory
) -> None:
    await seed_users(session_factory, fake_api, [7101, 7102])
    fake_api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=7101, delay=SLOW, times=10)
    broadcast_id = await seed_broadcast(session_factory, "Budget")
    bot = create_bot(make_settings(migrated_db_url, fake_api.url))
    try:
        sender = BroadcastSender(
            bot, session_factory, RateLimiter(1000), broadcast_id, lease_seconds=LEASE
        )
        assert await sender.run() is True
    finally:
        await bot.session.close()
    attempts = Counter(recipients(fake_api))
    # 7101: as many attempts as fit in the lease (each slow), fewer than the retry count
    # alone would allow, then counted as failed.
    assert 1 < attempts[7101] <= MAX_TRANSIENT
    assert attempts[7102] == 1
    broadcast = await get_broadcast(session_factory, broadcast_id)
    assert (broadcast.sent, broadcast.failed, broadcast.status) == (1, 1, "done")
