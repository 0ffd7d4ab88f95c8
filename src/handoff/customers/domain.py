"""The customer master record and its effective-dated versions (pure).

A `CustomerRecord` is one customer as finance bills it: legal name (EN 16931 BT-44), VAT ids per
country (BT-48) and a US tax id (EIN / SSN / ITIN), billing contacts (BT-56..58), invoice language
(ISO 639-1), delivery channel (`email`, `peppol` with the customer's Peppol id as endpoint BT-49,
or `post`), whether its invoices are consolidated, and its billing address (BT-50..55). It carries
the customer's id in every source system too (`external_ids`: "hubspot" -> "123"); those are links
kept beside the versions, not versioned content.

A change never rewrites history: it adds a `CustomerVersion` (numbered 1, 2, ...) that takes effect
on its `valid_from` day, and `as_of(versions, day)` finds the one in force on a day. A new version
may not take effect before the latest one does (the latest version is always the last in force).
The first version is valid since `SINCE_ALWAYS`: what was true before it was recorded is not known
any better. Problems are `CustomerError`s naming the customer and the field.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import pycountry
import stdnum
from email_validator import EmailNotValidError, validate_email
from stdnum.eu import vat as eu_vat
from stdnum.us import tin as us_tin

from handoff.deals.domain.countries import country_code
from handoff.deals.domain.orders import DealInput
from handoff.invoicing.domain.einvoice import peppol_id_error
from handoff.kernel.parties import EU_MEMBER_STATES, Address, vat_prefix

SINCE_ALWAYS = date(1970, 1, 1)  # the first version's valid_from
DEFAULT_LANGUAGE = "en"
MAX_CONTACTS = 20


class DeliveryChannel(str, enum.Enum):
    """How the customer's invoices travel."""

    EMAIL = "email"  # to the billing contacts
    PEPPOL = "peppol"  # as UBL over the Peppol network, to `peppol_id`
    POST = "post"  # printed, to the billing address


class CustomerError(Exception):
    """A customer record or change that cannot be kept. `code` is stable: `invalid` (a field's
    value), `not_found` (no such customer), `conflict` (an external id linked to another customer)."""

    def __init__(self, customer_id: str, field: str, message: str, code: str = "invalid") -> None:
        super().__init__(f"customer {customer_id!r}, {field}: {message}")
        self.customer_id, self.field, self.message, self.code = customer_id, field, message, code


@dataclass(frozen=True, slots=True)
class BillingContact:
    """A person who receives invoices and reminders (BT-56 name, BT-58 e-mail)."""

    name: str
    email: str
    role: str = "billing"


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    customer_id: str
    legal_name: str
    vat_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # country -> VAT id
    us_tax_id: str = ""
    is_business: bool = True
    billing_contacts: tuple[BillingContact, ...] = ()
    invoice_language: str = DEFAULT_LANGUAGE
    delivery_channel: DeliveryChannel = DeliveryChannel.EMAIL
    peppol_id: str = ""
    consolidated_invoicing: bool = False
    billing_address: Address = field(default_factory=Address)
    external_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # source -> id

    @property
    def country(self) -> str:
        return self.billing_address.country

    @property
    def billing_email(self) -> str:
        """The first billing contact's address (what `customers.billing_email` shows)."""
        return next((c.email for c in self.billing_contacts if c.email), "")

    @property
    def vat_id(self) -> str:
        """The VAT id for the billing country, else the first one (what `customers.vat_id` shows)."""
        return self.vat_ids.get(self.country) or next(iter(self.vat_ids.values()), "")


@dataclass(frozen=True, slots=True)
class CustomerVersion:
    """One version of a customer's record: in force from `valid_from` until the next version's,
    written at `recorded_at` by `changed_by`, for `reason`."""

    customer_id: str
    version: int
    valid_from: date
    record: CustomerRecord
    changed_by: str
    reason: str
    recorded_at: datetime


# -- the stored form (customer_versions.content)


def to_content(record: CustomerRecord) -> dict[str, Any]:
    """The record as a version stores it: everything but the customer id and the external ids."""
    a = record.billing_address
    return {
        "legal_name": record.legal_name,
        "vat_ids": dict(sorted(record.vat_ids.items())),
        "us_tax_id": record.us_tax_id,
        "is_business": record.is_business,
        "billing_contacts": [{"name": c.name, "email": c.email, "role": c.role} for c in record.billing_contacts],
        "invoice_language": record.invoice_language,
        "delivery_channel": record.delivery_channel.value,
        "peppol_id": record.peppol_id,
        "consolidated_invoicing": record.consolidated_invoicing,
        "billing_address": {
            "street": a.street,
            "city": a.city,
            "postal_code": a.postal_code,
            "country": a.country,
            "region": a.region,
        },
    }


def from_content(
    customer_id: str, content: Mapping[str, Any], external_ids: Mapping[str, str] | None = None
) -> CustomerRecord:
    """A record from its stored form; a key missing (written by an older release) takes its default."""
    a = content.get("billing_address") or {}
    channel = content.get("delivery_channel") or DeliveryChannel.EMAIL.value
    return CustomerRecord(
        customer_id=customer_id,
        legal_name=str(content.get("legal_name", "")),
        vat_ids=MappingProxyType({str(k): str(v) for k, v in (content.get("vat_ids") or {}).items()}),
        us_tax_id=str(content.get("us_tax_id", "")),
        is_business=bool(content.get("is_business", True)),
        billing_contacts=tuple(
            BillingContact(str(c.get("name", "")), str(c.get("email", "")), str(c.get("role", "billing")))
            for c in content.get("billing_contacts") or ()
        ),
        invoice_language=str(content.get("invoice_language") or DEFAULT_LANGUAGE),
        delivery_channel=DeliveryChannel(channel),
        peppol_id=str(content.get("peppol_id", "")),
        consolidated_invoicing=bool(content.get("consolidated_invoicing", False)),
        billing_address=Address(*(str(a.get(k, "")) for k in ("street", "city", "postal_code", "country", "region"))),
        external_ids=MappingProxyType(dict(external_ids or {})),
    )


def from_intake(
    customer_id: str, legal_name: str, country: str, vat_id: str, is_business: bool, billing_email: str
) -> CustomerRecord:
    """The record a `customers` row (as intake writes it) stands for: the first version of a
    customer the master has not versioned yet."""
    vat_ids = {vat_country(vat_id, country): compact_vat(vat_id)} if vat_id.strip() else {}
    return CustomerRecord(
        customer_id=customer_id,
        legal_name=legal_name,
        vat_ids=MappingProxyType(vat_ids),
        is_business=is_business,
        billing_contacts=(BillingContact("", billing_email.strip()),) if billing_email.strip() else (),
        billing_address=Address(country=country),
    )


def compact_vat(value: str) -> str:
    return re.sub(r"[\s.\-/]", "", value).upper()


def vat_country(vat_id: str, country: str) -> str:
    """The country a VAT id belongs to: the given country, else the id's own prefix (EL: Greece)."""
    if country:
        return country
    prefix = compact_vat(vat_id)[:2]
    return "GR" if prefix == "EL" else prefix


# -- validation


@lru_cache(maxsize=4096)
def _language_known(code: str) -> bool:
    return len(code) == 2 and pycountry.languages.get(alpha_2=code) is not None


def vat_id_error(country: str, value: str) -> str | None:
    """Why `value` is not a VAT id of `country`, or None. EU ids: the country's prefix and
    python-stdnum's format and checksum (as readiness checks a deal's); elsewhere the country's own
    stdnum module where it has one (GB, CH, NO, ...)."""
    number = compact_vat(value)
    if not number:
        return "is empty"
    if country in EU_MEMBER_STATES:
        expected = vat_prefix(country)
        if number[:2] != expected:
            return f"VAT id {value!r} lacks the prefix {expected} of country {country}"
        return None if eu_vat.is_valid(number) else f"VAT id {value!r} fails the {expected} format or checksum"
    module = stdnum.get_cc_module(country.lower(), "vat")
    if module is not None and not module.is_valid(number):
        return f"VAT id {value!r} fails the {country} format or checksum"
    return None


def _email_error(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        return f"{value!r} is not a valid e-mail address: {exc}"
    return None


def problems(record: CustomerRecord) -> list[CustomerError]:
    """Everything wrong with `record`, each naming the customer and the field; empty when it can be kept."""
    cid = record.customer_id
    found: list[CustomerError] = []

    def bad(name: str, message: str) -> None:
        found.append(CustomerError(cid, name, message))

    if not cid.strip() or len(cid) > 200:
        bad("customer_id", "must be 1 to 200 characters")
    if not record.legal_name.strip():
        bad("legal_name", "is missing")
    elif len(record.legal_name) > 300:
        bad("legal_name", "is longer than 300 characters")
    for country, vat_id in sorted(record.vat_ids.items()):
        if country_code(country) != country:
            bad(f"vat_ids.{country}", f"{country!r} is not an ISO 3166-1 country code")
        elif (why := vat_id_error(country, vat_id)) is not None:
            bad(f"vat_ids.{country}", why)
    if record.us_tax_id and not us_tin.is_valid(record.us_tax_id):
        bad("us_tax_id", f"{record.us_tax_id!r} is not a US tax id (EIN, SSN or ITIN)")
    if len(record.billing_contacts) > MAX_CONTACTS:
        bad("billing_contacts", f"at most {MAX_CONTACTS} contacts")
    for i, contact in enumerate(record.billing_contacts):
        if (why := _email_error(contact.email)) is not None:
            bad(f"billing_contacts[{i}].email", why)
        if not contact.role.strip():
            bad(f"billing_contacts[{i}].role", "is missing")
    if not _language_known(record.invoice_language):
        bad("invoice_language", f"{record.invoice_language!r} is not an ISO 639-1 language code (e.g. en, de)")
    if record.peppol_id and (why := peppol_id_error(record.peppol_id)) is not None:
        bad("peppol_id", why)
    channel = record.delivery_channel
    if channel is DeliveryChannel.PEPPOL and not record.peppol_id:
        bad("peppol_id", "delivery by peppol needs the customer's Peppol id")
    if channel is DeliveryChannel.EMAIL and not record.billing_email:
        bad("billing_contacts", "delivery by email needs a billing contact with an e-mail address")
    a = record.billing_address
    if country_code(a.country) != a.country or not a.country:
        bad("billing_address.country", f"{a.country!r} is not an ISO 3166-1 country code")
    if channel is DeliveryChannel.POST:
        for name in ("street", "city", "postal_code"):
            if not getattr(a, name).strip():
                bad(f"billing_address.{name}", "delivery by post needs it")
    return found


def check(record: CustomerRecord) -> None:
    """Raise the first of `problems(record)`."""
    found = problems(record)
    if found:
        raise found[0]


# -- versions


def latest(versions: Iterable[CustomerVersion]) -> CustomerVersion | None:
    return max(versions, key=lambda v: v.version, default=None)


def as_of(versions: Iterable[CustomerVersion], day: date) -> CustomerVersion | None:
    """The version in force on `day`: of those valid from `day` or earlier, the latest to take
    effect (the higher number of two taking effect on the same day). None before the first."""
    return max((v for v in versions if v.valid_from <= day), key=lambda v: (v.valid_from, v.version), default=None)


def next_version(
    versions: Sequence[CustomerVersion],
    record: CustomerRecord,
    *,
    valid_from: date | None,
    changed_by: str,
    reason: str,
    at: datetime,
) -> CustomerVersion | None:
    """The version that records `record` after `versions`, or None when it changes nothing.
    Refused (CustomerError) when the record is invalid, no reason is given, or it would take effect
    before the latest version does. The first version is valid since `SINCE_ALWAYS`."""
    check(record)
    if not reason.strip():
        raise CustomerError(record.customer_id, "reason", "say why the customer changes")
    last = latest(versions)
    if last is None:
        return CustomerVersion(record.customer_id, 1, SINCE_ALWAYS, record, changed_by, reason.strip(), at)
    if to_content(last.record) == to_content(record):
        return None
    day = valid_from or at.date()
    if day < last.valid_from:
        raise CustomerError(
            record.customer_id,
            "valid_from",
            f"{day.isoformat()} is before version {last.version} takes effect ({last.valid_from.isoformat()})",
        )
    return CustomerVersion(record.customer_id, last.version + 1, day, record, changed_by, reason.strip(), at)


# -- changes


_TEXT_FIELDS = ("legal_name", "us_tax_id", "peppol_id")
_ADDRESS_FIELDS = ("street", "city", "postal_code", "country", "region")
FIELDS = (
    *_TEXT_FIELDS,
    "vat_ids",
    "is_business",
    "billing_contacts",
    "invoice_language",
    "delivery_channel",
    "consolidated_invoicing",
    "billing_address",
)


def apply_changes(record: CustomerRecord, changes: Mapping[str, Any]) -> CustomerRecord:
    """`record` with `changes` (field name -> new value, as in `FIELDS`) made, normalised (codes
    upper- or lower-cased, VAT ids compacted, text stripped). `billing_address` changes only the
    parts given; `vat_ids` and `billing_contacts` replace the whole. Not yet validated."""
    cid = record.customer_id
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _TEXT_FIELDS:
            out[name] = str(value).strip()
        elif name == "vat_ids":
            vat_ids: dict[str, str] = {}
            for country, vat_id in dict(value).items():
                code = str(country).strip().upper()
                if compact_vat(str(vat_id)):
                    vat_ids[code] = compact_vat(str(vat_id))
            out[name] = MappingProxyType(vat_ids)
        elif name in ("is_business", "consolidated_invoicing"):
            if not isinstance(value, bool):
                raise CustomerError(cid, name, f"{value!r} is not true or false")
            out[name] = value
        elif name == "billing_contacts":
            out[name] = tuple(
                BillingContact(
                    str(c.get("name", "")).strip(),
                    str(c.get("email", "")).strip(),
                    str(c.get("role") or "billing").strip(),
                )
                for c in value
            )
        elif name == "invoice_language":
            out[name] = str(value).strip().lower()
        elif name == "delivery_channel":
            try:
                out[name] = DeliveryChannel(str(value).strip().lower())
            except ValueError:
                names = ", ".join(c.value for c in DeliveryChannel)
                raise CustomerError(cid, name, f"{value!r} is not one of {names}") from None
        elif name == "billing_address":
            parts = {k: str(v).strip() for k, v in dict(value).items()}
            unknown = set(parts) - set(_ADDRESS_FIELDS)
            if unknown:
                raise CustomerError(cid, f"billing_address.{sorted(unknown)[0]}", "is not an address field")
            if "country" in parts:
                parts["country"] = country_code(parts["country"]) or parts["country"].upper()
            out[name] = replace(record.billing_address, **parts)
        else:
            raise CustomerError(cid, name, "is not a field of the customer master")
    return replace(record, **out)


def from_deal(deal: DealInput, current: CustomerRecord | None) -> CustomerRecord:
    """The record after a deal that passed readiness: what the deal carries (legal name, VAT id,
    billing contact and address, Peppol id) over `current`; what a deal does not carry (language,
    consolidation, other countries' VAT ids, other contacts) is kept."""
    cid = deal.get("customer_id") or deal.deal_id
    base = current or CustomerRecord(cid, "")
    country = country_code(deal.get("country")) or deal.get("country").upper()
    changes: dict[str, Any] = {"is_business": deal.is_business}
    if deal.get("customer_legal_name"):
        changes["legal_name"] = deal.get("customer_legal_name")
    if deal.get("vat_id"):
        changes["vat_ids"] = {**base.vat_ids, vat_country(deal.get("vat_id"), country): deal.get("vat_id")}
    email = deal.get("billing_email")
    if email:
        contact = BillingContact(deal.get("billing_contact_name"), email)
        others = [c for c in base.billing_contacts if c.email.lower() != email.lower()]
        changes["billing_contacts"] = [{"name": c.name, "email": c.email, "role": c.role} for c in (contact, *others)]
    address = {
        "street": deal.get("billing_street"),
        "city": deal.get("billing_city"),
        "postal_code": deal.get("billing_postal_code"),
        "region": deal.get("billing_state"),
        "country": country,
    }
    changes["billing_address"] = {k: v for k, v in address.items() if v}
    if deal.get("peppol_id"):
        changes["peppol_id"] = deal.get("peppol_id")
        changes["delivery_channel"] = DeliveryChannel.PEPPOL.value
    return apply_changes(base, changes)
