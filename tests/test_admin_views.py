"""The admin panel's writes over HTTP, on SQLite and PostgreSQL, as a real ``python -m app
admin`` process: products and categories through the bot's services and validation, stock
uploads with the bot's report, keys masked everywhere and revealed one at a time (logged)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy.engine import URL

from tests.admin_helpers import PanelClient, csrf_of, panel_client, running_panel
from tests.harness import migrated
from tests.schema import scalar

DEAD_API = "http://127.0.0.1:9"
KEYS = ["ALPHA-KEY-000001", "BRAVO-KEY-000002"]


async def _submit(client: PanelClient, path: str, fields: dict[str, str]) -> tuple[int, str]:
    token = await client.token(path)
    async with client.http.post(
        client.base + path, data={**fields, "csrf_token": token}, allow_redirects=False
    ) as response:
        return response.status, await response.text()


async def _upload(client: PanelClient, slug: str, name: str, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("csrf_token", await client.token("/admin/stock"))
    form.add_field("product", slug)
    form.add_field("file", data, filename=name, content_type="text/plain")
    async with client.http.post(client.base + "/admin/stock", data=form) as response:
        return response.status, await response.text()


async def test_catalog_and_stock_through_the_services(db_url: URL, tmp_path: Path) -> None:
    url = await migrated(db_url)
    async with (
        running_panel(url, DEAD_API, tmp_path) as (base, process),
        panel_client(base) as client,
    ):
        assert await client.sign_in() == 302
        status, _ = await _submit(
            client, "/admin/category/create", {"title": "Games", "position": "2"}
        )
        assert status == 302
        # The bot's validation and wording: a title over Telegram's 32 characters.
        product = {"slug": "space", "title": "S" * 33, "price": "50", "category": "Games"}
        status, page = await _submit(client, "/admin/product/create", product)
        assert status == 400 and "The title must be 1 to 32 characters long." in page
        status, _ = await _submit(client, "/admin/product/create", {**product, "title": "Space"})
        assert status == 302
        status, page = await _submit(client, "/admin/product/create", {**product, "title": "Dup"})
        assert status == 400 and "already exists" in page
        product_id = await scalar(url, "SELECT id FROM products WHERE slug = 'space'")

        # Editing: the slug is fixed, the rest goes through update_product.
        edit = f"/admin/product/edit/{product_id}"
        changed = {"slug": "space", "title": "Space 2", "price": "60", "description": "New"}
        status, page = await _submit(client, edit, {**changed, "slug": "other"})
        assert status == 400 and "cannot change" in page
        status, _ = await _submit(client, edit, {**changed, "category": "Books", "is_active": "y"})
        assert status == 302
        assert await scalar(url, "SELECT title || price || description FROM products") == (
            "Space 260New"
        )
        assert await scalar(url, "SELECT count(*) FROM categories") == 2  # Books was created
        games = await scalar(url, "SELECT id FROM categories WHERE title = 'Games'")
        await _submit(client, edit, {**changed, "category": "Games", "is_active": "y"})
        status, _ = await _submit(
            client,
            f"/admin/category/edit/{games}",
            {"title": "Video games", "position": "1", "take_off_sale": "y"},
        )
        assert status == 302
        assert await scalar(url, "SELECT is_active FROM products") in (False, 0)

        # Stock: the bot's import and report; a file that is not text is refused.
        lines = f"{KEYS[0]}\n\n{KEYS[1]}\n{KEYS[0]}\n".encode()
        status, page = await _upload(client, "space", "keys.txt", lines)
        assert status == 200
        assert "added 2, duplicates rejected 1, blank lines skipped 1" in page
        status, page = await _upload(client, "space", "again.csv", f"{KEYS[1]},x\n".encode())
        assert "added 0, duplicates rejected 1" in page
        status, page = await _upload(client, "space", "binary.txt", b"\x00\x01\xff")
        assert status == 400 and "not" in page.lower()
        assert await scalar(url, "SELECT count(*) FROM stock_items") == 2

        # Masked in the list and on the item's page; revealed only by a POST with the token.
        for path in ("/admin/stock-item/list", "/admin/stock", "/admin/"):
            page = (await client.page(path))[1]
            assert not any(key in page for key in KEYS), path
        assert "ALPH…01" in (await client.page("/admin/stock-item/list"))[1]
        item = await scalar(url, f"SELECT id FROM stock_items WHERE content = '{KEYS[0]}'")
        details = (await client.page(f"/admin/stock-item/details/{item}"))[1]
        assert KEYS[0] not in details
        reveal = f"/admin/stock-item/reveal/{item}"
        assert (await client.post(reveal, {})).status == 403
        async with client.http.post(
            base + reveal, data={"csrf_token": csrf_of(details)}, allow_redirects=False
        ) as response:
            assert response.status == 200 and KEYS[0] in await response.text()
            assert response.headers["Cache-Control"] == "no-store"
    [revealed] = [r for r in process.records() if r["event"] == "stock item revealed"]
    assert revealed["item_id"] == item
    assert not any(key in process.output for key in KEYS), "a key reached the log"
    assert "Traceback" not in process.output, "an input error is one line"
    refused = [r for r in process.records() if str(r["event"]).startswith("form refused")]
    assert len(refused) == 2  # slug taken, slug changed (the long title is the form's own check)
