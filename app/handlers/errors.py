"""One error path for every failed update, in polling and webhook mode alike.

- A payment update whose payment could not be written to the ledger re-raises: the webhook
  answers 5xx and Telegram delivers the update again (recording is idempotent by charge id).
  Under long polling the update is already confirmed; the buyer is told the payment is being
  processed, and the reconciliation with Telegram's ledger records it once the database is
  back.
- Anything else is logged once, the user reads a short "something went wrong", and the update
  counts as handled (the webhook answers 200): a broken update is never redelivered forever.
  A payment that is in the ledger belongs to the fulfilment worker from then on.
"""

from __future__ import annotations

import contextlib

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, Update

from app.flows.payments import PaymentNotRecordedError
from app.i18n import Translator, translator

log = structlog.get_logger(__name__)


def router() -> Router:
    """The error path on a new router."""
    feature = Router(name=__name__)
    feature.errors.register(on_error)
    return feature


def _chat_of(update: Update) -> int | None:
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None:
        return update.callback_query.from_user.id
    return None


async def on_error(
    event: ErrorEvent, bot: Bot, t: Translator | None = None, webhook: bool = False
) -> bool:
    update, exc = event.update, event.exception
    t = t or translator(None)
    chat_id = _chat_of(update)
    if isinstance(exc, PaymentNotRecordedError):
        if webhook:
            log.error("payment not recorded; Telegram will deliver it again", charge_id=str(exc))
            raise exc
        log.error("payment not recorded; reconciliation will record it", charge_id=str(exc))
        if chat_id is not None:
            with contextlib.suppress(TelegramAPIError):
                await bot.send_message(chat_id, t("buyer.payment.delayed"))
        return True
    log.error(
        "update failed",
        update_id=update.update_id,
        event_type=update.event_type,
        error=f"{type(exc).__name__}: {exc}"[:500],
        exc_info=exc,
    )
    if update.callback_query is not None:
        with contextlib.suppress(TelegramAPIError):
            await update.callback_query.answer(t("error"), show_alert=True)
    elif chat_id is not None:
        with contextlib.suppress(TelegramAPIError):
            await bot.send_message(chat_id, t("error"))
    return True
