"""Which files under the bank oracles are statement samples (the rest is licences, expected parses,
schemas and notes)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ORACLES as ALL_ORACLES

ORACLES = (ALL_ORACLES / "bank").resolve()
_NOT_SAMPLES = {"LICENSE", "LICENSE.txt", "COMMIT.txt", "README.md", "README.rst", "requirements.txt"}
_NOT_SAMPLE_SUFFIXES = {".yml", ".json", ".xsd", ".md", ".rst"}


def sample_files() -> list[Path]:
    return sorted(
        p
        for p in ORACLES.rglob("*")
        if p.is_file() and p.name not in _NOT_SAMPLES and p.suffix not in _NOT_SAMPLE_SUFFIXES
    )


def rel(path: Path) -> str:
    return path.relative_to(ORACLES).as_posix()
