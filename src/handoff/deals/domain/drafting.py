"""The invoice draft a ready deal gets: a pure function of the deal and the business's selling
entities, VAT rates and payment terms. Rendered in the importing process or ahead of it on a
helper (`handoff.runtime.drafts_ahead`), so it takes only what it needs of the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple, Protocol

from handoff.deals.domain.orders import DealInput, to_billable
from handoff.invoicing.domain.invoices import draft_invoice
from handoff.invoicing.domain.tax import VatRates
from handoff.kernel.encoding import to_json_bytes
from handoff.kernel.parties import LegalEntity


class PaymentTerms(Protocol):
    @property
    def payment_terms(self) -> Mapping[str, int]:
        """Days to pay, by payment terms code."""
        ...


class DraftingConfig(Protocol):
    """What drafting needs of the business configuration (`handoff.config.BusinessConfig` has it)."""

    @property
    def entities(self) -> Mapping[str, LegalEntity]: ...

    @property
    def vat_rates(self) -> VatRates: ...

    @property
    def model(self) -> PaymentTerms: ...


class RenderedDraft(NamedTuple):
    """What an invoice-draft row needs of a deal's draft. (A named tuple: sent through a pipe by
    the thousand, it pickles and unpickles in C.)"""

    legal_entity: str
    customer_id: str
    customer_name: str
    kind: str
    currency: str
    net: Decimal
    tax: Decimal
    gross: Decimal
    tax_rules: tuple[str, ...]  # sorted, for the audit entry
    document: bytes  # the invoice as JSON (kernel.encoding.to_json_bytes)


def render_draft(deal: DealInput, config: DraftingConfig) -> RenderedDraft:
    billable = to_billable(deal)
    seller = config.entities[billable.legal_entity]
    invoice = draft_invoice(billable, seller, config.vat_rates, config.model.payment_terms)
    return RenderedDraft(
        billable.legal_entity,
        billable.customer.customer_id,
        billable.customer.legal_name,
        invoice.kind.value,
        invoice.currency,
        invoice.totals.tax_exclusive,
        invoice.totals.tax,
        invoice.totals.tax_inclusive,
        tuple(sorted({ln.tax.rule for ln in invoice.lines})),
        to_json_bytes(invoice),
    )
