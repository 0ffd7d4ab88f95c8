"""Which e-invoice an invoice is checked as, and the customer master fields that address it:
Peppol IDs (scheme in the EAS code list; check digits where Peppol checks them) and Leitweg-IDs
(KoSIT format, ISO 7064 MOD 97-10 check digits)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handoff.invoicing.documents import render
from handoff.invoicing.domain.einvoice import explain, leitweg_id_error, peppol_id_error, phone_error, plan
from tests.corpus import build_corpus

CORPUS = build_corpus()


@pytest.mark.parametrize(
    "value", ["0088:1234567890128", "9930:DE123456789", "0007:5560360793", "0208:0123456749", "0204:991-33333TEST-33"]
)
def test_peppol_ids_accepted(value: str) -> None:
    assert peppol_id_error(value) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1234567890128", "is not"),
        ("1234:1234567890128", "not in the Peppol EAS code list"),
        ("0088:1234567890123", "check digits"),  # GLN, PEPPOL-COMMON-R040
        ("0208:0123456789", "check digits"),  # Belgian enterprise number, PEPPOL-COMMON-R043
        ("0007:5560360794", "check digits"),  # Swedish organisation number, PEPPOL-COMMON-R049
        ("0088:", "is not"),
    ],
)
def test_peppol_ids_refused(value: str, why: str) -> None:
    assert why in (peppol_id_error(value) or "")


@pytest.mark.parametrize("value", ["04011000-12345-03", "991-33333TEST-33", "04011000-1234512345-06"])
def test_leitweg_ids_accepted(value: str) -> None:
    assert leitweg_id_error(value) is None


@pytest.mark.parametrize("value", ["04011000-12345-04", "4-12345-03", "04011000_12345_03", ""])
def test_leitweg_ids_refused(value: str) -> None:
    assert leitweg_id_error(value) is not None


def test_phone_numbers() -> None:
    assert phone_error("+49 30 1234567") is None
    assert phone_error("call us") is not None and phone_error("+1") is not None


def test_the_plan_follows_the_customers_format_and_addresses() -> None:
    inv = CORPUS["domestic_standard"]
    buyer = inv.buyer
    assert plan(inv) == plan(replace(inv, buyer=replace(buyer, invoice_format="ubl")))
    assert plan(replace(inv, buyer=replace(buyer, invoice_format="facturx"))).syntax == "cii"  # type: ignore[union-attr]
    off_peppol = plan(replace(inv, buyer=replace(buyer, peppol_id="")))
    assert off_peppol is not None and (off_peppol.syntax, off_peppol.peppol) == ("ubl", False)
    public = plan(replace(inv, buyer=replace(buyer, public_sector=True, leitweg_id="991-33333TEST-33")))
    assert public is not None and public.xrechnung


def test_a_german_public_buyer_gets_xrechnung_addressed_by_its_leitweg_id() -> None:
    inv = CORPUS["domestic_standard"]
    public = replace(inv, buyer=replace(inv.buyer, public_sector=True, leitweg_id="991-33333TEST-33", peppol_id=""))
    ubl = render(public, "ubl")
    assert b"urn:xeinkauf.de:kosit:xrechnung_3.0</cbc:CustomizationID>" in ubl
    assert b"<cbc:BuyerReference>991-33333TEST-33</cbc:BuyerReference>" in ubl
    assert b'<cbc:EndpointID schemeID="0204">991-33333TEST-33</cbc:EndpointID>' in ubl
    cii = render(public, "cii")
    assert b"<ram:BusinessProcessSpecifiedDocumentContextParameter>" in cii


def test_findings_in_plain_words_name_the_field_to_fix() -> None:
    assert explain("DE-R-006", "raw", "ACME-DE")[0] == "entities.ACME-DE.phone"
    assert explain("PEPPOL-EN16931-R010", "raw")[0] == "peppol_id"
    assert explain("BR-XX-99", "the rule's own text") == ("(e-invoice)", "the rule's own text")
