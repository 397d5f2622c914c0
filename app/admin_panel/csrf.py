"""CSRF protection: every request that is not GET/HEAD/OPTIONS carries the session's token.

The token lives in the signed session cookie and is sent back as the form field ``csrf_token``
(every form of the panel has it) or the ``X-CSRF-Token`` header (the panel's scripts). A
request without it, or with another one, is refused with 403 before any view runs. The body
is read once here (up to :data:`MAX_BODY` bytes) and handed on unchanged.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

import structlog
from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FIELD = "csrf_token"
HEADER = "x-csrf-token"
SESSION_KEY = "csrf"
# A stock file may be 5 MB (app.services.stock.MAX_UPLOAD_BYTES), plus the multipart framing.
MAX_BODY = 6 * 1024 * 1024


def csrf_token(request: HTTPConnection) -> str:
    """The session's token, made on first use (templates call it to fill their forms)."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


def new_csrf_token(request: HTTPConnection) -> str:
    """A fresh token, e.g. once the owner has signed in."""
    request.session.pop(SESSION_KEY, None)
    return csrf_token(request)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _form_token(scope: Scope, body: bytes) -> str | None:
    content_type = Request(scope).headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    form: FormData = await Request(scope, _replay(body)).form()
    try:
        value = form.get(FIELD)
        return value if isinstance(value, str) else None
    finally:
        await form.close()


class CSRFMiddleware:
    """Inside the session middleware: it reads the token the signed cookie carries."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        expected = connection.session.get(SESSION_KEY)
        body = await _read_body(receive)
        if body is None:
            await PlainTextResponse("The request is too large.", status_code=413)(
                scope, receive, send
            )
            return
        sent = connection.headers.get(HEADER) or await _form_token(scope, body)
        if not _matches(expected, sent):
            log.warning(
                "request refused: CSRF token missing or wrong",
                method=scope["method"],
                path=scope["path"],
                client=connection.client.host if connection.client else None,
            )
            response = PlainTextResponse(
                "This form has expired or did not come from the panel. "
                "Reload the page and try again.",
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body), send)


def _matches(expected: Any, sent: str | None) -> bool:
    if not isinstance(expected, str) or not expected or not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())
