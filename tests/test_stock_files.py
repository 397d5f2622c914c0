"""Stock files as sellers make them: CSV headers and delimiters, malformed CSV, oversized
fields, downloads that fail, and large imports in short transactions (a buyer's write on SQLite
never waits for a whole file), with the counts for the whole file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event
from sqlalchemy.engine import URL

from app.services import stock
from app.stock_import import import_items
from tests.fake_api import FakeBotAPI
from tests.harness import ADMIN_ID, RunningBot, make_settings, running_bot
from tests.shop_helpers import Customer, SessionFactory, add_stock, items_of, seed_product

BUYER_BUSY_TIMEOUT = 3.0  # seconds
HEADER_NOTE = "is a column header: it was not added"
DOWNLOAD_FAILED = (
    "Telegram did not let me download the file, so nothing was added. Please send it again."
)


@pytest.fixture
async def shop_sqlite(fake_api: FakeBotAPI, sqlite_url: URL) -> AsyncIterator[RunningBot]:
    async with running_bot(fake_api, make_settings(sqlite_url, fake_api.url)) as running:
        yield running


def _admin(shop: RunningBot) -> Customer:
    return Customer(shop.api, shop.tracker, ADMIN_ID)


async def _send_file(admin: Customer, content: bytes, name: str, caption: str = "") -> None:
    document = admin.api.add_file(
        content, name, "text/csv" if name.endswith(".csv") else "text/plain"
    )
    update = admin.api.message(ADMIN_ID, caption, document=document)
    await admin.tracker.wait(update["update_id"])


async def _contents(shop: RunningBot, product_id: int) -> list[str]:
    return sorted(item.content for item in await items_of(shop.session_factory, product_id))


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "header", "items"),
    [
        ("key\nK1\nK2\n", "key", ["K1", "K2"]),
        ("License Key,Email\nK1,a@b.c\n", "License Key", ["K1"]),
        ('"#code",note\nK1,x\n', "#code", ["K1"]),
        ("\n\nserial_number;buyer\nK1;x\nK2;y\n", "serial_number", ["K1", "K2"]),  # ; from Excel
        ("Ключ\tОписание\nK1\tx\n", "Ключ", ["K1"]),
        ("K1,code\nK2,x\n", None, ["K1", "K2"]),  # a key first: nothing skipped
        ("code-1234\ncode\n", None, ["code-1234", "code"]),  # only the first row may be one
    ],
)
def test_a_header_row_is_detected_and_skipped(
    text: str, header: str | None, items: list[str]
) -> None:
    parsed = stock.parse_upload(text, csv_format=True)
    assert (parsed.header, parsed.items) == (header, items)


def test_the_header_can_be_forced_either_way() -> None:
    assert stock.parse_upload("key\nK1\n", csv_format=True, header="keep").items == ["key", "K1"]
    skipped = stock.parse_upload("FIRST-KEY\nK1\n", csv_format=True, header="skip")
    assert (skipped.header, skipped.items) == ("FIRST-KEY", ["K1"])
    assert stock.parse_upload("key\nK1\n").items == ["key", "K1"]  # a .txt has no header


def test_quoted_fields_may_hold_delimiters_and_line_breaks() -> None:
    parsed = stock.parse_upload('"K,1",x\n"login: a\npassword: b",y\n', csv_format=True)
    assert parsed.items == ["K,1", "login: a\npassword: b"]


@pytest.mark.parametrize(
    ("text", "line", "too_large"),
    [
        ('K1\n"K2\nK3\n', 2, False),  # a quote never closed: the row that opens it
        ('K1,x\n"K2"oops,y\n', 2, False),
        ("K1\n" + "A" * (stock.MAX_CSV_FIELD + 1) + "\n", 2, True),
        ('K1\n"' + "A" * (stock.MAX_CSV_FIELD + 1) + "\n", 2, True),  # an open quote swallows all
    ],
)
def test_a_malformed_csv_file_names_the_line(text: str, line: int, too_large: bool) -> None:
    with pytest.raises(stock.MalformedCsvError) as caught:
        stock.parse_upload(text, csv_format=True)
    assert (caught.value.line, caught.value.too_large) == (line, too_large)


# --- through the bot ----------------------------------------------------------------------------


async def test_a_csv_header_is_not_sold_and_the_owner_is_told(shop: RunningBot) -> None:
    admin = _admin(shop)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    await _send_file(admin, b"License key;Note\nK1;a\nK2;b\n", "keys.csv", "/stock game-key")
    reply = admin.texts()[-1]
    assert reply.startswith("Game key: added 2, duplicates rejected 0")
    assert f"The first row “License key” {HEADER_NOTE}" in reply
    assert await _contents(shop, product_id) == ["K1", "K2"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b'K1\n"K2,x\nK3\n',
            "This CSV file cannot be read at line 2 (a quote that is not closed, or text "
            "after a closing quote), so nothing was added.",
        ),
        (
            b"K1\n" + b"A" * (200 * 1024) + b"\nK3\n",
            "Line 2 of this CSV file has a field over 128 KiB, so nothing was added.",
        ),
    ],
    ids=["open-quote", "huge-field"],
)
async def test_a_malformed_csv_file_gets_a_clear_reply_and_adds_nothing(
    shop: RunningBot, content: bytes, expected: str
) -> None:
    admin = _admin(shop)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    await admin.send("/stock game-key")
    await _send_file(admin, content, "keys.csv")
    assert admin.texts()[-1].startswith(expected)
    assert await items_of(shop.session_factory, product_id) == []


async def test_a_failing_download_gets_a_reply(shop: RunningBot) -> None:
    admin = _admin(shop)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    failures = [
        lambda: shop.api.fail_next("getFile", 400, "Bad Request: invalid file_id"),
        lambda: shop.api.fail_next("getFile", 500, "Internal Server Error"),
        lambda: shop.api.fail_next(  # a proxy's page, not the Bot API's JSON
            "getFile", 502, "Bad Gateway", page="<html><h1>502 Bad Gateway</h1></html>"
        ),
        lambda: shop.api.fail_downloads(404),
        lambda: shop.api.fail_downloads(500),
    ]
    for fail in failures:
        fail()
        await _send_file(admin, b"K1\nK2\n", "keys.txt", "/stock game-key")
        assert admin.texts()[-1] == DOWNLOAD_FAILED
    assert await items_of(shop.session_factory, product_id) == []
    await _send_file(admin, b"K1\nK2\n", "keys.txt", "/stock game-key")  # and then it works
    assert admin.texts()[-1].startswith("Game key: added 2")


# --- large imports ------------------------------------------------------------------------------


async def test_counts_are_for_the_whole_upload_across_batches(
    session_factory: SessionFactory,
) -> None:
    product_id = await seed_product(session_factory, "Key", 10, slug="key")
    await add_stock(session_factory, product_id, [f"K{n:05d}" for n in range(0, 1200, 3)])
    lines = [f"K{n:05d}" for n in range(1200)] + ["", "  "] + [f"K{n:05d}" for n in range(100)]
    commits = 0

    async with session_factory() as session:

        def count(_connection: object) -> None:
            nonlocal commits
            commits += 1

        event.listen(session.sync_session, "after_commit", count)
        result = await import_items(
            session, product_id, stock.read_upload("\n".join(lines)), batch_rows=250
        )
    assert (result.added, result.duplicates, result.blank) == (800, 500, 2)
    assert commits >= 1200 // 250  # a transaction per batch, not one for the whole file
    assert len(await items_of(session_factory, product_id)) == 1200


async def test_a_buyers_write_never_waits_for_a_whole_file_on_sqlite(
    shop_sqlite: RunningBot,
) -> None:
    """A 2 MB file imported through the bot while a buyer writes from another connection:
    every one of the buyer's writes gets through within its busy timeout.

    A write waits for one batch at most (about 0.1 s); the timeout leaves room for a loaded
    machine's fsync stalls, and is still far below the whole file's time in one transaction
    (over 10 s here), which is what made buyers fail with "database is locked"."""
    shop = shop_sqlite
    admin = _admin(shop)
    product_id = await seed_product(shop.session_factory, "Game key", 10, slug="game-key")
    keys = [f"KEY-{n:08d}-ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123" for n in range(50_000)]  # over 2 MB
    data = ("\n".join(keys) + "\n").encode()
    assert len(data) > 2 * 1024 * 1024
    database = str(shop.settings.database_url.database)

    stop = threading.Event()
    failures: list[str] = []
    writes = 0

    def buyer() -> None:
        nonlocal writes
        connection = sqlite3.connect(database, timeout=BUYER_BUSY_TIMEOUT, isolation_level=None)
        try:
            while not stop.is_set():
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.execute(
                        "UPDATE products SET low_stock_threshold = low_stock_threshold "
                        "WHERE id = ?",
                        (product_id,),
                    )
                    connection.execute("COMMIT")
                    writes += 1
                except sqlite3.OperationalError as exc:
                    failures.append(str(exc))
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                stop.wait(0.02)
        finally:
            connection.close()

    thread = threading.Thread(target=buyer)
    document = shop.api.add_file(data, "keys.txt")
    update = shop.api.message(ADMIN_ID, "/stock game-key", document=document)
    thread.start()
    try:
        await shop.tracker.wait(update["update_id"], timeout=300)
    finally:
        stop.set()
        await asyncio.to_thread(thread.join)
    assert failures == []  # no "database is locked"
    assert writes > 0
    assert admin.texts()[-1].startswith("Game key: added 50000, duplicates rejected 0")
    assert len(await items_of(shop.session_factory, product_id)) == 50_000
