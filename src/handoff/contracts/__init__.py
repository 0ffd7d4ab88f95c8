"""Contracts: the won quote locked as an immutable contract version, its lines billed by their
rules (one-time, recurring with ramps, milestones, time and materials, usage), changed only by
change orders; the product catalog and price lists it sells from; the billing run that turns due
schedule items into invoice drafts exactly once."""
