"""The one error a bank statement parser raises: this file cannot be read as a statement."""

from __future__ import annotations


class StatementError(ValueError):
    """An unreadable, unsupported or inconsistent statement file, with a reason a person can act on."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason
