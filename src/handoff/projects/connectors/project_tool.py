"""A generic REST project tool (a PSA, a project board, an iPaaS flow) that is told of every project handoff opens.

Contract, documented for whoever builds the receiving side:
- `POST {url}` with the project as JSON: `project_id`, `contract_id`, `name`, `customer_id`,
  `currency`, `start`, `end`, `manager_email`, `phases` (`key`, `name`, `start`,
  `end` inclusive, `milestone`, `budget` {role: hours}), `milestones` (`key`, `name`), `roles`
  (`role`, `line_key`, `rate`, `budget_hours`); hours and rates are exact decimal strings;
- headers `Idempotency-Key` (the outbox key: the receiver answers a repeat with the first result),
  `X-Handoff-Timestamp` (Unix seconds) and `X-Handoff-Signature: sha256=<hex HMAC-SHA256(secret,
  timestamp + "." + body)>`, the scheme of handoff's own generic webhooks (Stripe's and Slack's);
- the answer: 200 or 201 with `{"id": "<the tool's id of the project>"}` (a string or an integer);
  409 with the same body means "already there" and counts as done.

Transport failures and 5xx answers are retried (`kernel.connectors.http`); other 4xx answers and an
answer without an id are permanent failures, dead-lettered for an operator.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from handoff.kernel.connectors.http import HttpSender, decode_json, failure, json_bytes
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.delivery import DeliveryError

SIGNATURE_HEADER = "X-Handoff-Signature"
TIMESTAMP_HEADER = "X-Handoff-Timestamp"
MAX_KEY = 200  # characters of the Idempotency-Key, as the accounting connectors send it
MAX_ID = 200  # characters of the tool's id kept beside the project (project_external_ids)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _idempotency_key(key: str) -> str:
    return key if len(key) <= MAX_KEY else hashlib.sha256(key.encode()).hexdigest()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ProjectToolClient:
    """Pushes one project to the tool and returns the tool's id of it."""

    def __init__(self, http: HttpSender, url: str, secret: Secret, clock: Callable[[], datetime] = _utc_now) -> None:
        # `url` exactly as configured (a client's base URL would gain a trailing slash)
        self.http, self.url, self._secret, self.clock = http, url, secret, clock

    def __repr__(self) -> str:
        return "ProjectToolClient()"

    def push(self, key: str, project: Mapping[str, Any]) -> str:
        """POST the project, signed, with `key` as its idempotency key; the tool's id of it."""
        body = json_bytes(project)
        stamp = str(int(self.clock().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": _idempotency_key(key),
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self._secret.reveal(), stamp, body),
        }
        response = self.http.request("POST", self.url, content=body, headers=headers)
        if response.status_code not in (200, 201, 409):
            raise failure(self.http.name, "POST", self.url, response)
        try:
            answer = decode_json(response)
        except ValueError:
            raise DeliveryError(f"{self.http.name} POST: the answer is not JSON", permanent=True) from None
        found = answer.get("id") if isinstance(answer, dict) else None
        if isinstance(found, bool) or not isinstance(found, str | int) or not str(found).strip():
            raise DeliveryError(f"{self.http.name} POST: the answer carries no project id", permanent=True)
        external_id = str(found).strip()
        if len(external_id) > MAX_ID or not external_id.isprintable():
            raise DeliveryError(f"{self.http.name} POST: the project id answered is not usable", permanent=True)
        return external_id
