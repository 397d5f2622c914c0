"""Restock alerts through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL:
buyers join a sold-out product's watch list from its card, any stock import tells each of them
once (a 403 from one stops nobody else), leaving the list means no message, and a sender
stopped mid-way resumes without telling anyone twice."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import URL

from app.bot.factory import create_bot
from app.db.models import Broadcast, BroadcastKind, Product, RestockWatch, User
from app.i18n import translator
from app.services import stock
from app.services.broadcast import claimable_broadcasts
from app.services.restock import MAX_WATCHES
from app.stock_import import import_items
from app.workers.broadcast_sender import BroadcastSender, RateLimiter
from tests.admin_helpers import panel_client, running_panel
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, BOT_TOKEN, RunningBot, make_settings, running_bot
from tests.processes import clean_env, url_env
from tests.shop_helpers import Customer, SessionFactory, buttons, eventually, seed_product

en = translator("en")
ru = translator("ru")
FAST = pytest.mark.settings(broadcast_poll_interval=0.2)  # the worker looks 5 times a second
# The worker looks only at start: what /stock enqueues must be sent at once, not found later.
AT_ONCE = pytest.mark.settings(broadcast_poll_interval=3600)
BACK = "is back in stock"


async def open_card(buyer: Customer, title: str) -> None:
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    await buyer.press(title)


async def watch(buyer: Customer, title: str) -> None:
    """From /start to the product's card, then 🔔 Notify me."""
    await open_card(buyer, title)
    answer = await buyer.press(en("buyer.restock.notify"))
    assert answer is not None and answer.get("text") == en("buyer.restock.joined")
    card = buyer.screen()
    assert en("buyer.restock.watching") in card["text"]
    labels = [b["text"] for b in buttons(card)]
    assert en("buyer.restock.stop") in labels and en("buyer.restock.notify") not in labels


def alerts_to(api: FakeBotAPI, user_id: int) -> list[str]:
    return [m["text"] for m in api.sent_to(user_id) if BACK in m.get("text", "")]


async def watches(factory: SessionFactory) -> list[tuple[int, int]]:
    async with factory() as session:
        rows = await session.execute(
            select(RestockWatch.user_id, RestockWatch.product_id).order_by(RestockWatch.user_id)
        )
        return [(user_id, product_id) for user_id, product_id in rows]


async def restock_alerts(factory: SessionFactory) -> list[Broadcast]:
    async with factory() as session:
        query = select(Broadcast).where(Broadcast.kind == BroadcastKind.RESTOCK.value)
        return list(await session.scalars(query.order_by(Broadcast.id)))


async def done(factory: SessionFactory) -> bool:
    alerts = await restock_alerts(factory)
    return bool(alerts) and all(alert.status == "done" for alert in alerts)


@AT_ONCE
async def test_a_restock_tells_each_watcher_once_despite_a_403_and_a_429(shop: RunningBot) -> None:
    api, factory = shop.api, shop.session_factory
    product = await seed_product(factory, "Game key", 10, slug="game-key")  # sold out
    owner = Customer(api, shop.tracker, ADMIN_ID)
    watchers = [Customer(api, shop.tracker, 5001 + i) for i in range(3)]
    watchers.append(Customer(api, shop.tracker, 5004, language_code="ru"))
    for buyer in watchers[:3]:
        await watch(buyer, "Game key")
    russian = watchers[3]
    await russian.send("/start")
    await russian.press(ru("buyer.menu.catalog"))
    await russian.press("Game key")
    await russian.press(ru("buyer.restock.notify"))
    assert ru("buyer.restock.watching") in russian.screen()["text"]
    await watchers[0].press_data(f"b-watch:{product}:on:0")  # an older card's button: no-op
    assert [user for user, _ in await watches(factory)] == [5001, 5002, 5003, 5004]
    banned = Customer(api, shop.tracker, 5005)
    await watch(banned, "Game key")
    await owner.send("/ban 5005")
    api.block_user(5002)
    api.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=5003
    )

    await owner.send("/stock game-key\nKEY-1\nKEY-2")
    assert owner.texts()[-1].endswith("4 buyers waiting for it will be told it is back.")
    await eventually(lambda: done(factory), "the restock alert is sent")

    for buyer in (watchers[0], watchers[2]):
        assert alerts_to(api, buyer.user_id) == ["🔔 Game key is back in stock!"]
    assert api.sent_to(5004)[-1]["text"] == "🔔 Game key снова в наличии!"
    assert alerts_to(api, 5002) == []
    (alert,) = await restock_alerts(factory)
    assert (alert.product_id, alert.sent, alert.blocked, alert.failed) == (product, 3, 1, 0)
    assert alert.created_by == 0  # the shop's own: no report to an owner
    assert not any("Broadcast #" in text for text in owner.texts())
    # Each watch gone with its send; the banned buyer heard nothing, and still waits.
    assert await watches(factory) == [(5005, product)]
    assert alerts_to(api, 5005) == []
    async with factory() as session:
        assert await session.scalar(select(User.is_blocked).where(User.id == 5002)) is True

    # The alert's button opens the card, which sells now.
    await watchers[0].press(en("buyer.restock.open"))
    card = watchers[0].screen()
    assert "Game key" in card["text"] and any("Buy" in b["text"] for b in buttons(card))
    assert not any(en("buyer.restock.notify") in b["text"] for b in buttons(card))

    # Restocking again tells nobody again: nobody is waiting any more.
    await owner.send("/stock game-key\nKEY-3")
    assert len(await restock_alerts(factory)) == 1
    await owner.send("/stock game-key\nKEY-4")
    assert "waiting for it" not in owner.texts()[-1]
    # One attempt each in all (the blocked one's was refused, the 429'd one's repeated after
    # its retry_after), across the three imports.
    attempts = Counter(
        p["chat_id"]
        for p in api.calls_of("sendMessage")
        if p["chat_id"] != ADMIN_ID and "Game key</b>" in p["text"]
    )
    assert attempts == {5001: 1, 5002: 1, 5003: 2, 5004: 1}


@AT_ONCE
async def test_leaving_the_list_means_no_message(shop: RunningBot) -> None:
    api, factory = shop.api, shop.session_factory
    await seed_product(factory, "Gift card", 20, slug="gift-card")
    await seed_product(factory, "Voucher", 30, slug="voucher")
    from_card = Customer(api, shop.tracker, 5101)
    from_list = Customer(api, shop.tracker, 5102)
    stays = Customer(api, shop.tracker, 5103)
    await watch(from_card, "Gift card")
    answer = await from_card.press(en("buyer.restock.stop"))
    assert answer is not None and answer.get("text") == en("buyer.restock.left")
    card = from_card.screen()
    assert en("buyer.restock.watching") not in card["text"]
    assert any(en("buyer.restock.notify") in b["text"] for b in buttons(card))

    await watch(from_list, "Gift card")
    await from_list.send("/start")
    await from_list.press(en("buyer.menu.catalog"))
    await from_list.press("Voucher")
    await from_list.press(en("buyer.restock.notify"))
    await from_list.send("/alerts")
    listing = from_list.screen()
    assert listing["text"].splitlines()[-2:] == ["• Gift card", "• Voucher"]
    await from_list.send("/start")  # the menu's button opens the same list
    await from_list.press(en("buyer.menu.alerts"))
    assert from_list.screen()["text"] == listing["text"]
    await from_list.press(en("buyer.restock.leave", title="Gift card"))
    assert from_list.screen()["text"].splitlines()[-1] == "• Voucher"
    await from_list.press(en("buyer.restock.leave", title="Voucher"))
    assert from_list.screen()["text"] == en("buyer.restock.none")
    await watch(stays, "Gift card")

    owner = Customer(api, shop.tracker, ADMIN_ID)
    await owner.send("/stock gift-card\nG-1")
    await owner.send("/stock voucher\nV-1")
    await eventually(lambda: done(factory), "the restock alert is sent")
    (alert,) = await restock_alerts(factory)  # the voucher had nobody waiting any more
    assert alert.sent == 1
    assert alerts_to(api, 5103) == ["🔔 Gift card is back in stock!"]
    assert alerts_to(api, 5101) == alerts_to(api, 5102) == []


@FAST
async def test_watching_needs_a_sold_out_product_on_sale(shop: RunningBot) -> None:
    api, factory = shop.api, shop.session_factory
    in_stock = await seed_product(factory, "Key", 10, ["K1"], slug="key")
    hidden = await seed_product(factory, "Hidden", 10, slug="hidden", is_active=False)
    buyer = Customer(api, shop.tracker, 5201)
    await open_card(buyer, "Key")
    assert not any(en("buyer.restock.notify") in b["text"] for b in buttons(buyer.screen()))
    answer = await buyer.press_data(f"b-watch:{in_stock}:on:0")  # a button from before
    assert answer is not None and answer.get("text") == en("buyer.restock.in_stock")
    assert any("Buy" in b["text"] for b in buttons(buyer.screen()))
    answer = await buyer.press_data(f"b-watch:{hidden}:on:0")
    assert answer is not None and answer.get("text") == en("buyer.catalog.gone")
    answer = await buyer.press_data(f"b-unwatch:{hidden}")  # nothing to leave: the list again
    assert buyer.screen()["text"] == en("buyer.restock.none")
    assert await watches(factory) == []

    # At most MAX_WATCHES products at a time: one more is refused, with the way out.
    sold_out = [
        await seed_product(factory, f"P{i}", 5, slug=f"p-{i}") for i in range(MAX_WATCHES + 1)
    ]
    async with factory() as session:
        session.add_all(RestockWatch(user_id=5201, product_id=p) for p in sold_out[:-1])
        await session.commit()
    answer = await buyer.press_data(f"b-watch:{sold_out[-1]}:on:0")
    assert answer is not None and answer.get("show_alert") is True
    assert answer.get("text") == en("buyer.restock.limit", n=MAX_WATCHES)
    assert len(await watches(factory)) == MAX_WATCHES
    await buyer.send("/alerts")
    listing = buyer.screen()
    assert len(listing["text"]) < 4096 and len(buttons(listing)) == MAX_WATCHES + 1


@AT_ONCE
async def test_file_goods_from_stockfiles_tell_the_watchers_once(shop: RunningBot) -> None:
    api, factory = shop.api, shop.session_factory
    await seed_product(factory, "Manual", 15, slug="manual")
    buyer = Customer(api, shop.tracker, 5251)
    await watch(buyer, "Manual")
    owner = Customer(api, shop.tracker, ADMIN_ID)
    await owner.send("/stockfiles manual")
    for name in ("manual.pdf", "guide.pdf"):  # one import each; the second adds no alert
        document = api.add_file(b"%PDF- " + name.encode(), name, "application/pdf")
        await shop.tracker.wait(api.message(ADMIN_ID, "", document=document)["update_id"])
    assert "1 buyer waiting for it will be told it is back." in owner.texts()[-2]
    assert "waiting for it" not in owner.texts()[-1]
    await owner.send("/done")
    await eventually(lambda: done(factory), "the restock alert is sent")
    assert alerts_to(api, 5251) == ["🔔 Manual is back in stock!"]
    assert len(await restock_alerts(factory)) == 1


@FAST
async def test_a_cli_import_while_the_bot_runs_tells_the_watchers(
    shop: RunningBot, migrated_db_url: URL, tmp_path: Path
) -> None:
    api, factory = shop.api, shop.session_factory
    await seed_product(factory, "Game key", 10, slug="game-key")
    buyers = [Customer(api, shop.tracker, 5301 + i) for i in range(2)]
    for buyer in buyers:
        await watch(buyer, "Game key")
    env = clean_env()  # no BOT_TOKEN: the shop commands need only the database
    env.update(DATABASE_URL=url_env(migrated_db_url), LOG_FORMAT="json", SCHEMA_WAIT_TIMEOUT="5")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "--no-migrate", "stock", "import", "--product", "game-key",
        "-",
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(b"CLI-1\nCLI-2\n"), timeout=120)
    assert process.returncode == 0, err.decode()
    assert "game-key: added 2" in out.decode()
    assert "2 buyers waiting for it will be told" in out.decode()
    await eventually(lambda: done(factory), "the bot's worker sends the CLI's alert")
    for buyer in buyers:
        assert alerts_to(api, buyer.user_id) == ["🔔 Game key is back in stock!"]


async def test_a_stopped_sender_resumes_and_tells_nobody_twice(
    fake_api: FakeBotAPI, migrated_db_url: URL, session_factory: SessionFactory
) -> None:
    users = list(range(5401, 5406))
    fake_api.start_bot(*users)
    product = await seed_product(session_factory, "Game key", 10, slug="game-key")
    async with session_factory() as session:
        session.add_all(User(id=user_id, first_name=f"U{user_id}") for user_id in users)
        await session.flush()
        session.add_all(RestockWatch(user_id=user_id, product_id=product) for user_id in users)
        await session.commit()
        result = await import_items(session, product, stock.read_upload("K1\nK2\n"))
    assert result.restock is not None and result.restock.watchers == 5
    async with session_factory() as session:  # joins after the restock: waits for the next
        session.add(User(id=5400, first_name="Late"))
        await session.flush()
        session.add(RestockWatch(user_id=5400, product_id=product))
        await session.commit()
    fake_api.start_bot(5400)

    reached = asyncio.Event()

    def third_send(params: dict[str, object]) -> None:
        if params["chat_id"] == 5403:
            reached.set()

    fake_api.on_call("sendMessage", third_send)
    # The third watcher's first send hangs, then fails (nothing delivered): the bot stops then.
    fake_api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=5403, delay=60)
    settings = make_settings(migrated_db_url, fake_api.url, broadcast_poll_interval=0.2)
    async with running_bot(fake_api, settings):
        await asyncio.wait_for(reached.wait(), timeout=30)
    (stopped,) = await restock_alerts(session_factory)
    assert (stopped.status, stopped.last_user_id, stopped.sent) == ("running", 5402, 2)
    assert stopped.lease_until is None  # given back at shutdown
    assert [user for user, _ in await watches(session_factory)] == [5400, 5403, 5404, 5405]

    async with running_bot(fake_api, settings):
        await eventually(lambda: done(session_factory), "the restarted bot finishes the alert")
    delivered = Counter(
        chat for chat, message in fake_api.store.sent if BACK in message.get("text", "")
    )
    assert delivered == dict.fromkeys(users, 1)  # everyone once; the late watcher not yet
    (finished,) = await restock_alerts(session_factory)
    assert (finished.sent, finished.blocked, finished.failed) == (5, 0, 0)
    assert await watches(session_factory) == [(5400, product)]
    async with session_factory() as session:
        late = await import_items(session, product, stock.read_upload("K3\n"))
        count = await session.scalar(select(func.count(Broadcast.id)))
    assert late.restock is not None and late.restock.watchers == 1  # the next restock
    assert count == 2


async def test_a_products_alerts_go_one_at_a_time_and_end_when_it_is_off_sale(
    fake_api: FakeBotAPI, migrated_db_url: URL, session_factory: SessionFactory
) -> None:
    product = await seed_product(session_factory, "Game key", 10, slug="game-key")

    async def join(*user_ids: int) -> None:
        fake_api.start_bot(*user_ids)
        async with session_factory() as session:
            session.add_all(User(id=user_id, first_name=f"U{user_id}") for user_id in user_ids)
            await session.flush()
            session.add_all(RestockWatch(user_id=u, product_id=product) for u in user_ids)
            await session.commit()

    async def restock(key: str) -> int | None:
        async with session_factory() as session:
            result = await import_items(session, product, stock.read_upload(key))
        return result.restock.broadcast_id if result.restock else None

    async def claimable() -> list[int]:
        async with session_factory() as session:
            return await claimable_broadcasts(session)

    await join(5501, 5502, 5503)
    first = await restock("K1")
    await join(5504)
    second = await restock("K2")  # for the watch the first does not cover
    assert first is not None and second is not None
    assert await restock("K3") is None  # both running alerts cover every watch
    assert await claimable() == [first]  # the second waits for the first

    bot = create_bot(make_settings(migrated_db_url, fake_api.url))
    try:
        limiter = RateLimiter(1000)
        assert await BroadcastSender(bot, session_factory, limiter, second).run() is False
        assert await BroadcastSender(bot, session_factory, limiter, first).run() is True
        assert await claimable() == [second]
        assert await BroadcastSender(bot, session_factory, limiter, second).run() is True
        told = Counter(chat for chat, m in fake_api.store.sent if BACK in m.get("text", ""))
        assert told == dict.fromkeys([5501, 5502, 5503, 5504], 1)

        await join(5505)
        third = await restock("K4")
        assert third is not None
        async with session_factory() as session:  # taken off sale before the alert goes out
            await session.execute(update(Product).values(is_active=False))
            await session.commit()
        assert await BroadcastSender(bot, session_factory, limiter, third).run() is True
    finally:
        await bot.session.close()
    assert fake_api.sent_to(5505) == []
    assert await watches(session_factory) == [(5505, product)]  # waits for the next restock
    alerts = await restock_alerts(session_factory)
    assert [(a.id, a.status, a.sent) for a in alerts] == [
        (first, "done", 3),
        (second, "done", 1),
        (third, "done", 0),
    ]


async def test_a_panel_upload_tells_the_watchers(pg_url: URL, tmp_path: Path) -> None:
    """The third stock path: the panel's upload enqueues, the running bot's worker sends."""
    settings = make_settings(pg_url, broadcast_poll_interval=0.2)
    async with (
        FakeBotAPI(BOT_TOKEN) as api,
        running_bot(api, settings.model_copy(update={"telegram_api_url": api.url})) as shop,
        running_panel(pg_url, api.url, tmp_path, ADMIN_IDS=str(ADMIN_ID)) as (base, _),
        panel_client(base) as client,
    ):
        await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
        buyer = Customer(api, shop.tracker, 5601)
        await watch(buyer, "Game key")
        assert await client.sign_in() == 302
        form = aiohttp.FormData()
        form.add_field("csrf_token", await client.token("/admin/stock"))
        form.add_field("product", "game-key")
        form.add_field("file", b"PANEL-1\n", filename="keys.txt", content_type="text/plain")
        async with client.http.post(client.base + "/admin/stock", data=form) as response:
            assert response.status == 200
            assert "1 buyer waiting for it will be told it is back." in await response.text()
        await eventually(lambda: done(shop.session_factory), "the bot sends the panel's alert")
        assert alerts_to(api, 5601) == ["🔔 Game key is back in stock!"]
