"""The /stats chart through the real Dispatcher and the fake Bot API, on SQLite and PostgreSQL:
a valid PNG sent with sendPhoto after the figures, counting paid and delivered orders only; the
fake Bot API's sendPhoto checks what Telegram checks; and nothing imports matplotlib until an
owner asks for /stats."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from datetime import timedelta

import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile

from app.db.base import utcnow
from app.db.models import OrderStatus
from app.handlers.admin import sales
from app.i18n import translator
from app.services.charts import chart_data
from tests.harness import ADMIN_ID, REPO_ROOT, RunningBot
from tests.shop_helpers import Customer, seed_product
from tests.test_owner_tools import BUYER, seed_cart_order, seed_order

PNG = b"\x89PNG\r\n\x1a\n"
en = translator("en")


def png_size(content: bytes) -> tuple[int, int]:
    assert content.startswith(PNG) and content[12:16] == b"IHDR"
    width, height = struct.unpack(">II", content[16:24])
    return width, height


async def test_the_top_products_count_every_line_of_a_cart_order(shop: RunningBot) -> None:
    factory = shop.session_factory
    game = await seed_product(factory, "Space Game", 100, [], slug="game")
    key = await seed_product(factory, "Office Key", 30, [], slug="key")
    now = utcnow()
    # a cart of both, 20 Stars off with a promo code: 170 charged, 3 x 30 + 100 listed
    await seed_cart_order(
        factory, [(key, 3, 30), (game, 1, 100)], OrderStatus.DELIVERED, amount=170, paid_at=now
    )
    await seed_order(factory, key, 30, OrderStatus.PAID, paid_at=now)  # a single-item order
    await seed_cart_order(factory, [(game, 2, 100)], OrderStatus.REFUNDED, paid_at=now)
    async with factory() as session:
        data = await chart_data(session, now)
    assert data.days[-1].revenue == 200, "the day's revenue is what was charged"
    assert data.days[-1].sales == 2
    assert [(p.title, p.sales, p.revenue) for p in data.top] == [
        ("Office Key", 4, 120),  # units, and the revenue before the discount
        ("Space Game", 1, 100),
    ]


async def test_stats_sends_a_png_chart(shop: RunningBot) -> None:
    factory = shop.session_factory
    game = await seed_product(factory, "Space Game", 100, [], slug="game")
    key = await seed_product(factory, "Office Key", 30, [], slug="key")
    now = utcnow()
    await seed_order(factory, game, 100, OrderStatus.DELIVERED, paid_at=now)
    await seed_order(factory, game, 100, OrderStatus.PAID, paid_at=now - timedelta(days=3))
    await seed_order(factory, key, 30, OrderStatus.DELIVERED, paid_at=now - timedelta(days=1))
    await seed_order(factory, key, 500, OrderStatus.REFUNDED, paid_at=now)
    await seed_order(factory, key, 30, OrderStatus.DELIVERED, paid_at=now - timedelta(days=40))
    async with factory() as session:
        data = await chart_data(session, now)
    assert len(data.days) == 30 and data.days[-1].day == now.date()
    assert data.days[-1].revenue == 100 and data.days[-4].revenue == 100
    assert sum(day.revenue for day in data.days) == 230, "refunded and old orders left out"
    assert [(p.title, p.sales, p.revenue) for p in data.top] == [
        ("Space Game", 2, 200),
        ("Office Key", 1, 30),
    ]

    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/stats")
    photo = owner.screen()
    assert "photo" in photo, "the chart comes last, after the figures"
    assert any("Sales" in text for text in owner.texts()[:-1])
    largest = photo["photo"][-1]
    content = shop.api.file_content(largest["file_id"])
    assert png_size(content) == (1200, 900) == (largest["width"], largest["height"])
    from matplotlib.image import imread  # noqa: PLC0415 (decodes every chunk: a valid PNG)

    assert imread(io.BytesIO(content), format="png").shape[:2] == (900, 1200)


async def test_stats_chart_of_an_empty_shop(shop: RunningBot) -> None:
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/stats")
    photo = owner.screen()["photo"][-1]
    assert png_size(shop.api.file_content(photo["file_id"])) == (1200, 900)


async def test_a_chart_that_fails_to_draw_is_one_line_for_the_owner(
    shop: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object) -> bytes:
        raise RuntimeError("no fonts")

    monkeypatch.setattr(sales, "render_png", broken)
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/stats")
    assert owner.texts()[-1] == en("owner.chart.failed")
    assert any("Sales" in text for text in owner.texts()[:-1]), "the figures came first"
    assert shop.api.calls_of("sendPhoto") == []


async def test_fake_send_photo_checks_the_image(shop: RunningBot) -> None:
    await Customer(shop.api, shop.tracker, BUYER).send("/start")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await shop.bot.send_photo(BUYER, BufferedInputFile(b"not an image", "x.png"))
    header = PNG + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 9000, 2000) + bytes(5)
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await shop.bot.send_photo(BUYER, BufferedInputFile(header, "wide.png"))
    narrow = PNG + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 2100, 100) + bytes(5)
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await shop.bot.send_photo(BUYER, BufferedInputFile(narrow, "narrow.png"))
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        big = header[:16] + struct.pack(">II", 100, 100) + bytes(11 * 1024 * 1024)
        await shop.bot.send_photo(BUYER, BufferedInputFile(big, "big.png"))


def test_the_bot_does_not_import_matplotlib() -> None:
    probe = (
        "import sys, app.cli, app.bot.factory, app.handlers, app.handlers.admin.sales;"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, check=True, timeout=120)
