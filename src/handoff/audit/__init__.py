"""Audit trail: who did what, when and why, as a hash chain that can be verified."""
