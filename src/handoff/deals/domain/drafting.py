"""The invoice draft a ready deal gets: a pure function of the deal and the business's selling
entities, VAT rates and payment terms. Rendered in the importing process or ahead of it on a
helper (`handoff.runtime.drafts_ahead`), so it takes only what it needs of the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple, Protocol

from handoff.deals.domain.orders import DealInput, buyer_country, tax_buyer, tax_inputs, to_billable
from handoff.invoicing.domain.determination import TaxInputs, TaxPolicy, complete
from handoff.invoicing.domain.invoices import draft_invoice
from handoff.invoicing.domain.tax import TaxError, VatRates, determine
from handoff.kernel.encoding import to_json_bytes_sharing
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

    @property
    def tax_policy(self) -> TaxPolicy: ...


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


def render_draft(deal: DealInput, config: DraftingConfig, inputs: TaxInputs | None = None) -> RenderedDraft:
    """The deal's draft with its tax determined (`determination.complete`): raises
    `TaxInputsNeeded` when that needs the seller's distance-sales total or an outside tax engine's
    answer (the use case gathers `inputs` and calls again), `TaxUndetermined` when it cannot be."""
    billable = to_billable(deal)
    seller = config.entities[billable.legal_entity]
    invoice = draft_invoice(billable, seller, config.vat_rates, config.model.payment_terms)
    invoice = complete(invoice, config.vat_rates, config.tax_policy, inputs)
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
        to_json_bytes_sharing(invoice, ("seller",)),  # the same bytes as to_json_bytes(invoice)
    )


def untaxable_lines(
    deal: DealInput,
    seller: LegalEntity,
    rates: VatRates,
    memo: dict[tuple[object, ...], str | None] | None = None,
) -> list[tuple[int, str]]:
    """The lines (0-based; a deal without lines is billed as one standard-rated line, 0) whose VAT
    `render_draft` could not determine, with why: an unknown tax category or supply, or no rate
    configured where the line is taxed. Readiness asks this before a deal goes on, so such a deal
    waits in the exception queue instead of failing in drafting. It asks `determine` with the same
    tax inputs `build_lines` gives it (seller, buyer, supply, category), once per distinct supply
    and category of the deal: the tax decision depends on nothing else of a line (keep the two alike).
    `memo`: verdicts kept across deals for one seller configuration and these rates, keyed by what
    `determine` decides on (seller, buyer country, business or not, VAT id given or not, supply,
    category)."""
    # Anything else drafting would refuse (a value that is not a number, a discount above its line,
    # an absurd magnitude) is no tax matter: its own rule reports it.
    buyer = None  # built only when a verdict is not known yet
    facts = (seller.code, buyer_country(deal), deal.is_business, bool(deal.get("vat_id").replace(" ", "")))
    verdicts = {} if memo is None else memo
    found: list[tuple[int, str]] = []
    for index, inputs in enumerate(tax_inputs(deal)):
        key = facts + inputs
        supply, category = inputs
        if key not in verdicts:
            buyer = buyer or tax_buyer(deal)
            try:
                determine(seller, buyer, supply, category, rates)
                verdicts[key] = None
            except TaxError as exc:
                verdicts[key] = str(exc)
            except (ValueError, ArithmeticError):
                verdicts[key] = None
        if (why := verdicts[key]) is not None:
            found.append((index, why))
    return found
