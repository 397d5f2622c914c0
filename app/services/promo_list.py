"""Listing the promo codes: pages of them, newest first, with their targets and paid uses.

The shop's own codes (those an owner made) are listed apart from the referral rewards (a code
made for one buyer, ``owner_user_id`` set), which can be many more: ``/promo list`` shows the
shop's codes a page at a time through the partial index ``ix_promo_codes_shop``, and says how
many rewards it leaves out; ``/promo list all`` and ``python -m app promo list`` show both.
Totals are counted up to :data:`TOTAL_CAP` (then "9999+"), so a count never reads more than
that. Like every service these only read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from app.db.models import Category, Product, PromoCode, PromoKind, PromoRedemption, RedemptionStatus

TOTAL_CAP = 10_000


@dataclass(frozen=True)
class PromoRow:
    code: str
    kind: str
    value: int
    scope: str
    target: str | None
    min_total: int
    expires_at: datetime | None
    max_uses: int | None
    per_user: int | None
    owner_user_id: int | None
    disabled: bool
    used: int  # paid orders that used it (refunded ones given back)
    id: int = 0

    @property
    def discount(self) -> str:
        return f"{self.value}%" if self.kind == PromoKind.PERCENT else f"{self.value} ⭐"

    @property
    def scope_text(self) -> str:
        return self.scope if self.target is None else f"{self.scope}:{self.target}"


def _used() -> ScalarSelect[int]:
    return (
        select(func.count(PromoRedemption.id))
        .where(
            PromoRedemption.promo_id == PromoCode.id,
            PromoRedemption.status == RedemptionStatus.USED.value,
        )
        .scalar_subquery()
    )


def is_shop_code() -> ColumnElement[bool]:
    """An owner's code, not a referral reward: the predicate of ``ix_promo_codes_shop``."""
    return PromoCode.owner_user_id.is_(None)


async def rows(
    session: AsyncSession,
    *,
    limit: int = 200,
    offset: int = 0,
    before: int | None = None,
    rewards: bool = True,
    code: str | None = None,
) -> list[PromoRow]:
    """The codes (or the one ``code``), newest first: ``limit`` of them after skipping
    ``offset``, or those older than the code ``before`` (by id); without ``rewards``, the
    shop's own codes only."""
    target = func.coalesce(Category.title, Product.slug)
    query = (
        select(
            PromoCode.code,
            PromoCode.kind,
            PromoCode.value,
            PromoCode.scope,
            target,
            PromoCode.min_total,
            PromoCode.expires_at,
            PromoCode.max_uses,
            PromoCode.per_user,
            PromoCode.owner_user_id,
            PromoCode.disabled_at.is_not(None),
            _used(),
            PromoCode.id,
        )
        .outerjoin(Category, Category.id == PromoCode.category_id)
        .outerjoin(Product, Product.id == PromoCode.product_id)
        .order_by(PromoCode.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if before is not None:
        query = query.where(PromoCode.id < before)
    if not rewards:
        query = query.where(is_shop_code())
    if code is not None:
        query = query.where(PromoCode.code == code)
    return [PromoRow(*tuple(row)) for row in await session.execute(query)]


@dataclass(frozen=True)
class Totals:
    shop: int  # the owners' codes, up to TOTAL_CAP
    rewards: int  # referral rewards, up to TOTAL_CAP

    def listed(self, rewards: bool) -> int:
        return min(TOTAL_CAP, self.shop + (self.rewards if rewards else 0))


def _capped(condition: ColumnElement[bool]) -> ScalarSelect[int]:
    walk = select(literal(1)).where(condition).order_by(PromoCode.id).limit(TOTAL_CAP).subquery()
    return select(func.count()).select_from(walk).scalar_subquery()


async def totals(session: AsyncSession) -> Totals:
    """How many codes of each kind there are, each counted up to :data:`TOTAL_CAP`."""
    shop, rewards = (
        await session.execute(select(_capped(is_shop_code()), _capped(~is_shop_code())))
    ).one()
    return Totals(int(shop), int(rewards))


def shown(count: int) -> str:
    """A total as the owner reads it: "9999+" once it reached the cap."""
    return f"{TOTAL_CAP - 1}+" if count >= TOTAL_CAP else str(count)
