"""Message texts, captions and inline keyboards, checked the way the Bot API checks them.

A text becomes what the message will carry: its markup parsed (:mod:`tests.fake_api.entities`),
then trimmed as tdlib's ``fix_formatted_text`` does, then measured. Not done: Markdown parse
modes (their text stays as sent), and the URLs, mentions, hashtags and commands the server
finds in plain text on its own (the same text always yields the same entities, which is what
comparing edits needs). Wordings come from the Bot API server (telegram-bot-api/Client.cpp) and
tdlib (td/telegram/MessageContent.cpp), which lowercase the first letter behind "Bad Request: ";
those from Telegram's servers are marked where they are not confirmed.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fake_api.entities import parse_html, sort_key, utf16_len
from tests.fake_api.protocol import JSON, bad_request

# The text length limits count Unicode characters after the markup is parsed and the text
# trimmed: tdlib compares utf8_length() with the options message_text_length_max (4096) and
# message_caption_length_max (1024). answerCallbackQuery's 200 is the Bot API's documented
# "0-200 characters"; its error comes from Telegram's servers as MESSAGE_TOO_LONG
# (eternnoir/pyTelegramBotAPI#500).
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200

_BUTTON_ACTIONS = frozenset(
    {
        *("callback_data", "url", "web_app", "login_url", "copy_text", "callback_game", "pay"),
        *("switch_inline_query", "switch_inline_query_current_chat"),
        "switch_inline_query_chosen_chat",
    }
)


def trim(text: str, entities: list[JSON]) -> tuple[str, list[JSON]]:
    """``fix_formatted_text``: trailing spaces and newlines go, leading ones up to an entity."""
    kept = text.rstrip(" \n")
    end = utf16_len(kept)
    clipped = []
    for entity in entities:
        if entity["offset"] < end:
            clipped.append({**entity, "length": min(entity["length"], end - entity["offset"])})
    first = min((e["offset"] for e in clipped), default=end)
    lead = min(len(kept) - len(kept.lstrip(" \n")), first)
    shifted = [{**e, "offset": e["offset"] - lead} for e in clipped]
    return kept[lead:], sorted(shifted, key=sort_key)


def formatted(text: Any, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
    """Text and entities as the message will carry them (before trimming and length checks).

    A parse mode wins over explicit ``entities``, as in the Bot API server (``get_formatted_text``
    in telegram-bot-api/Client.cpp).
    """
    text = text if isinstance(text, str) else str(text)
    mode = str(parse_mode or "").lower()
    if text and mode == "html":
        return parse_html(text)
    if text and mode not in ("", "none", "markdown", "markdownv2"):
        raise bad_request("unsupported parse_mode")
    if mode not in ("", "none") or not isinstance(entities, list):
        return text, []
    return text, sorted((dict(e) for e in entities if isinstance(e, dict)), key=sort_key)


def message_text(params: JSON) -> JSON:
    """``text`` and ``entities`` of a sendMessage/editMessageText request, as stored."""
    text, entities = trim(
        *formatted(params["text"], params.get("parse_mode"), params.get("entities"))
    )
    if not text:
        raise bad_request("message text is empty")  # the answer bots see for an empty text
    if len(text) > MESSAGE_LIMIT:
        raise bad_request("message is too long")
    return {"text": text, "entities": entities} if entities else {"text": text}


def caption(params: JSON) -> JSON:
    """``caption`` and ``caption_entities`` of a media request; empty when there is none."""
    raw = params.get("caption")
    if not raw:
        return {}
    parse_mode, given = params.get("parse_mode"), params.get("caption_entities")
    text, entities = trim(*formatted(raw, parse_mode, given))
    if len(text) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    content: JSON = {"caption": text} if text else {}
    if text and entities:
        content["caption_entities"] = entities
    return content


def callback_answer_text(params: JSON) -> None:
    if len(str(params.get("text") or "")) > CALLBACK_ANSWER_LIMIT:
        raise bad_request("MESSAGE_TOO_LONG")


def _inline_button_error(reason: str) -> Exception:
    return bad_request(f"can't parse inline keyboard button: {reason}")


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict):
        raise _inline_button_error("InlineKeyboardButton must be an Object")
    if not str(button.get("text", "")).strip():
        raise _inline_button_error("Text is empty")  # wording not confirmed
    if not _BUTTON_ACTIONS.intersection(button):
        raise _inline_button_error("Text buttons are unallowed in the inline keyboard")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= 64:
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
        raise bad_request("BUTTON_URL_INVALID")


def check_reply_markup(markup: Any) -> JSON | None:
    """Validate reply_markup; return it when it is an inline keyboard (the only kind echoed)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("object expected as reply markup")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None  # reply keyboards are not echoed in the returned Message; the bot sends none
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    for row in rows:
        for button in row:
            _check_inline_button(button)
    return {"inline_keyboard": rows} if rows else None
