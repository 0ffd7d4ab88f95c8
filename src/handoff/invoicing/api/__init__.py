"""Invoicing in the JSON API: finance tasks (amendment reviews included) and invoices (issue, documents),
customers' credit balances (apply, refund)."""

from __future__ import annotations

from fastapi import APIRouter

from handoff.invoicing.api import amendments, credits, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(amendments.router)
router.include_router(credits.router)

__all__ = ["router"]
