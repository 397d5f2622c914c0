"""Forged callback data (any bytes a client sends as a button's data) is answered politely, as a
stale button: no database error, and no 500 in webhook mode (Telegram would redeliver it)."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy.engine import URL

from app.i18n import translator
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, answer_of, seed_product
from tests.test_webhook import post, replica, wait_healthy, webhook_settings

STALE = translator("en")("buyer.fallback.stale_button")
HUGE = "99999999999"  # past PostgreSQL's integer
BEYOND_64_BITS = str(2**64)  # past what SQLite can bind

BUYER_DATA = [
    f"b-prod:{HUGE}:0",
    f"b-prod:{BEYOND_64_BITS}:0",
    "b-prod:-5:0",
    "b-prod:1:-1",
    f"b-prod:1:{HUGE}",
    f"b-buy:{HUGE}",
    f"b-buy:{BEYOND_64_BITS}",
    "b-buy:0",
    f"b-prods:{HUGE}:0",
    f"b-prods:0:{BEYOND_64_BITS}",
    f"b-cats:{HUGE}",
    "b-cats:-3",
    f"b-my:{BEYOND_64_BITS}",
    f"b-resend:{HUGE}:0",
    f"b-resend:{BEYOND_64_BITS}:0",
    "b-menu:delete_everything",
    f"b-watch:{HUGE}:on:0",
    f"b-watch:{BEYOND_64_BITS}:off:0",
    "b-watch:1:always:0",
    "b-watch:0:on:0",
    f"b-watch:1:on:{HUGE}",
    f"b-unwatch:{HUGE}",
    "b-unwatch:-1",
]
OWNER_DATA = [
    f"admp:{HUGE}",
    f"admp:{BEYOND_64_BITS}",
    f"adme:{HUGE}:title",
    "adme:1:owner_ids",
    "adm:drop_tables",
]


async def test_forged_presses_are_stale_buttons(shop: RunningBot) -> None:
    await seed_product(shop.session_factory, "Game key", 10, ["K1"], slug="game-key")
    buyer = Customer(shop.api, shop.tracker, 3101)
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await buyer.send("/start")
    for who, data in [(buyer, d) for d in BUYER_DATA] + [(owner, d) for d in OWNER_DATA]:
        answer = await who.press_data(data)  # a handler's error would fail here
        assert answer is not None, data
        assert answer.get("text") == STALE, data
        assert answer.get("show_alert") is True, data
    # The shop still works for both.
    await buyer.send("/start")
    await buyer.press("Catalog")
    assert "Game key" in str(buyer.screen()["reply_markup"])


@pytest.mark.parametrize("data", [f"b-prod:{HUGE}:0", f"b-buy:{HUGE}", f"adme:{HUGE}:price"])
async def test_a_forged_press_is_200_in_webhook_mode(
    pg_url: URL, fake_api: FakeBotAPI, data: str
) -> None:
    async with (
        aiohttp.ClientSession() as client,
        replica(webhook_settings(pg_url, fake_api), migrate=True) as running,
    ):
        await wait_healthy(client, running.base)
        update = fake_api.build_callback_query(ADMIN_ID, data)
        status, _ = await post(client, running.base, update)
        assert status == 200
        answer = answer_of(fake_api, update)
        assert answer is not None and answer.get("text") == STALE
        assert running.tracker.errors == {}
