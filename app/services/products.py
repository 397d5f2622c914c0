"""Categories and products: validated creation and editing, shared by the bot and the CLI.

Validation failures raise :class:`ShopInputError` with a ``code`` (the text key under
``owner.error`` in the catalogs) and its parameters, so each front end words them itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Category, ItemStatus, Product, StockItem

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MAX_SLUG = 64
# Telegram rejects an invoice whose title is over 32 characters or description over 255.
MAX_TITLE = 32
MAX_DESCRIPTION_INPUT = 255
MAX_CATEGORY = 64
# Not a Telegram limit: a price this high is surely a typo (the bound of a fixed promo value).
MAX_PRICE = 100_000
# The most Stars one invoice can ask for, so the most a product (and a whole order) may cost.
# Telegram documents no maximum for a one-off invoice; 10000 is the cap the Bot API documents
# for the other Star prices a bot sets (createInvoiceLink: "Subscription price must no exceed
# 10000 Telegram Stars"; createChatSubscriptionInviteLink and transferBusinessAccountStars:
# 1-10000), assumed to hold for sendInvoice too. The fake Bot API (tests/fake_api/payments.py,
# STARS_MAX) keeps its own copy; a test checks that both agree.
STARS_INVOICE_MAX = 10_000
EDITABLE_FIELDS = ("title", "description", "price", "category", "active")


class ShopInputError(ValueError):
    """Input an owner can correct. ``code`` names the text ``owner.error.<code>``."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def parse_slug(raw: str) -> str:
    slug = raw.strip()
    if not SLUG_RE.fullmatch(slug):
        raise ShopInputError("bad_slug", slug=slug[:MAX_SLUG], n=MAX_SLUG)
    return slug


def parse_price(raw: str | int) -> int:
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or int(text) <= 0:
        raise ShopInputError("bad_price", price=text[:20], max=STARS_INVOICE_MAX)
    price = int(text)
    if price > STARS_INVOICE_MAX:  # nobody could ever pay for it
        raise ShopInputError("bad_price", price=text[:20], max=STARS_INVOICE_MAX)
    return price


def parse_title(raw: str) -> str:
    title = " ".join(raw.split())
    if not title or len(title) > MAX_TITLE:
        raise ShopInputError("bad_title", n=MAX_TITLE)
    return title


def parse_description(raw: str) -> str:
    description = raw.strip()
    if description == "-":
        return ""
    if len(description) > MAX_DESCRIPTION_INPUT:
        raise ShopInputError("bad_description", n=MAX_DESCRIPTION_INPUT)
    return description


def parse_category_title(raw: str) -> str:
    title = " ".join(raw.split())
    if not title or len(title) > MAX_CATEGORY:
        raise ShopInputError("bad_category", n=MAX_CATEGORY)
    return title


def parse_active(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "yes", "on", "true", "да", "вкл"}:
        return True
    if value in {"0", "no", "off", "false", "нет", "выкл"}:
        return False
    raise ShopInputError("bad_active")


async def find_category(session: AsyncSession, title: str) -> Category | None:
    """The category of that name, ignoring case (compared here: SQLite's lower() is ASCII-only)."""
    wanted = title.casefold()
    return next((c for c in await list_categories(session) if c.title.casefold() == wanted), None)


async def create_category(session: AsyncSession, raw_title: str) -> Category:
    title = parse_category_title(raw_title)
    if await find_category(session, title) is not None:
        raise ShopInputError("category_exists", title=title)
    category = Category(title=title)
    try:
        async with session.begin_nested():
            session.add(category)
    except IntegrityError:  # created concurrently
        raise ShopInputError("category_exists", title=title) from None
    return category


async def get_or_create_category(session: AsyncSession, raw_title: str) -> Category:
    title = parse_category_title(raw_title)
    found = await find_category(session, title)
    if found is not None:
        return found
    try:
        return await create_category(session, title)
    except ShopInputError:
        found = await find_category(session, title)
        if found is None:
            raise
        return found


async def list_categories(session: AsyncSession) -> list[Category]:
    stmt = select(Category).order_by(Category.position, Category.title)
    return list(await session.scalars(stmt))


async def product_by_slug(session: AsyncSession, slug: str) -> Product | None:
    return (await session.scalars(select(Product).where(Product.slug == slug.strip()))).first()


async def require_product(session: AsyncSession, slug: str) -> Product:
    product = await product_by_slug(session, slug)
    if product is None:
        raise ShopInputError("unknown_product", slug=slug.strip()[:MAX_SLUG])
    return product


async def ensure_slug_free(session: AsyncSession, slug: str) -> str:
    slug = parse_slug(slug)
    if await product_by_slug(session, slug) is not None:
        raise ShopInputError("slug_taken", slug=slug)
    return slug


async def create_product(
    session: AsyncSession,
    *,
    slug: str,
    title: str,
    price: str | int,
    category: str | None = None,
    description: str = "",
) -> Product:
    """Validate everything, then add the product (and its category when new); flushes."""
    slug = await ensure_slug_free(session, slug)
    product = Product(
        slug=slug,
        title=parse_title(title),
        price=parse_price(price),
        description=parse_description(description),
    )
    if category is not None and category.strip() not in {"", "-"}:
        product.category_id = (await get_or_create_category(session, category)).id
    try:
        async with session.begin_nested():
            session.add(product)
    except IntegrityError:  # the same slug was taken concurrently
        raise ShopInputError("slug_taken", slug=slug) from None
    return product


async def update_product(session: AsyncSession, product: Product, field: str, raw: str) -> None:
    """Set one editable field from the owner's text; flushes."""
    if field == "title":
        product.title = parse_title(raw)
    elif field == "description":
        product.description = parse_description(raw)
    elif field == "price":
        product.price = parse_price(raw)
    elif field == "category":
        name = raw.strip()
        found = None if name in {"", "-"} else await get_or_create_category(session, name)
        product.category_id = None if found is None else found.id
    elif field == "active":
        product.is_active = parse_active(raw)
    else:
        raise ShopInputError("bad_field", fields=", ".join(EDITABLE_FIELDS))
    await session.flush()


@dataclass(frozen=True)
class OwnerProductRow:
    id: int
    slug: str
    title: str
    price: int
    category: str | None
    is_active: bool
    low_stock_threshold: int
    available: int
    reserved: int
    sold: int

    @property
    def low_stock(self) -> bool:
        return self.is_active and self.available <= self.low_stock_threshold


def _count(status: ItemStatus) -> Any:
    return func.coalesce(func.sum(case((StockItem.status == status.value, 1), else_=0)), 0)


async def product_rows(
    session: AsyncSession, product_id: int | None = None
) -> list[OwnerProductRow]:
    """Products (all, or the one) with category and stock counts, by category then slug."""
    stmt = (
        select(
            Product.id,
            Product.slug,
            Product.title,
            Product.price,
            Category.title,
            Product.is_active,
            Product.low_stock_threshold,
            _count(ItemStatus.AVAILABLE),
            _count(ItemStatus.RESERVED),
            _count(ItemStatus.SOLD),
        )
        .outerjoin(Category, Category.id == Product.category_id)
        .outerjoin(StockItem, StockItem.product_id == Product.id)
        .group_by(Product.id, Category.id)
        .order_by(Category.title.is_(None), Category.title, Product.slug)
    )
    if product_id is not None:
        stmt = stmt.where(Product.id == product_id)
    return [OwnerProductRow(*row) for row in await session.execute(stmt)]
