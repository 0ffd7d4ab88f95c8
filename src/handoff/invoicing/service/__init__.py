"""Invoicing use cases: number and issue drafts, load invoices."""
