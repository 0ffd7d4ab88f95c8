"""Pipedrive: deal webhooks (v2) authenticated with HTTP Basic auth, deal fetch through the API.

Pipedrive's API description is not in our oracles; shapes follow its public docs:
- webhooks v2 (pipedrive.readme.io/docs/guide-for-webhooks-v2): no signature; the webhook is
  created with `http_auth_user` / `http_auth_password` and Pipedrive sends them as HTTP Basic
  auth. Body: `{"meta": {"action", "entity", "entity_id", "id", "timestamp", "version": "2.0",
  ...}, "data": {...}, "previous": {...}|null}`; a merge arrives as delete + change.
- API v2 `GET /api/v2/deals/{id}`, `/api/v2/organizations/{id}`, `/api/v2/persons/{id}` answer
  `{"success": true, "data": {...}}`; owners from v1 `GET /api/v1/users/{id}`. The API token goes
  in the `x-api-token` header. Won deals have `status: "won"` (the stage is a pipeline step).
- deal products, v1 `GET /api/v1/deals/{id}/products` (developers.pipedrive.com/docs/api/v1/Deals
  #getDealProducts), paged by `start` / `limit` (`additional_data.pagination`): `name`,
  `item_price`, `quantity`, `discount` with `discount_type` (`percentage` or `amount`, off the
  line's total), `tax`, `product_id`, `enabled_flag` (a disabled product is not in the deal's value
  and not billed) and, with `include_product_data=1`, the `product` with its `code`.
- custom fields are keyed by 40-character hashes that differ per account; `pipedrive_fields`
  names them through the account's field lists, so a mapping reads `deal.custom_fields.vat_id`.
- status goes back into deal custom fields (`PipedriveWriteback`), written by their keys with v1
  `PUT /api/v1/deals/{id}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
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
from handoff.deals.connectors.pipedrive_fields import FIELD_LISTS, PAGE, CustomField, FieldCatalog
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.kernel.connectors.http import HttpSender, decode_json, failure, json_bytes
from handoff.kernel.connectors.oauth import MemoryTokenState, TokenState
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError

logger = logging.getLogger("handoff.connectors.pipedrive")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())


class PipedriveSource:
    name = "pipedrive"

    def __init__(
        self,
        http: HttpSender,
        api_token: Secret,
        user: str,
        password: Secret,
        mapping: SourceMapping | None = None,
        state: TokenState | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.http, self._token, self.user, self._password = http, api_token, user, password
        self.mapping = mapping or default_mapping(self.name)
        self.fields = FieldCatalog(self._body, state or MemoryTokenState(), clock)
        # the custom field names the mapping reads, per part of the document
        self._names: dict[str, set[str]] = {part: set() for part in FIELD_LISTS}
        for path in self.mapping.fields.paths():
            part, _, rest = path.partition(".custom_fields.")
            if part in FIELD_LISTS and rest:
                self._names[part].add(rest.split(".", 1)[0].split("[", 1)[0])

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

    def _body(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        try:
            response = self.http.request("GET", path, params=params, headers={"x-api-token": self._token.reveal()})
        except DeliveryError as exc:
            raise FetchError(str(exc)) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise FetchError(str(failure("pipedrive", "GET", path, response)))
        try:
            body = decode_json(response)
        except ValueError:
            raise FetchError(f"pipedrive GET {path}: answer is not JSON") from None
        return body if isinstance(body, Mapping) else None

    def _get(self, path: str) -> Any:
        return (self._body(path) or {}).get("data")

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
        for part in FIELD_LISTS:
            record = doc.get(part)
            if isinstance(record, Mapping) and (isinstance(record.get("custom_fields"), Mapping) or self._names[part]):
                custom = record.get("custom_fields") or {}
                doc[part] = {**record, "custom_fields": self.fields.named(part, custom, self._names[part])}
        if self.mapping.lines is not None:
            doc["products"] = self.products(deal_id)
        at = parse_instant(deal.get("update_time"))
        if at is None:
            raise PayloadError(f"Pipedrive deal {deal_id} has no update_time")
        lines = self.mapping.lines.apply(doc) if self.mapping.lines is not None else ()
        return DealInput.from_mapping(self.mapping.fields.apply(doc), lines), at

    def products(self, deal_id: str) -> list[dict[str, Any]]:
        """The deal's enabled products, each with `discount_percentage` or `discount_amount`
        holding its discount as its `discount_type` says."""
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            params = {"start": str(start), "limit": str(PAGE), "include_product_data": "1"}
            body = self._body(f"/api/v1/deals/{deal_id}/products", params) or {}
            for item in body.get("data") or []:
                if not isinstance(item, Mapping) or item.get("enabled_flag", item.get("is_enabled", True)) is False:
                    continue
                product = dict(item)
                kind = product.get("discount_type")
                if kind is not None:
                    amount = kind == "amount"
                    product["discount_amount"] = product.get("discount") if amount else None
                    product["discount_percentage"] = None if amount else product.get("discount")
                out.append(product)
            pagination = (body.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection") or pagination.get("next_start") is None:
                return out
            start = int(pagination["next_start"])


class PipedriveWriteback:
    """Outbox channel (topic `crm_status`) writing an invoice's status into the deal's custom fields.

    Payload (`deals.service.crm_status`): `{"deal_id", "as_of", "facts": {...}}`. Each fact goes to
    the deal field the mapping's `status` names, found by name through dealFields (`FieldCatalog`)
    and written by its key with v1 `PUT /api/v1/deals/{id}` (developers.pipedrive.com/docs/api/v1/
    Deals#updateDeal: custom fields by their key). A number field takes a JSON number (exact), an
    option field the id of the option labelled with the value, a date field the date. The `as_of`
    field, when mapped, is read first: an older status never overwrites a newer one. A mapped field
    the account does not have is a permanent failure naming it (dead-lettered for an operator)."""

    def __init__(
        self,
        http: HttpSender,
        api_token: Secret,
        mapping: SourceMapping | None = None,
        state: TokenState | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.http, self._token = http, api_token
        self.mapping = mapping or default_mapping("pipedrive")
        self.fields = FieldCatalog(self._body, state or MemoryTokenState(), clock)

    def __repr__(self) -> str:
        return "PipedriveWriteback()"

    def _body(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = self.http.request("GET", path, params=params, headers={"x-api-token": self._token.reveal()})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise failure("pipedrive", "GET", path, response)
        return decode_json(response)

    def _field(self, fact: str, name: str) -> CustomField:
        found = self.fields.find("deal", name)
        if found is None:
            where = f" ({self.mapping.path})" if self.mapping.path else ""
            raise DeliveryError(
                f"pipedrive: no deal field {name!r} for status.{fact}{where}: create it or change the mapping",
                permanent=True,
            )
        return found

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        deal_id = str(payload["deal_id"])
        facts, as_of = payload.get("facts") or {}, str(payload["as_of"])
        values = {**{k: v for k, v in facts.items()}, "as_of": as_of}
        body: dict[str, Any] = {}
        for fact, name in self.mapping.status.items():
            if fact in values:
                f = self._field(fact, name)
                body[f.key] = field_value(f, values[fact])
        stamp = self.mapping.status.get("as_of")
        if stamp:
            deal = (self._body(f"/api/v2/deals/{deal_id}") or {}).get("data")
            if not isinstance(deal, Mapping):
                raise DeliveryError(f"pipedrive: deal {deal_id} does not exist", permanent=True)
            shown = (deal.get("custom_fields") or {}).get(self._field("as_of", stamp).key)
            if newer(shown, as_of):
                logger.info("pipedrive: deal %s already shows a newer status (%s); %s skipped", deal_id, shown, key)
                return
        if not body:
            return
        path = f"/api/v1/deals/{deal_id}"
        headers = {"x-api-token": self._token.reveal(), "Content-Type": "application/json"}
        response = self.http.request("PUT", path, content=json_bytes(body), headers=headers)
        if response.status_code == 404:
            raise DeliveryError(f"pipedrive: deal {deal_id} does not exist", permanent=True)
        if response.status_code != 200:
            raise failure("pipedrive", "PUT", path, response)


def field_value(f: CustomField, value: Any) -> Any:
    """A status fact as Pipedrive's field `f` takes it."""
    if f.field_type in ("double", "monetary", "int"):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        text = str(value).strip()
        return Decimal(text) if text else None
    if f.field_type in ("enum", "set"):
        words = ("true", "yes") if value is True else ("false", "no") if value is False else (str(value),)
        for word in words:
            option = f.option_id(word)
            if option is not None:
                return option if f.field_type == "enum" else [option]
        raise DeliveryError(f"pipedrive: field {f.name!r} has no option {words[0]!r}", permanent=True)
    if f.field_type == "date":
        return str(value)[:10] or None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
