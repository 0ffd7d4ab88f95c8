"""Settings (environment) and business configuration (YAML files), validated at load.

Two kinds of configuration, kept apart:
- `Settings`: where things run (database URL, SMTP server), from `HANDOFF_*` environment variables.
- `BusinessConfig`: what the business owns (selling entities, payment terms, readiness rules, VAT
  rates), from versioned YAML files; bundled defaults in `handoff/defaults/`. A file that does not
  validate is refused with a message naming the file and the offending entry.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from handoff.collections.domain import DunningPolicy, PolicyError, policy_from_dict
from handoff.contracts.domain.review import PolicyError as TermsPolicyError
from handoff.contracts.domain.review import TermsPolicy, policy_from_mapping
from handoff.deals.domain.orders import LINE_FIELDS
from handoff.deals.domain.readiness import (
    CHECKS,
    CONDITIONS,
    DEFAULT_LINE_RULES,
    OPTIONAL_PREFIX,
    ReadinessContext,
    Rule,
    RuleSet,
)
from handoff.invoicing.domain.determination import TaxPolicy
from handoff.invoicing.domain.einvoice import phone_error
from handoff.invoicing.domain.payment import bic_error, iban_error, payment_link_error, routing_number_error
from handoff.invoicing.domain.sales_tax import DEFAULT_PRODUCT_TAX_CODES, LocalRates, SalesTaxRates, StateRates
from handoff.invoicing.domain.tax import PRODUCT_CATEGORIES, SUPPLY_KINDS, Jurisdiction, VatCategory, VatRates
from handoff.kernel.parties import EU_MEMBER_STATES, Address, Branding, LegalEntity
from handoff.usage.domain.events import UsageError
from handoff.usage.domain.metrics import metric_from_json

DEFAULTS = Path(__file__).parent / "defaults"
_M = TypeVar("_M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file is missing or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddressModel(_Strict):
    street: str = ""
    city: str = ""
    postal_code: str = ""


def _checked(check: Callable[[str], str | None]) -> Callable[[str], str]:
    """A validator from a domain check (None: fine, else the problem); empty values pass."""

    def validate(value: str) -> str:
        problem = check(value) if value else None
        if problem:
            raise ValueError(problem)
        return value.replace(" ", "").upper() if check in (iban_error, bic_error) else value

    return validate


def _hex_colour(value: str) -> str:
    if value and not re.fullmatch(r"#[0-9A-Fa-f]{6}|#[0-9A-Fa-f]{3}", value):
        raise ValueError(f"colour {value!r} is not a hex colour such as #0B3D91")
    if len(value) == 4:
        value = "#" + "".join(ch * 2 for ch in value[1:])
    return value.upper()


LOGO_MAX_BYTES = 1_000_000  # it travels inline with every invoice e-mail


def _logo_file(value: str, info: ValidationInfo) -> str:
    """The logo's absolute path: relative to the configuration file's folder, else among the
    bundled defaults (so a copy of the default file keeps the demo logos); a PNG or JPEG."""
    if not value:
        return ""
    base = Path((info.context or {}).get("config_dir", DEFAULTS))
    given = Path(value)
    candidates = [given] if given.is_absolute() else [base / given, DEFAULTS / given]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ValueError(f"logo {value!r} not found (paths are relative to the configuration file, {base})")
    if found.stat().st_size > LOGO_MAX_BYTES:
        raise ValueError(f"logo {value!r} is larger than {LOGO_MAX_BYTES:,} bytes")
    from PIL import Image  # lazy: only entities with a logo need it

    try:
        with Image.open(found) as image:
            kind = image.format or "unknown"
            image.verify()
    except (OSError, SyntaxError, ValueError):
        raise ValueError(f"logo {value!r} is not a readable image: a PNG or JPEG is needed") from None
    if kind not in ("PNG", "JPEG"):
        raise ValueError(f"logo {value!r} is a {kind} image: a PNG or JPEG is needed")
    return str(found.resolve())


class BrandingModel(_Strict):
    """How the entity's PDF and e-mails look (all optional: without a logo its name is set in text)."""

    logo: Annotated[str, AfterValidator(_logo_file)] = ""  # PNG or JPEG, relative to this file
    primary_colour: Annotated[str, AfterValidator(_hex_colour)] = ""  # headings, the name without a logo
    accent_colour: Annotated[str, AfterValidator(_hex_colour)] = ""  # rules and frames
    footer: str = Field("", max_length=400)  # under every PDF page and e-mail: directors, seat ...


def _contact_email(value: str) -> str:
    if value:
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            raise ValueError(f"{value!r} is not an e-mail address: {exc}") from exc
    return value


class ContactModel(_Strict):
    """The seller's contact on its e-invoices (BG-6: BT-41 name, BT-42 telephone, BT-43 e-mail):
    Peppol requires the telephone on German domestic invoices (DE-R-006), XRechnung all three."""

    name: str = Field("", max_length=200)
    phone: Annotated[str, AfterValidator(_checked(phone_error))] = ""
    email: Annotated[str, AfterValidator(_contact_email)] = ""


class AchModel(_Strict):
    """A US bank account paid by ACH credit transfer."""

    routing_number: Annotated[str, AfterValidator(_checked(routing_number_error))]
    account_number: str = Field(pattern=r"^[0-9]{4,17}$")


class EntityModel(_Strict):
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    address: AddressModel = AddressModel()
    vat_id: str = ""
    tax_id: str = ""  # tax number (BT-32), e.g. a German Steuernummer or a US EIN
    company_register: str = ""  # court and number, e.g. "Amtsgericht Charlottenburg, HRB 123456 B"
    # how customers pay (`invoicing.domain.payment`): an IBAN, a US ACH account and/or a payment page
    iban: Annotated[str, AfterValidator(_checked(iban_error))] = ""
    bic: Annotated[str, AfterValidator(_checked(bic_error))] = ""
    bank_name: str = ""
    ach: AchModel | None = None
    payment_link: Annotated[str, AfterValidator(_checked(payment_link_error))] = ""  # `{number}`: the invoice
    payment_reference: Literal["auto", "rf", "invoice_number"] = "auto"  # auto: RF for a SEPA-area IBAN
    email: str = ""
    invoice_prefix: str = ""
    branding: BrandingModel = BrandingModel()
    contact: ContactModel = ContactModel()  # the seller contact of its e-invoices (BT-41..BT-43)

    @model_validator(mode="after")
    def _rf_needs_an_iban(self) -> EntityModel:
        if self.payment_reference == "rf" and not self.iban:
            raise ValueError("payment_reference: rf (an ISO 11649 creditor reference) needs an IBAN")
        return self


class IntakeModel(_Strict):
    won_stages: list[str] = ["closedwon", "won"]
    # how far an event's time may be ahead of our clock (the sender's clock skew); beyond: refused
    future_tolerance_seconds: int = Field(300, ge=0, le=86_400)


class AutomationModel(_Strict):
    draft_on_ready: bool = True
    issue_drafts: bool = False  # workers issue drafts without a finance review


class NotificationsModel(_Strict):
    finance_email: str = "finance@example.com"
    exception_channels: list[Literal["email", "log", "slack"]] = ["email", "log"]
    task_channels: list[Literal["email", "log", "slack"]] = ["email", "log"]
    # approval requests (to finance) and decisions (to the requester); add "slack" for Approve/Reject buttons
    approval_channels: list[Literal["email", "log", "slack"]] = ["email", "log"]
    # Slack user id -> handoff user e-mail: who may press Approve / Reject in Slack
    slack_users: dict[str, str] = {}


class OutboxModel(_Strict):
    max_attempts: int = Field(6, ge=1)
    base_delay_seconds: float = Field(30, gt=0)
    max_delay_seconds: float = Field(3600, gt=0)
    # how long a claimed row is reserved for its worker; a killed worker's rows return after it
    lease_seconds: float = Field(120, gt=0)


PRODUCT_KEY, TAX_CATEGORY_KEY = "product:", "tax_category:"


def _category_codes(value: dict[str, str]) -> dict[str, str]:
    """Keys are a VAT category (UNCL 5305), `category:rate` (rate in percent), `product:CODE` (a
    line's product code) or `tax_category:NAME` (a line's product tax category, `reduced` ...);
    codes are not empty."""
    for key, code in value.items():
        if key.startswith(PRODUCT_KEY):
            product = key.removeprefix(PRODUCT_KEY)
            if not product or product != product.strip():
                raise ValueError(f"{key!r}: name the product code after `product:` (without spaces around it)")
        elif key.startswith(TAX_CATEGORY_KEY):
            name = key.removeprefix(TAX_CATEGORY_KEY)
            if name not in PRODUCT_CATEGORIES:
                known = ", ".join(sorted(PRODUCT_CATEGORIES))
                raise ValueError(f"{key!r}: {name!r} is not a product tax category (one of {known})")
        else:
            category, colon, rate = key.partition(":")
            if category not in VatCategory.__members__.values():
                known = ", ".join(c.value for c in VatCategory)
                raise ValueError(
                    f"{key!r}: {category!r} is not a VAT category (one of {known}),"
                    " `product:CODE` or `tax_category:NAME`"
                )
            if colon and _rate(rate) is None:
                raise ValueError(f"{key!r}: {rate!r} is not a VAT rate (a percentage such as 7 or 5.5)")
        if not code.strip():
            raise ValueError(f"{key!r}: the code is empty")
    return value


def _rate(text: str) -> Decimal | None:
    try:
        rate = Decimal(text)
    except ArithmeticError:
        return None
    return rate if rate.is_finite() and rate >= 0 else None


def category_code(
    mappings: Sequence[Mapping[str, str]], category: str, rate: str, *, product: str = "", tax_category: str = ""
) -> str | None:
    """The code mapped for a line of VAT `category` at `rate` (decimal text), of `product` (its
    product code) sold under product `tax_category`: the first mapping that has, most specific
    first, `product:PRODUCT`, `tax_category:TAX_CATEGORY`, `category:rate` (rates compared as
    numbers) or `category`; None if none has any. A product's mapping thus wins over its category's."""
    wanted = _rate(rate)
    for mapping in mappings:
        if product and PRODUCT_KEY + product in mapping:
            return mapping[PRODUCT_KEY + product]
        if tax_category and TAX_CATEGORY_KEY + tax_category in mapping:
            return mapping[TAX_CATEGORY_KEY + tax_category]
        for key, code in mapping.items():
            cat, colon, r = key.partition(":")
            if colon and cat == category and wanted is not None and _rate(r) == wanted:
                return code
        if category in mapping:
            return mapping[category]
    return None


# {VAT category, `category:rate`, `product:CODE` or `tax_category:NAME`: the vendor's code}, checked at load
CategoryCodes = Annotated[dict[str, str], AfterValidator(_category_codes)]
Code = Annotated[str, Field(min_length=1, pattern=r"\S")]


class XeroEntityModel(_Strict):
    """One selling entity's Xero organisation and codes; anything unset falls back to `connectors.xero`."""

    tenant_id: Code | None = None  # default: HANDOFF_XERO_TENANT_ID
    sales_account_code: Code | None = None
    payment_account_code: Code | None = None
    account_codes: CategoryCodes = {}
    tax_types: CategoryCodes = {}


class XeroModel(_Strict):
    sales_account_code: str = "200"  # revenue account for invoice lines
    payment_account_code: str = "090"  # bank account that receives payments
    # Xero tax type per VAT category (UNCL 5305), or per `category:rate` where one category has
    # several rates; Xero's codes differ per region (OUTPUT2 is UK standard rate, for example).
    tax_types: CategoryCodes = {
        "S": "OUTPUT",
        "AE": "ECOUTPUTSERVICES",
        "K": "ECOUTPUT",
        "Z": "ZERORATEDOUTPUT",
        "E": "EXEMPTOUTPUT",
        "G": "EXEMPTEXPORT",
        "O": "NONE",
    }
    # revenue account per VAT category or `category:rate` (default: sales_account_code)
    account_codes: CategoryCodes = {}
    # per selling entity (legal_entities code): its tenant and codes, over the ones above
    entities: dict[str, XeroEntityModel] = {}

    def _entity(self, entity: str) -> XeroEntityModel:
        return self.entities.get(entity) or XeroEntityModel()

    def tenant_id(self, entity: str, default: str) -> str:
        return self._entity(entity).tenant_id or default

    def account_code(self, entity: str, category: str, rate: str, product: str = "", tax_category: str = "") -> str:
        own, line = self._entity(entity), {"product": product, "tax_category": tax_category}
        return (
            category_code((own.account_codes,), category, rate, **line)
            or own.sales_account_code
            or category_code((self.account_codes,), category, rate, **line)
            or self.sales_account_code
        )

    def tax_type(self, entity: str, category: str, rate: str, product: str = "", tax_category: str = "") -> str:
        mappings = (self._entity(entity).tax_types, self.tax_types)
        return category_code(mappings, category, rate, product=product, tax_category=tax_category) or "NONE"

    def payment_account(self, entity: str) -> str:
        return self._entity(entity).payment_account_code or self.payment_account_code


class QuickBooksEntityModel(_Strict):
    """One selling entity's QuickBooks company and codes; anything unset falls back to `connectors.quickbooks`."""

    realm_id: Code | None = None  # default: HANDOFF_QBO_REALM_ID
    item_id: Code | None = None
    item_ids: CategoryCodes = {}
    tax_codes: CategoryCodes = {}


class QuickBooksModel(_Strict):
    item_id: str = "1"  # the QuickBooks item (product or service) invoice lines are booked to
    minor_version: str = "75"
    # item per VAT category or `category:rate` (default: item_id)
    item_ids: CategoryCodes = {}
    # QuickBooks tax code (TaxCodeRef) per VAT category or `category:rate`; none: lines carry no tax code
    tax_codes: CategoryCodes = {}
    # per selling entity (legal_entities code): its realm and codes, over the ones above
    entities: dict[str, QuickBooksEntityModel] = {}

    def _entity(self, entity: str) -> QuickBooksEntityModel:
        return self.entities.get(entity) or QuickBooksEntityModel()

    def realm_id(self, entity: str, default: str) -> str:
        return self._entity(entity).realm_id or default

    def item(self, entity: str, category: str, rate: str, product: str = "", tax_category: str = "") -> str:
        own, line = self._entity(entity), {"product": product, "tax_category": tax_category}
        return (
            category_code((own.item_ids,), category, rate, **line)
            or own.item_id
            or category_code((self.item_ids,), category, rate, **line)
            or self.item_id
        )

    def tax_code(self, entity: str, category: str, rate: str, product: str = "", tax_category: str = "") -> str | None:
        mappings = (self._entity(entity).tax_codes, self.tax_codes)
        return category_code(mappings, category, rate, product=product, tax_category=tax_category)


class ProjectToolModel(_Strict):
    """A generic REST project tool told of every project opened (`projects.connectors.project_tool`):
    the endpoint it posts to and the HANDOFF_* setting holding the HMAC secret it signs with."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")
    secret_env: str = Field("HANDOFF_PROJECT_TOOL_SECRET", pattern=r"^HANDOFF_[A-Z0-9_]+$")


class DeliveryWebhookModel(_Strict):
    """A time-tracking tool that posts delivery signals to `/api/v1/webhooks/delivery/{source}`:
    the HANDOFF_* setting holding its HMAC secret (unset: the source is refused)."""

    secret_env: str = Field(pattern=r"^HANDOFF_[A-Z0-9_]+$")


class ConnectorsModel(_Strict):
    # The project tool every opened project is pushed to (unset: none).
    project_tool: ProjectToolModel | None = None
    # Time-tracking tools whose webhooks are taken, by source name (none: the webhook is closed).
    delivery_webhooks: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,29}$")], DeliveryWebhookModel] = {}
    # Product platforms whose usage events are taken at /api/v1/webhooks/usage/{source}, by source
    # name, each with the HANDOFF_* setting of its HMAC secret (none: the webhook is closed).
    usage_webhooks: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,29}$")], DeliveryWebhookModel] = {}
    # Accounting systems every issued invoice, credit note and payment is pushed to (via the outbox).
    accounting: list[Literal["xero", "quickbooks", "generic_rest"]] = []
    # CRMs that get invoice and payment status written back onto the deal (deals.service.crm_status);
    # which property or field each fact goes to is the `status` section of that CRM's mapping file.
    crm_writeback: list[Literal["hubspot", "pipedrive", "salesforce"]] = []
    xero: XeroModel = XeroModel()
    quickbooks: QuickBooksModel = QuickBooksModel()

    def unknown_entities(self, known: Iterable[str]) -> str | None:
        """The first per-entity mapping whose entity is not in `known`, as a message naming it."""
        names = set(known)
        for vendor, entities in (("xero", self.xero.entities), ("quickbooks", self.quickbooks.entities)):
            for code in entities:
                if code not in names:
                    return (
                        f"connectors.{vendor}.entities: {code!r} is not a legal entity"
                        f" (legal_entities has {', '.join(sorted(names))})"
                    )
        return None


class CashModel(_Strict):
    # cash application: proposals at or above this confidence apply themselves; the rest wait for review
    auto_apply_threshold: float = Field(0.85, gt=0, le=1)
    # who allocates bank lines nothing matched, and who is copied as `finance_lead` on reminders
    # (both default to notifications.finance_email)
    finance_owner: str = ""
    finance_lead: str = ""


class DistanceSalesModel(_Strict):
    """One EU selling entity's distance sales to consumers in other member states (Art. 59c)."""

    # tax every such sale where the customer is: opted for it (Art. 59c(3)), or OSS registered
    destination: bool = False
    # such sales made before handoff kept the totals, in EUR, by calendar year (they count too)
    earlier_sales_eur: dict[int, Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]] = {}


class SalesTaxEntityModel(_Strict):
    """One US selling entity's sales tax: which engine determines it."""

    engine: Literal["rate_table", "stripe_tax"] = "rate_table"


class TaxModel(_Strict):
    # EU entities (legal_entities codes); an EU entity not listed is taxed at origin below the threshold
    distance_sales: dict[str, DistanceSalesModel] = {}
    # US entities (legal_entities codes); a US entity not listed uses the rate table
    sales_tax: dict[str, SalesTaxEntityModel] = {}
    # the product tax code a sales tax engine is given, by supply kind (Stripe's tax codes)
    product_tax_codes: dict[str, Code] = dict(DEFAULT_PRODUCT_TAX_CODES)

    @field_validator("product_tax_codes")
    @classmethod
    def _supply_kinds(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - SUPPLY_KINDS)
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a supply kind (one of {', '.join(sorted(SUPPLY_KINDS))})")
        return {**DEFAULT_PRODUCT_TAX_CODES, **value}

    def misplaced_entity(self, entities: Mapping[str, EntityModel]) -> str | None:
        """The first entity named here that is not a selling entity of the right country, as a message."""
        sections = (
            ("distance_sales", self.distance_sales, EU_MEMBER_STATES, "in the EU"),
            ("sales_tax", self.sales_tax, frozenset({"US"}), "in the US"),
        )
        for section, codes, countries, where in sections:
            for code in codes:
                entity = entities.get(code)
                if entity is None:
                    known = ", ".join(sorted(entities))
                    return f"tax.{section}: {code!r} is not a legal entity (legal_entities has {known})"
                if entity.country not in countries:
                    return f"tax.{section}.{code}: the entity is in {entity.country}, not {where}"
        return None


class ExchangeRatesFeedModel(_Strict):
    """Where the worker's daily `fx_rates` job fetches the ECB euro reference rates (an eurofxref XML
    file: the daily one, or the 90-day one, which also fills a day a failed run missed)."""

    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$")


class ContractsModel(_Strict):
    # The deal desk's review policy (contracts.domain.review.policy_from_mapping): terms beyond it
    # wait for a finance approval before the contract is billed. Empty: nothing is reviewed.
    terms_review: dict[str, Any] = {}


class ForecastModel(_Strict):
    """The 13-week cash forecast (`reporting.forecast`): weights and fallbacks the business owns."""

    # a milestone's acceptance likelihood; unset: from the history of on-time acceptances, else 0.7
    milestone_likelihood: Annotated[Decimal, Field(ge=0, le=1)] | None = None
    # a milestone without a planned date is planned this many days after its contract's billing start
    milestone_lead_days: Annotated[int, Field(ge=0)] = 90
    # an open CRM deal's probability by stage (lower case, without spaces, dashes and underscores);
    # a deal that carries its own `probability` (0-1 or a percent) keeps it
    stage_probabilities: dict[str, Annotated[Decimal, Field(ge=0, le=1)]] = {
        "prospecting": Decimal("0.1"),
        "qualification": Decimal("0.2"),
        "needsanalysis": Decimal("0.25"),
        "proposal": Decimal("0.4"),
        "negotiation": Decimal("0.6"),
        "commit": Decimal("0.8"),
        "closedlost": Decimal(0),
        "lost": Decimal(0),
    }
    default_stage_probability: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.1")
    # payment terms of a contract or deal whose code is not in `payment_terms`
    default_payment_terms_days: Annotated[int, Field(ge=0)] = 30
    # an open invoice past due by more than this many days is on the forecast's doubtful line, in no week
    doubtful_after_days: Annotated[int, Field(ge=0)] = 90


class UsageModel(_Strict):
    """Usage-based billing (`usage/`): how late an event may arrive and still land in its own month,
    how far ahead of the clock a timestamp may be, how long raw events are kept, and the billable
    metrics seeded into the database (`usage.domain.metrics.metric_from_json` entries; the API and
    the CLI change them afterwards)."""

    grace_days: Annotated[int, Field(ge=0, le=28)] = 3
    future_tolerance_seconds: Annotated[int, Field(ge=0, le=86_400)] = 300
    # raw events received this many months ago are dropped (partitions on PostgreSQL); the
    # aggregates, the transaction ids and the invoices stay
    retention_months: Annotated[int, Field(ge=1, le=240)] = 25
    metrics: list[dict[str, Any]] = []

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        codes: set[str] = set()
        for i, doc in enumerate(value):
            try:
                metric = metric_from_json(doc, f"usage.metrics[{i}]")
            except UsageError as exc:
                raise ValueError(str(exc)) from None
            if metric.code in codes:
                raise ValueError(f"usage.metrics[{i}]: code {metric.code!r} is given twice")
            codes.add(metric.code)
        return value


class BusinessModel(_Strict):
    legal_entities: dict[str, EntityModel]
    payment_terms: dict[str, int]
    # {accounting currency: {invoice currency: units of accounting currency per unit}}
    exchange_rates: dict[str, dict[str, Decimal]] = {}
    # the ECB rates fetched daily by the workers (`fx_rates` job); unset: never fetched (offline installs)
    exchange_rates_feed: ExchangeRatesFeedModel | None = None
    intake: IntakeModel = IntakeModel()
    automation: AutomationModel = AutomationModel()
    notifications: NotificationsModel = NotificationsModel()
    outbox: OutboxModel = OutboxModel()
    connectors: ConnectorsModel = ConnectorsModel()
    cash: CashModel = CashModel()
    tax: TaxModel = TaxModel()
    contracts: ContractsModel = ContractsModel()
    forecast: ForecastModel = ForecastModel()
    usage: UsageModel = UsageModel()

    @field_validator("contracts")
    @classmethod
    def _terms_review(cls, value: ContractsModel, info: ValidationInfo) -> ContractsModel:
        try:
            policy_from_mapping(value.terms_review, info.data.get("payment_terms") or {})
        except TermsPolicyError as exc:
            raise ValueError(f"contracts.terms_review: {exc}") from exc
        return value

    @field_validator("tax")
    @classmethod
    def _tax_entities(cls, value: TaxModel, info: ValidationInfo) -> TaxModel:
        entities = info.data.get("legal_entities")
        problem = None if entities is None else value.misplaced_entity(entities)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("legal_entities")
    @classmethod
    def _some_entity(cls, value: dict[str, EntityModel]) -> dict[str, EntityModel]:
        if not value:
            raise ValueError("at least one selling entity is required")
        return value

    @field_validator("connectors")
    @classmethod
    def _known_entities(cls, value: ConnectorsModel, info: ValidationInfo) -> ConnectorsModel:
        entities = info.data.get("legal_entities")
        problem = None if entities is None else value.unknown_entities(entities)
        if problem:
            raise ValueError(problem)
        return value


class RuleModel(_Strict):
    field: str
    check: str
    when: str | None = None
    values: list[str] = []
    pattern: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _known(self) -> RuleModel:
        name = self.check.removeprefix(OPTIONAL_PREFIX)
        if name not in CHECKS:
            raise ValueError(f"unknown check {self.check!r}; known: {', '.join(sorted(CHECKS))}")
        if self.when is not None and self.when not in CONDITIONS:
            raise ValueError(f"unknown condition {self.when!r}; known: {', '.join(sorted(CONDITIONS))}")
        if name == "one_of" and not self.values:
            raise ValueError("check one_of needs `values`")
        if name == "pattern" and not self.pattern:
            raise ValueError("check pattern needs `pattern`")
        return self

    def rule(self) -> Rule:
        return Rule(self.field, self.check, self.when, tuple(self.values), self.pattern, self.message)


class LineRuleModel(RuleModel):
    """A rule on each line of a deal: `field` is a line's field (`unit_price`, `quantity`, ...)."""

    @field_validator("field")
    @classmethod
    def _line_field(cls, value: str) -> str:
        if value not in LINE_FIELDS:
            raise ValueError(f"unknown line field {value!r}; known: {', '.join(LINE_FIELDS)}")
        return value


class RulesModel(_Strict):
    version: Literal[1]
    rules: list[RuleModel]
    # Rules for each line of a deal; a file without `lines` gets the default ones (readiness.DEFAULT_LINE_RULES).
    lines: list[LineRuleModel] | None = None
    # How far a deal's amount may differ from the sum of its lines' nets, in the deal's currency.
    amount_tolerance: Decimal = Field(Decimal("0.01"), ge=0, allow_inf_nan=False)


def _load_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def _validated(model: type[_M], path: Path) -> _M:
    try:
        # relative paths in the file (an entity's logo) are relative to its folder
        return model.model_validate(_load_yaml(path), context={"config_dir": path.resolve().parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc


class JurisdictionModel(_Strict):
    level: Literal["county", "city", "district"]
    name: str = Field(min_length=1)
    rate: Decimal = Field(ge=0, lt=100, allow_inf_nan=False)


class LocalRatesModel(_Strict):
    city: str = ""
    zips: list[Annotated[str, Field(pattern=r"^\d{5}$")]] = []
    jurisdictions: list[JurisdictionModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _found_somehow(self) -> LocalRatesModel:
        if not self.city.strip() and not self.zips:
            raise ValueError("a place needs a `city` or `zips` to be found by")
        return self


class StateRatesModel(_Strict):
    name: str = Field(min_length=1)
    rate: Decimal = Field(ge=0, lt=100, allow_inf_nan=False)
    local: list[LocalRatesModel] = []
    taxable: list[Literal["goods", "services", "digital"]] = ["digital", "goods", "services"]
    note: str = ""


class SalesTaxRatesModel(_Strict):
    """The US sales tax rate table (see `defaults/us_sales_tax.yaml`)."""

    source: str = Field(min_length=1)
    as_of: date
    states: dict[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], StateRatesModel]

    def rates(self) -> SalesTaxRates:
        def place(p: LocalRatesModel) -> LocalRates:
            jurisdictions = tuple(Jurisdiction(j.level, j.name, j.rate) for j in p.jurisdictions)
            return LocalRates(" ".join(p.city.split()), frozenset(p.zips), jurisdictions)

        states = {
            code: StateRates(code, s.name, s.rate, tuple(place(p) for p in s.local), frozenset(s.taxable), s.note)
            for code, s in self.states.items()
        }
        return SalesTaxRates(states, self.source, self.as_of)


def load_sales_tax_rates(path: Path | None = None) -> SalesTaxRates:
    """The US sales tax rate table (`HANDOFF_SALES_TAX_RATES`, default `defaults/us_sales_tax.yaml`)."""
    return _validated(SalesTaxRatesModel, path or DEFAULTS / "us_sales_tax.yaml").rates()


DUNNING_ROLES = ("account_owner", "finance_lead")  # who a reminder level may copy


def load_dunning_policy(path: Path | None = None) -> DunningPolicy:
    """The reminder policy (`HANDOFF_DUNNING`, default `defaults/dunning.yaml`), validated."""
    path = path or DEFAULTS / "dunning.yaml"
    raw = _load_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a dunning policy must be a mapping with `levels`")
    try:
        policy = policy_from_dict(raw)
    except PolicyError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    for level in policy.levels:
        unknown = [r for r in level.copy_to if r not in DUNNING_ROLES and "@" not in r]
        if unknown:
            raise ConfigError(
                f"{path}: levels[{level.level}].copy_to: unknown role {unknown[0]!r}; "
                f"known: {', '.join(DUNNING_ROLES)} (or an e-mail address)"
            )
    return policy


@dataclass(frozen=True)
class BusinessConfig:
    model: BusinessModel
    ruleset: RuleSet
    vat_rates: VatRates
    dunning: DunningPolicy = field(default_factory=load_dunning_policy)
    sales_tax_rates: SalesTaxRates = field(default_factory=load_sales_tax_rates)

    @property
    def finance_owner(self) -> str:
        return self.model.cash.finance_owner or self.model.notifications.finance_email

    @property
    def finance_lead(self) -> str:
        return self.model.cash.finance_lead or self.model.notifications.finance_email

    @cached_property
    def terms_policy(self) -> TermsPolicy:
        """The deal desk's review policy (`contracts.terms_review`), with the payment terms' days."""
        return policy_from_mapping(self.model.contracts.terms_review, self.model.payment_terms)

    @cached_property
    def entities(self) -> dict[str, LegalEntity]:
        return legal_entities(self.model)

    def exchange_rate(self, to_currency: str, from_currency: str) -> Decimal | None:
        return self.model.exchange_rates.get(to_currency, {}).get(from_currency)

    @cached_property
    def tax_policy(self) -> TaxPolicy:
        """What tax determination needs of the configuration: `tax`, the rate table, rates to EUR."""
        tax = self.model.tax
        return TaxPolicy(
            destination_entities=frozenset(code for code, d in tax.distance_sales.items() if d.destination),
            earlier_sales_eur={code: dict(d.earlier_sales_eur) for code, d in tax.distance_sales.items()},
            sales_tax_engines={code: s.engine for code, s in tax.sales_tax.items()},
            product_tax_codes=dict(tax.product_tax_codes),
            rate_table=self.sales_tax_rates,
            eur_rates=dict(self.model.exchange_rates.get("EUR", {})),
        )

    @cached_property  # asked once per deal applied: normalised once
    def won_stages(self) -> frozenset[str]:
        return frozenset(
            s.lower().replace(" ", "").replace("-", "").replace("_", "") for s in self.model.intake.won_stages
        )


def legal_entities(model: BusinessModel) -> dict[str, LegalEntity]:
    """The configured selling entities, by code."""
    return {
        code: LegalEntity(
            code=code,
            name=e.name,
            country=e.country,
            currency=e.currency,
            address=Address(e.address.street, e.address.city, e.address.postal_code, e.country),
            vat_id=e.vat_id,
            tax_id=e.tax_id,
            iban=e.iban,
            bic=e.bic,
            email=e.email,
            invoice_prefix=e.invoice_prefix,
            company_register=e.company_register,
            bank_name=e.bank_name,
            ach_routing_number=e.ach.routing_number if e.ach else "",
            ach_account_number=e.ach.account_number if e.ach else "",
            payment_link=e.payment_link,
            payment_reference=e.payment_reference,
            branding=Branding(**e.branding.model_dump()),
            phone=e.contact.phone,
            contact_name=e.contact.name,
            contact_email=e.contact.email,
        )
        for code, e in model.legal_entities.items()
    }


def load_business_config(
    config_file: Path | None = None,
    rules_file: Path | None = None,
    rates_file: Path | None = None,
    dunning_file: Path | None = None,
    sales_tax_file: Path | None = None,
) -> BusinessConfig:
    config_path = config_file or DEFAULTS / "handoff.yaml"
    rules_path = rules_file or DEFAULTS / "rules.yaml"
    rates_path = rates_file or DEFAULTS / "vat_rates.yaml"
    business = _validated(BusinessModel, config_path)
    rules = _validated(RulesModel, rules_path)
    try:
        rates = VatRates.from_mapping(_load_yaml(rates_path))
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigError(f"{rates_path}: invalid VAT rates: {exc}") from exc
    context = ReadinessContext(
        frozenset(business.legal_entities),
        frozenset(business.payment_terms),
        rules.amount_tolerance,
        legal_entities(business),  # with the rates: each line is checked to be taxable as drafting taxes it
        rates,
    )
    ruleset = RuleSet(
        tuple(r.rule() for r in rules.rules),
        context,
        line_rules=DEFAULT_LINE_RULES if rules.lines is None else tuple(r.rule() for r in rules.lines),
    )
    return BusinessConfig(
        business, ruleset, rates, load_dunning_policy(dunning_file), load_sales_tax_rates(sales_tax_file)
    )


@dataclass(frozen=True)
class Settings:
    database_url: str
    config_file: Path | None
    rules_file: Path | None
    dunning_file: Path | None
    smtp_host: str
    smtp_port: int
    mail_from: str
    log_channel_file: Path | None
    # Every HANDOFF_* variable, for the connectors (URLs, ids, and secrets masked by
    # `connectors.secrets`); HANDOFF_SECRETS_FILE names a file with more of them.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    sales_tax_file: Path | None = None  # the US sales tax rate table (HANDOFF_SALES_TAX_RATES)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def path(name: str) -> Path | None:
            return Path(env[name]) if env.get(name) else None

        return cls(
            database_url=env.get("HANDOFF_DATABASE_URL", "sqlite:///handoff.db"),
            config_file=path("HANDOFF_CONFIG"),
            rules_file=path("HANDOFF_RULES"),
            dunning_file=path("HANDOFF_DUNNING"),
            smtp_host=env.get("HANDOFF_SMTP_HOST", "127.0.0.1"),
            smtp_port=int(env.get("HANDOFF_SMTP_PORT", "25")),
            mail_from=env.get("HANDOFF_MAIL_FROM", "handoff@localhost"),
            log_channel_file=path("HANDOFF_NOTICE_LOG"),
            env={k: v for k, v in env.items() if k.startswith("HANDOFF_")},
            sales_tax_file=path("HANDOFF_SALES_TAX_RATES"),
        )
