"""One error path for every failed update, in polling and webhook mode alike.

- A payment update whose payment is not in the ledger re-raises, whatever failed (the ledger
  refused it, or something before its handler did: the FSM storage, the user's event lock, a
  middleware): the webhook answers 5xx and Telegram delivers the update again (recording is
  idempotent by charge id). Under long polling the update is already confirmed; the buyer
  is told the payment is being processed, and the reconciliation with Telegram's ledger
  records it once the cause is gone.
- Anything else is logged once, the user reads a short "something went wrong", and the update
  counts as handled (the webhook answers 200): a broken update is never redelivered forever.
  A pre-checkout query is answered "not ok" (nobody is charged). A payment that is in the
  ledger belongs to the fulfilment worker from then on: its buyer reads that it is being
  processed, never "try again".
"""

from __future__ import annotations

import contextlib

import structlog
from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent, Update, User
from sqlalchemy.exc import SQLAlchemyError

from app.db import uow
from app.db.uow import SessionFactory
from app.flows.payments import PaymentNotRecordedError
from app.i18n import Translator, translator
from app.services import ledger

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


def _charge_of(update: Update) -> str | None:
    paid = update.message.successful_payment if update.message is not None else None
    return paid.telegram_payment_charge_id if paid is not None else None


async def _in_ledger(factory: SessionFactory | None, charge_id: str) -> bool:
    """Whether the payment is in the ledger (False when the ledger cannot tell)."""
    if factory is None:
        return False
    try:
        async with factory() as session, uow.read(session, autocommit=True):
            return bool(await ledger.known_charges(session, [charge_id]))
    except (SQLAlchemyError, OSError):
        return False


async def on_error(
    event: ErrorEvent,
    bot: Bot,
    *,
    t: Translator | None = None,
    webhook: bool = False,
    session_factory: SessionFactory | None = None,
    event_from_user: User | None = None,
) -> bool:
    update, exc = event.update, event.exception
    # ``t`` is missing when the update failed before the language middleware ran.
    t = t or translator(event_from_user.language_code if event_from_user else None)
    chat_id = _chat_of(update)
    charge_id = _charge_of(update)
    ledger_failed = isinstance(exc, PaymentNotRecordedError)  # logged as it happened
    if charge_id is not None and (
        ledger_failed or not await _in_ledger(session_factory, charge_id)
    ):
        log.error(
            "payment not recorded; Telegram will deliver it again"
            if webhook
            else "payment not recorded; reconciliation will record it",
            charge_id=charge_id,
            exc_info=None if ledger_failed else exc,
        )
        if webhook:
            raise PaymentNotRecordedError(charge_id) from (None if ledger_failed else exc)
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
    elif update.pre_checkout_query is not None:
        with contextlib.suppress(TelegramAPIError):
            await update.pre_checkout_query.answer(
                ok=False, error_message=t("buyer.pre_checkout.error")
            )
    elif chat_id is not None:
        # A paid buyer must not read "try again": the recorded payment is the worker's now.
        text = t("buyer.payment.delayed") if charge_id is not None else t("error")
        with contextlib.suppress(TelegramAPIError):
            await bot.send_message(chat_id, text)
    return True
