"""The message methods the bot calls: sending and editing texts, answering button presses,
sending and fetching documents. Payments live in :mod:`tests.fake_api.payments`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fake_api.formatting import (
    callback_answer_text,
    caption,
    check_reply_markup,
    message_text,
)
from tests.fake_api.photos import check_photo
from tests.fake_api.protocol import JSON, QUERY_TOO_OLD, ApiRequest, bad_request, chat_id
from tests.fake_api.store import Store

Handler = Callable[[ApiRequest], Awaitable[Any]]

# telegram-bot-api/Client.cpp turns Telegram's MESSAGE_NOT_MODIFIED into this sentence.
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
# What an edit compares: the content and its formatting, and the keyboard.
_COMPARED = ("text", "entities", "caption", "caption_entities", "reply_markup")


def _with_markup(content: JSON, params: JSON) -> JSON:
    if (markup := check_reply_markup(params.get("reply_markup"))) is not None:
        content["reply_markup"] = markup
    return content


class Methods:
    """The implemented message methods; ``table()`` maps canonical names to handlers."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def table(self) -> dict[str, Handler]:
        return {
            "getMe": self.get_me,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "answerCallbackQuery": self.answer_callback_query,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "getFile": self.get_file,
        }

    async def get_me(self, _: ApiRequest) -> JSON:
        extra = {"can_join_groups": True, "can_read_all_group_messages": False}
        return {**self.store.bot_user, **extra, "supports_inline_queries": False}

    async def send_message(self, req: ApiRequest) -> JSON:
        target = chat_id(req.params)
        content = _with_markup(message_text(req.params), req.params)
        return self.store.bot_message(target, content)

    async def edit_message_text(self, req: ApiRequest) -> JSON | bool:
        p = req.params
        content = message_text(p)
        if p.get("inline_message_id"):
            check_reply_markup(p.get("reply_markup"))
            return True
        old = self.store.find_message(
            chat_id(p), p.get("message_id"), missing="message to edit not found"
        )
        if old["from"]["id"] != self.store.bot_user["id"]:
            raise bad_request("message can't be edited")
        if "text" not in old:
            raise bad_request("there is no text in the message to edit")
        kept = {k: v for k, v in old.items() if k not in _COMPARED}
        new = _with_markup({**kept, **content}, p)
        if all(old.get(key) == new.get(key) for key in _COMPARED):
            raise bad_request(NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        return self.store.replace_message(new)

    async def answer_callback_query(self, req: ApiRequest) -> bool:
        query_id = str(req.params["callback_query_id"])
        callback_answer_text(req.params)
        if query_id not in self.store.open_callback_queries:
            raise bad_request(QUERY_TOO_OLD)
        self.store.open_callback_queries.discard(query_id)
        return True

    async def send_document(self, req: ApiRequest) -> JSON:
        p = req.params
        target = chat_id(p)
        stored = self.store.resolve_input_file(p["document"], req.files)
        content = _with_markup({"document": stored.document(), **caption(p)}, p)
        return self.store.bot_message(target, content)

    async def send_photo(self, req: ApiRequest) -> JSON:
        """A photo upload (multipart ``attach://``) or a file_id: checked as Telegram checks it
        (at most 10 MB, an image it can decode, width + height at most 10000, sides at most 20
        to 1), answered with the PhotoSize list of the message."""
        p = req.params
        target = chat_id(p)
        if "photo" not in p:
            raise bad_request("there is no photo in the request")
        stored = self.store.resolve_input_file(p["photo"], req.files)
        photo_sizes = check_photo(stored)
        content = _with_markup({"photo": photo_sizes, **caption(p)}, p)
        return self.store.bot_message(target, content)

    async def get_file(self, req: ApiRequest) -> JSON:
        return self.store.get_file(req.params["file_id"]).file()
