"""QuickBooks Online Accounting API: customers, invoices, credit memos, payments, and credit memos
applied to invoices (a zero payment linking both; a refund of credit is booked in QuickBooks by hand).

Intuit's API description is not in our oracles; shapes follow its public docs: entities are
created with `POST /v3/company/{realmId}/{entity}?requestid=...&minorversion=...` (`requestid`
makes a retried create return the first result instead of creating again; at most 50
characters), read with `GET /v3/company/{realmId}/query?query=select * from Invoice where
DocNumber = '...'`, which answers `{"QueryResponse": {"Invoice": [...]}}`. Tokens are OAuth 2.0
with rotating refresh tokens (`oauth.OAuth2`); a selling entity may sign in with credentials of
its own (`tokens`, from `HANDOFF_QBO_<ENTITY>_*`), the others share the connector's.

Items, tax codes (`TaxCodeRef`) and the realm come from `connectors.quickbooks` in handoff.yaml,
per selling entity (the document's `seller.code`, a payment's `seller`) and per line: its product
code (`product:CODE`) or product tax category (`tax_category:NAME`) before its VAT category or
`category:rate`; with no mappings every line is `item_id`, untaxed, in the default realm.

Discounts: QuickBooks gets each discounted line net of its own discount and of its share of the
document's (the payload's `amount`), its unit price that amount over the quantity.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from handoff.accounting.connectors import idempotency_key, number, unknown_type
from handoff.config import QuickBooksModel
from handoff.kernel.connectors.http import HttpSender, decode_json, failure
from handoff.kernel.connectors.oauth import TokenSource
from handoff.kernel.delivery import DeliveryError

API_URL = "https://quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
REQUEST_ID_LIMIT = 50
UNIT_PRICE_PLACES = Decimal("1e-7")  # a unit price net of a discount, to QuickBooks' seven decimals


def literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksChannel:
    """`token`: the shared sign-in; `tokens`: a selling entity's own (its own Intuit app or
    connection), used for that entity's documents and payments."""

    def __init__(
        self,
        http: HttpSender,
        token: TokenSource,
        realm_id: str,
        options: QuickBooksModel | None = None,
        tokens: Mapping[str, TokenSource] | None = None,
    ) -> None:
        self.http, self.token, self.realm_id, self.options = http, token, realm_id, options or QuickBooksModel()
        self.tokens = dict(tokens or {})

    def __repr__(self) -> str:
        return f"QuickBooksChannel(realm={self.realm_id!r})"

    def _call(
        self,
        method: str,
        entity: str,
        *,
        realm: str | None = None,
        seller: str = "",
        request_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        path = f"/v3/company/{realm or self.realm_id}/{entity}"
        params = {"minorversion": self.options.minor_version, **kwargs.pop("params", {})}
        if request_id:
            params["requestid"] = idempotency_key(request_id, REQUEST_ID_LIMIT)
        token = self.token_for(seller)
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token.access_token()}"}
            response = self.http.request(method, path, params=params, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                token.invalidate()
                continue
            if response.status_code != 200:
                raise failure("quickbooks", method, path, response)
            return decode_json(response)
        raise AssertionError("unreachable")

    def realm(self, seller: str) -> str:
        """The QuickBooks company of selling entity `seller` (the configured default if not mapped)."""
        return self.options.realm_id(seller, self.realm_id)

    def token_for(self, seller: str) -> TokenSource:
        """Selling entity `seller`'s own sign-in, or the shared one."""
        return self.tokens.get(seller, self.token)

    def query(self, entity: str, where: str, realm: str | None = None, seller: str = "") -> list[dict[str, Any]]:
        answer = self._call(
            "GET", "query", realm=realm, seller=seller, params={"query": f"select * from {entity} where {where}"}
        )
        return list((answer.get("QueryResponse") or {}).get(entity) or [])

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if kind in ("invoice", "credit_note"):
            self._push_document(key, payload["document"])
        elif kind == "payment":
            self._push_payment(key, payload, str(payload.get("seller") or ""))
        elif kind == "credit_allocation":
            self._apply_credit_memo(key, payload, str(payload.get("seller") or ""))
        elif kind == "credit_refund":
            # the API has no refund of a credit memo's credit (QuickBooks books it as a cheque and
            # a payment linking both, made in QuickBooks itself): an operator books it there
            raise DeliveryError(
                f"quickbooks: record the refund of {payload['amount']} {payload['currency']} from credit memo "
                f"{payload['credit_note_number']} (reference {payload['reference']}) in QuickBooks",
                permanent=True,
            )
        else:
            raise unknown_type("quickbooks", kind)

    def customer_id(self, key: str, customer: Mapping[str, str], realm: str | None = None, seller: str = "") -> str:
        found = self.query("Customer", f"DisplayName = {literal(customer['name'])}", realm, seller)
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
        created = self._call("POST", "customer", realm=realm, seller=seller, request_id=f"{key}:customer", json=body)
        return str(created["Customer"]["Id"])

    def _push_document(self, key: str, doc: Mapping[str, Any]) -> None:
        entity = "CreditMemo" if doc["kind"] == "credit_note" else "Invoice"
        seller = str((doc.get("seller") or {}).get("code") or "")
        realm = self.realm(seller)
        if self.query(entity, f"DocNumber = {literal(doc['number'])}", realm, seller):
            return
        body: dict[str, Any] = {
            "DocNumber": doc["number"][:21],
            "TxnDate": doc["issue_date"],
            "CustomerRef": {"value": self.customer_id(key, doc["customer"], realm, seller)},
            "CurrencyRef": {"value": doc["currency"]},
            "Line": [self._line(seller, ln) for ln in doc["lines"]],
        }
        if entity == "Invoice":
            body["DueDate"] = doc["due_date"]
            if doc["customer"].get("email"):
                body["BillEmail"] = {"Address": doc["customer"]["email"]}
        self._call("POST", entity.lower(), realm=realm, seller=seller, request_id=key, json=body)

    def _line(self, seller: str, ln: Mapping[str, str]) -> dict[str, Any]:
        category, rate = ln["vat_category"], ln["vat_rate"]
        # documents pushed before lines carried them have neither: their category decides
        line = {"product": ln.get("product") or "", "tax_category": ln.get("tax_category") or ""}
        detail: dict[str, Any] = {
            "ItemRef": {"value": self.options.item(seller, category, rate, **line)},
            "Qty": number(ln["quantity"]),
            "UnitPrice": number(ln["unit_price"]),
        }
        amount = ln["net_amount"]
        # the line's own discount and its share of the document's (payloads from before: none)
        if Decimal(ln.get("line_discount") or "0") or Decimal(ln.get("document_discount") or "0"):
            amount = ln["amount"]  # net of both; Qty x UnitPrice must give it
            unit = (Decimal(amount) / Decimal(ln["quantity"])).quantize(UNIT_PRICE_PLACES, ROUND_HALF_UP)
            detail["UnitPrice"] = number(str(unit))
        tax_code = self.options.tax_code(seller, category, rate, **line)
        if tax_code:
            detail["TaxCodeRef"] = {"value": tax_code}
        return {
            "Amount": number(amount),
            "Description": ln["description"][:4000],
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": detail,
        }

    def _push_payment(self, key: str, payload: Mapping[str, Any], seller: str) -> None:
        realm = self.realm(seller)
        invoices = self.query("Invoice", f"DocNumber = {literal(payload['invoice_number'])}", realm, seller)
        if not invoices:
            raise DeliveryError(f"quickbooks: invoice {payload['invoice_number']} is not in QuickBooks yet")
        invoice = invoices[0]
        self._call(
            "POST",
            "payment",
            realm=realm,
            seller=seller,
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

    def _apply_credit_memo(self, key: str, payload: Mapping[str, Any], seller: str) -> None:
        """Credit settles an invoice: a zero payment whose lines link the credit memo and the
        invoice for the same amount (how QuickBooks applies a credit memo to an invoice)."""
        realm = self.realm(seller)
        memo = self.query("CreditMemo", f"DocNumber = {literal(payload['credit_note_number'])}", realm, seller)
        invoices = self.query("Invoice", f"DocNumber = {literal(payload['invoice_number'])}", realm, seller)
        if not memo or not invoices:
            missing = payload["credit_note_number"] if not memo else payload["invoice_number"]
            raise DeliveryError(f"quickbooks: {missing} is not in QuickBooks yet")
        amount = number(payload["amount"])
        self._call(
            "POST",
            "payment",
            realm=realm,
            seller=seller,
            request_id=key,
            json={
                "TotalAmt": 0,
                "TxnDate": payload["date"],
                "CustomerRef": invoices[0]["CustomerRef"],
                "PrivateNote": f"handoff {payload['allocation_key']}"[:4000],
                "Line": [
                    {"Amount": amount, "LinkedTxn": [{"TxnId": invoices[0]["Id"], "TxnType": "Invoice"}]},
                    {"Amount": amount, "LinkedTxn": [{"TxnId": memo[0]["Id"], "TxnType": "CreditMemo"}]},
                ],
            },
        )
