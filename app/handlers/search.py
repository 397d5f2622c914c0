"""Search: the Search button or ``/search <words>``; results paged, each a product's card.

The words of the last search are kept in the buyer's FSM data, so that the pager's buttons
carry only a page number (callback data holds at most 64 bytes).
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.uow import read
from app.filters.magic import Match
from app.handlers.admin.common import command_args
from app.handlers.screens import show, tell
from app.i18n import Translator
from app.keyboards import buyer as kb
from app.services.search import search, search_words

WORDS = "search_words"


class SearchDialog(StatesGroup):
    words = State()


async def _results(
    session: AsyncSession, t: Translator, words: list[str], page: int
) -> tuple[str, InlineKeyboardMarkup]:
    async with read(session, autocommit=True):
        listing = await search(session, words, page)
    asked = " ".join(words)
    if not listing.items:
        return t("buyer.search.nothing", words=asked), kb.search_results(t, listing)
    text = t("buyer.search.results", words=asked)
    if listing.pages > 1:
        text += "\n\n" + t("buyer.pager.page", page=listing.page + 1, pages=listing.pages)
    return text, kb.search_results(t, listing)


async def _answer(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator, text: str
) -> None:
    words = search_words(text)
    if not words:
        await state.set_state(SearchDialog.words)
        await message.answer(t("buyer.search.ask"), reply_markup=kb.back_to_menu(t))
        return
    await state.set_state(None)
    await state.update_data({WORDS: words})
    reply, markup = await _results(session, t, words, 0)
    await message.answer(reply, reply_markup=markup)


async def search_command(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    await _answer(message, state, session, t, command_args(message))


async def search_words_typed(
    message: Message, state: FSMContext, session: AsyncSession, t: Translator
) -> None:
    await _answer(message, state, session, t, message.text or "")


async def search_button(query: CallbackQuery, state: FSMContext, bot: Bot, t: Translator) -> None:
    await state.set_state(SearchDialog.words)
    await show(query, bot, t("buyer.search.ask"), kb.back_to_menu(t))


async def search_page(
    query: CallbackQuery,
    *,
    callback_data: kb.SearchCb,
    state: FSMContext,
    session: AsyncSession,
    bot: Bot,
    t: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    words = (await state.get_data()).get(WORDS)
    if not isinstance(words, list) or not words:
        tell(callback_answer, t("buyer.search.expired"), alert=True)
        return
    text, markup = await _results(session, t, [str(w) for w in words], callback_data.page)
    await show(query, bot, text, markup)


def router() -> Router:
    """This feature's handlers on a new router: each Dispatcher gets its own."""
    feature = Router(name=__name__)
    feature.message.register(search_command, Command("search"))
    feature.message.register(
        search_words_typed, StateFilter(SearchDialog.words), Match(F.text & ~F.text.startswith("/"))
    )
    feature.callback_query.register(search_button, kb.MenuCb.filter(F.action == "search"))
    feature.callback_query.register(search_page, kb.SearchCb.filter())
    return feature
