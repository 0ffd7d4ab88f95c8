"""Reporting use cases: compute metrics, build and send the digest."""
