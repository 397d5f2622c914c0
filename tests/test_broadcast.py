"""Broadcasts against the fake Bot API: 403s and 429s, resuming after a restart, the lease."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import URL

from app.bot.factory import create_bot
from app.db.base import utcnow
from app.db.models import Broadcast, BroadcastStatus, User
from app.db.uow import read, transaction
from app.middlewares.db import OpenTransactionError
from app.services.bans import set_banned
from app.services.broadcast import cancel_running, claimable_broadcasts, take_lease
from app.workers.broadcast import BroadcastManager
from app.workers.broadcast_sender import BroadcastSender, RateLimiter
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, RunningBot, make_settings, running_bot
from tests.shop_helpers import Customer, SessionFactory

JSON = dict[str, object]


async def seed_users(
    session_factory: SessionFactory,
    api: FakeBotAPI,
    ids: Iterable[int],
    *,
    blocked: Iterable[int] = (),
) -> None:
    """Users the shop knows, so users who wrote to the bot: their chats exist at Telegram."""
    ids, blocked = list(ids), set(blocked)
    api.start_bot(*ids)
    async with session_factory() as session:
        for user_id in ids:
            session.add(User(id=user_id, first_name=f"U{user_id}", is_blocked=user_id in blocked))
        await session.commit()


async def seed_broadcast(session_factory: SessionFactory, text: str, **values: object) -> int:
    async with session_factory() as session:
        broadcast = Broadcast(text=text, created_by=ADMIN_ID, **values)
        session.add(broadcast)
        await session.commit()
        return broadcast.id


async def get_broadcast(session_factory: SessionFactory, broadcast_id: int) -> Broadcast:
    async with session_factory() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        return broadcast


async def claimable_now(session_factory: SessionFactory) -> list[int]:
    async with session_factory() as session, read(session):
        return await claimable_broadcasts(session)


async def lease(session_factory: SessionFactory, broadcast_id: int, seconds: float) -> bool:
    async with transaction(session_factory) as session:
        return await take_lease(session, broadcast_id, seconds) is not None


def recipients(api: FakeBotAPI) -> list[int]:
    """Chats of every sendMessage call except those to the admin, in call order."""
    return [int(p["chat_id"]) for p in api.calls_of("sendMessage") if p["chat_id"] != ADMIN_ID]


def received(api: FakeBotAPI, user_id: int) -> list[str]:
    return [m["text"] for m in api.sent_to(user_id)]


async def wait_report(api: FakeBotAPI, broadcast_id: int) -> str:
    params = await api.wait_for(
        "sendMessage",
        lambda p: p["chat_id"] == ADMIN_ID and f"Broadcast #{broadcast_id} done" in p["text"],
        timeout=30,
    )
    return str(params["text"])


async def test_rate_limiter_spaces_the_sends() -> None:
    now = 100.0
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        nonlocal now
        slept.append(round(seconds, 6))
        now += seconds

    limiter = RateLimiter(25, clock=lambda: now, sleep=fake_sleep)
    for _ in range(4):
        await limiter.wait()
    assert slept == [0.04, 0.04, 0.04]
    now += 10  # idle: no waiting, no burst credit beyond one slot
    await limiter.wait()
    await limiter.wait()
    assert slept == [0.04, 0.04, 0.04, 0.04]
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


async def test_broadcast_reaches_everyone_once_despite_403_and_429(shop: RunningBot) -> None:
    api, factory = shop.api, shop.session_factory
    admin = Customer(api, shop.tracker, ADMIN_ID)
    await seed_users(factory, api, range(3001, 3011), blocked=[3010])
    api.block_user(3004)
    api.block_user(3008)
    api.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=3005
    )
    api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=3009)

    await admin.send("/broadcast Hello, <everyone>!\nSecond line")
    async with factory() as session:
        broadcast_id = (await session.scalars(select(Broadcast.id))).one()
    assert admin.texts()[-1].startswith(f"Broadcast #{broadcast_id} started to 9 users.")
    report = await wait_report(api, broadcast_id)
    assert report == f"Broadcast #{broadcast_id} done: delivered 6, blocked the bot 2, failed 1."

    text = "Hello, <everyone>!\nSecond line"
    for user_id in (3001, 3002, 3003, 3005, 3006, 3007):
        assert received(api, user_id) == [text], user_id
    for user_id in (3004, 3008, 3009, 3010):
        assert received(api, user_id) == [], user_id
    # In user-id order; the 429'd user was tried again; the user blocked in the DB never.
    assert recipients(api) == [3001, 3002, 3003, 3004, 3005, 3005, 3006, 3007, 3008, 3009]

    broadcast = await get_broadcast(factory, broadcast_id)
    assert broadcast.status == BroadcastStatus.DONE
    assert (broadcast.sent, broadcast.blocked, broadcast.failed) == (6, 2, 1)
    assert broadcast.last_user_id == 3009
    assert broadcast.lease_until is None
    assert broadcast.finished_at is not None
    async with factory() as session:
        blocked = set(await session.scalars(select(User.id).where(User.is_blocked.is_(True))))
    assert blocked == {3004, 3008, 3010}


async def test_broadcast_dialog_and_stop(shop: RunningBot) -> None:
    api, factory = shop.api, shop.session_factory
    admin = Customer(api, shop.tracker, ADMIN_ID)
    await admin.send("/broadcast Anyone?")
    assert admin.texts()[-1] == "There are no users to send to yet."
    await admin.send("/stopbroadcast")
    assert admin.texts()[-1] == "No broadcast is running."

    await seed_users(factory, api, [3101, 3102])
    await admin.send("/broadcast")
    assert admin.texts()[-1].startswith("Send the message to broadcast")
    await admin.send("News of the day")
    await wait_report(api, 1)
    assert received(api, 3101) == received(api, 3102) == ["News of the day"]
    assert (await get_broadcast(factory, 1)).status == BroadcastStatus.DONE


async def test_banned_users_are_neither_counted_nor_told(shop: RunningBot) -> None:
    api, factory = shop.api, shop.session_factory
    admin = Customer(api, shop.tracker, ADMIN_ID)
    await seed_users(factory, api, [3201, 3202])
    async with factory() as session:
        for user_id in (3201, 3202):
            assert await set_banned(session, user_id, True)
        await session.commit()
    await admin.send("/broadcast Anyone?")
    assert admin.texts()[-1] == "There are no users to send to yet."  # only the banned

    await seed_users(factory, api, [3203, 3204])
    await admin.send("/broadcast Spring sale")
    assert admin.texts()[-1].startswith("Broadcast #1 started to 2 users.")
    report = await wait_report(api, 1)
    assert report == "Broadcast #1 done: delivered 2, blocked the bot 0, failed 0."
    assert received(api, 3203) == received(api, 3204) == ["Spring sale"]
    assert received(api, 3201) == received(api, 3202) == []
    assert recipients(api) == [3203, 3204]


async def test_a_fresh_bot_resumes_a_running_broadcast_where_it_stopped(
    fake_api: FakeBotAPI, migrated_db_url: URL, session_factory: SessionFactory
) -> None:
    await seed_users(session_factory, fake_api, range(4001, 4011))
    fake_api.start_bot(ADMIN_ID)  # the owner gets the report
    resumed = await seed_broadcast(session_factory, "Resumed", last_user_id=4004, sent=4)
    # Held by another replica that is alive: this process must leave it alone.
    leased = await seed_broadcast(
        session_factory, "Not mine", lease_until=utcnow() + timedelta(hours=1)
    )
    async with running_bot(fake_api, make_settings(migrated_db_url, fake_api.url)):
        report = await wait_report(fake_api, resumed)
    assert report == f"Broadcast #{resumed} done: delivered 10, blocked the bot 0, failed 0."
    assert recipients(fake_api) == list(range(4005, 4011))
    for user_id in range(4005, 4011):
        assert received(fake_api, user_id) == ["Resumed"]
    broadcast = await get_broadcast(session_factory, resumed)
    assert (broadcast.status, broadcast.sent, broadcast.last_user_id) == ("done", 10, 4010)
    other = await get_broadcast(session_factory, leased)
    assert (other.status, other.sent, other.last_user_id) == ("running", 0, 0)


async def test_shutdown_gives_the_lease_back_and_a_restart_finishes(
    fake_api: FakeBotAPI, migrated_db_url: URL, session_factory: SessionFactory
) -> None:
    await seed_users(session_factory, fake_api, range(5001, 5006))
    fake_api.start_bot(ADMIN_ID)  # the owner gets the report
    broadcast_id = await seed_broadcast(session_factory, "Interrupted")
    reached, release = asyncio.Event(), asyncio.Event()

    async def hang_on_the_third_user(params: JSON) -> None:
        if params["chat_id"] == 5003 and not reached.is_set():
            reached.set()
            await release.wait()

    fake_api.on_call("sendMessage", hang_on_the_third_user)
    settings = make_settings(migrated_db_url, fake_api.url)
    async with running_bot(fake_api, settings):
        await asyncio.wait_for(reached.wait(), timeout=30)
    # Stopped mid-send: progress up to the second user is saved and the lease is free.
    stopped = await get_broadcast(session_factory, broadcast_id)
    assert (stopped.status, stopped.last_user_id, stopped.sent) == ("running", 5002, 2)
    assert stopped.lease_until is None
    release.set()

    async with running_bot(fake_api, settings):
        report = await wait_report(fake_api, broadcast_id)
    assert report.endswith("delivered 5, blocked the bot 0, failed 0.")
    # 5003's interrupted send is retried (at least once, never skipped); nobody else twice.
    assert recipients(fake_api) == [5001, 5002, 5003, 5003, 5004, 5005]


@pytest.mark.parametrize("interference", ["takeover", "cancel"])
async def test_a_sender_stops_when_it_lost_the_lease_or_was_cancelled(
    fake_api: FakeBotAPI, migrated_db_url: URL, session_factory: SessionFactory, interference: str
) -> None:
    await seed_users(session_factory, fake_api, [6001, 6002, 6003])
    broadcast_id = await seed_broadcast(session_factory, "Once")
    assert await claimable_now(session_factory) == [broadcast_id]

    async def interfere(_: JSON) -> None:
        async with session_factory() as session:
            if interference == "cancel":
                await cancel_running(session)
            else:  # another replica took the expired lease over
                later = utcnow() + timedelta(minutes=5)
                await session.execute(update(Broadcast).values(lease_until=later))
            await session.commit()

    fake_api.on_call("sendMessage", interfere)
    bot = create_bot(make_settings(migrated_db_url, fake_api.url))
    try:
        sender = BroadcastSender(bot, session_factory, RateLimiter(1000), broadcast_id)
        assert await sender.run() is False
    finally:
        await bot.session.close()
    assert recipients(fake_api) == [6001]
    broadcast = await get_broadcast(session_factory, broadcast_id)
    assert (broadcast.sent, broadcast.last_user_id) == (0, 0)
    expected = "cancelled" if interference == "cancel" else "running"
    assert broadcast.status == expected


async def test_the_lease_is_exclusive_until_it_expires(session_factory: SessionFactory) -> None:
    broadcast_id = await seed_broadcast(session_factory, "Leased")
    assert await lease(session_factory, broadcast_id, 30)
    assert not await lease(session_factory, broadcast_id, 30)
    assert await claimable_now(session_factory) == []
    async with session_factory() as session:
        expired = utcnow() - timedelta(seconds=1)
        await session.execute(update(Broadcast).values(lease_until=expired))
        await session.commit()
    assert await claimable_now(session_factory) == [broadcast_id]
    assert await lease(session_factory, broadcast_id, 30)


async def test_a_send_breaking_the_transaction_rule_is_not_swallowed(
    shop: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broadcast whose sender called Telegram inside a transaction (a future bug) ends its
    task with the strict guard's error, and stopping the broadcasts raises it."""
    factory = shop.session_factory
    tried = asyncio.Event()

    async def calls_telegram_inside_a_transaction(self: BroadcastSender) -> bool:
        try:
            async with transaction(factory):
                await self.bot.get_me()
        finally:
            tried.set()
        return True

    monkeypatch.setattr(BroadcastSender, "run", calls_telegram_inside_a_transaction)
    manager = BroadcastManager(shop.bot, factory, poll_interval=3600)
    manager.launch(12345)
    await asyncio.wait_for(tried.wait(), timeout=30)
    with pytest.raises(OpenTransactionError):
        await manager.stop()
