"""Deals storage: the only SQL for the inbox, orders, exceptions and tasks."""

from __future__ import annotations

from typing import Any

from handoff.deals.domain.orders import DealInput, LineInput


def deal_from_json(data: dict[str, Any]) -> DealInput:
    """The deal stored as `data` (an order's `data` column, an inbox event's payload)."""
    lines = tuple(LineInput(**ln) for ln in data.get("lines") or ())
    return DealInput.from_mapping(data, lines)
