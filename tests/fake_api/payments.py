"""Payments in Telegram Stars: invoices, pre-checkout answers, refunds and the Stars ledger."""

from __future__ import annotations

import re
from typing import Any

from tests.fake_api.formatting import check_reply_markup
from tests.fake_api.protocol import (
    JSON,
    QUERY_TOO_OLD,
    ApiRequest,
    bad_request,
    chat_id,
    integer_arg,
)
from tests.fake_api.stars import StarLedger
from tests.fake_api.store import Store

# Bounds of a Stars invoice. At least one Star: tdlib refuses a total that is not positive
# (td/telegram/InputInvoice.cpp, "Total price must be positive"). Telegram documents no maximum
# for a one-off invoice; 10000 is the cap the Bot API documents for the other Star prices a bot
# sets (createInvoiceLink: "Subscription price must no exceed 10000 Telegram Stars";
# createChatSubscriptionInviteLink and transferBusinessAccountStars: 1-10000), and the error is
# assumed to be the one Telegram documents for an invalid total (payments.exportInvoice:
# CURRENCY_TOTAL_AMOUNT_INVALID, "The total amount of all prices is invalid").
STARS_MIN = 1
STARS_MAX = 10000


def _price_error(reason: str) -> Exception:
    return bad_request(f"can't parse labeled price: {reason}")


def _prices(prices: Any) -> list[JSON]:
    """``get_labeled_price_parts`` of telegram-bot-api/Client.cpp."""
    if isinstance(prices, str):
        raise bad_request("can't parse prices JSON object")
    if not isinstance(prices, list):
        raise bad_request("expected an Array of labeled prices")
    for price in prices:
        if not isinstance(price, dict):
            raise _price_error("LabeledPrice must be an Object")
        if not str(price.get("label") or ""):
            raise _price_error("LabeledPrice label must be non-empty")
        amount = price.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise _price_error('Field "amount" must be a valid Number')  # wording not confirmed
    if not prices:
        raise bad_request("there must be at least one price")
    return prices


def _invoice(params: JSON) -> JSON:
    """Validate invoice parameters as Telegram does and return the Invoice object."""
    title, description, payload = (str(params[k]) for k in ("title", "description", "payload"))
    # Title 1-32 and description 1-255 characters are the documented limits; Telegram's
    # servers check them, with wordings not confirmed.
    if len(title) > 32:
        raise bad_request("INVOICE_TITLE_INVALID")
    if len(description) > 255:
        raise bad_request("INVOICE_DESCRIPTION_INVALID")
    if len(payload.encode()) > 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    currency, prices = str(params["currency"]), _prices(params["prices"])
    total = sum(price["amount"] for price in prices)
    if total <= 0:
        raise bad_request("total price must be positive")
    if currency == "XTR":
        tips = params.get("max_tip_amount") or params.get("suggested_tip_amounts")
        if params.get("provider_token") or len(prices) != 1 or tips:
            raise bad_request("STARS_INVOICE_INVALID")  # wording not confirmed
        if not STARS_MIN <= total <= STARS_MAX:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    elif not re.fullmatch(r"[A-Z]{3}", currency):
        raise bad_request("CURRENCY_INVALID")
    elif not params.get("provider_token"):
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    return {
        "title": title,
        "description": description,
        "start_parameter": str(params.get("start_parameter") or ""),
        "currency": currency,
        "total_amount": total,
    }


class Payments:
    def __init__(self, store: Store, ledger: StarLedger) -> None:
        self.store = store
        self.ledger = ledger

    def table(self) -> dict[str, Any]:
        return {
            "sendInvoice": self.send_invoice,
            "answerPreCheckoutQuery": self.answer_pre_checkout_query,
            "refundStarPayment": self.refund_star_payment,
            "getStarTransactions": self.get_star_transactions,
        }

    async def send_invoice(self, req: ApiRequest) -> JSON:
        content: JSON = {"invoice": _invoice(req.params)}
        if (markup := check_reply_markup(req.params.get("reply_markup"))) is not None:
            content["reply_markup"] = markup
        return self.store.bot_message(chat_id(req.params), content)

    async def answer_pre_checkout_query(self, req: ApiRequest) -> bool:
        p = req.params
        query_id = str(p["pre_checkout_query_id"])
        ok = p["ok"] is True or str(p["ok"]).lower() in ("true", "1")
        if not ok and not str(p.get("error_message") or ""):
            raise bad_request('parameter "error_message" is required')
        if query_id not in self.store.open_pre_checkout_queries:
            raise bad_request(QUERY_TOO_OLD)
        self.store.open_pre_checkout_queries.discard(query_id)
        self.store.pre_checkout_answers[query_id] = {
            "ok": ok,
            "error_message": p.get("error_message"),
        }
        return True

    async def refund_star_payment(self, req: ApiRequest) -> bool:
        user_id = req.params["user_id"]
        if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
            raise bad_request("invalid user_id specified")
        self.ledger.refund(user_id, str(req.params["telegram_payment_charge_id"]))
        self.store.stars_refunds.append(dict(req.params))
        return True

    async def get_star_transactions(self, req: ApiRequest) -> JSON:
        offset = integer_arg(req.params.get("offset"), 0, low=0)
        limit = integer_arg(req.params.get("limit"), 100, low=1, high=100)
        return self.ledger.page(offset, limit)
