"""Invoicing, pure: invoices and credit notes (EN 16931 terms) and VAT determination."""
