"""Deals, pure: the canonical deal and order, the readiness rules and the decision what happens to an order."""
