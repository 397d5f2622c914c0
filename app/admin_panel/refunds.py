"""The panel's one way to refund: a small adapter over the bot's refund service.

Views call :func:`refund_charge` only, so pointing the panel at another refund service means
changing this file alone. Refunds of one charge id are serialised in this process: a second
click waits for the first and then finds the order refunded (the service never calls
``refundStarPayment`` for an order already refunded, and Telegram refuses a second refund of a
charge anyway).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup

from app.admin_panel.context import PanelContext
from app.admin_panel.texts import text
from app.services.refunds import RefundOutcome, refund_payment


@dataclass(frozen=True)
class RefundReport:
    ok: bool  # the money is back with the buyer (now, or it already was)
    message: Markup  # the bot's /refund wording


# One lock per charge id refunded by this process (refunds are rare: a few bytes each).
_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


async def refund_charge(context: PanelContext, charge_id: str) -> RefundReport:
    async with _locks[charge_id], context.session_factory() as session:
        result = await refund_payment(session, context.bot, charge_id)
        await session.commit()
    message = text(
        f"owner.refund.{result.outcome.value}",
        charge_id=charge_id,
        order_id=result.order_id or 0,
        user_id=result.user_id or 0,
        amount=result.amount or 0,
        reason=result.reason,
    )
    done = {RefundOutcome.REFUNDED, RefundOutcome.ALREADY_REFUNDED}
    return RefundReport(result.outcome in done, message)
