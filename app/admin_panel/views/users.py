"""Users: the buyers the shop knows, searchable by id, username or name; ban and unban.

A banned user's updates are ignored by the bot (payments excepted) within seconds
(:mod:`app.middlewares.bans`). Banning is a POST with the CSRF token, through the bans service.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from sqladmin import ModelView, expose
from sqlalchemy import ColumnElement, Select, or_
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.admin_panel.auth import client_address
from app.admin_panel.texts import PanelInputError
from app.admin_panel.views.writes import write
from app.db.models import User
from app.services.bans import set_banned

log = structlog.get_logger(__name__)


class UserView(ModelView, model=User):
    name = "User"
    name_plural = "Users"
    icon = "fa-solid fa-users"
    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    page_size = 25
    column_list: ClassVar[Any] = [
        User.id,
        User.username,
        User.first_name,
        User.language_code,
        User.is_blocked,
        User.banned_at,
        User.last_seen_at,
        User.created_at,
    ]
    column_details_list = column_list
    details_template = "panel/user.html"
    column_labels: ClassVar[Any] = {User.is_blocked: "Blocked the bot", User.banned_at: "Banned"}
    column_searchable_list: ClassVar[Any] = [User.username, User.first_name]
    column_sortable_list: ClassVar[Any] = [User.id, User.last_seen_at, User.created_at]
    column_default_sort: ClassVar[Any] = [(User.last_seen_at, True)]

    def search_placeholder(self) -> str:
        return "User id, @username or name"

    def search_query(self, stmt: Select[Any], term: str) -> Select[Any]:
        term = term.strip().removeprefix("@")
        matches: list[ColumnElement[bool]] = [
            User.username.ilike(f"%{term}%"),
            User.first_name.ilike(f"%{term}%"),
        ]
        if term.lstrip("-").isdigit() and len(term) <= 19:
            matches.append(User.id == int(term))
        return stmt.where(or_(*matches))

    @expose("/ban/{pk:int}", methods=["POST"])
    async def ban(self, request: Request) -> Response:
        """``ban=1`` bans, ``ban=0`` lifts the ban; then back to the user's page."""
        user_id = int(request.path_params["pk"])
        banned = (await request.form()).get("ban") == "1"
        try:
            async with write(request) as session:
                changed = await set_banned(session, user_id, banned)
        except PanelInputError:
            raise HTTPException(status_code=404) from None
        if changed:
            log.info(
                "user banned" if banned else "user unbanned",
                user_id=user_id,
                client=client_address(request),
            )
        url = request.url_for("admin:details", identity=self.identity, pk=user_id)
        return RedirectResponse(url, status_code=302)
