"""Generic JSON webhook: any CRM or tool that can POST JSON, mapped by a YAML file the business edits.

The mapping file (default `defaults/crm_mapping.yaml`, else `HANDOFF_CRM_MAPPING`) says where the
event id, the time and the deal(s) are in the body, where each canonical field is in a deal and,
optionally (`lines`), where its lines are (syntax in `mapping.py`, file in `mapping_file.py`). It is
validated when loaded; a bad file is refused naming the file and the entry.

Authentication: `X-Handoff-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
with `X-Handoff-Timestamp` (Unix seconds) within 5 minutes, the scheme Stripe and Slack use.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import field_validator

from handoff.deals.connectors import InboundRequest, PayloadError, SignatureError, json_body, parse_instant
from handoff.deals.connectors.mapping import FieldMap, LineMap, Rule, lookup
from handoff.deals.connectors.mapping_file import (
    BaseMappingModel,
    MappingFileError,
    StrictModel,
    parse_maps,
    read_model,
)
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.kernel.connectors.secrets import Secret

__all__ = ["DEFAULT_MAPPING", "GenericSource", "MappingFileError", "MappingModel", "load_mapping", "sign"]

DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "defaults" / "crm_mapping.yaml"
WINDOW = timedelta(minutes=5)


class EventModel(StrictModel):
    id: str | None = None  # path to the event id; absent: a hash of the body
    occurred_at: str | None = None  # path to the event time; absent: arrival time
    deals: str = "deal"  # path to one deal object or a list of them ("." = the body itself)

    @field_validator("id", "occurred_at", "deals")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and value != ".":
            Rule.parse(value)
        return value


class MappingModel(BaseMappingModel):
    event: EventModel = EventModel()


def load_mapping(path: Path | None = None) -> tuple[MappingModel, FieldMap]:
    path = path or DEFAULT_MAPPING
    model = read_model(path, MappingModel)
    return model, parse_maps(path, model)[0]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class GenericSource:
    def __init__(self, secret: Secret, model: MappingModel, mapping: FieldMap, lines: LineMap | None = None) -> None:
        self._secret, self.model, self.mapping = secret, model, mapping
        self.lines = lines if lines is not None else parse_maps(Path("crm mapping"), model)[1]
        self.name = model.source

    def __repr__(self) -> str:
        return f"GenericSource({self.name!r})"

    def verify(self, request: InboundRequest, now: datetime) -> None:
        given, stamp = request.header("x-handoff-signature"), request.header("x-handoff-timestamp")
        if not given or not stamp:
            raise SignatureError("missing X-Handoff-Signature or X-Handoff-Timestamp")
        at = parse_instant(stamp) if stamp.isascii() and stamp.isdigit() else None
        if at is None:
            raise SignatureError("X-Handoff-Timestamp is not Unix seconds")
        if abs(now - at) > WINDOW:
            raise SignatureError(f"timestamp outside the 5-minute window ({(now - at).total_seconds():.0f}s old)")
        if not hmac.compare_digest(sign(self._secret.reveal(), stamp, request.body).encode(), given.encode()):
            raise SignatureError("X-Handoff-Signature does not match")

    def events(self, request: InboundRequest, now: datetime) -> list[DealEvent]:
        body = json_body(request)
        if not isinstance(body, dict | list):
            raise PayloadError("body must be a JSON object or array")
        ev = self.model.event
        deals: Any = body if ev.deals == "." else lookup(body, ev.deals)
        if isinstance(deals, dict):
            deals = [deals]
        if not isinstance(deals, list) or not deals or not all(isinstance(d, dict) for d in deals):
            raise PayloadError(f"no deal object at `{ev.deals}`")
        stamp = lookup(body, ev.occurred_at) if ev.occurred_at and isinstance(body, dict) else None
        at = parse_instant(stamp) if stamp is not None else now
        if at is None:
            raise PayloadError(f"`{ev.occurred_at}` is not an ISO 8601 time or epoch")
        base_id = str(lookup(body, ev.id) or "") if ev.id and isinstance(body, dict) else ""
        if not base_id:
            base_id = hashlib.sha256(request.body).hexdigest()
        out = []
        for n, raw in enumerate(deals):
            deal = DealInput.from_mapping(self.mapping.apply(raw), self.lines.apply(raw) if self.lines else ())
            if not deal.deal_id:
                raise PayloadError(f"deal {n + 1} has no deal id (mapping fields.deal_id)")
            out.append(DealEvent(self.name, base_id if len(deals) == 1 else f"{base_id}:{deal.deal_id}", at, deal))
        return out
