"""Xero Accounting API: contacts, invoices, credit notes, payments, credit-note allocations and
refunds (OAuth 2.0, refresh tokens).

Requests follow Xero's OpenAPI description (`xero_accounting.yaml`, checked by the contract
tests): `PUT /Contacts|/Invoices|/CreditNotes|/Payments` and `/CreditNotes/{id}/Allocations`
(credit settling an invoice; a refund is a payment on the credit note) create, with an
`Idempotency-Key` header (Xero keeps keys for a while and answers a repeat with the first
result); lookups use `GET /Invoices?InvoiceNumbers=...` and `where` filters. Every call carries `xero-tenant-id`. A 401
drops the access token and retries once with a fresh one; the OAuth2 helper saves rotated refresh
tokens before use. A selling entity may sign in with credentials of its own (`tokens`, built from
`HANDOFF_XERO_<ENTITY>_*` by the composition root); the others share the connector's.

Accounts, tax types and the tenant come from `connectors.xero` in handoff.yaml, per selling
entity (the document's `seller.code`, a payment's `seller`) and per line: its product code
(`product:CODE`) or product tax category (`tax_category:NAME`) before its VAT category or
`category:rate`; with no mappings every line goes to `sales_account_code` in the default tenant.

Discounts: an invoice line carries its own discount plus its share of the document's (a deal's
discount, spread over its VAT category's lines by the payload) as `DiscountAmount`; Xero credit
notes take no discounts, so a discounted credit-note line is sent as its net `LineAmount`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from handoff.accounting.connectors import idempotency_key, number, unknown_type
from handoff.config import XeroModel
from handoff.kernel.connectors.http import HttpSender, decode_json, failure
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
    """`token`: the shared sign-in; `tokens`: a selling entity's own (its own Xero app or connection),
    used for that entity's documents and payments."""

    def __init__(
        self,
        http: HttpSender,
        token: TokenSource,
        tenant_id: str,
        options: XeroModel | None = None,
        tokens: Mapping[str, TokenSource] | None = None,
    ) -> None:
        self.http, self.token, self.tenant_id, self.options = http, token, tenant_id, options or XeroModel()
        self.tokens = dict(tokens or {})

    def __repr__(self) -> str:
        return f"XeroChannel(tenant={self.tenant_id!r})"

    def _call(
        self,
        method: str,
        path: str,
        *,
        tenant: str,
        entity: str = "",
        ok: tuple[int, ...] = (200,),
        key: str | None = None,
        **kwargs: Any,
    ) -> Any:
        token = self.token_for(entity)
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token.access_token()}", "xero-tenant-id": tenant}
            if key:
                headers["Idempotency-Key"] = idempotency_key(key, KEY_LIMIT)
            response: httpx.Response = self.http.request(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                token.invalidate()
                continue
            if response.status_code not in ok:
                raise failure("xero", method, path, response)
            return decode_json(response)
        raise AssertionError("unreachable")

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if kind in ("invoice", "credit_note"):
            self._push_document(key, payload["document"])
        elif kind == "payment":
            self._push_payment(key, payload, str(payload.get("seller") or ""))
        elif kind == "credit_allocation":
            self._allocate_credit(key, payload)
        elif kind == "credit_refund":
            self._refund_credit(key, payload)
        else:
            raise unknown_type("xero", kind)

    def tenant(self, entity: str) -> str:
        """The Xero organisation of selling entity `entity` (the configured default if not mapped)."""
        return self.options.tenant_id(entity, self.tenant_id)

    def token_for(self, entity: str) -> TokenSource:
        """Selling entity `entity`'s own sign-in, or the shared one."""
        return self.tokens.get(entity, self.token)

    def contact_id(self, key: str, customer: Mapping[str, str], tenant: str | None = None, entity: str = "") -> str:
        """Our customer as a Xero contact, found by ContactNumber (our customer id) or name."""
        tenant = tenant or self.tenant_id
        where = f"ContactNumber=={quoted(customer['id'])} OR Name=={quoted(customer['name'])}"
        found = (
            self._call("GET", "/Contacts", tenant=tenant, entity=entity, params={"where": where}).get("Contacts") or []
        )
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
        created = self._call(
            "PUT", "/Contacts", tenant=tenant, entity=entity, key=f"{key}:contact", json={"Contacts": [contact]}
        )
        return str(created["Contacts"][0]["ContactID"])

    def _lines(self, doc: Mapping[str, Any]) -> list[dict[str, Any]]:
        entity, out = _seller(doc), []
        credit = doc["kind"] == "credit_note"
        for ln in doc["lines"]:
            category, rate = ln["vat_category"], ln["vat_rate"]
            # documents pushed before lines carried them have neither: their category decides
            line = {"product": ln.get("product") or "", "tax_category": ln.get("tax_category") or ""}
            item: dict[str, Any] = {
                "Description": ln["description"][:4000],
                "Quantity": number(ln["quantity"]),
                "UnitAmount": number(ln["unit_price"]),
                "AccountCode": self.options.account_code(entity, category, rate, **line),
                "TaxType": self.options.tax_type(entity, category, rate, **line),
            }
            # the line's own discount and its share of the document's (payloads from before: none)
            off = Decimal(ln.get("line_discount") or "0") + Decimal(ln.get("document_discount") or "0")
            if off and credit:  # Xero credit notes take no discounts: the line goes net of them
                del item["UnitAmount"]  # Xero works it out from the line amount and quantity
                item["LineAmount"] = number(ln["amount"])
            elif off:  # LineAmount = Quantity x UnitAmount - DiscountAmount
                item["DiscountAmount"] = number(str(off))
            out.append(item)
        return out

    def _push_document(self, key: str, doc: Mapping[str, Any]) -> None:
        credit = doc["kind"] == "credit_note"
        entity = _seller(doc)
        num, tenant = doc["number"], self.tenant(entity)
        if credit:
            existing = self._call(
                "GET",
                "/CreditNotes",
                tenant=tenant,
                entity=entity,
                params={"where": f"CreditNoteNumber=={quoted(num)}"},
            )
            if existing.get("CreditNotes"):
                logger.info("xero: credit note %s already there; nothing to do", num)
                return
        else:
            existing = self._call("GET", "/Invoices", tenant=tenant, entity=entity, params={"InvoiceNumbers": num})
            if existing.get("Invoices"):
                logger.info("xero: invoice %s already there; nothing to do", num)
                return
        body: dict[str, Any] = {
            "Type": "ACCRECCREDIT" if credit else "ACCREC",
            "Contact": {"ContactID": self.contact_id(key, doc["customer"], tenant, entity)},
            "Date": doc["issue_date"],
            "LineAmountTypes": "Exclusive",
            "LineItems": self._lines(doc),
            "CurrencyCode": doc["currency"],
            "Status": "AUTHORISED",
            "Reference": (doc.get("po_number") or doc.get("payment_reference") or "")[:255],
        }
        if credit:
            body["CreditNoteNumber"] = num
            self._call("PUT", "/CreditNotes", tenant=tenant, entity=entity, key=key, json={"CreditNotes": [body]})
        else:
            body |= {"InvoiceNumber": num, "DueDate": doc["due_date"]}
            self._call("PUT", "/Invoices", tenant=tenant, entity=entity, key=key, json={"Invoices": [body]})

    def _push_payment(self, key: str, payload: Mapping[str, Any], entity: str) -> None:
        reference, tenant = f"handoff {payload['payment_key']}"[:255], self.tenant(entity)
        where = {"where": f"Reference=={quoted(reference)}"}
        if self._call("GET", "/Payments", tenant=tenant, entity=entity, params=where).get("Payments"):
            return
        invoices = self._call(
            "GET", "/Invoices", tenant=tenant, entity=entity, params={"InvoiceNumbers": payload["invoice_number"]}
        )
        if not invoices.get("Invoices"):
            # the invoice's own push is still pending or failing: try again later
            raise DeliveryError(f"xero: invoice {payload['invoice_number']} is not in Xero yet")
        self._call(
            "PUT",
            "/Payments",
            tenant=tenant,
            entity=entity,
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

    def _credit_note(self, number: str, tenant: str, entity: str) -> Mapping[str, Any]:
        """The credit note numbered `number` as Xero holds it (with its allocations), or a transient
        failure while its own push is still pending."""
        where = {"where": f"CreditNoteNumber=={quoted(number)}"}
        found = self._call("GET", "/CreditNotes", tenant=tenant, entity=entity, params=where).get("CreditNotes") or []
        if not found:
            raise DeliveryError(f"xero: credit note {number} is not in Xero yet")
        note: Mapping[str, Any] = found[0]
        return note

    def _allocate_credit(self, key: str, payload: Mapping[str, Any]) -> None:
        """`PUT /CreditNotes/{CreditNoteID}/Allocations`: part of a credit note settles an invoice.
        An allocation of that amount on that day to that invoice already there is this one, made
        by an attempt whose answer was lost."""
        entity = str(payload.get("seller") or "")
        tenant = self.tenant(entity)
        note = self._credit_note(payload["credit_note_number"], tenant, entity)
        found = self._call(
            "GET", "/Invoices", tenant=tenant, entity=entity, params={"InvoiceNumbers": payload["invoice_number"]}
        )
        if not found.get("Invoices"):
            raise DeliveryError(f"xero: invoice {payload['invoice_number']} is not in Xero yet")
        invoice_id, amount = str(found["Invoices"][0]["InvoiceID"]), number(payload["amount"])
        for made in note.get("Allocations") or []:
            same = (made.get("Invoice") or {}).get("InvoiceID") == invoice_id
            if same and made.get("Amount") == amount and str(made.get("Date", ""))[:10] == payload["date"]:
                logger.info("xero: allocation %s already there; nothing to do", payload["allocation_key"])
                return
        self._call(
            "PUT",
            f"/CreditNotes/{note['CreditNoteID']}/Allocations",
            tenant=tenant,
            entity=entity,
            key=key,
            json={"Allocations": [{"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": payload["date"]}]},
        )

    def _refund_credit(self, key: str, payload: Mapping[str, Any]) -> None:
        """A refund of credit is a payment on the credit note (`PUT /Payments` with `CreditNote`),
        from the seller's payment account, found again by its reference."""
        entity = str(payload.get("seller") or "")
        reference, tenant = f"handoff {payload['refund_key']}"[:255], self.tenant(entity)
        where = {"where": f"Reference=={quoted(reference)}"}
        if self._call("GET", "/Payments", tenant=tenant, entity=entity, params=where).get("Payments"):
            return
        note = self._credit_note(payload["credit_note_number"], tenant, entity)
        self._call(
            "PUT",
            "/Payments",
            tenant=tenant,
            entity=entity,
            key=key,
            json={
                "Payments": [
                    {
                        "CreditNote": {"CreditNoteID": note["CreditNoteID"]},
                        "Account": {"Code": self.options.payment_account(entity)},
                        "Date": payload["date"],
                        "Amount": number(payload["amount"]),
                        "Reference": reference,
                    }
                ]
            },
        )
