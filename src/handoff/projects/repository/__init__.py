"""Projects: repository."""
