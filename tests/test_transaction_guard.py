"""TransactionGuard fires when a Bot API call is made while the update's transaction is open:
strict (the tests) raises, otherwise the call goes on and an error is logged. The handlers
here go through the shop's own session middleware and Bot, fed one update each."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.bot.factory import create_bot
from app.config import normalize_database_url
from app.logs import configure_logging
from app.middlewares.db import DbSessionMiddleware, OpenTransactionError
from tests.fake_api import FakeBotAPI
from tests.harness import make_settings
from tests.shop_helpers import SessionFactory

USER = 1001
Reply = Callable[[Message, AsyncSession], Awaitable[None]]


async def inside_the_transaction(message: Message, session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))  # begins the update's transaction
    await message.answer("sent while the transaction is open")


async def after_the_commit(message: Message, session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))
    await session.commit()
    await message.answer("sent after the commit")


async def _feed(
    api: FakeBotAPI, session_factory: SessionFactory, reply: Reply, *, strict: bool
) -> None:
    """One message through a Dispatcher with the shop's session middleware and Bot."""
    router = Router()
    router.message.register(reply)
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(DbSessionMiddleware(session_factory))
    dispatcher.include_router(router)
    settings = make_settings(normalize_database_url("sqlite:///unused.db"), api.url)
    bot: Bot = create_bot(settings, strict_transactions=strict)
    try:
        update = Update.model_validate(api.build_message(USER, "/start"), context={"bot": bot})
        await dispatcher.feed_update(bot, update)
    finally:
        await bot.session.close()


def _guard_errors(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    return [r for r in records if r.get("logger") == "app.middlewares.db"]


async def test_strict_guard_refuses_a_call_inside_the_transaction(
    fake_api: FakeBotAPI, session_factory: SessionFactory
) -> None:
    with pytest.raises(OpenTransactionError, match="SendMessage called inside an open"):
        await _feed(fake_api, session_factory, inside_the_transaction, strict=True)
    assert fake_api.calls_of("sendMessage") == []  # refused before it left the process
    await _feed(fake_api, session_factory, after_the_commit, strict=True)  # control
    assert [m["text"] for m in fake_api.sent_to(USER)] == ["sent after the commit"]


async def test_lenient_guard_logs_the_call_and_lets_it_through(
    fake_api: FakeBotAPI, session_factory: SessionFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json=True)
    capsys.readouterr()
    await _feed(fake_api, session_factory, inside_the_transaction, strict=False)
    errors = _guard_errors(capsys)
    assert [(r["level"], r["event"], r["method"]) for r in errors] == [
        ("error", "Telegram API call inside an open database transaction", "SendMessage")
    ]
    await _feed(fake_api, session_factory, after_the_commit, strict=False)  # control
    assert _guard_errors(capsys) == []
    texts = [m["text"] for m in fake_api.sent_to(USER)]
    assert texts == ["sent while the transaction is open", "sent after the commit"]
