"""Invoicing: drafts, tax, numbering, issue, credit notes and the e-invoice documents."""
