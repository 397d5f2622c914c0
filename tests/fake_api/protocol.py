"""Wire-level pieces of the fake Bot API: the method registry, request parsing and errors.

The registry is derived from aiogram's own method models, so method names, required
parameters and parameter types follow the real Bot API version aiogram implements.
"""

from __future__ import annotations

import contextlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import aiogram.methods
from aiogram.client.default import Default
from aiohttp import web

JSON = dict[str, Any]


@dataclass
class Call:
    """One request the bot made: canonical method name, decoded parameters, monotonic time."""

    method: str
    params: JSON
    at: float


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a ``multipart/form-data`` request."""

    filename: str
    content: bytes
    content_type: str


@dataclass
class ApiRequest:
    """What a method handler receives."""

    params: JSON
    files: dict[str, UploadedFile] = field(default_factory=dict)


class ApiError(Exception):
    """An error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None):
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body

    def response(self) -> web.Response:
        return web.json_response(self.payload(), status=self.error_code)


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


def integer_arg(value: Any, default: int, *, low: int = -(2**31), high: int = 2**31 - 1) -> int:
    """telegram-bot-api's ``get_integer_arg``: a value out of range is clamped, never refused,
    and one that does not parse reads as 0 (``td::to_integer``)."""
    if value is None or value == "":
        number = default
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = re.match(r"[+-]?\d+", str(value).strip())
        number = int(match.group()) if match else 0
    return min(max(number, low), high)


def chat_id(params: JSON, key: str = "chat_id") -> int:
    """The chat of a request; the fake knows only numeric ids (the bot uses no usernames)."""
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request("chat not found")
    return value


class WaitTimeoutError(AssertionError, TimeoutError):
    """``wait_for`` gave up; both an ``AssertionError`` and an ``asyncio.TimeoutError``."""


def _is_text_only(annotation: Any) -> bool:
    """True when a parameter is typed as a plain string (so it must never be JSON-decoded)."""
    stack, leaves = [annotation], set()
    while stack:
        item = stack.pop()
        if typing.get_origin(item) in (typing.Union, types.UnionType):
            stack.extend(typing.get_args(item))
        elif item not in (type(None), Default):
            leaves.add(item)
    return leaves == {str}


@dataclass(frozen=True)
class MethodSpec:
    name: str
    required: tuple[str, ...]
    text_params: frozenset[str]
    typed_params: frozenset[str]


def _load_registry() -> dict[str, MethodSpec]:
    registry: dict[str, MethodSpec] = {}
    for attr in aiogram.methods.__all__:
        model = getattr(aiogram.methods, attr)
        name = getattr(model, "__api_method__", None)
        if not isinstance(name, str):
            continue
        required: list[str] = []
        text: set[str] = set()
        typed: set[str] = set()
        for py_name, info in model.model_fields.items():
            key = info.alias or py_name
            if info.is_required():
                required.append(key)
            (text if _is_text_only(info.annotation) else typed).add(key)
        registry[name.lower()] = MethodSpec(
            name, tuple(required), frozenset(text), frozenset(typed)
        )
    return registry


METHODS: dict[str, MethodSpec] = _load_registry()

# How the Bot API server (telegram-bot-api/Client.cpp) words a missing parameter: most go
# through get_required_string_arg ('Parameter "X" is required'); a few have their own sentence.
_MISSING = {
    "chat_id": "chat_id is empty",
    "user_id": "invalid user_id specified",
    "text": "message text is empty",
    "callback_query_id": QUERY_TOO_OLD,  # parsed as 0, which Telegram answers QUERY_ID_INVALID
    "pre_checkout_query_id": QUERY_TOO_OLD,
}


def resolve_method(name: str) -> MethodSpec | None:
    """Look a method up case-insensitively, as Telegram does."""
    return METHODS.get(name.lower())


def canonical(name: str) -> str:
    """Canonical spelling of a method name; ``ValueError`` for names the Bot API lacks."""
    spec = resolve_method(name)
    if spec is None:
        raise ValueError(f"{name!r} is not a Bot API method")
    return spec.name


def check_required(spec: MethodSpec, params: JSON) -> None:
    for key in spec.required:
        if params.get(key) is None or params.get(key) == "":  # the server tests the raw string
            raise bad_request(_MISSING.get(key, f'parameter "{key}" is required'))


def _decode(spec: MethodSpec, raw: JSON) -> JSON:
    """Decode JSON-encoded values of non-string parameters ("123" -> 123, "[...]" -> list)."""
    params: JSON = {}
    for key, value in raw.items():
        params[key] = value
        if isinstance(value, str) and key in spec.typed_params:
            with contextlib.suppress(ValueError):  # e.g. chat_id "@channel" stays a string
                params[key] = json.loads(value)
    return params


async def read_request(request: web.Request, spec: MethodSpec) -> ApiRequest:
    """Parse query string, JSON, urlencoded or multipart parameters like the Bot API does."""
    raw: JSON = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                # tdlib's HttpReader words each parse failure differently; approximate.
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")  # tdnet/td/net/HttpReader.cpp
            raw.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    content = value.file.read()
                    files[key] = UploadedFile(value.filename, content, value.content_type)
                    raw[key] = f"attach://{key}"
                else:
                    raw[key] = value
    return ApiRequest(_decode(spec, raw), files)
