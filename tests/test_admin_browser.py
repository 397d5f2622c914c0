"""The admin panel in a real browser: Playwright drives Debian's Chromium against a real
``python -m app admin`` process on PostgreSQL, beside the real bot polling the fake Bot API.

The seller's day: a wrong password is refused and the right one lets them in; they create a
category and a product (a bad price first, refused with the bot's words), upload a stock file
with a duplicate (the report says so), see the keys masked, refund a paid order (Telegram is
asked once, even after a second click) and sign out. Screenshots of the dashboard and the
orders page are kept in the artifacts folder (``TEST_ARTIFACTS``, default: pytest's temporary
folder, ``artifacts/``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.engine import URL

from app.db.models import OrderStatus
from app.i18n import translator
from tests.admin_helpers import PASSWORD, running_panel
from tests.fake_api import FakeBotAPI
from tests.harness import BOT_TOKEN, make_settings, running_bot
from tests.shop_helpers import Customer, buttons, invoice_amount, orders_of

CHROMIUM = "/usr/bin/chromium"
BUYER = 501
KEYS = ["KEY-AAAA-0001", "KEY-BBBB-0002"]
en = translator("en")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS") or tmp_path_factory.getbasetemp() / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
        pytest.skip(f"!!! SKIPPING BROWSER TESTS: {reason}")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    # Chromium's sandbox refuses to run as root (CI machines run as root).
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=args)
        try:
            yield launched
        finally:
            await launched.close()


async def _buy(buyer: Customer, title: str) -> str:
    """The buyer's whole purchase through the bot; returns the charge id."""
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    if not any(title in b["text"] for b in buttons(buyer.screen())):
        await buyer.press("Games")
    await buyer.press(title)
    await buyer.press("Buy")
    invoice = buyer.invoices()[-1]
    amount = invoice_amount(invoice)
    answer = await buyer.pre_checkout(invoice["payload"], amount)
    assert answer["ok"] is True
    return await buyer.pay(invoice["payload"], amount)


async def _sign_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/admin/")
    await expect(page).to_have_url(f"{base}/admin/login")
    await page.fill("#password", "not the password")
    await page.click("button[type=submit]")
    await expect(page.locator(".invalid-feedback")).to_contain_text("Invalid credentials")
    await expect(page).to_have_url(f"{base}/admin/login")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("h2.page-title")).to_have_text("Dashboard")


async def _create_catalog(page: Page, base: str) -> None:
    await page.goto(f"{base}/admin/category/create")
    await page.fill("input[name=title]", "Games")
    await page.click("input[type=submit][value=Save]")
    await expect(page).to_have_url(f"{base}/admin/category/list")
    await expect(page.locator("table")).to_contain_text("Games")

    await page.goto(f"{base}/admin/product/create")
    await page.fill("input[name=slug]", "space-game")
    await page.fill("input[name=title]", "Space Game")
    await page.fill("textarea[name=description]", "A game about space")
    await page.fill("input[name=price]", "0")
    await page.fill("input[name=category]", "Games")
    await page.click("input[type=submit][value=Save]")
    await expect(page.locator(".page-body form")).to_contain_text("is not a valid price")
    await page.fill("input[name=price]", "50")
    await page.click("input[type=submit][value=Save]")
    await expect(page).to_have_url(f"{base}/admin/product/list")
    await expect(page.locator("table")).to_contain_text("space-game")


async def _upload_stock(page: Page, base: str, tmp_path: Path) -> None:
    upload = tmp_path / "keys.txt"
    upload.write_text(f"{KEYS[0]}\n{KEYS[1]}\n\n{KEYS[0]}\n")
    await page.goto(f"{base}/admin/stock")
    await page.select_option("#product", "space-game")
    await page.set_input_files("#file", str(upload))
    await page.click("#upload")
    report = page.locator("#upload-report")
    await expect(report).to_contain_text("added 2, duplicates rejected 1, blank lines skipped 1")
    await expect(page.locator("#stock-counts")).to_contain_text("space-game")

    await page.goto(f"{base}/admin/stock-item/list")
    await expect(page.locator("table")).to_contain_text("KEY-…01")
    await expect(page.locator("table")).to_contain_text("KEY-…02")
    content = await page.content()
    assert not any(key in content for key in KEYS)


async def _refund(browser: Browser, page: Page, base: str, api: FakeBotAPI, order_id: int) -> None:
    await page.goto(f"{base}/admin/order/details/{order_id}")
    await page.click("#refund")
    await expect(page.locator("#confirm-refund")).to_be_visible()
    # The same confirmation, open in a second tab: its button is a second click, later.
    second = await page.context.new_page()
    await second.goto(page.url)
    await page.dblclick("#confirm-refund")
    await expect(page.locator("#refund-report")).to_contain_text(f"Refunded 50 ⭐ to user {BUYER}")
    await expect(page.locator("#order-status")).to_have_text("refunded")
    await second.click("#confirm-refund")
    await expect(second.locator("#refund-report")).to_contain_text("already refunded")
    await second.close()
    [refund] = api.calls_of("refundStarPayment")
    assert refund["user_id"] == BUYER
    # Refunded now: the confirmation page offers no button any more.
    await page.goto(f"{base}/admin/order/refund/{order_id}")
    await expect(page.locator("#not-refundable")).to_be_visible()


async def test_a_sellers_day_in_the_browser(
    pg_url: URL, tmp_path: Path, browser: Browser, artifacts: Path
) -> None:
    async with (
        FakeBotAPI(BOT_TOKEN) as api,
        running_bot(api, make_settings(pg_url, api.url)) as shop,
        running_panel(pg_url, api.url, tmp_path) as (base, panel),
    ):
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await _sign_in(page, base)
        await _create_catalog(page, base)
        await _upload_stock(page, base, tmp_path)

        buyer = Customer(api, shop.tracker, BUYER)
        charge_id = await _buy(buyer, "Space Game")
        [order] = await orders_of(shop.session_factory, BUYER)
        assert order.status == OrderStatus.DELIVERED

        await page.goto(f"{base}/admin/")
        await expect(page.locator("#revenue-today")).to_contain_text("50 Stars")
        await expect(page.locator("#revenue-chart rect")).to_have_count(30)
        await page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)

        await page.goto(f"{base}/admin/order/list")
        await page.fill("#search-input", charge_id)
        await page.click("#search-button")
        await expect(page.locator("table")).to_contain_text(charge_id)
        await page.screenshot(path=str(artifacts / "orders.png"), full_page=True)
        content = await page.content()
        assert not any(key in content for key in KEYS)

        await _refund(browser, page, base, api, order.id)
        [refunded] = await orders_of(shop.session_factory, BUYER)
        assert refunded.status == OrderStatus.REFUNDED

        await page.click("#sign-out")
        await expect(page).to_have_url(f"{base}/admin/login")
        await page.goto(f"{base}/admin/order/list")
        await expect(page).to_have_url(f"{base}/admin/login")
        await context.close()
    assert not any(key in panel.output for key in KEYS), "delivered content in the panel's log"
    assert (artifacts / "dashboard.png").stat().st_size > 0
