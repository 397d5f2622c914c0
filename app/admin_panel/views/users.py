"""Users: the buyers the shop knows, searchable by id, username or name."""

from __future__ import annotations

from typing import Any, ClassVar

from sqladmin import ModelView
from sqlalchemy import ColumnElement, Select, or_

from app.db.models import User


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
        User.last_seen_at,
        User.created_at,
    ]
    column_labels: ClassVar[Any] = {User.is_blocked: "Blocked the bot"}
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
