"""Deals in the JSON API: orders, the exception queue, the generic deal webhook and the CRM webhooks."""

from __future__ import annotations

from fastapi import APIRouter

from handoff.context import AppContext
from handoff.deals.api import deal_webhook, orders, webhooks


def router(ctx: AppContext) -> APIRouter:
    """Every deals route of the API; the CRM webhooks answer on `ctx`."""
    routes = APIRouter()
    routes.include_router(deal_webhook.router)
    routes.include_router(webhooks.router(ctx))
    routes.include_router(orders.router)
    return routes
