"""CRM connectors: one module per system, all mapping to the canonical `DealEvent`.

Each webhook source implements `WebhookSource`: `verify` checks that a request really comes from
the CRM (signature, timestamp window, or basic auth, as the vendor documents), and `events` turns
the verified request into canonical deal events, fetching from the CRM's API what the webhook does
not carry. `salesforce` is polled instead (`PollingSource`). Field names are mapped declaratively
(`mapping.FieldMap`), so each module's mapping reads as a table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from handoff.deals.domain.orders import DealEvent


class CrmError(Exception):
    """A CRM request or payload that cannot be turned into deal events."""


class SignatureError(CrmError):
    """The request is not authentic (wrong or missing signature, stale timestamp, bad credentials).
    Messages say what failed, never the secret or the expected value."""


class PayloadError(CrmError):
    """The request is authentic but its body is not what the vendor documents."""


class FetchError(CrmError):
    """The CRM's API could not be reached or refused: the webhook answers 503 so the CRM retries."""


@dataclass(frozen=True)
class InboundRequest:
    method: str
    url: str  # as the CRM called it (public URL), with query string
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class WebhookSource(Protocol):
    name: str

    def verify(self, request: InboundRequest, now: datetime) -> None: ...

    def events(self, request: InboundRequest, now: datetime) -> list[DealEvent]: ...


class PollingSource(Protocol):
    name: str

    def poll(self, cursor: str | None) -> tuple[list[DealEvent], str | None]: ...


def json_body(request: InboundRequest) -> Any:
    try:
        return json.loads(request.body, parse_float=str)
    except RecursionError:
        raise PayloadError("body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None


def parse_instant(value: Any) -> datetime | None:
    """ISO 8601 text or epoch seconds / milliseconds, as an aware UTC datetime; None for anything
    else, a number beyond the calendar included."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.isascii() and value.isdigit()):
            number = float(value)
            return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None


def newer(stamp: Any, as_of: str) -> bool:
    """Whether the status the CRM shows (`stamp`) is newer than the one to write (`as_of`)."""
    shown, this = parse_instant(stamp), parse_instant(as_of)
    return shown is not None and this is not None and shown > this
