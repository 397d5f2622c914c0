"""Read-only screens on PostgreSQL run their SELECTs in autocommit: one round trip each, no
BEGIN and COMMIT around them. Writes keep their transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL

from app.i18n import translator
from app.keyboards.buyer import MenuCb
from tests.fake_api import FakeBotAPI
from tests.harness import make_settings, running_bot
from tests.shop_helpers import Customer, seed_product

en = translator("en")


async def test_screens_read_without_a_transaction_and_writes_keep_theirs(
    pg_url: URL, fake_api: FakeBotAPI
) -> None:
    async with running_bot(fake_api, make_settings(pg_url, fake_api.url)) as shop:
        await seed_product(shop.session_factory, "Key", 10, ["K1", "K2"])
        engine = shop.dispatcher["engine"]
        seen: list[tuple[str, str, bool]] = []
        step = {"name": ""}

        def record(connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
            dbapi = connection.connection.dbapi_connection
            in_transaction = bool(dbapi._transaction is not None or not dbapi.autocommit)
            seen.append((step["name"], sql.split(maxsplit=1)[0], in_transaction))

        event.listen(engine.sync_engine, "before_cursor_execute", record)
        buyer = Customer(shop.api, shop.tracker, 2001)
        step["name"] = "start"
        await buyer.send("/start")
        for name, action in (
            ("catalog", lambda: buyer.press(en("buyer.menu.catalog"))),
            ("card", lambda: buyer.press("Key")),
            ("buy", lambda: buyer.press("Buy")),
            ("purchases", lambda: buyer.press_data(MenuCb(action="purchases").pack())),
        ):
            step["name"] = name
            await action()
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    reads = [entry for entry in seen if entry[0] in {"catalog", "card", "purchases"}]
    assert reads and all(kind == "SELECT" and not tx for _, kind, tx in reads), reads
    for name in ("start", "buy"):
        steps = [(kind, tx) for step_name, kind, tx in seen if step_name == name]
        first_write = next(i for i, (kind, _) in enumerate(steps) if kind != "SELECT")
        # before the handler's write block, only the ban middleware's read (autocommit SELECTs);
        # from the block's first write on, every statement is inside its transaction
        assert all(kind == "SELECT" and not tx for kind, tx in steps[:first_write]), steps
        assert all(tx for _, tx in steps[first_write:]), steps
    assert "In stock: 2 items" in " ".join(buyer.texts())
