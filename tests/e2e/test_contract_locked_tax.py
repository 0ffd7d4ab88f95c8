"""The VAT treatment agreed at the quote lock (issue 20) on the contract page and in the API's
contract detail: each line's category, rate and rule; a line without one says the billing run
decides it."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from handoff.contracts.service import contracts
from handoff.invoicing.domain.tax import TaxDecision, VatCategory
from handoff.users.service import Role
from tests.e2e.conftest import Site, login
from tests.e2e.contract_builders import BUYER, version

REVERSE = TaxDecision(
    VatCategory.REVERSE_CHARGE,
    Decimal("0"),
    "reverse_charge",
    "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)",
    "VATEX-EU-AE",
    {"seller_country": "DE", "buyer_country": "FR", "rule": "reverse_charge"},
    "FR",
)


def test_the_locked_tax_is_shown_per_line(site: Site) -> None:
    base = version("C-7")
    lines = (replace(base.lines[0], tax=REVERSE), *base.lines[1:])
    contracts.lock(site.ctx, replace(base, lines=lines), BUYER, "finance@acme.example", "won quote")
    with site.client(Role.FINANCE) as api:
        detail = api.get("/api/v1/contracts/C-7").json()
    first, second = detail["lines"][:2]
    assert (first["tax"]["category"], first["tax"]["rate"], first["tax"]["rule"]) == ("AE", "0", "reverse_charge")
    assert first["tax"]["evidence"]["buyer_country"] == "FR" and first["tax"]["place_of_supply"] == "FR"
    assert second["tax"] is None
    with login(site, Role.FINANCE) as finance:
        page = finance.get("/contracts/C-7").text
    lines_card = page.split('id="lines"')[1].split("</section>")[0]
    assert "AE 0%" in lines_card and "reverse charge, FR" in lines_card
    assert lines_card.count("at billing") == 2  # L2 and L3 keep no locked tax
