"""Usage: repository."""
