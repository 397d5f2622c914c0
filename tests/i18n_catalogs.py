"""Read the gettext catalogs' sources and the code's text keys, for the i18n tests."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from app.i18n import DEFAULT_LANGUAGE, DOMAIN, LOCALES_DIR

APP_DIR = LOCALES_DIR.parent


def key_pattern(catalog: Catalog) -> re.Pattern[str]:
    """What a text key in the code looks like: a dotted key of one of the catalog's groups
    (``buyer.…``, ``owner.…``, whatever group English has), or one of its top-level keys."""
    keys = texts(catalog)
    groups = sorted({key.split(".", 1)[0] for key in keys if "." in key})
    top = sorted(key for key in keys if "." not in key)
    dotted = "(" + "|".join(map(re.escape, groups)) + r")(\.[a-z0-9_]+)+"
    return re.compile("|".join([dotted, *map(re.escape, top)]))


def source_languages(locales: Path = LOCALES_DIR) -> list[str]:
    return sorted(p.parent.parent.name for p in locales.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def read_catalog(language: str, locales: Path = LOCALES_DIR) -> Catalog:
    with (locales / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as fh:
        return read_po(fh, locale=language, domain=DOMAIN)


def texts(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """key → its forms: one for a plain text, one per plural form for a plural text."""
    result: dict[str, tuple[str, ...]] = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id[0] if isinstance(message.id, tuple) else message.id
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        result[str(key)] = tuple(str(form) for form in forms)
    return result


def parity_problems(source: Catalog, translated: Catalog) -> list[str]:
    """Every key of either catalog missing from the other, or plural in only one of them."""
    ours, theirs = texts(source), texts(translated)
    problems = [f"lacks {key!r}" for key in sorted(ours.keys() - theirs.keys())]
    problems += [f"has {key!r}, which English lacks" for key in sorted(theirs.keys() - ours.keys())]
    problems += [
        f"{key!r}: plural in only one of them"
        for key in sorted(ours.keys() & theirs.keys())
        if is_plural(source, key) != is_plural(translated, key)
    ]
    return problems


def is_plural(catalog: Catalog, key: str) -> bool:
    message = catalog[key]
    return message is not None and message.pluralizable


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}


def english() -> Catalog:
    return read_catalog(DEFAULT_LANGUAGE)


@dataclass(frozen=True)
class KeyUse:
    key: str
    where: str
    counted: bool | None  # whether the call passes n=; None where the key is not in a call
    prefix: bool = False  # the start of an f-string key, e.g. f"owner.stats.{period}"


def _call_key(node: ast.Call) -> ast.expr | None:
    """The key argument of t(...), ….t(...), translator(…)(...), alert(...), alert_owners(…)."""
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    if name in {"t", "alert"} or isinstance(func, ast.Call):
        return node.args[0] if node.args else None
    if name == "alert_owners":
        return node.args[3] if len(node.args) > 3 else None
    return None


def keys_in_code(root: Path = APP_DIR) -> Iterator[KeyUse]:
    """Every literal text key in the code; calls tell whether they pass a count."""
    key = key_pattern(english())
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        in_calls: set[int] = set()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            argument = _call_key(node)
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                in_calls.add(id(argument))
                counted = any(keyword.arg == "n" for keyword in node.keywords)
                where = f"{path.relative_to(root.parent)}:{node.lineno}"
                yield KeyUse(argument.value, where, counted)
        for node in ast.walk(tree):
            where = f"{path.relative_to(root.parent)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.JoinedStr):
                for part in node.values:
                    in_calls.add(id(part))
                start = node.values[0] if node.values else None
                if isinstance(start, ast.Constant) and key.fullmatch(str(start.value) + "x"):
                    yield KeyUse(str(start.value), where, None, prefix=True)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in in_calls
                and key.fullmatch(node.value)
            ):
                yield KeyUse(node.value, where, None)


def error_codes(root: Path = APP_DIR) -> set[str]:
    """The codes of every ShopInputError("code", …) raised: texts owner.error.<code>."""
    codes: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "ShopInputError"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                codes.add(str(node.args[0].value))
    return codes
