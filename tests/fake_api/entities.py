"""HTML parse mode as Telegram implements it: plain text plus entities.

This follows tdlib, which the Bot API server runs (``parse_html`` in
td/telegram/MessageEntity.cpp): the supported tags, the attribute syntax, ``&lt;``-style
references and every error message, byte offsets included; entities sorted by offset, then
length (longest first), then tdlib's type priority. Offsets and lengths are UTF-16 code units,
as in the Bot API.
"""

from __future__ import annotations

from tests.fake_api.protocol import JSON, ApiError, bad_request

_TAGS = frozenset(
    {
        *("a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler"),
        *("tg-emoji", "tg-time", "span", "pre", "code", "blockquote"),
    }
)
_SIMPLE = {
    **dict.fromkeys(("i", "em"), "italic"),
    **dict.fromkeys(("b", "strong"), "bold"),
    **dict.fromkeys(("s", "strike", "del"), "strikethrough"),
    **dict.fromkeys(("u", "ins"), "underline"),
    "tg-spoiler": "spoiler",
}
_SPACE = frozenset(b" \t\r\n\0\v")
_NAME_TOKEN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_ATTRIBUTE_END = frozenset(b" \t\r\n\0\v=>/\"'")
_REFERENCES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
# tdlib's MessageEntity::get_type_priority, for entities with the same offset and length.
_PRIORITY = {
    **dict.fromkeys(("blockquote", "expandable_blockquote"), 0),
    **{"pre": 11, "code": 20, "date_time": 30, "text_link": 49, "text_mention": 49},
    **{"bold": 90, "italic": 91, "underline": 92, "strikethrough": 93, "spoiler": 94},
    "custom_emoji": 99,
}


def _error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def _at(data: bytes, i: int) -> int:
    return data[i] if i < len(data) else 0


def _utf16_units(lead: int) -> int:
    """UTF-16 units a UTF-8 sequence adds, counted on its first byte as tdlib does."""
    if 0x80 <= lead < 0xC0:
        return 0
    return 2 if lead >= 0xF0 else 1


def _reference(data: bytes, pos: int) -> tuple[str, int] | None:
    """tdlib's ``decode_html_entity``: the character and where the text goes on, or None."""
    end = pos + 1
    if _at(data, end) == ord("#"):
        end += 1
        hexadecimal = _at(data, end) == ord("x")
        end += hexadecimal
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        start = end
        while _at(data, end) and chr(data[end]) in digits:
            end += 1
        code = int(data[start:end] or b"0", 16 if hexadecimal else 10)
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(code)
    else:
        while chr(_at(data, end)).isascii() and chr(_at(data, end)).isalpha():
            end += 1
        char = _REFERENCES.get(data[pos + 1 : end], "")
        if not char:
            return None
    return char, end + 1 if _at(data, end) == ord(";") else end


def _checked_link(url: str) -> str:
    """A much smaller ``LinkManager::get_checked_link``: a scheme is kept, ``http://`` added."""
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return ""
    if "://" in url:
        return url
    host, _, path = url.partition("/")
    return f"http://{host}/{path}" if "." in host else ""


class _Parser:
    def __init__(self, text: str) -> None:
        self.data = text.encode()
        self.out: list[str] = []
        self.utf16 = 0
        self.entities: list[JSON] = []
        self.open: list[tuple[str, str, int, int, int]] = []  # tag, argument, date, offset, at

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.utf16 += len(chunk.encode("utf-16-le")) // 2

    def parse(self) -> tuple[str, list[JSON]]:
        data, i = self.data, 0
        while i < len(data):
            c = data[i]
            if c == ord("&") and (reference := _reference(data, i)) is not None:
                self.emit(reference[0])
                i = reference[1]
            elif c != ord("<"):
                end = i + 1
                while end < len(data) and data[end] not in b"&<":
                    end += 1
                self.emit(data[i:end].decode())
                i = end
            elif _at(data, i + 1) == ord("/"):
                i = self.end_tag(i)
            else:
                i = self.start_tag(i)
        if self.open:
            raise _error(f'Can\'t find end tag corresponding to start tag "{self.open[-1][0]}"')
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        self.entities.sort(key=sort_key)
        return "".join(self.out), self.entities

    def start_tag(self, begin: int) -> int:
        data, i = self.data, begin + 1
        while _at(data, i) not in _SPACE and _at(data, i) != ord(">"):
            i += 1
        if _at(data, i) == 0:
            raise _error(f"Unclosed start tag at byte offset {begin}")
        tag = data[begin + 1 : i].decode(errors="replace").lower()
        if tag not in _TAGS:
            raise _error(f'Unsupported start tag "{tag}" at byte offset {begin}')
        argument, date = "", 0
        while _at(data, i) != ord(">"):
            while _at(data, i) and data[i] in _SPACE:
                i += 1
            if _at(data, i) == ord(">"):
                break
            name, value, i = self.attribute(tag, begin, i)
            argument, date = _attribute(tag, name, value, argument, date)
        if tag == "span" and argument != "spoiler":
            raise _error(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.open.append((tag, argument, date, self.utf16, len(self.out)))
        return i + 1

    def attribute(self, tag: str, begin: int, i: int) -> tuple[str, str | None, int]:
        """One ``name=value`` (``value`` None for a bare name) and where the tag goes on."""
        data, name_begin = self.data, i
        while _at(data, i) not in _ATTRIBUTE_END:
            i += 1
        name = data[name_begin:i].decode(errors="replace")
        if not name:
            raise _error(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while _at(data, i) and data[i] in _SPACE:
            i += 1
        if _at(data, i) != ord("="):
            if _at(data, i) == 0:
                raise _error(f'Unclosed start tag "{tag}" at byte offset {begin}')
            return name, None, i
        i += 1
        while _at(data, i) and data[i] in _SPACE:
            i += 1
        if _at(data, i) == 0:
            raise _error(f'Unclosed start tag "{tag}" at byte offset {begin}')
        value, i = self.attribute_value(i)
        if _at(data, i) == 0:
            raise _error(f"Unclosed start tag at byte offset {begin}")
        return name, value, i

    def attribute_value(self, i: int) -> tuple[str, int]:
        data = self.data
        quote = data[i]
        if quote not in b"'\"":
            start = i
            while _at(data, i) in _NAME_TOKEN and _at(data, i):
                i += 1
            if _at(data, i) not in _SPACE and _at(data, i) != ord(">"):
                raise _error(f"Unexpected end of name token at byte offset {start}")
            return data[start:i].decode().lower(), i
        i += 1
        value: list[str] = []
        while _at(data, i) not in (quote, 0):
            if data[i] == ord("&") and (reference := _reference(data, i)) is not None:
                value.append(reference[0])
                i = reference[1]
                continue
            end = i + 1
            while end < len(data) and data[end] not in (quote, ord("&")):
                end += 1
            value.append(data[i:end].decode(errors="replace"))
            i = end
        return "".join(value), i + (_at(data, i) == quote)

    def end_tag(self, begin: int) -> int:
        data, i = self.data, begin + 2
        if not self.open:
            raise _error(f"Unexpected end tag at byte offset {begin}")
        while _at(data, i) not in _SPACE and _at(data, i) != ord(">"):
            i += 1
        name = data[begin + 2 : i].decode(errors="replace").lower()
        while _at(data, i) and data[i] in _SPACE:
            i += 1
        if _at(data, i) != ord(">"):
            raise _error(f"Unclosed end tag at byte offset {begin}")
        tag, argument, date, offset, at = self.open.pop()
        if name and name != tag:
            raise _error(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{name}>"'
            )
        if self.utf16 > offset:
            self.close(tag, argument, date, offset, "".join(self.out[at:]))
        return i + 1

    def close(self, tag: str, argument: str, date: int, offset: int, inner: str) -> None:
        entity: JSON = {
            "type": _SIMPLE.get(tag, tag),
            "offset": offset,
            "length": self.utf16 - offset,
        }
        last = self.entities[-1] if self.entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (
            offset,
            entity["length"],
        )
        if tag == "span":
            entity["type"] = "spoiler"
        elif tag == "tg-emoji":
            if not argument.isdigit() or int(argument) == 0:
                raise _error("Invalid custom emoji identifier specified")
            entity["custom_emoji_id"] = argument
        elif tag == "tg-time":
            if date <= 0:
                return
            entity.update(type="date_time", unix_time=date, date_time_format=argument)
        elif tag == "a":
            if not (url := _checked_link(argument or inner)):
                return
            entity.update(type="text_link", url=url)
        elif tag == "pre" and same_span and last and last["type"] == "code" and "language" in last:
            last["type"] = "pre"
            return
        elif tag == "code" and same_span and last and last["type"] == "pre" and argument:
            last["language"] = argument
            return
        elif tag == "code" and argument:
            entity["language"] = argument  # dropped at the end unless a <pre> closes around it
        elif tag == "blockquote" and argument:
            entity["type"] = "expandable_blockquote"
        self.entities.append(entity)


_ARGUMENTS = {("a", "href"): "", ("tg-emoji", "emoji-id"): "", ("tg-time", "format"): ""}
_PREFIXED = {("code", "class"): "language-", ("span", "class"): "tg-"}


def _attribute(tag: str, name: str, value: str | None, argument: str, date: int) -> tuple[str, int]:
    """What an attribute sets: the tag's argument (link, language, class...) or tg-time's date."""
    if tag == "blockquote" and name == "expandable":
        return "1", date
    if value is None:
        return argument, date
    if (tag, name) in _ARGUMENTS:
        return value, date
    prefix = _PREFIXED.get((tag, name))
    if prefix is not None and value.startswith(prefix):
        return value.removeprefix(prefix), date
    if (tag, name) == ("tg-time", "unix"):
        return argument, int(value) if value.isdigit() else 0
    return argument, date


def sort_key(entity: JSON) -> tuple[int, int, int]:
    kind = entity["type"]
    priority = 10 if kind == "pre" and "language" in entity else _PRIORITY.get(kind, 50)
    return entity["offset"], -entity["length"], priority


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Plain text and entities of an HTML-formatted text; ``ApiError`` as Telegram refuses it."""
    return _Parser(text).parse()
