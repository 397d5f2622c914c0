"""Reconciliation: page through Telegram's Star transactions since the checkpoint.

One process at a time, chosen by the ``reconcile`` lease. Each pass starts :data:`OVERLAP`
transactions before the checkpoint (so it can never skip one), applies each page in one
transaction together with the new checkpoint, and releases the lease at the end. Payments the
ledger lacked are then settled and handed over exactly as if their update had arrived.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from aiogram import Bot

from app.config import Settings
from app.db.base import utcnow
from app.db.uow import SessionFactory, transaction
from app.flows.payments import settle
from app.flows.refunds import tell_buyer
from app.middlewares.db import OpenTransactionError
from app.services import leases
from app.services.reconcile import apply_page
from app.services.refunds import RefundTarget

log = structlog.get_logger(__name__)

LEASE = "reconcile"
# Renewed with every page; a page is one getStarTransactions call (bounded by PAGE_TIMEOUT)
# and one short transaction. Short, so that after a crash (kill -9 mid-pass) the next process
# reconciles within seconds: a pass that stalls past it loses the lease, and its page's
# transaction, which checks the lease, is rolled back.
LEASE_TTL = timedelta(seconds=20)
PAGE_TIMEOUT = 10  # seconds for one getStarTransactions request
PAGE = 100  # getStarTransactions' largest limit
OVERLAP = 20
SETTLE_CONCURRENCY = 8


@dataclass
class PassReport:
    ran: bool = False  # False: another process holds the lease
    pages: int = 0
    transactions: int = 0
    recorded: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    answered: list[RefundTarget] = field(default_factory=list)  # the bot's own refunds
    checkpoint: int = 0


async def reconcile(
    bot: Bot, factory: SessionFactory, settings: Settings, holder: str
) -> PassReport:
    report = PassReport()
    async with transaction(factory) as session:
        checkpoint = await leases.take(session, LEASE, holder, utcnow(), LEASE_TTL)
    if checkpoint is None:
        return report
    report.ran = True
    try:
        offset = max(0, checkpoint - OVERLAP)
        while True:
            page = await bot.get_star_transactions(
                offset=offset, limit=PAGE, request_timeout=PAGE_TIMEOUT
            )
            report.pages += 1
            transactions = page.transactions
            async with transaction(factory) as session:
                outcome = await apply_page(session, transactions, utcnow())
                offset += len(transactions)
                kept = await leases.advance(
                    session,
                    LEASE,
                    holder,
                    checkpoint=max(offset, checkpoint),
                    now=utcnow(),
                    ttl=LEASE_TTL,
                )
                if not kept:
                    raise LeaseLostError(LEASE)
            report.transactions += len(transactions)
            report.recorded += outcome.recorded
            report.refunded += outcome.refunded
            report.answered += outcome.answered
            if len(transactions) < PAGE:
                break
        report.checkpoint = max(offset, checkpoint)
    finally:
        async with transaction(factory) as session:
            await leases.release(session, LEASE, holder)
    if report.recorded:
        log.warning(
            "payments found only in Telegram's ledger; fulfilling them",
            count=len(report.recorded),
            charge_ids=report.recorded[:20],
        )
        await _settle_all(bot, factory, settings, report.recorded)
    if report.refunded:
        log.warning("refunds made outside the bot recorded", charge_ids=report.refunded[:20])
    for target in report.answered:  # their answer was lost: recorded here, so told here
        log.info("refund found in Telegram's ledger", charge_id=target.charge_id)
        await tell_buyer(bot, target)
    return report


class LeaseLostError(RuntimeError):
    """Another process took the lease over (this one stalled past its TTL)."""


async def _settle_all(
    bot: Bot, factory: SessionFactory, settings: Settings, charge_ids: list[str]
) -> None:
    limit = asyncio.Semaphore(SETTLE_CONCURRENCY)

    async def one(charge_id: str) -> None:
        async with limit:
            try:
                await settle(bot, factory, settings, charge_id)
            except OpenTransactionError:  # a programming error: never swallowed
                raise
            except Exception:  # the fulfilment worker retries it; the others go on
                log.exception("settling a reconciled payment failed", charge_id=charge_id)

    await asyncio.gather(*(one(charge_id) for charge_id in charge_ids))
