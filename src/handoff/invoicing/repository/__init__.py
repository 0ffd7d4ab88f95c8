"""Invoicing storage: the only SQL for invoices, their documents, numbering and tasks."""
