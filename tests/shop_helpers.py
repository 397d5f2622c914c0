"""Helpers for shop tests: seed the catalog through the ORM, and drive the bot like a user.

Seeding writes real rows (categories, products, stock items) in committed transactions.
A :class:`Customer` acts through the fake Bot API and waits, through the harness's
:class:`~tests.harness.UpdateTracker`, until the bot has finished each update (re-raising what a
handler raised), so tests wait for exactly that, not for time.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram.types import User as TelegramUser
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import Category, ItemKind, ItemStatus, Order, Product, StockItem
from app.db.uow import transaction
from app.i18n import translator
from app.services import reservations
from tests.fake_api import FakeBotAPI
from tests.harness import UpdateTracker

__all__ = [
    "Customer",
    "SessionFactory",
    "UpdateTracker",
    "add_stock",
    "answer_of",
    "buttons",
    "buy",
    "eventually",
    "invoice_amount",
    "items_of",
    "orders_of",
    "reserve_for",
    "seed_category",
    "seed_product",
]

JSON = dict[str, Any]
en = translator("en")
SessionFactory = async_sessionmaker[AsyncSession]

# --- seeding ----------------------------------------------------------------------------------


async def seed_category(session_factory: SessionFactory, title: str, position: int = 0) -> int:
    async with session_factory() as session:
        category = Category(title=title, position=position)
        session.add(category)
        await session.commit()
        return category.id


async def add_stock(
    session_factory: SessionFactory,
    product_id: int,
    contents: Iterable[str],
    *,
    kind: ItemKind = ItemKind.TEXT,
) -> list[int]:
    """Add stock items (available) to a product; returns their ids in order."""
    async with session_factory() as session:
        items = [
            StockItem(
                product_id=product_id,
                kind=kind.value,
                content=content,
                fingerprint=hashlib.sha256(content.encode()).hexdigest(),
                status=ItemStatus.AVAILABLE.value,
            )
            for content in contents
        ]
        session.add_all(items)
        await session.commit()
        return [item.id for item in items]


async def seed_product(
    session_factory: SessionFactory,
    title: str,
    price: int,
    keys: Iterable[str] = (),
    *,
    category_id: int | None = None,
    description: str = "",
    slug: str | None = None,
    is_active: bool = True,
    low_stock_threshold: int = 0,
    kind: ItemKind = ItemKind.TEXT,
) -> int:
    """A product with its stock; ``low_stock_threshold`` defaults to 0 (no alerts) in tests."""
    async with session_factory() as session:
        count = await session.scalar(select(func.count(Product.id)))
        product = Product(
            slug=slug or f"product-{(count or 0) + 1}",
            title=title,
            description=description,
            price=price,
            category_id=category_id,
            is_active=is_active,
            low_stock_threshold=low_stock_threshold,
        )
        session.add(product)
        await session.commit()
        product_id = product.id
    await add_stock(session_factory, product_id, keys, kind=kind)
    return product_id


async def orders_of(session_factory: SessionFactory, user_id: int | None = None) -> list[Order]:
    async with session_factory() as session:
        query = select(Order).order_by(Order.id)
        if user_id is not None:
            query = query.where(Order.user_id == user_id)
        return list(await session.scalars(query))


async def items_of(session_factory: SessionFactory, product_id: int) -> list[StockItem]:
    async with session_factory() as session:
        query = select(StockItem).where(StockItem.product_id == product_id)
        return list(await session.scalars(query.order_by(StockItem.id)))


# --- driving the bot ----------------------------------------------------------------------------


def buttons(message: JSON) -> list[JSON]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


@dataclass
class Customer:
    """One user of the bot, acting through the fake Bot API."""

    api: FakeBotAPI
    tracker: UpdateTracker
    user_id: int
    language_code: str = "en"
    username: str | None = None
    charges: list[str] = field(default_factory=list)

    async def send(self, text: str) -> None:
        update = self.api.message(
            self.user_id, text, language_code=self.language_code, username=self.username
        )
        await self.tracker.wait(update["update_id"])

    def screen(self) -> JSON:
        """The bot's latest message (as last sent or edited) in this chat."""
        sent = self.api.sent_to(self.user_id)
        assert sent, f"the bot sent nothing to {self.user_id}"
        return sent[-1]

    def texts(self) -> list[str]:
        return [m.get("text") or m.get("caption") or "" for m in self.api.sent_to(self.user_id)]

    def find_button(self, label: str, message: JSON | None = None) -> tuple[JSON, JSON]:
        """The first button whose text contains ``label`` on the latest message with buttons."""
        candidates = [message] if message else reversed(self.api.sent_to(self.user_id))
        for candidate in candidates:
            if buttons(candidate):
                for button in buttons(candidate):
                    if label in button["text"]:
                        return candidate, button
                labels = [b["text"] for b in buttons(candidate)]
                raise AssertionError(f"no button with {label!r}; the buttons are {labels}")
        raise AssertionError(f"no message with buttons in chat {self.user_id}")

    async def press(self, label: str) -> JSON | None:
        """Press a button; returns the bot's answerCallbackQuery parameters."""
        message, button = self.find_button(label)
        return await self.press_data(button["callback_data"], message_id=message["message_id"])

    async def press_data(self, data: str, *, message_id: int | None = None) -> JSON | None:
        update = self.api.callback_query(
            self.user_id, data, message_id=message_id, language_code=self.language_code
        )
        await self.tracker.wait(update["update_id"])
        return answer_of(self.api, update)

    def invoices(self) -> list[JSON]:
        return [p for p in self.api.calls_of("sendInvoice") if p["chat_id"] == self.user_id]

    async def pre_checkout(self, payload: str, amount: int, currency: str = "XTR") -> JSON:
        update = self.api.pre_checkout_query(
            self.user_id, payload, amount, currency, language_code=self.language_code
        )
        await self.tracker.wait(update["update_id"])
        return self.api.pre_checkout_answers[update["pre_checkout_query"]["id"]]

    def payment_update(self, payload: str, amount: int, charge_id: str) -> JSON:
        """Build (without pushing) the successful_payment update, to push it more than once."""
        return self.api.build_successful_payment(
            self.user_id, payload, amount, charge_id, language_code=self.language_code
        )

    async def pay(self, payload: str, amount: int, charge_id: str | None = None) -> str:
        charge_id = charge_id or f"charge-{self.user_id}-{len(self.charges) + 1}"
        self.charges.append(charge_id)
        update = self.payment_update(payload, amount, charge_id)
        self.api.push_update(update)
        await self.tracker.wait(update["update_id"])
        return charge_id


def answer_of(api: FakeBotAPI, update: JSON) -> JSON | None:
    query_id = update["callback_query"]["id"]
    answers = [
        p for p in api.calls_of("answerCallbackQuery") if str(p["callback_query_id"]) == query_id
    ]
    return answers[-1] if answers else None


def invoice_amount(invoice: JSON) -> int:
    prices: Sequence[JSON] = invoice["prices"]
    return sum(int(price["amount"]) for price in prices)


async def buy(buyer: Customer, title: str) -> tuple[str, int]:
    """From /start to the invoice; returns the invoice payload and amount."""
    await buyer.send("/start")
    await buyer.press(en("buyer.menu.catalog"))
    if not any(title in b["text"] for b in buttons(buyer.screen())):
        await buyer.press(en("buyer.catalog.other"))
    await buyer.press(title)
    answer = await buyer.press("Buy")
    assert answer is not None
    invoice = buyer.invoices()[-1]
    return invoice["payload"], invoice_amount(invoice)


async def reserve_for(session_factory: SessionFactory, user_id: int, product_id: int) -> str:
    """A reservation made through the service (no chat), as Buy makes it; its payload."""
    user = TelegramUser(id=user_id, is_bot=False, first_name=f"Buyer{user_id}", language_code="en")
    async with transaction(session_factory) as session:
        reservation = await reservations.reserve(
            session, buyer=user, product_id=product_id, minutes=15
        )
    assert reservation.invoice is not None, reservation.status
    return reservation.invoice.payload


# ASYNC109: a deadline for the harness, so that a stuck worker fails the test; never timing.
async def eventually(
    check: Callable[[], Awaitable[bool]],
    what: str,
    timeout: float = 30.0,  # noqa: ASYNC109
) -> None:
    """Poll ``check`` until it holds: the state of background work (the money worker, the
    reconciliation) is in the database, which sends no events."""
    try:
        async with asyncio.timeout(timeout):
            for _ in itertools.count():
                if await check():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None
