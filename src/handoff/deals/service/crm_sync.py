"""Polling a CRM (Salesforce): fetch won deals changed since the saved cursor, store them in the
inbox, then advance the cursor. The cursor moves only after the inbox commit, so a crash re-reads
rather than skips; re-read events are duplicates the inbox drops."""

from __future__ import annotations

from handoff.context import AppContext
from handoff.deals.connectors import PollingSource
from handoff.deals.service.intake import ReceiveReport, receive
from handoff.kernel.storage.connector_state import DbConnectorState


def poll(ctx: AppContext, source: PollingSource, state: DbConnectorState | None = None) -> ReceiveReport:
    state = state or DbConnectorState(ctx)
    name = f"{source.name}:cursor"
    saved = state.load(name) or {}
    events, cursor = source.poll(saved.get("cursor"))
    report = receive(ctx, events) if events else ReceiveReport()
    if cursor and cursor != saved.get("cursor"):
        state.save(name, {"cursor": cursor})
    return report
