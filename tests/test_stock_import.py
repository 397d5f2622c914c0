"""Stock upload: the service (parsing, duplicates, concurrent uploads) and /stock in the bot."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import select

from app.db.models import ItemStatus, StockItem
from app.i18n import translator
from app.services import stock
from app.services.stock import ImportResult
from app.stock_import import import_items
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import (
    Customer,
    SessionFactory,
    add_stock,
    items_of,
    seed_product,
)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def test_parse_upload_strips_and_counts_blank_lines() -> None:
    parsed = stock.parse_upload("  a  \n\n b\r\n\t\nc\n")
    assert (parsed.items, parsed.blank) == (["a", "b", "c"], 2)
    csv = stock.parse_upload('k1,first\n"k,2",second\n\n,empty first column\nk3\n', csv_format=True)
    assert (csv.items, csv.blank) == (["k1", "k,2", "k3"], 2)


@pytest.mark.parametrize(
    "data",
    [PNG, "café".encode("latin-1"), b"key\x00\x01\x02", "é".encode("utf-16")],
    ids=["png", "latin-1", "nul", "utf-16"],
)
def test_decode_upload_rejects_what_is_not_utf8_text(data: bytes) -> None:
    with pytest.raises(stock.NotTextError):
        stock.decode_upload(data)


def test_decode_upload_accepts_utf8_with_bom() -> None:
    assert stock.decode_upload("\ufeffключ-1\n".encode()) == "ключ-1\n"


async def test_import_rejects_duplicates_within_the_upload_and_against_stock(
    session_factory: SessionFactory,
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, ["OLD-1"], slug="key")
    other = await seed_product(session_factory, "Other", 10, ["NEW-1"], slug="other")
    async with session_factory() as session:
        upload = stock.read_upload("NEW-1\n OLD-1\nNEW-2\n\nNEW-1\n")
        result = await import_items(session, product_id, upload)
    assert result == ImportResult(added=2, duplicates=2, blank=1)
    items = await items_of(session_factory, product_id)
    assert sorted(i.content for i in items) == ["NEW-1", "NEW-2", "OLD-1"]
    for item in items:
        assert item.fingerprint == hashlib.sha256(item.content.encode()).hexdigest()
        assert item.status == ItemStatus.AVAILABLE
    assert [i.content for i in await items_of(session_factory, other)] == ["NEW-1"]

    async with session_factory() as session:
        again = await import_items(session, product_id, stock.read_upload("NEW-2\nOLD-1\n"))
    assert again == ImportResult(added=0, duplicates=2, blank=0)


async def test_concurrent_overlapping_uploads_neither_crash_nor_duplicate(
    session_factory: SessionFactory,
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, slug="key")
    first = [f"K{i}" for i in range(0, 600)]
    second = [f"K{i}" for i in range(300, 900)][::-1]

    async def upload(lines: list[str]) -> ImportResult:
        async with session_factory() as session:
            return await import_items(
                session, product_id, stock.read_upload("\n".join(lines)), batch_rows=100
            )

    results = await asyncio.gather(upload(first), upload(second))
    assert sum(r.added for r in results) == 900
    assert sum(r.duplicates for r in results) == 300
    async with session_factory() as session:
        contents = list(await session.scalars(select(StockItem.content)))
    assert len(contents) == len(set(contents)) == 900


async def test_import_bytes_adds_nothing_from_a_binary_file(
    session_factory: SessionFactory,
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, slug="key")
    with pytest.raises(stock.NotTextError):
        stock.read_upload(b"GOOD-KEY\n" + PNG)  # refused before anything is written
    assert await items_of(session_factory, product_id) == []


def _admin(shop: RunningBot) -> Customer:
    return Customer(shop.api, shop.tracker, ADMIN_ID)


async def _send_file(admin: Customer, content: bytes, name: str, caption: str = "") -> None:
    document = admin.api.add_file(content, name, "text/plain")
    update = admin.api.message(ADMIN_ID, caption, document=document)
    await admin.tracker.wait(update["update_id"])


async def test_stock_by_pasting_lines(shop: RunningBot) -> None:
    admin = _admin(shop)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    await add_stock(shop.session_factory, product_id, ["OLD"])

    await admin.send("/stock")
    assert admin.texts()[-1].startswith("Usage: /stock")
    await admin.send("/stock nope")
    assert admin.texts()[-1] == "There is no product with the slug “nope”."

    await admin.send("/stock game-key")
    assert "Send the items for Game key" in admin.texts()[-1]
    await admin.send("  K1  \n\nK2\nK1\nOLD\n\n  \nK3")
    assert admin.texts()[-1] == (
        "Game key: added 3, duplicates rejected 2, blank lines skipped 3. Available now: 4.\n"
        "Send more, or /done when all are in."
    )
    await admin.send("K3\nK3b")  # the dialog takes more until /done
    assert admin.texts()[-1].startswith("Game key: added 1, duplicates rejected 1")
    await admin.send("/done")
    assert admin.texts()[-1] == (
        "Game key: upload finished. Uploads: 2; added 4, duplicates rejected 3. Available now: 5."
    )
    # The dialog is over: more text is not stock.
    await admin.send("K4")
    assert admin.texts()[-1] == translator("en")("unknown_command")
    await admin.send("/done")
    assert admin.texts()[-1] == translator("en")("unknown_command")

    # Items on the lines after the command, in the same message.
    await admin.send("/stock game-key\nK4\nK3")
    assert admin.texts()[-1].startswith("Game key: added 1, duplicates rejected 1, blank lines")
    await admin.send("/stock game-key K5\nK6")
    assert admin.texts()[-1].startswith("Game key: added 2, duplicates rejected 0, blank lines")
    contents = sorted(i.content for i in await items_of(shop.session_factory, product_id))
    assert contents == ["K1", "K2", "K3", "K3b", "K4", "K5", "K6", "OLD"]


async def test_stock_from_txt_and_csv_documents(shop: RunningBot) -> None:
    admin = _admin(shop)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")

    # The document the command is the caption of.
    await _send_file(admin, b"F1\r\nF2\r\n\r\nF1\r\n", "keys.txt", caption="/stock game-key")
    assert admin.texts()[-1].startswith("Game key: added 2, duplicates rejected 1, blank lines")
    # /stock, then the document.
    await admin.send("/stock game-key")
    await _send_file(admin, b"code,note\nF3,x\nF2,y\n\n", "keys.csv")
    assert admin.texts()[-1] == (
        "Game key: added 1, duplicates rejected 1, blank lines skipped 1. Available now: 3.\n"
        "The first row “code” is a column header: it was not added. (To add it, send the file "
        "as .txt.)\nSend more, or /done when all are in."
    )
    await admin.send("/done")
    assert len(shop.api.calls_of("getFile")) == 2
    contents = sorted(i.content for i in await items_of(shop.session_factory, product_id))
    assert contents == ["F1", "F2", "F3"]  # the header row is not for sale


async def test_a_file_that_is_not_text_adds_nothing(shop: RunningBot) -> None:
    admin = _admin(shop)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    not_text = "This file is not UTF-8 text, so nothing was added. Send a .txt or .csv file."

    await _send_file(admin, b"GOOD-1\n" + PNG, "keys.txt", caption="/stock game-key")
    assert admin.texts()[-1] == not_text
    await admin.send("/stock game-key")
    await _send_file(admin, "ключ\n".encode("cp1251"), "keys.csv")
    assert admin.texts()[-1] == not_text
    assert await items_of(shop.session_factory, product_id) == []
