"""The panel's one way to refund: a small adapter over the bot's refund service.

Views call :func:`refund_charge` only: the same ledger-based refund as the bot's ``/refund``
(:func:`app.flows.refunds.refund_charge`), for any charge id in the payments ledger. Refunds of
one charge id are serialised in this process: a second click waits for the first and then
finds it refunded (the flow never calls ``refundStarPayment`` for a refund already made, and
Telegram refuses a second refund of a charge anyway).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

from app.admin_panel.context import PanelContext
from app.admin_panel.texts import text
from app.flows import refunds
from app.flows.refunds import Refunded


@dataclass(frozen=True)
class RefundReport:
    ok: bool  # the money is back with the buyer (now, or it already was)
    message: Markup  # the bot's /refund wording


# One lock per charge id refunded by this process (refunds are rare: a few bytes each).
_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def refund_charge(context: PanelContext, charge_id: str) -> RefundReport:
    async with _locks[charge_id]:
        result = await refunds.refund_charge(
            context.bot, context.session_factory, context.settings, charge_id
        )
    message = text(
        f"owner.refund.{result.outcome.value}",
        charge_id=charge_id,
        user_id=result.user_id,
        amount=result.amount,
        reason=result.reason,
    )
    done = {Refunded.REFUNDED, Refunded.ALREADY_REFUNDED}
    return RefundReport(result.outcome in done, message)
