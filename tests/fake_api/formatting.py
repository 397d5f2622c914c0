"""Validation of message texts and keyboards the way the Bot API checks them.

HTML is parsed like Telegram does (supported tags only, every tag properly closed, a bare
``<`` is an error), and the resulting plain text is what a returned Message carries. Markdown parse
modes are not interpreted: their text is returned unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fake_api.protocol import JSON, bad_request

_TAGS = frozenset(
    {
        *("b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler"),
        *("a", "code", "pre", "blockquote", "tg-emoji"),
    }
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^<>]*)?)>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9A-Fa-f]+);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_BUTTON_ACTIONS = frozenset(
    {
        *("callback_data", "url", "web_app", "login_url", "copy_text", "callback_game", "pay"),
        *("switch_inline_query", "switch_inline_query_current_chat"),
        "switch_inline_query_chosen_chat",
    }
)


def _unescape(match: re.Match[str]) -> str:
    name = match.group(1)
    if name in _NAMED:
        return _NAMED[name]
    return chr(int(name[2:], 16) if name[1] in "xX" else int(name[1:]))


def _offset(text: str, index: int) -> int:
    return len(text[:index].encode())


def _entities_error(reason: str) -> Exception:
    return bad_request(f"can't parse entities: {reason}")


def strip_html(text: str) -> str:
    """Plain text of an HTML-formatted message; ``ApiError`` for markup Telegram rejects."""
    out: list[str] = []
    open_tags: list[str] = []
    pos = 0
    while pos < len(text):
        lt = text.find("<", pos)
        chunk = text[pos:] if lt < 0 else text[pos:lt]
        out.append(_ENTITY.sub(_unescape, chunk))
        if lt < 0:
            break
        match = _TAG.match(text, lt)
        if match is None:
            at = _offset(text, lt)
            raise _entities_error(f"Unexpected end of name token at byte offset {at}")
        closing, tag = match.group(1) == "/", match.group(2).lower()
        if tag not in _TAGS:
            kind = "end" if closing else "start"
            raise _entities_error(
                f'Unsupported {kind} tag "{tag}" at byte offset {_offset(text, lt)}'
            )
        if not closing:
            open_tags.append(tag)
        elif not open_tags or open_tags[-1] != tag:
            expected = f'expected "</{open_tags[-1]}>", ' if open_tags else ""
            raise _entities_error(
                f'Unmatched end tag at byte offset {_offset(text, lt)}, {expected}found "</{tag}>"'
            )
        else:
            open_tags.pop()
        pos = match.end()
    if open_tags:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{open_tags[-1]}"')
    return "".join(out)


def render_text(text: Any, parse_mode: Any, *, limit: int, what: str) -> str:
    """Validate a text/caption and return what Telegram would store (markup removed)."""
    if not isinstance(text, str):
        text = str(text)
    plain = strip_html(text) if str(parse_mode).lower() == "html" else text
    if not plain.strip():
        raise bad_request(f"{what} is empty")
    if len(plain.encode("utf-16-le")) // 2 > limit:
        raise bad_request(
            "message is too long" if what == "message text" else f"{what} is too long"
        )
    return plain


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not str(button.get("text", "")).strip():
        raise bad_request("can't parse inline keyboard button: Text is empty")
    actions = _BUTTON_ACTIONS.intersection(button)
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
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
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        for row in rows:
            for button in row:
                _check_inline_button(button)
        return {"inline_keyboard": rows}
    if "keyboard" in markup:
        for row in markup["keyboard"]:
            for button in row:
                text = button.get("text") if isinstance(button, dict) else button
                if not str(text or "").strip():
                    raise bad_request("can't parse keyboard button: Text is empty")
        return None
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return None
    raise bad_request("can't parse reply keyboard markup JSON object")
