"""Restock alerts: buyers watch a sold-out product, and are told once when stock comes back.

A watch is a ``restock_watches`` row (one per buyer and product). Adding stock to a watched
product, by any path (:func:`app.stock_import.import_items`), enqueues a ``restock`` broadcast
in the import's own transaction: its audience is the product's watches up to the newest one at
that moment (``audience_until``), so a watch made while it is being sent waits for the next
restock. The broadcast worker sends it like any broadcast (throttled, leased, resumable) and
deletes each watch in the transaction that records its send, so nobody is told twice.

A product's restock alerts are sent one at a time, oldest first (:func:`restock_turn`): a
second import while the first alert is going out adds an alert for the watchers the first one
does not cover, and the second starts once the first is done (the watches the first told are
gone by then).

Nothing here commits or calls Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.base import utcnow
from app.db.models import (
    Broadcast,
    BroadcastKind,
    BroadcastStatus,
    Product,
    RestockWatch,
    User,
)
from app.db.uow import dialect_name
from app.i18n import Translator
from app.services.availability import in_stock
from app.services.catalog import ProductCard

SHOP = 0  # created_by of a restock alert: the shop itself, not an owner
MAX_WATCHES = 50  # per buyer: /alerts stays one message
WATCHERS_CAP = 1000  # an import counts the watchers it will tell up to this ("999+")


@dataclass(frozen=True)
class WatchRow:
    product_id: int
    title: str
    active: bool  # on sale (an inactive product's watch waits, and can be left)


@dataclass(frozen=True)
class Enqueued:
    """A restock alert written by an import: its broadcast and how many it will tell."""

    broadcast_id: int
    watchers: int  # new to this alert (not covered by a running one), up to WATCHERS_CAP


class WatchRefusedError(Exception):
    """Why a buyer cannot watch this product: ``code`` is ``gone``, ``in_stock`` or ``limit``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


_INSERT = {
    name: insert(RestockWatch).on_conflict_do_nothing(
        index_elements=[RestockWatch.product_id, RestockWatch.user_id]
    )
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}


async def watch(session: AsyncSession, user_id: int, product_id: int) -> None:
    """The buyer joins the product's watch list (again: nothing changes).

    Refused (:class:`WatchRefusedError`) for a product that is gone or off sale, one that is in
    stock (the buyer can buy it), and past :data:`MAX_WATCHES` watches.
    """
    now = utcnow()
    row = (
        await session.execute(
            select(Product.id, in_stock(Product.id, now)).where(
                Product.id == product_id, Product.is_active
            )
        )
    ).first()
    if row is None:
        raise WatchRefusedError("gone")
    if row[1]:
        raise WatchRefusedError("in_stock")
    count = await session.scalar(
        select(func.count(RestockWatch.id)).where(RestockWatch.user_id == user_id)
    )
    if (count or 0) >= MAX_WATCHES:
        raise WatchRefusedError("limit")
    values = {"user_id": user_id, "product_id": product_id, "created_at": now}
    await session.execute(_INSERT[dialect_name(session)], values)


async def unwatch(session: AsyncSession, user_id: int, product_id: int) -> bool:
    """The buyer leaves the product's watch list; False if they were not on it."""
    stmt = (
        delete(RestockWatch)
        .where(RestockWatch.user_id == user_id, RestockWatch.product_id == product_id)
        .returning(RestockWatch.id)
    )
    return (await session.scalar(stmt)) is not None


_WATCHING = select(
    exists().where(
        RestockWatch.user_id == bindparam("user"), RestockWatch.product_id == bindparam("product")
    )
)


async def is_watching(session: AsyncSession, user_id: int, product_id: int) -> bool:
    return bool(await session.scalar(_WATCHING, {"user": user_id, "product": product_id}))


async def watches_of(session: AsyncSession, user_id: int) -> list[WatchRow]:
    """The buyer's watches, oldest first."""
    stmt = (
        select(Product.id, Product.title, Product.is_active)
        .join(RestockWatch, RestockWatch.product_id == Product.id)
        .where(RestockWatch.user_id == user_id)
        .order_by(RestockWatch.id)
        .limit(MAX_WATCHES)
    )
    return [WatchRow(*row) for row in await session.execute(stmt)]


async def card_watch(session: AsyncSession, card: ProductCard | None, viewer: int) -> bool | None:
    """For a product card: None when it is not sold out (no watch button), else whether the
    viewer is on its watch list."""
    if card is None or card.left or card.held_by_viewer:
        return None
    return await is_watching(session, viewer, card.id)


def _audience(product_id: int) -> list[ColumnElement[bool]]:
    """The watches a restock alert of this product tells: users who have not blocked the bot
    (and are not banned: a banned user hears nothing from the shop)."""
    return [RestockWatch.product_id == product_id, exists().where(*_reachable())]


def _reachable() -> list[ColumnElement[bool]]:
    return [User.id == RestockWatch.user_id, User.is_blocked.is_(False), User.banned_at.is_(None)]


async def enqueue(session: AsyncSession, product_id: int) -> Enqueued | None:
    """Stock was added to the product: a restock alert for its watchers, if it has any.

    None when nobody watches it (or only users who blocked the bot or are banned), when it is
    off sale, and when the alerts already running cover every watch (an import in several
    parts, a second upload while the alert is going out). Its cost does not grow with the
    watchers: the newest watch and the ones past the running alerts are walks of the
    ``(product_id, id)`` index, counted up to :data:`WATCHERS_CAP`.
    """
    newest = await session.scalar(
        select(RestockWatch.id)
        .where(RestockWatch.product_id == product_id)
        .order_by(RestockWatch.id.desc())
        .limit(1)
    )
    if newest is None:
        return None
    product = await session.get(Product, product_id)
    if product is None or not product.is_active:
        return None
    covered = await session.scalar(
        select(func.max(Broadcast.audience_until)).where(
            Broadcast.kind == BroadcastKind.RESTOCK.value,
            Broadcast.product_id == product_id,
            Broadcast.status == BroadcastStatus.RUNNING.value,
        )
    )
    if covered is not None and covered >= newest:
        return None
    uncovered = (
        select(RestockWatch.id)
        .where(*_audience(product_id), RestockWatch.id > (covered or 0))
        .order_by(RestockWatch.id)
        .limit(WATCHERS_CAP)
        .subquery()
    )
    watchers = int(await session.scalar(select(func.count()).select_from(uncovered)) or 0)
    if not watchers:
        return None
    broadcast = Broadcast(
        kind=BroadcastKind.RESTOCK.value,
        product_id=product_id,
        audience_until=newest,
        text=product.title,
        created_by=SHOP,
        status=BroadcastStatus.RUNNING.value,
    )
    session.add(broadcast)
    await session.flush()
    return Enqueued(broadcast.id, watchers)


def owner_line(t: Translator, alert: Enqueued) -> str:
    """What the owner reads about the alert their import enqueued (the bot, the CLI, the panel)."""
    if alert.watchers >= WATCHERS_CAP:
        return t("owner.stock.restock_over", n=WATCHERS_CAP - 1)
    return t("owner.stock.restock", n=alert.watchers)


def restock_turn() -> ColumnElement[bool]:
    """A broadcast may be sent now: not a restock alert with an older one of its product still
    running (a product's alerts go out one at a time, so no watch is told by two of them)."""
    older = aliased(Broadcast)
    return ~exists().where(
        Broadcast.kind == BroadcastKind.RESTOCK.value,
        older.kind == BroadcastKind.RESTOCK.value,
        older.product_id == Broadcast.product_id,
        older.status == BroadcastStatus.RUNNING.value,
        older.id < Broadcast.id,
    )


async def audience_batch(
    session: AsyncSession, product_id: int, until: int, after_user: int, limit: int
) -> list[tuple[int, str | None]]:
    """The next watchers to tell (user id, language), in user-id order after ``after_user``."""
    stmt = (
        select(RestockWatch.user_id, User.language_code)
        .join(User, User.id == RestockWatch.user_id)
        .where(
            RestockWatch.product_id == product_id,
            RestockWatch.id <= until,
            RestockWatch.user_id > after_user,
            *_reachable(),
        )
        .order_by(RestockWatch.user_id)
        .limit(limit)
    )
    return [(user_id, language) for user_id, language in await session.execute(stmt)]


async def still_watching(session: AsyncSession, user_id: int, product_id: int, until: int) -> bool:
    """Just before a send: the watcher has not left (nor been told by an earlier alert)."""
    stmt = select(
        exists().where(
            RestockWatch.user_id == user_id,
            RestockWatch.product_id == product_id,
            RestockWatch.id <= until,
        )
    )
    return bool(await session.scalar(stmt))


async def told(session: AsyncSession, user_id: int, product_id: int) -> None:
    """The watcher was told (or blocked the bot): the watch is done. In the transaction that
    records the send."""
    await session.execute(
        delete(RestockWatch).where(
            RestockWatch.user_id == user_id, RestockWatch.product_id == product_id
        )
    )


async def on_sale(session: AsyncSession, product_id: int) -> bool:
    """The product can be bought now (active, with stock): an alert pauses when it is not."""
    stmt = select(in_stock(Product.id, utcnow())).where(
        and_(Product.id == product_id, Product.is_active)
    )
    return bool(await session.scalar(stmt))
