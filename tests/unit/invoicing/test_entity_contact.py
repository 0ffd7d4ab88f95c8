"""A selling entity's e-invoice contact (BT-41/42/43) is configured and checked at load: a
telephone or e-mail that is not one is refused naming the entity and field; the bundled entities
have one, which reaches the UBL and CII."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from handoff.config import load_business_config
from handoff.invoicing.documents import render
from tests.corpus import build_corpus
from tests.unit.invoicing.test_entity_config import config_with, refused


@pytest.mark.parametrize(
    ("contact", "field"),
    [({"phone": "call us"}, "contact.phone"), ({"email": "billing at acme"}, "contact.email"), ({"fax": "1"}, "fax")],
)
def test_a_bad_contact_is_refused_naming_entity_and_field(tmp_path: Path, contact: dict[str, str], field: str) -> None:
    message = refused(config_with(tmp_path, "ACME-DE", {"contact": contact}))
    assert "ACME-DE" in message and field in message


def test_the_configured_contact_is_the_seller_contact_of_the_einvoice() -> None:
    entity = load_business_config().entities["ACME-DE"]
    assert (entity.contact_name, entity.phone, entity.contact_email) == (
        "Accounts Receivable",
        "+49 30 1234567",
        "billing@acme.example",
    )
    invoice = build_corpus()["domestic_standard"]
    ubl = render(replace(invoice, seller=replace(entity, code=invoice.seller.code)), "ubl")
    assert b"<cbc:Telephone>+49 30 1234567</cbc:Telephone>" in ubl
    assert b"<cbc:Name>Accounts Receivable</cbc:Name>" in ubl
