"""Incoming updates (what a user does), shaped exactly like Telegram's.

Building registers what the update implies (the message exists, the query id and the payment
charge were issued), so the bot's answers are validated the same way for polling and webhooks.
"""

from __future__ import annotations

from tests.fake_api.protocol import JSON
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
    ) -> JSON:
        """A private-chat message from the user; with ``document`` the text becomes its caption."""
        sender = self.store.user(user_id, language_code=language_code, username=username)
        content: JSON = {}
        key, entities_key = ("caption", "caption_entities") if document else ("text", "entities")
        if document is not None:
            content["document"] = dict(document)
        if text or document is None:
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
        """The service message Telegram sends after a payment; the charge becomes refundable."""
        sender = self.store.user(user_id, language_code=language_code)
        self.store.charges[charge_id] = user_id
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
    ) -> JSON:
        update = self.build_message(
            user_id, text, language_code=language_code, username=username, document=document
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
