"""Long polling and webhooks in the fake Bot API: updates wait for getUpdates, an offset
confirms them for good, and what is not confirmed goes to the next poller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError

from tests.fake_api import FakeBotAPI

TOKEN = "123456:TEST-token"
USER = 1001


def _bot(api: FakeBotAPI) -> Bot:
    return Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = _bot(api)
    yield bot
    await bot.session.close()


async def test_long_poll_returns_pushed_update_and_offset_confirms(
    api: FakeBotAPI, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await api.wait_for("getUpdates")
    pushed = api.message(USER, "/start ref_1", username="alice")
    updates = await asyncio.wait_for(poll, 10)
    assert [u.update_id for u in updates] == [pushed["update_id"]]
    message = updates[0].message
    assert message is not None and message.text == "/start ref_1"
    assert message.entities is not None and message.entities[0].type == "bot_command"
    assert message.entities[0].length == len("/start")
    assert message.from_user is not None and message.from_user.username == "alice"
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [pushed["update_id"]]
    assert await bot.get_updates(offset=pushed["update_id"] + 1, timeout=0) == []


async def test_allowed_updates_and_limit(api: FakeBotAPI, bot: Bot) -> None:
    earlier = api.callback_query(USER, "made before the setting")
    updates = await bot.get_updates(limit=1, allowed_updates=["message"], timeout=0)
    # "doesn't affect updates created before the call": the earlier press still comes
    assert [u.update_id for u in updates] == [earlier["update_id"]]
    api.callback_query(USER, "made after it: never stored")
    first, second = api.message(USER, "a"), api.message(USER, "b")
    updates = await bot.get_updates(offset=earlier["update_id"] + 1, limit=1, timeout=0)
    assert [u.update_id for u in updates] == [first["update_id"]]
    updates = await bot.get_updates(offset=first["update_id"] + 1, timeout=0)
    assert [u.update_id for u in updates] == [second["update_id"]]


async def test_second_poll_terminates_the_first(api: FakeBotAPI, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=30))
    await api.wait_for("getUpdates")
    newer = asyncio.create_task(bot.get_updates(timeout=30, limit=5))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await older
    await api.wait_for("getUpdates", lambda p: p.get("limit") == 5)
    pushed = api.message(USER, "hi")
    updates = await asyncio.wait_for(newer, 10)
    assert [u.update_id for u in updates] == [pushed["update_id"]]


async def test_webhook_blocks_get_updates(api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
        await bot.set_webhook("http://example.com/hook")
    assert await bot.set_webhook("https://example.com/hook", secret_token="s3cret_-")
    api.message(USER, "pending")
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("https://example.com/hook", 1)
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates(timeout=0) == []
    assert api.calls_of("setWebhook")[-1]["secret_token"] == "s3cret_-"


async def test_stop_releases_pending_long_poll() -> None:
    api = FakeBotAPI(TOKEN)
    await api.start()
    bot = _bot(api)
    try:
        poll = asyncio.create_task(bot.get_updates(timeout=50))
        await api.wait_for("getUpdates")
        await api.stop()
        assert await asyncio.wait_for(poll, 10) == []
    finally:
        await bot.session.close()


async def test_an_update_is_gone_once_a_higher_offset_confirms_it(
    api: FakeBotAPI, bot: Bot
) -> None:
    first = api.successful_payment(USER, "order:1", 50, "charge-1")
    second = api.message(USER, "/start")
    batch = await bot.get_updates(timeout=0)
    assert [u.update_id for u in batch] == [first["update_id"], second["update_id"]]
    # Asking again without a higher offset confirms nothing: the same batch comes back.
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == [u.update_id for u in batch]
    # A higher offset confirms every update below it, and Telegram never sends them again...
    assert await bot.get_updates(offset=second["update_id"] + 1, timeout=0) == []
    assert await bot.get_updates(timeout=0) == []
    # ...but its ledger still has the payment (what reconciliation reads).
    assert [t["id"] for t in api.ledger.transactions] == ["charge-1"]


async def test_unconfirmed_updates_go_to_the_next_poller(api: FakeBotAPI) -> None:
    """A process that fetched a batch and died before confirming it: a restarted process (a new
    connection, no offset) gets the batch again; what the dead one confirmed, it does not."""
    updates = [api.successful_payment(USER + n, f"order:{n}", 50, f"charge-{n}") for n in range(3)]
    ids = [u["update_id"] for u in updates]
    dying = _bot(api)
    try:
        poll = asyncio.create_task(dying.get_updates(timeout=30))
        assert [u.update_id for u in await asyncio.wait_for(poll, 10)] == ids
        confirmed = await dying.get_updates(offset=ids[0] + 1, timeout=0)  # confirms the first
        assert [u.update_id for u in confirmed] == ids[1:]
    finally:
        await dying.session.close()  # killed before the next getUpdates
    restarted = _bot(api)
    try:
        again = await restarted.get_updates(timeout=0)
        assert [u.update_id for u in again] == ids[1:]
        payments = [u.message.successful_payment for u in again if u.message]
        assert [p.telegram_payment_charge_id for p in payments if p] == ["charge-1", "charge-2"]
    finally:
        await restarted.session.close()


async def test_odd_parameters_are_clamped_as_the_server_does(api: FakeBotAPI) -> None:
    first, second = api.message(USER, "a"), api.message(USER, "b")
    url = f"{api.url}/bot{TOKEN}/getUpdates"

    async def poll(**form: str) -> list[int]:
        async with aiohttp.ClientSession() as http, http.post(url, data=form) as resp:
            return [u["update_id"] for u in (await resp.json())["result"]]

    assert await poll(limit="0", timeout="-5") == [first["update_id"]]  # limit 1, no wait
    assert await poll(offset="abc", limit="500") == [first["update_id"], second["update_id"]]
    assert await poll(offset=str(second["update_id"])) == [second["update_id"]]
