"""Broadcasts: their progress, a new one, and stopping the one that runs.

A broadcast started here is a row the bot's broadcast watcher picks up (within
``BROADCAST_POLL_INTERVAL``) and sends under its lease, throttled as /broadcast is; the panel
never calls Telegram for it. The text is sent as typed (plain text, HTML-escaped). The list
also shows the restock alerts (kind "restock": the product's title is their text).
"""

from __future__ import annotations

import html
from typing import Any, ClassVar

import structlog
from sqladmin import BaseView, ModelView, expose
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin_panel.auth import client_address
from app.admin_panel.context import panel
from app.admin_panel.views.writes import write
from app.db.models import Broadcast
from app.services.broadcast import audience_size, cancel_running, create_broadcast

log = structlog.get_logger(__name__)

MAX_TEXT = 4096  # Telegram's limit for a message


def _progress(model: Any, _attribute: Any) -> str:
    return f"sent {model.sent}, blocked {model.blocked}, failed {model.failed}"


class BroadcastView(ModelView, model=Broadcast):
    name = "Broadcast"
    name_plural = "Broadcasts"
    icon = "fa-solid fa-bullhorn"
    category = "Broadcasts"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    column_list: ClassVar[Any] = [
        Broadcast.id,
        Broadcast.kind,
        Broadcast.status,
        Broadcast.sent,
        Broadcast.created_at,
        Broadcast.finished_at,
    ]
    column_details_list: ClassVar[Any] = [
        Broadcast.id,
        Broadcast.kind,
        Broadcast.status,
        Broadcast.text,
        Broadcast.sent,
        Broadcast.created_at,
        Broadcast.finished_at,
    ]
    column_labels: ClassVar[Any] = {Broadcast.sent: "Progress"}
    column_formatters: ClassVar[Any] = {Broadcast.sent: _progress}
    column_formatters_detail: ClassVar[Any] = {Broadcast.sent: _progress}
    column_default_sort: ClassVar[Any] = [(Broadcast.id, True)]


class NewBroadcastView(BaseView):
    name = "Send a broadcast"
    icon = "fa-solid fa-paper-plane"
    category = "Broadcasts"

    @expose("/broadcast", methods=["GET", "POST"], identity="broadcast")
    async def broadcast_page(self, request: Request) -> Response:
        context: dict[str, Any] = {"max_text": MAX_TEXT}
        async with panel(request).session_factory() as session:
            context["audience"] = await audience_size(session)
        if request.method == "POST":
            form = await request.form()
            if form.get("stop") == "1":
                async with write(request) as session:
                    stopped = await cancel_running(session)
                log.info("broadcasts stopped", ids=stopped, client=client_address(request))
                context["message"] = (
                    "Stopped " + ", ".join(f"#{i}" for i in stopped) if stopped else "None running."
                )
            else:
                raw = str(form.get("text") or "").strip()
                if not raw or len(raw) > MAX_TEXT:
                    context["error"] = f"Write the message: 1 to {MAX_TEXT} characters."
                    context["text"] = raw
                elif context["audience"] == 0:
                    context["error"] = "Nobody to send it to yet."
                else:
                    # The bot reports to the author when done: the first owner, if any.
                    owners = sorted(panel(request).settings.admin_ids)
                    author = owners[0] if owners else 0
                    async with write(request) as session:
                        broadcast = await create_broadcast(session, html.escape(raw), author)
                    log.info("broadcast created", broadcast_id=broadcast.id,
                             client=client_address(request))  # fmt: skip
                    url = request.url_for("admin:details", identity="broadcast", pk=broadcast.id)
                    return RedirectResponse(url, status_code=302)
        status = 400 if "error" in context else 200
        return await self.templates.TemplateResponse(
            request, "panel/broadcast.html", context, status_code=status
        )
