"""CRM stand-ins: HubSpot, Pipedrive and Salesforce as their public API docs describe them (no
machine-readable descriptions of these APIs are among the oracles). Each is a `StandIn` handler that
answers in the vendor's shapes and refuses, as the vendor would, a request outside them (unknown
query parameter, too many batch inputs, a property or field the account does not have): each
refusal is recorded as a violation, which the tests assert to be empty.

- HubSpot: CRM v3 objects (developers.hubspot.com/docs/api/crm/understanding-the-crm), line items
  (developers.hubspot.com/docs/api/crm/line-items; properties per
  knowledge.hubspot.com/properties/hubspots-default-line-item-properties: values are strings),
  associations v4 (developers.hubspot.com/docs/api/crm/associations: `results` of `toObjectId`
  with `associationTypes`, `paging.next.after` while there is more), batch read (at most 100
  inputs), PATCH of properties (an unknown property is a 400 `PROPERTY_DOESNT_EXIST`).
- Pipedrive: API v2 deals / organizations / persons with `custom_fields` keyed by 40-character
  hashes (pipedrive.readme.io/docs/core-api-concepts-custom-fields), v1 deal products
  (developers.pipedrive.com/docs/api/v1/Deals#getDealProducts: `item_price`, `quantity`,
  `discount` with `discount_type` percentage | amount, `tax`, `enabled_flag`, paged by
  `start` / `limit` with `additional_data.pagination`), v1 dealFields / organizationFields /
  personFields (developers.pipedrive.com/docs/api/v1/DealFields: `key`, `name`, `field_type`,
  `options`), v1 PUT /deals/{id} taking custom fields by their key.
- Salesforce REST: query (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
  dome_query.htm: `totalSize`, `done`, `records`, child relationships as nested query results),
  sObject rows read with `?fields=` and updated by PATCH, answered 204
  (.../dome_update_fields.htm); OpportunityLineItem fields per the object reference (Quantity,
  UnitPrice, Discount as a percent, TotalPrice; numbers are JSON numbers).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.contract.standin import Reply, Seen

# --- HubSpot ------------------------------------------------------------------------------------

HUBSPOT_OBJECT_PARAMS = {"properties", "propertiesWithHistory", "associations", "archived", "idProperty"}
HUBSPOT_ALWAYS = ("hs_object_id", "createdate", "hs_lastmodifieddate")


def hubspot_error(status: int, category: str, message: str) -> Reply:
    return status, {}, {"status": "error", "message": message, "category": category, "correlationId": "standin"}


@dataclass
class HubSpotCrm:
    """A HubSpot account: objects by type and id (`{"id", "properties", ...}`), owners, deal to line
    item associations, and the deal properties that exist (PATCH of another is refused)."""

    token: str = "pat-1"
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)
    line_items_of: dict[str, list[str]] = field(default_factory=dict)
    deal_properties: set[str] = field(default_factory=set)
    page_size: int = 500  # associations per page (the tests make it small to see paging)
    violations: list[str] = field(default_factory=list)
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def put(self, kind: str, obj: dict[str, Any]) -> None:
        self.objects.setdefault(kind, {})[str(obj["id"])] = obj

    def _refuse(self, seen: Seen, status: int, category: str, message: str) -> Reply:
        self.violations.append(f"{seen.method} {seen.path}: {message}")
        return hubspot_error(status, category, message)

    def _object(self, kind: str, obj: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        props = obj.get("properties", {})
        names = [*wanted, *HUBSPOT_ALWAYS]
        return {
            "id": str(obj["id"]),
            "properties": {n: props[n] for n in names if n in props},
            "createdAt": obj.get("createdAt", "2026-10-01T08:00:00.000Z"),
            "updatedAt": obj.get("updatedAt", "2026-11-01T10:00:00.000Z"),
            "archived": False,
        }

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return hubspot_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
        path, method = seen.path, seen.method
        if m := re.fullmatch(r"/crm/v3/objects/(\w+)/(\w+)", path):
            kind, object_id = m.groups()
            extra = sorted(set(seen.query) - HUBSPOT_OBJECT_PARAMS)
            if extra:
                return self._refuse(seen, 400, "VALIDATION_ERROR", f"unknown query parameters {extra}")
            obj = self.objects.get(kind, {}).get(object_id)
            if obj is None:
                return hubspot_error(404, "OBJECT_NOT_FOUND", f"{kind} {object_id} not found")
            if method == "GET":
                wanted = [p for v in seen.query.get("properties", []) for p in v.split(",") if p]
                out = self._object(kind, obj, wanted)
                for assoc in ",".join(seen.query.get("associations", [])).split(","):
                    if assoc and obj.get("associations", {}).get(assoc):
                        out.setdefault("associations", {})[assoc] = obj["associations"][assoc]
                return 200, {}, out
            if method == "PATCH" and kind == "deals":
                return self._patch(seen, obj)
        if m := re.fullmatch(r"/crm/v4/objects/deals/(\w+)/associations/line_items", path):
            return self._associations(seen, m.group(1))
        if path == "/crm/v3/objects/line_items/batch/read" and method == "POST":
            return self._batch_read(seen)
        if m := re.fullmatch(r"/crm/v3/owners/(\w+)", path):
            owner = self.owners.get(m.group(1))
            return (200, {}, owner) if owner else hubspot_error(404, "OBJECT_NOT_FOUND", "owner not found")
        return self._refuse(seen, 404, "NOT_FOUND", f"no such endpoint {method} {path}")

    def _associations(self, seen: Seen, deal_id: str) -> Reply:
        extra = sorted(set(seen.query) - {"after", "limit"})
        if extra:
            return self._refuse(seen, 400, "VALIDATION_ERROR", f"unknown query parameters {extra}")
        limit = int((seen.query.get("limit") or ["500"])[0])
        if limit > 500:
            return self._refuse(seen, 400, "VALIDATION_ERROR", "limit above 500")
        ids = self.line_items_of.get(deal_id, [])
        start = int((seen.query.get("after") or ["0"])[0])
        size = min(limit, self.page_size)
        page = ids[start : start + size]
        body: dict[str, Any] = {
            "results": [
                {
                    "toObjectId": int(i),
                    "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 19, "label": None}],
                }
                for i in page
            ]
        }
        if start + size < len(ids):
            body["paging"] = {"next": {"after": str(start + size), "link": "?after=" + str(start + size)}}
        return 200, {}, body

    def _batch_read(self, seen: Seen) -> Reply:
        body = seen.json() or {}
        extra = sorted(set(body) - {"properties", "propertiesWithHistory", "idProperty", "inputs"})
        if extra or "inputs" not in body:
            return self._refuse(seen, 400, "VALIDATION_ERROR", f"batch read body: unknown {extra} or no inputs")
        if len(body["inputs"]) > 100:
            return self._refuse(seen, 400, "VALIDATION_ERROR", "at most 100 inputs per batch")
        if not all(isinstance(i, dict) and set(i) == {"id"} and isinstance(i["id"], str) for i in body["inputs"]):
            return self._refuse(seen, 400, "VALIDATION_ERROR", "inputs must be [{id: string}]")
        items = self.objects.get("line_items", {})
        results = [self._object("line_items", items[i["id"]], body.get("properties", [])) for i in body["inputs"]]
        return 200, {}, {"status": "COMPLETE", "results": results, "startedAt": "x", "completedAt": "y"}

    def _patch(self, seen: Seen, deal: dict[str, Any]) -> Reply:
        body = seen.json() or {}
        props = body.get("properties")
        if set(body) != {"properties"} or not isinstance(props, dict):
            return self._refuse(seen, 400, "VALIDATION_ERROR", 'body must be {"properties": {...}}')
        unknown = sorted(set(props) - self.deal_properties)
        if unknown:
            return self._refuse(seen, 400, "PROPERTY_DOESNT_EXIST", f"Property values were not valid: {unknown}")
        if not all(isinstance(v, str) for v in props.values()):
            return self._refuse(seen, 400, "VALIDATION_ERROR", "property values are sent as strings")
        deal["properties"].update(props)
        self.patches.append((str(deal["id"]), dict(props)))
        return 200, {}, self._object("deals", deal, list(props))


# --- Pipedrive ----------------------------------------------------------------------------------


def pipedrive_key(name: str) -> str:
    """A 40-character custom field key, as Pipedrive generates them (a hash)."""
    return hashlib.sha1(f"standin:{name}".encode()).hexdigest()


@dataclass
class PipedriveField:
    key: str
    name: str
    field_type: str = "varchar"
    options: list[dict[str, Any]] | None = None

    def as_json(self, n: int) -> dict[str, Any]:
        return {
            "id": n,
            "key": self.key,
            "name": self.name,
            "order_nr": n,
            "field_type": self.field_type,
            "add_time": "2024-01-01 00:00:00",
            "update_time": "2024-01-01 00:00:00",
            "active_flag": True,
            "edit_flag": True,
            "bulk_edit_allowed": True,
            "searchable_flag": False,
            "filtering_allowed": True,
            "sortable_flag": True,
            "mandatory_flag": False,
            "options": self.options,
        }


PIPEDRIVE_DEAL_KEYS = {"title", "value", "currency", "status", "stage_id", "user_id", "person_id", "org_id"}


@dataclass
class PipedriveAccount:
    """A Pipedrive company: deals, organizations and persons in the v2 shape, users, deal products
    (v1 shape) and the custom fields of each entity."""

    token: str = "pd-token"
    deals: dict[int, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[int, dict[str, Any]] = field(default_factory=dict)
    persons: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    products: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    fields: dict[str, list[PipedriveField]] = field(default_factory=dict)  # dealFields, organizationFields, ...
    page_size: int = 500
    violations: list[str] = field(default_factory=list)
    field_reads: list[str] = field(default_factory=list)
    puts: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def _refuse(self, seen: Seen, status: int, message: str) -> Reply:
        self.violations.append(f"{seen.method} {seen.path}: {message}")
        return status, {}, {"success": False, "error": message, "error_info": "see the API reference"}

    def _page(self, seen: Seen, items: list[dict[str, Any]]) -> Reply:
        extra = sorted(set(seen.query) - {"start", "limit", "include_product_data"})
        if extra:
            return self._refuse(seen, 400, f"unknown query parameters {extra}")
        start = int((seen.query.get("start") or ["0"])[0])
        limit = int((seen.query.get("limit") or ["100"])[0])
        if limit > 500:
            return self._refuse(seen, 400, "limit above 500")
        size = min(limit, self.page_size)
        page = items[start : start + size]
        more = start + size < len(items)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + size
        return 200, {}, {"success": True, "data": page or None, "additional_data": {"pagination": pagination}}

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("x-api-token") != self.token:
            return 401, {}, {"success": False, "error": "unauthorized access", "errorCode": 401}
        path = seen.path
        for prefix, store in (
            ("/api/v2/deals/", self.deals),
            ("/api/v2/organizations/", self.organizations),
            ("/api/v2/persons/", self.persons),
            ("/api/v1/users/", self.users),
        ):
            if path.startswith(prefix) and path[len(prefix) :].isdigit() and seen.method == "GET":
                found = store.get(int(path[len(prefix) :]))
                if found is None:
                    return 404, {}, {"success": False}
                return 200, {}, json.dumps({"success": True, "data": found}, default=str).encode()
        if m := re.fullmatch(r"/api/v1/deals/(\d+)/products", path):
            return self._page(seen, self.products.get(int(m.group(1)), []))
        if m := re.fullmatch(r"/api/v1/(dealFields|organizationFields|personFields)", path):
            self.field_reads.append(m.group(1))
            return self._page(seen, [f.as_json(n) for n, f in enumerate(self.fields.get(m.group(1), []), 1)])
        if (m := re.fullmatch(r"/api/v1/deals/(\d+)", path)) and seen.method == "PUT":
            return self._put(seen, int(m.group(1)))
        return self._refuse(seen, 404, f"no such endpoint {seen.method} {path}")

    def _put(self, seen: Seen, deal_id: int) -> Reply:
        deal = self.deals.get(deal_id)
        if deal is None:
            return 404, {}, {"success": False, "error": "Deal not found"}
        body = json.loads(seen.body, parse_float=Decimal)
        custom = {f.key: f for f in self.fields.get("dealFields", [])}
        unknown = sorted(k for k in body if k not in custom and k not in PIPEDRIVE_DEAL_KEYS)
        if unknown:  # Pipedrive ignores such keys: the value is lost without a word
            return self._refuse(seen, 400, f"not a deal field key: {unknown}")
        for key, value in body.items():
            f = custom.get(key)
            if f is None:
                continue
            numeric = f.field_type in ("double", "monetary", "int")
            if numeric and not isinstance(value, int | Decimal):
                return self._refuse(seen, 400, f"{f.name}: a number field takes a JSON number, not {value!r}")
            if f.field_type == "enum" and value not in [o["id"] for o in f.options or []]:
                return self._refuse(seen, 400, f"{f.name}: not an option id: {value!r}")
            if f.field_type == "varchar" and not isinstance(value, str):
                return self._refuse(seen, 400, f"{f.name}: a text field takes a string, not {value!r}")
            deal.setdefault("custom_fields", {})[key] = value
        self.puts.append((deal_id, body))
        return 200, {}, {"success": True, "data": {"id": deal_id}}


# --- Salesforce ---------------------------------------------------------------------------------

SF_DATA = "/services/data/v61.0"


def top_level_fields(soql: str) -> list[str]:
    """The SELECT list of a SOQL query, split at the commas outside parentheses."""
    head = soql[len("SELECT ") : soql.index(" FROM Opportunity")]
    parts, depth, current = [], 0, ""
    for char in head:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


@dataclass
class SalesforceOrg:
    """A Salesforce org: Opportunity records as the query API returns them, and the Opportunity
    fields that exist with their types (an unknown field is a 400 INVALID_FIELD)."""

    token: str = "sf"
    records: list[dict[str, Any]] = field(default_factory=list)
    opportunity_fields: dict[str, str] = field(default_factory=dict)  # name -> text|number|checkbox|datetime
    more_line_items: dict[str, dict[str, Any]] = field(default_factory=dict)  # nextRecordsUrl -> result
    violations: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    patches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _refuse(self, seen: Seen, status: int, code: str, message: str) -> Reply:
        self.violations.append(f"{seen.method} {seen.path}: {message}")
        return status, {}, [{"message": message, "errorCode": code}]

    def record(self, opp_id: str) -> dict[str, Any] | None:
        return next((r for r in self.records if r["Id"] == opp_id), None)

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        if seen.path == f"{SF_DATA}/query":
            return self._query(seen)
        if seen.path in self.more_line_items:
            return 200, {}, self.more_line_items[seen.path]
        if m := re.fullmatch(rf"{SF_DATA}/sobjects/Opportunity/(\w+)", seen.path):
            opp = self.record(m.group(1))
            if opp is None:
                return 404, {}, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
            if seen.method == "GET":
                wanted = [f for v in seen.query.get("fields", []) for f in v.split(",") if f]
                unknown = [f for f in wanted if f not in self.opportunity_fields and f not in opp]
                if unknown:
                    return self._refuse(seen, 400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject")
                out = {"attributes": opp["attributes"], "Id": opp["Id"]}
                out.update({f: opp.get(f) for f in wanted})
                return 200, {}, out
            if seen.method == "PATCH":
                return self._patch(seen, opp)
        return self._refuse(seen, 404, "NOT_FOUND", f"no such resource {seen.method} {seen.path}")

    def _query(self, seen: Seen) -> Reply:
        soql = (seen.query.get("q") or [""])[0]
        self.queries.append(soql)
        if not soql.startswith("SELECT ") or " FROM Opportunity" not in soql:
            return self._refuse(seen, 400, "MALFORMED_QUERY", "not a query of Opportunity")
        for item in top_level_fields(soql):
            if item.startswith("("):
                continue
            probe: Any = self.records[0] if self.records else {}
            for step in item.split("."):
                if isinstance(probe, dict) and step in probe:
                    probe = probe[step]
                elif isinstance(probe, dict) and step not in self.opportunity_fields:
                    return self._refuse(seen, 400, "INVALID_FIELD", f"No such column '{item}' on entity 'Opportunity'")
                else:
                    break
        return 200, {}, {"totalSize": len(self.records), "done": True, "records": self.records}

    def _patch(self, seen: Seen, opp: dict[str, Any]) -> Reply:
        body = json.loads(seen.body, parse_float=Decimal)
        for name, value in body.items():
            kind = self.opportunity_fields.get(name)
            if kind is None:
                return self._refuse(
                    seen, 400, "INVALID_FIELD", f"No such column '{name}' on sobject of type Opportunity"
                )
            ok = {
                "text": isinstance(value, str),
                "number": isinstance(value, int | Decimal) and not isinstance(value, bool),
                "checkbox": isinstance(value, bool),
                "datetime": isinstance(value, str),
                "date": isinstance(value, str) or value is None,
            }[kind]
            if not ok and value is not None:
                return self._refuse(seen, 400, "JSON_PARSER_ERROR", f"{name}: {value!r} is not a {kind}")
        opp.update(body)
        self.patches.append((opp["Id"], body))
        return 204, {}, b""
