"""Bans: a banned user's updates are refused by the bot within seconds, their payments never
are, the owners cannot be banned out of their bot; the panel bans and unbans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.models import OrderStatus, User
from app.i18n import translator
from app.middlewares.bans import BanMiddleware
from app.services.bans import set_banned
from app.services.products import ShopInputError
from tests.admin_helpers import panel_client, running_panel
from tests.big_shop import BigShop
from tests.harness import ADMIN_ID, RunningBot, migrated
from tests.schema import execute, scalar
from tests.shop_helpers import Customer, SessionFactory, invoice_amount, orders_of, seed_product

BUYER = 7001
en = translator("en")


def _bans(shop: RunningBot) -> BanMiddleware:
    return next(m for m in shop.dispatcher.update.outer_middleware if isinstance(m, BanMiddleware))


async def _ban(factory: SessionFactory, user_id: int, banned: bool = True) -> bool:
    async with factory() as session:
        changed = await set_banned(session, user_id, banned)
        await session.commit()
        return changed


async def test_the_bot_ignores_a_banned_user_but_settles_their_payment(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 5, ["KEY-1", "KEY-2"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/start")
    await buyer.press("Catalog")
    await buyer.press("Key")
    await buyer.press("Buy")
    invoice = buyer.invoices()[-1]
    assert (await buyer.pre_checkout(invoice["payload"], invoice_amount(invoice)))["ok"]

    assert await _ban(shop.session_factory, BUYER) is True
    assert await _ban(shop.session_factory, BUYER) is False  # already banned
    _bans(shop).expire(BUYER)
    before = len(buyer.texts())
    await buyer.send("/start")
    await buyer.send("/help")
    assert buyer.texts()[before:] == [en("buyer.banned")], "one short answer, nothing else"
    # The money was taken before the ban: the payment is settled as always.
    await buyer.pay(invoice["payload"], invoice_amount(invoice))
    [order] = await orders_of(shop.session_factory, BUYER)
    assert order.status in (OrderStatus.PAID, OrderStatus.DELIVERED)

    assert await _ban(shop.session_factory, BUYER, banned=False) is True
    _bans(shop).expire(BUYER)
    answered = len(shop.api.sent_to(BUYER))
    await buyer.send("/start")
    assert len(shop.api.sent_to(BUYER)) > answered


async def test_an_owner_is_never_banned_out(shop: RunningBot) -> None:
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/start")
    assert await _ban(shop.session_factory, ADMIN_ID)
    _bans(shop).expire(ADMIN_ID)
    before = len(shop.api.sent_to(ADMIN_ID))
    await owner.send("/admin")
    assert len(shop.api.sent_to(ADMIN_ID)) > before


async def test_a_ban_set_on_another_replica_applies_within_seconds(
    session_factory: SessionFactory,
) -> None:
    async with session_factory() as session:
        session.add_all([User(id=1), User(id=2)])
        await session.commit()
    now = [0.0]
    here = BanMiddleware(session_factory, ttl_seconds=5, clock=lambda: now[0])
    assert await here.banned(2) is False
    await _ban(session_factory, 2)  # on another replica, or from the panel
    now[0] = 4.9
    assert await here.banned(2) is False, "within the interval: the answer read before"
    now[0] = 5.1
    assert await here.banned(2) is True
    await _ban(session_factory, 2, banned=False)
    now[0] = 10.3
    assert await here.banned(2) is False, "an unban too"
    await _ban(session_factory, 2)
    here.expire(2)  # /ban on this replica: the answer is forgotten at once
    assert await here.banned(2) is True
    assert await here.banned(1) is False
    async with session_factory() as session:
        with pytest.raises(ShopInputError):
            await set_banned(session, 999, True)  # the panel bans known users only


async def test_a_check_reads_one_row_however_many_users_are_banned(
    engine: AsyncEngine, session_factory: SessionFactory
) -> None:
    """Each check is one primary-key read of its user, made at most once per interval, and
    only the users of the last few seconds are remembered: nothing grows with the bans."""
    shop = BigShop(engine.url)
    await shop.add_users(10_000, 3_000)
    await shop.execute("UPDATE users SET banned_at = CURRENT_TIMESTAMP")
    await shop.add_users(1, 40)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper() not in {"BEGIN", "COMMIT"}:  # SQLite's own transaction
            statements.append(sql)

    now = [0.0]
    bans = BanMiddleware(session_factory, ttl_seconds=5, max_remembered=10, clock=lambda: now[0])
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        assert await bans.banned(10_007) is True
        assert await bans.banned(1) is False
        assert len(statements) == 2
        for _ in range(100):  # a burst of updates within the interval: no more reads
            assert await bans.banned(1) is False
        assert len(statements) == 2
        for user_id in range(1, 41):  # many users at once: one read each, 10 remembered
            await bans.banned(user_id)
            now[0] += 0.01
        assert len(statements) == 2 + 39  # user 1's answer was still fresh
        assert len(bans._answers) == 10
        assert await bans.banned(1) is False  # forgotten among the 40: read again
        assert len(statements) == 2 + 39 + 1
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    selects = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == len(statements)
    assert all("users.id = " in sql and "count" not in sql.lower() for sql in selects), selects
    now[0] += 5
    assert await bans.banned(41) is False
    assert list(bans._answers) == [41], "the answers past their time are dropped"


async def test_the_panel_bans_and_unbans(pg_url: URL, tmp_path: Path) -> None:
    url = await migrated(pg_url)
    await execute(url, "INSERT INTO users (id, first_name) VALUES (4242, 'Mallory')")
    async with (
        running_panel(url, "http://127.0.0.1:9", tmp_path) as (base, process),
        panel_client(base) as client,
    ):
        assert await client.sign_in() == 302
        path = "/admin/user/details/4242"
        token = await client.token(path)
        assert (await client.post("/admin/user/ban/4242", {"ban": "1"})).status == 403
        assert await scalar(url, "SELECT banned_at FROM users") is None
        banned = await client.post("/admin/user/ban/4242", {"ban": "1", "csrf_token": token})
        assert banned.status == 302
        assert await scalar(url, "SELECT banned_at FROM users") is not None
        page = (await client.page(path))[1]
        assert 'id="unban"' in page
        unbanned = await client.post("/admin/user/ban/4242", {"ban": "0", "csrf_token": token})
        assert unbanned.status == 302
        assert await scalar(url, "SELECT banned_at FROM users") is None
        missing = await client.post("/admin/user/ban/1", {"ban": "1", "csrf_token": token})
        assert missing.status == 404
        status, listing = await client.page("/admin/user/list?search=mallory")
        assert status == 200 and "4242" in listing
    events = [r["event"] for r in process.records()]
    assert events.count("user banned") == 1 and events.count("user unbanned") == 1
