"""Usage: metered events from product platforms (API, file, webhook), kept as aggregates per
subscription, metric, period and group as they arrive, priced by the contract's usage lines
(per unit, tiers, packages, percentage, minimums, prepaid credits) and rated in arrears into the
contract's billing schedule, which the billing run invoices."""
