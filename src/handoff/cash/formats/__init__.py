"""Bank statement import: one module per format, all parsing to `handoff.cash.domain.bank.Statement`.

Each format module has `identify(data) -> bool` and `parse(data, name) -> list[Statement]`, and
raises only `StatementError(file, reason)`. `detect` picks the module for a file; `read_statements`
detects and parses in one call (CSV needs its column mapping).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from handoff.cash.domain.bank import Statement
from handoff.cash.formats import camt, coda, mt940, ofx
from handoff.cash.formats import csv as csv_format
from handoff.cash.formats.errors import StatementError

# order matters: formats that declare themselves first, CSV (a guess) last
FORMATS: tuple[tuple[str, ModuleType], ...] = (
    ("camt", camt),
    ("coda", coda),
    ("ofx", ofx),
    ("mt940", mt940),
    ("csv", csv_format),
)
_EXTENSIONS = {
    ".xml": "camt",
    ".053": "camt",
    ".052": "camt",
    ".054": "camt",
    ".ofx": "ofx",
    ".qfx": "ofx",
    ".sta": "mt940",
    ".940": "mt940",
    ".942": "mt940",
    ".mt940": "mt940",
    ".swi": "mt940",
    ".csv": "csv",
    ".cod": "coda",
    ".coda": "coda",
}


def detect(data: bytes, name: str = "") -> ModuleType:
    """The format module for this file, by content first (extensions lie), then by extension."""
    if not data.strip():
        raise StatementError(name, "empty file")
    for _, module in FORMATS:
        if module.identify(data):
            return module
    lowered = name.lower()
    for ext, key in _EXTENSIONS.items():
        if lowered.endswith(ext):
            return dict(FORMATS)[key]
    raise StatementError(name, "not a bank statement format this importer reads (camt.05x, MT940, CODA, OFX, CSV)")


def read_statements(data: bytes, name: str = "", csv_mapping: Mapping[str, Any] | None = None) -> list[Statement]:
    module = detect(data, name)
    if module is csv_format:
        return csv_format.parse(data, name, csv_mapping)
    result: list[Statement] = module.parse(data, name)
    return result


__all__ = ["FORMATS", "StatementError", "detect", "read_statements"]
