"""Projects: formats."""
