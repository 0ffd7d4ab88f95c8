"""Users: the people who may use the web app and the API, and the role that says what each may do.

Roles: `sales` (own deals and their exceptions), `finance` (tasks, invoices, payments), `auditor`
(read-only, the audit trail included), `admin` (users and settings; may do everything). Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(str, enum.Enum):
    SALES = "sales"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    role: Role
    active: bool = True

    @property
    def actor(self) -> str:
        return f"user:{self.email}"
