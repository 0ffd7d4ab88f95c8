"""Settings (environment) and business configuration (YAML files), validated at load.

Two kinds of configuration, kept apart:
- `Settings`: where things run (database URL, SMTP server), from `HANDOFF_*` environment variables.
- `BusinessConfig`: what the business owns (selling entities, payment terms, readiness rules, VAT
  rates), from versioned YAML files; bundled defaults in `handoff/defaults/`. A file that does not
  validate is refused with a message naming the file and the offending entry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
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
from handoff.invoicing.domain.tax import VatCategory, VatRates
from handoff.kernel.parties import Address, LegalEntity

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


class EntityModel(_Strict):
    name: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    address: AddressModel = AddressModel()
    vat_id: str = ""
    tax_id: str = ""
    iban: str = ""
    bic: str = ""
    email: str = ""
    invoice_prefix: str = ""


class IntakeModel(_Strict):
    won_stages: list[str] = ["closedwon", "won"]


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


def _category_codes(value: dict[str, str]) -> dict[str, str]:
    """Keys are a VAT category (UNCL 5305) or `category:rate` (rate in percent); codes are not empty."""
    for key, code in value.items():
        category, colon, rate = key.partition(":")
        if category not in VatCategory.__members__.values():
            known = ", ".join(c.value for c in VatCategory)
            raise ValueError(f"{key!r}: {category!r} is not a VAT category (one of {known})")
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


def category_code(mappings: Sequence[Mapping[str, str]], category: str, rate: str) -> str | None:
    """The code mapped for a line of VAT `category` at `rate` (decimal text): the first mapping that
    has `category:rate` (rates compared as numbers) or else `category`; None if none has either."""
    wanted = _rate(rate)
    for mapping in mappings:
        for key, code in mapping.items():
            cat, colon, r = key.partition(":")
            if colon and cat == category and wanted is not None and _rate(r) == wanted:
                return code
        if category in mapping:
            return mapping[category]
    return None


# {VAT category or `category:rate`: the vendor's code}, checked at load
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

    def account_code(self, entity: str, category: str, rate: str) -> str:
        own = self._entity(entity)
        return (
            category_code((own.account_codes,), category, rate)
            or own.sales_account_code
            or category_code((self.account_codes,), category, rate)
            or self.sales_account_code
        )

    def tax_type(self, entity: str, category: str, rate: str) -> str:
        return category_code((self._entity(entity).tax_types, self.tax_types), category, rate) or "NONE"

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

    def item(self, entity: str, category: str, rate: str) -> str:
        own = self._entity(entity)
        return (
            category_code((own.item_ids,), category, rate)
            or own.item_id
            or category_code((self.item_ids,), category, rate)
            or self.item_id
        )

    def tax_code(self, entity: str, category: str, rate: str) -> str | None:
        return category_code((self._entity(entity).tax_codes, self.tax_codes), category, rate)


class ConnectorsModel(_Strict):
    # Accounting systems every issued invoice, credit note and payment is pushed to (via the outbox).
    accounting: list[Literal["xero", "quickbooks", "generic_rest"]] = []
    # CRMs that get invoice and payment status written back onto the deal.
    crm_writeback: list[Literal["hubspot"]] = []
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


class BusinessModel(_Strict):
    legal_entities: dict[str, EntityModel]
    payment_terms: dict[str, int]
    # {accounting currency: {invoice currency: units of accounting currency per unit}}
    exchange_rates: dict[str, dict[str, Decimal]] = {}
    intake: IntakeModel = IntakeModel()
    automation: AutomationModel = AutomationModel()
    notifications: NotificationsModel = NotificationsModel()
    outbox: OutboxModel = OutboxModel()
    connectors: ConnectorsModel = ConnectorsModel()
    cash: CashModel = CashModel()

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
        return model.model_validate(_load_yaml(path))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from exc


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

    @property
    def finance_owner(self) -> str:
        return self.model.cash.finance_owner or self.model.notifications.finance_email

    @property
    def finance_lead(self) -> str:
        return self.model.cash.finance_lead or self.model.notifications.finance_email

    @cached_property
    def entities(self) -> dict[str, LegalEntity]:
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
            )
            for code, e in self.model.legal_entities.items()
        }

    def exchange_rate(self, to_currency: str, from_currency: str) -> Decimal | None:
        return self.model.exchange_rates.get(to_currency, {}).get(from_currency)

    @property
    def won_stages(self) -> frozenset[str]:
        return frozenset(
            s.lower().replace(" ", "").replace("-", "").replace("_", "") for s in self.model.intake.won_stages
        )


def load_business_config(
    config_file: Path | None = None,
    rules_file: Path | None = None,
    rates_file: Path | None = None,
    dunning_file: Path | None = None,
) -> BusinessConfig:
    config_path = config_file or DEFAULTS / "handoff.yaml"
    rules_path = rules_file or DEFAULTS / "rules.yaml"
    rates_path = rates_file or DEFAULTS / "vat_rates.yaml"
    business = _validated(BusinessModel, config_path)
    rules = _validated(RulesModel, rules_path)
    context = ReadinessContext(
        frozenset(business.legal_entities), frozenset(business.payment_terms), rules.amount_tolerance
    )
    ruleset = RuleSet(
        tuple(r.rule() for r in rules.rules),
        context,
        line_rules=DEFAULT_LINE_RULES if rules.lines is None else tuple(r.rule() for r in rules.lines),
    )
    try:
        rates = VatRates.from_mapping(_load_yaml(rates_path))
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise ConfigError(f"{rates_path}: invalid VAT rates: {exc}") from exc
    return BusinessConfig(business, ruleset, rates, load_dunning_policy(dunning_file))


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
        )
