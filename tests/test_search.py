"""Search through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL: a word of a
description finds its product, case-insensitively and in any language, results are paged, and on
PostgreSQL the full-text GIN index serves the query."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL

from app.db.engine import create_engine, create_session_factory
from app.db.migrate import migrate
from app.db.uow import read
from app.i18n import translator
from app.keyboards.buyer import SearchCb
from app.services.catalog import PAGE_SIZE
from app.services.search import search, search_words
from tests.harness import RunningBot, make_settings
from tests.query_plans import PLAN_MODES, StatementRecorder, describe, explain, nodes, seq_scanned
from tests.shop_helpers import Customer, buttons, seed_product

en = translator("en")
BUYER = 7301


def labels(message: dict[str, object]) -> list[str]:
    return [button["text"] for button in buttons(message)]  # type: ignore[arg-type]


async def test_search_finds_a_product_by_a_word_of_its_description(shop: RunningBot) -> None:
    factory = shop.session_factory
    await seed_product(
        factory, "Stellar Quest", 50, ["K1"], description="An open-world SPACE adventure"
    )
    await seed_product(factory, "Ключ Офиса", 30, ["K2"], description="Лицензия на год")
    await seed_product(factory, "Hidden", 10, ["K3"], description="space", is_active=False)
    await seed_product(factory, "Farm Days", 20, [], description="relaxing farming")
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/search space")
    screen = buyer.screen()
    assert screen["text"] == "🔍 Products with “space”:"
    assert [label for label in labels(screen) if "⭐" in label] == ["Stellar Quest · 50 ⭐"]

    await buyer.send("/search ЛИЦЕНЗ")  # the start of a word, in capitals
    assert any("Ключ Офиса" in label for label in labels(buyer.screen()))
    await buyer.send("/search farm relax")  # every word, each the start of one
    found = labels(buyer.screen())
    assert any("Farm Days" in label for label in found), found
    await buyer.send("/search farm space")
    assert buyer.screen()["text"] == en("buyer.search.nothing", words="farm space")

    await buyer.send("/start")
    await buyer.press("Search")
    assert buyer.screen()["text"] == "Send the words to look for in the products' titles and " + (
        "descriptions (or /search <words>)."
    )
    await buyer.send("adventure")
    assert any("Stellar Quest" in label for label in labels(buyer.screen()))
    await buyer.press("Stellar Quest")
    assert "Stellar Quest" in buyer.screen()["text"]


async def test_search_results_are_paged(shop: RunningBot) -> None:
    for i in range(PAGE_SIZE + 3):
        await seed_product(shop.session_factory, f"Game {i:02d}", 5, ["K"], description="retro")
    buyer = Customer(shop.api, shop.tracker, BUYER)
    await buyer.send("/search Retro")
    first = labels(buyer.screen())
    assert sum("⭐" in label for label in first) == PAGE_SIZE
    assert "Page 1 of 2" in buyer.screen()["text"]
    await buyer.press("Next")
    second = [label for label in labels(buyer.screen()) if "⭐" in label]
    assert second == [f"Game {i:02d} · 5 ⭐" for i in range(PAGE_SIZE, PAGE_SIZE + 3)]
    # A forged page far past the end shows the last page.
    await buyer.press_data(SearchCb(page=500).pack(), message_id=buyer.screen()["message_id"])
    assert "Page 2 of 2" in buyer.screen()["text"]


async def test_a_pager_without_a_search_is_stale(shop: RunningBot) -> None:
    buyer = Customer(shop.api, shop.tracker, BUYER)
    answer = await buyer.press_data(SearchCb(page=1).pack())
    assert answer is not None and answer["text"] == en("buyer.search.expired")


def test_search_words() -> None:
    assert search_words("  Space,   ADVENTURE! space ") == ["space", "adventure"]
    assert search_words("'; DROP TABLE products; --") == ["drop", "table", "products"]
    assert search_words("a:* & b | !c") == ["a", "b", "c"]
    assert search_words("x" * 100) == ["x" * 32]
    assert len(search_words(" ".join(f"w{i}" for i in range(20)))) == 8
    assert search_words("!!!") == []


async def test_the_gin_index_serves_search_on_postgresql(pg_url: URL) -> None:
    """The service's own statement, as the bot runs it, planned for its values and as the
    generic plan a prepared statement switches to: the GIN index, never a scan of products."""
    engine = create_engine(pg_url)
    try:
        await migrate(engine, make_settings(pg_url))
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "INSERT INTO products (slug, title, description, price) "
                    "SELECT 'p-' || g, 'Product ' || g, 'common words ' || md5(g::text), 5 "
                    "FROM generate_series(1, 20000) AS g"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO products (slug, title, description, price) "
                    "VALUES ('needle', 'Needle', 'a unique zanzibar key', 5)"
                )
            )
            await conn.commit()
            await conn.execute(text("ANALYZE products"))
        recorder = StatementRecorder(engine)
        try:
            recorder.step("search")
            async with create_session_factory(engine)() as session, read(session):
                found = await search(session, search_words("Zanzibar"), 0)
            recorder.step(None)
        finally:
            recorder.close()
    finally:
        await engine.dispose()
    assert [item.title for item in found.items] == ["Needle"]
    [statement] = recorder.statements
    driver = await asyncpg.connect(pg_url.set(drivername="postgresql").render_as_string(False))
    try:
        for mode in PLAN_MODES:
            plan = await explain(driver, statement, mode)
            used = {node.get("Index Name") for node in nodes(plan)}
            assert "ix_products_search" in used, f"{mode}\n{describe(plan)}"
            assert "products" not in seq_scanned(plan), f"{mode}\n{describe(plan)}"
    finally:
        await driver.close()
