"""Telegram's own ledger of the bot's Star transactions, as getStarTransactions lists it.

Shapes follow the Bot API server (``JsonStarTransaction`` and ``JsonStarTransactionType`` in
telegram-bot-api/Client.cpp): a payment is ``{"id", "date", "source", "amount"}`` with ``id``
equal to the ``telegram_payment_charge_id``; its refund keeps that ``id`` and carries the same
``TransactionPartnerUser`` as ``receiver``; ``amount`` is positive either way, and
``nanostar_amount`` appears only when it is not zero (never, for invoice payments).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from tests.fake_api.protocol import JSON, bad_request


@dataclass(frozen=True)
class Charge:
    user_id: int
    amount: int
    partner: JSON


@dataclass
class StarLedger:
    """Append-only, in chronological order; dates never go backwards."""

    transactions: list[JSON] = field(default_factory=list)
    charges: dict[str, Charge] = field(default_factory=dict)
    refunded: set[str] = field(default_factory=set)
    _last_date: int = 0

    def _date(self, date: int | None) -> int:
        self._last_date = max(self._last_date, int(time.time()) if date is None else date)
        return self._last_date

    def pay(
        self, user: JSON, payload: str, amount: int, charge_id: str, *, date: int | None = None
    ) -> JSON:
        """An incoming invoice payment; the same charge again (a redelivered update) is a no-op."""
        known = self.charges.get(charge_id)
        if known is not None:
            if (known.user_id, known.amount, known.partner["invoice_payload"]) != (
                user["id"],
                amount,
                payload,
            ):
                raise ValueError(f"charge {charge_id!r} was already issued for another payment")
            return next(t for t in self.transactions if t["id"] == charge_id and "source" in t)
        partner: JSON = {
            "transaction_type": "invoice_payment",
            "type": "user",
            "user": dict(user),
            "invoice_payload": payload,
        }
        self.charges[charge_id] = Charge(user["id"], amount, partner)
        transaction = {
            "id": charge_id,
            "date": self._date(date),
            "source": partner,
            "amount": amount,
        }
        self.transactions.append(transaction)
        return transaction

    def pay_many(
        self, payments: Iterable[tuple[JSON, str, int, str]], *, date: int | None = None
    ) -> None:
        """Many payments at one date, without per-call checks: large ledgers for benchmarks."""
        date = self._date(date)
        for user, payload, amount, charge_id in payments:
            if charge_id in self.charges:
                raise ValueError(f"charge {charge_id!r} was already issued")
            partner: JSON = {
                "transaction_type": "invoice_payment",
                "type": "user",
                "user": dict(user),
                "invoice_payload": payload,
            }
            self.charges[charge_id] = Charge(user["id"], amount, partner)
            self.transactions.append(
                {"id": charge_id, "date": date, "source": partner, "amount": amount}
            )

    def refund(self, user_id: object, charge_id: str, *, date: int | None = None) -> JSON:
        """refundStarPayment's checks, then the outgoing transaction."""
        charge = self.charges.get(charge_id)
        if charge is None or charge.user_id != user_id:
            # Not in Telegram's documented list for payments.refundStarsCharge (which names
            # CHARGE_ALREADY_REFUNDED, CHARGE_ID_EMPTY, USER_ID_INVALID): wording not confirmed.
            raise bad_request("CHARGE_ID_INVALID")
        if charge_id in self.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        self.refunded.add(charge_id)
        transaction = {
            "id": charge_id,
            "date": self._date(date),
            "receiver": charge.partner,
            "amount": charge.amount,
        }
        self.transactions.append(transaction)
        return transaction

    def page(self, offset: int, limit: int) -> JSON:
        return {"transactions": self.transactions[offset : offset + limit]}
