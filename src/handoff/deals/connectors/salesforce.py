"""Salesforce: closed-won opportunities by polling the REST query API (SOQL), with their lines.

Shapes follow Salesforce's REST API docs: `GET /services/data/vXX.X/query?q=<SOQL>` answers
`{"totalSize", "done", "records": [...], "nextRecordsUrl"?}`; parent fields come nested
(`Account: {...}`), child relationships as query results (`OpportunityContactRoles: {"records":
[...]}` or null), themselves paged by a `nextRecordsUrl` when they do not fit. Opportunity line
items (object reference, OpportunityLineItem) carry `Quantity`, `UnitPrice`, `Discount` (a
percentage), `TotalPrice` and the product (`PricebookEntry.Product2.ProductCode` / `Name`); every
number is a JSON number, read as a Decimal (`kernel.connectors.http.decode_json`), never a float.

Status goes back with `SalesforceWriteback`: the opportunity's fields updated by
`PATCH /services/data/vXX.X/sobjects/Opportunity/{id}` (answered 204), read first with `GET ...?fields=`.

The query selects exactly what the source's mapping reads (`defaults/crm/salesforce.yaml`, or the
file `HANDOFF_SALESFORCE_MAPPING` names): `opp.X.Y` becomes `X.Y`, a path through a child
relationship's `records` a subquery of it. The cursor is the largest `LastModifiedDate` seen: each
poll asks for won opportunities modified since then, oldest first, so a crash between polls
re-reads, never skips (the inbox drops what it already has).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from handoff.deals.connectors import FetchError, newer, parse_instant
from handoff.deals.connectors.mapping_file import SourceMapping, default_mapping
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.kernel.connectors.http import HttpSender, decode_json, failure, json_bytes
from handoff.kernel.connectors.oauth import TokenSource
from handoff.kernel.delivery import DeliveryError

logger = logging.getLogger("handoff.connectors.salesforce")

API_VERSION = "v61.0"
ROOT = "opp."
ORDER = {"OpportunityLineItems": " ORDER BY SortOrder, Id"}  # lines in the order the opportunity shows them
_FLAG = re.compile(r"\[\?([A-Za-z0-9_]+)\]")


def _field(steps: list[str]) -> str:
    return ".".join(step.split("[", 1)[0] for step in steps)


def soql(mapping: SourceMapping, since: str = "") -> str:
    """The query of won opportunities (modified since `since`, a SOQL datetime) with every field
    the mapping reads, oldest change first."""
    fields = {"Id", "LastModifiedDate"}
    children: dict[str, set[str]] = {}
    paths = [p.removeprefix(ROOT) for p in mapping.fields.paths() if p.startswith(ROOT)]
    if mapping.lines is not None and mapping.lines.items.startswith(ROOT):
        items = mapping.lines.items.removeprefix(ROOT)
        paths += [f"{items}.{p}" for rule in mapping.lines.fields.values() for p in rule.paths()]
    for path in paths:
        steps = path.split(".")
        if len(steps) >= 2 and steps[1].split("[", 1)[0] == "records":  # a child relationship
            child = children.setdefault(steps[0], {"Id"})
            child.update(_FLAG.findall(steps[1]))
            if rest := _field(steps[2:]):
                child.add(rest)
        else:
            fields.add(_field(steps))
    select = sorted(fields, key=lambda f: (f not in ("Id", "LastModifiedDate"), f))
    select += [
        f"(SELECT {', '.join(sorted(columns))} FROM {name}{ORDER.get(name, '')})"
        for name, columns in sorted(children.items())
    ]
    where = f" AND LastModifiedDate >= {since}" if since else ""
    return f"SELECT {', '.join(select)} FROM Opportunity WHERE IsWon = true{where} ORDER BY LastModifiedDate, Id"


def soql_datetime(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceSource:
    name = "salesforce"

    def __init__(self, http: HttpSender, token: TokenSource, mapping: SourceMapping | None = None) -> None:
        self.http, self.token = http, token
        self.mapping = mapping or default_mapping(self.name)

    def __repr__(self) -> str:
        return "SalesforceSource()"

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token.access_token()}"}
            try:
                response = self.http.request("GET", path, params=params, headers=headers)
            except DeliveryError as exc:
                raise FetchError(str(exc)) from None
            if response.status_code == 401 and attempt == 1:
                self.token.invalidate()  # session expired: get a new one once
                continue
            if response.status_code != 200:
                raise FetchError(str(failure("salesforce", "GET", path, response)))
            try:
                return decode_json(response)
            except ValueError:
                raise FetchError(f"salesforce GET {path}: answer is not JSON") from None
        raise AssertionError("unreachable")

    def poll(self, cursor: str | None) -> tuple[list[DealEvent], str | None]:
        """Won opportunities modified at or after `cursor` (ISO time); the new cursor."""
        since = soql_datetime(parse_instant(cursor) or datetime.min.replace(tzinfo=UTC)) if cursor else ""
        result = self._get(f"/services/data/{API_VERSION}/query", {"q": soql(self.mapping, since)})
        records = list(result.get("records") or [])
        while not result.get("done", True) and result.get("nextRecordsUrl"):
            result = self._get(str(result["nextRecordsUrl"]))
            records += result.get("records") or []
        events, newest = [], cursor
        lines = self.mapping.lines
        for record in records:
            at = parse_instant(record.get("LastModifiedDate"))
            if at is None:
                continue
            for child in record.values():
                self._complete(child)
            doc = {"opp": record}
            deal = DealInput.from_mapping(self.mapping.fields.apply(doc), lines.apply(doc) if lines else ())
            events.append(DealEvent(self.name, f"{record['Id']}@{at.isoformat()}", at, deal))
            newest = max(newest or "", at.isoformat())
        return events, newest

    def _complete(self, child: Any) -> None:
        """Read the rest of a child relationship that did not fit in the answer (`done: false`)."""
        if not isinstance(child, Mapping) or "records" not in child or not isinstance(child, dict):
            return
        page: Any = child
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = self._get(str(page["nextRecordsUrl"]))
            child["records"] = [*child["records"], *(page.get("records") or [])]
        child["done"] = True


AMOUNTS = frozenset({"open_amount", "paid_amount", "credited_amount", "gross_amount"})
COUNTS = frozenset({"overdue_days", "reminder_level"})


def field_value(fact: str, value: Any) -> Any:
    """A status fact as an opportunity field takes it: amounts and counts as JSON numbers (exact),
    `disputed` as a checkbox, the due date as a date (null when none), the rest as text."""
    if fact in AMOUNTS:
        return Decimal(str(value)) if str(value).strip() else None
    if fact in COUNTS:
        return int(value)
    if fact == "disputed":
        return bool(value)
    if fact == "due_date":
        return str(value) or None
    return "" if value is None else str(value)


def sf_datetime(at: datetime) -> str:
    """A time as Salesforce writes date/time fields (`2026-11-02T09:00:00.000+0000`)."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


class SalesforceWriteback:
    """Outbox channel (topic `crm_status`) writing an invoice's status into the opportunity.

    Payload (`deals.service.crm_status`): `{"deal_id", "as_of", "facts": {...}}`; each fact goes to
    the Opportunity field the mapping's `status` names (`Handoff_Open_Amount__c` ...). The `as_of`
    field, when mapped, is read first: an older status never overwrites a newer one delivered in
    between (PATCH itself is idempotent). A session that expired is renewed once."""

    def __init__(self, http: HttpSender, token: TokenSource, mapping: SourceMapping | None = None) -> None:
        self.http, self.token = http, token
        self.status = dict((mapping or default_mapping("salesforce")).status)

    def __repr__(self) -> str:
        return "SalesforceWriteback()"

    def _send(self, method: str, path: str, params: Mapping[str, str] | None = None, body: bytes | None = None) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token.access_token()}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            response = self.http.request(method, path, params=params, content=body, headers=headers)
            if response.status_code == 401 and attempt == 1:
                self.token.invalidate()  # session expired: get a new one once
                continue
            if response.status_code == 404:
                raise DeliveryError(f"salesforce: {path.rsplit('/', 1)[-1]} does not exist", permanent=True)
            if response.status_code not in (200, 204):
                raise failure("salesforce", method, path, response)
            return decode_json(response) if response.status_code == 200 else None
        raise AssertionError("unreachable")

    def deliver(self, key: str, payload: Mapping[str, Any]) -> None:
        opp_id = str(payload["deal_id"])
        path = f"/services/data/{API_VERSION}/sobjects/Opportunity/{opp_id}"
        facts, as_of = payload.get("facts") or {}, str(payload["as_of"])
        body = {name: field_value(fact, facts[fact]) for fact, name in self.status.items() if fact in facts}
        stamp = self.status.get("as_of")
        if stamp:
            shown = (self._send("GET", path, params={"fields": stamp}) or {}).get(stamp)
            if newer(shown, as_of):
                logger.info("salesforce: %s already shows a newer status (%s); %s skipped", opp_id, shown, key)
                return
            at = parse_instant(as_of)
            body[stamp] = sf_datetime(at) if at else as_of
        if body:
            self._send("PATCH", path, body=json_bytes(body))
