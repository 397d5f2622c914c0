"""TransactionGuard fires when a Bot API call is made while the update's transaction is open
(inside a uow block, or after a read left open): strict (the tests) raises, otherwise the call
goes on and an error is logged. The session middleware never commits: what a handler left open
is rolled back. The handlers here go through the shop's own session middleware and Bot, fed one
update each. Also the blocks' own rules: no nesting, no writes in a read block."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from aiogram import Bot, Dispatcher, Router
from aiogram.types import Message, Update
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.bot.factory import create_bot
from app.config import normalize_database_url
from app.db import uow
from app.db.models import User
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
    async with uow.read(session):
        await session.execute(text("SELECT 1"))
    await message.answer("sent after the commit")


async def inside_a_read_block(message: Message, session: AsyncSession) -> None:
    async with uow.read(session, autocommit=True):  # no BEGIN on PostgreSQL, still a block
        await session.execute(text("SELECT 1"))
        await message.answer("sent inside the read block")


async def inside_a_write_block(message: Message, session: AsyncSession) -> None:
    async with uow.write(session):
        await message.answer("sent inside the write block")


async def writes_without_a_block(message: Message, session: AsyncSession) -> None:
    session.add(User(id=USER, first_name="Forgot"))
    await session.flush()  # written, never committed: the middleware rolls it back


async def reads_without_a_block(message: Message, session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))  # a read left open: rolled back, nothing lost


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


@pytest.mark.parametrize("reply", [inside_a_read_block, inside_a_write_block])
async def test_strict_guard_refuses_a_call_inside_a_block(
    fake_api: FakeBotAPI, session_factory: SessionFactory, reply: Reply
) -> None:
    with pytest.raises(OpenTransactionError, match="SendMessage called inside an open"):
        await _feed(fake_api, session_factory, reply, strict=True)
    assert fake_api.calls_of("sendMessage") == []


async def test_the_middleware_never_commits_what_a_handler_left_open(
    fake_api: FakeBotAPI, session_factory: SessionFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG", json=True)
    try:
        capsys.readouterr()
        await _feed(fake_api, session_factory, writes_without_a_block, strict=True)
        wrote = [(r["level"], r["event"]) for r in _guard_errors(capsys)]
        await _feed(fake_api, session_factory, reads_without_a_block, strict=False)
        read = [(r["level"], r["event"]) for r in _guard_errors(capsys)]
    finally:
        configure_logging("INFO", json=True)
    assert wrote == [("warning", "writes made outside a transaction block; rolled back")]
    assert read == [("debug", "transaction left open by the handler; rolled back")]
    async with session_factory() as session:
        assert await session.get(User, USER) is None


async def test_blocks_do_not_nest_and_a_read_block_writes_nothing(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session:
        async with uow.write(session):
            with pytest.raises(uow.NestedBlockError):
                async with uow.read(session):
                    pass
            session.add(User(id=USER, first_name="Kept"))
        with pytest.raises(uow.ReadBlockWroteError):
            async with uow.read(session):
                session.add(User(id=USER + 1, first_name="Refused"))
        async with uow.read(session, autocommit=True):  # blocks in turn are fine
            kept = await session.get(User, USER)
            refused = await session.get(User, USER + 1)
        assert kept is not None
        assert kept.first_name == "Kept"  # still loaded after the block: no expiry
        assert refused is None


async def test_a_block_never_commits_writes_made_outside_any_block(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session:
        session.add(User(id=USER, first_name="Pending"))  # never flushed
        with pytest.raises(uow.StrayWriteError):
            async with uow.read(session):
                pass
        session.add(User(id=USER + 1, first_name="Flushed"))
        await session.flush()  # written in a transaction no block owns
        with pytest.raises(uow.StrayWriteError):
            async with uow.write(session):
                pass
        await session.execute(update(User).values(first_name="Core"))  # DML, no flush
        with pytest.raises(uow.StrayWriteError):
            async with uow.write(session):
                pass
        await session.execute(text("SELECT 1"))  # a read left open is ended, not refused
        async with uow.write(session):
            session.add(User(id=USER + 2, first_name="Owned"))
    async with session_factory() as session:
        found = (await session.execute(select(User.id).order_by(User.id))).scalars().all()
    assert found == [USER + 2]


async def test_a_read_block_refuses_writes_its_own_queries_flushed(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session:
        with pytest.raises(uow.ReadBlockWroteError):
            async with uow.read(session):
                session.add(User(id=USER, first_name="Autoflushed"))
                await session.execute(select(User))  # autoflush writes it: still refused
        with pytest.raises(uow.ReadBlockWroteError):
            async with uow.read(session):
                await session.execute(update(User).values(first_name="Core"))
        async with uow.read(session):
            assert (await session.execute(select(User))).all() == []
