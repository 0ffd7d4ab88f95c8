"""Deals: intake of closed-won deals from CRMs, files and the API, billing readiness and the exception queue."""
