"""Search: the active products whose title or description has every word asked for.

A word matches the start of a word of the text, case-insensitively ("key" finds "Keys",
"ключ" finds "Ключи"). On PostgreSQL this is full-text search with the ``simple``
configuration (no stemming, any language) through the GIN index ``ix_products_search``, so
its cost follows the matches, not the catalog; the query repeats the indexed expression
exactly, or the planner could not use the index. SQLite scans the active products and
matches the same way in Python (its ``lower()`` knows only ASCII).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, bindparam, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Product
from app.db.uow import dialect_name
from app.services.availability import in_stock
from app.services.catalog import NOW, PAGE_SIZE, ProductListing
from app.services.paging import Page, clamp_page, paginate

MAX_WORDS = 8
MAX_WORD = 32
MAX_QUERY = 200  # characters read of what the buyer typed

# The indexed expression (see the revision that creates ix_products_search), verbatim.
SEARCH_DOCUMENT = "to_tsvector('simple'::regconfig, title || ' ' || description)"
_WORD = re.compile(r"\w+")

_PG_PAGE = (
    select(
        Product.id,
        Product.title,
        Product.price,
        in_stock(Product.id, NOW),
        func.count().over(),
    )
    .where(
        Product.is_active,
        literal_column(SEARCH_DOCUMENT).op("@@")(
            func.to_tsquery(literal_column("'simple'::regconfig"), bindparam("query", type_=String))
        ),
    )
    .order_by(Product.title, Product.id)
    .limit(PAGE_SIZE)
    .offset(bindparam("offset"))
)
_SCAN = (
    select(Product.id, Product.title, Product.price, Product.description, in_stock(Product.id, NOW))
    .where(Product.is_active)
    .order_by(Product.title, Product.id)
)


def search_words(text: str) -> list[str]:
    """The words to look for: letters and digits, lower-cased, at most MAX_WORDS of them."""
    words = [w.casefold()[:MAX_WORD] for w in _WORD.findall(text[:MAX_QUERY].replace("_", " "))]
    return list(dict.fromkeys(words))[:MAX_WORDS]


def _matches(words: list[str], title: str, description: str) -> bool:
    found = {w.casefold() for w in _WORD.findall(f"{title} {description}".replace("_", " "))}
    return all(any(have.startswith(word) for have in found) for word in words)


async def search(session: AsyncSession, words: list[str], page: int) -> Page[ProductListing]:
    """One page of the products matching every word (an empty page for no words)."""
    if not words:
        return Page([], 0, 1)
    now = utcnow()
    if dialect_name(session) != "postgresql":
        scanned = (await session.execute(_SCAN, {"now": now})).all()
        items = [
            ProductListing(id_, title, price, bool(left))
            for id_, title, price, description, left in scanned
            if _matches(words, title, description)
        ]
        return paginate(items, page, PAGE_SIZE)
    params: dict[str, Any] = {"query": " & ".join(f"{w}:*" for w in words), "now": now}
    page = max(page, 0)
    rows = (await session.execute(_PG_PAGE, params | {"offset": page * PAGE_SIZE})).all()
    if not rows and page > 0:  # past the end: the last page
        first = (await session.execute(_PG_PAGE, params | {"offset": 0})).all()
        total = int(first[0][4]) if first else 0
        page, _ = clamp_page(total, page, PAGE_SIZE)
        rows = (await session.execute(_PG_PAGE, params | {"offset": page * PAGE_SIZE})).all()
    total = int(rows[0][4]) if rows else 0
    page, pages = clamp_page(total, page, PAGE_SIZE)
    items = [ProductListing(id_, title, price, bool(left)) for id_, title, price, left, _ in rows]
    return Page(items, page, pages)
