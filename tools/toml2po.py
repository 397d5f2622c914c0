"""Add texts written as TOML to a language's gettext catalog (``app/locales/<lang>/...po``).

    .venv/bin/python tools/toml2po.py --lang ru new-texts.toml [more.toml ...]

The TOML is what the shop's catalogs used to be: a key is the dotted path of the value
(``[buyer.menu] title = "…"`` is ``buyer.menu.title``), a value is a ``str.format`` template.
A plural text is an array of its plural forms, in the order of the language's ``Plural-Forms``
header (English: one, other; Russian: one, few, many), and counts with ``{n}``::

    [buyer.catalog]
    card_left = ["In stock: <b>{n} item</b>", "In stock: <b>{n} items</b>"]

Each new key goes after the last key of the catalog that shares the longest dotted prefix with
it, so texts stay grouped by feature. A key that the catalog already has is refused, unless
``--replace`` is given. A language without a catalog gets a new one, with its plural rule from
Babel. Compile afterwards: ``.venv/bin/pybabel compile -d app/locales`` (or reinstall).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent.parent / "app" / "locales"
DOMAIN = "messages"
HEADER = """\
# Texts of the shop bot in {language}.
# A msgid is the dotted key that the code passes to t(); a msgstr is a
# str.format template whose arguments are HTML-escaped, since messages are
# sent with the HTML parse mode (write &lt; for a literal <). The
# owner.error.* texts are plain text: the management CLI prints them too.
# A plural text counts with {{n}}; its forms follow the Plural-Forms header.
#"""


def catalog_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def flatten(table: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, str | list[str]]]:
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            yield from flatten(value, path)
        elif isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(form, str) for form in value)
        ):
            yield path, value
        else:
            raise SystemExit(f"error: {path}: a text is a string or an array of strings")


def load(lang: str) -> Catalog:
    path = catalog_path(lang)
    if path.exists():
        with path.open("rb") as fh:
            return read_po(fh, locale=lang, domain=DOMAIN)
    now = datetime.now(UTC)
    catalog = Catalog(
        locale=lang,
        domain=DOMAIN,
        project="digital-market-bot",
        version="1",
        creation_date=now,
        revision_date=now,
        fuzzy=False,
    )
    name = catalog.locale.english_name if catalog.locale else lang
    catalog.header_comment = HEADER.format(language=name)
    return catalog


def _shared(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a.split("."), b.split("."), strict=False):
        if x != y:
            break
        count += 1
    return count


def insert(catalog: Catalog, message: Message) -> None:
    """Put ``message`` after the last key sharing the longest dotted prefix with it."""
    key = str(message.id[0] if isinstance(message.id, tuple) else message.id)
    messages = [m for m in catalog if m.id]
    best, at = 0, len(messages)
    for index, existing in enumerate(messages):
        other = str(existing.id[0] if isinstance(existing.id, tuple) else existing.id)
        if (shared := _shared(key, other)) and shared >= best:
            best, at = shared, index + 1
    messages.insert(at, message)
    for existing in messages:
        del catalog[existing.id]
    for existing in messages:
        catalog[existing.id] = existing


def add(catalog: Catalog, key: str, value: str | list[str], *, replace: bool) -> None:
    if key in catalog and not replace:
        raise SystemExit(f"error: {key} is already in the {catalog.locale} catalog (--replace?)")
    if isinstance(value, list):
        if len(value) != catalog.num_plurals:
            raise SystemExit(
                f"error: {key}: {catalog.locale} has {catalog.num_plurals} plural forms "
                f"({catalog.plural_forms}), the array has {len(value)}"
            )
        message = Message((key, key), tuple(value))
    else:
        message = Message(key, value)
    if key in catalog:
        old = catalog[key]
        if old is not None:
            old.id, old.string = message.id, message.string
            return
    insert(catalog, message)


def save(catalog: Catalog, lang: str) -> None:
    path = catalog_path(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        write_po(fh, catalog, omit_header=False, sort_output=False, no_location=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lang", required=True, help="the catalog's language, e.g. en, ru, pt_BR")
    parser.add_argument("--replace", action="store_true", help="overwrite keys already present")
    parser.add_argument("files", nargs="+", type=Path, help="TOML files with the texts")
    args = parser.parse_args(argv)
    catalog = load(args.lang)
    for file in args.files:
        with file.open("rb") as fh:
            for key, value in flatten(tomllib.load(fh)):
                add(catalog, key, value, replace=args.replace)
    save(catalog, args.lang)
    sys.stderr.write(f"{catalog_path(args.lang)}: {len([m for m in catalog if m.id])} texts\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
