"""The money worker: reconciliation, and retries of whatever a handler left unfinished.

Every ``RETRY_INTERVAL`` seconds it settles recorded payments nobody settled, sends paid goods
whose delivery is due, asks Telegram again for due refunds, and alerts owners about refunds
waiting for them. Every ``RECONCILE_INTERVAL`` seconds (and at start) it reconciles with
Telegram's ledger. Each step is its own short transaction; failures are logged and retried on
the next round, so the worker never dies of a database or network outage. A payment whose
settlement keeps failing is moved back in the queue with backoff, so it never holds up the
newer ones. A Telegram call inside an open transaction (the tests' strict guard) is a bug, not
an outage: it stops the worker, and the test with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.db.base import utcnow
from app.db.uow import SessionFactory, read
from app.flows.payments import deliver_due, settle
from app.flows.referrals import grant_rewards
from app.flows.refunds import refund, refund_waits_for_owner
from app.middlewares.db import OpenTransactionError
from app.services import delivery, refunds, settle_queue
from app.workers.reconcile import reconcile

log = structlog.get_logger(__name__)

BATCH = 50
TRANSIENT = (SQLAlchemyError, OSError, TelegramAPIError, asyncio.TimeoutError)


def holder_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class MoneyWorker:
    def __init__(self, bot: Bot, factory: SessionFactory, settings: Settings) -> None:
        self.bot, self.factory, self.settings = bot, factory, settings
        self.holder = holder_id()
        self.first_pass = asyncio.Event()  # set once the start-up round has run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="money-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        next_reconcile = 0.0
        while True:
            if time.monotonic() >= next_reconcile:
                await self._guarded("reconciliation", self.reconcile)
                next_reconcile = time.monotonic() + self.settings.reconcile_interval
            await self._guarded("retries", self.retry_round)
            await self._guarded("referral rewards", self.referral_round)
            self.first_pass.set()
            await asyncio.sleep(self.settings.retry_interval)

    async def _guarded(self, step: str, run: Callable[[], Awaitable[None]]) -> None:
        try:
            await run()
        except OpenTransactionError:  # a programming error: never swallowed
            raise
        except TRANSIENT as exc:  # one line; the next round tries again
            log.warning(
                "money worker step failed; retrying later",
                step=step,
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        except Exception:
            log.exception("money worker step failed", step=step)

    async def reconcile(self) -> None:
        report = await reconcile(self.bot, self.factory, self.settings, self.holder)
        if report.ran:
            log.info(
                "reconciled with Telegram",
                pages=report.pages,
                transactions=report.transactions,
                recorded=len(report.recorded),
                refunded=len(report.refunded),
                checkpoint=report.checkpoint,
            )

    async def referral_round(self) -> None:
        """Referrers whose referees' first orders have held get their codes (unique per
        referee: replicas racing grant once)."""
        await grant_rewards(self.bot, self.factory, self.settings)

    async def retry_round(self) -> None:
        now = utcnow()
        async with self.factory() as session, read(session):
            pending = await settle_queue.due(session, now, BATCH)
            deliveries = await delivery.due(session, now, BATCH)
            due_refunds = await refunds.due(session, now, BATCH)
            unalerted = await refunds.unalerted(session, now, BATCH)
        for charge_id in pending:
            log.warning("settling a payment its handler did not finish", charge_id=charge_id)
            await self._one(settle(self.bot, self.factory, self.settings, charge_id), charge_id)
        for order_id in deliveries:
            await self._one(deliver_due(self.bot, self.factory, self.settings, order_id), order_id)
        for refund_id in due_refunds:
            await self._one(refund(self.bot, self.factory, self.settings, refund_id), refund_id)
        for refund_id in unalerted:
            alert = refund_waits_for_owner(self.bot, self.factory, self.settings, refund_id)
            await self._one(alert, refund_id)

    async def _one(self, step: Coroutine[Any, Any, object], item: object) -> None:
        """One item's step; its failure is logged and never holds up the others (a database
        or network outage fails them all, and the next round tries them again)."""
        try:
            await step
        except OpenTransactionError:
            raise
        except TRANSIENT as exc:
            log.warning(
                "money worker item failed; retrying later",
                item=item,
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        except Exception:
            log.exception("money worker item failed", item=item)


async def start_money_worker(
    dispatcher: Dispatcher, bot: Bot, settings: Settings, session_factory: SessionFactory
) -> None:
    """A startup hook, after the schema is at head."""
    worker = MoneyWorker(bot, session_factory, settings)
    dispatcher["money_worker"] = worker
    worker.start()


async def stop_money_worker(dispatcher: Dispatcher) -> None:
    worker = dispatcher.workflow_data.get("money_worker")
    if isinstance(worker, MoneyWorker):
        await worker.stop()
