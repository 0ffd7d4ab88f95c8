"""What the inbox admits. An event is refused alone, before it joins anyone else's transaction, when
the database would refuse it or when its time would freeze its deal:

- text a database stores: no NUL character (PostgreSQL refuses it in text and JSON) and no lone
  UTF-16 surrogate (not UTF-8, so no driver sends it), in any field name or value, lines included;
- values no longer than the columns they are written to (`LIMITS`, the schema's lengths; a deal id
  is shorter, as it is part of keys made from it: the invoice draft's `order:ID`, notices' keys);
- a time no more than a tolerance (`intake.future_tolerance_seconds`) ahead of the clock: versions
  are ordered by time, so one dated in the future would make every genuine later version of the
  deal look older (stale) until that time came.

A refusal names the field (printably, even when the name itself is the bad text) and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from handoff.deals.domain.orders import LINE_FIELDS, DealEvent, DealInput

# The columns' lengths (kernel/storage/schema.py: inbox, orders; a test compares them).
LIMITS: dict[str, int] = {
    "source": 40,
    "event_id": 200,
    "deal_id": 100,
    "customer_id": 200,
    "customer_legal_name": 300,
    "legal_entity": 40,
    "owner_email": 320,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an event is not admitted: the field (printable) and a message for the sender."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def printable(text: str) -> str:
    """`text` with NULs and lone surrogates written as escapes, safe in any message or log line."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def unstorable(value: str) -> str | None:
    """Why no database stores this text, or None."""
    if "\x00" in value:
        return "contains a NUL character, which a database does not store in text"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"contains a lone surrogate (\\u{ord(value[exc.start]):04x} at position {exc.start}), "
            "which is not text: send characters as UTF-8 or as surrogate pairs"
        )
    return None


def _texts(deal: DealInput) -> Iterator[tuple[str, str, bool]]:
    """(field, text, is a name) for every field name and value of the deal, lines included."""
    for mapping in (deal.fields, deal.custom):
        for name, value in mapping.items():
            yield name, name, True
            yield name, value, False
    for n, line in enumerate(deal.lines):
        for name in LINE_FIELDS:
            yield f"lines[{n}].{name}", line.get(name), False


def _all_text(event: DealEvent) -> str:
    deal = event.deal
    parts = [event.source, event.event_id, *deal.fields.values(), *deal.custom, *deal.custom.values()]
    for line in deal.lines:
        parts += [line.get(name) for name in LINE_FIELDS]
    return "\x1f".join(parts)


def refusal(event: DealEvent) -> Refusal | None:
    """Why the inbox cannot take this event as it is, or None."""
    for name, value in (("source", event.source), ("event_id", event.event_id)):
        if (why := unstorable(value)) is not None:
            return Refusal(name, why)
    if unstorable(_all_text(event)) is not None:  # the rare case: find which field
        for name, text, is_name in _texts(event.deal):
            if (why := unstorable(text)) is not None:
                return Refusal(printable(name), f"field name {why}" if is_name else why)
    fields = event.deal.fields  # every generic field is present (`DealInput.from_mapping`)
    for name, limit in LIMITS.items():
        if name == "source":
            value = event.source
        elif name == "event_id":
            value = event.event_id
        else:
            value = fields.get(name, "")
        if len(value) > limit:
            return Refusal(name, f"has {len(value)} characters; at most {limit} are stored")
    return None


def ahead_of_clock(at: datetime, now: datetime, tolerance: timedelta, field: str) -> Refusal | None:
    """A refusal when `at` is more than `tolerance` after `now`, naming `field` and the tolerance."""
    if at <= now + tolerance:
        return None
    return Refusal(
        field,
        f"{at.isoformat()} is ahead of the clock ({now.isoformat()}) by more than "
        f"{tolerance.total_seconds():.0f} seconds (intake.future_tolerance_seconds): a version dated "
        "in the future would make every later update of the deal look older",
    )
