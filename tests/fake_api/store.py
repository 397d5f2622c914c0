"""State of the fake Telegram: users, chats, messages, files and payment bookkeeping."""

from __future__ import annotations

import itertools
import mimetypes
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fake_api.protocol import JSON, UploadedFile, bad_request

MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str
    content: bytes
    file_path: str

    def document(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_name": self.file_name,
            "mime_type": self.mime_type,
            "file_size": len(self.content),
        }

    def file(self) -> JSON:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class Store:
    """Everything the fake remembers between requests (no I/O, no asyncio)."""

    bot_user: JSON
    users: dict[int, JSON] = field(default_factory=dict)
    messages: dict[tuple[int, int], JSON] = field(default_factory=dict)
    sent: list[tuple[int, JSON]] = field(default_factory=list)
    files: dict[str, StoredFile] = field(default_factory=dict)
    files_by_path: dict[str, StoredFile] = field(default_factory=dict)
    open_callback_queries: set[str] = field(default_factory=set)
    open_pre_checkout_queries: set[str] = field(default_factory=set)
    pre_checkout_answers: dict[str, JSON] = field(default_factory=dict)
    stars_refunds: list[JSON] = field(default_factory=list)  # refundStarPayment calls accepted
    started: set[int] = field(default_factory=set)  # users whose private chat with the bot exists
    blocked: set[int] = field(default_factory=set)
    _last_message_id: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _seq: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def unique(self) -> int:
        return next(self._seq)

    def query_id(self) -> str:
        """A fresh query id, shaped like Telegram's long numeric strings."""
        return str(4_000_000_000_000_000_000 + self.unique())

    # --- users and chats ---------------------------------------------------------------

    def user(self, user_id: int, *, language_code: str = "en", username: str | None = None) -> JSON:
        """The user as an update shows them; a user who does anything has started the bot."""
        self.started.add(user_id)
        record: JSON = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if username is not None:
            record["username"] = username
        elif (known := self.users.get(user_id)) and "username" in known:
            record["username"] = known["username"]
        record["language_code"] = language_code
        self.users[user_id] = record
        return dict(record)

    def chat(self, chat_id: int) -> JSON:
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": f"Group {-chat_id}"}
        user = self.users.get(chat_id, {"first_name": f"User{chat_id}"})
        chat: JSON = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    # --- messages ----------------------------------------------------------------------

    def new_message(
        self, chat_id: int, sender: JSON, content: JSON, *, message_id: int | None = None
    ) -> JSON:
        """Create and remember a message; ids grow per chat, shared by both sides as in Telegram."""
        last = self._last_message_id.get(chat_id, 0)
        message_id = last + 1 if message_id is None else message_id
        self._last_message_id[chat_id] = max(last, message_id)
        message: JSON = {
            "message_id": message_id,
            "from": dict(sender),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            **content,
        }
        self.messages[(chat_id, message_id)] = message
        return message

    def bot_message(self, chat_id: int, content: JSON) -> JSON:
        message = self.new_message(chat_id, self.bot_user, content)
        self.sent.append((chat_id, message))
        return message

    def replace_message(self, message: JSON) -> JSON:
        """Store an edited version of a bot message and log it as sent."""
        chat_id = message["chat"]["id"]
        self.messages[(chat_id, message["message_id"])] = message
        self.sent.append((chat_id, message))
        return message

    def last_bot_message(self, chat_id: int) -> JSON | None:
        for sent_chat, message in reversed(self.sent):
            if sent_chat == chat_id and (chat_id, message["message_id"]) in self.messages:
                return self.messages[(chat_id, message["message_id"])]
        return None

    def find_message(self, chat_id: Any, message_id: Any, *, missing: str) -> JSON:
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise bad_request(missing)
        return message

    # --- files -------------------------------------------------------------------------

    def add_file(self, content: bytes, file_name: str, mime_type: str | None = None) -> StoredFile:
        number = self.unique()
        suffix = file_name.rsplit(".", 1)[1] if "." in file_name else "bin"
        stored = StoredFile(
            file_id=f"BQACAgIAAxkBAAI{secrets.token_urlsafe(24)}",
            file_unique_id=f"AgAD{secrets.token_urlsafe(8)}",
            file_name=file_name,
            mime_type=mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream",
            content=content,
            file_path=f"documents/file_{number}.{suffix}",
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def resolve_input_file(self, value: Any, uploads: dict[str, UploadedFile]) -> StoredFile:
        """A file_id, an HTTP URL or an ``attach://<part>`` reference, as in sendDocument."""
        text = str(value)
        if text.startswith("attach://"):
            upload = uploads.get(text.removeprefix("attach://"))
            if upload is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            generic = upload.content_type in ("", "application/octet-stream")
            mime = None if generic else upload.content_type
            return self.add_file(upload.content, upload.filename or "file", mime)
        if text in self.files:
            return self.files[text]
        if text.startswith(("http://", "https://")):
            return self.add_file(b"", text.rstrip("/").rsplit("/", 1)[-1] or "file")
        raise bad_request("wrong file identifier/HTTP URL specified")

    def get_file(self, file_id: Any) -> StoredFile:
        stored = self.files.get(str(file_id))
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_SIZE:
            raise bad_request("file is too big")
        return stored
