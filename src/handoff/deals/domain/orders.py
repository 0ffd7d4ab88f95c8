"""The canonical deal / order and its life cycle.

A deal arrives as raw text fields (a `DealInput`), whatever its source: the readiness rules judge
those fields, so a bad value becomes a problem on the deal instead of a crash. Only a deal that
passed readiness is turned into typed values (`BillableOrder`) for invoicing.

Life cycle (`OrderState`):

    pipeline -> (won) -> blocked <-> ready -> drafted -> sent -> paid
                                               \\-> cancelled (draft discarded)

`blocked` is the exception queue; `ready` means a finance task is open; `drafted` has an invoice
draft awaiting review; `sent` is issued with a number. Overdue is not stored: it is derived from
the due date of a sent, unpaid invoice (see `invoices.payment_status`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from types import MappingProxyType

from handoff.deals.domain.countries import country_code, subdivision_code
from handoff.invoicing.domain.allowances import Discount, parse_discount
from handoff.invoicing.domain.formats import DEFAULT_FORMAT
from handoff.invoicing.domain.formats import normalise as normalise_format
from handoff.kernel.money import D
from handoff.kernel.parties import Address, Customer

# The generic deal fields, in the order of the generic deal CSV (shared/DESIGN.md).
DEAL_FIELDS: tuple[str, ...] = (
    "deal_id",
    "deal_name",
    "stage",
    "close_date",
    "amount",
    "currency",
    "customer_id",
    "customer_legal_name",
    "customer_type",
    "country",
    "vat_id",
    "po_number",
    "requires_po",
    "billing_email",
    "billing_contact_name",
    "billing_street",
    "billing_city",
    "billing_postal_code",
    "billing_state",  # state or province (a US customer's state decides its sales tax)
    "payment_terms",
    "legal_entity",
    "owner_email",
    "invoice_format",  # what the invoice e-mail carries: pdf (default), facturx, ubl, cii
    "peppol_id",  # the customer's Peppol address (BT-49), "scheme:id"; empty: its UBL is not sent by Peppol
    "public_sector",  # yes for a public body (German ones are invoiced per XRechnung)
    "leitweg_id",  # a German public buyer's Leitweg-ID (BT-10)
    "discount",  # the deal's discount: "10%" or an amount ("500.00") off the lines' total
    # a contract deal (lines billed other than once, `contracts.domain.quote`): its first billing day
    # (empty: the close date), and the signed order form it was won with (a URL and its SHA-256)
    "billing_start",
    "signed_document_url",
    "signed_document_sha256",
)

_DEAL_FIELD_SET = frozenset(DEAL_FIELDS)
_VALUE = itemgetter(1)  # a (name, value) pair's value: an empty one is falsy

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", ""})


class OrderState(str, enum.Enum):
    PIPELINE = "pipeline"  # known, not (yet) closed-won: nothing to bill
    BLOCKED = "blocked"  # in the exception queue
    READY = "ready"  # finance task open
    DRAFTED = "drafted"  # invoice draft awaiting review
    SENT = "sent"  # invoice issued
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class LineInput:
    """A deal line as received; text, judged by readiness like the deal's own fields (rules on
    `lines.<field>`, see `readiness`)."""

    description: str
    quantity: str = "1"
    unit_price: str = ""
    tax_category: str = "standard"
    supply: str = "services"  # goods or services: decides the place of supply
    currency: str = ""  # when given, must be the deal's: one invoice has one currency
    discount: str = ""  # "10%" or an amount ("500.00") off quantity x unit price
    product: str = ""  # the seller's product code (SKU): accounting may book a product to its own account
    # How the line is billed (`deals.domain.billing_terms` reads these; empty: billed once, with the
    # deal): one_time | recurring | milestone | time_and_materials | usage
    billing: str = ""
    frequency: str = ""  # recurring: monthly | quarterly | annual
    timing: str = ""  # recurring: in_advance (default) | in_arrears
    start: str = ""  # recurring: first day billed, ISO date or a duration after billing start ("P30D")
    end: str = ""  # recurring: first day no longer billed (ISO date, exclusive)
    term: str = ""  # recurring, instead of `end`: its length, ISO 8601 ("P12M", "P2Y") or months ("12")
    periods: str = ""  # recurring, instead of `end`: how many periods of `frequency` are billed
    ramp: str = ""  # recurring: "2028-01-01=12000; 2029-01-01=15000", the unit price per period from a day
    milestones: str = ""  # milestone: "design=30%; go-live=70%" or amounts ("design=3000")
    auto_renew: str = ""  # recurring: yes to renew at the end of each term
    notice_days: str = ""  # recurring, auto-renewing: days of notice not to renew before a term ends
    unit_code: str = ""  # UN/ECE Rec 20 unit (C62 when not given)

    def get(self, name: str) -> str:
        value: str = getattr(self, name)
        return value

    @property
    def is_one_time(self) -> bool:
        """Billed once, with the deal (no billing kind given, or `one_time`)."""
        return not self.billing or self.billing.strip().lower() in ONE_TIME_WORDS

    def as_dict(self) -> dict[str, str]:
        out = {
            "description": self.description,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "tax_category": self.tax_category,
            "supply": self.supply,
        }
        if self.currency:  # absent when not given, as deals stored before lines had a currency
            out["currency"] = self.currency
        if self.discount:  # likewise
            out["discount"] = self.discount
        if self.product:  # likewise
            out["product"] = self.product
        if (  # likewise: only a contract deal's lines have them (one look each, no loop, for the others)
            self.billing
            or self.frequency
            or self.timing
            or self.start
            or self.end
            or self.term
            or self.periods
            or self.ramp
            or self.milestones
            or self.auto_renew
            or self.notice_days
            or self.unit_code
        ):
            out.update((name, value) for name in BILLING_LINE_FIELDS if (value := getattr(self, name)))
        return out


# A line's billing terms (`LineInput`), given only by deals billed other than once; "" or one of
# ONE_TIME_WORDS in `billing` means billed once.
BILLING_LINE_FIELDS: tuple[str, ...] = (
    "billing",
    "frequency",
    "timing",
    "start",
    "end",
    "term",
    "periods",
    "ramp",
    "milestones",
    "auto_renew",
    "notice_days",
    "unit_code",
)
ONE_TIME_WORDS = frozenset({"", "one_time", "one-time", "onetime", "once"})


# The fields of a line a readiness rule may name (`lines.<field>`).
LINE_FIELDS: tuple[str, ...] = (
    "description",
    "quantity",
    "unit_price",
    "tax_category",
    "supply",
    "currency",
    "discount",
    "product",
    *BILLING_LINE_FIELDS,
)


@dataclass(frozen=True, slots=True)
class DealInput:
    """One version of a deal as a source sent it, mapped to canonical field names.

    `fields` holds the generic deal fields (missing ones are empty strings); `custom` keeps every
    other column so nothing the source sent is lost.
    """

    deal_id: str
    fields: Mapping[str, str]
    custom: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    lines: tuple[LineInput, ...] = ()

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object], lines: tuple[LineInput, ...] = ()) -> DealInput:
        # Text is by far the common case: strip it inline, convert anything else with _text.
        fields = {name: v.strip() if type(v := raw.get(name)) is str else _text(v) for name in DEAL_FIELDS}
        custom = {
            k: v.strip() if type(v) is str else _text(v)
            for k, v in raw.items()
            if k not in _DEAL_FIELD_SET and k != "lines"
        }
        return cls(fields["deal_id"], MappingProxyType(fields), MappingProxyType(custom), lines)

    def get(self, name: str) -> str:
        value = self.fields.get(name)  # every generic field is present, so this is the usual answer
        if value is not None:
            return value
        if name.startswith("custom."):
            return self.custom.get(name.removeprefix("custom."), "")
        return ""

    def with_fields(self, changes: Mapping[str, str]) -> DealInput:
        """A copy with some fields replaced (a user fixing billing data)."""
        fields = dict(self.fields)
        custom = dict(self.custom)
        for name, value in changes.items():
            if name.startswith("custom."):
                custom[name.removeprefix("custom.")] = value.strip()
            else:
                fields[name] = value.strip()
        return DealInput(self.deal_id, MappingProxyType(fields), MappingProxyType(custom), self.lines)

    def as_dict(self) -> dict[str, object]:
        """The values given (an empty one is no value: `from_mapping` reads it back as ""), as
        stored in the inbox and on the order, and compared to tell versions apart."""
        out: dict[str, object] = dict(filter(_VALUE, self.fields.items()))  # filter and itemgetter run in C
        if self.custom:
            out.update(filter(_VALUE, self.custom.items()))
        if self.lines:
            out["lines"] = [ln.as_dict() for ln in self.lines]
        return out

    @property
    def is_business(self) -> bool:
        return self.fields.get("customer_type", "").lower() != "consumer"

    @property
    def requires_po(self) -> bool | None:
        """True/False for a recognised answer, None for a value that is neither."""
        word = self.get("requires_po").lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def is_won(deal: DealInput, won_stages: frozenset[str]) -> bool:
    """A deal is billable once its stage is a won stage; an empty stage counts as won because a
    closed-won export often has no stage column."""
    stage = deal.get("stage").strip().lower().replace(" ", "").replace("-", "").replace("_", "")
    return stage == "" or stage in won_stages


@dataclass(frozen=True, slots=True)
class BillableLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_category: str
    supply: str
    discount: Discount | None = None  # becomes the line's allowance (BG-27)
    product: str = ""  # the seller's product code, kept on the invoice line


@dataclass(frozen=True, slots=True)
class BillableOrder:
    """A deal that passed readiness, in typed values: what an invoice is built from."""

    deal_id: str
    name: str
    currency: str
    customer: Customer
    legal_entity: str
    payment_terms: str
    po_number: str
    owner_email: str
    lines: tuple[BillableLine, ...]
    discount: Discount | None = None  # the deal's: document-level allowances (BG-20)


def buyer_country(deal: DealInput) -> str:
    """The buyer's ISO country code, or the deal's value upper-cased when it names no country."""
    return country_code(deal.get("country")) or deal.get("country").upper()


def tax_buyer(deal: DealInput) -> Customer:
    """The buyer as far as VAT decides (country, business or consumer, VAT id), as `to_billable`
    gives them, without the rest of the billing details: what readiness asks drafting's tax about."""
    vat_id = deal.get("vat_id").replace(" ", "").upper()
    return Customer(deal.get("customer_id"), "", buyer_country(deal), deal.is_business, vat_id)


def billing_customer(deal: DealInput) -> Customer:
    """The deal's buyer in typed values, its country resolved to the ISO code (as `to_billable`)."""
    country = buyer_country(deal)
    state = deal.get("billing_state")
    region = (subdivision_code(country, state) or state.upper()) if state else ""
    return Customer(
        customer_id=deal.get("customer_id") or deal.deal_id,
        legal_name=deal.get("customer_legal_name"),
        country=country,
        is_business=deal.is_business,
        vat_id=deal.get("vat_id").replace(" ", "").upper(),
        billing_email=deal.get("billing_email"),
        billing_contact_name=deal.get("billing_contact_name"),
        address=Address(
            deal.get("billing_street"), deal.get("billing_city"), deal.get("billing_postal_code"), country, region
        ),
        invoice_format=normalise_format(deal.get("invoice_format")) or DEFAULT_FORMAT,
        peppol_id=deal.get("peppol_id").strip(),
        public_sector=deal.get("public_sector").strip().lower() in TRUE_WORDS,
        leitweg_id=deal.get("leitweg_id").strip().upper(),
    )


def line_supply(line: LineInput) -> str:
    """What a line supplies (goods, services, ...), as billed: services when not given."""
    return line.supply.strip().lower() or "services"


def line_tax_category(line: LineInput) -> str:
    """A line's product tax category, as billed: standard when not given."""
    return line.tax_category.strip().lower() or "standard"


def tax_inputs(deal: DealInput) -> list[tuple[str, str]]:
    """(supply, tax category) of each line as `to_billable` bills it; a deal without lines is one
    standard-rated line of services. Cheap: nothing is parsed."""
    if not deal.lines:
        return [("services", "standard")]
    return [(line_supply(ln), line_tax_category(ln)) for ln in deal.lines]


def to_billable(deal: DealInput) -> BillableOrder:
    """Typed view of a deal; call only after readiness found no problems (it parses, so a deal
    that was never checked may raise MoneyError or DiscountError). The country is resolved to its
    ISO code. Without lines, the deal's amount is its one line, the deal's discount taken off it."""
    customer = billing_customer(deal)
    if deal.lines:
        lines = tuple(
            BillableLine(
                ln.description or deal.get("deal_name"),
                D(ln.quantity.strip() or "1"),
                D(ln.unit_price),
                line_tax_category(ln),
                line_supply(ln),
                parse_discount(ln.discount),
                ln.product.strip(),
            )
            for ln in deal.lines
        )
    else:
        lines = (
            BillableLine(
                deal.get("deal_name") or f"Deal {deal.deal_id}", D("1"), D(deal.get("amount")), "standard", "services"
            ),
        )
    return BillableOrder(
        deal_id=deal.deal_id,
        name=deal.get("deal_name"),
        currency=deal.get("currency").upper(),
        customer=customer,
        legal_entity=deal.get("legal_entity"),
        payment_terms=deal.get("payment_terms"),
        po_number=deal.get("po_number"),
        owner_email=deal.get("owner_email"),
        lines=lines,
        discount=parse_discount(deal.get("discount")),
    )


@dataclass(frozen=True, slots=True)
class DealEvent:
    """A delivery of one deal version by a source. `source` + `event_id` identify the delivery
    (redelivery is a no-op); `occurred_at` orders versions (an older one never overwrites)."""

    source: str
    event_id: str
    occurred_at: datetime
    deal: DealInput
