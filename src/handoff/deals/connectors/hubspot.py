"""HubSpot: deal webhooks (signature v3), deal fetch through CRM v3, status write-back.

HubSpot's API description is not in our oracles; shapes follow HubSpot's public docs:
- request validation v3 (developers.hubspot.com/docs/.../request-validation):
  `X-HubSpot-Signature-v3` = base64(HMAC-SHA256(client secret, method + URI + body + timestamp)),
  `X-HubSpot-Request-Timestamp` in milliseconds, rejected when older than 5 minutes; the URI is
  the one HubSpot called, with a few URL-encoded characters decoded (`decode_uri`).
- webhook payload: a JSON array of events (`eventId`, `subscriptionType` such as
  `deal.propertyChange`, `objectId`, `occurredAt` in ms, ...).
- CRM v3 objects: `GET /crm/v3/objects/deals/{id}?properties=...&associations=companies,contacts`
  answers `{id, properties, updatedAt, associations: {companies: {results: [{id, type}]}, ...}}`;
  companies and contacts likewise; `GET /crm/v3/owners/{id}` gives the owner's e-mail;
  `PATCH /crm/v3/objects/deals/{id}` with `{"properties": {...}}` updates properties.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from handoff.deals.connectors import FetchError, InboundRequest, PayloadError, SignatureError, json_body, parse_instant
from handoff.deals.connectors.mapping import FieldMap
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.kernel.connectors.http import HttpSender, failure
from handoff.kernel.connectors.oauth import TokenSource
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError

logger = logging.getLogger("handoff.connectors.hubspot")

WINDOW = timedelta(minutes=5)
# Decoded before signing, as HubSpot's v3 validation docs list them.
_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}

DEAL_PROPERTIES = (
    "dealname",
    "dealstage",
    "closedate",
    "amount",
    "deal_currency_code",
    "hubspot_owner_id",
    "po_number",
    "payment_terms",
    "legal_entity",
    "hs_lastmodifieddate",
)
COMPANY_PROPERTIES = (
    "name",
    "legal_name",
    "country",
    "address",
    "city",
    "zip",
    "vat_id",
    "requires_po",
    "customer_type",
)
CONTACT_PROPERTIES = ("email", "firstname", "lastname")

# Canonical field <- where HubSpot keeps it (deal, its first associated company and contact, owner).
# Properties like vat_id, po_number, legal_entity are custom properties a HubSpot admin creates.
MAPPING = FieldMap.parse(
    {
        "deal_id": "deal.id",
        "deal_name": "deal.properties.dealname",
        "stage": "deal.properties.dealstage",
        "close_date": "deal.properties.closedate | date",
        "amount": "deal.properties.amount",
        "currency": "deal.properties.deal_currency_code | upper",
        "customer_id": "company.id",
        "customer_legal_name": "company.properties.legal_name || company.properties.name",
        "customer_type": "company.properties.customer_type || =business",
        "country": "company.properties.country | country",
        "vat_id": "company.properties.vat_id",
        "po_number": "deal.properties.po_number",
        "requires_po": "company.properties.requires_po",
        "billing_email": "contact.properties.email",
        "billing_contact_name": "{contact.properties.firstname} {contact.properties.lastname}",
        "billing_street": "company.properties.address",
        "billing_city": "company.properties.city",
        "billing_postal_code": "company.properties.zip",
        "payment_terms": "deal.properties.payment_terms",
        "legal_entity": "deal.properties.legal_entity",
        "owner_email": "owner.email",
    },
    {"hubspot_deal_id": "deal.id"},
)


def decode_uri(uri: str) -> str:
    for encoded, char in _DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + decode_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class HubSpotSource:
    name = "hubspot"

    def __init__(
        self, http: HttpSender, token: TokenSource, client_secret: Secret, mapping: FieldMap = MAPPING
    ) -> None:
        self.http, self.token, self._secret, self.mapping = http, token, client_secret, mapping

    def __repr__(self) -> str:
        return "HubSpotSource()"

    def verify(self, request: InboundRequest, now: datetime) -> None:
        given = request.header("x-hubspot-signature-v3")
        stamp = request.header("x-hubspot-request-timestamp")
        if not given or not stamp:
            raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
        if not stamp.isdigit():
            raise SignatureError("X-HubSpot-Request-Timestamp is not a number of milliseconds")
        at = datetime.fromtimestamp(int(stamp) / 1000, UTC)
        if abs(now - at) > WINDOW:
            raise SignatureError(f"timestamp outside the 5-minute window ({(now - at).total_seconds():.0f}s old)")
        expected = signature_v3(self._secret.reveal(), request.method, request.url, request.body, stamp)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise SignatureError("X-HubSpot-Signature-v3 does not match")

    def events(self, request: InboundRequest, now: datetime) -> list[DealEvent]:
        body = json_body(request)
        if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
            raise PayloadError("HubSpot webhook body must be a JSON array of event objects")
        latest: dict[str, Mapping[str, Any]] = {}
        for event in body:
            kind = str(event.get("subscriptionType", ""))
            if not kind.startswith("deal.") or kind == "deal.deletion" or event.get("objectId") is None:
                continue
            deal_id = str(event["objectId"])
            if deal_id not in latest or int(event.get("eventId", 0)) > int(latest[deal_id].get("eventId", 0)):
                latest[deal_id] = event
        out = []
        for deal_id, event in latest.items():
            deal, at = self.fetch(deal_id)
            out.append(DealEvent(self.name, str(event.get("eventId") or f"{deal_id}@{at.isoformat()}"), at, deal))
        return out

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token.access_token()}"}
        try:
            response = self.http.request("GET", path, params=params, headers=headers)
        except DeliveryError as exc:
            raise FetchError(str(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise FetchError(str(failure("hubspot", "GET", path, response)))
        return response.json()

    def fetch(self, deal_id: str) -> tuple[DealInput, datetime]:
        """The deal with its first associated company and contact, and when it last changed."""
        deal = self._get(
            f"/crm/v3/objects/deals/{deal_id}",
            {"properties": ",".join(DEAL_PROPERTIES), "associations": "companies,contacts"},
        )
        if deal is None:
            raise PayloadError(f"HubSpot deal {deal_id} does not exist")
        doc: dict[str, Any] = {"deal": deal}
        assoc = deal.get("associations") or {}
        for kind, key, props in (
            ("companies", "company", COMPANY_PROPERTIES),
            ("contacts", "contact", CONTACT_PROPERTIES),
        ):
            results = (assoc.get(kind) or {}).get("results") or []
            if results:
                doc[key] = self._get(f"/crm/v3/objects/{kind}/{results[0]['id']}", {"properties": ",".join(props)})
        owner_id = (deal.get("properties") or {}).get("hubspot_owner_id")
        if owner_id:
            doc["owner"] = self._get(f"/crm/v3/owners/{owner_id}")
        at = parse_instant(deal.get("updatedAt")) or parse_instant(
            (deal.get("properties") or {}).get("hs_lastmodifieddate")
        )
        if at is None:
            raise PayloadError(f"HubSpot deal {deal_id} has no updatedAt")
        return DealInput.from_mapping(self.mapping.apply(doc)), at


class HubSpotWriteback:
    """Outbox channel writing invoice and payment status onto the deal as properties.

    Payload: `{"deal_id", "as_of": ISO time, "properties": {...}}`. Before writing, the deal's
    `handoff_status_as_of` property is read: a retried older status never overwrites a newer one
    that was delivered in between (PATCH itself is idempotent)."""

    STAMP = "handoff_status_as_of"

    def __init__(self, http: HttpSender, token: TokenSource) -> None:
        self.http, self.token = http, token

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        deal_id = str(payload["deal_id"])
        path = f"/crm/v3/objects/deals/{deal_id}"
        headers = {"Authorization": f"Bearer {self.token.access_token()}"}
        current = self.http.request("GET", path, params={"properties": self.STAMP}, headers=headers)
        if current.status_code == 404:
            raise DeliveryError(f"hubspot: deal {deal_id} does not exist", permanent=True)
        if current.status_code != 200:
            raise failure("hubspot", "GET", path, current)
        stamp = (current.json().get("properties") or {}).get(self.STAMP) or ""
        as_of = str(payload["as_of"])
        if stamp and stamp > as_of:
            logger.info("hubspot: deal %s already shows a newer status (%s); %s skipped", deal_id, stamp, key)
            return
        properties = {**payload["properties"], self.STAMP: as_of}
        self.http.json("PATCH", path, json={"properties": properties}, headers=headers, ok=(200,))
