"""Approvals in the JSON API and as Slack button clicks."""

from __future__ import annotations

from fastapi import APIRouter

from handoff.approvals.api import routes, slack

router = APIRouter()
router.include_router(routes.router)
router.include_router(slack.router())
