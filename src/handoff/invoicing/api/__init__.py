"""Invoicing in the JSON API: finance tasks and invoices (issue, documents)."""

from __future__ import annotations

from handoff.invoicing.api.routes import router

__all__ = ["router"]
