"""A Xero stand-in: identity token endpoint (rotating refresh tokens) and the accounting endpoints
handoff uses, with Xero's Idempotency-Key behaviour (a repeated key answers the first result)."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any
from urllib.parse import parse_qs

from tests.contract.standin import Reply, Seen

WHERE = re.compile(r'(\w+)=="((?:[^"\\]|\\.)*)"')


class XeroBooks:
    def __init__(
        self,
        client_id: str = "cid",
        client_secret: str = "csecret",
        refresh_token: str = "r0",
        honour_idempotency: bool = True,
    ) -> None:
        self.client = (client_id, client_secret)
        self.refresh_token, self.access_token = refresh_token, ""
        self.honour_idempotency = honour_idempotency
        self.contacts: list[dict[str, Any]] = []
        self.invoices: list[dict[str, Any]] = []
        self.credit_notes: list[dict[str, Any]] = []
        self.payments: list[dict[str, Any]] = []
        self.replies: dict[str, Reply] = {}
        self.refreshes = 0

    def _token(self, seen: Seen) -> Reply:
        auth = base64.b64decode(seen.headers.get("authorization", "Basic ").split(" ", 1)[1]).decode()
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if tuple(auth.split(":", 1)) != self.client:
            return 401, {}, {"error": "invalid_client"}
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return 400, {}, {"error": "invalid_grant"}
        self.refreshes += 1
        self.refresh_token, self.access_token = f"r{self.refreshes}", f"a{self.refreshes}"
        return (
            200,
            {},
            {
                "access_token": self.access_token,
                "expires_in": 1800,
                "token_type": "Bearer",
                "refresh_token": self.refresh_token,
            },
        )

    def _allocate(self, seen: Seen, credit_note_id: str) -> Reply:
        """`PUT /CreditNotes/{CreditNoteID}/Allocations`: kept on the credit note, as Xero lists them."""
        key = seen.headers.get("idempotency-key", "")
        if key and self.honour_idempotency and key in self.replies:
            return self.replies[key]
        note = next((c for c in self.credit_notes if c["CreditNoteID"] == credit_note_id), None)
        if note is None:
            return 404, {}, {"Title": "Not Found"}
        made = [{**a, "AllocationID": str(uuid.uuid4())} for a in seen.json()["Allocations"]]
        note.setdefault("Allocations", []).extend(made)
        reply: Reply = (200, {}, {"Status": "OK", "Allocations": made})
        if key:
            self.replies[key] = reply
        return reply

    @staticmethod
    def _where(seen: Seen) -> list[tuple[str, str]]:
        return [(k, v.replace('\\"', '"')) for k, v in WHERE.findall(seen.query.get("where", [""])[0])]

    def __call__(self, seen: Seen) -> Reply:
        if seen.path == "/connect/token":
            return self._token(seen)
        if seen.headers.get("authorization") != f"Bearer {self.access_token}" or not self.access_token:
            return 401, {}, {"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired"}
        if not seen.headers.get("xero-tenant-id"):
            return 403, {}, {"Title": "Forbidden"}
        resource = seen.path.removeprefix("/api.xro/2.0/")
        if resource.startswith("CreditNotes/") and resource.endswith("/Allocations"):
            return self._allocate(seen, resource.split("/")[1])
        store = {
            "Contacts": self.contacts,
            "Invoices": self.invoices,
            "CreditNotes": self.credit_notes,
            "Payments": self.payments,
        }[resource]
        if seen.method == "GET":
            if "InvoiceNumbers" in seen.query:
                numbers = seen.query["InvoiceNumbers"][0].split(",")
                found = [x for x in store if x.get("InvoiceNumber") in numbers]
            else:
                conds = self._where(seen)
                found = [x for x in store if any(x.get(k) == v for k, v in conds)]
            return 200, {}, {"Status": "OK", resource: found}
        key = seen.headers.get("idempotency-key", "")
        if key and self.honour_idempotency and key in self.replies:
            return self.replies[key]
        created = []
        for item in seen.json()[resource]:
            ident = {
                "Contacts": "ContactID",
                "Invoices": "InvoiceID",
                "CreditNotes": "CreditNoteID",
                "Payments": "PaymentID",
            }[resource]
            stored = {**item, ident: str(uuid.uuid4())}
            store.append(stored)
            created.append(stored)
        reply: Reply = (200, {}, {"Status": "OK", resource: created})
        if key:
            self.replies[key] = reply
        return reply
