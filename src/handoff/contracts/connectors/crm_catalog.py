"""Fetch the product catalog from a CRM, every page, mapped by `crm_products` (issue 20: the catalog
is "synced from the CRM"). One small fetcher per CRM, built from the same `HANDOFF_*` settings and
with the same HTTP client and auth as the deal connectors (`deals.connectors.*`, `bootstrap`):

- HubSpot: `GET /crm/v3/objects/products?properties=...&limit=100&after=...` (CRM v3 objects,
  `paging.next.after` while there is more), bearer token `HANDOFF_HUBSPOT_ACCESS_TOKEN`.
- Pipedrive: v1 `GET /api/v1/products?start=&limit=` (`additional_data.pagination`:
  `more_items_in_collection`, `next_start`), the API token in the `x-api-token` header, as the
  deal connector reads deal products.
- Salesforce: a SOQL query on `PricebookEntry` with its `Product2` over the standard price book
  (`GET /services/data/vXX.X/query?q=`, then `nextRecordsUrl` while `done` is false); a session
  that expired is renewed once, as `SalesforceSource` does.

A failed request (after the HTTP helper's retries) or an answer that is not the vendor's shape is
a `CatalogFetchError` naming the CRM and the request; nothing is returned half-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from handoff.contracts.connectors.crm_products import (
    Mapped,
    hubspot_products,
    pipedrive_products,
    salesforce_products,
)
from handoff.deals.connectors.salesforce import API_VERSION
from handoff.kernel.connectors.http import HttpSender, decode_json, failure, make_client
from handoff.kernel.connectors.oauth import OAuth2, StaticToken, TokenSource, TokenState
from handoff.kernel.connectors.secrets import Secret, Secrets
from handoff.kernel.delivery import DeliveryError

HUBSPOT_PROPERTIES = (
    "name",
    "description",
    "price",
    "hs_sku",
    "hs_recurring_billing_period",
    "recurringbillingfrequency",
)
HUBSPOT_PAGE = 100  # HubSpot's largest page for CRM v3 object lists
PIPEDRIVE_PAGE = 100
SALESFORCE_FIELDS = (
    "Id",
    "UnitPrice",
    "IsActive",
    "Product2Id",
    "Product2.Name",
    "Product2.ProductCode",
    "Product2.Description",
    "Product2.IsActive",
    "Product2.QuantityUnitOfMeasure",
)
MAX_PAGES = 10_000  # a CRM that keeps answering "more" without end is an error, not a hang


class CatalogFetchError(Exception):
    """A CRM's catalog could not be read: the message names the CRM and what failed."""


class CatalogFetcher(Protocol):
    name: str

    def fetch(self) -> Mapped: ...

    def close(self) -> None: ...


def _send(
    source: str, http: HttpSender, path: str, params: Mapping[str, str] | None, headers: Mapping[str, str]
) -> httpx.Response:
    try:
        return http.request("GET", path, params=params, headers=dict(headers))
    except DeliveryError as exc:
        raise CatalogFetchError(f"{source}: {exc}") from None


def _decode(source: str, response: httpx.Response, path: str) -> Mapping[str, Any]:
    if response.status_code != 200:
        raise CatalogFetchError(f"{source}: {failure(source, 'GET', path, response)}")
    try:
        body = decode_json(response)
    except ValueError:
        raise CatalogFetchError(f"{source} GET {httpx.URL(path).path}: answer is not JSON") from None
    if not isinstance(body, Mapping):
        raise CatalogFetchError(f"{source} GET {httpx.URL(path).path}: answer is not a JSON object")
    return body


def _answer(
    source: str, http: HttpSender, path: str, params: Mapping[str, str] | None, headers: Mapping[str, str]
) -> Mapping[str, Any]:
    return _decode(source, _send(source, http, path, params, headers), path)


def _list(source: str, body: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = body.get(key)
    if value is None and key == "data":
        return []  # Pipedrive answers `data: null` when there are none
    if not isinstance(value, list):
        raise CatalogFetchError(f"{source} GET {path}: `{key}` is not a list")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise CatalogFetchError(f"{source} GET {path}: `{key}[{i}]` is not an object")
    return value


def _merge(into: Mapped, page: Mapped) -> None:
    into.products.extend(page.products)
    into.problems.extend(page.problems)


class HubSpotCatalog:
    """HubSpot products; `currency` is the account's company currency (the one `price` is in)."""

    name = "hubspot"

    def __init__(self, http: HttpSender, token: TokenSource, currency: str) -> None:
        self.http, self.token, self.currency = http, token, currency

    def __repr__(self) -> str:
        return "HubSpotCatalog()"

    def close(self) -> None:
        self.http.client.close()

    def fetch(self) -> Mapped:
        path = "/crm/v3/objects/products"
        out = Mapped()
        params = {"properties": ",".join(HUBSPOT_PROPERTIES), "limit": str(HUBSPOT_PAGE)}
        for _ in range(MAX_PAGES):
            headers = {"Authorization": f"Bearer {self.token.access_token()}"}
            body = _answer(self.name, self.http, path, params, headers)
            _list(self.name, body, "results", path)
            _merge(out, hubspot_products(body, self.currency))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out
            params = {**params, "after": str(after)}
        raise CatalogFetchError(f"hubspot GET {path}: more than {MAX_PAGES} pages")


class PipedriveCatalog:
    """Pipedrive products (v1), each with its prices per currency."""

    name = "pipedrive"

    def __init__(self, http: HttpSender, api_token: Secret) -> None:
        self.http, self._token = http, api_token

    def __repr__(self) -> str:
        return "PipedriveCatalog()"

    def close(self) -> None:
        self.http.client.close()

    def fetch(self) -> Mapped:
        path = "/api/v1/products"
        out = Mapped()
        start = 0
        for _ in range(MAX_PAGES):
            params = {"start": str(start), "limit": str(PIPEDRIVE_PAGE)}
            headers = {"x-api-token": self._token.reveal()}
            body = _answer(self.name, self.http, path, params, headers)
            if body.get("success") is False:
                raise CatalogFetchError(f"pipedrive GET {path}: {str(body.get('error') or 'not successful')[:200]}")
            _list(self.name, body, "data", path)
            _merge(out, pipedrive_products(body))
            paging = (body.get("additional_data") or {}).get("pagination") or {}
            if not paging.get("more_items_in_collection"):
                return out
            following = paging.get("next_start")
            if not isinstance(following, int) or following <= start:
                raise CatalogFetchError(f"pipedrive GET {path}: pagination.next_start {following!r} does not go on")
            start = following
        raise CatalogFetchError(f"pipedrive GET {path}: more than {MAX_PAGES} pages")


def salesforce_soql(multi_currency: bool = False) -> str:
    """The price-book entries of the standard price book with their products (`CurrencyIsoCode`
    only in a multi-currency org: elsewhere the field does not exist and the query would fail)."""
    fields = (*SALESFORCE_FIELDS, "CurrencyIsoCode") if multi_currency else SALESFORCE_FIELDS
    return f"SELECT {', '.join(fields)} FROM PricebookEntry WHERE Pricebook2.IsStandard = true ORDER BY Product2Id, Id"


class SalesforceCatalog:
    """Salesforce price-book entries with their Product2; `currency`: the org's, for entries without
    `CurrencyIsoCode`."""

    name = "salesforce"

    def __init__(self, http: HttpSender, token: TokenSource, currency: str, multi_currency: bool = False) -> None:
        self.http, self.token, self.currency, self.multi_currency = http, token, currency, multi_currency

    def __repr__(self) -> str:
        return "SalesforceCatalog()"

    def close(self) -> None:
        self.http.client.close()

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Mapping[str, Any]:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token.access_token()}"}
            response = _send(self.name, self.http, path, params, headers)
            if response.status_code == 401 and attempt == 1:
                self.token.invalidate()  # session expired: get a new one once
                continue
            return _decode(self.name, response, path)
        raise AssertionError("unreachable")

    def fetch(self) -> Mapped:
        path = f"/services/data/{API_VERSION}/query"
        result = self._get(path, {"q": salesforce_soql(self.multi_currency)})
        records = list(_list(self.name, result, "records", path))
        for _ in range(MAX_PAGES):
            if result.get("done", True) or not result.get("nextRecordsUrl"):
                # entries of one product may span pages: map them together
                return salesforce_products({"records": records}, self.currency)
            following = str(result["nextRecordsUrl"])
            result = self._get(following)
            records += _list(self.name, result, "records", following)
        raise CatalogFetchError(f"salesforce GET {path}: more than {MAX_PAGES} pages")


# -- from the settings -----------------------------------------------------------------------------


def configured(env: Mapping[str, str]) -> list[str]:
    """The CRMs whose catalog can be read with the settings given (the deal connectors' credentials)."""
    s = Secrets.load(env)
    found = []
    if s.secret("HANDOFF_HUBSPOT_ACCESS_TOKEN"):
        found.append("hubspot")
    if s.secret("HANDOFF_PIPEDRIVE_API_TOKEN") and s.get("HANDOFF_PIPEDRIVE_API_URL"):
        found.append("pipedrive")
    if s.get("HANDOFF_SALESFORCE_INSTANCE_URL"):
        found.append("salesforce")
    return found


def _sender(name: str, url: str, transport: httpx.BaseTransport | None) -> HttpSender:
    return HttpSender(make_client(url, transport), name)


def build_fetcher(
    env: Mapping[str, str],
    source: str,
    currency: str,
    state: TokenState,
    transport: httpx.BaseTransport | None = None,
) -> CatalogFetcher | None:
    """The fetcher of `source` from the settings (None when that CRM is not configured), with the
    URLs and credentials the deal connectors use; `HANDOFF_<CRM>_CURRENCY` overrides `currency`
    (the currency HubSpot prices and single-currency Salesforce prices are in);
    `HANDOFF_SALESFORCE_MULTI_CURRENCY=1` asks for each entry's `CurrencyIsoCode`."""
    s = Secrets.load(env)
    if source not in configured(env):
        return None
    currency = s.get(f"HANDOFF_{source.upper()}_CURRENCY") or currency
    if not currency and source in ("hubspot", "salesforce"):
        raise CatalogFetchError(
            f"{source}: HANDOFF_{source.upper()}_CURRENCY is not set and the selling entities have no one currency"
            " (the currency its prices are in)"
        )
    if source == "hubspot":
        token = s.secret("HANDOFF_HUBSPOT_ACCESS_TOKEN")
        assert token is not None
        url = s.get("HANDOFF_HUBSPOT_API_URL", "https://api.hubapi.com")
        return HubSpotCatalog(_sender("hubspot", url, transport), StaticToken(token), currency)
    if source == "pipedrive":
        api_token = s.secret("HANDOFF_PIPEDRIVE_API_TOKEN")
        assert api_token is not None
        return PipedriveCatalog(_sender("pipedrive", s.get("HANDOFF_PIPEDRIVE_API_URL"), transport), api_token)
    instance = s.get("HANDOFF_SALESFORCE_INSTANCE_URL")
    static = s.secret("HANDOFF_SALESFORCE_ACCESS_TOKEN")
    sf_token: TokenSource
    if static:
        sf_token = StaticToken(static)
    else:  # OAuth2 as `bootstrap._salesforce_token` builds it (prefix HANDOFF_SALESFORCE)
        token_url = s.get("HANDOFF_SALESFORCE_TOKEN_URL", instance + "/services/oauth2/token")
        sf_token = OAuth2(
            "salesforce",
            _sender("salesforce token", token_url, transport),
            token_url,
            s.get("HANDOFF_SALESFORCE_CLIENT_ID"),
            s.secret("HANDOFF_SALESFORCE_CLIENT_SECRET") or Secret(""),
            state,
            refresh_token=s.secret("HANDOFF_SALESFORCE_REFRESH_TOKEN"),
        )
    multi = s.get("HANDOFF_SALESFORCE_MULTI_CURRENCY").lower() in ("1", "true", "yes")
    return SalesforceCatalog(_sender("salesforce", instance, transport), sf_token, currency, multi)
