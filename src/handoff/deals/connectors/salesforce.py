"""Salesforce: closed-won opportunities by polling the REST query API (SOQL).

Shapes follow Salesforce's REST API docs: `GET /services/data/vXX.X/query?q=<SOQL>` answers
`{"totalSize", "done", "records": [...], "nextRecordsUrl"?}`; parent fields come nested
(`Account: {...}`), child relationships as query results (`OpportunityContactRoles: {"records":
[...]}` or null). The cursor is the largest `LastModifiedDate` seen: each poll asks for won
opportunities modified since then, oldest first, so a crash between polls re-reads, never skips
(the inbox drops what it already has).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from handoff.deals.connectors import FetchError, parse_instant
from handoff.deals.connectors.mapping import FieldMap
from handoff.deals.domain.orders import DealEvent, DealInput
from handoff.kernel.connectors.http import HttpSender, failure
from handoff.kernel.connectors.oauth import TokenSource
from handoff.kernel.delivery import DeliveryError

API_VERSION = "v61.0"
SOQL = (
    "SELECT Id, Name, StageName, CloseDate, Amount, CurrencyIsoCode, LastModifiedDate, "
    "Owner.Email, PO_Number__c, Payment_Terms__c, Legal_Entity__c, "
    "Account.Id, Account.Name, Account.BillingStreet, Account.BillingCity, Account.BillingPostalCode, "
    "Account.BillingCountryCode, Account.VAT_Id__c, Account.Requires_PO__c, "
    "(SELECT Role, IsPrimary, Contact.Name, Contact.Email FROM OpportunityContactRoles) "
    "FROM Opportunity WHERE IsWon = true{since} ORDER BY LastModifiedDate, Id"
)

# Fields ending in __c are custom fields an admin creates; rename them here to match an org.
MAPPING = FieldMap.parse(
    {
        "deal_id": "opp.Id",
        "deal_name": "opp.Name",
        "stage": "=closedwon",  # the query asks for IsWon only
        "close_date": "opp.CloseDate | date",
        "amount": "opp.Amount",
        "currency": "opp.CurrencyIsoCode | upper",
        "customer_id": "opp.Account.Id",
        "customer_legal_name": "opp.Account.Name",
        "customer_type": "=business",
        "country": "opp.Account.BillingCountryCode | country",
        "vat_id": "opp.Account.VAT_Id__c",
        "po_number": "opp.PO_Number__c",
        "requires_po": "opp.Account.Requires_PO__c",
        "billing_email": "opp.OpportunityContactRoles.records[?IsPrimary].Contact.Email",
        "billing_contact_name": "opp.OpportunityContactRoles.records[?IsPrimary].Contact.Name",
        "billing_street": "opp.Account.BillingStreet",
        "billing_city": "opp.Account.BillingCity",
        "billing_postal_code": "opp.Account.BillingPostalCode",
        "payment_terms": "opp.Payment_Terms__c",
        "legal_entity": "opp.Legal_Entity__c",
        "owner_email": "opp.Owner.Email",
    },
    {"salesforce_opportunity_id": "opp.Id"},
)


def soql_datetime(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceSource:
    name = "salesforce"

    def __init__(self, http: HttpSender, token: TokenSource, mapping: FieldMap = MAPPING) -> None:
        self.http, self.token, self.mapping = http, token, mapping

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
            return response.json()
        raise AssertionError("unreachable")

    def poll(self, cursor: str | None) -> tuple[list[DealEvent], str | None]:
        """Won opportunities modified at or after `cursor` (ISO time); the new cursor."""
        since = (
            f" AND LastModifiedDate >= {soql_datetime(parse_instant(cursor) or datetime.min.replace(tzinfo=UTC))}"
            if cursor
            else ""
        )
        result = self._get(f"/services/data/{API_VERSION}/query", {"q": SOQL.format(since=since)})
        records = list(result.get("records") or [])
        while not result.get("done", True) and result.get("nextRecordsUrl"):
            result = self._get(str(result["nextRecordsUrl"]))
            records += result.get("records") or []
        events, newest = [], cursor
        for record in records:
            at = parse_instant(record.get("LastModifiedDate"))
            if at is None:
                continue
            deal = DealInput.from_mapping(self.mapping.apply({"opp": record}))
            events.append(DealEvent(self.name, f"{record['Id']}@{at.isoformat()}", at, deal))
            newest = max(newest or "", at.isoformat())
        return events, newest
