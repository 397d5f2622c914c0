"""Bounded integer fields for callback data.

Callback data comes back from the client, and anyone can send any bytes as a button's data.
Every integer field is bounded to what the shop can have issued, so a forged press fails to
unpack (aiogram's callback filter treats that as "not this button") and falls through to the
stale-button answer, instead of reaching the database with an id the column cannot hold
(PostgreSQL's ``integer`` is 32-bit; SQLite takes at most 64 bits).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ROW_ID = 2**31 - 1  # an autoincrement INTEGER primary key on PostgreSQL
MAX_PAGE = 100_000  # far beyond any listing: 800,000 products at 8 a page

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
CategoryRef = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]  # 0: products without a category
PageNumber = Annotated[int, Field(ge=0, le=MAX_PAGE)]
