"""/ban and /unban through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL:
the banned user reads "access restricted" once and nothing else, is refused at pre-checkout
(even before this replica reads the ban list again), and the bans show in /stats."""

from __future__ import annotations

import html

from app.db.models import User
from app.i18n import translator
from app.services.bans import set_banned
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, invoice_amount, seed_product

en = translator("en")
ru = translator("ru")
BUYER = 7101


def plain(text: str) -> str:
    """A text as the user reads it (the entities applied): these texts have no tags."""
    return html.unescape(text)


async def test_ban_refuses_the_user_until_unban(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 5, ["KEY-1", "KEY-2"])
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    buyer = Customer(shop.api, shop.tracker, BUYER, language_code="ru")
    await buyer.send("/start")
    await buyer.press("Каталог")
    await buyer.press("Key")
    await buyer.press("Купить")
    invoice = buyer.invoices()[-1]

    await owner.send(f"/ban {BUYER}")
    assert owner.texts()[-1] == en("owner.ban.done", user_id=BUYER)
    await owner.send(f"/ban {BUYER}")
    assert owner.texts()[-1] == en("owner.ban.already", user_id=BUYER)

    before = len(buyer.texts())
    await buyer.send("/start")
    await buyer.send("/help")
    await buyer.send("hello")
    assert buyer.texts()[before:] == [ru("buyer.banned")], "one short answer, nothing else"
    answer = await buyer.press_data("anything")
    assert answer is not None and answer["text"] == ru("buyer.banned")
    verdict = await buyer.pre_checkout(invoice["payload"], invoice_amount(invoice))
    assert verdict["ok"] is False and verdict["error_message"] == ru("buyer.banned")
    assert len(buyer.invoices()) == 1

    await owner.send("/stats")
    assert en("owner.stats.banned", n=1) in "\n".join(owner.texts())

    await owner.send(f"/unban {BUYER}")
    assert owner.texts()[-1] == en("owner.unban.done", user_id=BUYER)
    await owner.send(f"/unban {BUYER}")
    assert owner.texts()[-1] == en("owner.unban.already", user_id=BUYER)
    verdict = await buyer.pre_checkout(invoice["payload"], invoice_amount(invoice))
    assert verdict["ok"] is True
    before = len(buyer.texts())
    await buyer.send("/start")
    assert len(buyer.texts()) > before and ru("buyer.banned") not in buyer.texts()[before:]


async def test_pre_checkout_reads_a_ban_set_elsewhere_at_once(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Key", 5, ["KEY-1"])
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/start")
    await buyer.press("Catalog")
    await buyer.press("Key")
    await buyer.press("Buy")
    invoice = buyer.invoices()[-1]
    # Banned from the panel (another process): this bot's ban list is not read again yet.
    async with shop.session_factory() as session:
        assert await set_banned(session, BUYER, True)
        await session.commit()
    verdict = await buyer.pre_checkout(invoice["payload"], invoice_amount(invoice))
    assert verdict == {"ok": False, "error_message": en("buyer.banned")}


async def test_ban_input_errors(shop: RunningBot) -> None:
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    for command in ("/ban", "/ban abc", "/ban -5", "/ban 0", "/ban 1 2", "/ban ١٢٣"):
        await owner.send(command)
        assert owner.texts()[-1] == plain(en("owner.ban.usage")), command
    await owner.send("/unban x")
    assert owner.texts()[-1] == plain(en("owner.unban.usage"))
    await owner.send(f"/ban {ADMIN_ID}")
    assert owner.texts()[-1] == en("owner.ban.owner")
    await owner.send("/unban 424242")
    assert owner.texts()[-1] == en("owner.error.unknown_user", user_id=424242)
    await owner.send("/stats")
    assert en("owner.stats.banned", n=0) in "\n".join(owner.texts())


async def test_a_user_who_never_wrote_can_be_banned_in_advance(shop: RunningBot) -> None:
    """A known scammer's id: banned before their first /start, which is then refused."""
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/ban 424242")
    assert owner.texts()[-1] == en("owner.ban.done", user_id=424242)
    await owner.send("/ban 424242")
    assert owner.texts()[-1] == en("owner.ban.already", user_id=424242)
    await owner.send("/stats")
    assert en("owner.stats.banned", n=1) in "\n".join(owner.texts())

    scammer = Customer(shop.api, shop.tracker, 424242)
    await scammer.send("/start")
    await scammer.send("/help")
    assert scammer.texts() == [en("buyer.banned")]
    async with shop.session_factory() as session:
        user = await session.get(User, 424242)
        assert user is not None and user.banned_at is not None  # /start left the ban alone

    await owner.send("/unban 424242")
    assert owner.texts()[-1] == en("owner.unban.done", user_id=424242)
    await scammer.send("/start")
    assert scammer.texts()[-1] != en("buyer.banned")
