"""One owner for every transaction, read from the source: nothing in ``app/`` commits outside
``app/db/uow.py`` (the blocks) and ``app/db/migration_lock.py`` (the migration's own
connection), and services never import aiogram's ``Bot`` (they never call Telegram)."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
ROOT = APP.parent
OWNERS = {"app/db/uow.py", "app/db/migration_lock.py"}


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(APP.rglob("*.py"))
    }


def _commits(tree: ast.Module) -> list[int]:
    """Lines calling ``<anything>.commit(...)``."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def _imports_bot(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("aiogram")
            and any(alias.name == "Bot" for alias in node.names)
        ):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Bot":
            base = node.value
            if isinstance(base, ast.Name) and base.id == "aiogram":
                return True
    return False


def test_only_the_unit_of_work_commits() -> None:
    modules = _modules()
    assert len(modules) > 50  # the tree was found
    committing = {path: lines for path, tree in modules.items() if (lines := _commits(tree))}
    assert committing.keys() >= OWNERS  # the check sees commits where they are
    strays = {path: lines for path, lines in committing.items() if path not in OWNERS}
    assert strays == {}, "commit outside app/db/uow.py: use uow.write/read blocks"


def test_services_never_import_the_bot() -> None:
    services = {p: t for p, t in _modules().items() if p.startswith("app/services/")}
    assert "app/services/broadcast.py" in services
    importing = [path for path, tree in services.items() if _imports_bot(tree)]
    assert importing == [], "services never call Telegram: use app/flows"
    assert _imports_bot(ast.parse("from aiogram import Bot"))  # the check works
    assert _imports_bot(ast.parse("import aiogram\nx: aiogram.Bot"))
