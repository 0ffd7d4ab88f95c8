"""Deal lines from each CRM, fetched from stand-ins that answer in the vendors' published shapes
(`crm_standins`), and Pipedrive's custom fields found by name through its field metadata.

Before, every CRM deal became one line (deal name x amount): HubSpot line items, Salesforce
opportunity line items and Pipedrive deal products were never asked for, and amounts that arrive
as JSON numbers were stored as float text (`15600.0`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from handoff.context import AppContext
from handoff.deals.connectors.hubspot import HubSpotSource
from handoff.deals.connectors.mapping_file import MappingFileError, load_source_mapping
from handoff.deals.connectors.pipedrive import PipedriveSource
from handoff.deals.connectors.salesforce import SalesforceSource
from handoff.deals.domain.orders import LineInput
from handoff.deals.service.crm_sync import poll
from handoff.deals.service.intake import process_pending
from handoff.kernel.connectors.http import HttpSender, make_client
from handoff.kernel.connectors.oauth import MemoryTokenState, StaticToken
from handoff.kernel.connectors.secrets import Secret
from handoff.kernel.storage import schema
from handoff.kernel.storage.connector_state import DbConnectorState
from tests.contract.crm_standins import (
    HubSpotCrm,
    PipedriveAccount,
    PipedriveField,
    SalesforceOrg,
    pipedrive_key,
)
from tests.contract.standin import StandIn

# --- HubSpot ------------------------------------------------------------------------------------


def hubspot_account() -> HubSpotCrm:
    """Deal 15550001 with two line items: 12 x 1,000.00 less 10 %, and 3 x 1,200.00 less a unit
    discount of 100.00 (HubSpot's calculated `hs_total_discount`: 300.00)."""
    crm = HubSpotCrm()
    crm.put(
        "deals",
        {
            "id": "15550001",
            "properties": {
                "dealname": "Kestrel Labs — Platform",
                "dealstage": "closedwon",
                "closedate": "2026-10-30T12:00:00.000Z",
                "amount": "14100",
                "deal_currency_code": "EUR",
                "hubspot_owner_id": "77",
                "po_number": "PO-1",
                "payment_terms": "net30",
                "legal_entity": "ACME-DE",
                "hs_lastmodifieddate": "2026-11-01T10:00:00.000Z",
            },
            "associations": {
                "companies": {"results": [{"id": "501", "type": "deal_to_company"}]},
                "contacts": {"results": [{"id": "601", "type": "deal_to_contact"}]},
            },
        },
    )
    crm.put(
        "companies",
        {
            "id": "501",
            "properties": {
                "name": "Kestrel Labs",
                "legal_name": "Kestrel Labs GmbH",
                "country": "Germany",
                "address": "Hauptstraße 1",
                "city": "Berlin",
                "zip": "10115",
                "vat_id": "DE136695976",
                "requires_po": "true",
            },
        },
    )
    crm.put(
        "contacts", {"id": "601", "properties": {"email": "ap@kestrel.de", "firstname": "Anna", "lastname": "Müller"}}
    )
    crm.owners["77"] = {"id": "77", "email": "anna@acme.example", "firstName": "Anna"}
    crm.put(
        "line_items",
        {
            "id": "9101",
            "properties": {
                "name": "Platform licence",
                "quantity": "12",
                "price": "1000.00",
                "hs_sku": "PLAT-12",
                "hs_product_id": "2001",
                "hs_discount_percentage": "10",
                "amount": "10800.00",
                "hs_line_item_currency_code": "EUR",
                "hs_position_on_quote": "0",
            },
        },
    )
    crm.put(
        "line_items",
        {
            "id": "9102",
            "properties": {
                "name": "Onboarding days",
                "quantity": "3",
                "price": "1200",
                "hs_product_id": "2002",
                "discount": "100",
                "hs_total_discount": "300",
                "amount": "3300.00",
                "hs_tax_rate": "19",
                "hs_line_item_currency_code": "EUR",
                "hs_position_on_quote": "1",
            },
        },
    )
    crm.line_items_of["15550001"] = ["9102", "9101"]  # association order is not line order
    crm.page_size = 1  # one association per page: the paging is followed
    return crm


@pytest.fixture
def served() -> Iterator[list[StandIn]]:
    servers: list[StandIn] = []
    yield servers
    for server in servers:
        server.stop()
    for client in CLIENTS:
        client.close()
    CLIENTS.clear()


CLIENTS: list[httpx.Client] = []


def serve(servers: list[StandIn], handler: Any, name: str) -> HttpSender:
    """A sender to a new stand-in answering with `handler` (stopped, and the client closed, after the test)."""
    server = StandIn(handler).start()
    servers.append(server)
    client = make_client(server.url, timeout=2.0)
    CLIENTS.append(client)
    return HttpSender(client, name)


def test_hubspot_deal_brings_its_line_items(served: list[StandIn]) -> None:
    """HubSpot docs: line items (developers.hubspot.com/docs/api/crm/line-items), associations v4
    (developers.hubspot.com/docs/api/crm/associations), default line item properties
    (knowledge.hubspot.com/properties/hubspots-default-line-item-properties)."""
    crm = hubspot_account()
    source = HubSpotSource(serve(served, crm, "hubspot"), StaticToken(Secret("pat-1")), Secret("s"))
    deal, _ = source.fetch("15550001")
    assert deal.lines == (
        LineInput("Platform licence", "12", "1000.00", discount="10%", product="PLAT-12", currency="EUR"),
        LineInput("Onboarding days", "3", "1200.00", discount="300.00", product="2002", currency="EUR"),
    )
    assert deal.get("amount") == "14100.00"
    assert not crm.violations, crm.violations
    reads = [s for s in served[0].seen if s.path == "/crm/v3/objects/line_items/batch/read"]
    assert len(reads) == 1 and {i["id"] for i in reads[0].json()["inputs"]} == {"9101", "9102"}
    assert {"quantity", "price", "hs_discount_percentage", "hs_total_discount", "hs_sku"} <= set(
        reads[0].json()["properties"]
    )


def test_hubspot_deal_without_line_items_is_one_line(served: list[StandIn]) -> None:
    crm = hubspot_account()
    crm.line_items_of.clear()
    source = HubSpotSource(serve(served, crm, "hubspot"), StaticToken(Secret("pat-1")), Secret("s"))
    deal, _ = source.fetch("15550001")
    assert deal.lines == () and not crm.violations
    assert not [s for s in served[0].seen if "batch" in s.path]


# --- Salesforce ---------------------------------------------------------------------------------


def opportunity(line_items: dict[str, Any]) -> dict[str, Any]:
    """A won Opportunity as the REST query API returns it: amounts and quantities are JSON numbers."""
    return {
        "attributes": {"type": "Opportunity", "url": "/services/data/v61.0/sobjects/Opportunity/006B"},
        "Id": "006B",
        "Name": "Kestrel Labs — expansion",
        "StageName": "Closed Won",
        "CloseDate": "2026-10-30",
        "Amount": 15600.0,
        "CurrencyIsoCode": "EUR",
        "LastModifiedDate": "2026-11-01T10:00:00.000+0000",
        "Owner": {"attributes": {"type": "User"}, "Email": "anna@acme.example"},
        "PO_Number__c": "PO-9",
        "Payment_Terms__c": "net30",
        "Legal_Entity__c": "ACME-DE",
        "Account": {
            "attributes": {"type": "Account"},
            "Id": "001A",
            "Name": "Kestrel Labs GmbH",
            "BillingStreet": "Hauptstraße 1",
            "BillingCity": "Berlin",
            "BillingPostalCode": "10115",
            "BillingStateCode": None,
            "BillingCountryCode": "DE",
            "VAT_Id__c": "DE136695976",
            "Requires_PO__c": False,
        },
        "OpportunityContactRoles": {
            "totalSize": 1,
            "done": True,
            "records": [
                {
                    "attributes": {"type": "OpportunityContactRole"},
                    "IsPrimary": True,
                    "Contact": {"Name": "Anna Müller", "Email": "ap@kestrel.de"},
                }
            ],
        },
        "OpportunityLineItems": line_items,
    }


def sf_line(
    n: int, name: str, code: str, quantity: float, price: float, discount: float | None = None
) -> dict[str, Any]:
    return {
        "attributes": {
            "type": "OpportunityLineItem",
            "url": f"/services/data/v61.0/sobjects/OpportunityLineItem/00k{n}",
        },
        "Id": f"00k{n}",
        "SortOrder": n,
        "Quantity": quantity,
        "UnitPrice": price,
        "Discount": discount,
        "TotalPrice": quantity * price * (1 - (discount or 0) / 100),
        "Description": None,
        "PricebookEntry": {
            "attributes": {"type": "PricebookEntry"},
            "Product2": {"attributes": {"type": "Product2"}, "ProductCode": code, "Name": name},
        },
    }


def test_salesforce_opportunity_lines_are_kept_as_exact_decimals(ctx: AppContext, served: list[StandIn]) -> None:
    """Salesforce docs: REST query with child relationships
    (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_query.htm) and the
    OpportunityLineItem object (developer.salesforce.com/docs/atlas.en-us.object_reference.meta/
    object_reference/sforce_api_objects_opportunitylineitem.htm): Quantity and UnitPrice are JSON
    numbers; an opportunity of 15600.0 with 12 x 1000.0 and 3 x 1200.0 is two lines, never
    "1 x 15600.0"."""
    org = SalesforceOrg(
        records=[
            opportunity(
                {
                    "totalSize": 2,
                    "done": True,
                    "records": [
                        sf_line(1, "Platform licence", "PLAT-12", 12.0, 1000.0),
                        sf_line(2, "Onboarding days", "ONB-D", 3.0, 1200.0),
                    ],
                }
            )
        ]
    )
    source = SalesforceSource(serve(served, org, "salesforce"), StaticToken(Secret("sf")))
    assert poll(ctx, source).received == 1
    assert not org.violations, org.violations
    soql = org.queries[0]
    assert "FROM OpportunityLineItems" in soql and "PricebookEntry.Product2.ProductCode" in soql
    with ctx.engine.connect() as conn:
        payload = conn.execute(select(schema.inbox.c.payload)).scalar_one()
    assert payload["amount"] == "15600.00"
    assert [(ln["quantity"], ln["unit_price"], ln["product"], ln["description"]) for ln in payload["lines"]] == [
        ("12", "1000.00", "PLAT-12", "Platform licence"),
        ("3", "1200.00", "ONB-D", "Onboarding days"),
    ]
    process_pending(ctx)
    with ctx.engine.connect() as conn:
        order = conn.execute(select(schema.orders.c.state, schema.orders.c.data)).one()
        document = conn.execute(select(schema.invoices.c.document)).scalar_one()
    assert order.state in ("ready", "drafted"), order
    assert [(ln["quantity"], ln["unit_price"]) for ln in document["lines"]] == [("12", "1000.00"), ("3", "1200.00")]


def test_salesforce_line_items_beyond_the_first_page_are_read(ctx: AppContext, served: list[StandIn]) -> None:
    """A child relationship with more records than fit answers `done: false` and a
    `nextRecordsUrl` (dome_query.htm); the rest is read from there, with the percent Discount."""
    more = "/services/data/v61.0/query/01gD0000002HU6KIAW-2000"
    org = SalesforceOrg(
        records=[
            opportunity(
                {
                    "totalSize": 2,
                    "done": False,
                    "nextRecordsUrl": more,
                    "records": [sf_line(1, "Platform licence", "PLAT-12", 12.0, 1000.0)],
                }
            )
        ],
        more_line_items={
            more: {"totalSize": 2, "done": True, "records": [sf_line(2, "Onboarding days", "ONB-D", 3.0, 1200.0, 12.5)]}
        },
    )
    source = SalesforceSource(serve(served, org, "salesforce"), StaticToken(Secret("sf")))
    [event], _ = source.poll(None)
    assert [(ln.quantity, ln.unit_price, ln.discount) for ln in event.deal.lines] == [
        ("12", "1000.00", ""),
        ("3", "1200.00", "12.5%"),
    ]
    assert not org.violations, org.violations


# --- Pipedrive ----------------------------------------------------------------------------------

DEAL_FIELDS = [
    PipedriveField(pipedrive_key("po"), "PO number"),
    PipedriveField(pipedrive_key("terms"), "Payment terms"),
    PipedriveField(
        pipedrive_key("entity"),
        "Legal entity",
        "enum",
        [{"id": 31, "label": "ACME-DE"}, {"id": 32, "label": "ACME-US"}],
    ),
]
ORG_FIELDS = [
    PipedriveField(pipedrive_key("vat"), "VAT ID"),
    PipedriveField(pipedrive_key("requires_po"), "Requires PO"),
]


def pipedrive_account() -> PipedriveAccount:
    account = PipedriveAccount()
    account.fields = {"dealFields": list(DEAL_FIELDS), "organizationFields": list(ORG_FIELDS), "personFields": []}
    account.deals[1] = {
        "id": 1,
        "title": "Kestrel Labs — Platform",
        "value": 14700,
        "currency": "EUR",
        "status": "won",
        "stage_id": 1,
        "owner_id": 18487521,
        "person_id": 3,
        "org_id": 2,
        "add_time": "2024-09-27T14:25:27Z",
        "update_time": "2024-09-27T14:25:28Z",
        "won_time": "2024-09-27T14:25:28Z",
        "custom_fields": {pipedrive_key("po"): "PO-7", pipedrive_key("terms"): "net30", pipedrive_key("entity"): 31},
    }
    account.organizations[2] = {
        "id": 2,
        "name": "Kestrel Labs GmbH",
        "address": {
            "value": "Hauptstraße 1, 10115 Berlin, Germany",
            "route": "Hauptstraße",
            "street_number": "1",
            "locality": "Berlin",
            "postal_code": "10115",
            "country": "Germany",
        },
        "custom_fields": {pipedrive_key("vat"): "DE136695976", pipedrive_key("requires_po"): "true"},
    }
    account.persons[3] = {
        "id": 3,
        "name": "Anna Müller",
        "emails": [{"value": "ap@kestrel.de", "primary": True, "label": "work"}],
    }
    account.users[18487521] = {"id": 18487521, "email": "anna@acme.example"}
    account.products[1] = [
        {
            "id": 71,
            "deal_id": 1,
            "order_nr": 1,
            "product_id": 501,
            "name": "Platform licence",
            "item_price": 1000,
            "quantity": 12,
            "discount": 10,
            "discount_type": "percentage",
            "sum": 10800,
            "currency": "EUR",
            "tax": 19,
            "tax_method": "exclusive",
            "enabled_flag": True,
            "product": {"id": 501, "name": "Platform licence", "code": "PLAT-12"},
        },
        {
            "id": 72,
            "deal_id": 1,
            "order_nr": 2,
            "product_id": 502,
            "name": "Onboarding days",
            "item_price": 1300.5,
            "quantity": 3,
            "discount": 0.5,
            "discount_type": "amount",
            "sum": 3901,
            "currency": "EUR",
            "tax": 19,
            "tax_method": "exclusive",
            "enabled_flag": True,
            "product": {"id": 502, "name": "Onboarding days", "code": "ONB-D"},
        },
        {
            "id": 73,
            "deal_id": 1,
            "order_nr": 3,
            "product_id": 503,
            "name": "Optional training",
            "item_price": 500,
            "quantity": 1,
            "discount": 0,
            "discount_type": "percentage",
            "sum": 500,
            "currency": "EUR",
            "tax": 0,
            "enabled_flag": False,  # not part of the deal's value
            "product": {"id": 503, "name": "Optional training", "code": "TRN"},
        },
    ]
    account.page_size = 2  # the products come in two pages
    return account


def test_pipedrive_deal_products_become_lines(served: list[StandIn]) -> None:
    """Pipedrive docs: deal products (developers.pipedrive.com/docs/api/v1/Deals#getDealProducts;
    `discount` with `discount_type` since devcommunity.pipedrive.com/t/update-to-the-logic-of-
    product-discounts/7212), paged by start / limit. A disabled product is not in the deal."""
    account = pipedrive_account()
    source = PipedriveSource(serve(served, account, "pipedrive"), Secret("pd-token"), "handoff", Secret("pw"))
    deal, _ = source.fetch("1")
    assert deal.lines == (
        LineInput("Platform licence", "12", "1000.00", discount="10%", product="PLAT-12", currency="EUR"),
        LineInput("Onboarding days", "3", "1300.50", discount="0.50", product="ONB-D", currency="EUR"),
    )
    assert deal.get("amount") == "14700.00"
    assert not account.violations, account.violations


def test_pipedrive_custom_fields_are_found_by_name(served: list[StandIn]) -> None:
    """Pipedrive keys custom fields by 40-character hashes
    (pipedrive.readme.io/docs/core-api-concepts-custom-fields); their names come from
    GET /v1/dealFields and /v1/organizationFields (developers.pipedrive.com/docs/api/v1/DealFields),
    an option field's value from its options. Before, every deal missed VAT id, legal entity and
    payment terms."""
    account = pipedrive_account()
    source = PipedriveSource(serve(served, account, "pipedrive"), Secret("pd-token"), "handoff", Secret("pw"))
    deal, _ = source.fetch("1")
    assert (
        deal.get("vat_id"),
        deal.get("legal_entity"),
        deal.get("payment_terms"),
        deal.get("po_number"),
        deal.get("requires_po"),
    ) == ("DE136695976", "ACME-DE", "net30", "PO-7", "true")
    assert not account.violations, account.violations


def test_pipedrive_field_metadata_is_cached_and_refreshed_on_a_miss(ctx: AppContext, served: list[StandIn]) -> None:
    """The field lists are kept in `connector_state` (one read for many deals, shared by the
    workers) and read again when a deal carries a key they do not list (a field created since)."""
    account = pipedrive_account()
    account.page_size = 500
    state = DbConnectorState(ctx)
    sender = serve(served, account, "pipedrive")
    source = PipedriveSource(sender, Secret("pd-token"), "handoff", Secret("pw"), state=state)
    source.fetch("1")
    # the person has no custom fields and the mapping reads none: its list is not needed
    assert sorted(account.field_reads) == ["dealFields", "organizationFields"]
    assert state.load("pipedrive:fields:deal") is not None
    again = PipedriveSource(sender, Secret("pd-token"), "handoff", Secret("pw"), state=state)  # another worker
    assert again.fetch("1")[0].get("vat_id") == "DE136695976"
    assert len(account.field_reads) == 2  # from the saved lists
    new_key = pipedrive_key("cost_center")
    account.fields["dealFields"].append(PipedriveField(new_key, "Cost center"))
    account.deals[1]["custom_fields"][new_key] = "CC-4"
    deal, _ = again.fetch("1")
    assert account.field_reads[2:] == ["dealFields"]  # only the list that missed, once
    assert deal.get("legal_entity") == "ACME-DE"
    again.fetch("1")
    assert len(account.field_reads) == 3


def test_a_source_takes_its_own_mapping_file(tmp_path: Path, served: list[StandIn]) -> None:
    """A mapping file per CRM source (HANDOFF_PIPEDRIVE_MAPPING): here a VAT id kept on the deal
    instead of the organization, and line tax rates turned into tax categories."""
    account = pipedrive_account()
    account.fields["dealFields"].append(PipedriveField(pipedrive_key("deal_vat"), "Customer VAT"))
    account.deals[1]["custom_fields"][pipedrive_key("deal_vat")] = "DE811907980"
    account.products[1][1]["tax"] = 7
    base = (Path(__file__).resolve().parents[2] / "src/handoff/defaults/crm/pipedrive.yaml").read_text()
    text = base.replace("vat_id: org.custom_fields.vat_id", "vat_id: deal.custom_fields.customer_vat")
    text = text.replace(
        "    currency: currency | upper\n", "    currency: currency | upper\n    tax_category: tax | rate\n"
    )
    text = text.replace("  tax_categories: {}", '  tax_categories: {"19": standard, 7: reduced}')
    path = tmp_path / "pipedrive.yaml"
    path.write_text(text)
    mapping = load_source_mapping(path, "pipedrive")
    source = PipedriveSource(
        serve(served, account, "pipedrive"), Secret("pd-token"), "handoff", Secret("pw"), mapping=mapping
    )
    deal, _ = source.fetch("1")
    assert deal.get("vat_id") == "DE811907980"
    assert [ln.tax_category for ln in deal.lines] == ["standard", "reduced"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("  tax_categories: {}", "  tax_categories: {19: standrd}"),
            "lines.tax_categories.19: 'standrd' is not one of",
        ),
        (("    quantity: quantity | number", "    qty: quantity | number"), "lines.fields.qty: not a line field"),
        (
            ("    unit_price: item_price | amount", "    unit_price: item_price | money"),
            "lines.fields.unit_price: unknown transform",
        ),
        (
            ("  overdue_days: Handoff overdue days", "  overdue_day: Handoff overdue days"),
            "status.overdue_day: not a status fact",
        ),
        (("source: pipedrive", "source: hubspot"), "source: 'hubspot', but this file is read for 'pipedrive'"),
    ],
)
def test_a_bad_source_mapping_file_is_refused_naming_the_entry(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    base = (Path(__file__).resolve().parents[2] / "src/handoff/defaults/crm/pipedrive.yaml").read_text()
    assert change[0] in base
    path = tmp_path / "pipedrive.yaml"
    path.write_text(base.replace(change[0], change[1]))
    with pytest.raises(MappingFileError) as err:
        load_source_mapping(path, "pipedrive")
    assert str(err.value).startswith(str(path)) and message in str(err.value), str(err.value)


def test_memory_state_is_the_default_for_field_lists(served: list[StandIn]) -> None:
    account = pipedrive_account()
    source = PipedriveSource(
        serve(served, account, "pipedrive"), Secret("pd-token"), "handoff", Secret("pw"), state=MemoryTokenState()
    )
    source.fetch("1")
    source.fetch("1")
    assert account.field_reads == ["dealFields", "dealFields", "organizationFields"]  # two pages, then one
