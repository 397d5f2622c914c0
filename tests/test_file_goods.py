"""File goods end to end: /stockfiles turns each document an owner sends into one FILE item
(known by its file_unique_id), and a buyer who pays receives that file by sendDocument."""

from __future__ import annotations

import html
import re
from typing import Any

from app.db.models import ItemKind, ItemStatus
from app.i18n import translator
from tests.harness import ADMIN_ID, RunningBot
from tests.shop_helpers import Customer, buy, items_of, seed_product

en = translator("en")
BUYER = 2301


def said(key: str, **params: Any) -> str:
    """The English text as the user reads it (the HTML markup rendered away)."""
    return html.unescape(re.sub(r"<[^>]+>", "", en(key, **params)))


async def test_stockfiles_adds_each_document_once_and_the_buyer_gets_that_file(
    shop: RunningBot,
) -> None:
    product_id = await seed_product(shop.session_factory, "Manual", 15, slug="manual")
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/stockfiles manual")
    assert owner.texts()[-1] == said("owner.stockfiles.ask", title="Manual")

    manual = shop.api.add_file(b"%PDF- the manual", "manual.pdf", "application/pdf")
    guide = shop.api.add_file(b"%PDF- the guide", "guide.pdf", "application/pdf")
    for document in (manual, guide):
        update = shop.api.message(ADMIN_ID, "", document=document)
        await shop.tracker.wait(update["update_id"])
    assert owner.texts()[-1] == said("owner.stockfiles.added", title="Manual", available=2)
    # The same file sent again comes with another file_id, but the same file_unique_id.
    again = dict(manual, file_id=manual["file_id"] + "-resent")
    await shop.tracker.wait(shop.api.message(ADMIN_ID, "", document=again)["update_id"])
    assert owner.texts()[-1] == said("owner.stockfiles.duplicate", title="Manual")
    photo = [{"file_id": "photo-1", "file_unique_id": "p1", "width": 90, "height": 90}]
    await shop.tracker.wait(shop.api.message(ADMIN_ID, "", photo=photo)["update_id"])
    assert owner.texts()[-1] == said("owner.stockfiles.photo")
    await owner.send("a pasted key")
    assert owner.texts()[-1] == said("owner.stockfiles.not_file")
    await owner.send("/done")
    assert owner.texts()[-1] == said(
        "owner.stockfiles.done", title="Manual", added=2, duplicates=1, available=2
    )

    items = await items_of(shop.session_factory, product_id)
    assert sorted((i.kind, i.content, i.fingerprint) for i in items) == sorted(
        (ItemKind.FILE, d["file_id"], d["file_unique_id"]) for d in (manual, guide)
    )
    buyer = Customer(shop.api, shop.tracker, BUYER)
    payload, amount = await buy(buyer, "Manual")
    await buyer.pay(payload, amount)
    [sent] = shop.api.calls_of("sendDocument")
    assert sent["chat_id"] == BUYER and sent["document"] in {manual["file_id"], guide["file_id"]}
    assert sent["caption"] == en("buyer.delivery.file", title="Manual")
    [sold] = [
        i for i in await items_of(shop.session_factory, product_id) if i.status != "available"
    ]
    assert sold.status == ItemStatus.SOLD and sold.content == sent["document"]
    await owner.send("a pasted key")  # the dialog is over: the text is not taken as a file
    assert owner.texts()[-1] != said("owner.stockfiles.not_file")


async def test_stockfiles_without_a_product_says_how(shop: RunningBot) -> None:
    owner = Customer(shop.api, shop.tracker, ADMIN_ID)
    await owner.send("/stockfiles")
    assert owner.texts()[-1] == said("owner.stockfiles.usage")
    await owner.send("/stockfiles nothing-here")
    assert "nothing-here" in owner.texts()[-1]
