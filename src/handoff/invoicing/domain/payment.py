"""Payment instructions (EN 16931 BG-16 / BG-17): how the customer pays an invoice, from the means
its selling entity has configured, and which payment reference (BT-83) its bank carries.

One account per invoice, chosen by the invoice currency: a USD invoice of an entity with a US ACH
account is paid there; otherwise the entity's IBAN; otherwise its ACH account. The means code (BT-81,
UNCL 4461) follows: 58 SEPA credit transfer (a euro invoice to an IBAN in the SEPA area), 30 credit
transfer (any other IBAN, or an ACH account: BT-84 the account number, BT-86 the ABA routing
number), 68 online payment service (only a payment page). A payment page configured beside an
account is offered as well, in the means text (BT-82). An entity without any means gets no BG-16:
nothing is printed that its bank could not back.

The reference: an ISO 11649 `RF` creditor reference only where the bank takes one (`payment_reference:
rf`, or `auto` for an IBAN in the SEPA area); otherwise the invoice number itself.

The PDF, the UBL and CII documents and the invoice e-mail all write from `instructions`, so they
agree. The checks at the end (IBAN and BIC by python-stdnum, the ABA routing checksum, the payment
page URL) are what the configuration runs on each entity when it loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError
from stdnum.us import rtn

from handoff.kernel.parties import EU_MEMBER_STATES, LegalEntity

# IBAN countries of the SEPA scheme (EPC list): the EU, the EEA, and the other participants.
SEPA_COUNTRIES = EU_MEMBER_STATES | frozenset("IS LI NO CH GB MC SM VA AD AL MD ME MK".split())  # noqa: SIM905
REFERENCE_SCHEMES = ("auto", "rf", "invoice_number")
NUMBER = "{number}"  # stands for the invoice number in a payment page URL


@dataclass(frozen=True, slots=True)
class PaymentInstructions:
    """What the customer is told to pay with: BT-81 code (empty: no means configured), BT-82 text,
    BT-84 account, BT-85 account name, BT-86 institution (BIC or routing number), BT-83 reference."""

    code: str
    label: str
    account: str
    account_name: str
    institution: str
    bank_name: str
    link: str
    reference: str
    kind: str  # iban | ach | link | "" (none)

    def lines(self) -> tuple[str, ...]:
        """The instructions as a reader sees them (the PDF and the e-mail)."""
        out: list[str] = []
        if self.kind == "iban":
            out.append(f"{self.label} to {self.account_name}")
            out.append(f"IBAN {self.account}" + (f", BIC {self.institution}" if self.institution else ""))
        elif self.kind == "ach":
            out.append(f"{self.label} to {self.account_name}")
            out.append(f"ABA routing number {self.institution}, account number {self.account}")
        if self.bank_name and self.kind in ("iban", "ach"):
            out.append(f"Bank: {self.bank_name}")
        if self.link:
            out.append(f"Pay online: {self.link}")
        if self.reference:
            out.append(f"Payment reference: {self.reference}")
        return tuple(out)


def pay_to(means: PaymentInstructions) -> str:
    """Where to pay, to follow "please pay the amount" in a letter (the reminders)."""
    if means.kind == "iban":
        return f"to {means.account_name}, IBAN {means.account}" + (
            f" (BIC {means.institution})" if means.institution else ""
        )
    if means.kind == "ach":
        return (
            f"by ACH credit transfer to {means.account_name}, ABA routing number {means.institution}, "
            f"account number {means.account}"
        )
    if means.kind == "link":
        return f"to {means.account_name} online at {means.link}"
    return f"to {means.account_name}"


def account_kind(seller: LegalEntity, currency: str) -> str:
    """Which of the seller's accounts an invoice in `currency` is paid to: iban, ach, or ""."""
    ach = bool(seller.ach_account_number and seller.ach_routing_number)
    if ach and (currency == "USD" or not seller.iban):
        return "ach"
    return "iban" if seller.iban else ""


def uses_creditor_reference(seller: LegalEntity, currency: str) -> bool:
    """Whether an invoice in `currency` quotes an RF creditor reference (else its number)."""
    if account_kind(seller, currency) != "iban" or seller.payment_reference == "invoice_number":
        return False
    return seller.payment_reference == "rf" or seller.iban[:2].upper() in SEPA_COUNTRIES


def instructions(seller: LegalEntity, currency: str, number: str, reference: str) -> PaymentInstructions:
    """The payment instructions of an invoice of `seller` in `currency`, numbered `number`, quoting
    `reference` (its BT-83, as issued)."""
    kind = account_kind(seller, currency)
    link = seller.payment_link.replace(NUMBER, number) if seller.payment_link and number else ""
    account = institution = ""
    if kind == "iban":
        sepa = currency == "EUR" and seller.iban[:2].upper() in SEPA_COUNTRIES
        code, label = ("58", "SEPA credit transfer") if sepa else ("30", "Bank transfer")
        account, institution = seller.iban.replace(" ", ""), seller.bic
    elif kind == "ach":
        code, label = "30", "ACH credit transfer"
        account, institution = seller.ach_account_number, seller.ach_routing_number
    elif link:
        code, label, kind = "68", "Online payment", "link"
    else:
        code = label = ""
    return PaymentInstructions(code, label, account, seller.name, institution, seller.bank_name, link, reference, kind)


def means_text(means: PaymentInstructions) -> str:
    """BT-82, the payment means text: the means, and a payment page offered beside an account."""
    if means.kind == "link":
        return f"Online payment: {means.link}"
    return means.label + (f"; or pay online: {means.link}" if means.link else "")


# -- checks the configuration runs on each entity (messages name the value, not the entry) ----------


def iban_error(value: str) -> str | None:
    try:
        stdnum_iban.validate(value)
    except ValidationError as exc:
        return f"IBAN {value!r} is not valid: {exc} (its country format or checksum)"
    return None


def bic_error(value: str) -> str | None:
    try:
        stdnum_bic.validate(value)
    except ValidationError as exc:
        return f"BIC {value!r} is not valid: {exc}"
    return None


def routing_number_error(value: str) -> str | None:
    """An ABA routing number: nine digits whose weighted (3, 7, 1) sum is a multiple of 10."""
    try:
        rtn.validate(value)
    except ValidationError as exc:
        return f"ABA routing number {value!r} is not valid: {exc} (nine digits with a checksum)"
    return None


def payment_link_error(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc:
        return f"payment link {value!r} is not an https URL"
    if set(re.findall(r"\{[^}]*\}", value)) - {NUMBER}:
        return f"payment link {value!r}: only {NUMBER} (the invoice number) may stand in it"
    if any(ch.isspace() for ch in value):
        return f"payment link {value!r} has spaces"
    return None
