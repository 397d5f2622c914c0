"""``python -m app admin hash-password``: the hash the panel checks, never a weak password."""

from __future__ import annotations

import subprocess
import sys

import pytest
from argon2 import PasswordHasher

from tests.processes import REPO_ROOT, clean_env


def _hash_password(stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "admin", "hash-password"],
        input=stdin,
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_prints_an_argon2_hash_of_the_password() -> None:
    result = _hash_password("a long enough password\n")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert printed.startswith("$argon2id$")
    assert PasswordHasher().verify(printed, "a long enough password")
    assert "a long enough password" not in result.stdout + result.stderr
    again = _hash_password("a long enough password\n").stdout.strip()
    assert again != printed, "salted: the same password never gives the same hash"


@pytest.mark.parametrize("stdin", ["", "\n", "short\n"])
def test_refuses_an_empty_or_short_password(stdin: str) -> None:
    result = _hash_password(stdin)
    assert result.returncode == 2  # refused input, as every command's
    assert result.stdout == ""
    assert result.stderr.strip() == "error: use a password of at least 8 characters"
