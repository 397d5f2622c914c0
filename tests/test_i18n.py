"""Texts at run time: plural forms (Russian 1, 2, 5, 11, 21, 0), the compiled catalogs against
their sources, escaping, language choice, loud errors, and a language added as a catalog."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiogram.filters import Command
from aiogram.types import Message
from babel import Locale
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

import app.i18n
from app.i18n import (
    DEFAULT_LANGUAGE,
    MissingTextError,
    MissingTranslationWarning,
    Translator,
    languages,
    translator,
)
from tests.harness import RunningBot
from tests.i18n_catalogs import fields, is_plural, read_catalog, source_languages, texts
from tests.shop_helpers import Customer

RUSSIAN_FORMS = ("one", "few", "many")  # the order of the gettext forms in the ru catalog


def _arguments(template: str, n: int) -> dict[str, object]:
    return {name: n if name == "n" else f"X{name}" for name in fields(template)}


@pytest.mark.parametrize(
    ("n", "card", "alert", "reserved"),
    [
        (1, "1 штука", "осталась 1 штука", "на 1 минуту"),
        (2, "2 штуки", "остались 2 штуки", "на 2 минуты"),
        (5, "5 штук", "осталось 5 штук", "на 5 минут"),
        (11, "11 штук", "осталось 11 штук", "на 11 минут"),
        (21, "21 штука", "осталась 21 штука", "на 21 минуту"),
        (0, "0 штук", "осталось 0 штук", "на 0 минут"),
    ],
)
def test_russian_plural_forms(n: int, card: str, alert: str, reserved: str) -> None:
    ru = translator("ru")
    assert ru("buyer.catalog.card_left", n=n) == f"В наличии: <b>{card}</b>"
    low_stock = ru("buyer.alert.low_stock", title="Ключ", n=n, threshold=3)
    assert f"Ключ — {alert} (порог 3)" in low_stock
    assert ru("buyer.checkout.reserved", n=n).startswith(f"Товар забронирован за вами {reserved}.")


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 11, 12, 14, 21, 22, 25, 101, 111, 1000])
def test_every_russian_plural_text_follows_cldr(n: int) -> None:
    catalog = read_catalog("ru")
    index = RUSSIAN_FORMS.index(Locale("ru").plural_form(n))
    ru = translator("ru")
    for key, forms in texts(catalog).items():
        if is_plural(catalog, key):
            template = forms[index]
            assert ru(key, **_arguments(template, n)) == template.format(**_arguments(template, n))


@pytest.mark.parametrize(("n", "text"), [(1, "1 sale"), (0, "0 sales"), (2, "2 sales")])
def test_english_plural_forms(n: int, text: str) -> None:
    assert translator("en")("owner.stats.today", n=n, revenue=7) == f"Today: {text}, 7 ⭐"


@pytest.mark.parametrize("language", source_languages())
def test_compiled_catalogs_say_what_their_sources_say(language: str) -> None:
    catalog, t = read_catalog(language), translator(language)
    assert t.language == language
    for key, forms in texts(catalog).items():
        arguments = _arguments(forms[0], 1)  # n=1 takes the first form in en and ru
        assert t(key, **arguments) == forms[0].format(**arguments), key


def test_arguments_are_html_escaped_and_numbers_kept() -> None:
    text = translator("en")("buyer.menu.welcome", name="<b>Tom & Jerry</b>")
    assert "Hello, &lt;b&gt;Tom &amp; Jerry&lt;/b&gt;!" in text
    assert translator("en")("buyer.pager.page", page=2, pages=5) == "Page 2 of 5"


def test_a_missing_text_is_a_loud_error_in_every_language() -> None:
    assert len(languages()) >= 2
    for language in languages():
        with pytest.raises(MissingTextError, match=r"no text 'buyer\.no_such_text'"):
            translator(language)("buyer.no_such_text")
    assert issubclass(MissingTextError, KeyError)


def test_a_plural_text_needs_its_count() -> None:
    with pytest.raises(TypeError, match="plural forms: pass the count as n="):
        translator("ru")("buyer.catalog.card_left")


def test_a_count_given_to_a_plain_text_is_an_ordinary_argument() -> None:
    en = translator("en")
    assert en("owner.product.ask_price", n=64) == en("owner.product.ask_price")
    assert en("buyer.alert.sold_out", title="Gem", n=0).startswith("📭 <b>Sold out</b>: Gem")


@pytest.mark.parametrize(
    ("code", "language"),
    [("ru", "ru"), ("ru-RU", "ru"), ("RU", "ru"), ("en-GB", "en"), ("fr", "en"), ("", "en")],
)
def test_the_users_language_code_picks_the_catalog(code: str, language: str) -> None:
    assert translator(code).language == language
    assert translator(None).language == DEFAULT_LANGUAGE


# --- a language added as a catalog, with no code change ---------------------------------------


@pytest.fixture
def locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the shop's catalog sources, which app.i18n reads instead of its own."""
    copy = tmp_path / "locales"
    for source in app.i18n.LOCALES_DIR.glob("*/LC_MESSAGES/*.po"):
        target = copy / source.relative_to(app.i18n.LOCALES_DIR)
        target.parent.mkdir(parents=True)
        shutil.copy(source, target)
    monkeypatch.setattr(app.i18n, "LOCALES_DIR", copy)
    app.i18n.reload()
    yield copy
    app.i18n.reload()


def pybabel(*args: str) -> None:
    assert CommandLineInterface().run(["pybabel", "-q", *args]) in (0, None)


def _translate(po: Path, language: str, texts: dict[str, str], drop: str) -> None:
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    for key, text in texts.items():
        message = catalog[key]
        assert message is not None
        message.string = text
    del catalog[drop]
    with po.open("wb") as fh:
        write_po(fh, catalog)


def test_a_new_language_is_a_new_catalog(locales: Path) -> None:
    english = locales / "en" / "LC_MESSAGES" / "messages.po"
    pybabel("init", "-i", str(english), "-d", str(locales), "-l", "de")  # the README's steps
    pybabel("init", "-i", str(english), "-d", str(locales), "-l", "pt_BR")
    pybabel("init", "-i", str(english), "-d", str(locales), "-l", "zh_Hans")
    german = {"buyer.menu.catalog": "🛍 Katalog", "buyer.pager.page": "Seite {page} von {pages}"}
    de_po = locales / "de" / "LC_MESSAGES" / "messages.po"
    _translate(de_po, "de", german, drop="buyer.menu.help")
    pt_po = locales / "pt_BR" / "LC_MESSAGES" / "messages.po"
    _translate(pt_po, "pt_BR", {"buyer.menu.catalog": "🛍 Catálogo"}, drop="buyer.menu.back")
    zh_po = locales / "zh_Hans" / "LC_MESSAGES" / "messages.po"
    _translate(zh_po, "zh_Hans", {"buyer.menu.catalog": "🛍 目录"}, drop="buyer.menu.back")
    pybabel("compile", "-d", str(locales))

    assert app.i18n.languages() == ("de", "en", "pt_BR", "ru", "zh_Hans")
    de = translator("de-AT")
    assert de.language == "de"
    assert de("buyer.menu.catalog") == "🛍 Katalog"
    assert de("buyer.pager.page", page=1, pages=3) == "Seite 1 von 3"
    assert translator("pt-br")("buyer.menu.catalog") == "🛍 Catálogo"
    assert translator("pt").language == "en"  # only pt_BR has a catalog
    assert translator("zh-hans")("buyer.menu.catalog") == "🛍 目录"  # Telegram's tags are lower-case
    assert translator("zh-Hans-CN").language == "zh_Hans"  # the nearest catalog of the tag
    assert translator("zh").language == "en"  # no plain zh
    with pytest.warns(MissingTranslationWarning, match="'buyer.menu.help' is not translated"):
        assert de("buyer.menu.help") == translator("en")("buyer.menu.help")


def test_an_uncompiled_catalog_is_refused(locales: Path) -> None:
    english = locales / "en" / "LC_MESSAGES" / "messages.po"
    pybabel("compile", "-d", str(locales), "-l", "en", "-i", str(english))
    with pytest.raises(RuntimeError, match=r"'ru' but this language is not compiled.*pybabel"):
        translator("ru")


def test_no_compiled_catalog_at_all_is_a_clear_error(locales: Path) -> None:
    shutil.rmtree(locales / "en")
    shutil.rmtree(locales / "ru")
    with pytest.raises(RuntimeError, match=r"no compiled English catalog in .*pybabel compile"):
        translator("en")


async def test_a_handler_asking_for_a_text_the_catalogs_lack_fails_loudly(
    locales: Path, shop: RunningBot
) -> None:
    russian = locales / "ru" / "LC_MESSAGES" / "messages.po"
    _translate(russian, "ru", {}, drop="buyer.menu.help")
    pybabel("compile", "-d", str(locales))
    app.i18n.reload()

    async def probe(message: Message, t: Translator) -> None:
        await message.answer(t(message.text.split()[1] if message.text else ""))

    shop.dispatcher.message.register(probe, Command("probe"))  # ahead of the shop's routers
    english = Customer(shop.api, shop.tracker, 7001, "en")
    await english.send("/probe buyer.menu.help")
    assert english.texts() == ["❓ Help"]
    with pytest.raises(AssertionError, match="failed") as failed:
        await english.send("/probe buyer.no_such_text")
    assert isinstance(failed.value.__cause__, MissingTextError)
    with pytest.raises(AssertionError, match="failed") as failed:
        await Customer(shop.api, shop.tracker, 7002, "ru").send("/probe buyer.menu.help")
    assert isinstance(failed.value.__cause__, MissingTranslationWarning)
