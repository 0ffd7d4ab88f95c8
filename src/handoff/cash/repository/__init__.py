"""Cash storage: the only SQL for bank statements and lines, matches, allocations and payments
(`bank`, `payments`), and the read models other packages and the adapters show (`queries`)."""
