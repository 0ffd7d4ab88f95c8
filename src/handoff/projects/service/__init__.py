"""Projects: service."""
