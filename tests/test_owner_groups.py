"""The shop is a private-chat bot, through the real Dispatcher and the fake Bot API, on SQLite
and PostgreSQL: in a group nobody gets an answer, the owner included. An owner's /export stock
or /stats typed in a group (where everyone reads) sends nothing there, nor anywhere else; a
buyer's /start, a button under a group message and a banned user's message get no answer
either. The same commands in the owner's private chat still work."""

from __future__ import annotations

from app.db.models import OrderStatus
from app.i18n import translator
from app.keyboards.admin import AdminMenu
from app.keyboards.buyer import MenuCb
from app.services.bans import set_banned
from tests.fake_api import FakeBotAPI
from tests.fake_api.protocol import JSON
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, seed_product
from tests.test_owner_tools import seed_order

en = translator("en")
GROUP = -100_500  # the fake makes a chat with a negative id a supergroup
BUYER = 2301
BANNED = 2302


def _entities(text: str) -> list[JSON]:
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command)}]


async def in_group(shop: RunningBot, user_id: int, text: str) -> None:
    """``text`` from ``user_id`` in the group, as Telegram delivers it; waits until handled."""
    api: FakeBotAPI = shop.api
    content: JSON = {"text": text}
    if text.startswith("/"):
        content["entities"] = _entities(text)
    message = api.store.new_message(GROUP, api.store.user(user_id), content)
    update_id = api.push_update({"update_id": api.updates.next_id(), "message": message})
    await shop.tracker.wait(update_id)


async def press_in_group(shop: RunningBot, user_id: int, data: str) -> None:
    """A press of a button under a message in the group (one the bot posted there earlier)."""
    api: FakeBotAPI = shop.api
    message = api.store.new_message(GROUP, api.bot_user, {"text": "…"})
    query_id = api.store.query_id()
    api.store.open_callback_queries.add(query_id)
    query: JSON = {
        "id": query_id,
        "from": api.store.user(user_id),
        "message": message,
        "chat_instance": "group-instance",
        "data": data,
    }
    update_id = api.push_update({"update_id": api.updates.next_id(), "callback_query": query})
    await shop.tracker.wait(update_id)


SHOWN = ("sendMessage", "sendDocument", "sendPhoto", "editMessageText", "sendInvoice")


def _sent(api: FakeBotAPI) -> list[str]:
    """Every call of the bot that shows something to someone, by method."""
    return [method for method in SHOWN for _ in api.calls_of(method)]


async def test_nothing_is_posted_in_a_group_not_even_for_the_owner(shop: RunningBot) -> None:
    factory = shop.session_factory
    keys = ["SECRET-KEY-1", "SECRET-KEY-2"]
    product_id = await seed_product(factory, "Game", 7, keys, slug="game")
    await seed_order(factory, product_id, 7, OrderStatus.DELIVERED, user_id=BUYER)
    api = shop.api
    before = len(_sent(api))

    owner_commands = [
        "/export stock game", "/export orders", "/stats", "/admin", "/products",
        "/promo list", "/ban 5", "/broadcast Hello", "/addproduct", "/refund x",
    ]  # fmt: skip
    for command in owner_commands:
        await in_group(shop, ADMIN_ID, command)
    await press_in_group(shop, ADMIN_ID, AdminMenu(action="stats").pack())
    for command in ("/start", "/help", "/cart", "hello", "/nonsense"):
        await in_group(shop, BUYER, command)
    await press_in_group(shop, BUYER, MenuCb(action="catalog").pack())

    assert api.sent_to(GROUP) == []
    assert _sent(api)[before:] == [], "nothing sent anywhere: not to the group, not in private"
    assert api.calls_of("sendDocument") == []
    assert shop.tracker.errors == {}

    # The owner's own chat is where the tools answer.
    owner = Customer(api, shop.tracker, ADMIN_ID)
    await owner.send("/export stock game")
    assert owner.screen()["document"]["file_name"] == "game-stock.txt"
    await owner.send("/stats")
    assert "photo" in owner.screen()
    assert api.sent_to(GROUP) == []


async def test_a_banned_user_gets_no_word_in_a_group(shop: RunningBot) -> None:
    banned = Customer(shop.api, shop.tracker, BANNED)
    await banned.send("/start")  # known to the shop, then banned
    async with shop.session_factory() as session:
        assert await set_banned(session, BANNED, True)
        await session.commit()
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send(f"/ban {BANNED}")  # this replica reads the ban at once
    assert owner.texts()[-1] == en("owner.ban.already", user_id=BANNED)

    await in_group(shop, BANNED, "/start")
    await in_group(shop, BANNED, "hello")
    assert shop.api.sent_to(GROUP) == []
    before = len(banned.texts())
    await banned.send("/start")
    assert banned.texts()[before:] == [en("buyer.banned")], "in private: the one short answer"
