"""Bot API method implementations over the fake's :class:`Store`."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fake_api.formatting import check_reply_markup, render_text
from tests.fake_api.protocol import JSON, ApiRequest, bad_request
from tests.fake_api.store import Store

Handler = Callable[[ApiRequest], Awaitable[Any]]

QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a content and reply markup of the current message"
)
_CHAT_ACTIONS = frozenset(
    {
        *("typing", "upload_photo", "record_video", "upload_video", "record_voice"),
        *("upload_voice", "upload_document", "choose_sticker", "find_location"),
        *("record_video_note", "upload_video_note"),
    }
)
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_COPIED = ("text", "entities", "caption", "caption_entities", "document", "photo", "invoice")


def _chat_id(params: JSON, key: str = "chat_id") -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request("chat not found")
    return value


def _with_markup(content: JSON, params: JSON) -> JSON:
    if (markup := check_reply_markup(params.get("reply_markup"))) is not None:
        content["reply_markup"] = markup
    return content


def _caption(content: JSON, params: JSON) -> JSON:
    caption = params.get("caption")
    if caption:
        text = render_text(caption, params.get("parse_mode"), limit=1024, what="message caption")
        content["caption"] = text
    return content


def _valid_price(price: Any) -> bool:
    return (
        isinstance(price, dict)
        and str(price.get("label") or "").strip() != ""
        and isinstance(price.get("amount"), int)
        and not isinstance(price.get("amount"), bool)
    )


def _invoice(params: JSON) -> JSON:
    """Validate invoice parameters as Telegram does and return the Invoice object."""
    title, description, payload = (str(params[k]) for k in ("title", "description", "payload"))
    if not 1 <= len(title) <= 32:
        raise bad_request("INVOICE_TITLE_INVALID")
    if not 1 <= len(description) <= 255:
        raise bad_request("INVOICE_DESCRIPTION_INVALID")
    if not 1 <= len(payload.encode()) <= 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    currency, prices = str(params["currency"]), params["prices"]
    if not isinstance(prices, list) or not prices or not all(map(_valid_price, prices)):
        raise bad_request("can't parse prices JSON object")
    total = sum(price["amount"] for price in prices)
    if currency == "XTR":
        tips = params.get("max_tip_amount") or params.get("suggested_tip_amounts")
        if params.get("provider_token") or len(prices) != 1 or tips:
            raise bad_request("STARS_INVOICE_INVALID")
    elif not re.fullmatch(r"[A-Z]{3}", currency):
        raise bad_request("CURRENCY_INVALID")
    elif not params.get("provider_token"):
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    if total <= 0:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    return {
        "title": title,
        "description": description,
        "start_parameter": str(params.get("start_parameter") or ""),
        "currency": currency,
        "total_amount": total,
    }


class Methods:
    """The implemented methods; ``table()`` maps canonical names to handlers."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def table(self) -> dict[str, Handler]:
        return {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendDocument": self.send_document,
            "copyMessage": self.copy_message,
            "forwardMessage": self.forward_message,
            "sendInvoice": self.send_invoice,
            "createInvoiceLink": self.create_invoice_link,
            "answerPreCheckoutQuery": self.answer_pre_checkout_query,
            "refundStarPayment": self.refund_star_payment,
            "getFile": self.get_file,
            "setMyCommands": self.set_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "getMyCommands": self.get_my_commands,
            "sendChatAction": self.send_chat_action,
        }

    async def get_me(self, _: ApiRequest) -> JSON:
        extra = {"can_join_groups": True, "can_read_all_group_messages": False}
        return {**self.store.bot_user, **extra, "supports_inline_queries": False}

    async def send_message(self, req: ApiRequest) -> JSON:
        p = req.params
        chat_id = _chat_id(p)
        text = render_text(p["text"], p.get("parse_mode"), limit=4096, what="message text")
        return self.store.bot_message(chat_id, _with_markup({"text": text}, p))

    def _editable(self, p: JSON) -> JSON:
        message = self.store.find_message(
            _chat_id(p), p.get("message_id"), missing="message to edit not found"
        )
        if message["from"]["id"] != self.store.bot_user["id"]:
            raise bad_request("message can't be edited")
        return message

    def _store_edit(self, old: JSON, new: JSON) -> JSON:
        if all(old.get(key) == new.get(key) for key in ("text", "caption", "reply_markup")):
            raise bad_request(_NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        return self.store.replace_message(new)

    async def edit_message_text(self, req: ApiRequest) -> JSON | bool:
        p = req.params
        text = render_text(p["text"], p.get("parse_mode"), limit=4096, what="message text")
        if p.get("inline_message_id"):
            check_reply_markup(p.get("reply_markup"))
            return True
        old = self._editable(p)
        if "text" not in old:
            raise bad_request("there is no text in the message to edit")
        new = {k: v for k, v in old.items() if k not in ("reply_markup", "entities")}
        return self._store_edit(old, _with_markup({**new, "text": text}, p))

    async def edit_message_reply_markup(self, req: ApiRequest) -> JSON | bool:
        p = req.params
        if p.get("inline_message_id"):
            check_reply_markup(p.get("reply_markup"))
            return True
        old = self._editable(p)
        new = {k: v for k, v in old.items() if k != "reply_markup"}
        return self._store_edit(old, _with_markup(new, p))

    async def delete_message(self, req: ApiRequest) -> bool:
        message_id = req.params.get("message_id")
        key = (_chat_id(req.params), message_id if isinstance(message_id, int) else 0)
        if self.store.messages.pop(key, None) is None:
            raise bad_request("message to delete not found")
        return True

    async def answer_callback_query(self, req: ApiRequest) -> bool:
        query_id = str(req.params["callback_query_id"])
        if query_id not in self.store.open_callback_queries:
            raise bad_request(QUERY_TOO_OLD)
        self.store.open_callback_queries.discard(query_id)
        return True

    async def send_document(self, req: ApiRequest) -> JSON:
        p = req.params
        chat_id = _chat_id(p)
        stored = self.store.resolve_input_file(p["document"], req.files)
        content = _with_markup(_caption({"document": stored.document()}, p), p)
        return self.store.bot_message(chat_id, content)

    def _source(self, p: JSON, what: str) -> JSON:
        return self.store.find_message(
            _chat_id(p, "from_chat_id"), p.get("message_id"), missing=f"message to {what} not found"
        )

    async def copy_message(self, req: ApiRequest) -> JSON:
        p = req.params
        chat_id, source = _chat_id(p), self._source(p, "copy")
        if "successful_payment" in source or "invoice" in source:
            raise bad_request("message can't be copied")
        content = {key: source[key] for key in _COPIED if key in source}
        if "caption" in p:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            _caption(content, p)
        copied = self.store.bot_message(chat_id, _with_markup(content, p))
        return {"message_id": copied["message_id"]}

    async def forward_message(self, req: ApiRequest) -> JSON:
        p = req.params
        chat_id, source = _chat_id(p), self._source(p, "forward")
        content = {key: source[key] for key in _COPIED if key in source}
        origin = {"type": "user", "sender_user": source["from"], "date": source["date"]}
        return self.store.bot_message(chat_id, {**content, "forward_origin": origin})

    async def send_invoice(self, req: ApiRequest) -> JSON:
        chat_id = _chat_id(req.params)
        content = {"invoice": _invoice(req.params)}
        return self.store.bot_message(chat_id, _with_markup(content, req.params))

    async def create_invoice_link(self, req: ApiRequest) -> str:
        _invoice(req.params)
        return "https://t.me/$" + secrets.token_urlsafe(12)

    async def answer_pre_checkout_query(self, req: ApiRequest) -> bool:
        p = req.params
        query_id = str(p["pre_checkout_query_id"])
        if not isinstance(p["ok"], bool):
            raise bad_request("wrong parameter ok in request")
        if not p["ok"] and not str(p.get("error_message") or "").strip():
            raise bad_request("ERROR_MESSAGE_EMPTY")
        if query_id not in self.store.open_pre_checkout_queries:
            raise bad_request(QUERY_TOO_OLD)
        self.store.open_pre_checkout_queries.discard(query_id)
        answer = {"ok": p["ok"], "error_message": p.get("error_message")}
        self.store.pre_checkout_answers[query_id] = answer
        return True

    async def refund_star_payment(self, req: ApiRequest) -> bool:
        p = req.params
        charge_id = str(p["telegram_payment_charge_id"])
        if self.store.charges.get(charge_id) != p["user_id"]:
            raise bad_request("CHARGE_ID_INVALID")
        if charge_id in self.store.refunded:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        self.store.refunded.add(charge_id)
        self.store.stars_refunds.append(dict(p))
        return True

    async def get_file(self, req: ApiRequest) -> JSON:
        return self.store.get_file(req.params["file_id"]).file()

    @staticmethod
    def _commands_key(p: JSON) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(p.get("language_code") or "")

    async def set_my_commands(self, req: ApiRequest) -> bool:
        commands = req.params["commands"]
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND.match(str(command.get("command"))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.store.commands[self._commands_key(req.params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def delete_my_commands(self, req: ApiRequest) -> bool:
        self.store.commands.pop(self._commands_key(req.params), None)
        return True

    async def get_my_commands(self, req: ApiRequest) -> list[JSON]:
        return list(self.store.commands.get(self._commands_key(req.params), []))

    async def send_chat_action(self, req: ApiRequest) -> bool:
        _chat_id(req.params)
        if req.params["action"] not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True
