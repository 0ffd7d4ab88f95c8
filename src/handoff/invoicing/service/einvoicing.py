"""E-invoices checked before issue, and the rule sets they are checked against.

`check` renders an invoice's e-invoice as its customer takes it (`invoicing.domain.einvoice.plan`)
and validates it with the rule sets in force (shipped with handoff, or installed anew with
`install_rules`); the report (rule set releases, findings) is stored with the issued invoice as
evidence. `warm` compiles the rule sets ahead (the worker and the API do so at start).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handoff.invoicing.documents import render, rulesets, validation
from handoff.invoicing.documents.validation import Report
from handoff.invoicing.domain.einvoice import explain, plan
from handoff.invoicing.domain.invoices import Invoice
from handoff.invoicing.repository.invoices import InvoiceRepository

if TYPE_CHECKING:
    from handoff.context import AppContext

RuleSetError = rulesets.RuleSetError
ValidationSetupError = validation.ValidationSetupError


def check(invoice: Invoice) -> Report | None:
    """The validation report of the issued `invoice`'s e-invoice, or None when it has none."""
    how = plan(invoice)
    if how is None:
        return None
    return validation.check(render(invoice, how.syntax), peppol=how.peppol, xrechnung=how.xrechnung)


def fatal_findings(report: Report, entity: str) -> list[tuple[str, str, str]]:
    """(rule, field to fix, plain words) of each fatal finding, in the order found."""
    return [(f.rule, *explain(f.rule, f.text, entity)) for f in report.fatal]


def issued_report(ctx: AppContext, number: str) -> dict[str, Any] | None:
    """The validation report the invoice `number` was issued on (None: issued unchecked, or none)."""
    with ctx.engine.connect() as conn:
        return InvoiceRepository(conn).validation_report(number)


def rule_versions() -> list[rulesets.RuleSet]:
    return [rulesets.rule_set(name) for name in rulesets.SETS]


def schema_versions() -> dict[str, str]:
    return dict(rulesets.SCHEMA_VERSIONS)


def install_rules(source: Path, name: str, version: str | None = None) -> rulesets.RuleSet:
    """Install another release of the rule set `name` after checking that it compiles."""
    return rulesets.install(source, name, validation.compile_stylesheet, version)


def uninstall_rules(name: str) -> rulesets.RuleSet:
    return rulesets.uninstall(name)


def warm_in_background() -> threading.Thread:
    return validation.warm_in_background()
