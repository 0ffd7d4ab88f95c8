"""CRM product catalogs behind loopback stand-ins, in the vendors' published shapes; each refuses
(and records as a violation) a request outside them:

- HubSpot CRM v3 objects list, `GET /crm/v3/objects/products` (developers.hubspot.com/docs/
  api-reference/.../products/get-products): query `limit` (at most 100), `after` (the cursor of
  `paging.next.after`), `properties`, `propertiesWithHistory`, `associations`, `archived`; answer
  `{"results": [{"id", "properties", "createdAt", "updatedAt", "archived"}], "paging"?: {"next":
  {"after", "link"}}}`, every property value a string.
- Pipedrive v1 `GET /api/v1/products` (developers.pipedrive.com/docs/api/v1/Products#getProducts):
  `start` / `limit` (at most 500), the token in `x-api-token`; answer `{"success": true, "data":
  [...] | null, "additional_data": {"pagination": {"start", "limit", "more_items_in_collection",
  "next_start"?}}}`, prices as JSON numbers.
- Salesforce REST query (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
  dome_query.htm): `GET /services/data/vXX.X/query?q=SOQL` answers `{"totalSize", "done",
  "records", "nextRecordsUrl"?}`; the rest is read from `nextRecordsUrl` without parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.contract.standin import Reply, Seen

HUBSPOT_LIST_PARAMS = {"limit", "after", "properties", "propertiesWithHistory", "associations", "archived"}


def _number(value: Decimal) -> float | int:
    """A JSON number as the vendor writes it (the client reads it back as a Decimal)."""
    return int(value) if value == value.to_integral_value() else float(value)


@dataclass
class HubSpotProducts:
    token: str = "pat-1"
    products: list[dict[str, Any]] = field(default_factory=list)  # {"id", "properties"}
    page_size: int = 100
    violations: list[str] = field(default_factory=list)
    broken: bool = False  # answer a page that is not HubSpot's shape

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, {"status": "error", "category": "INVALID_AUTHENTICATION", "message": "no credentials"}
        if seen.method != "GET" or seen.path != "/crm/v3/objects/products":
            self.violations.append(f"{seen.method} {seen.path}: no such endpoint")
            return 404, {}, {"status": "error", "category": "NOT_FOUND", "message": "not found"}
        extra = sorted(set(seen.query) - HUBSPOT_LIST_PARAMS)
        limit = int((seen.query.get("limit") or ["10"])[0])
        if extra or limit > 100:
            self.violations.append(f"GET {seen.path}: unknown parameters {extra} or limit {limit} above 100")
            return 400, {}, {"status": "error", "category": "VALIDATION_ERROR", "message": "bad query"}
        wanted = [p for v in seen.query.get("properties", []) for p in v.split(",") if p]
        start = int((seen.query.get("after") or ["0"])[0])
        size = min(limit, self.page_size)
        page = self.products[start : start + size]
        body: dict[str, Any] = {
            "results": [
                {
                    "id": p["id"],
                    "properties": {k: v for k, v in p["properties"].items() if k in wanted or k == "hs_object_id"},
                    "createdAt": "2026-10-01T08:00:00.000Z",
                    "updatedAt": "2026-11-01T10:00:00.000Z",
                    "archived": False,
                }
                for p in page
            ]
        }
        if start + size < len(self.products):
            after = str(start + size)
            body["paging"] = {
                "next": {"after": after, "link": f"https://api.hubapi.com/crm/v3/objects/products?after={after}"}
            }
        if self.broken and start > 0:
            body = {"results": "not a list"}
        return 200, {}, body


@dataclass
class PipedriveProducts:
    token: str = "pd-token"
    products: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("x-api-token") != self.token:
            return 401, {}, {"success": False, "error": "unauthorized access", "errorCode": 401}
        if seen.method != "GET" or seen.path != "/api/v1/products":
            self.violations.append(f"{seen.method} {seen.path}: no such endpoint")
            return 404, {}, {"success": False, "error": "Unknown method .", "errorCode": 404}
        extra = sorted(set(seen.query) - {"start", "limit", "filter_id", "ids", "first_char", "get_summary"})
        start = int((seen.query.get("start") or ["0"])[0])
        limit = int((seen.query.get("limit") or ["100"])[0])
        if extra or limit > 500:
            self.violations.append(f"GET {seen.path}: unknown parameters {extra} or limit {limit} above 500")
            return 400, {}, {"success": False, "error": "bad request", "errorCode": 400}
        page = self.products[start : start + limit]
        more = start + limit < len(self.products)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return 200, {}, {"success": True, "data": page or None, "additional_data": {"pagination": pagination}}


@dataclass
class SalesforceProducts:
    token: str = "sf-token"
    entries: list[dict[str, Any]] = field(default_factory=list)  # PricebookEntry records
    page_size: int = 2000
    violations: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)

    def __call__(self, seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {}, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        if m := re.fullmatch(r"/services/data/v\d+\.\d/query/01g-(\d+)", seen.path):
            if seen.query:
                self.violations.append(f"GET {seen.path}: nextRecordsUrl takes no parameters")
            return 200, {}, self._page(int(m.group(1)), seen.path.split("/query/")[0])
        if not re.fullmatch(r"/services/data/v\d+\.\d/query/?", seen.path) or set(seen.query) != {"q"}:
            self.violations.append(f"{seen.method} {seen.path}: not a query")
            return 404, {}, [{"message": "not found", "errorCode": "NOT_FOUND"}]
        soql = seen.query["q"][0]
        self.queries.append(soql)
        if not re.match(r"SELECT .+ FROM PricebookEntry\b", soql) or "CurrencyIsoCode" in soql:
            # CurrencyIsoCode does not exist in a single-currency org
            self.violations.append(f"unexpected SOQL {soql!r}")
            return 400, {}, [{"message": "INVALID_FIELD", "errorCode": "INVALID_FIELD"}]
        return 200, {}, self._page(0, seen.path.rstrip("/").rsplit("/query", 1)[0])

    def _page(self, start: int, base: str) -> dict[str, Any]:
        records = self.entries[start : start + self.page_size]
        done = start + self.page_size >= len(self.entries)
        body: dict[str, Any] = {"totalSize": len(self.entries), "done": done, "records": records}
        if not done:
            body["nextRecordsUrl"] = f"{base}/query/01g-{start + self.page_size}"
        return body


def salesforce_entry(
    entry_id: str, product_id: str, code: str, name: str, price: Decimal, unit: str = ""
) -> dict[str, Any]:
    return {
        "attributes": {"type": "PricebookEntry", "url": f"/services/data/v61.0/sobjects/PricebookEntry/{entry_id}"},
        "Id": entry_id,
        "UnitPrice": _number(price),
        "IsActive": True,
        "Product2Id": product_id,
        "Product2": {
            "attributes": {"type": "Product2", "url": f"/services/data/v61.0/sobjects/Product2/{product_id}"},
            "Name": name,
            "ProductCode": code,
            "Description": None,
            "IsActive": True,
            "QuantityUnitOfMeasure": unit or None,
        },
    }


def pipedrive_product(pid: int, code: str, name: str, prices: dict[str, Decimal], unit: str = "") -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "code": code,
        "description": None,
        "unit": unit,
        "tax": 0,
        "category": None,
        "active_flag": True,
        "selectable": True,
        "first_char": name[:1].lower(),
        "visible_to": "3",
        "owner_id": {"id": 1, "name": "Owner"},
        "files_count": None,
        "add_time": "2026-10-01 08:00:00",
        "update_time": "2026-11-01 10:00:00",
        "prices": [
            {
                "id": pid * 10 + i,
                "product_id": pid,
                "price": _number(price),
                "currency": currency,
                "cost": 0,
                "overhead_cost": None,
            }
            for i, (currency, price) in enumerate(prices.items())
        ],
    }
