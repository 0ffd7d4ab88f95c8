"""Projects: a won contract with service lines opens a project (phases, milestones, role budgets from
the rate card, planned dates); delivery signals (time entries, expenses, milestone acceptances) arrive
by file, API and webhook and are posted to the contract's billing schedule, which the billing run
invoices; delivery health (plan against actual, burn, unbilled work) and its alerts."""
