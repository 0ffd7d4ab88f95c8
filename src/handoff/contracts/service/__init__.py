"""Contracts use cases; the product catalog's (products, list prices, rate cards, CRM sync) in `catalog`."""
