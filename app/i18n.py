"""Texts in several languages: gettext catalogs, loaded by aiogram's ``I18n``.

Catalogs. ``app/locales/<lang>/LC_MESSAGES/messages.po`` are the sources (in the repository);
the build compiles each into ``messages.mo`` beside it (``setup.py``; the wheel ships only the
``.mo``). A msgid is the dotted key that the code asks for (``buyer.menu.title``), and English
is a catalog like any other. A language is a directory: a new catalog needs no code change.

Asking for a text. Handlers get ``t``, a :class:`Translator` for the language of the user
behind the update (``app/middlewares/i18n.py``); elsewhere use ``translator(language_code)``::

    t("buyer.menu.welcome", name=user.full_name)
    t("buyer.catalog.card_left", n=left)      # a text with plural forms, chosen by n

A text is a ``str.format`` template; its ``str`` arguments are HTML-escaped, because messages
are sent with the HTML parse mode. A text with plural forms is chosen by the integer ``n``,
which it shows as ``{n}``; each language has its own number of forms and its own rule (the
catalog's ``Plural-Forms`` header: English one/other, Russian 1 ключ / 2 ключа / 5 ключей).
Asking for a plural text without ``n`` is an error; for a text without plural forms, ``n`` is
an ordinary argument. Telegram's ``language_code`` picks the catalog (``pt-br`` → ``pt_BR``,
then ``pt``), else English. A text missing from the user's language falls back to English
with a :class:`MissingTranslationWarning` (an error in the tests, which turn warnings into
errors); a text that English lacks too raises :class:`MissingTextError`.

Adding a text: add the entry to every ``messages.po``, then compile them
(``.venv/bin/pybabel compile -d app/locales``; the tests and every build do it too)::

    msgid "buyer.menu.title"
    msgstr "🏠 <b>Main menu</b>"

    msgid "buyer.catalog.card_left"
    msgid_plural "buyer.catalog.card_left"
    msgstr[0] "In stock: <b>{n} item</b>"
    msgstr[1] "In stock: <b>{n} items</b>"

A TOML entry of the former catalogs, ``[buyer.menu] title = "…"``, is the entry ``msgid
"buyer.menu.title"`` / ``msgstr "…"``; ``tools/toml2po.py --lang ru FILE.toml`` converts a
whole TOML file into a catalog (an array of strings becomes the plural forms).
"""

from __future__ import annotations

import html
import warnings
from functools import cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogram.utils.i18n import I18n

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"


class MissingTextError(KeyError):
    """No catalog has the text, not even English."""


class MissingTranslationWarning(UserWarning):
    """The user's language lacks a text that English has; the English one is used."""


class _NotFoundError(Exception):
    pass


class _NoFallback(NullTranslations):
    """Last in a catalog's chain: a text the catalog does not have is not quietly its msgid."""

    def gettext(self, message: str) -> str:
        raise _NotFoundError

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        raise _NotFoundError


@cache
def load_i18n() -> I18n:
    """aiogram's ``I18n`` over the compiled catalogs, read once per process, on first use."""
    # Imported here, not at start-up: aiogram.utils.i18n pulls in Babel when it is installed.
    from aiogram.utils.i18n import I18n  # noqa: PLC0415

    how = "build the package (pip install .) or run `pybabel compile -d app/locales`"
    try:
        i18n = I18n(path=LOCALES_DIR, default_locale=DEFAULT_LANGUAGE, domain=DOMAIN)
    except RuntimeError as exc:  # a catalog without its compiled .mo
        raise RuntimeError(f"{exc} ({LOCALES_DIR}): {how}") from exc
    if DEFAULT_LANGUAGE not in i18n.locales:
        raise RuntimeError(f"no compiled English catalog in {LOCALES_DIR}: {how}")
    for catalog in i18n.locales.values():
        catalog.add_fallback(_NoFallback())
    return i18n


def reload() -> None:
    """Forget the loaded catalogs: the next text reads them again (after a new compile)."""
    for cached in (load_i18n, _texts, translator):
        cached.cache_clear()


def languages() -> tuple[str, ...]:
    """The languages that have a compiled catalog, e.g. ``("en", "ru")``."""
    return tuple(sorted(load_i18n().available_locales))


def _pick_language(language_code: str | None, available: tuple[str, ...]) -> str:
    """The catalog for an IETF tag such as ``pt-br`` or ``zh-hans-cn``: the whole tag, then the
    tag without its last subtag, and so on, matched without regard to case (Babel names the
    catalogs ``pt_BR``, ``zh_Hans``)."""
    by_lower = {name.lower(): name for name in available}
    parts = (language_code or "").replace("-", "_").lower().split("_")
    candidates = ("_".join(parts[:end]) for end in range(len(parts), 0, -1))
    return next((by_lower[c] for c in candidates if c in by_lower), DEFAULT_LANGUAGE)


class _Texts:
    """One language's compiled catalog, asked for a template by key."""

    def __init__(self, catalog: GNUTranslations) -> None:
        self._catalog = catalog
        self._plural: dict[str, bool] = {}  # key → whether the text has plural forms

    def template(self, key: str, n: int | None) -> str | None:
        """The template for ``n``; None when the catalog lacks the text."""
        plural = self._plural.get(key)
        if plural is None:
            plural = self._has_plural_forms(key)
            if plural is None:
                return None
            self._plural[key] = plural
        if not plural:
            return self._catalog.gettext(key)
        if n is None:
            raise TypeError(f"text {key!r} has plural forms: pass the count as n=")
        return self._catalog.ngettext(key, key, n)

    def _has_plural_forms(self, key: str) -> bool | None:
        try:
            self._catalog.ngettext(key, key, 1)
        except _NotFoundError:
            try:
                self._catalog.gettext(key)
            except _NotFoundError:
                return None
            return False
        return True


@cache
def _texts(language: str) -> _Texts:
    return _Texts(load_i18n().locales[language])


class Translator:
    """``t("catalog.title", name=...)`` in one language, falling back to English."""

    def __init__(self, language: str) -> None:
        self.language = language if language in load_i18n().locales else DEFAULT_LANGUAGE
        self._own = _texts(self.language)
        self._english = _texts(DEFAULT_LANGUAGE)

    def __call__(self, key: str, /, **kwargs: Any) -> str:
        n = kwargs.get("n")
        template = self._own.template(key, n)
        if template is None and self._own is not self._english:
            template = self._english.template(key, n)
            if template is not None:
                warnings.warn(
                    f"text {key!r} is not translated into {self.language!r}; English is used",
                    MissingTranslationWarning,
                    stacklevel=2,
                )
        if template is None:
            raise MissingTextError(f"no text {key!r} in the catalogs")
        safe = {k: html.escape(v) if isinstance(v, str) else v for k, v in kwargs.items()}
        return template.format(**safe)


@cache
def translator(language_code: str | None) -> Translator:
    return Translator(_pick_language(language_code, languages()))
