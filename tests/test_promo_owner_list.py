"""Listing the promo codes, on SQLite and PostgreSQL: /promo list pages the shop's codes with
Previous and Next and says how many there are, leaving the referral rewards out unless asked
(/promo list all); ``python -m app promo list`` prints every code, read a page at a time."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app import promo_cli
from app.i18n import translator
from app.keyboards.admin import PromoPage
from app.services.promo_list import TOTAL_CAP
from tests.big_shop import BigShop
from tests.harness import ADMIN_ID, RunningBot
from tests.promo_helpers import add_code, shown
from tests.shop_helpers import Customer, SessionFactory, buttons

en = translator("en")
PAGE = 12
COLUMNS = ("code", "kind", "value", "scope", "min_total", "owner_user_id")


def codes_in(text: str) -> list[str]:
    return [line.split(" — ")[0] for line in text.splitlines() if " — " in line]


async def test_the_list_pages_the_shop_codes_and_counts_the_rewards(shop: RunningBot) -> None:
    factory = shop.session_factory
    made = [await add_code(factory, f"SHOP{n:02d} 5") for n in range(30)]
    rewards = [await add_code(factory, f"REF{n} 10%", owner_user_id=5000 + n) for n in range(5)]
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    newest_first = made[::-1]

    await owner.send("/promo list")
    page = owner.screen()
    assert page["text"].startswith(shown(en("owner.promo.list_title", page=1, pages=3)))
    assert codes_in(page["text"]) == newest_first[:PAGE], "the shop's codes, no reward"
    assert shown(en("owner.promo.total_shop", count="30")) in page["text"]
    assert shown(en("owner.promo.rewards_hidden", count="5")) in page["text"]
    assert [b["text"] for b in buttons(page)] == [en("buyer.pager.next")]

    await owner.press(en("buyer.pager.next"))  # the page in place of the first
    page = owner.screen()
    assert page["message_id"] == owner.api.sent_to(ADMIN_ID)[-2]["message_id"]
    assert codes_in(page["text"]) == newest_first[PAGE : 2 * PAGE]
    assert [b["text"] for b in buttons(page)] == [en("buyer.pager.prev"), en("buyer.pager.next")]

    for command, number in (("/promo list 3", 3), ("/promo list 99", 3), ("/promo list 1", 1)):
        await owner.send(command)
        assert owner.texts()[-1].startswith(f"Promo codes (newest first), page {number} of 3")
    await owner.send("/promo list 3")
    assert codes_in(owner.texts()[-1]) == newest_first[2 * PAGE :]

    await owner.send("/promo list all")
    listing = owner.texts()[-1]
    assert listing.startswith("Promo codes (newest first), page 1 of 3")
    assert codes_in(listing) == [*rewards[::-1], *newest_first[: PAGE - 5]]
    assert shown(en("owner.promo.rewards_listed", count="5")) in listing
    await owner.send("/promo list 3 all")
    assert codes_in(owner.texts()[-1]) == newest_first[2 * PAGE - 5 :]  # after the 5 rewards

    for bad in ("/promo list nope", "/promo list 0", "/promo list 1 2", "/promo list all all"):
        await owner.send(bad)
        assert owner.texts()[-1] == shown(en("owner.promo.usage")), bad
    answer = await owner.press_data(PromoPage(page=7, rewards=False).pack())
    assert answer is not None and owner.texts()[-1].startswith("Promo codes (newest first), page 3")


async def test_only_rewards_and_none_at_all(shop: RunningBot) -> None:
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/promo list")
    assert owner.texts()[-1] == shown(en("owner.promo.empty"))
    await add_code(shop.session_factory, "REF1 10%", owner_user_id=5001)
    await owner.send("/promo list")
    assert owner.texts()[-1] == shown(
        en("owner.promo.empty") + "\n" + en("owner.promo.rewards_hidden", count="1")
    )
    await owner.send("/promo list all")
    assert codes_in(owner.texts()[-1]) == ["REF1"]


async def _bulk_codes(engine: AsyncEngine, count: int, *, prefix: str, owner: int | None) -> None:
    rows = ((f"{prefix}{n:06d}", "fixed", 1, "shop", 0, owner) for n in range(count))
    await BigShop(engine.url).insert("promo_codes", COLUMNS, rows)


async def test_the_cli_prints_every_code_a_page_at_a_time(
    engine: AsyncEngine, session_factory: SessionFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """More codes than any cap the listing had: all printed, newest first, each page one query
    of at most 1000 codes."""
    total = TOTAL_CAP + 50
    await _bulk_codes(engine, total - 100, prefix="C", owner=None)
    await _bulk_codes(engine, 100, prefix="R", owner=5000)  # rewards, listed too
    queries: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "FROM promo_codes" in sql:
            queries.append(sql)

    capsys.readouterr()
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        code = await promo_cli.listing(argparse.Namespace(), session_factory)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    printed = [line.split()[0] for line in lines[2:]]
    expected = [f"R{n:06d}" for n in reversed(range(100))]
    expected += [f"C{n:06d}" for n in reversed(range(total - 100))]
    assert printed == expected
    assert lines[2].split()[-1] == "5000" and lines[-1].split()[-1] == "-"  # for_user
    assert len(queries) == total // promo_cli.PAGE + 1
    assert all("LIMIT" in sql for sql in queries)
