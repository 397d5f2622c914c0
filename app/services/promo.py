"""Promo codes: what an owner writes (``/promo add``, ``python -m app promo add``, the panel),
and what a code takes off an order's lines.

A code gives a percent (1-100) or a number of Stars off the lines in its scope (the whole
shop, one category, one product). Its minimum order is counted over the lines in scope, so a
category's code asks for that much spent in the category. A discount never takes a total
below 1 Star. Holding, confirming and giving back a use live in :mod:`app.services.redemptions`.
Nothing here commits or calls Telegram.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Category, Product, PromoCode, PromoKind, PromoScope
from app.services.products import MAX_PRICE, ShopInputError, parse_category_title, parse_slug

CODE_RE = re.compile(r"^[A-Z0-9_-]{3,32}$")
MIN_CODE, MAX_CODE = 3, 32
MAX_COUNT = 1_000_000
OPTIONS = ("scope", "min", "until", "uses", "per_user")


def normalize_code(raw: str) -> str | None:
    """The code as stored (upper-case), or None if it cannot be one."""
    code = raw.strip().upper()
    return code if CODE_RE.fullmatch(code) else None


def parse_code(raw: str) -> str:
    code = normalize_code(raw)
    if code is None:
        raise ShopInputError("promo_bad_code", promo=raw.strip()[:MAX_CODE], low=MIN_CODE)
    return code


def parse_value(raw: str) -> tuple[PromoKind, int]:
    """``10%`` (percent off) or ``50`` (Stars off)."""
    text = raw.strip()
    percent = text.endswith("%")
    digits = text.removesuffix("%").strip()
    if digits.isascii() and digits.isdigit():
        value = int(digits)
        if percent and 1 <= value <= 100:
            return PromoKind.PERCENT, value
        if not percent and 1 <= value <= MAX_PRICE:
            return PromoKind.FIXED, value
    raise ShopInputError("promo_bad_value", value=text[:20], max=MAX_PRICE)


def _count(option: str, raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
        raise ShopInputError("promo_bad_number", option=option, max=MAX_COUNT)
    return int(raw)


# The last ``until`` a code can have: it expires at the next midnight, which must be a date.
LAST_UNTIL = date.max - timedelta(days=1)


def parse_until(raw: str, today: date) -> datetime:
    """``YYYY-MM-DD``: the code works through that UTC day (it expires at the next midnight)."""
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        day = None
    if day is None or len(raw.strip()) != len("2026-12-31") or not today <= day <= LAST_UNTIL:
        raise ShopInputError("promo_bad_date", value=raw.strip()[:20], last=LAST_UNTIL.isoformat())
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(frozen=True)
class PromoSpec:
    """A code as an owner described it, parsed; the scope's target is resolved on create."""

    code: str
    kind: PromoKind
    value: int
    scope: PromoScope = PromoScope.SHOP
    target: str = ""  # the category's title or the product's slug
    min_total: int = 0
    expires_at: datetime | None = None
    max_uses: int | None = None
    per_user: int | None = None


def _scope(raw: str) -> tuple[PromoScope, str]:
    kind, _, target = raw.partition(":")
    kind = kind.strip().lower()
    if kind == PromoScope.SHOP and not target:
        return PromoScope.SHOP, ""
    if kind == PromoScope.CATEGORY and target.strip():
        return PromoScope.CATEGORY, parse_category_title(target)
    if kind == PromoScope.PRODUCT and target.strip():
        return PromoScope.PRODUCT, parse_slug(target)
    raise ShopInputError("promo_bad_scope", value=raw[:40])


def split_args(raw: str) -> list[str]:
    """Words as a shell splits them, so ``scope="category:Game keys"`` stays one word."""
    try:
        return shlex.split(raw)
    except ValueError:
        raise ShopInputError("promo_bad_quotes") from None


def parse_spec(words: Sequence[str], today: date) -> PromoSpec:
    """``CODE 10%|50 [scope=…] [min=N] [until=YYYY-MM-DD] [uses=N] [per_user=N]``."""
    if len(words) < 2:
        raise ShopInputError("promo_usage")
    code = parse_code(words[0])
    kind, value = parse_value(words[1])
    options: dict[str, str] = {}
    for word in words[2:]:
        name, sep, raw = word.partition("=")
        name = name.strip().lower().replace("-", "_")
        if not sep or name not in OPTIONS or name in options:
            raise ShopInputError("promo_bad_option", option=word[:40])
        options[name] = raw.strip()
    scope, target = _scope(options["scope"]) if "scope" in options else (PromoScope.SHOP, "")
    return PromoSpec(
        code=code,
        kind=kind,
        value=value,
        scope=scope,
        target=target,
        min_total=_count("min", options["min"]) if "min" in options else 0,
        expires_at=parse_until(options["until"], today) if "until" in options else None,
        max_uses=_count("uses", options["uses"]) if "uses" in options else None,
        per_user=_count("per_user", options["per_user"]) if "per_user" in options else None,
    )


_BY_CODE = select(PromoCode).where(PromoCode.code == bindparam("code"))


async def by_code(session: AsyncSession, raw: str) -> PromoCode | None:
    code = normalize_code(raw)
    return await session.scalar(_BY_CODE, {"code": code}) if code else None


async def create(
    session: AsyncSession, spec: PromoSpec, *, owner_user_id: int | None = None
) -> PromoCode:
    """Write the code; the caller commits. Refuses a code that exists (in any case)."""
    if await by_code(session, spec.code) is not None:
        raise ShopInputError("promo_code_taken", promo=spec.code)
    promo = PromoCode(
        code=spec.code,
        kind=spec.kind.value,
        value=spec.value,
        scope=spec.scope.value,
        min_total=spec.min_total,
        expires_at=spec.expires_at,
        max_uses=spec.max_uses,
        per_user=spec.per_user,
        owner_user_id=owner_user_id,
    )
    if spec.scope is PromoScope.CATEGORY:
        promo.category_id = await session.scalar(
            select(Category.id).where(Category.title == spec.target)
        )
        if promo.category_id is None:
            raise ShopInputError("unknown_category")
    elif spec.scope is PromoScope.PRODUCT:
        promo.product_id = await session.scalar(
            select(Product.id).where(Product.slug == spec.target)
        )
        if promo.product_id is None:
            raise ShopInputError("unknown_product", slug=spec.target)
    session.add(promo)
    await session.flush()
    return promo


async def disable(session: AsyncSession, raw: str, now: datetime) -> tuple[PromoCode, bool]:
    """Disable a code; False if it was disabled before. Holds already made stay valid only
    until the pre-checkout, which refuses a disabled code."""
    promo = await by_code(session, raw)
    if promo is None:
        raise ShopInputError("promo_unknown", promo=raw.strip()[:MAX_CODE])
    if promo.disabled_at is not None:
        return promo, False
    promo.disabled_at = now
    await session.flush()
    return promo, True


# --- what a code takes off ----------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of an order as the discount sees it."""

    product_id: int
    category_id: int | None
    unit_price: int
    quantity: int = 1

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


class PromoRefusedError(Exception):
    """The code does not apply; ``reason`` names the text ``buyer.promo.<reason>``."""

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params


def in_scope(promo: PromoCode, line: Line) -> bool:
    if promo.scope == PromoScope.PRODUCT:
        return line.product_id == promo.product_id
    if promo.scope == PromoScope.CATEGORY:
        return line.category_id is not None and line.category_id == promo.category_id
    return True


def discount_for(promo: PromoCode, lines: Iterable[Line]) -> int:
    """Stars off the whole order; never more than leaves it at 1 Star. Refuses when no line
    is in scope, the lines in scope stay under the minimum, or the saving rounds to nothing."""
    lines = list(lines)
    total = sum(line.total for line in lines)
    eligible = sum(line.total for line in lines if in_scope(promo, line))
    if eligible == 0:
        raise PromoRefusedError("not_applicable", code=promo.code)
    if eligible < promo.min_total:
        raise PromoRefusedError("min_total", code=promo.code, min=promo.min_total)
    if promo.kind == PromoKind.PERCENT:
        off = (eligible * promo.value + 50) // 100  # half a Star rounds up
    else:
        off = min(promo.value, eligible)
    off = min(off, total - 1)
    if off <= 0:
        raise PromoRefusedError("not_applicable", code=promo.code)
    return off
