"""A generic REST accounting endpoint (an in-house ledger, an ERP adapter, an iPaaS flow).

Contract, documented for whoever builds the receiving side:
- `GET {base}/invoices/{number}`: 200 if the document is already there, 404 if not;
- `POST {base}/invoices` with the `app.accounting.document` JSON; `POST {base}/payments` with the
  payment payload; `POST {base}/allocations` when a credit note's credit settles an invoice
  (`credit_note_number`, `invoice_number`, `amount`, `currency`, `date`, `seller`,
  `allocation_key`); `POST {base}/refunds` when credit is paid back (`credit_note_number`, `amount`,
  `currency`, `date`, `seller`, `reference`, `refund_key`); each with an `Idempotency-Key` header
  (the outbox key) that the receiver must honour, answering a repeat with the first result
  (200/201) or 409 (taken as done);
- optional `Authorization: Bearer <HANDOFF_ACCOUNTING_REST_TOKEN>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from handoff.accounting.connectors import idempotency_key, unknown_type
from handoff.kernel.connectors.http import HttpSender, failure
from handoff.kernel.connectors.secrets import Secret


class GenericRestChannel:
    def __init__(self, http: HttpSender, token: Secret | None = None) -> None:
        self.http, self._token = http, token

    def __repr__(self) -> str:
        return "GenericRestChannel()"

    def _headers(self, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token.reveal()}"} if self._token else {}
        if key:
            headers["Idempotency-Key"] = idempotency_key(key, 200)
        return headers

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        kind = payload.get("type")
        if kind in ("invoice", "credit_note"):
            path = f"/invoices/{quote(payload['document']['number'], safe='')}"
            seen = self.http.request("GET", path, headers=self._headers())
            if seen.status_code == 200:
                return
            if seen.status_code != 404:
                raise failure("accounting", "GET", path, seen)
            target, body = "/invoices", payload["document"]
        elif kind == "payment":
            target, body = "/payments", dict(payload)
        elif kind == "credit_allocation":
            target, body = "/allocations", dict(payload)
        elif kind == "credit_refund":
            target, body = "/refunds", dict(payload)
        else:
            raise unknown_type("accounting", kind)
        response = self.http.request("POST", target, json=body, headers=self._headers(key))
        if response.status_code not in (200, 201, 409):
            raise failure("accounting", "POST", target, response)
