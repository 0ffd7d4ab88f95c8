"""Accounting: issued invoices and payments pushed to the accounting systems (Xero, QuickBooks, a
generic REST endpoint).
"""
