"""Contracts storage: the only SQL for the package's tables; the product catalog's in `catalog`."""
