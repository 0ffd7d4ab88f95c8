"""Customers: the canonical customer master (who is billed, under which tax registrations, in which
language, through which channel), kept as effective-dated versions with the customer's ids in each
source system (CRM)."""
