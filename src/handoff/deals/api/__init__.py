"""Deals in the JSON API: orders, the exception queue and the CRM webhooks."""
