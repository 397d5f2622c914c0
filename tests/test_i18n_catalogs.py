"""The catalogs themselves: every text in every language, the same placeholders, plural rules
from CLDR, and every key the code asks for."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog

from app.i18n import DEFAULT_LANGUAGE, languages
from tests.i18n_catalogs import (
    english,
    error_codes,
    fields,
    is_plural,
    keys_in_code,
    parity_problems,
    read_catalog,
    source_languages,
    texts,
)

LANGUAGES = source_languages()
OTHER_LANGUAGES = [lang for lang in LANGUAGES if lang != DEFAULT_LANGUAGE]


def test_english_and_russian_catalogs_exist_and_are_compiled() -> None:
    assert {"en", "ru"} <= set(LANGUAGES)
    assert languages() == tuple(LANGUAGES)  # every source catalog has its compiled .mo


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_is_reviewed_and_complete(language: str) -> None:
    catalog = read_catalog(language)
    assert not catalog.fuzzy, f"{language}: the catalog header is marked fuzzy"
    for message in catalog:
        if message.id:
            assert not message.fuzzy, f"{language}: {message.id!r} is marked fuzzy"
    for key, forms in texts(catalog).items():
        assert all(form.strip() for form in forms), f"{language}: {key!r} has an empty form"
        if is_plural(catalog, key):
            assert len(forms) == catalog.num_plurals, f"{language}: {key!r}"
    assert list(catalog.check()) == []


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_text_exists_in_every_language(language: str) -> None:
    """Every key, of every group: buyer, owner, the top-level ones."""
    assert parity_problems(english(), read_catalog(language)) == []


def test_parity_catches_a_missing_key_of_any_group() -> None:
    """Negative control: the check above fails for a key missing from any group."""
    source = english()
    keys = list(texts(source))
    assert {key.split(".")[0] for key in keys} >= {"buyer", "owner", "unknown_command", "error"}
    for key in ("unknown_command", "error", "buyer.menu.title", "owner.stock.done"):
        translated = read_catalog("ru")
        del translated[key]
        assert parity_problems(source, translated) == [f"lacks {key!r}"]
    extra = read_catalog("ru")
    extra.add("buyer.only_in_russian", "Только по-русски")
    assert parity_problems(source, extra) == ["has 'buyer.only_in_russian', which English lacks"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_agree_across_languages_and_plural_forms(language: str) -> None:
    reference, catalog = texts(english()), texts(read_catalog(language))
    for key, english_forms in reference.items():
        expected = fields(english_forms[-1])
        for form in (*english_forms, *catalog[key]):
            assert fields(form) == expected, f"{language}: {key!r}: {form!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_texts_show_their_count(language: str) -> None:
    catalog = read_catalog(language)
    for key, forms in texts(catalog).items():
        if is_plural(catalog, key):
            assert all("n" in fields(form) for form in forms), f"{language}: {key!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_rule_is_the_languages_own(language: str) -> None:
    """The Plural-Forms header is Babel's (CLDR's) rule for the language."""
    assert read_catalog(language).plural_forms == Catalog(locale=language).plural_forms


def test_russian_has_three_plural_forms() -> None:
    assert read_catalog("ru").num_plurals == 3
    assert english().num_plurals == 2


def test_every_key_the_code_asks_for_exists_with_or_without_a_count() -> None:
    catalog = english()
    known = texts(catalog)
    problems = []
    for use in keys_in_code():
        if use.prefix:
            if not any(key.startswith(use.key) for key in known):
                problems.append(f"{use.where}: no text starts with {use.key!r}")
        elif use.key not in known:
            problems.append(f"{use.where}: no text {use.key!r}")
        elif use.counted is False and is_plural(catalog, use.key):
            problems.append(f"{use.where}: {use.key!r} has plural forms, but gets no n=")
    assert problems == []


def test_every_input_error_has_its_text() -> None:
    known = texts(english())
    codes = error_codes()
    assert {"bad_slug", "bad_title", "bad_price"} <= codes
    assert sorted(code for code in codes if f"owner.error.{code}" not in known) == []


def test_texts_with_a_count_have_plural_forms() -> None:
    """The texts that count something a noun agrees with (e.g. "2 items left")."""
    catalog = english()
    counted = {
        "buyer.catalog.card_left",
        "buyer.catalog.card_left_over",
        "buyer.checkout.reserved",
        "buyer.checkout.limit",
        "buyer.checkout.short",
        "buyer.checkout.invoice_more",
        "buyer.checkout.too_many",
        "buyer.cart.left",
        "buyer.cart.added",
        "buyer.cart.full",
        "buyer.alert.low_stock",
        "owner.stats.today",
        "owner.stats.week",
        "owner.stats.all_time",
        "owner.stats.banned",
        "owner.export.orders",
        "owner.export.stock",
        "owner.export.stock_files",
        "buyer.reviews.button",
        "buyer.referral.brought",
        "buyer.restock.limit",
        "owner.stock.restock",
        "owner.stock.restock_over",
        "buyer.reviews.card",
        "owner.broadcast.started",
        "owner.product.ask_title",
        "owner.product.ask_description",
        "owner.error.bad_slug",
        "owner.error.bad_title",
        "owner.error.bad_description",
        "owner.error.bad_category",
    }
    assert {key for key in texts(catalog) if is_plural(catalog, key)} == counted
    assert not any("(s)" in form for forms in texts(catalog).values() for form in forms)
