"""Pooled connections that the server closed are replaced before use (no pre-ping needed)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL

from app.i18n import translator
from tests.fake_api import FakeBotAPI
from tests.harness import make_settings, running_bot
from tests.shop_helpers import Customer

en = translator("en")


async def _terminate_backends(url: URL) -> int:
    """What a server restart or an administrator does to the bot's connections."""
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_updates_after_the_server_closed_every_connection(
    pg_url: URL, fake_api: FakeBotAPI
) -> None:
    async with running_bot(fake_api, make_settings(pg_url, fake_api.url)) as shop:
        engine = shop.dispatcher["engine"]
        pings: list[str] = []
        event.listen(  # no round trip is spent on checking a connection
            engine.sync_engine,
            "before_cursor_execute",
            lambda _c, _k, sql, *_: pings.append(sql) if sql.strip() in {";", "SELECT 1"} else None,
        )
        buyer = Customer(shop.api, shop.tracker, 2001)
        for _ in range(3):
            await buyer.send("/start")
        assert await _terminate_backends(pg_url) >= 1
        async with asyncio.timeout(30):  # a deadline, not a timing: until the server is done
            while await _terminate_backends(pg_url):  # noqa: ASYNC110 (polls the server)
                await asyncio.sleep(0.05)
        for _ in range(3):  # each fails the test if its handler raised
            await buyer.send("/start")
        welcomes = [text for text in buyer.texts() if "Welcome to the shop" in text]
        assert len(welcomes) == 6
        assert pings == []
