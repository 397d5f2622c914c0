"""Incoming updates (what a user does), shaped exactly like Telegram's.

Building registers what the update implies (the message exists, the query id and the payment
charge were issued), so the bot's answers are validated the same way for polling and webhooks.
"""

from __future__ import annotations

from tests.fake_api.protocol import JSON
from tests.fake_api.stars import StarLedger
from tests.fake_api.store import Store
from tests.fake_api.updates import UpdateQueue


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _command_entities(text: str) -> list[JSON]:
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]


class UpdateBuilders:
    """``build_*`` only build an update (for webhook tests); the unprefixed ones also push it."""

    store: Store
    updates: UpdateQueue
    ledger: StarLedger

    def push_update(self, update: JSON) -> int:
        """Queue an update for getUpdates (assigning an update_id if it has none); wakes polls."""
        return self.updates.push(update)

    def build_message(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str = "en",
        username: str | None = None,
        document: JSON | None = None,
        photo: list[JSON] | None = None,
    ) -> JSON:
        """A private-chat message from the user; with ``document`` (or ``photo``, its PhotoSize
        list) the text becomes its caption."""
        sender = self.store.user(user_id, language_code=language_code, username=username)
        content: JSON = {}
        media = document is not None or photo is not None
        key, entities_key = ("caption", "caption_entities") if media else ("text", "entities")
        if document is not None:
            content["document"] = dict(document)
        if photo is not None:
            content["photo"] = [dict(size) for size in photo]
        if text or not media:
            content[key] = text
            if entities := _command_entities(text):
                content[entities_key] = entities
        message = self.store.new_message(user_id, sender, content)
        return {"update_id": self.updates.next_id(), "message": message}

    def build_callback_query(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        language_code: str = "en",
    ) -> JSON:
        """A button press under ``message_id`` (default: the bot's latest message in that chat)."""
        sender = self.store.user(user_id, language_code=language_code)
        if message_id is None:
            message = self.store.last_bot_message(user_id)
        else:
            message = self.store.messages.get((user_id, message_id))
        if message is None:
            message = self.store.new_message(
                user_id, self.store.bot_user, {"text": "…"}, message_id=message_id
            )
        query_id = self.store.query_id()
        self.store.open_callback_queries.add(query_id)
        query: JSON = {
            "id": query_id,
            "from": sender,
            "message": dict(message),
            "chat_instance": str(-(user_id * 7919 % 10**18)),
            "data": data,
        }
        return {"update_id": self.updates.next_id(), "callback_query": query}

    def build_pre_checkout_query(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        currency: str = "XTR",
        *,
        language_code: str = "en",
    ) -> JSON:
        sender = self.store.user(user_id, language_code=language_code)
        query_id = self.store.query_id()
        self.store.open_pre_checkout_queries.add(query_id)
        query: JSON = {
            "id": query_id,
            "from": sender,
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
        }
        return {"update_id": self.updates.next_id(), "pre_checkout_query": query}

    def build_successful_payment(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        charge_id: str,
        currency: str = "XTR",
        *,
        language_code: str = "en",
    ) -> JSON:
        """The service message Telegram sends after a payment, which is in its ledger from now on
        (building the same payment again, to deliver it twice, changes nothing there)."""
        sender = self.store.user(user_id, language_code=language_code)
        if currency == "XTR":
            self.ledger.pay(sender, payload, total_amount, charge_id)
        payment: JSON = {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": "",
        }
        message = self.store.new_message(user_id, sender, {"successful_payment": payment})
        return {"update_id": self.updates.next_id(), "message": message}

    def message(
        self,
        user_id: int,
        text: str,
        *,
        language_code: str = "en",
        username: str | None = None,
        document: JSON | None = None,
        photo: list[JSON] | None = None,
    ) -> JSON:
        update = self.build_message(
            user_id,
            text,
            language_code=language_code,
            username=username,
            document=document,
            photo=photo,
        )
        self.push_update(update)
        return update

    def callback_query(
        self, user_id: int, data: str, *, message_id: int | None = None, language_code: str = "en"
    ) -> JSON:
        update = self.build_callback_query(
            user_id, data, message_id=message_id, language_code=language_code
        )
        self.push_update(update)
        return update

    def pre_checkout_query(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        currency: str = "XTR",
        *,
        language_code: str = "en",
    ) -> JSON:
        update = self.build_pre_checkout_query(
            user_id, payload, total_amount, currency, language_code=language_code
        )
        self.push_update(update)
        return update

    def successful_payment(
        self,
        user_id: int,
        payload: str,
        total_amount: int,
        charge_id: str,
        currency: str = "XTR",
        *,
        language_code: str = "en",
    ) -> JSON:
        update = self.build_successful_payment(
            user_id, payload, total_amount, charge_id, currency, language_code=language_code
        )
        self.push_update(update)
        return update

    # --- Telegram's side only: the ledger without an update ------------------------------------

    def start_bot(self, *user_ids: int) -> None:
        """These users opened their chat with the bot earlier (pressed Start), so the bot may
        write to them; no update is queued. Users who send any update have started it anyway."""
        for user_id in user_ids:
            self.store.user(user_id)

    def lost_payment(self, user_id: int, payload: str, total_amount: int, charge_id: str) -> JSON:
        """A Stars payment Telegram took and recorded, whose update the bot never received
        (confirmed by a later getUpdates, then lost in a crash); returns its transaction."""
        return self.ledger.pay(self.store.user(user_id), payload, total_amount, charge_id)

    def refund_elsewhere(self, user_id: int, charge_id: str) -> JSON:
        """A refund made outside the bot (another process with the same token); returns the
        outgoing transaction. Refunding it again through the API then fails as at Telegram."""
        return self.ledger.refund(user_id, charge_id)

    def many_payments(
        self, count: int, *, amount: int, payload: str = "order:{n}", first_user: int = 10**6
    ) -> list[str]:
        """``count`` payments in the ledger at once (one user each, no updates), fast enough
        for ledgers of tens of thousands; ``{n}`` in ``payload`` is the payment's number.
        Returns the charge ids in ledger order."""
        base = len(self.ledger.transactions)
        charges = [f"bulk-{base + n}" for n in range(count)]
        self.ledger.pay_many(
            (
                (self.store.user(first_user + n), payload.format(n=n), amount, charge)
                for n, charge in enumerate(charges)
            )
        )
        return charges
