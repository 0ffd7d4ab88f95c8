"""Usage: formats."""
