"""Polling a CRM (Salesforce): fetch won deals changed since the saved cursor, store them in the
inbox, then advance the cursor. The cursor moves only after the inbox commit, so a crash re-reads
rather than skips; re-read events are duplicates the inbox drops. An event the inbox cannot take
(`admission.check`) is left out with a warning naming it, so that it does not stop every poll after
it."""

from __future__ import annotations

import logging

from handoff.context import AppContext
from handoff.deals.connectors import PollingSource
from handoff.deals.service import admission
from handoff.deals.service.intake import ReceiveReport, receive
from handoff.kernel.storage.connector_state import DbConnectorState

logger = logging.getLogger("handoff.deals.crm_sync")


def poll(ctx: AppContext, source: PollingSource, state: DbConnectorState | None = None) -> ReceiveReport:
    state = state or DbConnectorState(ctx)
    name = f"{source.name}:cursor"
    saved = state.load(name) or {}
    polled, cursor = source.poll(saved.get("cursor"))
    events = []
    for event in polled:
        if (refused := admission.check(ctx, event)) is None:
            events.append(event)
        else:
            logger.warning("%s: event %s left out: %s", source.name, admission.printable(event.event_id), refused)
    report = receive(ctx, events) if events else ReceiveReport()
    if cursor and cursor != saved.get("cursor"):
        state.save(name, {"cursor": cursor})
    return report
