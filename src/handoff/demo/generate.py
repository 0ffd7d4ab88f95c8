"""Synthetic but realistic deals: real-looking companies across EU and non-EU countries, valid VAT
ids (checksums found by search over `python-stdnum`'s validators), and a controlled share of the
defects finance meets (missing PO, VAT id, contact or entity; invalid values)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from stdnum.eu import vat as eu_vat

from handoff.deals.domain.orders import DEAL_FIELDS
from handoff.kernel.parties import vat_prefix

COUNTRIES = {  # country: (weight, currency, cities)
    "DE": (30, "EUR", ["Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Stuttgart", "Leipzig"]),
    "FR": (8, "EUR", ["Paris", "Lyon", "Marseille", "Toulouse", "Lille"]),
    "NL": (7, "EUR", ["Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"]),
    "AT": (5, "EUR", ["Wien", "Graz", "Linz", "Salzburg"]),
    "BE": (4, "EUR", ["Bruxelles", "Antwerpen", "Gent"]),
    "IT": (4, "EUR", ["Milano", "Roma", "Torino", "Bologna"]),
    "ES": (4, "EUR", ["Madrid", "Barcelona", "Valencia", "Sevilla"]),
    "PL": (3, "EUR", ["Warszawa", "Kraków", "Wrocław"]),
    "DK": (2, "EUR", ["København", "Aarhus"]),
    "SE": (2, "EUR", ["Stockholm", "Göteborg", "Malmö"]),
    "US": (18, "USD", ["New York", "Austin", "Chicago", "Portland", "Boston", "Denver"]),  # all in us_sales_tax.yaml
    "GB": (6, "GBP", ["London", "Manchester", "Edinburgh", "Bristol"]),
    "CH": (3, "CHF", ["Zürich", "Basel", "Genève"]),
    "CA": (2, "USD", ["Toronto", "Vancouver", "Montréal"]),
}
VAT_SHAPES = {  # how a VAT number body looks, to search for a valid checksum
    "DE": "#########",
    "FR": "###########",
    "NL": "#########B##",
    "AT": "U########",
    "BE": "0#########",
    "IT": "###########",
    "ES": "B########",
    "PL": "##########",
    "DK": "########",
    "SE": "##########01",
}
STEMS = [
    "Nordlicht",
    "Bergmann",
    "Alpenblick",
    "Kestrel",
    "Bluewater",
    "Tannery",
    "Lumen",
    "Hafen",
    "Orion",
    "Greenfield",
    "Vektor",
    "Halcyon",
    "Ironbridge",
    "Silverline",
    "Atlas",
    "Meridian",
    "Polaris",
    "Falke",
    "Brightwell",
    "Cobalt",
    "Delta Rhein",
    "Evergreen",
    "Fjord",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kaiser",
    "Lindqvist",
    "Mosaic",
    "Nimbus",
    "Oakridge",
    "Pioneer",
    "Quartz",
    "Rivermark",
    "Sonnenfeld",
]
SUFFIX = {
    "DE": ["GmbH", "AG", "GmbH & Co. KG"],
    "AT": ["GmbH"],
    "FR": ["SAS", "SA", "SARL"],
    "NL": ["B.V."],
    "BE": ["NV", "BV"],
    "IT": ["S.r.l.", "S.p.A."],
    "ES": ["S.L.", "S.A."],
    "PL": ["Sp. z o.o."],
    "DK": ["ApS", "A/S"],
    "SE": ["AB"],
    "US": ["Inc.", "LLC", "Corp."],
    "GB": ["Ltd", "plc"],
    "CH": ["AG", "GmbH"],
    "CA": ["Inc.", "Ltd."],
}
US_STATES = {"New York": "NY", "Austin": "TX", "Chicago": "IL", "Portland": "OR", "Boston": "MA", "Denver": "CO"}
KINDS = ["Systems", "Logistik", "Digital", "Analytics", "Industries", "Labs", "Partners"]
STREETS = ["Hauptstraße", "Main Street", "Rue de la Paix", "Kerkstraat"]
PRODUCTS = [
    "Platform licence",
    "Annual subscription",
    "Implementation services",
    "Premium support",
    "Data migration",
    "Training workshop",
    "Enterprise seats",
    "Integration package",
]
OWNERS = [
    "anna.schmidt@acme.example",
    "ben.carter@acme.example",
    "chloe.martin@acme.example",
    "david.kowalski@acme.example",
    "emma.jansen@acme.example",
]
FIRST = ["Anna", "Lukas", "Marie", "Jonas", "Sophie", "Paul", "Léa", "Sven", "Giulia", "Pablo", "Emily", "Noah"]
LAST = ["Müller", "Schneider", "Dubois", "de Vries", "Rossi", "García", "Nowak", "Jensen", "Smith", "Brown"]
DEFECTS = [
    "po_number",
    "vat_id",
    "billing_email",
    "legal_entity",
    "invalid_vat",
    "invalid_email",
    "invalid_country",
    "payment_terms",
    "invalid_entity",
]


def _valid_vat(country: str, rng: random.Random) -> str:
    shape = VAT_SHAPES[country]
    for _ in range(100_000):
        body = "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in shape)
        number = vat_prefix(country) + body
        if eu_vat.is_valid(number):
            return number
    raise RuntimeError(f"no valid VAT id found for {country}")


def deals(
    count: int, seed: int = 7, defect_rate: float = 0.22, start: date = date(2026, 10, 1)
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    countries, weights = zip(*((c, w) for c, (w, _, _) in COUNTRIES.items()), strict=True)
    vat_cache: dict[str, list[str]] = {}
    for n in range(1, count + 1):
        country = rng.choices(countries, weights)[0]
        _, currency, cities = COUNTRIES[country]
        stem = rng.choice(STEMS)
        company = f"{stem} {rng.choice(KINDS)}"
        legal_name = f"{company} {rng.choice(SUFFIX[country])}"
        consumer = rng.random() < 0.04
        eu = country in VAT_SHAPES
        pool = vat_cache.setdefault(country, [])
        if eu and len(pool) < 40:
            pool.append(_valid_vat(country, rng))
        contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        tld = {"GB": ".co.uk", "US": ".com", "CA": ".ca"}.get(country, f".{country.lower()}")
        domain = stem.lower().replace(" ", "") + tld
        requires_po = rng.random() < 0.35
        list_price = rng.choice([1200, 2400, 4800, 9600, 15000, 24000, 36000, 48500])
        amount = Decimal(list_price) + Decimal(rng.randrange(0, 100)) / 4
        row = {
            "deal_id": f"D-{100000 + n}",
            "deal_name": f"{company} — {rng.choice(PRODUCTS)}",
            "stage": "closedwon",
            "close_date": (start + timedelta(days=rng.randrange(0, 45))).isoformat(),
            "amount": f"{amount:.2f}",
            "currency": currency,
            "customer_id": f"C-{rng.randrange(1000, 9999)}",
            "customer_legal_name": legal_name,
            "customer_type": "consumer" if consumer else "business",
            "country": country,
            "vat_id": rng.choice(pool) if eu and not consumer else "",
            "po_number": f"PO-{rng.randrange(10000, 99999)}" if requires_po else "",
            "requires_po": "true" if requires_po else "false",
            "billing_email": f"ap@{domain}",
            "billing_contact_name": contact,
            "billing_street": f"{rng.choice(STREETS)} {rng.randrange(1, 200)}",
            "billing_city": rng.choice(cities),
            "billing_postal_code": f"{rng.randrange(10000, 99999)}",
            "payment_terms": rng.choice(["net30", "net30", "net14", "net45", "net60", "due_on_receipt"]),
            "legal_entity": "ACME-US" if country in ("US", "CA") else "ACME-DE",
            "owner_email": rng.choice(OWNERS),
        }
        # a US customer's state, for its sales tax (set without drawing, so the other values stay as they were)
        row["billing_state"] = US_STATES.get(row["billing_city"], "") if country == "US" else ""
        if rng.random() < defect_rate:
            _defect(row, rng.choice(DEFECTS), eu and not consumer)
        yield row


def _defect(row: dict[str, Any], kind: str, needs_vat: bool) -> None:
    if kind == "po_number":
        row["requires_po"], row["po_number"] = "true", ""
    elif kind in ("vat_id", "invalid_vat") and needs_vat:
        row["vat_id"] = "" if kind == "vat_id" else row["vat_id"][:-1] + str((int(row["vat_id"][-1]) + 1) % 10)
    elif kind == "billing_email":
        row["billing_email"], row["billing_contact_name"] = "", ""
    elif kind == "invalid_email":
        row["billing_email"] = row["billing_email"].replace("@", " at ")
    elif kind == "legal_entity":
        row["legal_entity"] = ""
    elif kind == "invalid_entity":
        row["legal_entity"] = "ACME-FR"
    elif kind == "invalid_country":
        row["country"] = {"DE": "Deutschland", "US": "Amerika"}.get(row["country"], row["country"].lower() + "x")
    elif kind == "payment_terms":
        row["payment_terms"] = "net90"
    else:
        row["po_number"], row["requires_po"] = "", "true"


def to_csv(rows: Iterator[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(DEAL_FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


if __name__ == "__main__":
    import sys

    sys.stdout.write(to_csv(deals(int(sys.argv[1]) if len(sys.argv) > 1 else 200)))
