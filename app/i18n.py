"""Texts in several languages, kept in TOML catalogs under ``app/locales/<lang>/*.toml``.

A key is the dotted path inside a file (``catalog.empty``); all files of a language merge into
one catalog. A user's ``language_code`` picks the catalog (``ru-RU`` → ``ru``); a missing
language or key falls back to English. Values are ``str.format`` templates whose arguments are
HTML-escaped, because messages are sent with the HTML parse mode.
"""

from __future__ import annotations

import html
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"


def _flatten(prefix: str, table: dict[str, Any], into: dict[str, str], source: Path) -> None:
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(path, value, into, source)
        elif path in into:
            raise ValueError(f"text {path!r} is defined twice ({source})")
        else:
            into[path] = str(value)


@cache
def catalogs() -> dict[str, dict[str, str]]:
    """Every language's catalog, read once per process."""
    result: dict[str, dict[str, str]] = {}
    for directory in sorted(p for p in LOCALES_DIR.iterdir() if p.is_dir()):
        texts: dict[str, str] = {}
        for file in sorted(directory.glob("*.toml")):
            with file.open("rb") as fh:
                _flatten("", tomllib.load(fh), texts, file)
        result[directory.name] = texts
    return result


class Translator:
    """``t("catalog.title", name=...)`` in one language, falling back to English."""

    def __init__(self, language: str) -> None:
        all_catalogs = catalogs()
        self.language = language if language in all_catalogs else DEFAULT_LANGUAGE
        self._texts = all_catalogs[self.language]
        self._fallback = all_catalogs[DEFAULT_LANGUAGE]

    def __call__(self, key: str, /, **kwargs: Any) -> str:
        template = self._texts.get(key) or self._fallback.get(key)
        if template is None:
            raise KeyError(f"no text {key!r} in the catalogs")
        safe = {k: html.escape(v) if isinstance(v, str) else v for k, v in kwargs.items()}
        return template.format(**safe)


@cache
def translator(language_code: str | None) -> Translator:
    language = (language_code or DEFAULT_LANGUAGE).split("-")[0].lower()
    return Translator(language)
