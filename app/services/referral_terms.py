"""The referral programme's terms: the hold, the reward's percent and the daily cap.

The environment (``REFERRAL_HOLD_DAYS``, ``REFERRAL_REWARD_PERCENT``, ``REFERRAL_DAILY_CAP``)
gives the defaults; an owner sets any of them in the database (``/referral set …`` in the bot,
``python -m app referral set …``), one row of ``referral_terms``, and ``default`` gives a term
back to the environment. The terms are read where they are used, one primary-key read: by the
reward pass once per round and by the ``/referrals`` screen, so a change applies on every
replica without a restart. Nothing here commits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ReferralTerms
from app.db.uow import dialect_name
from app.services.products import ShopInputError

ROW_ID = 1
DEFAULT = "default"


class ReferralDefaults(Protocol):
    """The environment's values (the bot's settings, or the referral command's)."""

    @property
    def referral_hold_days(self) -> float: ...
    @property
    def referral_reward_percent(self) -> int: ...
    @property
    def referral_daily_cap(self) -> int: ...


@dataclass(frozen=True)
class Term:
    """One term as the owners name it (``hold``), its column, its bounds (app.config's), and
    the environment variable that gives its default."""

    name: str
    column: str
    low: float
    high: float
    parse: Callable[[str], float]
    variable: str


def _days(raw: str) -> float:
    value = float(raw.replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


TERMS = {
    term.name: term
    for term in (
        Term("percent", "reward_percent", 1, 100, int, "REFERRAL_REWARD_PERCENT"),
        Term("hold", "hold_days", 0, 365, _days, "REFERRAL_HOLD_DAYS"),
        Term("cap", "daily_cap", 1, 1000, int, "REFERRAL_DAILY_CAP"),
    )
}


@dataclass(frozen=True)
class Terms:
    hold_days: float
    reward_percent: int
    daily_cap: int
    owner_set: frozenset[str] = frozenset()  # the terms' names an owner set

    @property
    def hold(self) -> timedelta:
        return timedelta(days=self.hold_days)

    def value(self, name: str) -> float:
        found: float = getattr(self, TERMS[name].column)
        return found


def defaults(settings: ReferralDefaults) -> Terms:
    return Terms(
        settings.referral_hold_days, settings.referral_reward_percent, settings.referral_daily_cap
    )


_ROW = select(ReferralTerms).where(ReferralTerms.id == bindparam("id"))


async def current(session: AsyncSession, fallback: Terms) -> Terms:
    """The terms in force: an owner's value where one is set, the environment's elsewhere."""
    row = await session.scalar(_ROW, {"id": ROW_ID})
    if row is None:
        return fallback
    changes: dict[str, Any] = {}
    for term in TERMS.values():
        if (stored := getattr(row, term.column)) is not None:
            changes[term.column] = stored
    return replace(fallback, owner_set=frozenset(_set_names(changes)), **changes)


def _set_names(columns: dict[str, Any]) -> list[str]:
    return [term.name for term in TERMS.values() if term.column in columns]


def parse(name: str, raw: str) -> tuple[Term, float | None]:
    """``percent 15``, ``hold 7``, ``cap 5`` (or ``default``); ShopInputError otherwise."""
    term = TERMS.get(name.lower())
    if term is None:
        raise ShopInputError("referral_bad_term", term=name[:32])
    if raw.lower() == DEFAULT:
        return term, None
    try:
        value = term.parse(raw)
    except ValueError:
        value = math.nan
    if not term.low <= value <= term.high:  # NaN fails it too
        raise ShopInputError(
            "referral_bad_value",
            term=term.name,
            value=raw[:32],
            low=f"{term.low:g}",
            high=f"{term.high:g}",
        )
    return term, value


_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


async def set_term(
    session: AsyncSession, term: Term, value: float | None, *, by: int | None, now: datetime
) -> None:
    """Write one term (None: back to the environment's value); the caller commits."""
    values = {term.column: value, "updated_at": now, "updated_by": by}
    stmt = _INSERTS[dialect_name(session)](ReferralTerms).values(id=ROW_ID, **values)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[ReferralTerms.id], set_=values)
    )
