"""QuickBooks Online Accounting API: customers, invoices, credit memos and payments.

Intuit's API description is not in our oracles; shapes follow its public docs: entities are
created with `POST /v3/company/{realmId}/{entity}?requestid=...&minorversion=...` (`requestid`
makes a retried create return the first result instead of creating again; at most 50
characters), read with `GET /v3/company/{realmId}/query?query=select * from Invoice where
DocNumber = '...'`, which answers `{"QueryResponse": {"Invoice": [...]}}`. Tokens are OAuth 2.0
with rotating refresh tokens (`oauth.OAuth2`).

Items, tax codes (`TaxCodeRef`) and the realm come from `connectors.quickbooks` in handoff.yaml,
per selling entity (the document's `seller.code`, a payment's `seller`) and per line VAT category
or `category:rate`; with no mappings every line is `item_id`, untaxed, in the default realm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handoff.accounting.connectors import idempotency_key, number, unknown_type
from handoff.config import QuickBooksModel
from handoff.kernel.connectors.http import HttpSender, failure
from handoff.kernel.connectors.oauth import TokenSource
from handoff.kernel.delivery import DeliveryError

API_URL = "https://quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REQUEST_ID_LIMIT = 50


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksChannel:
    def __init__(
        self, http: HttpSender, token: TokenSource, realm_id: str, options: QuickBooksModel | None = None
    ) -> None:
        self.http, self.token, self.realm_id, self.options = http, token, realm_id, options or QuickBooksModel()

    def __repr__(self) -> str:
        return f"QuickBooksChannel(realm={self.realm_id!r})"

    def _call(
        self, method: str, entity: str, *, realm: str | None = None, request_id: str | None = None, **kwargs: Any
    ) -> Any:
        path = f"/v3/company/{realm or self.realm_id}/{entity}"
        params = {"minorversion": self.options.minor_version, **kwargs.pop("params", {})}
        if request_id:
            params["requestid"] = idempotency_key(request_id, REQUEST_ID_LIMIT)
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token.access_token()}"}
            response = self.http.request(method, path, params=params, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self.token.invalidate()
                continue
            if response.status_code != 200:
                raise failure("quickbooks", method, path, response)
            return response.json()
        raise AssertionError("unreachable")

    def realm(self, seller: str) -> str:
        """The QuickBooks company of selling entity `seller` (the configured default if not mapped)."""
        return self.options.realm_id(seller, self.realm_id)

    def query(self, entity: str, where: str, realm: str | None = None) -> list[dict[str, Any]]:
        answer = self._call("GET", "query", realm=realm, params={"query": f"select * from {entity} where {where}"})
        return list((answer.get("QueryResponse") or {}).get(entity) or [])

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if kind in ("invoice", "credit_note"):
            self._push_document(key, payload["document"])
        elif kind == "payment":
            self._push_payment(key, payload, str(payload.get("seller") or ""))
        else:
            raise unknown_type("quickbooks", kind)

    def customer_id(self, key: str, customer: Mapping[str, str], realm: str | None = None) -> str:
        found = self.query("Customer", f"DisplayName = {literal(customer['name'])}", realm)
        if found:
            return str(found[0]["Id"])
        body: dict[str, Any] = {
            "DisplayName": customer["name"],
            "CompanyName": customer["name"],
            "BillAddr": {
                "Line1": customer.get("street", ""),
                "City": customer.get("city", ""),
                "PostalCode": customer.get("postal_code", ""),
                "Country": customer.get("country", ""),
            },
        }
        if customer.get("email"):
            body["PrimaryEmailAddr"] = {"Address": customer["email"]}
        return str(
            self._call("POST", "customer", realm=realm, request_id=f"{key}:customer", json=body)["Customer"]["Id"]
        )

    def _push_document(self, key: str, doc: Mapping[str, Any]) -> None:
        entity = "CreditMemo" if doc["kind"] == "credit_note" else "Invoice"
        seller = str((doc.get("seller") or {}).get("code") or "")
        realm = self.realm(seller)
        if self.query(entity, f"DocNumber = {literal(doc['number'])}", realm):
            return
        body: dict[str, Any] = {
            "DocNumber": doc["number"][:21],
            "TxnDate": doc["issue_date"],
            "CustomerRef": {"value": self.customer_id(key, doc["customer"], realm)},
            "CurrencyRef": {"value": doc["currency"]},
            "Line": [self._line(seller, ln) for ln in doc["lines"]],
        }
        if entity == "Invoice":
            body["DueDate"] = doc["due_date"]
            if doc["customer"].get("email"):
                body["BillEmail"] = {"Address": doc["customer"]["email"]}
        self._call("POST", entity.lower(), realm=realm, request_id=key, json=body)

    def _line(self, seller: str, ln: Mapping[str, str]) -> dict[str, Any]:
        category, rate = ln["vat_category"], ln["vat_rate"]
        detail: dict[str, Any] = {
            "ItemRef": {"value": self.options.item(seller, category, rate)},
            "Qty": number(ln["quantity"]),
            "UnitPrice": number(ln["unit_price"]),
        }
        tax_code = self.options.tax_code(seller, category, rate)
        if tax_code:
            detail["TaxCodeRef"] = {"value": tax_code}
        return {
            "Amount": number(ln["net_amount"]),
            "Description": ln["description"][:4000],
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": detail,
        }

    def _push_payment(self, key: str, payload: Mapping[str, Any], seller: str) -> None:
        realm = self.realm(seller)
        invoices = self.query("Invoice", f"DocNumber = {literal(payload['invoice_number'])}", realm)
        if not invoices:
            raise DeliveryError(f"quickbooks: invoice {payload['invoice_number']} is not in QuickBooks yet")
        invoice = invoices[0]
        self._call(
            "POST",
            "payment",
            realm=realm,
            request_id=key,
            json={
                "TotalAmt": number(payload["amount"]),
                "TxnDate": payload["paid_on"],
                "CustomerRef": invoice["CustomerRef"],
                "PrivateNote": f"handoff {payload['payment_key']}"[:4000],
                "Line": [
                    {"Amount": number(payload["amount"]), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
                ],
            },
        )
