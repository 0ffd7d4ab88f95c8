"""Pipedrive: deal webhooks (v2) authenticated with HTTP Basic auth, deal fetch through the API.

Pipedrive's API description is not in our oracles; shapes follow its public docs:
- webhooks v2 (pipedrive.readme.io/docs/guide-for-webhooks-v2): no signature; the webhook is
  created with `http_auth_user` / `http_auth_password` and Pipedrive sends them as HTTP Basic
  auth. Body: `{"meta": {"action", "entity", "entity_id", "id", "timestamp", "version": "2.0",
  ...}, "data": {...}, "previous": {...}|null}`; a merge arrives as delete + change.
- API v2 `GET /api/v2/deals/{id}`, `/api/v2/organizations/{id}`, `/api/v2/persons/{id}` answer
  `{"success": true, "data": {...}}`; owners from v1 `GET /api/v1/users/{id}`. The API token goes
  in the `x-api-token` header. Won deals have `status: "won"` (the stage is a pipeline step).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from handoff.deals.connectors import FetchError, InboundRequest, PayloadError, SignatureError, json_body, parse_instant
from handoff.deals.connectors.mapping import FieldMap
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.kernel.connectors.http import HttpSender, failure
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError

# Canonical field <- Pipedrive deal, its organization, person and owner. VAT id, PO number, payment
# terms and legal entity are custom fields: Pipedrive keys those by a 40-character hash, so a real
# account maps them by that key (`deal.custom_fields.<hash>`); the names below are placeholders.
MAPPING = FieldMap.parse(
    {
        "deal_id": "deal.id",
        "deal_name": "deal.title",
        "stage": "deal.status",
        "close_date": "deal.won_time || deal.close_time | date",
        "amount": "deal.value",
        "currency": "deal.currency | upper",
        "customer_id": "org.id",
        "customer_legal_name": "org.name",
        "customer_type": "org.custom_fields.customer_type || =business",
        "country": "org.address.country | country",
        "vat_id": "org.custom_fields.vat_id",
        "po_number": "deal.custom_fields.po_number",
        "requires_po": "org.custom_fields.requires_po",
        "billing_email": "person.emails[?primary].value",
        "billing_contact_name": "person.name",
        "billing_street": "{org.address.route} {org.address.street_number}",
        "billing_city": "org.address.locality",
        "billing_postal_code": "org.address.postal_code",
        "payment_terms": "deal.custom_fields.payment_terms",
        "legal_entity": "deal.custom_fields.legal_entity",
        "owner_email": "owner.email",
    },
    {"pipedrive_deal_id": "deal.id"},
)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())


class PipedriveSource:
    name = "pipedrive"

    def __init__(
        self, http: HttpSender, api_token: Secret, user: str, password: Secret, mapping: FieldMap = MAPPING
    ) -> None:
        self.http, self._token, self.user, self._password, self.mapping = http, api_token, user, password, mapping

    def __repr__(self) -> str:
        return f"PipedriveSource(user={self.user!r})"

    def verify(self, request: InboundRequest, now: datetime) -> None:
        header = request.header("authorization")
        if not header.lower().startswith("basic "):
            raise SignatureError("missing HTTP Basic credentials")
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise SignatureError("malformed HTTP Basic credentials") from None
        # compare digests of both so the comparison takes the same time whatever the lengths
        ok_user = _same(user, self.user)
        ok_pass = _same(password, self._password.reveal())
        if not (ok_user and ok_pass):
            raise SignatureError("wrong HTTP Basic credentials")

    def events(self, request: InboundRequest, now: datetime) -> list[DealEvent]:
        body = json_body(request)
        meta = body.get("meta") if isinstance(body, dict) else None
        if not isinstance(meta, dict):
            raise PayloadError("Pipedrive webhook body must be an object with `meta` (webhooks v2)")
        entity = meta.get("entity") or meta.get("object")
        if entity != "deal" or meta.get("action") in ("delete", "deleted"):
            return []
        deal_id = meta.get("entity_id") or (body.get("data") or {}).get("id")
        if deal_id is None:
            raise PayloadError("Pipedrive webhook names no deal (meta.entity_id)")
        deal, at = self.fetch(str(deal_id))
        event_id = str(meta.get("id") or f"{deal_id}@{meta.get('timestamp')}")
        return [DealEvent(self.name, event_id, at, deal)]

    def _get(self, path: str) -> Any:
        try:
            response = self.http.request("GET", path, headers={"x-api-token": self._token.reveal()})
        except DeliveryError as exc:
            raise FetchError(str(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise FetchError(str(failure("pipedrive", "GET", path, response)))
        return response.json().get("data")

    def fetch(self, deal_id: str) -> tuple[DealInput, datetime]:
        deal = self._get(f"/api/v2/deals/{deal_id}")
        if not isinstance(deal, Mapping):
            raise PayloadError(f"Pipedrive deal {deal_id} does not exist")
        doc: dict[str, Any] = {"deal": deal}
        for key, path, ref in (
            ("org", "/api/v2/organizations/{}", "org_id"),
            ("person", "/api/v2/persons/{}", "person_id"),
            ("owner", "/api/v1/users/{}", "owner_id"),
        ):
            ref_id = deal.get(ref)
            if isinstance(ref_id, Mapping):  # v1 shape: {"value": id, ...}
                ref_id = ref_id.get("value")
            if ref_id:
                doc[key] = self._get(path.format(ref_id))
        at = parse_instant(deal.get("update_time"))
        if at is None:
            raise PayloadError(f"Pipedrive deal {deal_id} has no update_time")
        return DealInput.from_mapping(self.mapping.apply(doc)), at
