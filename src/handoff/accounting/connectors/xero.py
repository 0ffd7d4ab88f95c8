"""Xero Accounting API: contacts, invoices, credit notes and payments (OAuth 2.0, refresh tokens).

Requests follow Xero's OpenAPI description (`xero_accounting.yaml`, checked by the contract
tests): `PUT /Contacts|/Invoices|/CreditNotes|/Payments` create, with an `Idempotency-Key`
header (Xero keeps keys for a while and answers a repeat with the first result); lookups use
`GET /Invoices?InvoiceNumbers=...` and `where` filters. Every call carries `xero-tenant-id`. A 401
drops the access token and retries once with a fresh one; the OAuth2 helper saves rotated refresh
tokens before use.

Accounts, tax types and the tenant come from `connectors.xero` in handoff.yaml, per selling
entity (the document's `seller.code`, a payment's `seller`) and per line VAT category or
`category:rate`; with no mappings every line goes to `sales_account_code` in the default tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from handoff.accounting.connectors import idempotency_key, number, unknown_type
from handoff.config import XeroModel
from handoff.kernel.connectors.http import HttpSender, failure
from handoff.kernel.connectors.oauth import TokenSource
from handoff.kernel.delivery import DeliveryError

logger = logging.getLogger("handoff.connectors.xero")
API_URL = "https://api.xero.com/api.xro/2.0"
TOKEN_URL = "https://identity.xero.com/connect/token"
KEY_LIMIT = 128  # Idempotency-Key: "128 character max"


def quoted(value: str) -> str:
    """A string literal for a Xero `where` filter."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _seller(doc: Mapping[str, Any]) -> str:
    """The selling entity's code of a document payload ("" for payloads from before it was sent)."""
    return str((doc.get("seller") or {}).get("code") or "")


class XeroChannel:
    def __init__(self, http: HttpSender, token: TokenSource, tenant_id: str, options: XeroModel | None = None) -> None:
        self.http, self.token, self.tenant_id, self.options = http, token, tenant_id, options or XeroModel()

    def __repr__(self) -> str:
        return f"XeroChannel(tenant={self.tenant_id!r})"

    def _call(
        self,
        method: str,
        path: str,
        *,
        tenant: str,
        ok: tuple[int, ...] = (200,),
        key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token.access_token()}", "xero-tenant-id": tenant}
            if key:
                headers["Idempotency-Key"] = idempotency_key(key, KEY_LIMIT)
            response: httpx.Response = self.http.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self.token.invalidate()
                continue
            if response.status_code not in ok:
                raise failure("xero", method, path, response)
            return response.json()
        raise AssertionError("unreachable")

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if kind in ("invoice", "credit_note"):
            self._push_document(key, payload["document"])
        elif kind == "payment":
            self._push_payment(key, payload, str(payload.get("seller") or ""))
        else:
            raise unknown_type("xero", kind)

    def tenant(self, entity: str) -> str:
        """The Xero organisation of selling entity `entity` (the configured default if not mapped)."""
        return self.options.tenant_id(entity, self.tenant_id)

    def contact_id(self, key: str, customer: Mapping[str, str], tenant: str | None = None) -> str:
        """Our customer as a Xero contact, found by ContactNumber (our customer id) or name."""
        tenant = tenant or self.tenant_id
        where = f"ContactNumber=={quoted(customer['id'])} OR Name=={quoted(customer['name'])}"
        found = self._call("GET", "/Contacts", tenant=tenant, params={"where": where}).get("Contacts") or []
        if found:
            return str(found[0]["ContactID"])
        contact: dict[str, Any] = {"Name": customer["name"], "ContactNumber": customer["id"]}
        if customer.get("email"):
            contact["EmailAddress"] = customer["email"]
        if customer.get("vat_id"):
            contact["TaxNumber"] = customer["vat_id"]
        contact["Addresses"] = [
            {
                "AddressType": "POBOX",
                "AddressLine1": customer.get("street", ""),
                "City": customer.get("city", ""),
                "PostalCode": customer.get("postal_code", ""),
                "Country": customer.get("country", ""),
            }
        ]
        created = self._call("PUT", "/Contacts", tenant=tenant, key=f"{key}:contact", json={"Contacts": [contact]})
        return str(created["Contacts"][0]["ContactID"])

    def _lines(self, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        entity, out = _seller(doc), []
        for ln in doc["lines"]:
            category, rate = ln["vat_category"], ln["vat_rate"]
            out.append(
                {
                    "Description": ln["description"][:4000],
                    "Quantity": number(ln["quantity"]),
                    "UnitAmount": number(ln["unit_price"]),
                    "AccountCode": self.options.account_code(entity, category, rate),
                    "TaxType": self.options.tax_type(entity, category, rate),
                }
            )
        return out

    def _push_document(self, key: str, doc: Mapping[str, Any]) -> None:
        credit = doc["kind"] == "credit_note"
        num, tenant = doc["number"], self.tenant(_seller(doc))
        if credit:
            existing = self._call(
                "GET", "/CreditNotes", tenant=tenant, params={"where": f"CreditNoteNumber=={quoted(num)}"}
            )
            if existing.get("CreditNotes"):
                logger.info("xero: credit note %s already there; nothing to do", num)
                return
        else:
            existing = self._call("GET", "/Invoices", tenant=tenant, params={"InvoiceNumbers": num})
            if existing.get("Invoices"):
                logger.info("xero: invoice %s already there; nothing to do", num)
                return
        body: dict[str, Any] = {
            "Type": "ACCRECCREDIT" if credit else "ACCREC",
            "Contact": {"ContactID": self.contact_id(key, doc["customer"], tenant)},
            "Date": doc["issue_date"],
            "LineAmountTypes": "Exclusive",
            "LineItems": self._lines(doc),
            "CurrencyCode": doc["currency"],
            "Status": "AUTHORISED",
            "Reference": (doc.get("po_number") or doc.get("payment_reference") or "")[:255],
        }
        if credit:
            body["CreditNoteNumber"] = num
            self._call("PUT", "/CreditNotes", tenant=tenant, key=key, json={"CreditNotes": [body]})
        else:
            body |= {"InvoiceNumber": num, "DueDate": doc["due_date"]}
            self._call("PUT", "/Invoices", tenant=tenant, key=key, json={"Invoices": [body]})

    def _push_payment(self, key: str, payload: Mapping[str, Any], entity: str) -> None:
        reference, tenant = f"handoff {payload['payment_key']}"[:255], self.tenant(entity)
        where = {"where": f"Reference=={quoted(reference)}"}
        if self._call("GET", "/Payments", tenant=tenant, params=where).get("Payments"):
            return
        invoices = self._call("GET", "/Invoices", tenant=tenant, params={"InvoiceNumbers": payload["invoice_number"]})
        if not invoices.get("Invoices"):
            # the invoice's own push is still pending or failing: try again later
            raise DeliveryError(f"xero: invoice {payload['invoice_number']} is not in Xero yet")
        self._call(
            "PUT",
            "/Payments",
            tenant=tenant,
            key=key,
            json={
                "Payments": [
                    {
                        "Invoice": {"InvoiceID": invoices["Invoices"][0]["InvoiceID"]},
                        "Account": {"Code": self.options.payment_account(entity)},
                        "Date": payload["paid_on"],
                        "Amount": number(payload["amount"]),
                        "Reference": reference,
                    }
                ]
            },
        )
