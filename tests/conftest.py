"""Shared test setup: `tests/` is on sys.path (rootdir conftest), so `corpus` imports directly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ORACLES = Path(
    os.environ.get("HANDOFF_ORACLES", Path(__file__).resolve().parents[1] / ".." / "shared" / "oracles")
)


@pytest.fixture(scope="session")
def oracles() -> Path:
    """Root of the third-party validation artefacts (never copied into the repository)."""
    if not ORACLES.is_dir():
        pytest.skip(f"validation artefacts not found at {ORACLES} (set HANDOFF_ORACLES)")
    return ORACLES.resolve()
