"""The three CRMs' product answers, as their APIs send them (decoded with numbers as Decimal),
mapped to catalog products: SKU from the product code, prices per currency, units as Rec 20 codes,
only the fields each CRM owns, and the products that cannot be mapped named with why."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from handoff.contracts.connectors.crm_products import (
    from_hubspot,
    from_pipedrive,
    hubspot_products,
    pipedrive_products,
    salesforce_products,
    unit_code,
)
from handoff.contracts.domain.catalog import CatalogError


def decoded(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)  # as kernel.connectors.http.decode_json reads answers


HUBSPOT = decoded("""
{
  "results": [
    {
      "id": "1642767",
      "properties": {
        "createdate": "2026-05-02T09:14:11.201Z",
        "description": "Business-hours support, 4h response",
        "hs_lastmodifieddate": "2026-11-20T16:02:51.877Z",
        "hs_object_id": "1642767",
        "hs_recurring_billing_period": "P12M",
        "hs_sku": "SUP-STD",
        "name": "Standard support",
        "price": "1200.00",
        "recurringbillingfrequency": "monthly"
      },
      "createdAt": "2026-05-02T09:14:11.201Z",
      "updatedAt": "2026-11-20T16:02:51.877Z",
      "archived": false
    },
    {
      "id": "1642790",
      "properties": {
        "description": null,
        "hs_object_id": "1642790",
        "hs_sku": "IMPL-DAY",
        "name": "Implementation day",
        "price": "1450"
      },
      "createdAt": "2026-05-02T09:20:00.000Z",
      "updatedAt": "2026-05-02T09:20:00.000Z",
      "archived": true
    },
    {
      "id": "1642801",
      "properties": {"hs_object_id": "1642801", "hs_sku": null, "name": "Misc", "price": "10"},
      "archived": false
    }
  ],
  "paging": {"next": {"after": "1642802", "link": "https://api.hubapi.com/crm/v3/objects/products?after=1642802"}}
}
""")


def test_hubspot_products_map_with_the_account_currency() -> None:
    mapped = hubspot_products(HUBSPOT, "EUR")
    support, implementation = mapped.products
    assert (support.source, support.external_id, support.sku) == ("hubspot", "1642767", "SUP-STD")
    assert support.fields == {
        "name": "Standard support",
        "active": True,
        "description": "Business-hours support, 4h response",
        "revenue_rule": "ratable",
    }
    assert support.prices == (("EUR", Decimal("1200.00")),)
    assert implementation.fields["active"] is False and "revenue_rule" not in implementation.fields
    assert implementation.prices == (("EUR", Decimal("1450")),)
    assert mapped.problems == ["hubspot product 1642801: sku is missing"]
    with pytest.raises(CatalogError, match="hubspot product 9: price '12,50' is not a decimal number"):
        from_hubspot({"id": "9", "properties": {"hs_sku": "X", "price": "12,50"}}, "EUR")


SALESFORCE = decoded("""
{
  "totalSize": 4,
  "done": true,
  "records": [
    {
      "attributes": {
        "type": "PricebookEntry",
        "url": "/services/data/v61.0/sobjects/PricebookEntry/01u5g00000AbCdEAAV"
      },
      "Id": "01u5g00000AbCdEAAV",
      "UnitPrice": 1200.00,
      "CurrencyIsoCode": "EUR",
      "IsActive": true,
      "Product2Id": "01t5g00000XyZaBAAV",
      "Product2": {
        "attributes": {"type": "Product2", "url": "/services/data/v61.0/sobjects/Product2/01t5g00000XyZaBAAV"},
        "Name": "Standard support",
        "ProductCode": "SUP-STD",
        "Description": "Business-hours support",
        "IsActive": true,
        "QuantityUnitOfMeasure": "Month"
      }
    },
    {
      "attributes": {
        "type": "PricebookEntry",
        "url": "/services/data/v61.0/sobjects/PricebookEntry/01u5g00000AbCdFAAV"
      },
      "Id": "01u5g00000AbCdFAAV",
      "UnitPrice": 1300.00,
      "CurrencyIsoCode": "USD",
      "IsActive": true,
      "Product2Id": "01t5g00000XyZaBAAV",
      "Product2": {
        "attributes": {"type": "Product2", "url": "/services/data/v61.0/sobjects/Product2/01t5g00000XyZaBAAV"},
        "Name": "Standard support",
        "ProductCode": "SUP-STD",
        "Description": "Business-hours support",
        "IsActive": true,
        "QuantityUnitOfMeasure": "Month"
      }
    },
    {
      "attributes": {
        "type": "PricebookEntry",
        "url": "/services/data/v61.0/sobjects/PricebookEntry/01u5g00000AbCdGAAV"
      },
      "Id": "01u5g00000AbCdGAAV",
      "UnitPrice": 1450,
      "CurrencyIsoCode": "GBP",
      "IsActive": false,
      "Product2Id": "01t5g00000XyZaBAAV",
      "Product2": {
        "attributes": {"type": "Product2", "url": "/services/data/v61.0/sobjects/Product2/01t5g00000XyZaBAAV"},
        "Name": "Standard support",
        "ProductCode": "SUP-STD",
        "IsActive": true,
        "QuantityUnitOfMeasure": "Month"
      }
    },
    {
      "attributes": {
        "type": "PricebookEntry",
        "url": "/services/data/v61.0/sobjects/PricebookEntry/01u5g00000AbCdHAAV"
      },
      "Id": "01u5g00000AbCdHAAV",
      "UnitPrice": 95.00,
      "CurrencyIsoCode": "EUR",
      "IsActive": true,
      "Product2Id": "01t5g00000XyZaCAAV",
      "Product2": {
        "attributes": {"type": "Product2", "url": "/services/data/v61.0/sobjects/Product2/01t5g00000XyZaCAAV"},
        "Name": "Pallet of widgets",
        "ProductCode": "WIDGET-PAL",
        "Description": null,
        "IsActive": false,
        "QuantityUnitOfMeasure": "Crate"
      }
    }
  ]
}
""")


def test_salesforce_pricebook_entries_become_one_product_with_a_price_per_currency() -> None:
    mapped = salesforce_products(SALESFORCE)
    assert len(mapped.products) == 1
    support = mapped.products[0]
    assert (support.source, support.external_id, support.sku) == ("salesforce", "01t5g00000XyZaBAAV", "SUP-STD")
    assert support.fields == {
        "name": "Standard support",
        "active": True,
        "description": "Business-hours support",
        "unit_code": "MON",
    }
    # the inactive GBP entry gives no price
    assert support.prices == (("EUR", Decimal("1200.00")), ("USD", Decimal("1300.00")))
    assert mapped.problems == [
        "salesforce PricebookEntry 01u5g00000AbCdHAAV: Product2.QuantityUnitOfMeasure 'Crate' is not a unit "
        "handoff knows (use a UN/ECE Rec 20 code)"
    ]


def test_salesforce_single_currency_orgs_use_the_given_currency() -> None:
    record = {k: v for k, v in SALESFORCE["records"][0].items() if k != "CurrencyIsoCode"}
    mapped = salesforce_products({"records": [record]}, currency="CHF")
    assert mapped.products[0].prices == (("CHF", Decimal("1200.00")),)
    missing = salesforce_products({"records": [record]})
    assert missing.problems == ["salesforce PricebookEntry 01u5g00000AbCdEAAV: currency is missing"]


PIPEDRIVE = decoded("""
{
  "success": true,
  "data": [
    {
      "id": 5,
      "name": "Consulting hour",
      "code": "CONS-H",
      "description": "Senior consultant, remote",
      "unit": "hour",
      "tax": 19,
      "category": "Services",
      "active_flag": true,
      "selectable": true,
      "first_char": "c",
      "visible_to": "3",
      "owner_id": {
        "id": 123, "name": "Anna", "email": "anna@acme.example", "has_pic": 0, "active_flag": true, "value": 123
      },
      "files_count": null,
      "add_time": "2026-04-01 10:00:00",
      "update_time": "2026-10-01 08:30:00",
      "prices": [
        {"id": 9, "product_id": 5, "price": 150, "currency": "EUR", "cost": 60, "overhead_cost": 0},
        {"id": 10, "product_id": 5, "price": 165.50, "currency": "USD", "cost": 0, "overhead_cost": null}
      ]
    },
    {
      "id": 6,
      "name": "Onboarding package",
      "code": "ONB",
      "description": null,
      "unit": "",
      "tax": 0,
      "active_flag": false,
      "prices": []
    },
    {"id": 7, "name": "No code", "code": null, "unit": "pcs", "active_flag": true, "prices": []},
    {"id": 8, "name": "Two euro prices", "code": "DUP", "prices": [
      {"id": 1, "product_id": 8, "price": 1, "currency": "EUR"},
      {"id": 2, "product_id": 8, "price": 2, "currency": "eur"}
    ]}
  ],
  "additional_data": {"pagination": {"start": 0, "limit": 100, "more_items_in_collection": false}}
}
""")


def test_pipedrive_products_map_with_their_prices_and_units() -> None:
    mapped = pipedrive_products(PIPEDRIVE)
    hour, onboarding = mapped.products
    assert (hour.source, hour.external_id, hour.sku) == ("pipedrive", "5", "CONS-H")
    assert hour.fields == {
        "name": "Consulting hour",
        "active": True,
        "description": "Senior consultant, remote",
        "unit_code": "HUR",
    }
    assert hour.prices == (("EUR", Decimal("150")), ("USD", Decimal("165.50")))
    assert onboarding.fields == {"name": "Onboarding package", "active": False} and onboarding.prices == ()
    assert mapped.problems == [
        "pipedrive product 7: sku is missing",
        "pipedrive product 8: prices[1].currency EUR has two prices",
    ]
    assert pipedrive_products({"success": True, "data": None}).products == []


def test_floats_are_refused_and_units_read_from_words_or_codes() -> None:
    with pytest.raises(CatalogError, match=r"prices\[0\].price was read as a float"):
        from_pipedrive({"id": 1, "code": "X", "prices": [{"currency": "EUR", "price": 0.1}]})
    assert [unit_code(u, "r", "unit") for u in ("Each", "pcs", "Hours", "DAY", "E48", "month.")] == [
        "C62",
        "H87",
        "HUR",
        "DAY",
        "E48",
        "MON",
    ]
