"""One broadcast's sending, under its lease: the sender, its pace and its retries.

Users are sent to in id order. After each user the cursor (``last_user_id``) and the counters
are committed in a short transaction of their own, so a restarted process resumes after the
last user it finished; a crash between a send and its commit can repeat that one message
(at-least-once, never skipped). No transaction is open during a send.

The lease never runs out under a live sender: it is renewed before every retry (after a 429,
a network error or a 5xx), to cover the wait and the next attempt; every attempt is bounded by
a request timeout well under the lease; and one recipient's attempts and waits together stay
under the lease: a recipient whose next retry would take longer is counted as failed.

A finished broadcast is reported to the owner who wrote it; a restock alert is the shop's own
and reports to nobody. Which broadcasts a process sends, and when, is decided by
:mod:`app.workers.broadcast`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup

from app.db.uow import SessionFactory, read, transaction
from app.i18n import translator
from app.keyboards import restock as restock_kb
from app.services import broadcast as broadcasts
from app.services import restock
from app.services.broadcast import LEASE_SECONDS, Delivery, LeaseLostError

log = structlog.get_logger("app.workers.broadcast")  # the broadcast worker's one logger

MAX_RETRY_AFTER = 5  # 429s for one user before giving up on them
MAX_TRANSIENT = 3  # network/5xx errors for one user before giving up on them
SEND_TIMEOUT = 20  # seconds for one sendMessage; at most a third of the lease (whole seconds)


def transient_backoff(failures: int, lease_seconds: float) -> float:
    """The wait before retrying after the ``failures``-th network error or 5xx: 1, 2, 4… s,
    at most 10 s and a tenth of the lease (so that retries fit in one recipient's budget)."""
    return min(2.0 ** (failures - 1), 10.0, lease_seconds / 10)


class RateLimiter:
    """Spaces calls at least ``1 / rate`` seconds apart (slots are reserved without awaiting).

    ``clock`` and ``sleep`` default to the event loop's; tests pass a fake pair.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0

    async def wait(self) -> None:
        now = self._clock() if self._clock else asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await self._sleep(slot - now)


class BroadcastSender:
    """Sends one broadcast while holding its lease."""

    def __init__(
        self,
        bot: Bot,
        factory: SessionFactory,
        limiter: RateLimiter,
        broadcast_id: int,
        *,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.bot = bot
        self.factory = factory
        self.limiter = limiter
        self.broadcast_id = broadcast_id
        self.lease_seconds = lease_seconds
        self.send_timeout = max(1, min(SEND_TIMEOUT, int(lease_seconds / 3)))
        self.token: datetime | None = None
        self.plan = broadcasts.Plan("", 0)  # read when the lease is taken

    async def run(self) -> bool:
        """Send to everyone left; True when this process finished the broadcast."""
        async with transaction(self.factory) as session:
            self.token = await broadcasts.take_lease(session, self.broadcast_id, self.lease_seconds)
        if self.token is None:
            return False
        log.info("broadcast sending", broadcast_id=self.broadcast_id)
        try:
            await self._send_all()
            await self._finish()
        except LeaseLostError:
            log.info("broadcast stopped: lease lost or cancelled", broadcast_id=self.broadcast_id)
            return False
        except asyncio.CancelledError:
            await self._release()
            raise
        return True

    async def _send_all(self) -> None:
        async with self.factory() as session, read(session):
            self.plan = plan = await broadcasts.plan(session, self.broadcast_id)
        cursor = plan.cursor
        while True:
            async with self.factory() as session, read(session):
                if plan.product_id is not None and not await restock.on_sale(
                    session, plan.product_id
                ):
                    # Sold out (or off sale) again: the watches left wait for the next restock.
                    log.info("restock alert ends: the product is not on sale", **self._about())
                    return
                batch = await broadcasts.next_recipients(session, plan, cursor)
            if not batch:
                return
            for recipient in batch:
                cursor = recipient.user_id
                if plan.product_id is not None and not await self._still_watching(recipient):
                    continue  # left the list since the batch was read
                text, markup = self._message(plan, recipient)
                outcome = await self._deliver(recipient.user_id, text, markup)
                await self._progress(recipient.user_id, outcome)

    def _about(self) -> dict[str, int | None]:
        return {"broadcast_id": self.broadcast_id, "product_id": self.plan.product_id}

    async def _still_watching(self, recipient: broadcasts.Recipient) -> bool:
        plan = self.plan
        assert plan.product_id is not None
        async with self.factory() as session, read(session):
            return await restock.still_watching(
                session, recipient.user_id, plan.product_id, plan.audience_until
            )

    @staticmethod
    def _message(
        plan: broadcasts.Plan, recipient: broadcasts.Recipient
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        """The owner's text as written; a restock alert in the watcher's language."""
        if plan.product_id is None:
            return plan.text, None
        t = translator(recipient.language_code)
        markup = restock_kb.back_in_stock(t, plan.product_id)
        return t("buyer.restock.back", title=plan.text), markup

    async def _deliver(
        self, user_id: int, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> Delivery:
        loop = asyncio.get_running_loop()
        started = loop.time()
        retry_afters = transient = 0
        while True:
            await self.limiter.wait()
            try:
                await self.bot.send_message(
                    user_id, text, reply_markup=markup, request_timeout=self.send_timeout
                )
            except TelegramRetryAfter as exc:
                retry_afters += 1
                if retry_afters > MAX_RETRY_AFTER:
                    return Delivery.FAILED
                log.warning("broadcast flood wait", retry_after=exc.retry_after)
                delay = float(exc.retry_after)
            except TelegramForbiddenError:
                return Delivery.BLOCKED
            except (TelegramNetworkError, TelegramServerError) as exc:
                transient += 1
                if transient > MAX_TRANSIENT:
                    log.warning("broadcast send failed", user_id=user_id, error=exc.message)
                    return Delivery.FAILED
                delay = transient_backoff(transient, self.lease_seconds)
            except TelegramAPIError as exc:
                log.info("broadcast send failed", user_id=user_id, error=exc.message)
                return Delivery.FAILED
            else:
                return Delivery.SENT
            # Another attempt: it must fit in this recipient's share of the lease…
            if loop.time() - started + delay + self.send_timeout > self.lease_seconds:
                log.warning(
                    "broadcast send failed: retrying would outlast the lease",
                    user_id=user_id,
                    retry_in=delay,
                )
                return Delivery.FAILED
            # …and the lease must cover the wait and the attempt (or another replica takes
            # the broadcast over and this user gets the message twice).
            await self._renew(extra=delay)
            await asyncio.sleep(delay)

    def _held(self) -> datetime:
        assert self.token is not None
        return self.token

    async def _renew(self, extra: float) -> None:
        async with transaction(self.factory) as session:
            self.token = await broadcasts.renew(
                session, self.broadcast_id, self._held(), self.lease_seconds + extra
            )

    async def _progress(self, user_id: int, outcome: Delivery) -> None:
        async with transaction(self.factory) as session:
            self.token = await broadcasts.record(
                session,
                self.broadcast_id,
                self._held(),
                self.lease_seconds,
                user_id=user_id,
                outcome=outcome,
            )
            product_id = self.plan.product_id
            if product_id is not None and outcome is not Delivery.FAILED:
                # Told, or blocked the bot: the watch is done, with the send it records.
                await restock.told(session, user_id, product_id)

    async def _finish(self) -> None:
        async with transaction(self.factory) as session:
            done = await broadcasts.finish(
                session, self.broadcast_id, self._held(), self.lease_seconds
            )
        counts = {"sent": done.sent, "blocked": done.blocked, "failed": done.failed}
        log.info("broadcast done", **self._about(), **counts)
        if self.plan.product_id is not None:
            return  # a restock alert: the shop's own, nobody to report to
        t = translator(done.language_code)
        report = t("owner.broadcast.done", id=self.broadcast_id, **counts)
        try:
            await self.bot.send_message(done.created_by, report)
        except TelegramAPIError as exc:
            log.warning("could not report the broadcast", error=exc.message)

    async def _release(self) -> None:
        """Give the lease back at shutdown, so a restart resumes at once."""
        try:
            async with asyncio.timeout(5), transaction(self.factory) as session:
                await broadcasts.release(session, self.broadcast_id, self._held())
            log.info("broadcast paused; lease released", broadcast_id=self.broadcast_id)
        except Exception as exc:  # the lease simply expires instead
            log.warning("could not release the broadcast lease", error=repr(exc))
