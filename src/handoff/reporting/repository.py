"""Reporting storage: the only SQL for this package's tables."""
