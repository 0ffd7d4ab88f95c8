"""The contract model: a won quote locked as an immutable, numbered contract version.

A `ContractVersion` holds the commercial terms (`ContractTerms`) and the lines sold
(`ContractLine`), each with the `BillingRule` that says when and how it is billed: once, every
period (monthly, quarterly, annual; in advance or in arrears; with ramp prices, co-terming and
auto-renewal), per accepted milestone, or from time and materials / usage recorded later.
Versions never change: a change order makes the next one. `to_json` / `from_json` round-trip a
version exactly (Decimals as strings, dates ISO 8601) and `content_hash` is the SHA-256 of that
JSON in canonical form (sorted keys, no whitespace), so a stored version can be proven unchanged.

A line's `tax` is the VAT treatment decided when the quote was locked (`invoicing.domain.tax.
TaxDecision`: EN 16931 category BT-151, rate BT-152, exemption reason BT-120/BT-121, with the rule
applied and its evidence): the agreed one. It is None on versions locked before it was kept and on
lines whose tax needs outside inputs (see `quote.lock_tax`); it is left out of the JSON when None, so
the content hash of such a version is what it always was.

`validate` refuses what cannot be billed, raising `ContractError` whose message names the contract,
the line and the field ("contract C-1 line L2: unit_price is missing"). Money is Decimal; currency
is an ISO 4217 code; units are UN/ECE Recommendation 20 codes (C62 "one"); discounts are read as
deals carry them (`invoicing.domain.allowances.parse_discount`) and become EN 16931 line
allowances (BG-27) when invoiced.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

import pycountry

from handoff.invoicing.domain.allowances import DiscountError, parse_discount
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES, SUPPLY_KINDS, Jurisdiction, TaxDecision, VatCategory
from handoff.kernel.money import ZERO

HUNDRED = Decimal("100")
_E = TypeVar("_E", bound=StrEnum)


class ContractError(ValueError):
    """A contract that cannot be (or a change that cannot make one); the message names the record
    and the field. `contract_id`, `line_key` and `field` say the same for programs."""

    def __init__(self, message: str, *, contract_id: str = "", line_key: str = "", field: str = "") -> None:
        super().__init__(message)
        self.contract_id, self.line_key, self.field = contract_id, line_key, field

    @classmethod
    def at(cls, contract_id: str, field: str, problem: str, line: str = "") -> ContractError:
        """The error on `field` of contract `contract_id` (of its line `line` if given):
        `ContractError.at("C-1", "unit_price", "is missing", line="L2")`."""
        where = f"contract {contract_id}" + (f" line {line}" if line else "")
        return cls(f"{where}: {field} {problem}", contract_id=contract_id, line_key=line, field=field)


class BillingKind(StrEnum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"
    MILESTONE = "milestone"
    TIME_AND_MATERIALS = "time_and_materials"
    USAGE = "usage"


class Frequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return _MONTHS[self]


_MONTHS = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUAL: 12}


class Timing(StrEnum):
    IN_ADVANCE = "in_advance"
    IN_ARREARS = "in_arrears"


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months, the day clamped to the month's end
    (2027-01-31 + 1 month = 2027-02-28). Periods are computed from their anchor
    (anchor + n months), never cumulatively, so a clamped day does not drift."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True, slots=True)
class RampStep:
    """From `starts` on, the line's unit price per period is `unit_price` (ramp pricing)."""

    starts: date
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Milestone:
    """A part of a milestone line billed when the milestone is accepted: a fixed `amount`, or a
    `percent` of the line's quantity x unit_price (exactly one of the two)."""

    key: str
    name: str
    amount: Decimal | None = None
    percent: Decimal | None = None


@dataclass(frozen=True, slots=True)
class BillingRule:
    """When and how a line is billed; which fields apply depends on `kind`."""

    kind: BillingKind
    bill_on: date | None = None  # one_time: the date it bills (None: the contract's billing_start)
    frequency: Frequency | None = None  # recurring
    timing: Timing = Timing.IN_ADVANCE  # recurring
    start: date | None = None  # recurring: first day billed (None: billing_start)
    end: date | None = None  # recurring: first day NOT billed (exclusive); None with auto_renew
    ramp: tuple[RampStep, ...] = ()  # recurring: price steps (sorted by starts)
    coterm_to: date | None = None  # recurring: end aligned to another line's end (prorated last period)
    auto_renew: bool = False  # renews for `renewal_months` unless notice given `notice_days` before end
    renewal_months: int = 12
    notice_days: int = 0
    milestones: tuple[Milestone, ...] = ()  # milestone
    # auto_renew: the day notice (not to renew) was given; the line ends at the end of the term in
    # which the notice was in time (given at least `notice_days` before that term's end).
    notice_given_on: date | None = None


@dataclass(frozen=True, slots=True)
class ContractLine:
    key: str  # stable within the contract ("L1", or the CRM line id); never reused
    product: str  # catalog sku ("" allowed)
    description: str
    quantity: Decimal
    unit_price: Decimal  # per unit; for recurring: per unit per period of `frequency`
    rule: BillingRule
    discount: str = ""  # "10%" or an amount, as deals carry it (allowances.parse_discount)
    unit_code: str = "C62"  # UN/ECE Rec 20
    tax_category: str = "standard"
    supply: str = "services"
    tax: TaxDecision | None = None  # the VAT treatment decided at the quote lock, with its evidence


@dataclass(frozen=True, slots=True)
class SignedDocument:
    url: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ContractTerms:
    customer_id: str
    legal_entity: str
    currency: str
    payment_terms: str
    billing_start: date
    po_number: str = ""
    signatory: str = ""
    owner_email: str = ""
    consolidate: bool = False  # the customer takes one invoice per entity+currency per run


@dataclass(frozen=True, slots=True)
class ContractVersion:
    contract_id: str  # the handoff id (the deal id for contracts locked from a deal)
    version: int  # 1 = the won quote
    effective: date  # version 1: billing_start; later: the change order's effective date
    terms: ContractTerms
    lines: tuple[ContractLine, ...]
    documents: tuple[SignedDocument, ...] = ()
    change_order: str = ""  # the key of the change order that made this version ("" for v1)

    def line(self, key: str) -> ContractLine:
        """The line `key`; ContractError if the contract has none."""
        for line in self.lines:
            if line.key == key:
                return line
        raise ContractError.at(self.contract_id, "line", f"{key!r} does not exist")

    def to_json(self) -> dict[str, Any]:
        """The version as JSON-ready data: Decimals as strings (exponent kept), dates ISO 8601."""
        return {
            "contract_id": self.contract_id,
            "version": self.version,
            "effective": self.effective.isoformat(),
            "change_order": self.change_order,
            "terms": _terms_json(self.terms),
            "lines": [_line_json(line) for line in self.lines],
            "documents": [{"url": d.url, "sha256": d.sha256} for d in self.documents],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ContractVersion:
        """The version `to_json` wrote; ContractError naming the field if `doc` is not one."""
        reader = _Reader(str(doc.get("contract_id", "?")) if isinstance(doc, Mapping) else "?")
        return reader.version(doc)

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON: sorted keys, no whitespace, UTF-8."""
        return hashlib.sha256(canonical_json(self.to_json()).encode("utf-8")).hexdigest()


def canonical_json(doc: Mapping[str, Any]) -> str:
    """`doc` as canonical JSON: sorted keys, compact separators, non-ASCII kept."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---- JSON writing ----


def _d(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _terms_json(terms: ContractTerms) -> dict[str, Any]:
    return {
        "customer_id": terms.customer_id,
        "legal_entity": terms.legal_entity,
        "currency": terms.currency,
        "payment_terms": terms.payment_terms,
        "billing_start": terms.billing_start.isoformat(),
        "po_number": terms.po_number,
        "signatory": terms.signatory,
        "owner_email": terms.owner_email,
        "consolidate": terms.consolidate,
    }


def _rule_json(rule: BillingRule) -> dict[str, Any]:
    return {
        "kind": rule.kind.value,
        "bill_on": _day(rule.bill_on),
        "frequency": None if rule.frequency is None else rule.frequency.value,
        "timing": rule.timing.value,
        "start": _day(rule.start),
        "end": _day(rule.end),
        "ramp": [{"starts": s.starts.isoformat(), "unit_price": str(s.unit_price)} for s in rule.ramp],
        "coterm_to": _day(rule.coterm_to),
        "auto_renew": rule.auto_renew,
        "renewal_months": rule.renewal_months,
        "notice_days": rule.notice_days,
        "notice_given_on": _day(rule.notice_given_on),
        "milestones": [
            {"key": m.key, "name": m.name, "amount": _d(m.amount), "percent": _d(m.percent)} for m in rule.milestones
        ],
    }


def _tax_json(tax: TaxDecision) -> dict[str, Any]:
    return {
        "category": tax.category.value,
        "rate": str(tax.rate),
        "rule": tax.rule,
        "note": tax.note,
        "exemption_code": tax.exemption_code,
        "evidence": dict(tax.evidence),
        "place_of_supply": tax.place_of_supply,
        "jurisdictions": [{"level": j.level, "name": j.name, "rate": str(j.rate)} for j in tax.jurisdictions],
    }


def _line_json(line: ContractLine) -> dict[str, Any]:
    doc = {
        "key": line.key,
        "product": line.product,
        "description": line.description,
        "quantity": str(line.quantity),
        "unit_price": str(line.unit_price),
        "rule": _rule_json(line.rule),
        "discount": line.discount,
        "unit_code": line.unit_code,
        "tax_category": line.tax_category,
        "supply": line.supply,
    }
    if line.tax is not None:  # absent, not null: versions without it keep their content hash
        doc["tax"] = _tax_json(line.tax)
    return doc


# ---- JSON reading ----


class _Reader:
    """Reads a version document, naming the contract, line and field of what is wrong."""

    def __init__(self, contract_id: str) -> None:
        self.contract_id = contract_id
        self.line_key = ""

    def fail(self, field: str, problem: str) -> ContractError:
        return ContractError.at(self.contract_id, field, problem, line=self.line_key)

    def obj(self, doc: Any, field: str) -> Mapping[str, Any]:
        if not isinstance(doc, Mapping):
            raise self.fail(field, "is not an object")
        return doc

    def get(self, doc: Mapping[str, Any], field: str, default: Any = ..., name: str = "") -> Any:
        if field in doc and doc[field] is not None:
            return doc[field]
        if default is ...:
            raise self.fail(name or field, "is missing")
        return default

    def text(self, doc: Mapping[str, Any], field: str, default: str | None = None, name: str = "") -> str:
        value = self.get(doc, field, ... if default is None else default, name)
        if not isinstance(value, str):
            raise self.fail(name or field, f"is not text: {value!r}")
        return value

    def flag(self, doc: Mapping[str, Any], field: str, default: bool) -> bool:
        value = self.get(doc, field, default)
        if not isinstance(value, bool):
            raise self.fail(field, f"is not true or false: {value!r}")
        return value

    def integer(self, doc: Mapping[str, Any], field: str, default: int | None = None) -> int:
        value = self.get(doc, field, ... if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"is not a whole number: {value!r}")
        return value

    def decimal(self, doc: Mapping[str, Any], field: str, name: str = "") -> Decimal:
        value = self.get(doc, field, name=name)
        return self._decimal(value, name or field)

    def opt_decimal(self, doc: Mapping[str, Any], field: str, name: str = "") -> Decimal | None:
        value = doc.get(field)
        return None if value is None else self._decimal(value, name or field)

    def _decimal(self, value: Any, name: str) -> Decimal:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.fail(name, f"is not a decimal number written as text: {value!r}")
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(name, f"is not a decimal number: {value!r}") from None
        if not result.is_finite():
            raise self.fail(name, f"is not a finite number: {value!r}")
        return result

    def day(self, doc: Mapping[str, Any], field: str, name: str = "") -> date:
        return self._day(self.get(doc, field, name=name), name or field)

    def opt_day(self, doc: Mapping[str, Any], field: str) -> date | None:
        value = doc.get(field)
        return None if value is None else self._day(value, field)

    def _day(self, value: Any, name: str) -> date:
        if not isinstance(value, str):
            raise self.fail(name, f"is not an ISO date: {value!r}")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(name, f"is not an ISO date: {value!r}") from None

    def enum(self, kind: type[_E], value: Any, name: str) -> _E:
        try:
            return kind(value)
        except ValueError:
            choices = ", ".join(member.value for member in kind)
            raise self.fail(name, f"is {value!r}, not one of {choices}") from None

    def items(self, doc: Mapping[str, Any], field: str) -> list[Any]:
        value = doc.get(field)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            raise self.fail(field, "is not a list")
        return list(value)

    def version(self, raw: Any) -> ContractVersion:
        doc = self.obj(raw, "document")
        self.contract_id = self.text(doc, "contract_id")
        terms = self.terms(self.obj(self.get(doc, "terms"), "terms"))
        lines = tuple(self.line(item) for item in self.items(doc, "lines"))
        self.line_key = ""
        documents = tuple(
            SignedDocument(self.text(d, "url", name="documents.url"), self.text(d, "sha256", name="documents.sha256"))
            for d in (self.obj(item, "documents") for item in self.items(doc, "documents"))
        )
        return ContractVersion(
            contract_id=self.contract_id,
            version=self.integer(doc, "version"),
            effective=self.day(doc, "effective"),
            terms=terms,
            lines=lines,
            documents=documents,
            change_order=self.text(doc, "change_order", ""),
        )

    def terms(self, doc: Mapping[str, Any]) -> ContractTerms:
        return ContractTerms(
            customer_id=self.text(doc, "customer_id"),
            legal_entity=self.text(doc, "legal_entity"),
            currency=self.text(doc, "currency"),
            payment_terms=self.text(doc, "payment_terms", ""),
            billing_start=self.day(doc, "billing_start"),
            po_number=self.text(doc, "po_number", ""),
            signatory=self.text(doc, "signatory", ""),
            owner_email=self.text(doc, "owner_email", ""),
            consolidate=self.flag(doc, "consolidate", False),
        )

    def line(self, raw: Any) -> ContractLine:
        self.line_key = ""
        doc = self.obj(raw, "lines")
        self.line_key = self.text(doc, "key")
        tax = doc.get("tax")
        return ContractLine(
            key=self.line_key,
            product=self.text(doc, "product", ""),
            description=self.text(doc, "description", ""),
            quantity=self.decimal(doc, "quantity"),
            unit_price=self.decimal(doc, "unit_price"),
            rule=self.rule(self.obj(self.get(doc, "rule"), "rule")),
            discount=self.text(doc, "discount", ""),
            unit_code=self.text(doc, "unit_code", "C62"),
            tax_category=self.text(doc, "tax_category", "standard"),
            supply=self.text(doc, "supply", "services"),
            tax=None if tax is None else self.tax(self.obj(tax, "tax")),
        )

    def tax(self, doc: Mapping[str, Any]) -> TaxDecision:
        evidence = self.obj(doc.get("evidence") or {}, "tax.evidence")
        for name, value in evidence.items():
            if not isinstance(value, str):
                raise self.fail(f"tax.evidence.{name}", f"is not text: {value!r}")
        jurisdictions = tuple(
            Jurisdiction(
                self.text(j, "level", name="tax.jurisdictions.level"),
                self.text(j, "name", name="tax.jurisdictions.name"),
                self.decimal(j, "rate", name="tax.jurisdictions.rate"),
            )
            for j in (self.obj(item, "tax.jurisdictions") for item in self.items(doc, "jurisdictions"))
        )
        return TaxDecision(
            category=self.enum(VatCategory, self.get(doc, "category", name="tax.category"), "tax.category"),
            rate=self.decimal(doc, "rate", name="tax.rate"),
            rule=self.text(doc, "rule", name="tax.rule"),
            note=self.text(doc, "note", "", name="tax.note"),
            exemption_code=self.text(doc, "exemption_code", "", name="tax.exemption_code"),
            evidence={str(k): v for k, v in evidence.items()},
            place_of_supply=self.text(doc, "place_of_supply", "", name="tax.place_of_supply"),
            jurisdictions=jurisdictions,
        )

    def rule(self, doc: Mapping[str, Any]) -> BillingRule:
        frequency = doc.get("frequency")
        ramp = tuple(
            RampStep(self.day(s, "starts", name="ramp.starts"), self.decimal(s, "unit_price", name="ramp.unit_price"))
            for s in (self.obj(item, "ramp") for item in self.items(doc, "ramp"))
        )
        milestones = tuple(
            Milestone(
                key=self.text(m, "key", name="milestones.key"),
                name=self.text(m, "name", "", name="milestones.name"),
                amount=self.opt_decimal(m, "amount", name="milestones.amount"),
                percent=self.opt_decimal(m, "percent", name="milestones.percent"),
            )
            for m in (self.obj(item, "milestones") for item in self.items(doc, "milestones"))
        )
        return BillingRule(
            kind=self.enum(BillingKind, self.get(doc, "kind", name="rule.kind"), "rule.kind"),
            bill_on=self.opt_day(doc, "bill_on"),
            frequency=None if frequency is None else self.enum(Frequency, frequency, "frequency"),
            timing=self.enum(Timing, doc.get("timing", Timing.IN_ADVANCE.value), "timing"),
            start=self.opt_day(doc, "start"),
            end=self.opt_day(doc, "end"),
            ramp=ramp,
            coterm_to=self.opt_day(doc, "coterm_to"),
            auto_renew=self.flag(doc, "auto_renew", False),
            renewal_months=self.integer(doc, "renewal_months", 12),
            notice_days=self.integer(doc, "notice_days", 0),
            milestones=milestones,
            notice_given_on=self.opt_day(doc, "notice_given_on"),
        )


# ---- validation ----


def line_total(line: ContractLine) -> Decimal:
    """The line's quantity x unit_price, unrounded (a milestone line's whole value)."""
    return line.quantity * line.unit_price


def validate(version: ContractVersion) -> None:
    """Raise ContractError on the first thing that makes `version` unbillable."""
    cid = version.contract_id
    if not isinstance(cid, str) or not cid.strip():
        raise ContractError.at(str(cid or "").strip() or "?", "contract_id", "is missing")
    if isinstance(version.version, bool) or not isinstance(version.version, int) or version.version < 1:
        raise ContractError.at(cid, "version", f"must be a whole number from 1 up, not {version.version!r}")
    _validate_terms(version)
    if not isinstance(version.effective, date):
        raise ContractError.at(cid, "effective", "is missing")
    if version.effective < version.terms.billing_start:
        raise ContractError.at(
            cid, "effective", f"{version.effective} is before billing_start {version.terms.billing_start}"
        )
    if version.version == 1 and version.change_order:
        raise ContractError.at(cid, "change_order", "must be empty on version 1 (the won quote)")
    if version.version > 1 and not version.change_order:
        raise ContractError.at(cid, "change_order", f"is missing: version {version.version} comes from a change order")
    for document in version.documents:
        digest = document.sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ContractError.at(cid, "documents.sha256", f"{document.sha256!r} is not a SHA-256 hex digest")
        if not document.url.strip():
            raise ContractError.at(cid, "documents.url", "is missing")
    seen_lines: set[str] = set()
    seen_milestones: set[str] = set()
    for line in version.lines:
        if not isinstance(line.key, str) or not line.key.strip():
            raise ContractError.at(cid, "key", "is missing on a line")
        if line.key in seen_lines:
            raise ContractError.at(cid, "key", "is used by two lines", line=line.key)
        seen_lines.add(line.key)
        _validate_line(version, line, seen_milestones)


def _validate_terms(version: ContractVersion) -> None:
    cid, terms = version.contract_id, version.terms
    for field in ("customer_id", "legal_entity"):
        value = getattr(terms, field)
        if not isinstance(value, str) or not value.strip():
            raise ContractError.at(cid, field, "is missing")
    currency = terms.currency
    if not (
        isinstance(currency, str)
        and len(currency) == 3
        and currency.isalpha()
        and currency.isupper()
        and pycountry.currencies.get(alpha_3=currency) is not None
    ):
        raise ContractError.at(cid, "currency", f"{currency!r} is not an ISO 4217 code")
    if not isinstance(terms.billing_start, date):
        raise ContractError.at(cid, "billing_start", "is missing")


def _number(cid: str, line: str, field: str, value: object) -> Decimal:
    if value is None:
        raise ContractError.at(cid, field, "is missing", line=line)
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ContractError.at(cid, field, f"is not a finite Decimal: {value!r}", line=line)
    return value


def _validate_line(version: ContractVersion, line: ContractLine, seen_milestones: set[str]) -> None:
    cid, key, rule = version.contract_id, line.key, line.rule
    quantity = _number(cid, key, "quantity", line.quantity)
    if quantity <= ZERO:
        raise ContractError.at(cid, "quantity", f"must be above 0, not {quantity}", line=key)
    price = _number(cid, key, "unit_price", line.unit_price)
    if price < ZERO:
        raise ContractError.at(cid, "unit_price", f"must not be negative, not {price}", line=key)
    try:
        discount = parse_discount(line.discount)
    except DiscountError as exc:
        raise ContractError.at(cid, "discount", f"is unreadable: {exc}", line=key) from None
    if discount is not None and discount.amount is not None and discount.amount > quantity * price:
        raise ContractError.at(
            cid, "discount", f"{discount.amount} is more than the line's {quantity} x {price}", line=key
        )
    if not line.unit_code.strip():
        raise ContractError.at(cid, "unit_code", "is missing", line=key)
    if line.tax_category not in PRODUCT_CATEGORIES:
        raise ContractError.at(cid, "tax_category", f"{line.tax_category!r} is not a product tax category", line=key)
    if line.supply not in SUPPLY_KINDS:
        raise ContractError.at(cid, "supply", f"{line.supply!r} is not one of {sorted(SUPPLY_KINDS)}", line=key)
    if not isinstance(rule, BillingRule) or not isinstance(rule.kind, BillingKind):
        raise ContractError.at(cid, "rule.kind", "is missing", line=key)
    if rule.kind is not BillingKind.RECURRING:
        for field in ("frequency", "start", "end", "coterm_to", "notice_given_on"):
            if getattr(rule, field) is not None:
                raise ContractError.at(cid, field, f"applies to recurring lines only, not {rule.kind}", line=key)
        if rule.ramp:
            raise ContractError.at(cid, "ramp", f"applies to recurring lines only, not {rule.kind}", line=key)
        if rule.auto_renew:
            raise ContractError.at(cid, "auto_renew", f"applies to recurring lines only, not {rule.kind}", line=key)
    if rule.kind is not BillingKind.ONE_TIME and rule.bill_on is not None:
        raise ContractError.at(cid, "bill_on", f"applies to one-time lines only, not {rule.kind}", line=key)
    if rule.kind is not BillingKind.MILESTONE and rule.milestones:
        raise ContractError.at(cid, "milestones", f"apply to milestone lines only, not {rule.kind}", line=key)
    if rule.kind is BillingKind.RECURRING:
        _validate_recurring(version, line)
    elif rule.kind is BillingKind.MILESTONE:
        _validate_milestones(version, line, seen_milestones)


def _validate_recurring(version: ContractVersion, line: ContractLine) -> None:
    cid, key, rule = version.contract_id, line.key, line.rule
    if rule.frequency is None:
        raise ContractError.at(
            cid, "frequency", "is missing: a recurring line needs monthly, quarterly or annual", line=key
        )
    start = rule.start or version.terms.billing_start
    if rule.end is not None and rule.end <= start:
        raise ContractError.at(cid, "end", f"{rule.end} is not after the start {start}", line=key)
    if rule.coterm_to is not None:
        if rule.coterm_to <= start:
            raise ContractError.at(cid, "coterm_to", f"{rule.coterm_to} is not after the start {start}", line=key)
        if rule.end is not None and rule.end != rule.coterm_to:
            raise ContractError.at(cid, "coterm_to", f"{rule.coterm_to} differs from end {rule.end}", line=key)
        if rule.auto_renew:
            raise ContractError.at(cid, "coterm_to", "and auto_renew exclude each other", line=key)
    if rule.end is None and rule.coterm_to is None and not rule.auto_renew:
        raise ContractError.at(
            cid, "end", "is missing: a recurring line needs an end, coterm_to or auto_renew", line=key
        )
    if isinstance(rule.renewal_months, bool) or not isinstance(rule.renewal_months, int) or rule.renewal_months < 1:
        raise ContractError.at(cid, "renewal_months", f"must be 1 or more, not {rule.renewal_months!r}", line=key)
    if isinstance(rule.notice_days, bool) or not isinstance(rule.notice_days, int) or rule.notice_days < 0:
        raise ContractError.at(cid, "notice_days", f"must be 0 or more, not {rule.notice_days!r}", line=key)
    if rule.notice_given_on is not None and not rule.auto_renew:
        raise ContractError.at(cid, "notice_given_on", "applies to auto-renewing lines only", line=key)
    previous: date | None = None
    for step in rule.ramp:
        if previous is not None and step.starts <= previous:
            raise ContractError.at(cid, "ramp", f"step {step.starts} is not after {previous}: sort by starts", line=key)
        previous = step.starts
        if _number(cid, key, "ramp.unit_price", step.unit_price) < ZERO:
            raise ContractError.at(cid, "ramp.unit_price", f"must not be negative, not {step.unit_price}", line=key)


def _validate_milestones(version: ContractVersion, line: ContractLine, seen: set[str]) -> None:
    cid, key = version.contract_id, line.key
    if not line.rule.milestones:
        raise ContractError.at(cid, "milestones", "are missing: a milestone line needs at least one", line=key)
    total = line_total(line)
    covered = ZERO
    for milestone in line.rule.milestones:
        if not milestone.key.strip():
            raise ContractError.at(cid, "milestones.key", "is missing", line=key)
        if milestone.key in seen:
            raise ContractError.at(cid, "milestones.key", f"{milestone.key!r} is used twice in the contract", line=key)
        seen.add(milestone.key)
        if (milestone.amount is None) == (milestone.percent is None):
            raise ContractError.at(
                cid, f"milestone {milestone.key}", "needs exactly one of amount and percent", line=key
            )
        if milestone.amount is not None:
            amount = _number(cid, key, f"milestone {milestone.key} amount", milestone.amount)
            if amount <= ZERO:
                raise ContractError.at(
                    cid, f"milestone {milestone.key} amount", f"must be above 0, not {amount}", line=key
                )
            covered += amount
        else:
            percent = _number(cid, key, f"milestone {milestone.key} percent", milestone.percent)
            if not ZERO < percent <= HUNDRED:
                raise ContractError.at(
                    cid,
                    f"milestone {milestone.key} percent",
                    f"must be above 0 and at most 100, not {percent}",
                    line=key,
                )
            covered += total * percent / HUNDRED
    if covered != total:
        raise ContractError.at(
            cid,
            "milestones",
            f"add up to {covered}, not the line's {line.quantity} x {line.unit_price} = {total}",
            line=key,
        )
