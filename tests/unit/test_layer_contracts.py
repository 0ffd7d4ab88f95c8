"""The import contracts in pyproject.toml are the ones the package layout asks for: a capability
added without running scripts/layer_contracts.py would otherwise escape the per-package rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_holds_the_contracts_of_every_capability_on_disk() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "layer_contracts.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package in ("deals", "invoicing", "cash", "collections", "approvals", "reporting", "users", "audit"):
        assert f'forbidden_modules = ["handoff.{package}.repository"]' in pyproject, package
