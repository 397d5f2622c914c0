"""A page of a list: the rows shown, which page it is and how many there are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int  # zero-based, clamped into range
    pages: int  # at least 1

    @property
    def has_prev(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return self.page + 1 < self.pages


def clamp_page(total: int, page: int, size: int) -> tuple[int, int]:
    """(page, pages) for ``total`` rows: the page number clamped into range."""
    pages = max(1, -(-total // size))
    return min(max(page, 0), pages - 1), pages


def paginate(items: list[T], page: int, size: int) -> Page[T]:
    """The ``page``-th slice of ``size`` of rows already read."""
    page, pages = clamp_page(len(items), page, size)
    return Page(items[page * size : (page + 1) * size], page, pages)
