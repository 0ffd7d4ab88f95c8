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
- line items (developers.hubspot.com/docs/api/crm/line-items): the deal's are found through the
  associations v4 API, `GET /crm/v4/objects/deals/{id}/associations/line_items` (`results` of
  `toObjectId`, `paging.next.after` while there are more), then read in batches of at most 100
  with `POST /crm/v3/objects/line_items/batch/read` (`{"properties", "inputs": [{"id"}]}`):
  `name`, `quantity`, `price`, `hs_sku`, `hs_product_id`, `hs_discount_percentage`,
  `hs_total_discount`, tax properties; all property values are strings. They are put in the order
  of `hs_position_on_quote`, the order the deal shows them in.

Which properties are asked for follows from the source's mapping (`defaults/crm/hubspot.yaml`, or
the file `HANDOFF_HUBSPOT_MAPPING` names): every `deal.properties.X`, `company.properties.X`,
`contact.properties.X` and line `properties.X` it reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from handoff.deals.connectors import (
    FetchError,
    InboundRequest,
    PayloadError,
    SignatureError,
    json_body,
    newer,
    parse_instant,
)
from handoff.deals.connectors.mapping_file import SourceMapping, default_mapping
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.kernel.connectors.http import HttpSender, decode_json, failure
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

# Always asked for: what the fetch itself needs besides the mapped properties.
DEAL_PROPERTIES = ("hubspot_owner_id", "hs_lastmodifieddate")
LINE_ITEM_PROPERTIES = ("hs_position_on_quote",)
BATCH = 100  # line items per batch read (HubSpot's limit)
STATUS_STAMP = "handoff_status_as_of"


def mapped_properties(mapping: SourceMapping, root: str) -> list[str]:
    """The HubSpot properties of object `root` (deal, company, contact; "" for a line item) the
    mapping reads, sorted."""
    prefix = f"{root}.properties." if root else "properties."
    rules = mapping.lines.fields.values() if not root and mapping.lines else ()
    paths = [p for rule in rules for p in rule.paths()] if not root else list(mapping.fields.paths())
    return sorted({p[len(prefix) :].split(".")[0].split("[")[0] for p in paths if p.startswith(prefix)})


def decode_uri(uri: str) -> str:
    for encoded, char in _DECODE.items():
        uri = uri.replace(encoded, char).replace(encoded.lower(), char)
    return uri


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + decode_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _event_number(value: Any) -> int:
    """An event's `eventId`, which HubSpot documents as an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise PayloadError(f"eventId {str(value)[:40]!r} is not an integer")


class HubSpotSource:
    name = "hubspot"

    def __init__(
        self, http: HttpSender, token: TokenSource, client_secret: Secret, mapping: SourceMapping | None = None
    ) -> None:
        self.http, self.token, self._secret = http, token, client_secret
        self.mapping = mapping or default_mapping(self.name)

    def __repr__(self) -> str:
        return "HubSpotSource()"

    def verify(self, request: InboundRequest, now: datetime) -> None:
        given = request.header("x-hubspot-signature-v3")
        stamp = request.header("x-hubspot-request-timestamp")
        if not given or not stamp:
            raise SignatureError("missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
        if not (stamp.isascii() and stamp.isdigit()):
            raise SignatureError("X-HubSpot-Request-Timestamp is not a number of milliseconds")
        try:
            at = datetime.fromtimestamp(int(stamp) / 1000, UTC)
        except (ValueError, OverflowError, OSError):
            raise SignatureError("X-HubSpot-Request-Timestamp is out of range") from None
        if abs(now - at) > WINDOW:
            raise SignatureError(f"timestamp outside the 5-minute window ({(now - at).total_seconds():.0f}s old)")
        expected = signature_v3(self._secret.reveal(), request.method, request.url, request.body, stamp)
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise SignatureError("X-HubSpot-Signature-v3 does not match")

    def events(self, request: InboundRequest, now: datetime) -> list[DealEvent]:
        body = json_body(request)
        if not isinstance(body, list) or not all(isinstance(e, dict) for e in body):
            raise PayloadError("HubSpot webhook body must be a JSON array of event objects")
        latest: dict[str, tuple[int, Mapping[str, Any]]] = {}
        for event in body:
            kind = str(event.get("subscriptionType", ""))
            if not kind.startswith("deal.") or kind == "deal.deletion" or event.get("objectId") is None:
                continue
            deal_id, number = str(event["objectId"]), _event_number(event.get("eventId", 0))
            if deal_id not in latest or number > latest[deal_id][0]:
                latest[deal_id] = (number, event)
        out = []
        for deal_id, (_, event) in latest.items():
            deal, at = self.fetch(deal_id)
            out.append(DealEvent(self.name, str(event.get("eventId") or f"{deal_id}@{at.isoformat()}"), at, deal))
        return out

    def _call(self, method: str, path: str, params: Mapping[str, str] | None = None, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token.access_token()}"}
        try:
            response = self.http.request(method, path, params=params, json=body, headers=headers)
        except DeliveryError as exc:
            raise FetchError(str(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise FetchError(str(failure("hubspot", method, path, response)))
        try:
            return decode_json(response)
        except ValueError:
            raise FetchError(f"hubspot {method} {path}: answer is not JSON") from None

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self._call("GET", path, params)

    def fetch(self, deal_id: str) -> tuple[DealInput, datetime]:
        """The deal with its first associated company and contact, its line items, and when it
        last changed."""
        m = self.mapping
        deal = self._get(
            f"/crm/v3/objects/deals/{deal_id}",
            {
                "properties": ",".join(sorted({*mapped_properties(m, "deal"), *DEAL_PROPERTIES})),
                "associations": "companies,contacts",
            },
        )
        if deal is None:
            raise PayloadError(f"HubSpot deal {deal_id} does not exist")
        doc: dict[str, Any] = {"deal": deal}
        assoc = deal.get("associations") or {}
        for kind, key in (("companies", "company"), ("contacts", "contact")):
            results = (assoc.get(kind) or {}).get("results") or []
            if results:
                params = {"properties": ",".join(mapped_properties(m, key))}
                doc[key] = self._get(f"/crm/v3/objects/{kind}/{results[0]['id']}", params)
        owner_id = (deal.get("properties") or {}).get("hubspot_owner_id")
        if owner_id:
            doc["owner"] = self._get(f"/crm/v3/owners/{owner_id}")
        if m.lines is not None:
            doc["line_items"] = self.line_items(deal_id)
        at = parse_instant(deal.get("updatedAt")) or parse_instant(
            (deal.get("properties") or {}).get("hs_lastmodifieddate")
        )
        if at is None:
            raise PayloadError(f"HubSpot deal {deal_id} has no updatedAt")
        lines = m.lines.apply(doc) if m.lines is not None else ()
        return DealInput.from_mapping(m.fields.apply(doc), lines), at

    def line_items(self, deal_id: str) -> list[Mapping[str, Any]]:
        """The deal's line items (with the mapped properties), in the order the deal shows them."""
        ids: list[str] = []
        params = {"limit": "500"}
        while True:
            page = self._get(f"/crm/v4/objects/deals/{deal_id}/associations/line_items", params)
            if not isinstance(page, Mapping):
                break
            ids += [str(r["toObjectId"]) for r in page.get("results") or [] if isinstance(r, Mapping)]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            params = {"limit": "500", "after": str(after)}
        properties = sorted({*mapped_properties(self.mapping, ""), *LINE_ITEM_PROPERTIES})
        items: list[Mapping[str, Any]] = []
        for start in range(0, len(ids), BATCH):
            inputs = [{"id": i} for i in ids[start : start + BATCH]]
            answer = self._call(
                "POST", "/crm/v3/objects/line_items/batch/read", body={"properties": properties, "inputs": inputs}
            )
            items += [r for r in (answer or {}).get("results") or [] if isinstance(r, Mapping)]
        return sorted(items, key=_position)


def _position(item: Mapping[str, Any]) -> tuple[int, Decimal, int]:
    """A line item's place: by `hs_position_on_quote`, those without one last, then by id."""
    text = str((item.get("properties") or {}).get("hs_position_on_quote") or "")
    try:
        position = Decimal(text)
    except ArithmeticError:
        return (1, Decimal(0), _id(item))
    return (0, position, _id(item)) if position.is_finite() else (1, Decimal(0), _id(item))


def _id(item: Mapping[str, Any]) -> int:
    text = str(item.get("id") or "")
    return int(text) if text.isascii() and text.isdigit() else 0


def property_text(value: Any) -> str:
    """A fact as a HubSpot property value (HubSpot takes every property value as a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class HubSpotWriteback:
    """Outbox channel (topic `crm_status`) writing an invoice's status onto the deal as properties.

    Payload (`deals.service.crm_status`): `{"deal_id", "as_of", "facts": {...}}`; each fact goes to
    the deal property the mapping's `status` names (a fact it does not name is not written). Before
    writing, the deal's `as_of` property is read: a retried older status never overwrites a newer
    one delivered in between (PATCH itself is idempotent). A notice queued before facts existed
    (`{"properties": {...}}`) is written as it is."""

    def __init__(self, http: HttpSender, token: TokenSource, mapping: SourceMapping | None = None) -> None:
        self.http, self.token = http, token
        self.status = dict((mapping or default_mapping("hubspot")).status)

    def __repr__(self) -> str:
        return "HubSpotWriteback()"

    def properties(self, payload: Mapping[str, Any]) -> tuple[dict[str, str], str]:
        """The properties to write and the property that keeps the status's time ("" for none)."""
        if "facts" not in payload:
            return dict(payload.get("properties") or {}), STATUS_STAMP
        facts = payload["facts"]
        out = {prop: property_text(facts[fact]) for fact, prop in self.status.items() if fact in facts}
        return out, self.status.get("as_of", "")

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        deal_id = str(payload["deal_id"])
        path = f"/crm/v3/objects/deals/{deal_id}"
        headers = {"Authorization": f"Bearer {self.token.access_token()}"}
        properties, stamp = self.properties(payload)
        as_of = str(payload["as_of"])
        if stamp:
            current = self.http.request("GET", path, params={"properties": stamp}, headers=headers)
            if current.status_code == 404:
                raise DeliveryError(f"hubspot: deal {deal_id} does not exist", permanent=True)
            if current.status_code != 200:
                raise failure("hubspot", "GET", path, current)
            shown = (decode_json(current).get("properties") or {}).get(stamp)
            if newer(shown, as_of):
                logger.info("hubspot: deal %s already shows a newer status (%s); %s skipped", deal_id, shown, key)
                return
            properties[stamp] = as_of
        if properties:
            self.http.json("PATCH", path, json={"properties": properties}, headers=headers, ok=(200,))
