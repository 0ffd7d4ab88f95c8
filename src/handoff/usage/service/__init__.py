"""Usage: service."""
